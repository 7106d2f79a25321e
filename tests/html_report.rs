//! The HTML report as a browser shows it: headless Chromium renders each
//! page and the tests read the rendered DOM for the counts and the column
//! names. Every request the browser would make goes to a proxy the test
//! runs, so a page that loads anything from the network fails.
//!
//! Chromium comes from `RECON_TEST_CHROMIUM`, else `chromium` or
//! `chromium-browser` on the PATH; without one the tests print a notice and
//! pass, except under `RECON_TEST_REQUIRE_CHROMIUM=1` (`.ci/run` sets it).

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command as Process;
use std::sync::{Arc, Mutex};

use assert_cmd::Command;
use serde_json::Value;

fn recon() -> Command {
    Command::cargo_bin("recon").unwrap()
}

fn chromium() -> Option<PathBuf> {
    let found = std::env::var_os("RECON_TEST_CHROMIUM")
        .map(PathBuf::from)
        .or_else(|| {
            ["chromium", "chromium-browser", "google-chrome"]
                .iter()
                .find_map(|name| {
                    let out = Process::new("which").arg(name).output().ok()?;
                    let path = String::from_utf8(out.stdout).ok()?;
                    (out.status.success() && !path.trim().is_empty())
                        .then(|| PathBuf::from(path.trim()))
                })
        });
    if found.is_none() {
        assert!(
            std::env::var_os("RECON_TEST_REQUIRE_CHROMIUM").is_none(),
            "RECON_TEST_REQUIRE_CHROMIUM is set but no Chromium was found"
        );
        eprintln!(
            "notice: no Chromium found (set RECON_TEST_CHROMIUM): HTML rendering test skipped"
        );
    }
    found
}

/// A proxy that records the first line of every request and answers none.
struct Proxy {
    port: u16,
    requests: Arc<Mutex<Vec<String>>>,
}

impl Proxy {
    fn start() -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut line = String::new();
                let _ = BufReader::new(&stream).read_line(&mut line);
                seen.lock().unwrap().push(line.trim().to_string());
            }
        });
        Proxy { port, requests }
    }
}

/// Chromium's own background services: it calls them whatever the page,
/// and no flag silences them all. Any other host is a request of the page.
const BROWSER_SERVICES: &[&str] = &[
    "accounts.google.com",
    "clients2.google.com",
    "clientservices.googleapis.com",
    "content-autofill.googleapis.com",
    "edgedl.me.gvt1.com",
    "optimizationguide-pa.googleapis.com",
    "redirector.gvt1.com",
    "safebrowsing.googleapis.com",
    "update.googleapis.com",
];

/// The host a proxy request line names (`CONNECT host:443 HTTP/1.1`,
/// `GET http://host/path HTTP/1.1`).
fn requested_host(line: &str) -> String {
    let target = line.split_whitespace().nth(1).unwrap_or("");
    let target = target.split("://").last().unwrap_or(target);
    let authority = target.split('/').next().unwrap_or(target);
    authority
        .rsplit_once(':')
        .map_or(authority, |(h, _)| h)
        .to_string()
}

/// The DOM Chromium builds from the page, and every request it tried
/// apart from the browser's own.
fn render(chromium: &Path, page: &Path, screenshot: Option<&Path>) -> (String, Vec<String>) {
    let proxy = Proxy::start();
    let profile = tempfile::tempdir().unwrap();
    let url = format!("file://{}", page.canonicalize().unwrap().display());
    let run = |extra: &[String]| {
        let out = Process::new(chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-extensions",
                "--disable-default-apps",
                "--virtual-time-budget=3000",
                "--window-size=1280,1600",
            ])
            .arg(format!("--proxy-server=http://127.0.0.1:{}", proxy.port))
            // Loopback too goes through the proxy.
            .arg("--proxy-bypass-list=<-loopback>")
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .args(extra)
            .arg(&url)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "chromium failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let dom = run(&["--dump-dom".to_string()]);
    if let Some(png) = screenshot {
        run(&[format!("--screenshot={}", png.display())]);
    }
    // Give a late request time to reach the proxy.
    std::thread::sleep(std::time::Duration::from_millis(200));
    let requests = proxy
        .requests
        .lock()
        .unwrap()
        .iter()
        .filter(|line| !BROWSER_SERVICES.contains(&requested_host(line).as_str()))
        .cloned()
        .collect();
    (dom, requests)
}

/// The text inside the element with this id (up to its closing tag).
fn element_text(dom: &str, id: &str) -> String {
    let at = dom
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no element {id} in the page"));
    let start = at + dom[at..].find('>').unwrap() + 1;
    let mut text = String::new();
    let mut depth = 0i32;
    let mut in_tag = false;
    let rest = &dom[start..];
    for (i, c) in rest.char_indices() {
        match c {
            '<' => {
                in_tag = true;
                if rest[i..].starts_with("</") {
                    if depth == 0 {
                        break;
                    }
                    depth -= 1;
                } else {
                    depth += 1;
                }
                text.push(' ');
            }
            '>' => in_tag = false,
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The page's counts are the JSON report's, its columns and differences
/// are there, and it loaded nothing.
fn assert_page_matches(dom: &str, requests: &[String], json: &Value) {
    assert!(requests.is_empty(), "the page made requests: {requests:?}");
    let summary = &json["summary"];
    for (id, field) in [
        ("count-left-rows", "left_rows"),
        ("count-right-rows", "right_rows"),
        ("count-only-left", "only_left"),
        ("count-only-right", "only_right"),
        ("count-changed", "changed"),
        ("count-unchanged", "unchanged"),
    ] {
        let n = summary[field].as_u64().unwrap();
        let text = element_text(dom, id);
        assert!(
            text.starts_with(&format!("{} ", thousands(n))),
            "{id}: {text:?} does not show {n}"
        );
    }
    let verdict = json["verdict"].as_str().unwrap().to_uppercase();
    assert!(element_text(dom, "verdict").starts_with(&verdict));
    let columns = element_text(dom, "columns");
    for c in json["columns"].as_array().unwrap() {
        let name = c["name"].as_str().unwrap();
        let n = c["mismatches"].as_u64().unwrap();
        assert!(
            columns.contains(&format!("{name} {}", thousands(n))),
            "column {name} with {n} mismatches not in {columns:?}"
        );
    }
    let schema = element_text(dom, "schema");
    for c in json["schema"]["compared_columns"].as_array().unwrap() {
        assert!(
            schema.contains(c.as_str().unwrap()),
            "{c} not in {schema:?}"
        );
    }
    // Every changed cell the page marks belongs to a changed column.
    let marked = dom.matches("class=\"changed\"").count();
    assert!(marked > 0, "no changed cell is marked");
    let strip = element_text(dom, "key-space");
    let ranges = json["ranges"].as_array().unwrap().len() as u64;
    assert!(
        strip.contains(&format!("{} divergent range", thousands(ranges))),
        "{strip:?}"
    );
    assert!(
        dom.contains("class=\"hit\""),
        "the key-space strip marks no range"
    );
}

fn diff(left: &Path, right: &Path, format: &str, html: Option<&Path>) -> (i32, Vec<u8>) {
    let mut cmd = recon();
    cmd.arg("diff")
        .arg(left)
        .arg(right)
        .args(["--key", "id", "--format", format]);
    if let Some(html) = html {
        cmd.arg("--html").arg(html);
    }
    let out = cmd.output().unwrap();
    let code = out.status.code().unwrap();
    assert!(
        code == 0 || code == 1,
        "exit {code}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (code, out.stdout)
}

/// Where screenshots go when `RECON_TEST_SCREENSHOTS` names a directory.
fn screenshot(name: &str) -> Option<PathBuf> {
    std::env::var_os("RECON_TEST_SCREENSHOTS").map(|d| PathBuf::from(d).join(name))
}

#[test]
fn fixture_report_shows_the_json_counts_and_loads_nothing() {
    let Some(chromium) = chromium() else { return };
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/orders");
    let (left, right) = (root.join("left.parquet"), root.join("right.parquet"));
    // --format html on standard output, and --html FILE beside JSON.
    let (code, html) = diff(&left, &right, "html", None);
    assert_eq!(code, 1);
    let page = dir.path().join("fixture.html");
    std::fs::write(&page, &html).unwrap();
    let beside = dir.path().join("beside.html");
    let (code, json) = diff(&left, &right, "json", Some(&beside));
    assert_eq!(code, 1);
    let json: Value = serde_json::from_slice(&json).unwrap();
    let beside = std::fs::read_to_string(&beside).unwrap();
    assert!(beside.contains("id=\"count-changed\""));

    let (dom, requests) = render(&chromium, &page, screenshot("fixture.png").as_deref());
    assert_page_matches(&dom, &requests, &json);
}

#[test]
fn ten_million_rows_with_40000_differences_stay_small_and_readable() {
    let Some(chromium) = chromium() else { return };
    let dir = tempfile::tempdir().unwrap();
    recon()
        .args([
            "gen",
            "--rows",
            "10000000",
            "--inserts",
            "10000",
            "--deletes",
            "10000",
        ])
        .args(["--updates", "20000", "--out"])
        .arg(dir.path())
        .assert()
        .success();
    let truth: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("truth.json")).unwrap()).unwrap();
    let (left, right) = (
        dir.path().join("left.parquet"),
        dir.path().join("right.parquet"),
    );
    let page = dir.path().join("10m.html");
    let (code, json) = diff(&left, &right, "json", Some(&page));
    assert_eq!(code, 1);
    let json: Value = serde_json::from_slice(&json).unwrap();
    let differences = ["only_left", "only_right", "changed"]
        .iter()
        .map(|f| json["summary"][f].as_u64().unwrap())
        .sum::<u64>();
    let planted = ["only_left", "only_right", "changed"]
        .iter()
        .map(|f| truth[f].as_array().map_or(0, |a| a.len() as u64))
        .sum::<u64>();
    assert_eq!(differences, planted);
    assert_eq!(differences, 40_000);
    let size = std::fs::metadata(&page).unwrap().len();
    assert!(size < 2 << 20, "the page is {size} bytes");
    let (dom, requests) = render(&chromium, &page, screenshot("10m.png").as_deref());
    assert_page_matches(&dom, &requests, &json);
    let listed = element_text(&dom, "differences");
    assert!(
        listed.contains("The first 200 of 40,000 differences"),
        "{listed:.300}"
    );
}

#[test]
fn check_page_lists_every_check_and_links_its_details() {
    let Some(chromium) = chromium() else { return };
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("checks.html");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = recon()
        .current_dir(root)
        .args(["check", "--format", "json", "--html"])
        .arg(&page)
        .output()
        .unwrap();
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    let checks = json["checks"].as_array().unwrap();
    assert!(!checks.is_empty());
    let (dom, requests) = render(&chromium, &page, screenshot("checks.png").as_deref());
    assert!(requests.is_empty(), "the page made requests: {requests:?}");
    for (i, check) in checks.iter().enumerate() {
        let name = check["name"].as_str().unwrap();
        let status = check["status"].as_str().unwrap();
        assert!(
            dom.contains(&format!("href=\"#check-{i}\">{name}</a>")),
            "{name}"
        );
        let details = element_text(&dom, &format!("check-{i}"));
        assert!(
            details.starts_with(&format!("{status} {name}")),
            "{details:.200}"
        );
    }
    let summary = element_text(&dom, "checks-summary");
    assert!(
        summary.starts_with(&format!("{} checks:", checks.len())),
        "{summary}"
    );
}

#[test]
fn a_page_that_loads_from_the_network_is_caught() {
    let Some(chromium) = chromium() else { return };
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("leaky.html");
    std::fs::write(
        &page,
        "<!DOCTYPE html><html><body><p id=\"x\">leaky</p>\
         <img src=\"http://recon-test.invalid/pixel.png\"></body></html>",
    )
    .unwrap();
    let (dom, requests) = render(&chromium, &page, None);
    assert_eq!(element_text(&dom, "x"), "leaky");
    assert!(
        requests
            .iter()
            .any(|r| requested_host(r) == "recon-test.invalid"),
        "the proxy did not see the page's request: {requests:?}"
    );
}
