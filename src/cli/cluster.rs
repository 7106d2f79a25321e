//! `recon cluster scheduler|executor` (feature `cluster`): Ballista's
//! scheduler and executor with recon's functions, from the one binary.

use std::net::{IpAddr, SocketAddr};

use recon::Result;
use recon::cluster::serve::{self, ExecutorOptions};

use super::EXIT_EQUAL;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Run a scheduler: clients connect to it (`df://HOST:PORT`), executors register with it.
    Scheduler {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:50050")]
        bind: SocketAddr,
        /// Seconds without a heartbeat (executors send one every 2 s) after
        /// which an executor counts as lost: its tasks run again elsewhere,
        /// and with no executor left the running jobs fail.
        #[arg(long, value_name = "SECONDS", default_value_t = 30)]
        executor_timeout: u64,
    },
    /// Run an executor: registers with the scheduler and runs its tasks.
    Executor {
        /// The scheduler's address.
        #[arg(long, default_value = "127.0.0.1:50050")]
        scheduler: SocketAddr,
        /// The address this executor binds and is reached at.
        #[arg(long, default_value = "127.0.0.1")]
        host: IpAddr,
        /// Arrow Flight port (results are fetched there).
        #[arg(long, default_value_t = 50051)]
        port: u16,
        /// gRPC port (tasks arrive there).
        #[arg(long, default_value_t = 50052)]
        grpc_port: u16,
        /// Tasks run at once [default: the cores].
        #[arg(long, value_name = "N")]
        slots: Option<usize>,
    },
}

pub fn run(command: Command) -> Result<u8> {
    let threads = super::thread_count(None)?;
    let runtime = super::runtime(threads)?;
    runtime.block_on(async {
        match command {
            Command::Scheduler {
                bind,
                executor_timeout,
            } => serve::scheduler(bind, executor_timeout).await,
            Command::Executor {
                scheduler,
                host,
                port,
                grpc_port,
                slots,
            } => {
                serve::executor(ExecutorOptions {
                    scheduler,
                    host,
                    port,
                    grpc_port,
                    slots,
                })
                .await
            }
        }
    })?;
    Ok(EXIT_EQUAL)
}
