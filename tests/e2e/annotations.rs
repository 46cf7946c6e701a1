//! Tags, notes, archiving and deleting, and `ls --where/--sort`, through the binary.

use std::path::{Path, PathBuf};

use crate::common::{run, run_sweep};

/// Two sweeps on one database: `grid` (gan and wgan-gp × lr_d ∈ {1e-4, 5e-4} × 2 seeds) and
/// `other` (gan × 2 seeds).
fn two_sweeps(dir: &Path) -> PathBuf {
    let db = dir.join("ganbench.sqlite");
    for (name, body) in [
        (
            "grid",
            r#"variants: [(plugin: "gan"), (plugin: "wgan-gp", label: "WGAN-GP")],
    grid: {"lr_d": [1e-4, 5e-4]}"#,
        ),
        ("other", r#"variants: [(plugin: "gan")]"#),
    ] {
        let sweep = dir.join(format!("{name}.ron"));
        std::fs::write(
            &sweep,
            format!(
                r#"Sweep(name: "{name}", data: "ring8", steps: 4, eval_every: 2, eval_samples: 50,
    seeds: 2, base: {{"batch_size": 8, "hidden": 4}}, {body})"#
            ),
        )
        .unwrap();
        let (code, _, stderr) = run_sweep(&sweep, &db, &[]);
        assert_eq!(code, 0, "{stderr}");
    }
    db
}

/// `ganbench --db DB ARGS… --json` parsed.
fn json(db: &Path, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["--db", db.to_str().unwrap()];
    all.extend_from_slice(args);
    all.push("--json");
    let (code, stdout, stderr) = run(&all);
    assert_eq!(code, 0, "{args:?}: {stderr}");
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{args:?}: {e}\n{stdout}"))
}

fn with_db<'a>(db: &'a Path, args: &[&'a str]) -> (i32, String, String) {
    let mut all = vec!["--db", db.to_str().unwrap()];
    all.extend_from_slice(args);
    run(&all)
}

fn ids(rows: &serde_json::Value) -> Vec<i64> {
    rows.as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect()
}

#[test]
fn where_selects_the_runs_a_hand_filter_selects_and_sort_orders_them() {
    let dir = tempfile::tempdir().unwrap();
    let db = two_sweeps(dir.path());
    let grid = json(&db, &["ls", "grid"]);
    let other = json(&db, &["ls", "other"]);
    let lr_d = |r: &serde_json::Value| -> f64 {
        serde_json::from_str::<serde_json::Value>(r["params_json"].as_str().unwrap()).unwrap()
            ["lr_d"]
            .as_f64()
            .unwrap()
    };
    // The same filter by hand, over both sweeps' runs.
    let everything: Vec<&serde_json::Value> = grid
        .as_array()
        .unwrap()
        .iter()
        .chain(other.as_array().unwrap())
        .collect();
    let expected: Vec<i64> = everything
        .iter()
        .filter(|r| lr_d(r) < 3e-4 && r["plugin"] == "wgan-gp")
        .map(|r| r["id"].as_i64().unwrap())
        .collect();
    assert_eq!(expected.len(), 2);
    let found = json(
        &db,
        &[
            "ls",
            "--where",
            "lr_d < 3e-4 and plugin = wgan-gp and status = finished",
        ],
    );
    assert_eq!(ids(&found), expected);

    // or, not, parentheses; a sweep named narrows the search to it.
    let found = json(
        &db,
        &["ls", "grid", "--where", "not (plugin = gan or lr_d > 3e-4)"],
    );
    assert_eq!(ids(&found), expected);
    let in_other = json(&db, &["ls", "--where", "sweep = other@1"]);
    assert_eq!(ids(&in_other), ids(&other));

    // --sort: by a parameter, then by seed descending with ties kept in id order.
    let sorted = json(&db, &["ls", "--sort", "seed", "--desc"]);
    let seeds: Vec<u64> = sorted
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["seed"].as_u64().unwrap())
        .collect();
    assert_eq!(seeds.len(), everything.len());
    assert!(seeds.windows(2).all(|w| w[0] >= w[1]), "{seeds:?}");
    let sorted = json(&db, &["ls", "grid", "--sort", "lr_d"]);
    let values: Vec<f64> = sorted.as_array().unwrap().iter().map(lr_d).collect();
    assert!(values.windows(2).all(|w| w[0] <= w[1]), "{values:?}");

    // A typo is an error that names it and lists the fields, not an empty list.
    let (code, _, stderr) = with_db(&db, &["ls", "--where", "lrd < 1"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("`lrd`") && stderr.contains("lr_d"),
        "{stderr}"
    );
    let (code, _, stderr) = with_db(&db, &["ls", "--where", "lr_d < 1 modes > 2"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("at character 10"), "{stderr}");
}

#[test]
fn tags_and_notes_reach_ls_show_and_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let db = two_sweeps(dir.path());
    let grid = ids(&json(&db, &["ls", "grid"]));
    let (first, second) = (grid[0].to_string(), grid[1].to_string());

    let (code, stdout, stderr) = with_db(&db, &["tag", &first, "good", "fig-2"]);
    assert_eq!((code, stdout.trim()), (0, "fig-2 good"), "{stderr}");
    assert_eq!(with_db(&db, &["tag", "other", "baseline"]).0, 0);
    assert_eq!(
        with_db(&db, &["note", &second, "collapsed to 3 modes"]).0,
        0
    );
    assert_eq!(with_db(&db, &["note", "grid", "the <b>baseline</b>"]).0, 0);
    // Bad tags and notes are refused, exit 2, and nothing is stored.
    for bad in [
        vec!["tag", &first, "two words"],
        vec!["note", &first, "bell\u{7}"],
        vec!["tag", "9999", "x"],
        vec!["tag", "no-such-sweep", "x"],
    ] {
        let (code, _, stderr) = with_db(&db, &bad);
        assert_eq!(code, 2, "{bad:?}: {stderr}");
    }

    // tag = … matches the run's tags and its sweep's.
    let good = json(&db, &["ls", "--where", "tag = good"]);
    assert_eq!(ids(&good), [grid[0]]);
    let baseline = json(&db, &["ls", "--where", "tag = baseline"]);
    assert_eq!(ids(&baseline), ids(&json(&db, &["ls", "other"])));
    assert_eq!(
        json(&db, &["ls", "grid"])[0]["tags"],
        serde_json::json!(["fig-2", "good"])
    );
    assert_eq!(
        json(&db, &["ls"])[1]["tags"],
        serde_json::json!(["baseline"])
    );

    let shown = json(&db, &["show", &second]);
    assert_eq!(shown["notes"][0]["text"], "collapsed to 3 modes");
    let shown = json(&db, &["show", &first]);
    assert_eq!(shown["tags"], serde_json::json!(["fig-2", "good"]));

    assert_eq!(
        with_db(&db, &["tag", &first, "fig-2", "--remove"]).1.trim(),
        "good"
    );

    let out = dir.path().join("report");
    let (code, _, stderr) = with_db(&db, &["report", "grid", "--out", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    let page = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert!(
        page.contains("the &lt;b&gt;baseline&lt;/b&gt;"),
        "sweep note, escaped"
    );
    assert!(page.contains("collapsed to 3 modes"), "run note");
    assert!(
        page.contains("Ranking on"),
        "every run ended: the ranking table is there"
    );
    assert!(page.contains(r#"<span class="tag">good</span>"#), "run tag");
}

#[test]
fn rm_asks_deletes_one_sweep_with_its_folder_and_archive_only_hides() {
    let dir = tempfile::tempdir().unwrap();
    let db = two_sweeps(dir.path());
    let folder = dir.path().join("ganbench.runs").join("grid-v1");
    assert!(folder.is_dir(), "the sweep wrote checkpoints there");
    let points = |sweep: &str| {
        let (code, stdout, stderr) = with_db(&db, &["export", sweep, "--format", "jsonl"]);
        assert_eq!(code, 0, "{stderr}");
        stdout.lines().count()
    };
    let other_points = points("other");
    assert!(other_points > 0);

    // archive hides, --all and --undo bring it back; nothing is lost.
    assert_eq!(with_db(&db, &["archive", "grid"]).0, 0);
    let names = |v: serde_json::Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names(json(&db, &["ls"])), ["other"]);
    assert_eq!(names(json(&db, &["ls", "--all"])), ["grid", "other"]);
    assert_eq!(
        ids(&json(&db, &["ls", "--where", "id > 0"])),
        ids(&json(&db, &["ls", "other"]))
    );
    assert_eq!(with_db(&db, &["archive", "grid", "--undo"]).0, 0);
    assert_eq!(names(json(&db, &["ls"])), ["grid", "other"]);

    // No terminal to ask on and no --yes: refused, nothing deleted.
    let (code, _, stderr) = with_db(&db, &["rm", "grid"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("--yes") && stderr.contains("8 run(s)"),
        "{stderr}"
    );
    assert!(folder.is_dir());
    assert_eq!(names(json(&db, &["ls"])), ["grid", "other"]);

    let (code, _, stderr) = with_db(&db, &["rm", "grid", "--yes"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("8 run(s)"), "{stderr}");
    assert!(!folder.exists(), "its folder is removed");
    assert!(dir.path().join("ganbench.runs").join("other-v1").is_dir());
    assert_eq!(names(json(&db, &["ls"])), ["other"]);
    assert_eq!(
        points("other"),
        other_points,
        "the other sweep is untouched"
    );
    let (code, _, stderr) = with_db(&db, &["rm", "grid", "--yes"]);
    assert_eq!(code, 2, "{stderr}");
}
