//! Each way the checksum pushdown (or the read of a database) once said
//! EQUAL while the tables differed, or the reverse: one test per root cause,
//! run with the pushdown and with `--no-pushdown`, both of which must give
//! the true answer. Real PostgreSQL and MariaDB from `RECON_TEST_PG` /
//! `RECON_TEST_MYSQL`; without them each test prints a notice and passes.

mod common;

use common::*;
use serde_json::Value;

/// Runs both modes; asserts they exit alike and report the same rows, and
/// returns the exit code and the pushdown's report.
fn both_modes(left: &str, right: &str, key: &str) -> (i32, Value) {
    let (code, pushed) = diff(left, right, key, &[]);
    let (whole_code, whole) = diff(left, right, key, &["--no-pushdown"]);
    assert_same_answer(&pushed, &whole, &format!("{left} vs {right}"));
    assert_eq!(code, whole_code, "{left} vs {right}");
    (code, pushed)
}

/// The keys reported changed.
fn changed(report: &Value) -> Vec<String> {
    reported(report)
        .into_keys()
        .filter(|(status, _)| status == "changed")
        .map(|(_, key)| key)
        .collect()
}

fn summary(report: &Value, field: &str) -> u64 {
    report["summary"][field].as_u64().unwrap()
}

#[test]
fn boolean_null_is_not_false() {
    let Some((pg, my)) = both("bool_null") else {
        return;
    };
    pg.run(
        "CREATE TABLE l (id int PRIMARY KEY, x boolean);
         INSERT INTO l VALUES (1, NULL), (2, false), (3, true), (4, NULL);
         CREATE TABLE r (id int PRIMARY KEY, x boolean);
         INSERT INTO r VALUES (1, false), (2, NULL), (3, true), (4, NULL);",
    );
    my.run(
        "CREATE TABLE tiny (id int PRIMARY KEY, x tinyint(1));
         INSERT INTO tiny VALUES (1, 0), (2, NULL), (3, 1), (4, NULL);
         CREATE TABLE small (id int PRIMARY KEY, x smallint);
         INSERT INTO small VALUES (1, 0), (2, NULL), (3, 1), (4, NULL)",
    );
    for right in [pg.url("r"), my.url("tiny"), my.url("small")] {
        let (code, report) = both_modes(&pg.url("l"), &right, "id");
        assert_eq!(code, 1, "{right}");
        assert_eq!(changed(&report), ["1", "2"], "{right}");
    }
}

#[test]
fn char_padding_cannot_shift_text_across_columns() {
    let Some((pg, my)) = both("char_pad") else {
        return;
    };
    pg.run(
        "CREATE TABLE c (id int PRIMARY KEY, a char(5), b char(5));
         INSERT INTO c VALUES (1, 'a', 'w|1:z'), (2, 'ab', 'x');
         CREATE TABLE v (id int PRIMARY KEY, a varchar(9), b varchar(9));
         INSERT INTO v VALUES (1, 'a|5:w', 'z'), (2, 'ab', 'x');",
    );
    // MariaDB's CHAR(n) is read without its padding, as PostgreSQL's is.
    my.run(
        "CREATE TABLE c (id int PRIMARY KEY, a char(5), b char(5));
         INSERT INTO c VALUES (1, 'a', 'w|1:z'), (2, 'ab', 'x');
         CREATE TABLE v (id int PRIMARY KEY, a varchar(9), b varchar(9));
         INSERT INTO v VALUES (1, 'a', 'w|1:z'), (2, 'ab  ', 'x')",
    );
    let (code, report) = both_modes(&pg.url("c"), &pg.url("v"), "id");
    assert_eq!((code, changed(&report)), (1, vec!["1".to_string()]));
    let (code, report) = both_modes(&pg.url("c"), &my.url("c"), "id");
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["stats"]["pushdown"]["left_rows_fetched"], 0);
    // Trailing spaces kept by VARCHAR are data.
    let (code, report) = both_modes(&pg.url("c"), &my.url("v"), "id");
    assert_eq!((code, changed(&report)), (1, vec!["2".to_string()]));
}

#[test]
fn dates_keep_their_era_and_infinities() {
    let Some((pg, _my)) = both("eras") else {
        return;
    };
    pg.run(
        "CREATE TABLE l (id int PRIMARY KEY, d date, t timestamp, z timestamptz);
         INSERT INTO l VALUES
           (1, '0044-03-15 BC', '2020-01-01', '2020-01-01'),
           (2, 'infinity', '2020-01-01', '2020-01-01'),
           (3, 'infinity', 'infinity', '-infinity'),
           (4, '-infinity', '0010-06-01 12:00 BC', '4713-01-01 00:00 BC'),
           (5, '2020-01-01', 'infinity', '2020-01-01'),
           (6, '5874897-12-31', '200000-12-31 23:59:59', '2020-01-01');
         CREATE TABLE r (id int PRIMARY KEY, d date, t timestamp, z timestamptz);
         INSERT INTO r VALUES
           (1, '0044-03-15', '2020-01-01', '2020-01-01'),
           (2, NULL, '2020-01-01', '2020-01-01'),
           (3, 'infinity', 'infinity', '-infinity'),
           (4, '-infinity', '0010-06-01 12:00 BC', '4713-01-01 00:00 BC'),
           (5, '2020-01-01', NULL, '2020-01-01'),
           (6, '5874897-12-31', '200000-12-31 23:59:59', '2020-01-01');",
    );
    let (code, report) = both_modes(&pg.url("l"), &pg.url("r"), "id");
    assert_eq!(code, 1);
    assert_eq!(changed(&report), ["1", "2", "5"]);
    // Infinities are shown as such.
    let row = |id: u64| {
        let diffs = report["diffs"].as_array().unwrap();
        diffs.iter().find(|d| d["key"]["id"] == id).unwrap().clone()
    };
    assert_eq!(row(2)["left"]["d"], "infinity");
    assert_eq!(row(5)["left"]["t"], "infinity");
}

#[test]
fn a_latin1_database_is_hashed_as_utf8() {
    let Some(admin) = server("RECON_TEST_PG") else {
        return;
    };
    let latin = Pg::create_with(
        &admin,
        "latin1",
        "ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0",
    );
    let utf = Pg::create(&admin, "utf8");
    assert_eq!(
        latin.column("SHOW server_encoding"),
        [Some("LATIN1".into())]
    );
    // The client speaks UTF-8; the LATIN1 server stores 'Ã©' as C3 A9,
    // the very bytes of a UTF-8 'é'. The rows lie in leaves of their own, so
    // no other row's difference gets row 1 fetched.
    latin.run(
        "CREATE TABLE t (id int PRIMARY KEY, s text);
         INSERT INTO t VALUES (1, 'Ã©'), (5000, 'é'), (9000, 'plain');
         CREATE TABLE e (id int PRIMARY KEY, s text);
         INSERT INTO e VALUES (1, 'é'), (2, 'ÿ|Ã'), (3, 'plain');",
    );
    utf.run(
        "CREATE TABLE t (id int PRIMARY KEY, s text);
         INSERT INTO t VALUES (1, 'é'), (5000, 'é'), (9000, 'plain');
         CREATE TABLE e (id int PRIMARY KEY, s text);
         INSERT INTO e VALUES (1, 'é'), (2, 'ÿ|Ã'), (3, 'plain');",
    );
    let (code, report) = both_modes(&latin.url("t"), &utf.url("t"), "id");
    assert_eq!((code, changed(&report)), (1, vec!["1".to_string()]));
    // Equal text is equal however it is stored: the checksums agree.
    let (code, report) = both_modes(&latin.url("e"), &utf.url("e"), "id");
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["stats"]["pushdown"]["left_rows_fetched"], 0);
}

#[test]
fn duplicate_keys_are_found_byte_by_byte_whatever_the_collation() {
    let Some((pg, my)) = both("collations") else {
        return;
    };
    // Each table holds three duplicated keys, each next to a key its
    // collation folds it with, among 2,000 others (so that the keys spread
    // over many hash buckets); both sides alike, so only the duplicate query
    // can find them.
    let rows = |pairs: &[(&str, &str)]| {
        pairs
            .iter()
            .map(|(a, b)| format!("('{a}', 1), ('{b}', 2), ('{b}', 2)"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let folded_case = rows(&[("K", "k"), ("Q", "q"), ("Z", "z")]);
    let padded = rows(&[("P", "P "), ("R", "R "), ("S", "S ")]);
    my.run(&format!(
        "CREATE TABLE ci (k varchar(10) COLLATE utf8mb4_general_ci, v int);
         INSERT INTO ci VALUES {folded_case};
         INSERT INTO ci SELECT CONCAT('f', seq), seq FROM seq_1_to_2000;
         CREATE TABLE pad (k varchar(10) COLLATE utf8mb4_bin, v int);
         INSERT INTO pad VALUES {padded};
         INSERT INTO pad SELECT CONCAT('f', seq), seq FROM seq_1_to_2000"
    ));
    pg.run(&format!(
        "CREATE COLLATION folding (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
         CREATE TABLE ci (k text COLLATE folding, v int);
         INSERT INTO ci VALUES {folded_case};
         INSERT INTO ci SELECT 'f' || i, i FROM generate_series(1, 2000) i;"
    ));
    for url in [my.url("ci"), my.url("pad"), pg.url("ci")] {
        let (code, report) = both_modes(&url, &url, "k");
        assert_eq!(code, 1, "{url}: {report}");
        assert_eq!(summary(&report, "duplicate_keys"), 3, "{url}");
    }
}

#[test]
fn uniqueness_is_trusted_only_where_the_catalog_guarantees_it() {
    let Some((pg, _my)) = both("unique") else {
        return;
    };
    pg.run(
        "CREATE TABLE invalid (id int, v text);
         INSERT INTO invalid VALUES (1, 'a'), (1, 'a'), (2, 'b');
         CREATE TABLE parent (id int PRIMARY KEY, v text);
         CREATE TABLE child () INHERITS (parent);
         INSERT INTO parent VALUES (1, 'a'), (2, 'b');
         INSERT INTO child VALUES (1, 'a');",
    );
    // A failed CONCURRENTLY build leaves an INVALID unique index behind.
    let failed = runtime().block_on(
        pg.client
            .batch_execute("CREATE UNIQUE INDEX CONCURRENTLY invalid_id ON invalid (id)"),
    );
    assert!(failed.is_err());
    assert_eq!(
        pg.column(
            "SELECT indisvalid::text FROM pg_index WHERE indexrelid = 'invalid_id'::regclass"
        ),
        [Some("false".into())]
    );
    for table in ["invalid", "parent"] {
        let (code, report) = both_modes(&pg.url(table), &pg.url(table), "id");
        assert_eq!(code, 1, "{table}: {report}");
        assert_eq!(summary(&report, "duplicate_keys"), 1, "{table}");
    }
}

#[test]
fn a_primary_key_on_part_of_the_key_does_not_rule_out_nulls() {
    let Some((pg, my)) = both("partial_pk") else {
        return;
    };
    let ddl = "CREATE TABLE t (id int PRIMARY KEY, name varchar(10), v int)";
    let rows = "INSERT INTO t VALUES (1, 'a', 1), (2, NULL, 2)";
    pg.run(&format!("{ddl};\n{rows};"));
    my.run(&format!("{ddl};\n{rows}"));
    for (left, right) in [(pg.url("t"), pg.url("t")), (pg.url("t"), my.url("t"))] {
        let (code, report) = both_modes(&left, &right, "id,name");
        assert_eq!(code, 1, "{report}");
        // One NULL-key row on each side.
        assert_eq!(summary(&report, "null_keys"), 2);
    }
}

#[test]
fn a_planted_checksum_collision_is_still_found() {
    let Some((pg, _my)) = both("collision") else {
        return;
    };
    // Found offline by a generalised-birthday search (Wagner's 4-list
    // algorithm, 2^21 MD5s per list, 22 s): with unkeyed digests the two
    // sides' 60-bit MD5 sums over the leaf are equal.
    pg.run(
        "CREATE TABLE l (id bigint PRIMARY KEY, v text);
         INSERT INTO l VALUES (1, 'a0000208996'), (2, 'b0000480582');
         CREATE TABLE r (id bigint PRIMARY KEY, v text);
         INSERT INTO r VALUES (1, 'c0001403458'), (2, 'd0000890787');",
    );
    let unkeyed = |table: &str| {
        pg.column(&format!(
            "SELECT SUM(('x' || substr(md5(concat_ws('|', id::text, \
             octet_length(v)::text || ':' || v)), 1, 15))::bit(60)::int8)::text FROM {table}"
        ))
    };
    assert_eq!(
        unkeyed("l"),
        unkeyed("r"),
        "the planted rows no longer collide"
    );
    assert_eq!(unkeyed("l"), [Some("1420588564383531008".into())]);
    let (code, report) = both_modes(&pg.url("l"), &pg.url("r"), "id");
    assert_eq!((code, changed(&report)), (1, vec!["1".into(), "2".into()]));
}

#[test]
fn mariadb_float_is_read_with_every_digit() {
    let Some((pg, my)) = both("float") else {
        return;
    };
    pg.run(
        "CREATE TABLE f (id int PRIMARY KEY, x real, y double precision);
         INSERT INTO f VALUES (1, 16777216, 16777216), (2, 16777216, 0.1),
           (3, 0.1, 0.1), (4, 3.4028234e38, 1e300), (5, -0.0, 1.17549435e-38);",
    );
    my.run(
        "CREATE TABLE f (id int PRIMARY KEY, x float, y double);
         INSERT INTO f VALUES (1, 16777216, 16777216), (2, 16777218, 0.1),
           (3, 0.1, 0.1), (4, 3.4028234e38, 1e300), (5, 0, 1.17549435e-38)",
    );
    let (code, report) = both_modes(&pg.url("f"), &my.url("f"), "id");
    assert_eq!((code, changed(&report)), (1, vec!["2".to_string()]));
    let values = report["diffs"][0].clone();
    assert_eq!(values["left"]["x"], 16777216.0, "{values}");
    assert_eq!(values["right"]["x"], 16777218.0, "{values}");
}

#[test]
fn numerics_keep_all_38_digits_and_beyond() {
    let Some((pg, my)) = both("numeric") else {
        return;
    };
    let digits38 = "12345678901234567890.123456789012345678";
    pg.run(&format!(
        "CREATE TABLE n (id int PRIMARY KEY, a numeric(38,18), b numeric(38,0), c numeric, \
                         w numeric(60,20));
         INSERT INTO n VALUES
           (1, {digits38}, 99999999999999999999999999999999999999, 123456789012345678901234,
            1234567890123456789012345678901234567890.12345678901234567890),
           (2, -{digits38}, -99999999999999999999999999999999999999,
            0.1234567890123456789012345, 0),
           (3, 0, 0, -1.5, -0.00000000000000000001);
         CREATE TABLE m (id int PRIMARY KEY, a numeric(38,18), b numeric(38,0), c numeric, \
                         w numeric(60,20));
         INSERT INTO m SELECT * FROM n;
         UPDATE m SET a = a + 0.000000000000000001 WHERE id = 1;
         UPDATE m SET c = c + 0.0000000000000000000000001 WHERE id = 2;
         UPDATE m SET w = w - 0.00000000000000000001 WHERE id = 3;",
    ));
    my.run(&format!(
        "CREATE TABLE n (id int PRIMARY KEY, a decimal(38,18), b decimal(38,0), \
                         c decimal(50,25), w decimal(60,20));
         INSERT INTO n VALUES
           (1, {digits38}, 99999999999999999999999999999999999999, 123456789012345678901234,
            1234567890123456789012345678901234567890.12345678901234567890),
           (2, -{digits38}, -99999999999999999999999999999999999999,
            0.1234567890123456789012345, 0),
           (3, 0, 0, -1.5, -0.00000000000000000001)"
    ));
    // The last digit of each changed column, and nothing else.
    let (code, report) = both_modes(&pg.url("n"), &pg.url("m"), "id");
    assert_eq!(code, 1);
    assert_eq!(changed(&report), ["1", "2", "3"]);
    // Equal 38-digit (and wider) values across engines are equal.
    let (code, report) = both_modes(&pg.url("n"), &my.url("n"), "id");
    assert_eq!(code, 0, "{report}");
}

#[test]
fn postgres_enums_compare_as_text() {
    let Some((pg, my)) = both("enums") else {
        return;
    };
    pg.run(
        "CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
         CREATE DOMAIN short_text AS varchar(5);
         CREATE TABLE e (id int PRIMARY KEY, m mood, s short_text);
         INSERT INTO e VALUES (1, 'sad', 'a'), (2, 'ok', 'b'), (3, NULL, NULL);",
    );
    my.run(
        "CREATE TABLE e (id int PRIMARY KEY, m enum('sad','ok','happy'), s varchar(5));
         INSERT INTO e VALUES (1, 'sad', 'a'), (2, 'happy', 'b'), (3, NULL, NULL)",
    );
    let (code, report) = both_modes(&pg.url("e"), &my.url("e"), "id");
    assert_eq!((code, changed(&report)), (1, vec!["2".to_string()]));
}

#[test]
fn mariadb_zero_dates_are_refused_not_read_as_null() {
    let Some((_pg, my)) = both("zero_dates") else {
        return;
    };
    my.run(
        "SET SESSION sql_mode = '';
         CREATE TABLE z (id int PRIMARY KEY, d date, t datetime);
         INSERT INTO z VALUES (1, '0000-00-00', '2020-01-01 00:00:00');
         CREATE TABLE n (id int PRIMARY KEY, d date, t datetime);
         INSERT INTO n VALUES (1, NULL, '2020-01-01 00:00:00')",
    );
    for extra in [&[][..], &["--no-pushdown"][..]] {
        let (code, _, stderr) = run_diff(&my.url("z"), &my.url("n"), "id", extra);
        assert_eq!(code, 2, "{extra:?}: {stderr}");
        assert!(stderr.contains("column d"), "{stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    }
}
