//! End to end: the stability-fix catalogue through the binary — parameters listed by group,
//! averaged-generator metrics recorded by a sweep, the `wgan` plugin, and fix settings that
//! cannot work refused with the parameter named.

use crate::common::*;

#[test]
fn plugins_list_parameters_under_their_groups() {
    let (code, text, stderr) = run(&["plugins", "--plugin", "gan"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(text.starts_with("gan 0.1.0 — built-in"), "{text}");
    assert!(!text.contains("wgan-gp"), "only gan is listed: {text}");
    let headings: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("  ") && !l.starts_with("   ") && l.ends_with(':'))
        .collect();
    assert_eq!(
        headings,
        [
            "  model:",
            "  optimization:",
            "  loss:",
            "  regularization:",
            "  mode collapse:",
            "  averaging:",
            "  augmentation:",
        ],
        "{text}"
    );
    // A fix is listed under its group with its paper.
    let r1 = text
        .lines()
        .find(|l| l.trim_start().starts_with("r1_gamma"))
        .unwrap();
    assert!(
        r1.starts_with("    r1_gamma") && r1.contains("Mescheder et al. 2018"),
        "{r1}"
    );

    let listing = run_json(&["plugins", "--json", "--plugin", "gan"]);
    let params = listing["plugins"][0]["params"].as_array().unwrap();
    let group_of = |name: &str| {
        params.iter().find(|p| p["name"] == name).unwrap()["group"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(group_of("pac"), "mode collapse");
    assert_eq!(group_of("loss"), "loss");
    assert_eq!(group_of("ema_decay"), "averaging");

    let (code, _, stderr) = run(&["plugins", "--plugin", "ganz"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("unknown plugin `ganz`"), "{stderr}");
}

#[test]
fn a_sweep_records_the_averaged_generators_metrics_beside_the_raw_ones() {
    let dir = tempfile::tempdir().unwrap();
    let sweep = dir.path().join("ema.ron");
    std::fs::write(
        &sweep,
        r#"Sweep(
    name: "ema",
    data: "ring8",
    steps: 30,
    eval_every: 15,
    eval_samples: 200,
    seeds: 1,
    base: {"batch_size": 32, "hidden": 16},
    variants: [(plugin: "gan", label: "plain"), (plugin: "gan", label: "EMA", params: {"ema_decay": 0.9})],
)"#,
    )
    .unwrap();
    let db = dir.path().join("db.sqlite");
    let (code, _, stderr) = run_sweep(&sweep, &db, &[]);
    assert_eq!(code, 0, "{stderr}");
    let conn = rusqlite::Connection::open(&db).unwrap();
    let points = |label: &str, metric: &str| -> Vec<(i64, f64)> {
        conn.prepare(
            "SELECT m.step, m.value FROM metrics m JOIN metric_keys k ON k.id = m.key_id
             JOIN runs r ON r.id = m.run_id WHERE r.label = ?1 AND k.name = ?2 ORDER BY m.step",
        )
        .unwrap()
        .query_map([label, metric], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
    };
    for metric in ["modes", "high_quality", "reverse_kl"] {
        let raw = points("EMA", metric);
        let averaged = points("EMA", &format!("{metric}_ema"));
        let steps = |p: &[(i64, f64)]| p.iter().map(|x| x.0).collect::<Vec<_>>();
        assert_eq!(steps(&raw), [15, 30], "{metric}");
        assert_eq!(steps(&averaged), [15, 30], "{metric}_ema");
        assert!(averaged.iter().all(|(_, v)| v.is_finite()), "{averaged:?}");
        // The plain GAN keeps no average.
        assert!(points("plain", &format!("{metric}_ema")).is_empty());
    }
    // Averaging changes only what is evaluated: the raw metrics equal the plain run's.
    assert_eq!(points("EMA", "loss_d"), points("plain", "loss_d"));
}

#[test]
fn the_original_wgan_trains_with_its_papers_defaults() {
    let v = run_json(&[
        "train",
        "--plugin",
        "wgan",
        "--data",
        "ring8",
        "--steps",
        "5",
        "--set",
        "hidden=16",
        "--json",
    ]);
    assert_eq!(v["status"], "finished", "{v}");
    let names: Vec<&str> = v["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m[0].as_str().unwrap())
        .collect();
    assert!(names.contains(&"wasserstein"), "{names:?}");
}

#[test]
fn fix_settings_that_cannot_work_are_refused_naming_the_parameter() {
    // Out of range: refused before training, exit status 2.
    let (code, _, stderr) = run(&["train", "--plugin", "gan", "--set", "pac=9"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("`pac` must be an integer in [1, 8]"),
        "{stderr}"
    );
    // Settings that contradict each other or the data: refused when the trainer is built, with
    // the parameter and the way out in the message.
    for (set, names) in [
        ("label_smoothing=0.1 loss=hinge", "label_smoothing"),
        ("diffaugment=cutout", "diffaugment"),
        ("lr_schedule=cosine", "lr_decay_steps"),
    ] {
        let mut args = vec![
            "train", "--plugin", "gan", "--data", "ring8", "--steps", "1",
        ];
        for kv in set.split(' ') {
            args.extend(["--set", kv]);
        }
        let (code, stdout, stderr) = run(&args);
        assert_ne!(code, 0, "{set}: {stdout}");
        assert!(stderr.contains(names), "{set}: {stderr}");
    }
}

#[test]
fn the_fix_sweeps_validate_and_compare_every_fix() {
    let registry = builtin_registry();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments");
    let mut used = std::collections::BTreeSet::new();
    for (file, trials) in [
        ("fixes-ring8.ron", 22 * 5),
        ("fixes-grid25.ron", 22 * 5),
        ("fixes-mnist.ron", 10 * 5),
    ] {
        let sweep = ganbench_spec::Sweep::load(dir.join(file)).unwrap();
        let expanded = sweep
            .expand(&registry)
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(expanded.len(), trials, "{file}");
        for variant in &sweep.variants {
            used.extend(variant.params.keys().cloned());
        }
    }
    // Every fix parameter of the GAN plugins is set by some variant (its settings' parameters
    // may keep their published defaults), and the wgan plugin runs.
    let gan = registry.find("gan").unwrap();
    let switches = gan
        .params
        .iter()
        // The model's own options (MLP widths, maxout, batch norm, init) are not fixes.
        .filter(|p| p.keyless_default && p.group != ganbench_sdk::fixes::group::MODEL)
        .map(|p| p.name.as_str())
        .filter(|n| !["sgd_momentum", "rmsprop_alpha", "dragan_c", "ema_start"].contains(n));
    let missing: Vec<&str> = switches.filter(|n| !used.contains(*n)).collect();
    assert!(missing.is_empty(), "no variant sets {missing:?}");
}
