//! `recon cluster scheduler` and `recon cluster executor`: a Ballista
//! scheduler and executor that know recon's functions (through the codecs),
//! so users deploy one binary.

use std::net::SocketAddr;
use std::sync::Arc;

use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::SchedulerConfig;
use ballista_scheduler::scheduler_process::start_server;

use super::codec::{LogicalCodec, PhysicalCodec};
use crate::error::{Error, Result};

fn failed(what: &str) -> impl Fn(ballista_core::error::BallistaError) -> Error + '_ {
    move |e| Error::Usage(format!("{what}: {}", crate::error::one_line(e)))
}

/// Seconds between an executor's heartbeats.
const HEARTBEAT_SECONDS: u64 = 2;

/// Runs a scheduler listening on `bind` until it stops; an executor silent
/// for `executor_timeout` seconds is taken for lost.
pub async fn scheduler(bind: SocketAddr, executor_timeout: u64) -> Result<()> {
    if executor_timeout < 2 * HEARTBEAT_SECONDS {
        return Err(Error::Usage(format!(
            "--executor-timeout must be at least {} s (two heartbeats)",
            2 * HEARTBEAT_SECONDS
        )));
    }
    let mut config = SchedulerConfig::default()
        .with_hostname(bind.ip().to_string())
        .with_port(bind.port());
    config.bind_host = bind.ip().to_string();
    config.executor_timeout_seconds = executor_timeout;
    config.expire_dead_executor_interval_seconds = HEARTBEAT_SECONDS;
    config.no_executors_grace_period_seconds = executor_timeout;
    config.override_logical_codec = Some(Arc::new(LogicalCodec::default()));
    config.override_physical_codec = Some(Arc::new(PhysicalCodec::default()));
    let cluster = BallistaCluster::new_from_config(&config)
        .await
        .map_err(failed("the scheduler could not start"))?;
    start_server(cluster, bind, Arc::new(config))
        .await
        .map_err(failed("the scheduler stopped"))
}

/// How an executor reaches its scheduler and where it listens.
pub struct ExecutorOptions {
    pub scheduler: SocketAddr,
    /// The address it binds (an IP) and tells the scheduler.
    pub host: std::net::IpAddr,
    /// Arrow Flight, where results are fetched from.
    pub port: u16,
    /// gRPC, where the scheduler sends tasks.
    pub grpc_port: u16,
    /// Tasks run at once [default: the cores].
    pub slots: Option<usize>,
}

/// Runs an executor until it is stopped (SIGTERM, Ctrl-C, or its scheduler).
pub async fn executor(options: ExecutorOptions) -> Result<()> {
    let defaults = ExecutorProcessConfig::default();
    let config = ExecutorProcessConfig {
        bind_host: options.host.to_string(),
        external_host: Some(options.host.to_string()),
        port: options.port,
        grpc_port: options.grpc_port,
        scheduler_host: options.scheduler.ip().to_string(),
        scheduler_port: options.scheduler.port(),
        scheduler_connect_timeout_seconds: 30,
        vcores: options.slots.unwrap_or(defaults.vcores),
        executor_heartbeat_interval_seconds: HEARTBEAT_SECONDS,
        override_logical_codec: Some(Arc::new(LogicalCodec::default())),
        override_physical_codec: Some(Arc::new(PhysicalCodec::default())),
        ..defaults
    };
    start_executor_process(Arc::new(config))
        .await
        .map_err(failed("the executor stopped"))
}
