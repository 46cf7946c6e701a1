//! End to end: `ganbench run` — sweeps finish, survive kill -9 and Ctrl-C without losing or
//! duplicating anything, refuse malformed files without touching the database, share a database
//! between processes, and record crashing and diverging trials.

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;
use ganbench_store::{Status, Store};

/// [`tiny_sweep`]'s variants plus the stability fixes of docs/fixes.md that apply to toy data
/// (each in at least one trial; they combine), the `wgan` plugin and PacGAN's 2D networks (small).
fn fixes_sweep(dir: &Path, name: &str, steps: u64) -> PathBuf {
    let path = dir.join(format!("{name}.ron"));
    std::fs::write(
        &path,
        format!(
            r#"Sweep(
    name: "{name}",
    data: "ring8",
    steps: {steps},
    eval_every: 20,
    eval_samples: 200,
    checkpoint_every: 3,
    seeds: 2,
    base: {{"batch_size": 32, "hidden": 16}},
    variants: [
        (plugin: "gan"),
        (plugin: "vae"),
        (plugin: "gan", label: "optimization", params: {{"optimizer": "sgd", "sgd_momentum": 0.9,
            "sgd_nesterov": true, "lr_g": 0.02, "lr_d": 0.02, "clip_grad_norm_d": 1.0,
            "clip_grad_norm_g": 1.0, "lr_schedule": "cosine", "lr_warmup_steps": 5,
            "lr_decay_steps": {steps}, "label_smoothing": 0.1, "ema_decay": 0.9}}),
        (plugin: "gan", label: "regularization", params: {{"optimizer": "rmsprop", "loss": "hinge",
            "r1_gamma": 10.0, "lazy_interval": 4, "r2_gamma": 1.0, "dragan_lambda": 10.0,
            "instance_noise": 0.1, "instance_noise_steps": {steps}, "pac": 2, "minibatch_std": 4}}),
        (plugin: "gan", label: "linear lr, late EMA", params: {{"lr_schedule": "linear",
            "lr_decay_steps": {steps}, "ema_decay": 0.99, "ema_start": 10}}),
        (plugin: "wgan"),
        (plugin: "gan", label: "PacGAN 2D networks", params: {{"latent_dim": 2, "g_hidden": 32,
            "g_layers": 3, "g_batch_norm": true, "d_hidden": 16, "d_layers": 2,
            "d_activation": "maxout", "maxout_pieces": 3, "init_std": 0.02, "pac": 2}}),
    ],
)"#
        ),
    )
    .unwrap();
    path
}

fn spawn_sweep(sweep: &Path, db: &Path) -> Child {
    ganbench()
        .args([
            "run",
            sweep.to_str().unwrap(),
            "--db",
            db.to_str().unwrap(),
            "--no-report",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Metric points logged so far (0 while the database does not exist yet).
fn progress(db: &Path) -> usize {
    let Ok(store) = Store::open(db) else { return 0 };
    let Ok(Some(s)) = store.find_sweep("crash", None) else {
        return 0;
    };
    store
        .export_rows(s.id)
        .map(|rows| rows.count())
        .unwrap_or(0)
}

#[test]
fn a_sweep_finishes_with_every_metric_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let (sweep, db) = (
        tiny_sweep(dir.path(), "tiny", 40),
        dir.path().join("db.sqlite"),
    );
    let (code, stdout, stderr) = run_sweep(&sweep, &db, &["--json"]);
    assert_eq!(code, 0, "{stderr}");
    let summary: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(summary["finished"], 4, "{summary}");

    let runs = statuses(&db, "tiny");
    assert_eq!(runs.len(), 4);
    assert!(
        runs.iter()
            .all(|(_, s, step)| *s == Status::Finished && *step == 40),
        "{runs:?}"
    );
    let pts = points(&db, "tiny");
    for (key, _, _) in &runs {
        let steps = |m: &str| {
            pts.keys()
                .filter(|(k, metric, _)| k == key && metric == m)
                .count()
        };
        let loss = if key.starts_with("gan") {
            "loss_d"
        } else {
            "loss"
        };
        assert_eq!(steps(loss), 40, "{key}: one {loss} per step");
        assert_eq!(
            steps("reverse_kl"),
            2,
            "{key}: evaluations at steps 20 and 40"
        );
    }
    // Finished trials keep no checkpoints; their samples stay for the report.
    let runs_dir = dir.path().join("db.runs");
    let leftover: Vec<_> = walk(&runs_dir)
        .into_iter()
        .filter(|p| p.to_string_lossy().contains("checkpoints/"))
        .collect();
    assert!(leftover.is_empty(), "{leftover:?}");
    assert!(walk(&runs_dir)
        .iter()
        .any(|p| p.extension().is_some_and(|e| e == "npy")));

    // Running it again skips everything and logs nothing new.
    let (code, stdout, _) = run_sweep(&sweep, &db, &["--json"]);
    assert_eq!(code, 0);
    let again: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        (again["skipped"].as_u64(), again["finished"].as_u64()),
        (Some(4), Some(0))
    );
    assert_eq!(points(&db, "tiny"), pts);
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[test]
fn kill_9_at_any_point_then_resume_equals_an_uninterrupted_sweep() {
    let dir = tempfile::tempdir().unwrap();
    let steps = 60;
    let clean_db = dir.path().join("clean.sqlite");
    let sweep = fixes_sweep(dir.path(), "crash", steps);
    assert_eq!(run_sweep(&sweep, &clean_db, &[]).0, 0);
    let expected = points(&clean_db, "crash");

    let db = dir.path().join("killed.sqlite");
    // Kill at growing amounts of progress: inside the first trial (often inside a checkpoint,
    // written every 3 steps), near trial boundaries, and late.
    let total = expected.len();
    let mut killed = 0;
    for fraction in [0.05, 0.2, 0.26, 0.45, 0.5, 0.74, 0.9] {
        let mut child = spawn_sweep(&sweep, &db);
        let target = (total as f64 * fraction) as usize;
        let deadline = Instant::now() + Duration::from_secs(120);
        while progress(&db) < target && Instant::now() < deadline {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL
            killed += 1;
        }
        child.wait().unwrap();
    }
    assert!(
        killed >= 3,
        "the sweep should have been killed mid-way several times, was {killed}"
    );

    let (code, _, stderr) = run_sweep(&sweep, &db, &[]);
    assert_eq!(code, 0, "{stderr}");
    let runs = statuses(&db, "crash");
    assert!(
        runs.iter()
            .all(|(_, s, step)| *s == Status::Finished && *step == steps),
        "{runs:?}"
    );
    let got = points(&db, "crash");
    let missing: Vec<_> = expected
        .keys()
        .filter(|k| !got.contains_key(k))
        .take(5)
        .collect();
    let extra: Vec<_> = got
        .keys()
        .filter(|k| !expected.contains_key(k))
        .take(5)
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing {missing:?}, extra {extra:?}"
    );
    let differ: Vec<_> = expected
        .iter()
        .filter(|(k, v)| got[*k] != **v)
        .map(|(k, _)| k)
        .take(5)
        .collect();
    assert!(
        differ.is_empty(),
        "resumed values differ from the uninterrupted run: {differ:?}"
    );

    let store = Store::open(&db).unwrap();
    assert!(store.integrity_check().unwrap().is_empty());
}

#[test]
fn ctrl_c_checkpoints_marks_interrupted_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let sweep = tiny_sweep(dir.path(), "crash", 400);
    let db = dir.path().join("db.sqlite");
    let child = ganbench()
        .args([
            "run",
            sweep.to_str().unwrap(),
            "--db",
            db.to_str().unwrap(),
            "--no-report",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while progress(&db) < 100 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let (code, _, stderr) = split(child.wait_with_output().unwrap());
    assert_eq!(code, 130, "{stderr}");
    assert!(
        stderr.contains("run the same command again to resume"),
        "{stderr}"
    );
    let runs = statuses(&db, "crash");
    assert!(
        runs.iter().any(|(_, s, _)| *s == Status::Interrupted),
        "{runs:?}"
    );
    assert!(
        runs.iter().all(|(_, s, _)| *s != Status::Running),
        "{runs:?}"
    );

    let (code, _, stderr) = run_sweep(&sweep, &db, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(statuses(&db, "crash")
        .iter()
        .all(|(_, s, step)| *s == Status::Finished && *step == 400));
}

#[test]
fn malformed_sweeps_exit_2_with_a_position_and_leave_the_database_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db.sqlite");
    assert_eq!(run_sweep(&tiny_sweep(dir.path(), "tiny", 5), &db, &[]).0, 0);
    let before = std::fs::read(&db).unwrap();

    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/spec/tests/malformed");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&corpus)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 10, "the corpus is in {}", corpus.display());
    for file in files
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "ron"))
    {
        let (code, _, stderr) = run_sweep(file, &db, &[]);
        assert_eq!(code, 2, "{}: {stderr}", file.display());
        let located = format!("{}:", file.display());
        assert!(
            stderr.contains(&located),
            "{}: no file:line:col in {stderr}",
            file.display()
        );
        let after_path = &stderr[stderr.find(&located).unwrap() + located.len()..];
        let mut parts = after_path.splitn(3, ':');
        let (line, col) = (parts.next().unwrap(), parts.next().unwrap_or(""));
        assert!(
            line.parse::<u32>().is_ok() && col.parse::<u32>().is_ok(),
            "{}: {stderr}",
            file.display()
        );
    }
    assert_eq!(std::fs::read(&db).unwrap(), before, "the database changed");
}

#[test]
fn two_processes_on_one_database_both_finish() {
    let dir = tempfile::tempdir().unwrap();
    let (sweep, db) = (
        tiny_sweep(dir.path(), "tiny", 60),
        dir.path().join("db.sqlite"),
    );
    let a = spawn_sweep(&sweep, &db);
    let b = spawn_sweep(&sweep, &db);
    for child in [a, b] {
        let (code, _, stderr) = split(child.wait_with_output().unwrap());
        assert_eq!(code, 0, "{stderr}");
    }
    // Whatever one process left to the other is finished by a third run, and never twice.
    assert_eq!(run_sweep(&sweep, &db, &[]).0, 0);
    let runs = statuses(&db, "tiny");
    assert_eq!(runs.len(), 4);
    assert!(
        runs.iter()
            .all(|(_, s, step)| *s == Status::Finished && *step == 60),
        "{runs:?}"
    );
    points(&db, "tiny"); // asserts no (trial, metric, step) twice
    assert!(Store::open(&db)
        .unwrap()
        .integrity_check()
        .unwrap()
        .is_empty());
}

#[test]
fn a_crashing_trial_fails_a_diverging_one_diverges_and_the_rest_finish() {
    let dir = tempfile::tempdir().unwrap();
    let sweep = mixed_sweep(dir.path(), 7);
    let db = dir.path().join("db.sqlite");
    let (code, _, stderr) = run_sweep(&sweep, &db, &["--jobs", "2"]);
    assert_eq!(code, 0, "{stderr}");
    let store = Store::open(&db).unwrap();
    let s = store.find_sweep("mixed", None).unwrap().unwrap();
    let runs = store.runs(s.id).unwrap();
    let by_label = |l: &str| runs.iter().find(|r| r.label == l).unwrap();
    let aborted = by_label("aborts");
    assert_eq!(aborted.status, Status::Failed);
    let error = aborted.error.as_deref().unwrap();
    assert!(
        error.contains("without reporting an outcome") && error.contains("aborting at step 5"),
        "{error}"
    );
    let nan = by_label("nan");
    assert_eq!((nan.status, nan.step), (Status::Diverged, 7));
    assert!(
        nan.error
            .as_deref()
            .unwrap()
            .contains("loss became NaN at step 7"),
        "{:?}",
        nan.error
    );
    assert_eq!(by_label("gan").status, Status::Finished);
}

#[test]
fn a_changed_spec_under_the_same_name_needs_new_version() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db.sqlite");
    assert_eq!(run_sweep(&tiny_sweep(dir.path(), "tiny", 5), &db, &[]).0, 0);
    let changed = tiny_sweep(dir.path(), "tiny", 6);
    let (code, _, stderr) = run_sweep(&changed, &db, &[]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--new-version"), "{stderr}");
    let (code, _, stderr) = run_sweep(&changed, &db, &["--new-version"]);
    assert_eq!(code, 0, "{stderr}");
    let store = Store::open(&db).unwrap();
    assert_eq!(store.find_sweep("tiny", None).unwrap().unwrap().version, 2);
}

#[test]
#[ignore = "slow tier: trains the README's quickstart, 12 trials (a minute or more); CI runs it"]
fn the_quickstart_sweep_finishes_every_trial() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db.sqlite");
    let quickstart = Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments/quickstart.ron");
    let (code, _, stderr) = run_sweep(&quickstart, &db, &["--jobs", "2"]);
    assert_eq!(code, 0, "{stderr}");
    let runs = statuses(&db, "quickstart");
    assert_eq!(runs.len(), 12, "4 variants × 3 seeds");
    assert!(
        runs.iter().all(|(_, s, _)| *s == Status::Finished),
        "{runs:?}"
    );
    let pts = points(&db, "quickstart");
    for (key, _, step) in &runs {
        for metric in ["modes", "high_quality", "reverse_kl"] {
            assert!(
                pts.contains_key(&(key.clone(), metric.to_string(), *step)),
                "{key}: no final {metric}"
            );
        }
    }
}

#[test]
fn ls_show_and_export_agree_with_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let (sweep, db) = (
        tiny_sweep(dir.path(), "tiny", 20),
        dir.path().join("db.sqlite"),
    );
    assert_eq!(run_sweep(&sweep, &db, &[]).0, 0);
    let db_arg = db.to_str().unwrap();

    let sweeps = run_json(&["ls", "--json", "--db", db_arg]);
    assert_eq!(sweeps[0]["name"], "tiny");
    assert_eq!(sweeps[0]["runs"]["finished"], 4);
    let runs = run_json(&["ls", "tiny", "--json", "--db", db_arg]);
    assert_eq!(runs.as_array().unwrap().len(), 4);

    let id = runs[0]["id"].as_i64().unwrap().to_string();
    let shown = run_json(&["show", &id, "--json", "--db", db_arg]);
    assert_eq!(shown["run"]["status"], "finished");
    assert_eq!(shown["params"]["hidden"], 16);
    let finals = shown["final_metrics"].as_array().unwrap();
    assert!(
        finals.iter().any(|m| m[0] == "modes" && m[1] == 20),
        "{shown}"
    );
    assert!(
        shown["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "finished"),
        "{shown}"
    );

    let expected = points(&db, "tiny").len() + 4; // + one ms_per_step per run
    let (code, csv, _) = run(&["export", "tiny", "--format", "csv", "--db", db_arg]);
    assert_eq!(code, 0);
    assert_eq!(
        csv.lines().count(),
        expected + 1,
        "header + one line per point"
    );
    assert!(csv.starts_with(
        "sweep,sweep_version,run_id,trial_key,plugin,label,seed,metric,step,value,wall_ms,configuration\n"
    ));
    let out = dir.path().join("tiny.jsonl");
    let (code, _, _) = run(&[
        "export",
        "tiny",
        "--format",
        "jsonl",
        "--out",
        out.to_str().unwrap(),
        "--db",
        db_arg,
    ]);
    assert_eq!(code, 0);
    let text = std::fs::read_to_string(&out).unwrap();
    assert_eq!(text.lines().count(), expected);
    let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(first["sweep"], "tiny");

    let (code, _, stderr) = run(&["show", "999", "--db", db_arg]);
    assert_eq!(code, 2, "{stderr}");
    let (code, _, stderr) = run(&[
        "ls",
        "--db",
        dir.path().join("missing.sqlite").to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
    assert!(stderr.contains("no database at"), "{stderr}");
}
