//! End to end: configurations are told apart everywhere (`ls`, `show`, `export`, `export
//! --wide`, the report), `run --confirm-best` trains the best configuration again on fresh seeds
//! and the verdict then measures it there, and a metric that cannot rank is refused with exit
//! status 2. One tiny grid sweep (two learning rates × two seeds, a few steps), trained once.

use std::path::{Path, PathBuf};

use crate::common::*;

const SPEC: &str = r#"Sweep(
    name: "grid",
    data: "ring8",
    steps: 12,
    eval_every: 6,
    eval_samples: 200,
    seeds: 2,
    base: {"batch_size": 32, "hidden": 8},
    variants: [(plugin: "gan", label: "GAN", grid: {"lr_d": [1.1e-4, 5.4e-4]})],
)"#;

fn sweep(dir: &Path) -> (PathBuf, PathBuf) {
    let spec = dir.join("grid.ron");
    std::fs::write(&spec, SPEC).unwrap();
    let db = dir.join("db.sqlite");
    let (code, _, stderr) = run_sweep(&spec, &db, &["--jobs", "2"]);
    assert_eq!(code, 0, "{stderr}");
    (spec, db)
}

#[test]
fn configurations_are_labelled_everywhere_and_confirmed_on_fresh_seeds() {
    let dir = tempfile::tempdir().unwrap();
    let (spec, db) = sweep(dir.path());
    let db_s = db.to_str().unwrap();
    let labels = ["GAN lr_d=1.1e-4", "GAN lr_d=5.4e-4"];

    // ls: the label column tells the two learning rates apart.
    let (code, stdout, stderr) = run(&["ls", "grid", "--db", db_s]);
    assert_eq!(code, 0, "{stderr}");
    for label in labels {
        assert_eq!(stdout.matches(label).count(), 2, "{label} in\n{stdout}");
    }
    let listed = run_json(&["ls", "grid", "--db", db_s, "--json"]);
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 4);
    assert!(listed.iter().all(|r| r["label"] == "GAN"));
    let first_id = listed[0]["id"].as_i64().unwrap();
    assert_eq!(listed[0]["configuration"], labels[0]);

    // show: the same label.
    let (code, stdout, _) = run(&["show", &first_id.to_string(), "--db", db_s]);
    assert_eq!(code, 0);
    assert!(
        stdout.starts_with(&format!("run {first_id} — {}", labels[0])),
        "{stdout}"
    );
    let shown = run_json(&["show", &first_id.to_string(), "--db", db_s, "--json"]);
    assert_eq!(shown["configuration"], labels[0]);

    // export: a configuration column in the long format …
    let (code, csv, _) = run(&["export", "grid", "--db", db_s]);
    assert_eq!(code, 0);
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = header.iter().position(|h| *h == "configuration").unwrap();
    assert!(lines.all(|l| labels.contains(&l.split(',').nth(col).unwrap())));
    // … and --wide: one row per run, every parameter and final metric as a column.
    let (code, wide, stderr) = run(&["export", "grid", "--db", db_s, "--wide"]);
    assert_eq!(code, 0, "{stderr}");
    let rows: Vec<Vec<&str>> = wide.lines().map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 1 + 4, "{wide}");
    let head = &rows[0];
    let at = |name: &str| {
        head.iter()
            .position(|h| *h == name)
            .unwrap_or_else(|| panic!("no column {name} in {head:?}"))
    };
    for name in [
        "run_id",
        "configuration",
        "seed",
        "status",
        "lr_d",
        "hidden",
        "batch_size",
    ] {
        at(name);
    }
    for m in [
        "final_modes",
        "final_high_quality",
        "final_reverse_kl",
        "final_loss_d",
    ] {
        at(m);
    }
    let (lr, modes, run_id) = (at("lr_d"), at("final_modes"), at("run_id"));
    let long: Vec<Vec<&str>> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    let metric_col = header.iter().position(|h| *h == "metric").unwrap();
    let (step_col, value_col) = (
        header.iter().position(|h| *h == "step").unwrap(),
        header.iter().position(|h| *h == "value").unwrap(),
    );
    for row in &rows[1..] {
        assert!(["0.00011", "0.00054"].contains(&row[lr]), "{row:?}");
        // The final value is the long export's value at the last step.
        let last = long
            .iter()
            .filter(|l| l[0] == "grid" && l[2] == row[run_id] && l[metric_col] == "modes")
            .max_by_key(|l| l[step_col].parse::<u64>().unwrap())
            .unwrap();
        let parse = |s: &str| s.parse::<f64>().unwrap();
        assert_eq!(parse(row[modes]), parse(last[value_col]));
    }
    let jsonl = run(&[
        "export", "grid", "--db", db_s, "--wide", "--format", "jsonl",
    ])
    .1;
    let first: serde_json::Value = serde_json::from_str(jsonl.lines().next().unwrap()).unwrap();
    assert!(
        first["lr_d"].is_f64() && first["final_modes"].is_f64(),
        "{first}"
    );

    // The verdict: chosen on seed 0, measured on seed 1.
    let out = dir.path().join("report");
    let report = run_json(&[
        "report",
        "grid",
        "--db",
        db_s,
        "--json",
        "--out",
        out.to_str().unwrap(),
    ]);
    let entry = &report["verdict"]["ranking"][0];
    assert_eq!(entry["selection"]["how"], "held_out", "{entry}");
    assert_eq!(entry["seeds"], serde_json::json!([1]));
    assert_eq!(report["configurations"].as_array().unwrap().len(), 2);

    // --confirm-best 1: the best configuration again on 2 fresh seeds (2 and 3).
    let (code, _, stderr) = run_sweep(
        &spec,
        &db,
        &["--jobs", "2", "--confirm-best", "1", "--confirm-seeds", "2"],
    );
    assert_eq!(code, 0, "{stderr}");
    let listed = run_json(&["ls", "grid", "--db", db_s, "--json"]);
    let fresh: Vec<&serde_json::Value> = listed
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["seed"].as_u64().unwrap() >= 2)
        .collect();
    assert_eq!(fresh.len(), 2, "{listed}");
    assert!(fresh.iter().all(|r| r["status"] == "finished"));
    assert_eq!(fresh[0]["configuration"], fresh[1]["configuration"]);
    let report = run_json(&[
        "report",
        "grid",
        "--db",
        db_s,
        "--json",
        "--out",
        out.to_str().unwrap(),
    ]);
    let entry = &report["verdict"]["ranking"][0];
    assert_eq!(entry["selection"]["how"], "confirmed", "{entry}");
    assert_eq!(entry["seeds"], serde_json::json!([2, 3]));
    assert_eq!(entry["label"], fresh[0]["configuration"]);
    // Again: nothing new to train.
    let (code, stdout, stderr) =
        run_sweep(&spec, &db, &["--confirm-best", "1", "--confirm-seeds", "2"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("0 finished"), "{stdout}");

    // A metric no run logged cannot rank: exit status 2, and the metrics there.
    let (code, _, stderr) = run(&[
        "report",
        "grid",
        "--db",
        db_s,
        "--metric",
        "loss_d",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("modes, high_quality, reverse_kl"),
        "{stderr}"
    );
}

#[test]
fn a_sweep_whose_primary_metric_does_not_fit_its_data_is_refused_before_training() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("bad.ron");
    std::fs::write(
        &spec,
        SPEC.replace("seeds: 2,", "seeds: 2,\n    primary: \"fid\","),
    )
    .unwrap();
    let db = dir.path().join("db.sqlite");
    let (code, _, stderr) = run_sweep(&spec, &db, &[]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("bad.ron:8:14: `primary`: `fid` is computed on image data only"),
        "{stderr}"
    );
    assert!(!db.exists(), "nothing recorded");
}
