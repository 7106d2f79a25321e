//! `recon repair --apply` on real servers cannot overwrite a write it did not
//! see, nor touch a row it counts as another key: concurrent writes between
//! the comparison and the apply, and case-, accent- and pad-insensitive
//! collations. PostgreSQL from `RECON_TEST_PG`, MariaDB from `RECON_TEST_MYSQL`.

mod common;

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::*;
use mysql_async::prelude::Queryable;

fn truth_csv(dir: &Path, text: &str) -> String {
    let path = dir.join("truth.csv");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

fn spawn_apply(truth: &str, target: &str) -> Child {
    std::process::Command::new(assert_cmd::cargo::cargo_bin("recon"))
        .args(["repair", truth, target, "--key", "id", "--apply"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits until `waiting()` says a session waits for a row lock.
fn until_waiting(child: &mut Child, mut waiting: impl FnMut() -> bool) {
    let started = Instant::now();
    while !waiting() {
        if let Some(status) = child.try_wait().unwrap() {
            let mut stderr = String::new();
            std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
            panic!("recon ended ({status}) before it waited for the locked row: {stderr}");
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "recon never waited for the locked row"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn finish(child: Child) -> (i32, String) {
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_write_landing_before_the_apply_stops_it_on_mariadb() {
    let Some(admin) = server("RECON_TEST_MYSQL") else {
        return;
    };
    let my = My::create(&admin, "guard_concurrent");
    my.run("CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20));\nINSERT INTO t VALUES (1,'a'),(2,'old'),(3,'c')");
    let dir = tempfile::tempdir().unwrap();
    let truth = truth_csv(dir.path(), "id,v\n1,a\n2,b\n3,c\n");
    // Another client changes row 2 and holds it, uncommitted, while recon compares.
    let mut writer = my.connect();
    runtime().block_on(async {
        writer.query_drop("START TRANSACTION").await.unwrap();
        writer
            .query_drop("UPDATE t SET v = 'concurrent' WHERE id = 2")
            .await
            .unwrap();
    });
    let mut child = spawn_apply(&truth, &my.url("t"));
    until_waiting(&mut child, || {
        // INNODB_TRX is a cache refreshed only when not read for 100 ms.
        std::thread::sleep(Duration::from_millis(250));
        my.column(
            "SELECT COUNT(*) FROM information_schema.INNODB_TRX WHERE trx_state = 'LOCK WAIT'",
        )[0]
        .as_deref()
            != Some("0")
    });
    runtime().block_on(writer.query_drop("COMMIT")).unwrap();
    let (code, stderr) = finish(child);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("id=2") && stderr.contains("changed after the comparison"),
        "{stderr}"
    );
    assert_eq!(
        my.column("SELECT v FROM t ORDER BY id"),
        ["a", "concurrent", "c"].map(|v| Some(v.to_string()))
    );
}

#[test]
fn a_write_landing_before_the_apply_stops_it_on_postgres() {
    let Some(admin) = server("RECON_TEST_PG") else {
        return;
    };
    let pg = Pg::create(&admin, "guard_concurrent");
    pg.run("CREATE TABLE t (id INT PRIMARY KEY, v TEXT); INSERT INTO t VALUES (1,'a'),(2,'old'),(3,'c')");
    let dir = tempfile::tempdir().unwrap();
    let truth = truth_csv(dir.path(), "id,v\n1,a\n2,b\n3,c\n");
    let writer = pg.connect();
    runtime()
        .block_on(writer.batch_execute("BEGIN; UPDATE t SET v = 'concurrent' WHERE id = 2"))
        .unwrap();
    let mut child = spawn_apply(&truth, &pg.url("t"));
    until_waiting(&mut child, || {
        pg.column(
            "SELECT count(*) FROM pg_stat_activity \
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )[0]
        .as_deref()
            != Some("0")
    });
    runtime().block_on(writer.batch_execute("COMMIT")).unwrap();
    let (code, stderr) = finish(child);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("id=2") && stderr.contains("changed after the comparison"),
        "{stderr}"
    );
    assert_eq!(
        pg.column("SELECT v FROM t ORDER BY id"),
        ["a", "concurrent", "c"].map(|v| Some(v.to_string()))
    );
}

/// Keys equal under the column's collation but not byte for byte: repair
/// changes exactly the row of its key, and no other.
#[test]
fn insensitive_collations_touch_only_the_key_compared_on_mariadb() {
    let Some(admin) = server("RECON_TEST_MYSQL") else {
        return;
    };
    let my = My::create(&admin, "guard_collation");
    let dir = tempfile::tempdir().unwrap();
    // (collation, the key recon changes, the key that must stay as it is)
    for (collation, changed, kept) in [
        ("utf8mb4_general_ci", "é", "E"),
        ("utf8mb4_unicode_ci", "Straße", "STRASSE"),
        ("utf8mb4_bin", "P ", "P"),
    ] {
        my.run(&format!(
            "DROP TABLE IF EXISTS t;\n\
             CREATE TABLE t (id VARCHAR(20) COLLATE {collation}, v INT, w INT);\n\
             INSERT INTO t VALUES ('{kept}', 1, 1), ('{changed}', 3, 3), ('gone', 1, 1)"
        ));
        // Truth: the changed key's v is 2, `gone` is deleted, the kept row stays.
        let truth = truth_csv(
            dir.path(),
            &format!("id,v,w\n\"{kept}\",1,1\n\"{changed}\",2,3\n"),
        );
        let out = recon()
            .args(["repair", &truth, &my.url("t"), "--key", "id", "--apply"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{collation}: {out:?}");
        let mut rows = my.column("SELECT CONCAT(HEX(id), ':', v, ':', w) FROM t");
        rows.sort();
        let hex = |s: &str| s.bytes().map(|b| format!("{b:02X}")).collect::<String>();
        let mut expected = vec![
            format!("{}:1:1", hex(kept)),
            format!("{}:2:3", hex(changed)),
        ];
        expected.sort();
        assert_eq!(
            rows,
            expected.into_iter().map(Some).collect::<Vec<_>>(),
            "{collation}"
        );
        // Deleting the changed key leaves the kept one.
        let truth = truth_csv(dir.path(), &format!("id,v,w\n\"{kept}\",1,1\n"));
        let out = recon()
            .args(["repair", &truth, &my.url("t"), "--key", "id", "--apply"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{collation}: {out:?}");
        assert_eq!(
            my.column("SELECT CONCAT(HEX(id), ':', v) FROM t"),
            [Some(format!("{}:1", hex(kept)))],
            "{collation}"
        );
    }
}
