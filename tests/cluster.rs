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
use recon::cluster::functions::{Bucket, DigestSum, HashingSpec, RowHash};
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
    start_with(dir, 30)
}

/// A scheduler alone, once it accepts connections, and its port; it takes
/// an executor silent for `executor_timeout` seconds for lost.
fn start_scheduler(dir: &std::path::Path, executor_timeout: u64) -> (Cluster, u16) {
    let scheduler = free_port();
    let log = |name: &str| std::fs::File::create(dir.join(name)).unwrap();
    let process = recon()
        .args([
            "cluster",
            "scheduler",
            "--bind",
            &format!("127.0.0.1:{scheduler}"),
            "--executor-timeout",
            &executor_timeout.to_string(),
        ])
        .stdout(log("scheduler.log"))
        .stderr(log("scheduler.err"))
        .spawn()
        .unwrap();
    let cluster = Cluster {
        processes: vec![process],
        url: format!("df://127.0.0.1:{scheduler}"),
    };
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", scheduler)).is_err() {
        assert!(started.elapsed() < Duration::from_secs(30), "no scheduler");
        std::thread::sleep(Duration::from_millis(100));
    }
    (cluster, scheduler)
}

/// [`start`], the scheduler taking an executor silent for
/// `executor_timeout` seconds for lost.
fn start_with(dir: &std::path::Path, executor_timeout: u64) -> Cluster {
    let (mut cluster, scheduler) = start_scheduler(dir, executor_timeout);
    let log = |name: &str| std::fs::File::create(dir.join(name)).unwrap();
    for n in 0..2 {
        let (port, grpc) = (free_port(), free_port());
        cluster.processes.push(
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
    cluster
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

/// A local session with `file` as `t`, and the spec hashing it by key `id`.
async fn local_spec(file: &str) -> (SessionContext, HashingSpec) {
    let local = SessionContext::new();
    local
        .register_parquet("t", file, Default::default())
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
    let spec = HashingSpec::new(&schema, &schema, &selection, traits, Side::Left).unwrap();
    (local, spec)
}

/// A session on the scheduler at `url`, with recon's codecs and `file` as `t`.
async fn remote_table(url: &str, file: &str) -> SessionContext {
    let config = SessionConfig::new_with_ballista()
        .with_ballista_logical_extension_codec(Arc::new(LogicalCodec::default()))
        .with_ballista_physical_extension_codec(Arc::new(PhysicalCodec::default()));
    let state = SessionStateBuilder::new()
        .with_config(config)
        .with_default_features()
        .build();
    let remote = SessionContext::remote_with_state(url, state).await.unwrap();
    remote
        .register_parquet("t", file, Default::default())
        .await
        .unwrap();
    remote
}

type LeafRow = (Option<u64>, i64, Vec<u8>);

/// Leaf, row count and digest per leaf, by SQL over `t` with recon's functions.
async fn leaf_digests(ctx: &SessionContext, spec: &HashingSpec) -> Vec<LeafRow> {
    ctx.register_udf(ScalarUDF::new_from_impl(RowHash::new(spec.clone())));
    ctx.register_udf(ScalarUDF::new_from_impl(Bucket::new(spec.clone())));
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
        "SELECT recon_bucket({keys}) AS leaf, count(*) AS n, recon_digest(recon_row_hash({all})) AS d \
         FROM t GROUP BY recon_bucket({keys}) ORDER BY leaf"
    );
    let batches = ctx.sql(&sql).await.unwrap().collect().await.unwrap();
    let mut rows = Vec::new();
    for b in &batches {
        let leaf = b.column(0).as_primitive::<arrow::datatypes::UInt64Type>();
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
        let (local, spec) = local_spec(&file).await;
        let spec = spec.with_bounds(&recon::merkle::Boundaries::even_hashes(64), 1);
        let expected = leaf_digests(&local, &spec).await;
        assert_eq!(expected.iter().map(|r| r.1).sum::<i64>(), 50_000);

        let executors: Vec<u32> = cluster.processes[1..].iter().map(Child::id).collect();
        let before: u64 = executors.iter().map(|&p| cpu_ticks(p)).sum();
        let remote = remote_table(&cluster.url, &file).await;
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
    let (_cluster, scheduler) = start_scheduler(dir.path(), 30);
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
        let (_, spec) = local_spec(&file).await;
        let remote = remote_table(&format!("df://127.0.0.1:{scheduler}"), &file).await;
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
    // never answers. `--cluster` says which functions were missing.
    assert!(error.contains("rejected by executor"), "{error}");

    // `recon diff --cluster` against that executor: exit 2, naming them.
    let out = recon()
        .arg("diff")
        .arg(dir.path().join("left.parquet"))
        .arg(dir.path().join("right.parquet"))
        .args(["--key", "id", "--cluster"])
        .arg(format!("df://127.0.0.1:{scheduler}"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    for function in ["recon_row_hash", "recon_bucket", "recon_digest"] {
        assert!(stderr.contains(function), "{stderr}");
    }
    assert!(stderr.contains("recon cluster executor"), "{stderr}");
    drop(runtime);
}

/// One generated row: key (NULL when `None`), name, amount, quantity.
type Row = (Option<i64>, String, f64, i32);

/// Writes `rows` as `files` Parquet files under `dir` (in the order given,
/// row groups of 1,000 rows), with a `_SUCCESS` marker as a job would leave.
fn write_dataset(dir: &std::path::Path, rows: &[Row], files: usize) {
    use arrow::array::{Float64Array, Int32Array, Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    std::fs::create_dir_all(dir).unwrap();
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, true),
        Field::new("name", DataType::Utf8, true),
        Field::new("amount", DataType::Float64, true),
        Field::new("qty", DataType::Int32, true),
    ]));
    let per_file = rows.len().div_ceil(files);
    for (n, chunk) in rows.chunks(per_file).enumerate() {
        let batch = arrow::record_batch::RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from_iter(chunk.iter().map(|r| r.0))),
                Arc::new(StringArray::from_iter_values(
                    chunk.iter().map(|r| r.1.as_str()),
                )),
                Arc::new(Float64Array::from_iter_values(chunk.iter().map(|r| r.2))),
                Arc::new(Int32Array::from_iter_values(chunk.iter().map(|r| r.3))),
            ],
        )
        .unwrap();
        let file = std::fs::File::create(dir.join(format!("part-{n:03}.parquet"))).unwrap();
        let props = parquet::file::properties::WriterProperties::builder()
            .set_max_row_group_row_count(Some(1000))
            .build();
        let mut writer =
            parquet::arrow::ArrowWriter::try_new(file, schema.clone(), Some(props)).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
    }
    std::fs::write(dir.join("_SUCCESS"), b"").unwrap();
}

/// A small deterministic generator (xorshift), so the datasets need no seed file.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = (self.next() % (i as u64 + 1)) as usize;
            items.swap(i, j);
        }
    }
}

/// What the two datasets were made to hold.
struct Truth {
    only_left: u64,
    only_right: u64,
    changed: u64,
    duplicate_keys: u64,
    null_keys: u64,
}

/// Two datasets of `rows` rows in random order, in several files each:
/// keys only on one side, changed names and amounts (some within the
/// 0.01 tolerance, which must not count), duplicate keys on each side and
/// on both, and rows with a NULL key on both (more than the report lists).
fn datasets(dir: &std::path::Path, rows: i64) -> Truth {
    let row = |id: i64| -> Row {
        (
            Some(id),
            format!("name-{}", id % 977),
            (id % 10_007) as f64 / 4.0,
            (id % 50) as i32,
        )
    };
    let mut left: Vec<Row> = (0..rows).map(row).collect();
    let mut right = left.clone();
    let step = rows / 40;
    let mut truth = Truth {
        only_left: 0,
        only_right: 0,
        changed: 0,
        duplicate_keys: 0,
        null_keys: 0,
    };
    for (n, i) in (0..rows).step_by(step as usize).enumerate() {
        let r = &mut right[i as usize];
        match n % 4 {
            0 => {
                r.1.push('!');
                truth.changed += 1;
            }
            1 => {
                r.2 += 5.0;
                truth.changed += 1;
            }
            // Within the tolerance: equal.
            2 => r.2 += 0.004,
            _ => {
                r.3 += 1;
                r.1 = r.1.to_uppercase();
                truth.changed += 1;
            }
        }
    }
    // Keys on one side only (in the middle of the key space, and beyond it).
    for i in [17, rows / 3 + 1, rows - 2] {
        right.retain(|r| r.0 != Some(i));
        truth.only_left += 1;
    }
    for i in [rows + 5, rows + 6, -40] {
        right.push(row(i));
        truth.only_right += 1;
    }
    // Duplicate keys: twice on the left, twice on the right, twice on both
    // (the same rows: equal digests, still duplicates).
    left.push(row(101));
    right.push(row(202));
    left.push(row(303));
    right.push(row(303));
    truth.duplicate_keys += 3;
    // NULL keys: 14 on the left, 3 on the right.
    for n in 0..14 {
        left.push((None, format!("orphan-{n}"), n as f64, n));
    }
    for n in 0..3 {
        right.push((None, format!("stray-{n}"), n as f64, n));
    }
    truth.null_keys += 17;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    rng.shuffle(&mut left);
    rng.shuffle(&mut right);
    write_dataset(&dir.join("left"), &left, 3);
    write_dataset(&dir.join("right"), &right, 4);
    truth
}

/// The JSON report of `recon diff` on the two datasets, with `extra` flags.
fn diff_json(dir: &std::path::Path, extra: &[&str]) -> (i32, serde_json::Value, String) {
    let out = recon()
        .arg("diff")
        .arg(dir.join("left"))
        .arg(dir.join("right"))
        .args([
            "--key",
            "id",
            "--abs-tol",
            "amount=0.01",
            "--format",
            "json",
        ])
        .args(extra)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let json = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    (out.status.code().unwrap_or(-1), json, stderr)
}

/// The report without its statistics (timings, and how the work was done).
fn answer(mut report: serde_json::Value) -> serde_json::Value {
    report.as_object_mut().map(|o| o.remove("stats"));
    report
}

#[test]
fn a_cluster_diff_answers_exactly_as_the_local_run() {
    let dir = tempfile::tempdir().unwrap();
    let truth = datasets(dir.path(), 40_000);
    let (code, local, stderr) = diff_json(dir.path(), &[]);
    assert_eq!(code, 1, "{stderr}");
    let summary = &local["summary"];
    assert_eq!(summary["only_left"], truth.only_left);
    assert_eq!(summary["only_right"], truth.only_right);
    assert_eq!(summary["changed"], truth.changed);
    assert_eq!(summary["duplicate_keys"], truth.duplicate_keys);
    assert_eq!(summary["null_keys"], truth.null_keys);
    // Up to 10 per side: which 10 of the left's 14 is part of the answer.
    assert_eq!(local["null_key_samples"].as_array().unwrap().len(), 13);

    let cluster = start(dir.path());
    let (code, remote, stderr) = diff_json(dir.path(), &["--cluster", &cluster.url]);
    assert_eq!(code, 1, "{stderr}");
    let stats = remote["stats"].clone();
    assert_eq!(stats["strategy"], "cluster", "{stats}");
    assert_eq!(
        stats["left_rows_hashed"],
        local["stats"]["left_rows_hashed"]
    );
    let fetched = stats["cluster"]["left_rows_fetched"].as_u64().unwrap();
    // The rows of divergent sub-buckets of leaves (about 64 rows each, 60
    // of them at most), not all rows.
    eprintln!("{stats}");
    assert!(fetched > 0 && fetched < 6_000, "{stats}");
    assert!(stats["cluster"]["bytes_returned"].as_u64().unwrap() > 0);
    // Byte for byte, but for the statistics.
    assert_eq!(
        serde_json::to_string_pretty(&answer(remote)).unwrap(),
        serde_json::to_string_pretty(&answer(local)).unwrap()
    );

    // The same through a rule file's [cluster] url, with `recon check`.
    let rules = dir.path().join("pair.toml");
    std::fs::write(
        &rules,
        format!(
            "key = [\"id\"]\n[left]\nsource = \"{}\"\n[right]\nsource = \"{}\"\n\
             [compare.amount]\nabs = 0.01\n[cluster]\nurl = \"{}\"\n",
            dir.path().join("left").display(),
            dir.path().join("right").display(),
            cluster.url
        ),
    )
    .unwrap();
    let out = recon()
        .args(["check", "--format", "json"])
        .arg(&rules)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let checked: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let text = checked.to_string();
    assert!(text.contains("\"strategy\":\"cluster\""), "{text}");
    assert!(
        text.contains(&format!("\"changed\":{}", truth.changed)),
        "{text}"
    );

    // A snapshot of the left against the right hashed on the cluster: the
    // snapshot's answer (divergent ranges, live rows in them) as here.
    let snapshot = dir.path().join("left.snapshot.parquet");
    let out = recon()
        .arg("snapshot")
        .arg(dir.path().join("left"))
        .args(["--key", "id", "-o"])
        .arg(&snapshot)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let against_snapshot = |extra: &[&str]| {
        let out = recon()
            .arg("diff")
            .arg(&snapshot)
            .arg(dir.path().join("right"))
            .args(["--key", "id", "--format", "json"])
            .args(extra)
            .output()
            .unwrap();
        let json: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&out.stderr)));
        (out.status.code(), json)
    };
    let (code, here) = against_snapshot(&[]);
    assert_eq!(code, Some(1));
    let (code, there) = against_snapshot(&["--cluster", &cluster.url]);
    assert_eq!(code, Some(1));
    assert_eq!(there["stats"]["strategy"], "cluster");
    assert!(!here["ranges"].as_array().unwrap().is_empty());
    assert_eq!(
        serde_json::to_string_pretty(&answer(there)).unwrap(),
        serde_json::to_string_pretty(&answer(here)).unwrap()
    );

    // Equal datasets: exit 0 on both paths.
    let (code, _, stderr) = recon()
        .arg("diff")
        .arg(dir.path().join("left"))
        .arg(dir.path().join("left"))
        .args(["--key", "id", "--cluster", &cluster.url])
        .output()
        .map(|o| {
            (
                o.status.code(),
                (),
                String::from_utf8_lossy(&o.stderr).into_owned(),
            )
        })
        .unwrap();
    // The left dataset holds duplicate keys and NULL keys: different from
    // itself in that sense, as locally.
    assert_eq!(code, Some(1), "{stderr}");
    drop(cluster);
}

#[test]
fn an_executor_killed_during_the_job_never_changes_the_answer() {
    let dir = tempfile::tempdir().unwrap();
    datasets(dir.path(), 1_200_000);
    let (code, local, stderr) = diff_json(dir.path(), &[]);
    assert_eq!(code, 1, "{stderr}");

    // An executor missing for 6 s counts as lost.
    let mut cluster = start_with(dir.path(), 6);
    let report = dir.path().join("cluster.json");
    let mut diff = recon()
        .arg("diff")
        .arg(dir.path().join("left"))
        .arg(dir.path().join("right"))
        .args([
            "--key",
            "id",
            "--abs-tol",
            "amount=0.01",
            "--format",
            "json",
        ])
        .args(["--cluster", &cluster.url])
        .stdout(std::fs::File::create(&report).unwrap())
        .stderr(std::fs::File::create(dir.path().join("cluster.err")).unwrap())
        .spawn()
        .unwrap();
    // Kill the first executor seen hashing (its CPU time rises).
    let idle: Vec<u64> = (1..3)
        .map(|i| cpu_ticks(cluster.processes[i].id()))
        .collect();
    let started = Instant::now();
    let victim = loop {
        let busy = (1..3).find(|&i| cpu_ticks(cluster.processes[i].id()) >= idle[i - 1] + 20);
        if let Some(i) = busy {
            break i;
        }
        assert!(
            diff.try_wait().unwrap().is_none(),
            "the job ended before an executor worked: make the data larger"
        );
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no executor worked"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(
        diff.try_wait().unwrap().is_none(),
        "the job ended before the kill"
    );
    cluster.processes[victim].kill().unwrap();
    let killed = Instant::now();
    let status = loop {
        if let Some(status) = diff.try_wait().unwrap() {
            break status;
        }
        assert!(
            killed.elapsed() < Duration::from_secs(300),
            "the run neither finished nor failed within 300 s of the kill"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let stderr = std::fs::read_to_string(dir.path().join("cluster.err")).unwrap();
    match status.code() {
        Some(0 | 1) => {
            assert_eq!(status.code(), Some(code), "{stderr}");
            let remote: serde_json::Value =
                serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
            assert_eq!(
                serde_json::to_string_pretty(&answer(remote)).unwrap(),
                serde_json::to_string_pretty(&answer(local)).unwrap()
            );
            eprintln!(
                "the cluster finished the job without the killed executor in {:.1} s",
                killed.elapsed().as_secs_f64()
            );
        }
        Some(2) => {
            // A clear cause, one line, no panic.
            assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
            assert!(stderr.contains("cluster"), "{stderr}");
            assert!(!stderr.contains("panicked"), "{stderr}");
            eprintln!("the run failed cleanly: {stderr}");
        }
        other => panic!("exit {other:?}: {stderr}"),
    }
}

#[test]
fn a_scheduler_without_executors_fails_the_run_within_the_wait() {
    let dir = tempfile::tempdir().unwrap();
    let out = recon()
        .args(["gen", "--rows", "2000", "--updates", "3", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    let (_cluster, scheduler) = start_scheduler(dir.path(), 30);
    let started = Instant::now();
    let out = recon()
        .arg("diff")
        .arg(dir.path().join("left.parquet"))
        .arg(dir.path().join("right.parquet"))
        .args(["--key", "id", "--cluster-wait", "5s", "--cluster"])
        .arg(format!("df://127.0.0.1:{scheduler}"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("no executor ran a task within 5 s"),
        "{stderr}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "{:?}",
        started.elapsed()
    );
}
