//! End to end: workers killed from outside and workers that hang. A worker killed with SIGKILL
//! leaves its run `interrupted` and the plain rerun resumes it bitwise equal to an uninterrupted
//! run; the third such kill fails the run; SIGTERM stops a sweep whose plugin hangs within the
//! grace period, a second Ctrl-C at once; a sweep's `timeout` fails a hung trial and the sweep
//! goes on.

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;
use ganbench_store::{Run, Status, Store};

fn spawn_run(sweep: &Path, db: &Path, extra: &[&str]) -> Child {
    ganbench()
        .args([
            "run",
            sweep.to_str().unwrap(),
            "--db",
            db.to_str().unwrap(),
            "--no-report",
            "--jobs",
            "1",
        ])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// The runs of the newest version of `sweep` (empty while the database or sweep is missing).
fn runs(db: &Path, sweep: &str) -> Vec<Run> {
    let Ok(store) = Store::open(db) else {
        return Vec::new();
    };
    match store.find_sweep(sweep, None) {
        Ok(Some(s)) => store.runs(s.id).unwrap_or_default(),
        _ => Vec::new(),
    }
}

fn event_kinds(db: &Path, run: &Run) -> Vec<String> {
    Store::open(db)
        .unwrap()
        .run_details(run.id)
        .unwrap()
        .events
        .into_iter()
        .map(|e| e.kind)
        .collect()
}

/// The `ganbench worker` process that `parent` started, once it exists.
fn worker_of(parent: u32) -> Option<u32> {
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // "pid (comm) state ppid …": the fields after the last ')'.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if ppid == Some(parent) && cmdline.split(|b| *b == 0).any(|arg| arg == b"worker") {
            return Some(pid);
        }
    }
    None
}

/// Waits (generously) until `done()`; panics with `what` after two minutes.
fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn signal(pid: u32, signal: i32) {
    // SAFETY: kill takes two integers and touches no memory of ours. The pid is this test's own
    // `ganbench run` child (not yet waited for, so its pid cannot be reused) or a worker that
    // `worker_of` just found among that child's children, so the signal reaches our process tree.
    assert_eq!(unsafe { libc::kill(pid as i32, signal) }, 0);
}

/// One trial of the `abort` fixture that hangs inside `train_step` at step 3 (checkpoints every
/// step), beside `others`.
fn hanging_sweep(dir: &Path, name: &str, extra: &str, others: &str) -> PathBuf {
    let lib = fixture_library("abort");
    let path = dir.join(format!("{name}.ron"));
    std::fs::write(
        &path,
        format!(
            r#"Sweep(
    name: "{name}",
    data: "ring8",
    steps: 200,
    eval_every: 100,
    eval_samples: 50,
    checkpoint_every: 1,
    seeds: 1,
    {extra}
    variants: [
        (plugin: "{lib}", label: "hangs", params: {{"abort_at": 0, "hang_at": 3}}),
        {others}
    ],
)"#,
            lib = lib.display()
        ),
    )
    .unwrap();
    path
}

/// Starts the hanging sweep and returns once its plugin hangs: this process owns the run, its
/// worker exists, and step 2 is logged (step 3 never ends).
fn start_hanging(sweep: &Path, db: &Path, name: &str, extra: &[&str]) -> Child {
    let child = spawn_run(sweep, db, extra);
    wait_until("the plugin to hang", || {
        runs(db, name).iter().any(|r| {
            r.label == "hangs"
                && r.status == Status::Running
                && r.owner_pid == Some(child.id())
                && r.step >= 2
        }) && worker_of(child.id()).is_some()
    });
    child
}

#[test]
fn a_worker_killed_with_sigkill_is_resumed_by_the_plain_rerun_bitwise_equal() {
    let dir = tempfile::tempdir().unwrap();
    let sweep = dir.path().join("killed.ron");
    std::fs::write(
        &sweep,
        r#"Sweep(
    name: "killed",
    data: "ring8",
    steps: 6000,
    eval_every: 1000,
    eval_samples: 200,
    checkpoint_every: 250,
    seeds: 1,
    base: {"batch_size": 32, "hidden": 16},
    variants: [(plugin: "gan")],
)"#,
    )
    .unwrap();
    let clean = dir.path().join("clean.sqlite");
    let (code, _, stderr) = run_sweep(&sweep, &clean, &[]);
    assert_eq!(code, 0, "{stderr}");
    let expected = points(&clean, "killed");

    let db = dir.path().join("db.sqlite");
    let parent = spawn_run(&sweep, &db, &[]);
    // Past a few checkpoints, well before the end.
    wait_until("training to pass step 1500", || {
        runs(&db, "killed").first().is_some_and(|r| r.step >= 1500)
    });
    let worker = worker_of(parent.id()).expect("a worker process");
    signal(worker, libc::SIGKILL);
    let (code, _, stderr) = split(parent.wait_with_output().unwrap());
    assert_eq!(code, 0, "the sweep itself ends normally: {stderr}");
    let run = runs(&db, "killed").remove(0);
    assert_eq!(run.status, Status::Interrupted, "{:?}", run.error);
    assert!(run.step < 6000, "killed mid-training, at step {}", run.step);
    let error = run.error.clone().unwrap();
    assert!(
        error.contains("killed by SIGKILL (signal 9)") && error.contains("kill 1 of at most 3"),
        "{error}"
    );
    assert!(event_kinds(&db, &run).contains(&"killed".to_string()));

    let (code, _, stderr) = run_sweep(&sweep, &db, &[]);
    assert_eq!(code, 0, "{stderr}");
    let run = runs(&db, "killed").remove(0);
    assert_eq!((run.status, run.step), (Status::Finished, 6000));
    assert!(event_kinds(&db, &run).contains(&"resumed".to_string()));
    let got = points(&db, "killed");
    assert_eq!(got.len(), expected.len(), "every (metric, step) once");
    let differ: Vec<_> = expected
        .iter()
        .filter(|(k, v)| got.get(*k) != Some(*v))
        .map(|(k, _)| k)
        .take(5)
        .collect();
    assert!(differ.is_empty(), "resumed values differ: {differ:?}");
}

#[test]
fn the_third_kill_of_one_run_fails_it_and_a_rerun_leaves_it_alone() {
    let dir = tempfile::tempdir().unwrap();
    let sweep = hanging_sweep(dir.path(), "oom", "", "");
    let db = dir.path().join("db.sqlite");
    for kill in 1..=3 {
        let parent = start_hanging(&sweep, &db, "oom", &[]);
        let worker = worker_of(parent.id()).expect("a worker process");
        signal(worker, libc::SIGKILL);
        let (code, _, stderr) = split(parent.wait_with_output().unwrap());
        assert_eq!(code, 0, "{stderr}");
        let run = runs(&db, "oom").remove(0);
        let error = run.error.unwrap_or_default();
        if kill < 3 {
            assert_eq!(run.status, Status::Interrupted, "kill {kill}: {error}");
            assert!(
                error.contains(&format!("kill {kill} of at most 3")),
                "{error}"
            );
        } else {
            assert_eq!(run.status, Status::Failed, "kill {kill}: {error}");
            assert!(
                error.contains("killed from outside 3 times") && error.contains("--retry-failed"),
                "{error}"
            );
        }
    }
    let (code, stdout, stderr) = run_sweep(&sweep, &db, &["--json"]);
    assert_eq!(code, 0, "{stderr}");
    let summary: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        (summary["skipped"].as_u64(), summary["failed"].as_u64()),
        (Some(1), Some(0)),
        "{summary}"
    );
}

#[test]
fn sigterm_stops_a_sweep_whose_plugin_hangs_within_the_grace_period() {
    let dir = tempfile::tempdir().unwrap();
    let sweep = hanging_sweep(dir.path(), "term", "", "");
    let db = dir.path().join("db.sqlite");
    let parent = start_hanging(&sweep, &db, "term", &["--grace-period", "2"]);
    let sent = Instant::now();
    signal(parent.id(), libc::SIGTERM);
    let (code, _, stderr) = split(parent.wait_with_output().unwrap());
    let took = sent.elapsed();
    assert_eq!(code, 130, "{stderr}");
    assert!(
        stderr.contains("run the same command again to resume"),
        "{stderr}"
    );
    // It waited for the grace period, then killed the worker (before: as long as it hung).
    assert!(
        took >= Duration::from_millis(1900) && took < Duration::from_secs(30),
        "stopped after {took:?}"
    );
    let run = runs(&db, "term").remove(0);
    assert_eq!(run.status, Status::Interrupted);
    assert!(
        run.error
            .as_deref()
            .unwrap()
            .contains("did not stop within the 2 s grace period"),
        "{:?}",
        run.error
    );
}

#[test]
fn a_second_ctrl_c_kills_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let sweep = hanging_sweep(dir.path(), "twice", "", "");
    let db = dir.path().join("db.sqlite");
    let parent = start_hanging(&sweep, &db, "twice", &["--grace-period", "600"]);
    let sent = Instant::now();
    signal(parent.id(), libc::SIGINT);
    std::thread::sleep(Duration::from_millis(300));
    signal(parent.id(), libc::SIGINT);
    let (code, _, stderr) = split(parent.wait_with_output().unwrap());
    assert_eq!(code, 130, "{stderr}");
    assert!(
        sent.elapsed() < Duration::from_secs(60),
        "a 600 s grace period was waited out"
    );
    let run = runs(&db, "twice").remove(0);
    assert_eq!(run.status, Status::Interrupted);
    assert!(
        run.error.as_deref().unwrap().contains("second Ctrl-C"),
        "{:?}",
        run.error
    );
}

#[test]
fn a_trial_past_the_sweeps_timeout_fails_and_the_sweep_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let sweep = hanging_sweep(
        dir.path(),
        "slow",
        // Generous for the small GAN beside it on a loaded machine.
        "timeout: 10,",
        r#"(plugin: "gan", params: {"batch_size": 16, "hidden": 8}),"#,
    );
    let db = dir.path().join("db.sqlite");
    let (code, _, stderr) = run_sweep(&sweep, &db, &["--jobs", "2"]);
    assert_eq!(code, 0, "{stderr}");
    let runs = runs(&db, "slow");
    let hangs = runs.iter().find(|r| r.label == "hangs").unwrap();
    assert_eq!(hangs.status, Status::Failed);
    assert!(
        hangs
            .error
            .as_deref()
            .unwrap()
            .contains("timed out after 10 s (the sweep's `timeout`)"),
        "{:?}",
        hangs.error
    );
    let gan = runs.iter().find(|r| r.label == "gan").unwrap();
    assert_eq!((gan.status, gan.step), (Status::Finished, 200));
}
