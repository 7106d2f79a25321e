//! The hashing functions on a Ballista cluster of recon's own processes:
//! one scheduler and two executors on loopback (free ports), each a
//! separate `recon cluster` process. Built with `--features cluster`.
#![cfg(feature = "cluster")]

use std::net::TcpListener;
use std::process::{Child, Command};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{Array, AsArray};
use ballista::prelude::{SessionConfigExt, SessionContextExt};
use datafusion::execution::SessionStateBuilder;
use datafusion::logical_expr::{AggregateUDF, ScalarUDF};
use datafusion::prelude::{SessionConfig, SessionContext};
use recon::Side;
use recon::cluster::codec::{LogicalCodec, PhysicalCodec};
use recon::cluster::functions::{DigestSum, HashingSpec, Leaf, RowHash};
use recon::plan::{Selection, SideTraits};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The processes of a cluster, killed when dropped.
struct Cluster {
    processes: Vec<Child>,
    url: String,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for p in &mut self.processes {
            let _ = p.kill();
            let _ = p.wait();
        }
    }
}

fn recon() -> Command {
    Command::new(assert_cmd::cargo::cargo_bin("recon"))
}

/// A scheduler and two executors, once the scheduler accepts connections
/// and the executors had time to register.
fn start(dir: &std::path::Path) -> Cluster {
    let scheduler = free_port();
    let log = |name: &str| std::fs::File::create(dir.join(name)).unwrap();
    let mut processes = vec![
        recon()
            .args([
                "cluster",
                "scheduler",
                "--bind",
                &format!("127.0.0.1:{scheduler}"),
            ])
            .stdout(log("scheduler.log"))
            .stderr(log("scheduler.err"))
            .spawn()
            .unwrap(),
    ];
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", scheduler)).is_err() {
        assert!(started.elapsed() < Duration::from_secs(30), "no scheduler");
        std::thread::sleep(Duration::from_millis(100));
    }
    for n in 0..2 {
        let (port, grpc) = (free_port(), free_port());
        processes.push(
            recon()
                .args(["cluster", "executor", "--scheduler"])
                .arg(format!("127.0.0.1:{scheduler}"))
                .args([
                    "--port",
                    &port.to_string(),
                    "--grpc-port",
                    &grpc.to_string(),
                ])
                .args(["--slots", "1"])
                .stdout(log(&format!("executor{n}.log")))
                .stderr(log(&format!("executor{n}.err")))
                .spawn()
                .unwrap(),
        );
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", grpc)).is_err() {
            assert!(started.elapsed() < Duration::from_secs(30), "no executor");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    // Registration follows the listening ports by a heartbeat.
    std::thread::sleep(Duration::from_secs(2));
    Cluster {
        processes,
        url: format!("df://127.0.0.1:{scheduler}"),
    }
}

/// CPU time (user + system, in clock ticks) a process has used.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces), 14th and 15th overall.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    field(11) + field(12)
}

type LeafRow = (Option<u32>, i64, Vec<u8>);

/// Leaf, row count and digest per leaf, by SQL over `t` with recon's functions.
async fn leaf_digests(ctx: &SessionContext, spec: &HashingSpec) -> Vec<LeafRow> {
    ctx.register_udf(ScalarUDF::new_from_impl(RowHash::new(spec.clone())));
    ctx.register_udf(ScalarUDF::new_from_impl(Leaf::new(spec.clone())));
    ctx.register_udaf(AggregateUDF::new_from_impl(DigestSum::default()));
    let quoted = |names: Vec<String>| {
        names
            .iter()
            .map(|n| format!("\"{n}\""))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let keys = quoted(spec.arguments(false).unwrap());
    let all = quoted(spec.arguments(true).unwrap());
    let sql = format!(
        "SELECT recon_leaf({keys}) AS leaf, count(*) AS n, recon_digest(recon_row_hash({all})) AS d \
         FROM t GROUP BY recon_leaf({keys}) ORDER BY leaf"
    );
    let batches = ctx.sql(&sql).await.unwrap().collect().await.unwrap();
    let mut rows = Vec::new();
    for b in &batches {
        let leaf = b.column(0).as_primitive::<arrow::datatypes::UInt32Type>();
        let n = b.column(1).as_primitive::<arrow::datatypes::Int64Type>();
        let d = b.column(2).as_fixed_size_binary();
        for i in 0..b.num_rows() {
            rows.push((
                (!leaf.is_null(i)).then(|| leaf.value(i)),
                n.value(i),
                d.value(i).to_vec(),
            ));
        }
    }
    rows
}

#[test]
fn two_executors_compute_the_leaf_digests_of_the_local_pass() {
    let dir = tempfile::tempdir().unwrap();
    let out = recon()
        .args([
            "gen",
            "--rows",
            "50000",
            "--updates",
            "10",
            "--shuffle",
            "--out",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let file = dir.path().join("left.parquet").display().to_string();
    let cluster = start(dir.path());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let local = SessionContext::new();
        local
            .register_parquet("t", &file, Default::default())
            .await
            .unwrap();
        let schema = local.table("t").await.unwrap().schema().as_arrow().clone();
        let selection = Selection {
            key: vec!["id".into()],
            ..Selection::default()
        };
        let traits = [SideTraits {
            distinguishes_empty_from_null: true,
            declares_nullability: true,
        }; 2];
        let spec = HashingSpec::new(&schema, &schema, &selection, traits, Side::Left, 64).unwrap();
        let expected = leaf_digests(&local, &spec).await;
        assert_eq!(expected.iter().map(|r| r.1).sum::<i64>(), 50_000);

        let config = SessionConfig::new_with_ballista()
            .with_ballista_logical_extension_codec(Arc::new(LogicalCodec::default()))
            .with_ballista_physical_extension_codec(Arc::new(PhysicalCodec::default()));
        let state = SessionStateBuilder::new()
            .with_config(config)
            .with_default_features()
            .build();
        let executors: Vec<u32> = cluster.processes[1..].iter().map(Child::id).collect();
        let before: u64 = executors.iter().map(|&p| cpu_ticks(p)).sum();
        let remote = SessionContext::remote_with_state(&cluster.url, state)
            .await
            .unwrap();
        remote
            .register_parquet("t", &file, Default::default())
            .await
            .unwrap();
        let got = leaf_digests(&remote, &spec).await;
        assert_eq!(got, expected);
        // The executors did the hashing (not this process).
        let after: u64 = executors.iter().map(|&p| cpu_ticks(p)).sum();
        eprintln!(
            "executors used {} clock ticks for the query",
            after - before
        );
        assert!(
            after - before >= 5,
            "executors idle: {before} -> {after} ticks"
        );
    });
    drop(cluster);
}

#[test]
fn an_executor_without_recons_functions_fails_the_query() {
    use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
    let dir = tempfile::tempdir().unwrap();
    let out = recon()
        .args(["gen", "--rows", "2000", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    let file = dir.path().join("left.parquet").display().to_string();
    // recon's scheduler, but a plain Ballista executor (in this process).
    let scheduler = free_port();
    let log = |name: &str| std::fs::File::create(dir.path().join(name)).unwrap();
    let _cluster = Cluster {
        processes: vec![
            recon()
                .args([
                    "cluster",
                    "scheduler",
                    "--bind",
                    &format!("127.0.0.1:{scheduler}"),
                ])
                .stdout(log("scheduler.log"))
                .stderr(log("scheduler.err"))
                .spawn()
                .unwrap(),
        ],
        url: format!("df://127.0.0.1:{scheduler}"),
    };
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", scheduler)).is_err() {
        assert!(started.elapsed() < Duration::from_secs(30), "no scheduler");
        std::thread::sleep(Duration::from_millis(100));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let error = runtime.block_on(async {
        let config = ExecutorProcessConfig {
            port: free_port(),
            grpc_port: free_port(),
            scheduler_port: scheduler,
            scheduler_host: "127.0.0.1".into(),
            scheduler_connect_timeout_seconds: 30,
            executor_heartbeat_interval_seconds: 1,
            ..ExecutorProcessConfig::default()
        };
        tokio::spawn(start_executor_process(Arc::new(config)));
        tokio::time::sleep(Duration::from_secs(2)).await;
        let local = SessionContext::new();
        local
            .register_parquet("t", &file, Default::default())
            .await
            .unwrap();
        let schema = local.table("t").await.unwrap().schema().as_arrow().clone();
        let selection = Selection {
            key: vec!["id".into()],
            ..Selection::default()
        };
        let traits = [SideTraits {
            distinguishes_empty_from_null: true,
            declares_nullability: true,
        }; 2];
        let spec = HashingSpec::new(&schema, &schema, &selection, traits, Side::Left, 4).unwrap();
        let config = SessionConfig::new_with_ballista()
            .with_ballista_logical_extension_codec(Arc::new(LogicalCodec::default()))
            .with_ballista_physical_extension_codec(Arc::new(PhysicalCodec::default()));
        let state = SessionStateBuilder::new()
            .with_config(config)
            .with_default_features()
            .build();
        let remote =
            SessionContext::remote_with_state(&format!("df://127.0.0.1:{scheduler}"), state)
                .await
                .unwrap();
        remote
            .register_parquet("t", &file, Default::default())
            .await
            .unwrap();
        remote.register_udf(ScalarUDF::new_from_impl(RowHash::new(spec.clone())));
        let query = async {
            remote
                .sql("SELECT count(*), min(recon_row_hash(id)) FROM t")
                .await?
                .collect()
                .await
        };
        tokio::time::timeout(Duration::from_secs(120), query).await
    });
    let error = match error {
        Ok(Err(e)) => e.to_string(),
        Ok(Ok(_)) => panic!("a plain executor ran recon's function"),
        Err(_) => panic!("the query neither failed nor finished within 120 s"),
    };
    // Ballista reports the executor's refusal without its cause (the codec's
    // message naming the function stays in the executor): the job fails,
    // never answers. `--cluster` will say which functions were missing.
    assert!(error.contains("rejected by executor"), "{error}");
}
