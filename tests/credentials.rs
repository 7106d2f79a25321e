//! Credentials found as each engine's own client finds them, so no password
//! needs to be on a command line: `~/.my.cnf`, libpq's environment
//! variables and password file. Real servers from `RECON_TEST_PG` /
//! `RECON_TEST_MYSQL`.

mod common;

use common::*;

#[test]
fn a_my_cnf_client_section_supplies_user_and_password() {
    let Some(admin) = server("RECON_TEST_MYSQL") else {
        return;
    };
    let my = My::create(&admin, "cred_mycnf");
    let user = format!("u{}", std::process::id());
    let password = "p#w/?@:'x";
    my.run(&format!(
        "CREATE TABLE t (id INT PRIMARY KEY, v INT);\n\
         INSERT INTO t VALUES (1, 10), (2, 20);\n\
         CREATE USER '{user}'@'%' IDENTIFIED BY '{}';\n\
         GRANT SELECT ON {}.* TO '{user}'@'%'",
        password.replace('\'', "''"),
        my.name
    ));
    let home = tempfile::tempdir().unwrap();
    let host = admin.host_str().unwrap();
    let port = admin.port().unwrap_or(3306);
    std::fs::write(
        home.path().join(".my.cnf"),
        format!("[mysqld]\nuser = nobody\n[client]\nuser = {user}\npassword = \"{password}\"\n"),
    )
    .unwrap();
    let csv = home.path().join("same.csv");
    std::fs::write(&csv, "id,v\n1,10\n2,20\n").unwrap();
    let url = format!("mysql://{host}:{port}/{}?table=t", my.name);
    let run = |home: &std::path::Path| {
        recon()
            .env("HOME", home)
            .env_remove("MYSQL_PWD")
            .args(["diff", &url, csv.to_str().unwrap(), "--key", "id"])
            .args(["--format", "json"])
            .output()
            .unwrap()
    };
    let out = run(home.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains(password));
    // Without the file, the same URL is refused: the file did the work.
    let empty = tempfile::tempdir().unwrap();
    let out = run(empty.path());
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    my.run(&format!("DROP USER '{user}'@'%'"));
}

#[test]
fn libpq_environment_variables_name_the_server() {
    let Some(admin) = server("RECON_TEST_PG") else {
        return;
    };
    let pg = Pg::create(&admin, "cred_env");
    pg.run("CREATE TABLE t (id INT PRIMARY KEY, v INT); INSERT INTO t VALUES (1, 10), (2, 20)");
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("same.csv");
    std::fs::write(&csv, "id,v\n1,10\n2,20\n").unwrap();
    let out = recon()
        .env("PGHOST", admin.host_str().unwrap())
        .env("PGPORT", admin.port().unwrap_or(5432).to_string())
        .env("PGUSER", admin.username())
        .env("PGDATABASE", &pg.name)
        .args([
            "diff",
            "postgres:///?table=t",
            csv.to_str().unwrap(),
            "--key",
            "id",
        ])
        .args(["--format", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
}

#[test]
fn a_pgpass_file_supplies_the_password_and_an_open_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let pgpass = dir.path().join("pgpass");
    std::fs::write(
        &pgpass,
        "# comment\nother:*:*:*:wrong\n127.0.0.1:1:shop:alice:S3cretPw\n",
    )
    .unwrap();
    let set_mode = |mode: u32| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&pgpass, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    let run = || {
        let out = recon()
            .env("PGPASSFILE", &pgpass)
            .env_remove("PGPASSWORD")
            .args(["diff", "postgres://alice@127.0.0.1:1/shop?table=t", "x.csv"])
            .args(["--key", "id"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{out:?}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    // Nothing listens on port 1: the message shows whether a password was
    // found (`alice:***@`), never the password itself.
    set_mode(0o600);
    let stderr = run();
    assert!(stderr.contains("alice:***@127.0.0.1:1/shop"), "{stderr}");
    assert!(!stderr.contains("S3cretPw"), "{stderr}");
    set_mode(0o644);
    let stderr = run();
    assert!(stderr.contains("alice@127.0.0.1:1/shop"), "{stderr}");
    assert!(stderr.contains("other users can read it"), "{stderr}");
    assert!(!stderr.contains("S3cretPw"), "{stderr}");
}
