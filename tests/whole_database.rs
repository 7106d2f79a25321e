//! A run over two whole databases: a PostgreSQL database of six tables
//! against its MariaDB copy, where one table is missing, one has planted
//! differences and one has a column renamed (mapped in a rule file). No
//! `--key`: each table's key comes from its catalog.

mod common;

use common::{My, Pg, recon, server};
use serde_json::Value;

/// PostgreSQL's database and its MariaDB copy, with the planted changes.
fn shop() -> Option<(Pg, My)> {
    let (pg, my) = (server("RECON_TEST_PG")?, server("RECON_TEST_MYSQL")?);
    let (pg, my) = (Pg::create(&pg, "shop"), My::create(&my, "shop"));
    pg.run(
        "CREATE TABLE events (id bigint PRIMARY KEY, kind text NOT NULL, \
           amount numeric(12,2), at timestamp);
         INSERT INTO events SELECT g, 'kind ' || (g % 17), (g % 100000) / 100.0, \
           timestamp '2024-01-01' + g * interval '1 second' FROM generate_series(1, 1000000) g;
         CREATE TABLE order_items (order_id int, line int, sku text NOT NULL, qty int, \
           PRIMARY KEY (order_id, line));
         INSERT INTO order_items SELECT g / 4, g % 4, 'sku-' || (g % 97), g % 9 \
           FROM generate_series(1, 4000) g;
         CREATE TABLE currencies (code text PRIMARY KEY, name text, digits int);
         INSERT INTO currencies VALUES ('EUR', 'Euro', 2), ('JPY', 'Yen', 0), ('USD', 'Dollar', 2), \
           ('BHD', 'Dinar', 3);
         CREATE TABLE audit_log (at timestamp, message text, level int);
         INSERT INTO audit_log SELECT timestamp '2024-01-01' + g * interval '1 minute', \
           'message ' || g, g % 3 FROM generate_series(1, 500) g;
         CREATE TABLE customers (id int NOT NULL, email text NOT NULL, name text);
         CREATE UNIQUE INDEX customers_id ON customers (id);
         INSERT INTO customers SELECT g, 'c' || g || '@example.com', 'Customer ' || g \
           FROM generate_series(1, 300) g;
         CREATE TABLE promotions (id int PRIMARY KEY, title text);
         INSERT INTO promotions VALUES (1, 'spring'), (2, 'summer');",
    );
    my.run(
        "CREATE TABLE events (id bigint PRIMARY KEY, kind text NOT NULL, \
           amount decimal(12,2), at datetime(6));\n\
         INSERT INTO events SELECT seq, CONCAT('kind ', seq % 17), (seq % 100000) / 100, \
           TIMESTAMP '2024-01-01 00:00:00' + INTERVAL seq SECOND FROM seq_1_to_1000000;\n\
         CREATE TABLE order_items (order_id int, line int, sku varchar(20) NOT NULL, qty int, \
           PRIMARY KEY (order_id, line));\n\
         INSERT INTO order_items SELECT seq DIV 4, seq % 4, CONCAT('sku-', seq % 97), seq % 9 \
           FROM seq_1_to_4000;\n\
         CREATE TABLE currencies (code varchar(3) PRIMARY KEY, name text, digits int);\n\
         INSERT INTO currencies VALUES ('EUR', 'Euro', 2), ('JPY', 'Yen', 0), ('USD', 'Dollar', 2), \
           ('BHD', 'Dinar', 3);\n\
         CREATE TABLE audit_log (at datetime(6), message text, level int);\n\
         INSERT INTO audit_log SELECT TIMESTAMP '2024-01-01 00:00:00' + INTERVAL seq MINUTE, \
           CONCAT('message ', seq), seq % 3 FROM seq_1_to_500;\n\
         CREATE TABLE customers (id int NOT NULL, email_address text NOT NULL, name text, \
           UNIQUE KEY customers_id (id));\n\
         INSERT INTO customers SELECT seq, CONCAT('c', seq, '@example.com'), \
           CONCAT('Customer ', seq) FROM seq_1_to_300;\n\
         UPDATE order_items SET qty = qty + 1 WHERE (order_id, line) IN ((10, 2), (700, 1));\n\
         DELETE FROM order_items WHERE order_id = 500 AND line = 3;\n\
         INSERT INTO order_items VALUES (2000, 9, 'sku-new', 1)",
    );
    Some((pg, my))
}

fn database_url(admin: &url::Url, name: &str) -> String {
    let mut url = admin.clone();
    url.set_path(name);
    url.set_query(None);
    url.to_string()
}

fn rule_file(dir: &std::path::Path, left: &str, right: &str) -> std::path::PathBuf {
    let path = dir.join("shop.toml");
    std::fs::write(
        &path,
        format!(
            "[left]\nsource = \"{left}\"\n[right]\nsource = \"{right}\"\n\n\
             [table.customers]\ncolumns.map = {{ email = \"email_address\" }}\n"
        ),
    )
    .unwrap();
    path
}

fn table<'a>(run: &'a Value, name: &str) -> &'a Value {
    run["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("no table {name} in {run:#}"))
}

#[test]
fn every_table_of_two_databases_is_compared_without_a_key() {
    let Some((pg, my)) = shop() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (left, right) = (
        database_url(&pg.admin, &pg.name),
        database_url(&my.admin, &my.name),
    );
    let rules = rule_file(dir.path(), &left, &right);
    let junit = dir.path().join("tables.xml");
    let html = dir.path().join("tables.html");
    let out = recon()
        .args(["diff", &left, &right, "--format", "json", "--rules"])
        .arg(&rules)
        .arg("--junit")
        .arg(&junit)
        .arg("--html")
        .arg(&html)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let run: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(run["status"], "fail", "{run:#}");
    assert_eq!(run["summary"]["tables"], 6, "{run:#}");
    assert_eq!(run["summary"]["pass"], 4, "{run:#}");
    assert_eq!(run["summary"]["fail"], 2, "{run:#}");

    // Equal tables report equal, each keyed by its catalog.
    for (name, key, rows) in [
        ("public.events", "id", 1_000_000),
        ("public.currencies", "code", 4),
        ("public.customers", "id", 300),
    ] {
        let t = table(&run, name);
        assert_eq!(t["status"], "pass", "{t:#}");
        assert_eq!(t["report"]["key"], serde_json::json!([key]), "{t:#}");
        assert_eq!(t["report"]["summary"]["left_rows"], rows, "{t:#}");
        assert_eq!(t["report"]["summary"]["unchanged"], rows, "{t:#}");
        assert_eq!(t["report"]["verdict"], "equal", "{t:#}");
    }
    let customers = table(&run, "public.customers");
    assert!(
        customers["notes"][0]
            .as_str()
            .unwrap()
            .contains("unique index customers_id"),
        "{customers:#}"
    );
    assert_eq!(
        customers["report"]["schema"]["compared_columns"],
        serde_json::json!(["email→email_address", "name"]),
        "{customers:#}"
    );

    // The planted differences, found by the composite primary key.
    let items = table(&run, "public.order_items");
    assert_eq!(items["status"], "fail");
    assert_eq!(
        items["report"]["key"],
        serde_json::json!(["order_id", "line"])
    );
    let s = &items["report"]["summary"];
    assert_eq!(
        (&s["only_left"], &s["only_right"], &s["changed"]),
        (&Value::from(1), &Value::from(1), &Value::from(2)),
        "{items:#}"
    );

    // The table without a key: compared by aggregates, and said so.
    let log = table(&run, "public.audit_log");
    assert_eq!(log["status"], "pass", "{log:#}");
    assert!(log["report"].is_null());
    assert!(
        log["notes"][0].as_str().unwrap().contains("aggregates"),
        "{log:#}"
    );
    let count = log["aggregates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["metric"] == "count")
        .unwrap();
    assert_eq!(
        (&count["left"], &count["right"]),
        (&Value::from(500), &Value::from(500))
    );

    // The table missing on the right is recorded, not fatal.
    let promotions = table(&run, "public.promotions");
    assert_eq!(promotions["status"], "fail");
    assert_eq!(
        promotions["reasons"],
        serde_json::json!(["the table is missing on the right"])
    );

    // JUnit: one test case per table, the two failures as failures.
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert_eq!(xml.matches("<testcase ").count(), 6, "{xml}");
    assert_eq!(xml.matches("<failure ").count(), 2, "{xml}");
    assert!(
        xml.contains("tests=\"6\"") && xml.contains("failures=\"2\""),
        "{xml}"
    );
    assert!(xml.contains("name=\"public.promotions\""), "{xml}");
    // The HTML page: a row per table, linked to its details.
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(
        page.contains("6 tables: 4 passed, 0 warned, 2 failed, 0 errors"),
        "{page}"
    );
    assert!(page.contains("<th>table</th>") && page.contains("public.order_items"));

    // The terminal table and Markdown: a row per table and the verdict.
    for (format, verdict) in [("table", "verdict: DIFFERENT"), ("markdown", "2 failed")] {
        let out = recon()
            .args(["diff", &left, &right, "--format", format, "--rules"])
            .arg(&rules)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains(verdict), "{text}");
        for name in [
            "public.events",
            "public.order_items",
            "public.currencies",
            "public.audit_log",
            "public.customers",
            "public.promotions",
        ] {
            assert!(text.contains(name), "{name} missing from {format}:\n{text}");
        }
        assert!(text.contains("missing on the right"), "{text}");
        eprintln!("{text}");
    }

    // Without the mapping, the renamed column fails that table.
    let out = recon()
        .args([
            "diff",
            &left,
            &right,
            "--format",
            "json",
            "--tables",
            "customers",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let run: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(run["summary"]["tables"], 1, "{run:#}");
    let reasons = table(&run, "public.customers")["reasons"].to_string();
    assert!(reasons.contains("email"), "{reasons}");

    // Patterns leave out the failing tables: equal, exit 0.
    let out = recon()
        .args([
            "diff",
            &left,
            &right,
            "--format",
            "json",
            "--tables",
            "public.*,!order_items,!promotions,!customers",
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // recon check runs the same file: one result per table, named after it.
    let out = recon()
        .args(["check", "--format", "json"])
        .arg(&rules)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let run: Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = run["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 6, "{names:?}");
    assert!(names.contains(&"shop/public.order_items"), "{names:?}");

    // A rule file naming one table of each, without a key: the catalog's.
    let one = dir.path().join("items.toml");
    std::fs::write(
        &one,
        format!(
            "[left]\nsource = \"{}\"\n[right]\nsource = \"{}\"\n",
            pg.url("order_items"),
            my.url("order_items")
        ),
    )
    .unwrap();
    let out = recon()
        .args(["check", "--format", "json"])
        .arg(&one)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let run: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        run["checks"][0]["report"]["summary"]["changed"], 2,
        "{run:#}"
    );

    // One table without --key: the key comes from its catalog too.
    let out = recon()
        .args([
            "diff",
            &pg.url("order_items"),
            &my.url("order_items"),
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["key"], serde_json::json!(["order_id", "line"]));
    assert_eq!(report["summary"]["changed"], 2);
    // No key anywhere: exit 2 with the reason.
    let out = recon()
        .args(["diff", &pg.url("audit_log"), &my.url("audit_log")])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--key is needed"), "{stderr}");
}

#[test]
fn two_sqlite_databases_compare_table_by_table() {
    let dir = tempfile::tempdir().unwrap();
    let make = |name: &str, sql: &str| {
        let path = dir.path().join(name);
        rusqlite::Connection::open(&path)
            .unwrap()
            .execute_batch(sql)
            .unwrap();
        format!("sqlite://{}", path.display())
    };
    let common = "CREATE TABLE items (sku TEXT NOT NULL, qty INTEGER); \
                  CREATE UNIQUE INDEX items_sku ON items (sku); \
                  INSERT INTO items VALUES ('a', 1), ('b', 2), ('c', 3); \
                  CREATE TABLE typeless (id PRIMARY KEY, v); \
                  INSERT INTO typeless VALUES (42, 'x'), (43, 'y');";
    let left = make(
        "left.db",
        &format!(
            "{common} CREATE TABLE tmp_scratch (n INTEGER); \
             CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('x'), ('y');"
        ),
    );
    let right = make(
        "right.db",
        &format!(
            "{common} UPDATE items SET qty = 20 WHERE sku = 'b'; \
             UPDATE typeless SET v = 'changed' WHERE id = 42; \
             CREATE TABLE notes (body TEXT, added TEXT); \
             INSERT INTO notes VALUES ('x', NULL), ('y', NULL);"
        ),
    );
    // A run-wide mask applies to the tables that have the column; a recheck
    // of a typeless SQLite key reads the side again whole, and the
    // difference stays.
    let out = recon()
        .args([
            "diff", &left, &right, "--format", "json", "--tables", "!tmp_*",
        ])
        .args(["--mask", "qty", "--recheck", "1", "--recheck-delay", "10ms"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(run["summary"]["tables"], 3, "{run:#}");
    let items = table(&run, "main.items");
    assert_eq!(items["report"]["key"], serde_json::json!(["sku"]));
    assert_eq!(items["report"]["summary"]["changed"], 1, "{items:#}");
    assert!(
        !items.to_string().contains("\"qty\":20"),
        "masked: {items:#}"
    );
    let typeless = table(&run, "main.typeless");
    assert_eq!(typeless["report"]["summary"]["changed"], 1, "{typeless:#}");
    assert_eq!(
        typeless["report"]["transient"]["keys"],
        serde_json::json!([])
    );
    // The keyless table: equal aggregates, but a column added on the right fails it.
    let notes = table(&run, "main.notes");
    assert_eq!(notes["status"], "fail", "{notes:#}");
    assert_eq!(
        notes["reasons"],
        serde_json::json!(["column added was added on the right"]),
        "{notes:#}"
    );
    // Without the pattern, the table only on the left is reported too.
    let out = recon()
        .args(["diff", &left, &right, "--format", "json"])
        .output()
        .unwrap();
    let run: Value = serde_json::from_slice(&out.stdout).unwrap();
    let scratch = table(&run, "main.tmp_scratch");
    assert_eq!(
        scratch["reasons"],
        serde_json::json!(["the table is missing on the right"])
    );
}

#[test]
fn two_schemas_of_one_postgres_database_compare_inside_it() {
    let Some(admin) = server("RECON_TEST_PG") else {
        return;
    };
    let pg = Pg::create(&admin, "schemas");
    pg.run(
        "CREATE SCHEMA prod; CREATE SCHEMA staging;
         CREATE TABLE prod.orders (id int PRIMARY KEY, total numeric(10,2));
         INSERT INTO prod.orders SELECT g, g / 10.0 FROM generate_series(1, 5000) g;
         CREATE TABLE staging.orders AS TABLE prod.orders;
         ALTER TABLE staging.orders ADD PRIMARY KEY (id);
         UPDATE staging.orders SET total = total + 1 WHERE id IN (17, 4000);
         CREATE TABLE prod.only_in_prod (id int PRIMARY KEY);",
    );
    let url = |schema: &str| {
        let mut url = pg.admin.clone();
        url.set_path(&pg.name);
        url.set_query(Some(&format!("schema={schema}")));
        url.to_string()
    };
    let out = recon()
        .args(["diff", &url("prod"), &url("staging"), "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(run["summary"]["tables"], 2, "{run:#}");
    let orders = table(&run, "prod.orders");
    assert_eq!(orders["report"]["summary"]["changed"], 2, "{orders:#}");
    // One database: the tables are joined inside it, not checksummed.
    assert_eq!(
        orders["report"]["stats"]["pushdown"]["method"], "join",
        "{orders:#}"
    );
    let missing = table(&run, "prod.only_in_prod");
    assert_eq!(
        missing["reasons"],
        serde_json::json!(["the table is missing on the right"])
    );
}
