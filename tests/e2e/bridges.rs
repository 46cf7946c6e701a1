//! `export --format tensorboard` and `--format mlflow`, read back with TensorBoard's and MLflow's
//! own Python packages (tests/fixtures/viewers/read_back.py, pinned in requirements.txt beside it,
//! installed into a virtual environment under the build folder on first use). Slow tier: the
//! install takes ~20 s. Without Python or the package index the test says so and passes, except
//! under CI=true, where it must run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::common::{mixed_sweep, run, run_sweep};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/viewers")
        .join(name)
}

/// The Python of a virtual environment with the viewers' packages, or `None` (with a message)
/// when it cannot be made outside CI.
fn viewers_python() -> Option<PathBuf> {
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("viewers-venv");
    let python = venv.join("bin/python");
    let ready = || {
        Command::new(&python)
            .args(["-c", "import tensorboard, mlflow"])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if ready() {
        return Some(python);
    }
    let steps: [Vec<String>; 2] = [
        vec![
            "python3".into(),
            "-m".into(),
            "venv".into(),
            venv.display().to_string(),
        ],
        vec![
            python.display().to_string(),
            "-m".into(),
            "pip".into(),
            "install".into(),
            "--quiet".into(),
            "-r".into(),
            fixture("requirements.txt").display().to_string(),
        ],
    ];
    for step in steps {
        let out = Command::new(&step[0]).args(&step[1..]).output();
        let problem = match out {
            Ok(o) if o.status.success() => continue,
            Ok(o) => String::from_utf8_lossy(&o.stderr).into_owned(),
            Err(e) => e.to_string(),
        };
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must read the exports back, but `{}` failed: {problem}",
            step.join(" ")
        );
        eprintln!(
            "skipped: the viewers' Python packages could not be installed ({}): {problem}",
            step.join(" ")
        );
        return None;
    }
    assert!(ready(), "installed, yet `import tensorboard, mlflow` fails");
    Some(python)
}

fn read_back(python: &Path, kind: &str, dir: &Path) -> Value {
    let out = Command::new(python)
        .arg(fixture("read_back.py"))
        .args([kind, dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A value as the exports and read_back.py write it: a number, or "nan"/"NaN", "inf"…
fn value(v: &Value) -> f64 {
    match v {
        Value::Number(n) => n.as_f64().unwrap(),
        Value::String(s) => s.to_lowercase().parse().unwrap(),
        other => panic!("not a value: {other}"),
    }
}

fn same(a: f64, b: f64) -> bool {
    a == b || (a.is_nan() && b.is_nan())
}

/// Checks a viewer's series of one run (`{metric: [[step, value]…]}`) against ganbench's points,
/// each value as the viewer stores it (`stored`); returns how many points it holds.
fn check_points(
    series: &Value,
    run: i64,
    points: &BTreeMap<(i64, String, u64), f64>,
    stored: impl Fn(f64) -> f64,
    what: &str,
) -> usize {
    let mut seen = 0;
    for (metric, series) in series.as_object().unwrap() {
        for point in series.as_array().unwrap() {
            let step = point[0].as_u64().unwrap();
            let want = points[&(run, metric.clone(), step)];
            assert!(
                same(value(&point[1]), stored(want)),
                "{what} {metric} {step}: {} against {want}",
                point[1]
            );
            seen += 1;
        }
    }
    seen
}

/// JSON values equal as numbers (TensorBoard keeps every number as a double) or as they are.
fn same_json(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

/// The run id in a TensorBoard folder name (`mixed_1-run3-…`) or an MLflow run name (`run 3: …`).
fn run_id(name: &str) -> i64 {
    let start = name.find("run").unwrap() + 3;
    let digits: String = name[start..]
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().unwrap()
}

#[test]
#[ignore = "slow tier: installs TensorBoard and MLflow into a virtual environment"]
fn tensorboard_and_mlflow_read_back_every_point_parameter_and_status() {
    let Some(python) = viewers_python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("ganbench.sqlite");
    let sweep = mixed_sweep(dir.path(), 12);
    run_sweep(&sweep, &db, &[]);
    let db_arg = db.to_str().unwrap();
    let ganbench = |args: &[&str]| {
        let mut all = vec!["--db", db_arg];
        all.extend_from_slice(args);
        let (code, stdout, stderr) = run(&all);
        assert_eq!(code, 0, "{args:?}: {stderr}");
        stdout
    };
    let runs: Value = serde_json::from_str(&ganbench(&["ls", "mixed", "--json"])).unwrap();
    let runs: BTreeMap<i64, &Value> = runs
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["id"].as_i64().unwrap(), r))
        .collect();
    let statuses: Vec<&str> = runs
        .values()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["failed", "diverged", "finished"]);
    let noted = *runs.keys().last().unwrap();
    ganbench(&["tag", &noted.to_string(), "good"]);
    ganbench(&["note", &noted.to_string(), "the one that finished"]);

    // Every point ganbench has, as (run, metric, step) → value.
    let mut points: BTreeMap<(i64, String, u64), f64> = BTreeMap::new();
    for line in ganbench(&["export", "mixed", "--format", "jsonl"]).lines() {
        let p: Value = serde_json::from_str(line).unwrap();
        let key = (
            p["run_id"].as_i64().unwrap(),
            p["metric"].as_str().unwrap().to_string(),
            p["step"].as_u64().unwrap(),
        );
        assert!(points.insert(key, value(&p["value"])).is_none());
    }
    assert!(
        points.values().any(|v| v.is_nan()),
        "the diverged run logged a NaN"
    );

    let tb = dir.path().join("tb");
    let ml = dir.path().join("ml");
    let export_both = || {
        for (format, out) in [("tensorboard", &tb), ("mlflow", &ml)] {
            ganbench(&[
                "export",
                "mixed",
                "--format",
                format,
                "--out",
                out.to_str().unwrap(),
            ]);
        }
    };
    export_both();
    let tb_read = read_back(&python, "tensorboard", &tb);
    let ml_read = read_back(&python, "mlflow", &ml);

    // TensorBoard: every point once, as the f32 TensorBoard stores; parameters and outcome.
    let mut seen = 0;
    assert_eq!(tb_read.as_object().unwrap().len(), runs.len());
    for (folder, read) in tb_read.as_object().unwrap() {
        let id = run_id(folder);
        let run = runs[&id];
        seen += check_points(
            &read["scalars"],
            id,
            &points,
            |x| f64::from(x as f32),
            folder,
        );
        let params: Value = serde_json::from_str(run["params_json"].as_str().unwrap()).unwrap();
        for (name, want) in params.as_object().unwrap() {
            assert!(
                same_json(&read["hparams"][name], want),
                "{folder} hparam {name}"
            );
        }
        assert!(same_json(&read["hparams"]["seed"], &run["seed"]));
        assert_eq!(read["group"], run["configuration"]);
        let status = match run["status"].as_str().unwrap() {
            "finished" => "STATUS_SUCCESS",
            _ => "STATUS_FAILURE",
        };
        assert_eq!(read["status"], status, "{folder}");
    }
    assert_eq!(seen, points.len(), "every point once, none missing");

    // MLflow: every point once, exactly; parameters as text; status, tags and notes.
    let experiment = ml_read["mixed@1"].as_object().unwrap();
    assert_eq!(experiment.len(), runs.len());
    let mut seen = 0;
    for (name, read) in experiment {
        let id = run_id(name);
        let run = runs[&id];
        seen += check_points(&read["metrics"], id, &points, |x| x, name);
        let params: Value = serde_json::from_str(run["params_json"].as_str().unwrap()).unwrap();
        for (param, want) in params.as_object().unwrap() {
            let text = match want {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            assert_eq!(read["params"][param], text.as_str(), "{name} param {param}");
        }
        let status = match run["status"].as_str().unwrap() {
            "finished" => "FINISHED",
            _ => "FAILED",
        };
        assert_eq!(read["status"], status, "{name}");
        assert_eq!(read["tags"]["ganbench.status"], run["status"]);
        if id == noted {
            assert_eq!(read["tags"]["ganbench.tags"], "good");
            assert_eq!(read["tags"]["mlflow.note.content"], "the one that finished");
        }
    }
    assert_eq!(seen, points.len(), "every point once, none missing");

    // Exporting again replaces what the first export wrote: the same read-back, nothing doubled.
    export_both();
    assert_eq!(read_back(&python, "tensorboard", &tb), tb_read);
    assert_eq!(read_back(&python, "mlflow", &ml), ml_read);
}

#[test]
fn viewer_formats_need_a_folder_and_no_wide() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("ganbench.sqlite");
    let sweep = dir.path().join("tiny.ron");
    std::fs::write(
        &sweep,
        r#"Sweep(name: "tiny", data: "ring8", steps: 2, eval_every: 2, eval_samples: 50, seeds: 1,
    base: {"batch_size": 8, "hidden": 4}, variants: [(plugin: "gan")])"#,
    )
    .unwrap();
    assert_eq!(run_sweep(&sweep, &db, &[]).0, 0);
    let db = db.to_str().unwrap();
    for args in [
        vec!["--db", db, "export", "tiny", "--format", "tensorboard"],
        vec![
            "--db", db, "export", "tiny", "--format", "mlflow", "--wide", "--out", "x",
        ],
    ] {
        let (code, _, stderr) = run(&args);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(
            stderr.contains("--out") || stderr.contains("--wide"),
            "{stderr}"
        );
    }
    let blocked = dir.path().join("a-file");
    std::fs::write(&blocked, "").unwrap();
    let (code, _, stderr) = run(&[
        "--db",
        db,
        "export",
        "tiny",
        "--format",
        "mlflow",
        "--out",
        blocked.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("cannot write"), "{stderr}");
}
