//! The reproduction sweeps of docs/reproductions.md stay valid as the code changes: each file
//! expands to the published protocol's trials, and its first steps train (the full runs are
//! documented experiments, not tests).

use std::path::Path;

use crate::common::*;

#[test]
fn the_pacgan_2d_sweeps_hold_the_protocol_and_their_first_steps_train() {
    let registry = builtin_registry();
    let experiments = Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments");
    let dir = tempfile::tempdir().unwrap();
    for name in ["pacgan-ring", "pacgan-grid"] {
        let file = experiments.join(format!("{name}.ron"));
        let sweep = ganbench_spec::Sweep::load(&file).unwrap();
        let trials = sweep.expand(&registry).unwrap();
        // GAN, PacGAN2–4 × 10 seeds, 400,000 iterations, 2,500 samples per evaluation.
        assert_eq!(
            (trials.len(), sweep.steps, sweep.eval_samples),
            (40, 400_000, 2500)
        );
        for trial in &trials {
            let p = &trial.params;
            for (key, want) in [
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
            ] {
                let got = serde_json::to_string(&p.get(key).unwrap()).unwrap();
                assert_eq!(got, want, "{name} {}: {key}", trial.label);
            }
        }

        // The first steps of one seed per variant, through the real binary.
        let mut short = std::fs::read_to_string(&file).unwrap();
        for (from, to) in [
            ("steps: 400000,", "steps: 20,"),
            ("eval_every: 1000,", "eval_every: 10,"),
            ("checkpoint_every: 10000,", "checkpoint_every: 10,"),
            ("eval_samples: 2500,", "eval_samples: 200,"),
            ("seeds: 10,", "seeds: 1,"),
        ] {
            assert!(short.contains(from), "{name}: `{from}` not found");
            short = short.replace(from, to);
        }
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
