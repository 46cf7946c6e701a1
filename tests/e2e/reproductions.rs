//! The reproduction sweeps of docs/reproductions.md stay valid as the code changes: each file
//! expands to the published protocol's trials, each budget file run for the tables is its
//! protocol file but for the budget, and the first steps of each train (the full runs are
//! documented experiments, not tests).

use std::path::{Path, PathBuf};

use ganbench_spec::Sweep;

use crate::common::*;

fn experiment(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("experiments")
        .join(format!("{name}.ron"))
}

/// The text of `file` with each `(from, to)` replaced; each `from` must occur.
fn rewritten(file: &Path, replacements: &[(&str, &str)]) -> String {
    let mut text = std::fs::read_to_string(file).unwrap();
    for (from, to) in replacements {
        assert!(
            text.contains(from),
            "{}: `{from}` not found",
            file.display()
        );
        text = text.replace(from, to);
    }
    text
}

/// Checks that every trial's parameter `key` is `want` (as JSON).
fn assert_params(name: &str, trials: &[ganbench_spec::Trial], expected: &[(&str, &str)]) {
    for trial in trials {
        for (key, want) in expected {
            let got = serde_json::to_string(&trial.params.get(key).unwrap()).unwrap();
            assert_eq!(got, *want, "{name} {}: {key}", trial.label);
        }
    }
}

#[test]
fn the_pacgan_2d_sweeps_hold_the_protocol_and_their_first_steps_train() {
    let registry = builtin_registry();
    let dir = tempfile::tempdir().unwrap();
    for name in ["pacgan-ring", "pacgan-grid"] {
        let file = experiment(name);
        let sweep = Sweep::load(&file).unwrap();
        let trials = sweep.expand(&registry).unwrap();
        // GAN, PacGAN2–4 × 10 seeds, 400,000 iterations, 2,500 samples per evaluation.
        assert_eq!(
            (trials.len(), sweep.steps, sweep.eval_samples),
            (40, 400_000, 2500)
        );
        assert_params(
            name,
            &trials,
            &[
                ("latent_dim", "2"),
                ("g_hidden", "400"),
                ("g_layers", "4"),
                ("g_batch_norm", "true"),
                ("d_hidden", "200"),
                ("d_layers", "3"),
                ("d_activation", "\"maxout\""),
                ("maxout_pieces", "5"),
                ("init_std", "0.02"),
                ("lr_g", "0.0001"),
                ("lr_d", "0.0001"),
                ("beta1", "0.8"),
                ("batch_size", "100"),
            ],
        );

        // The first steps of one seed per variant, through the real binary.
        let short = rewritten(
            &file,
            &[
                ("steps: 400000,", "steps: 20,"),
                ("eval_every: 1000,", "eval_every: 10,"),
                ("checkpoint_every: 10000,", "checkpoint_every: 10,"),
                ("eval_samples: 2500,", "eval_samples: 200,"),
                ("seeds: 10,", "seeds: 1,"),
            ],
        );
        let path = dir.path().join(format!("{name}.ron"));
        std::fs::write(&path, short).unwrap();
        let db = dir.path().join(format!("{name}.sqlite"));
        let (code, stdout, stderr) = run_sweep(&path, &db, &["--jobs", "2", "--json"]);
        assert_eq!(code, 0, "{stderr}");
        let summary: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        assert_eq!(summary["finished"], 4, "{name}: {summary}");
        let modes = points(&db, name)
            .into_iter()
            .filter(|((_, metric, step), _)| metric == "modes" && *step == 20)
            .count();
        assert_eq!(modes, 4, "{name}: every variant evaluated at step 20");
    }
}

#[test]
fn each_budget_file_is_its_protocol_file_but_for_the_budget() {
    // The tables of docs/reproductions.md were run from these files: their trials must be the
    // protocol's own (same keys: same plugin, parameters and seed), on the same data and the same
    // evaluation, so that only the budget (steps, evaluation points, seeds, rows) differs.
    let registry = builtin_registry();
    for (budget, protocol, steps) in [
        ("pacgan-ring-2k", "pacgan-ring", 2000),
        ("pacgan-grid-2k", "pacgan-grid", 2000),
        ("stacked-mnist-short", "stacked-mnist", 1500),
    ] {
        let short = Sweep::load(experiment(budget)).unwrap();
        let full = Sweep::load(experiment(protocol)).unwrap();
        assert_eq!(short.name, budget);
        assert_eq!(short.steps, steps);
        assert_eq!(short.data, full.data, "{budget}");
        assert_eq!(short.eval_samples, full.eval_samples, "{budget}");
        assert_eq!(short.base, full.base, "{budget}");
        assert_eq!(short.primary, full.primary, "{budget}");
        let full_keys: std::collections::BTreeSet<String> = full
            .expand(&registry)
            .unwrap()
            .into_iter()
            .map(|t| t.key)
            .collect();
        let trials = short.expand(&registry).unwrap();
        assert!(!trials.is_empty());
        for trial in trials {
            assert!(
                full_keys.contains(&trial.key),
                "{budget}: {} seed {} is not a trial of {protocol}",
                trial.label,
                trial.seed
            );
        }
    }
}

#[test]
fn the_stacked_mnist_sweep_holds_the_protocol_and_its_first_steps_train() {
    let registry = builtin_registry();
    let file = experiment("stacked-mnist");
    let sweep = Sweep::load(&file).unwrap();
    let Some(ganbench_data::ImageSpec::StackedMnist { count, .. }) = sweep.data.images() else {
        panic!("stacked-mnist.ron trains on {:?}", sweep.data);
    };
    assert_eq!(*count, None, "the code's 128,000 stacks");
    let trials = sweep.expand(&registry).unwrap();
    // 10 variants × 10 seeds, 100,000 iterations, 26,000 samples per evaluation.
    assert_eq!(
        (trials.len(), sweep.steps, sweep.eval_samples),
        (100, 100_000, 26_000)
    );
    assert_params(
        "stacked-mnist",
        &trials,
        &[
            ("arch", "\"Dcgan\""),
            ("channels", "64"),
            ("latent_dim", "100"),
            ("batch_size", "64"),
            ("lr_g", "0.0002"),
            ("lr_d", "0.0002"),
            ("beta1", "0.5"),
        ],
    );
    let pac = |label: &str| {
        let t = trials.iter().find(|t| t.label == label).unwrap();
        serde_json::to_string(&t.params.get("pac").unwrap()).unwrap()
    };
    assert_eq!(
        (pac("DCGAN").as_str(), pac("PacDCGAN2").as_str()),
        ("1", "2")
    );

    // The first steps of every variant, through the real binary, on the first 600 digits of the
    // fixture (the extractor trains in seconds on them) and 2,000 stacks.
    let dir = tempfile::tempdir().unwrap();
    write_digits(dir.path(), 600);
    let short = rewritten(
        &file,
        &[
            (
                "images: \"../tests/fixtures/mnist/images-idx3-ubyte.gz\",",
                "images: \"images.gz\", count: 2000,",
            ),
            (
                "labels: \"../tests/fixtures/mnist/labels-idx1-ubyte.gz\",",
                "labels: \"labels.gz\",",
            ),
            ("steps: 100000,", "steps: 4,"),
            ("eval_every: 2000, ", "eval_every: 4, "),
            ("checkpoint_every: 2000,", "checkpoint_every: 2,"),
            ("eval_samples: 26000,", "eval_samples: 400,"),
            ("seeds: 10,", "seeds: 1,"),
        ],
    );
    let path = dir.path().join("stacked-mnist.ron");
    std::fs::write(&path, short).unwrap();
    let db = dir.path().join("stacked.sqlite");
    let (code, stdout, stderr) = run_sweep(&path, &db, &["--jobs", "2", "--json"]);
    assert_eq!(code, 0, "{stderr}");
    let summary: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(summary["finished"], 10, "{summary}");

    // The evaluation network learned the single digits (one cached file, the digits' own) and
    // labels each channel; every run logs the mode count and KL of its 400 samples next to FID.
    assert!(
        stderr.contains("training the evaluation feature extractor for Idx("),
        "{stderr}"
    );
    let logged = points(&db, "stacked-mnist");
    for metric in ["modes_1000", "kl_1000", "fid"] {
        let values: Vec<f64> = logged
            .iter()
            .filter(|((_, m, step), _)| m == metric && *step == 4)
            .map(|(_, bits)| f64::from_bits(*bits))
            .collect();
        assert_eq!(values.len(), 10, "{metric}: every variant at step 4");
        for v in values {
            match metric {
                // At least one triple, at most one per sample (400) and never above 1,000.
                "modes_1000" => assert!((1.0..=400.0).contains(&v) && v.fract() == 0.0, "{v}"),
                // Between a uniform histogram and a single class.
                "kl_1000" => assert!((0.0..=1000f64.ln() + 1e-9).contains(&v), "{v}"),
                _ => assert!(v.is_finite() && v > 0.0, "{metric} {v}"),
            }
        }
    }
    let (code, stdout, _) = run(&["show", "1", "--db", db.to_str().unwrap(), "--json"]);
    assert_eq!(code, 0);
    assert!(stdout.contains("applied to each channel"), "{stdout}");
}

#[test]
fn a_stacked_mnist_sweep_without_labels_or_with_a_missing_file_says_what_to_fix() {
    let dir = tempfile::tempdir().unwrap();
    let sweep = dir.path().join("bad.ron");
    let write = |data: &str| {
        std::fs::write(
            &sweep,
            format!(
                "Sweep(name: \"bad\", data: {data}, steps: 2, eval_every: 2, seeds: 1, \
                 base: {{\"arch\": \"Dcgan\", \"channels\": 4}}, variants: [(plugin: \"gan\")])"
            ),
        )
        .unwrap();
    };
    write("StackedMnist(images: \"images.gz\")");
    let (code, _, stderr) = run_sweep(&sweep, &dir.path().join("db.sqlite"), &[]);
    assert_ne!(code, 0);
    assert!(
        stderr.contains("bad.ron") && stderr.contains("labels"),
        "{stderr}"
    );
    write("StackedMnist(images: \"nowhere.gz\", labels: \"nowhere-labels.gz\")");
    let (code, _, stderr) = run_sweep(&sweep, &dir.path().join("db.sqlite"), &[]);
    assert_ne!(code, 0);
    assert!(stderr.contains("nowhere.gz"), "{stderr}");
}
