//! `ganbench serve` over a database that a sweep is writing: its pages and JSON API through
//! plain HTTP, and (slow tier) in headless Chromium: a curve gains points, a filter applies, and
//! no request fails and no script errs.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::chromium;
use crate::common::{ganbench, run};

/// A process stopped when dropped: SIGTERM, so that a `ganbench run` stops its workers too.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        // SAFETY: kill(2) on the pid of a child we have not waited for yet.
        unsafe { libc::kill(self.0.id() as libc::pid_t, libc::SIGTERM) };
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(60) {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts a sweep that trains for minutes (two long GAN runs, one at a time) and waits until its
/// first run has logged points.
fn training_sweep(dir: &Path) -> (PathBuf, Killed) {
    let sweep = dir.join("long.ron");
    std::fs::write(
        &sweep,
        r#"Sweep(name: "long", data: "ring8", steps: 1000000, eval_every: 200, eval_samples: 100,
    seeds: 2, base: {"batch_size": 16, "hidden": 8}, variants: [(plugin: "gan")])"#,
    )
    .unwrap();
    let db = dir.join("ganbench.sqlite");
    let child = ganbench()
        .args(["run", sweep.to_str().unwrap(), "--db", db.to_str().unwrap()])
        .args(["--no-report", "--jobs", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let child = Killed(child);
    wait_until("the sweep logs its first evaluation", || {
        let (code, stdout, _) = run(&["ls", "long", "--db", db.to_str().unwrap(), "--json"]);
        code == 0 && stdout.contains("\"running\"") && {
            let rows: Value = serde_json::from_str(&stdout).unwrap();
            rows[0]["step"].as_u64().unwrap_or(0) >= 400
        }
    });
    (db, child)
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "timed out: {what}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Starts `ganbench serve --port 0 EXTRA…` on `db`; returns the process, its port and the
/// lines it printed before listening.
fn serve(db: &Path, extra: &[&str]) -> (Killed, u16, String) {
    let mut child = ganbench()
        .args(["serve", "--port", "0", "--db", db.to_str().unwrap()])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut printed = String::new();
    let port = loop {
        let mut line = String::new();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "serve exited: {printed}"
        );
        printed.push_str(&line);
        if let Some(rest) = line.split("http://").nth(1) {
            let port = rest
                .split(':')
                .nth(1)
                .unwrap()
                .trim_end_matches(|c: char| !c.is_ascii_digit());
            let port = port.split('/').next().unwrap();
            break port.parse().unwrap();
        }
    };
    (Killed(child), port, printed)
}

/// GET `path` over HTTP/1.1; returns (status, headers, body).
fn get(port: u16, path: &str) -> (u16, String, Vec<u8>) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(120)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let split = response.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&response[..split]).into_owned();
    let mut body = response[split + 4..].to_vec();
    if head.to_lowercase().contains("transfer-encoding: chunked") {
        body = unchunk(&body);
    }
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head, body)
}

fn unchunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let end = data.windows(2).position(|w| w == b"\r\n").unwrap();
        let size =
            usize::from_str_radix(std::str::from_utf8(&data[..end]).unwrap().trim(), 16).unwrap();
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&data[end + 2..end + 2 + size]);
        data = &data[end + 2 + size + 2..];
    }
}

fn get_text(port: u16, path: &str) -> String {
    let (status, _, body) = get(port, path);
    let body = String::from_utf8(body).unwrap();
    assert_eq!(status, 200, "GET {path}: {body}");
    body
}

fn get_json(port: u16, path: &str) -> Value {
    serde_json::from_str(&get_text(port, path)).unwrap()
}

fn live_points(port: u16) -> usize {
    get_json(port, "/api/sweeps/1/state?metric=modes")["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["points"].as_array().unwrap().len())
        .sum()
}

#[test]
fn serve_follows_a_training_sweep_and_answers_like_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _sweep) = training_sweep(dir.path());
    let (_server, port, printed) = serve(&db, &[]);
    assert!(printed.contains("127.0.0.1"), "{printed}");
    assert!(!printed.contains("warning"), "{printed}");

    let index = get_text(port, "/");
    assert!(
        index.contains("long@1") && index.contains("/sweeps/1"),
        "{index}"
    );
    let page = get_text(port, "/sweeps/1");
    assert!(page.contains("live-chart") && page.contains("/static/live.js"));
    assert!(get_text(port, "/static/live.js").contains("drawCurves"));

    // The live state gains points while the run trains.
    let before = live_points(port);
    assert!(before > 0);
    wait_until("the live curves gain points", || live_points(port) > before);

    // The runs table answers as `ls --where` does, and says what is wrong with a bad filter.
    let rows = get_json(
        port,
        "/api/runs?sweep=1&where=status%20%3D%20running&sort=seed",
    );
    let (_, listed, _) = run(&[
        "ls",
        "--db",
        db.to_str().unwrap(),
        "--where",
        "id > 0",
        "--json",
    ]);
    let listed: Value = serde_json::from_str(&listed).unwrap();
    let running: Vec<&Value> = listed
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["status"] == "running")
        .collect();
    assert_eq!(rows.as_array().unwrap().len(), running.len(), "{rows}");
    assert_eq!(rows[0]["id"], running[0]["id"]);
    assert!(rows[0]["final"]["modes"].is_number(), "{rows}");
    assert_eq!(rows[0]["params"]["hidden"], 8, "{rows}");
    let (status, _, body) = get(port, "/api/runs?where=lr_d%20%3C");
    assert_eq!(status, 400);
    assert!(String::from_utf8_lossy(&body).contains("expected a value"));
    let (status, _, body) = get(port, "/api/runs?where=lrd%20%3C%201");
    assert_eq!(status, 400);
    assert!(String::from_utf8_lossy(&body).contains("`lrd`"));

    // The report, regenerated from the running sweep, and its figures.
    let report = get_text(port, "/sweeps/1/report/index.html");
    assert!(report.contains("long"), "{report}");
    assert!(
        !report.contains("Ranking on"),
        "no run has ended: no empty ranking table"
    );
    let figure = report
        .split("src=\"")
        .skip(1)
        .map(|s| s.split('"').next().unwrap())
        .find(|s| s.ends_with(".png"))
        .expect("the report has figures");
    let (status, head, png) = get(port, &format!("/sweeps/1/report/{figure}"));
    assert_eq!(status, 200);
    assert!(
        head.contains("image/png") && png.starts_with(b"\x89PNG"),
        "{head}"
    );

    // A run's page; chosen runs compared; nothing outside the report folder is served.
    let run_page = get_text(port, "/runs/1");
    assert!(
        run_page.contains("Events") && run_page.contains("seed 0"),
        "{run_page}"
    );
    let (status, head, _) = get(port, "/compare?runs=2,1");
    assert_eq!(status, 303, "{head}");
    assert!(head.contains("/compare/compare-1-2/index.html"), "{head}");
    assert!(get_text(port, "/compare/compare-1-2/index.html").contains("Comparison of 2 runs"));
    for path in [
        "/sweeps/1/report/..%2F..%2Fganbench.sqlite",
        "/sweeps/1/report/.hidden",
        "/compare/compare-1-2-x/index.html",
        "/runs/999",
        "/sweeps/999",
    ] {
        assert_eq!(get(port, path).0, 404, "{path}");
    }
}

#[test]
fn serve_listens_on_loopback_unless_told_and_warns_when_told() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("ganbench.sqlite");
    let (code, _, stderr) = run(&["serve", "--db", db.to_str().unwrap(), "--port", "0"]);
    assert_eq!(code, 2, "no database yet: {stderr}");
    ganbench_store::Store::open(&db).unwrap();
    let (_server, port, printed) = serve(&db, &["--bind", "0.0.0.0"]);
    assert!(
        printed.contains("warning: listening on 0.0.0.0"),
        "{printed}"
    );
    assert!(get_text(port, "/").contains("No sweeps yet"));
}

/// The value of a JavaScript expression in the page.
fn eval(b: &mut chromium::Browser, page: &str, expression: &str) -> Value {
    let answer = b.call(
        "Runtime.evaluate",
        serde_json::json!({ "expression": expression, "returnByValue": true }),
        Some(page),
    );
    answer["result"]["value"].clone()
}

/// How many points the page's live curves hold.
fn live_points_in(b: &mut chromium::Browser, page: &str) -> u64 {
    eval(b, page, "Number(document.body.dataset.livePoints || 0)")
        .as_u64()
        .unwrap_or(0)
}

#[test]
#[ignore = "slow tier: headless Chromium against a training sweep"]
fn in_chromium_a_curve_gains_points_a_filter_applies_and_nothing_fails() {
    let Some(browser) = chromium::find() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "no Chromium on PATH in CI: run .ci/install-chromium.sh first"
        );
        eprintln!("SKIPPED: no Chromium on PATH (install it with .ci/install-chromium.sh)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (db, _sweep) = training_sweep(dir.path());
    let (_server, port, _) = serve(&db, &[]);
    let profile = tempfile::tempdir().unwrap();
    let mut b = chromium::Browser::launch(&browser, profile.path());
    let page = b.open_page();
    let start = b.events().len();
    b.call(
        "Page.navigate",
        serde_json::json!({ "url": format!("http://127.0.0.1:{port}/sweeps/1") }),
        Some(&page),
    );
    b.wait_for_event("Page.loadEventFired", &page, start);
    let mut first = 0;
    wait_until("the page draws the curves", || {
        first = live_points_in(&mut b, &page);
        first > 0
    });
    wait_until("a curve gains points in the page", || {
        live_points_in(&mut b, &page) > first
    });
    let polylines = eval(
        &mut b,
        &page,
        "document.querySelectorAll('#live-chart polyline').length",
    );
    assert!(polylines.as_u64().unwrap() >= 1, "{polylines}");

    // The runs table: both runs, then the filter keeps the running one.
    wait_until("the runs table fills", || {
        eval(&mut b, &page, "Number(document.body.dataset.runRows || 0)") == 2
    });
    eval(
        &mut b,
        &page,
        "document.getElementById('filter').value = 'status = running'; document.getElementById('runs-form').requestSubmit(); 0",
    );
    wait_until("the filter applies", || {
        eval(
            &mut b,
            &page,
            "document.querySelectorAll('#runs tbody tr').length",
        ) == 1
    });
    assert_eq!(
        eval(
            &mut b,
            &page,
            "document.querySelector('#runs tbody tr td:nth-child(5)').textContent"
        ),
        "running"
    );
    let report_loaded = eval(
        &mut b,
        &page,
        "document.getElementById('report').contentDocument.body.innerText.includes('long')",
    );
    assert_eq!(report_loaded, true);

    let events = b.close();
    let problems = chromium::problems(&events[start..]);
    assert!(problems.is_empty(), "{problems:#?}");
}
