//! End to end: several `ganbench run` processes on one database divide the work so that every
//! trial is trained exactly once, and an ended run is never claimed again (a failed one only
//! under `--retry-failed`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Stdio;

use crate::common::*;
use ganbench_store::{Status, Store};

/// Claim events per trial key, and the processes that claimed anything.
fn claims(db: &Path, sweep: &str) -> (BTreeMap<String, usize>, BTreeSet<String>) {
    let store = Store::open(db).unwrap();
    let s = store.find_sweep(sweep, None).unwrap().unwrap();
    let mut per_trial = BTreeMap::new();
    let mut claimants = BTreeSet::new();
    for run in store.runs(s.id).unwrap() {
        let events = store.run_details(run.id).unwrap().events;
        let claimed: Vec<_> = events.iter().filter(|e| e.kind == "claimed").collect();
        for e in &claimed {
            // "claimed by process 123 on host (was queued at step 0)"
            let pid = e
                .message
                .split_whitespace()
                .nth(3)
                .unwrap_or("")
                .to_string();
            claimants.insert(pid);
        }
        per_trial.insert(run.trial_key, claimed.len());
    }
    (per_trial, claimants)
}

#[test]
fn three_processes_on_one_database_train_every_trial_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let sweep = dir.path().join("shared.ron");
    // 6 trials of about a second each, so that the three processes overlap.
    std::fs::write(
        &sweep,
        r#"Sweep(
    name: "shared",
    data: "ring8",
    steps: 1500,
    eval_every: 500,
    eval_samples: 200,
    checkpoint_every: 250,
    seeds: 3,
    base: {"batch_size": 32, "hidden": 16},
    variants: [(plugin: "gan"), (plugin: "vae")],
)"#,
    )
    .unwrap();
    let db = dir.path().join("db.sqlite");
    let children: Vec<_> = (0..3)
        .map(|_| {
            ganbench()
                .args([
                    "run",
                    sweep.to_str().unwrap(),
                    "--db",
                    db.to_str().unwrap(),
                    "--no-report",
                    "--jobs",
                    "1",
                    "--json",
                ])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut finished = 0;
    for child in children {
        let (code, stdout, stderr) = split(child.wait_with_output().unwrap());
        assert_eq!(code, 0, "{stderr}");
        let summary: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        finished += summary["finished"].as_u64().unwrap();
    }
    // Each trial was finished by exactly one process: none was trained twice...
    assert_eq!(finished, 6, "finished counts of the three processes");
    let (per_trial, claimants) = claims(&db, "shared");
    assert_eq!(per_trial.len(), 6);
    assert!(
        per_trial.values().all(|&n| n == 1),
        "one claim per trial: {per_trial:?}"
    );
    // ...while the processes did share the work (which trials a process finds ended by another
    // depends on timing; crates/store's tests check that refusal deterministically).
    assert!(
        claimants.len() >= 2,
        "only process(es) {claimants:?} trained; the test needs them to overlap"
    );
    let store = Store::open(&db).unwrap();
    let s = store.find_sweep("shared", None).unwrap().unwrap();
    for run in store.runs(s.id).unwrap() {
        assert_eq!((run.status, run.step), (Status::Finished, 1500), "{run:?}");
        let removed: Vec<String> = store
            .run_details(run.id)
            .unwrap()
            .events
            .into_iter()
            .filter(|e| e.kind == "truncated" && !e.message.starts_with("removed 0 metric"))
            .map(|e| e.message)
            .collect();
        assert!(removed.is_empty(), "{}: {removed:?}", run.trial_key);
    }
}

#[test]
fn a_failed_trial_is_retried_only_under_retry_failed_and_ended_ones_never() {
    let dir = tempfile::tempdir().unwrap();
    let sweep = mixed_sweep(dir.path(), 7);
    let db = dir.path().join("db.sqlite");
    let (code, _, stderr) = run_sweep(&sweep, &db, &[]);
    assert_eq!(code, 0, "{stderr}");
    let before = claims(&db, "mixed").0;
    assert!(before.values().all(|&n| n == 1), "{before:?}");

    // The plain rerun trains nothing: finished, diverged and failed runs are results.
    let (code, stdout, stderr) = run_sweep(&sweep, &db, &["--json"]);
    assert_eq!(code, 0, "{stderr}");
    let summary: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(summary["skipped"], 3, "{summary}");
    assert_eq!(claims(&db, "mixed").0, before);

    // --retry-failed claims the failed run again, and only it.
    let (code, stdout, stderr) = run_sweep(&sweep, &db, &["--json", "--retry-failed"]);
    assert_eq!(code, 0, "{stderr}");
    let summary: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        (summary["skipped"].as_u64(), summary["failed"].as_u64()),
        (Some(2), Some(1))
    );
    let store = Store::open(&db).unwrap();
    let s = store.find_sweep("mixed", None).unwrap().unwrap();
    let after = claims(&db, "mixed").0;
    for run in store.runs(s.id).unwrap() {
        let want = if run.label == "aborts" { 2 } else { 1 };
        assert_eq!(after[&run.trial_key], want, "{}", run.label);
    }
}
