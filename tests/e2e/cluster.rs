//! End to end: a sweep split into array tasks (`run --task I/N`, one database each) and merged
//! (`ganbench merge`) holds exactly the points of the same sweep run in one go; and on a real
//! Slurm cluster, `ganbench slurm submit` does the same with a task requeued mid-training.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::*;
use ganbench_store::{Status, Store};

#[test]
fn task_shares_merged_hold_exactly_the_points_of_one_local_run() {
    let dir = tempfile::tempdir().unwrap();
    let sweep = tiny_sweep(dir.path(), "shares", 40);
    let local = dir.path().join("local.sqlite");
    let (code, _, err) = run_sweep(&sweep, &local, &["--jobs", "2"]);
    assert_eq!(code, 0, "{err}");

    // Three tasks share the four trials (1, 1 and 2), in databases of their own.
    let mut shards = Vec::new();
    for task in 0..3 {
        let shard = dir.path().join(format!("task-{task}.sqlite"));
        let share = format!("{task}/3");
        let out = run_json(&[
            "run",
            sweep.to_str().unwrap(),
            "--db",
            shard.to_str().unwrap(),
            "--task",
            &share,
            "--jobs",
            "2",
            "--json",
        ]);
        let share_size = if task == 2 { 2 } else { 1 };
        assert_eq!(
            (out["task"].as_str(), out["trials"].as_u64()),
            (Some(share.as_str()), Some(share_size))
        );
        assert_eq!(
            out["html_report"],
            serde_json::Value::Null,
            "a share writes no report"
        );
        assert_eq!(statuses(&shard, "shares").len() as u64, share_size);
        shards.push(shard);
    }

    let main = dir.path().join("main.sqlite");
    let merge = |extra: &[&Path]| {
        let mut args = vec!["--db", main.to_str().unwrap(), "merge", "shares", "--json"];
        args.extend(extra.iter().map(|p| p.to_str().unwrap()));
        run_json(&args)
    };
    let shard_refs: Vec<&Path> = shards.iter().map(|p| p.as_path()).collect();
    let first = merge(&shard_refs);
    let total = |field: &str, out: &serde_json::Value| -> u64 {
        out["shards"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s[field].as_u64().unwrap())
            .sum()
    };
    assert_eq!(total("runs_added", &first), 4);
    assert_eq!(first["conflicts"], 0);
    let expected = points(&local, "shares");
    assert!(expected.len() > 4 * 40, "{} points", expected.len());
    assert_eq!(
        points(&main, "shares"),
        expected,
        "merged points differ from the local run's"
    );
    assert_eq!(statuses(&main, "shares"), statuses(&local, "shares"));

    // Again: nothing changes.
    let again = merge(&shard_refs);
    assert_eq!(
        (
            total("runs_added", &again),
            total("runs_updated", &again),
            total("runs_unchanged", &again)
        ),
        (0, 0, 4)
    );
    assert_eq!(points(&main, "shares"), expected);

    // A shard of another spec of the same sweep name is refused, and changes nothing.
    let other_dir = dir.path().join("other");
    std::fs::create_dir(&other_dir).unwrap();
    let other = tiny_sweep(&other_dir, "shares", 30);
    let other_shard = dir.path().join("other.sqlite");
    let (code, _, err) = run_sweep(&other, &other_shard, &["--task", "0/3"]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = run(&[
        "--db",
        main.to_str().unwrap(),
        "merge",
        "shares",
        other_shard.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("other.sqlite") && err.contains("another"),
        "{err}"
    );
    assert_eq!(points(&main, "shares"), expected);

    // A task number out of range is refused before anything runs.
    let (code, _, err) = run_sweep(&sweep, &dir.path().join("x.sqlite"), &["--task", "3/3"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("0 to 2"), "{err}");
    assert!(!dir.path().join("x.sqlite").exists());
}

/// Whether a Slurm controller answers here; in CI it must (.ci/slurm.sh starts one).
fn slurm_is_up() -> bool {
    let up = Command::new("sinfo")
        .args(["-h", "-o", "%T"])
        .output()
        .is_ok_and(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).contains("idle"));
    if !up && std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("no Slurm cluster answers in CI: start one with .ci/slurm.sh start");
    }
    up
}

fn squeue(job: &str) -> String {
    let out = Command::new("squeue")
        .args(["-h", "-r", "-j", job, "-o", "%i %T %r"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
#[ignore = "slow (minutes): needs a Slurm cluster; CI starts a one-node one with .ci/slurm.sh"]
fn a_slurm_array_with_tasks_requeued_mid_training_merges_into_a_local_runs_points() {
    if !slurm_is_up() {
        eprintln!(
            "SKIPPED a_slurm_array_…: no Slurm cluster answers here (start one with .ci/slurm.sh start)"
        );
        return;
    }
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    // The quickstart (experiments/quickstart.ron: four variants, three seeds), 2000 steps instead
    // of 4000 and a checkpoint every 250, so that a task is requeued between checkpoints.
    let quickstart = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments/quickstart.ron"),
    )
    .unwrap();
    let text = quickstart
        .replace("steps: 4000,", "steps: 2000, checkpoint_every: 250,")
        .replace("eval_every: 500,", "eval_every: 200,");
    assert_ne!(text, quickstart);
    let sweep = dir.path().join("quickstart.ron");
    std::fs::write(&sweep, text).unwrap();
    let db = dir.path().join("cluster.sqlite");
    let db_arg = db.to_str().unwrap();

    let submitted = run_json(&[
        "--db",
        db_arg,
        "slurm",
        "submit",
        sweep.to_str().unwrap(),
        "--cpus-per-task",
        "1",
        "--json",
    ]);
    let (array, merge) = (
        submitted["array_jobs"][0].as_str().unwrap().to_string(),
        submitted["merge_jobs"][0].as_str().unwrap().to_string(),
    );
    assert_eq!(
        (submitted["tasks"].as_u64(), submitted["trials"].as_u64()),
        (Some(12), Some(12))
    );
    let submit_s = started.elapsed().as_secs_f64();

    // Two interruptions, each once its task's trial (a WGAN-GP, the slowest of the quickstart)
    // has passed its first checkpoint: task 3 is requeued from outside (`scontrol requeue`, as a
    // preemption would); task 4 gets USR1, as Slurm sends it before a time limit (it
    // checkpoints, stops and requeues itself).
    let folder = db.with_extension("slurm").join("quickstart-v1");
    let step_of = |task: usize| {
        Store::open_read_only(folder.join(format!("shards/task-{task}.sqlite")))
            .ok()
            .and_then(|s| {
                let sweep = s.find_sweep("quickstart", None).ok()??;
                s.runs(sweep.id).ok()?.first().map(|r| r.step)
            })
            .unwrap_or(0)
    };
    let mut interrupted_at = Vec::new();
    for (task, how) in [(3, "requeue"), (4, "USR1")] {
        wait_for("the task past step 300", Duration::from_secs(600), || {
            step_of(task) >= 300
        });
        let job_task = format!("{array}_{task}");
        let at = step_of(task);
        if how == "requeue" {
            let out = Command::new("scontrol")
                .args(["requeue", &job_task])
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        } else {
            // scancel delivers the signal at once, then retries ("Job can not be altered now")
            // while the task requeues itself; what counts is checked below (the task's log, its
            // events).
            let _ = Command::new("timeout")
                .args(["5", "scancel", "--batch", "--signal=USR1", &job_task])
                .spawn();
        }
        assert!(at < 2000, "task {task} finished before it was interrupted");
        interrupted_at.push((task, how, at, started.elapsed().as_secs_f64()));
        // Slurm holds a requeued task for a while (BeginTime); let it start again now.
        wait_for(
            "the task back in the queue",
            Duration::from_secs(120),
            || squeue(&job_task).contains("PENDING"),
        );
        let _ = Command::new("scontrol")
            .args(["update", &format!("JobId={job_task}"), "StartTime=now"])
            .output();
    }

    wait_for(
        "the array and the merge job to end",
        Duration::from_secs(1500),
        || squeue(&array).trim().is_empty() && squeue(&merge).trim().is_empty(),
    );
    let cluster_s = started.elapsed().as_secs_f64();

    // Both tasks ran twice and resumed from a checkpoint; task 4 said why it stopped.
    for task in [3, 4] {
        let log = std::fs::read_to_string(folder.join(format!("logs/task-{task}.out"))).unwrap();
        assert!(
            log.contains(", run 0,") && log.contains(", run 1,"),
            "task {task}:\n{log}"
        );
        if task == 4 {
            assert!(log.contains("USR1, the time limit is near"), "{log}");
        }
        let store =
            Store::open_read_only(folder.join(format!("shards/task-{task}.sqlite"))).unwrap();
        let sweep = store.find_sweep("quickstart", None).unwrap().unwrap();
        let run = &store.runs(sweep.id).unwrap()[0];
        let events = store.run_details(run.id).unwrap().events;
        assert!(
            events.iter().any(|e| e.kind == "resumed"),
            "task {task} did not resume: {events:?}"
        );
    }

    // The merge job merged every shard and wrote the report.
    let statuses_cluster = statuses(&db, "quickstart");
    assert_eq!(statuses_cluster.len(), 12);
    assert!(statuses_cluster
        .iter()
        .all(|(_, s, step)| *s == Status::Finished && *step == 2000));
    let merge_log = std::fs::read_dir(folder.join("logs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("merge-")
        })
        .expect("the merge job's log");
    let merge_log = std::fs::read_to_string(merge_log).unwrap();
    assert!(merge_log.contains("12 shards merged"), "{merge_log}");

    // Bitwise equal to the same sweep run here in one go: none missing, none twice.
    let local = dir.path().join("local.sqlite");
    let (code, _, err) = run_sweep(&sweep, &local, &["--jobs", "2"]);
    assert_eq!(code, 0, "{err}");
    let expected = points(&local, "quickstart");
    let merged = points(&db, "quickstart");
    let missing = expected.keys().filter(|k| !merged.contains_key(*k)).count();
    let extra = merged.keys().filter(|k| !expected.contains_key(*k)).count();
    let differ = expected
        .iter()
        .filter(|(k, v)| merged.get(*k).is_some_and(|m| m != *v))
        .count();
    eprintln!(
        "slurm e2e: submitted at {submit_s:.1} s, interrupted (task, how, step, s) \
         {interrupted_at:?}, \
         array and merge ended at {cluster_s:.1} s; {} points compared: {missing} missing, \
         {extra} extra, {differ} different",
        expected.len()
    );
    assert_eq!((missing, extra, differ), (0, 0, 0));

    // `slurm status` reads every task as done; merging again changes nothing.
    let status = run_json(&["--db", db_arg, "slurm", "status", "quickstart", "--json"]);
    let tasks = status["tasks"].as_array().unwrap();
    assert!(tasks.iter().all(|t| t["state"] == "done"), "{status}");
    let again = run_json(&["--db", db_arg, "merge", "quickstart", "--json"]);
    let changed: u64 = again["shards"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["runs_added"].as_u64().unwrap() + s["runs_updated"].as_u64().unwrap())
        .sum();
    assert_eq!(changed, 0);
    assert_eq!(points(&db, "quickstart"), expected);
}
