//! The generic GAN and VAE trainers: determinism, seed sensitivity, bitwise resume from a
//! checkpoint, reproducible sampling, and that sampling/evaluation never disturb training.

use ganbench_sdk::gan::{self, GanConfig, GanDefaults, Regularizer};
use ganbench_sdk::loss::{self, GanLoss};
use ganbench_sdk::plugin_api::{Batch, Metrics, ParamSpec, Trainer, TrialConfig};
use ganbench_sdk::{
    vae, vae_gan, GanTrainer, GradientPenalty, SeededRng, VaeGanTrainer, VaeTrainer,
};

use crate::common::{ring8, trial};

/// The trainer variants under test: (name, parameter specs, constructor).
struct Variant {
    name: &'static str,
    specs: Vec<ParamSpec>,
    overrides: &'static [&'static str],
    make: fn(&TrialConfig) -> Box<dyn Trainer>,
}

fn gan_specs() -> Vec<ParamSpec> {
    let mut s = gan::param_specs(&GanDefaults::default());
    s.push(gan::spectral_norm_spec(false));
    s
}

fn make_gan(
    t: &TrialConfig,
    loss: Box<dyn GanLoss>,
    reg: Option<Box<dyn Regularizer>>,
) -> Box<dyn Trainer> {
    Box::new(GanTrainer::from_trial(t, loss, reg).unwrap())
}

fn variants() -> Vec<Variant> {
    const SMALL: &[&str] = &["hidden=32", "batch_size=64", "latent_dim=4"];
    vec![
        Variant {
            name: "ns",
            specs: gan_specs(),
            overrides: SMALL,
            make: |t| make_gan(t, Box::new(loss::NonSaturating), None),
        },
        Variant {
            name: "wgan-gp",
            specs: gan_specs(),
            overrides: &[
                "hidden=32",
                "batch_size=64",
                "latent_dim=4",
                "n_critic=3",
                "beta2=0.9",
            ],
            make: |t| {
                make_gan(
                    t,
                    Box::new(loss::Wasserstein),
                    Some(Box::new(GradientPenalty { lambda: 10.0 })),
                )
            },
        },
        Variant {
            name: "sngan-hinge",
            specs: gan_specs(),
            overrides: &[
                "hidden=32",
                "batch_size=64",
                "latent_dim=4",
                "spectral_norm=true",
            ],
            make: |t| make_gan(t, Box::new(loss::Hinge), None),
        },
        Variant {
            name: "sn-wgan-gp",
            specs: gan_specs(),
            overrides: &[
                "hidden=32",
                "batch_size=64",
                "n_critic=2",
                "spectral_norm=true",
            ],
            make: |t| {
                make_gan(
                    t,
                    Box::new(loss::Wasserstein),
                    Some(Box::new(GradientPenalty { lambda: 1.0 })),
                )
            },
        },
        Variant {
            name: "vae",
            specs: vae::param_specs(),
            overrides: &["hidden=32", "batch_size=64"],
            make: |t| Box::new(VaeTrainer::from_trial(t).unwrap()),
        },
        // The stability fixes (docs/fixes.md), several per trainer so that each is covered.
        Variant {
            name: "fixes: SGD-Nesterov, clipping, cosine schedule, label smoothing, EMA",
            specs: gan_specs(),
            overrides: &[
                "hidden=32",
                "batch_size=64",
                "latent_dim=4",
                "optimizer=sgd",
                "sgd_momentum=0.9",
                "sgd_nesterov=true",
                "lr_g=0.02",
                "lr_d=0.02",
                "clip_grad_norm_d=1",
                "clip_grad_norm_g=0.5",
                "lr_schedule=cosine",
                "lr_warmup_steps=2",
                "lr_decay_steps=12",
                "label_smoothing=0.1",
                "ema_decay=0.9",
                "ema_start=2",
            ],
            make: |t| make_gan(t, Box::new(loss::NonSaturating), None),
        },
        Variant {
            name: "fixes: RMSProp, linear schedule, R1 (lazy), R2, DRAGAN, instance noise, pac, minibatch std",
            specs: gan_specs(),
            overrides: &[
                "hidden=32",
                "batch_size=32",
                "latent_dim=4",
                "optimizer=rmsprop",
                "lr_schedule=linear",
                "lr_decay_steps=20",
                "r1_gamma=10",
                "r2_gamma=1",
                "lazy_interval=2",
                "dragan_lambda=10",
                "instance_noise=0.1",
                "instance_noise_steps=10",
                "pac=2",
                "minibatch_std=4",
            ],
            make: |t| make_gan(t, Box::new(loss::Hinge), None),
        },
        Variant {
            name: "fixes: WGAN weight clipping, RMSProp",
            specs: gan_specs(),
            overrides: &[
                "hidden=32",
                "batch_size=64",
                "latent_dim=4",
                "n_critic=2",
                "optimizer=rmsprop",
                "lr_g=5e-5",
                "lr_d=5e-5",
            ],
            make: |t| {
                let mut config = GanConfig::from_params(&t.params, &t.data_shape).unwrap();
                config.fixes.weight_clip = 0.01;
                let device = candle_core::Device::Cpu;
                Box::new(
                    GanTrainer::from_config(config, t.seed, &device, Box::new(loss::Wasserstein), None)
                        .unwrap(),
                )
            },
        },
        Variant {
            name: "vae-gan",
            specs: vae_gan::param_specs(),
            overrides: &["hidden=32", "batch_size=64", "latent_dim=4"],
            make: |t| Box::new(VaeGanTrainer::from_trial(t).unwrap()),
        },
        Variant {
            name: "vae-gan: RMSProp, first feature layer",
            specs: vae_gan::param_specs(),
            overrides: &[
                "hidden=32",
                "batch_size=32",
                "optimizer=rmsprop",
                "feature_layer=1",
                "gamma=1",
            ],
            make: |t| Box::new(VaeGanTrainer::from_trial(t).unwrap()),
        },
    ]
}

/// Trains `steps` steps with data drawn from `data` and returns every step's metrics.
fn train(t: &mut dyn Trainer, data: &mut SeededRng, steps: usize) -> Vec<Metrics> {
    let rows = t.rows_per_step();
    (0..steps)
        .map(|_| {
            let x = ring8(data, rows);
            t.train_step(Batch {
                data: &x,
                shape: &[rows, 2],
            })
            .unwrap()
        })
        .collect()
}

fn run(v: &Variant, seed: u64, steps: usize) -> (Vec<Metrics>, Vec<f32>) {
    let mut t = (v.make)(&trial(&v.specs, v.overrides, seed));
    let m = train(t.as_mut(), &mut SeededRng::new(99), steps);
    (m, t.sample(64, 5).unwrap().data)
}

#[test]
fn same_seed_is_bitwise_identical_and_another_seed_differs() {
    for v in variants() {
        let a = run(&v, 1, 6);
        let b = run(&v, 1, 6);
        assert_eq!(a, b, "{}: same seed, different results", v.name);
        let c = run(&v, 2, 6);
        assert_ne!(a.0, c.0, "{}: another seed, same metrics", v.name);
        assert_ne!(a.1, c.1, "{}: another seed, same samples", v.name);
        assert!(
            a.0.iter().flatten().all(|(_, x)| x.is_finite()),
            "{}: {:?}",
            v.name,
            a.0
        );
    }
}

#[test]
fn resumed_training_equals_uninterrupted_training() {
    let (k, m) = (4, 5);
    for v in variants() {
        let cfg = trial(&v.specs, v.overrides, 7);
        let mut data = SeededRng::new(3);
        let mut whole = (v.make)(&cfg);
        let expected = train(whole.as_mut(), &mut data, k + m);

        let mut data = SeededRng::new(3);
        let mut first = (v.make)(&cfg);
        let mut got = train(first.as_mut(), &mut data, k);
        let dir = tempfile::tempdir().unwrap();
        first.save(dir.path()).unwrap();
        drop(first);
        // A fresh trainer from another seed: everything must come from the checkpoint.
        let mut resumed = (v.make)(&trial(&v.specs, v.overrides, 8));
        resumed.load(dir.path()).unwrap();
        got.extend(train(resumed.as_mut(), &mut data, m));

        assert_eq!(expected, got, "{}: resumed metrics differ", v.name);
        assert_eq!(
            whole.sample(100, 1).unwrap(),
            resumed.sample(100, 1).unwrap(),
            "{}: samples differ",
            v.name
        );
        // The generator's average, when kept, is part of the checkpoint too.
        assert_eq!(
            whole.sample_averaged(100, 1).unwrap(),
            resumed.sample_averaged(100, 1).unwrap(),
            "{}: averaged samples differ",
            v.name
        );
    }
}

#[test]
fn sampling_and_evaluation_are_reproducible_and_do_not_disturb_training() {
    for v in variants() {
        let cfg = trial(&v.specs, v.overrides, 4);
        let mut a = (v.make)(&cfg);
        let mut b = (v.make)(&cfg);
        let (mut da, mut db) = (SeededRng::new(1), SeededRng::new(1));
        train(a.as_mut(), &mut da, 2);
        train(b.as_mut(), &mut db, 2);
        let s1 = a.sample(50, 11).unwrap();
        assert_eq!(s1.shape, vec![50, 2]);
        assert_eq!(s1, a.sample(50, 11).unwrap(), "{}", v.name);
        assert_ne!(s1, a.sample(50, 12).unwrap(), "{}", v.name);
        let held_out = ring8(&mut SeededRng::new(77), 200);
        let e1 = a
            .evaluate(Batch {
                data: &held_out,
                shape: &[200, 2],
            })
            .unwrap();
        assert_eq!(
            e1,
            a.evaluate(Batch {
                data: &held_out,
                shape: &[200, 2]
            })
            .unwrap()
        );
        if v.name == "vae" {
            let names: Vec<&str> = e1.iter().map(|(k, _)| k.as_str()).collect();
            assert_eq!(names, ["elbo", "reconstruction", "kl", "mse"]);
        }
        assert_eq!(
            train(a.as_mut(), &mut da, 2),
            train(b.as_mut(), &mut db, 2),
            "{}",
            v.name
        );
    }
}

#[test]
fn gan_metrics_and_rows_per_step() {
    let v = &variants()[1];
    let mut t = (v.make)(&trial(&v.specs, v.overrides, 0));
    assert_eq!(t.rows_per_step(), 64 * 3);
    let m = train(t.as_mut(), &mut SeededRng::new(0), 1).remove(0);
    let names: Vec<&str> = m.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        ["loss_d", "loss_g", "gp", "wasserstein", "d_real", "d_fake"]
    );
    let bad = t
        .train_step(Batch {
            data: &[0.0; 4],
            shape: &[2, 2],
        })
        .unwrap_err()
        .to_string();
    assert!(bad.contains("[192, 2]"), "{bad}");
    let d = t.describe();
    assert!(
        d.architecture.contains("gradient penalty"),
        "{}",
        d.architecture
    );
    // G: 4·32+32 + 32·32+32 + 32·2+2; D: 2·32+32 + 32·32+32 + 32+1.
    assert_eq!(d.parameters, (160 + 1056 + 66) + (96 + 1056 + 33));
}

#[test]
fn loading_a_checkpoint_of_another_configuration_fails() {
    let v = &variants()[0];
    let mut a = (v.make)(&trial(&v.specs, v.overrides, 0));
    let dir = tempfile::tempdir().unwrap();
    a.save(dir.path()).unwrap();
    let mut b = (v.make)(&trial(
        &v.specs,
        &["hidden=16", "batch_size=64", "latent_dim=4"],
        0,
    ));
    let err = b.load(dir.path()).unwrap_err().to_string();
    assert!(err.contains("different configuration"), "{err}");
    let err = a.load(&dir.path().join("missing")).unwrap_err().to_string();
    assert!(err.contains("cannot read checkpoint"), "{err}");
}

#[test]
fn vae_elbo_improves_with_training() {
    let specs = vae::param_specs();
    let mut t =
        VaeTrainer::from_trial(&trial(&specs, &["hidden=64", "batch_size=128"], 0)).unwrap();
    let held_out = ring8(&mut SeededRng::new(5), 500);
    let elbo = |t: &mut VaeTrainer| {
        t.evaluate(Batch {
            data: &held_out,
            shape: &[500, 2],
        })
        .unwrap()[0]
            .1
    };
    let before = elbo(&mut t);
    train(&mut t, &mut SeededRng::new(1), 300);
    let after = elbo(&mut t);
    eprintln!("VAE held-out ELBO: {before:.3} → {after:.3}");
    assert!(after > before + 1.0, "{before} → {after}");
}

/// The metric names of one training step.
fn metric_names(m: &Metrics) -> Vec<&str> {
    m.iter().map(|(k, _)| k.as_str()).collect()
}

#[test]
fn fixes_log_their_metrics_and_lazy_penalties_only_when_computed() {
    let v = &variants()[6];
    let mut t = (v.make)(&trial(&v.specs, v.overrides, 0));
    // batch 32 × pac 2 rows per update, one critic update per step.
    assert_eq!(t.rows_per_step(), 64);
    let steps = train(t.as_mut(), &mut SeededRng::new(0), 3);
    let base = ["loss_d", "loss_g", "d_real", "d_fake"];
    // Critic updates 0 and 2 compute R1 and R2 (every second update); DRAGAN runs at every one.
    let computed = ["r1", "r2", "dragan", "lr_scale", "instance_noise"];
    let skipped = ["dragan", "lr_scale", "instance_noise"];
    for (i, m) in steps.iter().enumerate() {
        let want: Vec<&str> = base
            .iter()
            .chain(if i % 2 == 0 {
                &computed[..]
            } else {
                &skipped[..]
            })
            .copied()
            .collect();
        assert_eq!(metric_names(m), want, "step {}", i + 1);
    }
    // Schedules as documented: linear lr to 0 at step 20, noise 0.1 to 0 at step 10.
    let value = |m: &Metrics, k: &str| m.iter().find(|(n, _)| n == k).unwrap().1;
    assert_eq!(value(&steps[2], "lr_scale"), 1.0 - 2.0 / 20.0);
    assert!((value(&steps[2], "instance_noise") - 0.1 * 0.8).abs() < 1e-15);
    let arch = t.describe().architecture;
    assert!(
        arch.contains("RMSProp α 0.99")
            && arch.contains("R1 (γ = 10, every 2 updates)")
            && arch.contains("pac 2")
            && arch.contains("MLP 4→32→32→1 (leaky_relu(0.2), minibatch std over 4)"),
        "{arch}"
    );
    // Clipping logs the norms before clipping; the EMA trainer answers sample_averaged.
    let v = &variants()[5];
    let mut t = (v.make)(&trial(&v.specs, v.overrides, 0));
    let m = train(t.as_mut(), &mut SeededRng::new(0), 1).remove(0);
    assert_eq!(
        metric_names(&m),
        [
            "loss_d",
            "loss_g",
            "d_real",
            "d_fake",
            "grad_norm_d",
            "grad_norm_g",
            "lr_scale"
        ]
    );
    assert_eq!(
        value(&m, "lr_scale"),
        0.5,
        "warm-up: 1/2 at the first of two steps"
    );
    assert!(t.sample_averaged(10, 0).unwrap().is_some());
    assert!((variants()[0].make)(&trial(&gan_specs(), &[], 0))
        .sample_averaged(10, 0)
        .unwrap()
        .is_none());
}

#[test]
fn defaults_declared_or_not_train_identically() {
    // The fixes' parameters at their defaults give the trainer that reads no fix parameter at
    // all (a plugin declaring only the pre-fix parameters): "off" means exactly that.
    let declared = gan_specs();
    let undeclared: Vec<ParamSpec> = declared
        .iter()
        .filter(|s| !s.keyless_default)
        .cloned()
        .collect();
    assert!(
        undeclared.len() + 20 < declared.len(),
        "{}",
        undeclared.len()
    );
    let run = |specs: &[ParamSpec]| {
        let mut t = make_gan(
            &trial(specs, &["hidden=16", "batch_size=32"], 3),
            Box::new(loss::NonSaturating),
            None,
        );
        let m = train(t.as_mut(), &mut SeededRng::new(1), 4);
        (m, t.sample(20, 2).unwrap())
    };
    assert_eq!(run(&declared), run(&undeclared));
}

#[test]
fn fix_settings_that_cannot_work_are_refused_naming_the_parameter() {
    let specs = gan_specs();
    let refused = |set: &[&str], data_shape: &[usize], loss: Box<dyn GanLoss>| {
        let t = crate::common::image_trial(&specs, set, 0, data_shape);
        GanConfig::from_params(&t.params, data_shape)
            .and_then(|c| GanTrainer::from_config(c, 0, &candle_core::Device::Cpu, loss, None))
            .err()
            .expect("refused")
            .to_string()
    };
    let err = refused(&["label_smoothing=0.1"], &[2], Box::new(loss::Hinge));
    assert!(
        err.contains("label_smoothing") && err.contains("hinge"),
        "{err}"
    );
    let err = refused(
        &["diffaugment=translation"],
        &[2],
        Box::new(loss::NonSaturating),
    );
    assert!(err.contains("diffaugment") && err.contains("[2]"), "{err}");
    let err = refused(&["bcr_real=10"], &[2], Box::new(loss::NonSaturating));
    assert!(err.contains("bcr_real"), "{err}");
    let err = refused(&["lr_schedule=linear"], &[2], Box::new(loss::NonSaturating));
    assert!(err.contains("lr_decay_steps"), "{err}");
    let err = refused(
        &["minibatch_std=5", "batch_size=32"],
        &[2],
        Box::new(loss::NonSaturating),
    );
    assert!(
        err.contains("minibatch_std") && err.contains("batch_size"),
        "{err}"
    );
    let err = refused(
        &["optimizer=sgd", "sgd_momentum=0", "sgd_nesterov=true"],
        &[2],
        Box::new(loss::NonSaturating),
    );
    assert!(err.contains("sgd_nesterov"), "{err}");
    // A penalty on a batch-norm critic (DCGAN's default) names the fix and the way out.
    let err = refused(
        &["arch=Dcgan", "channels=4", "r1_gamma=10"],
        &[1, 16, 16],
        Box::new(loss::NonSaturating),
    );
    assert!(
        err.contains("R1") && err.contains("spectral_norm = true"),
        "{err}"
    );
}

#[test]
fn checkpoints_from_before_the_fixes_still_load_and_continue() {
    // Such checkpoints have no `fixes` in their config and no fix generator.
    let v = &variants()[0];
    let cfg = trial(&v.specs, v.overrides, 1);
    let mut a = (v.make)(&cfg);
    train(a.as_mut(), &mut SeededRng::new(2), 2);
    let dir = tempfile::tempdir().unwrap();
    a.save(dir.path()).unwrap();
    let state_path = dir.path().join(ganbench_sdk::checkpoint::STATE_FILE);
    let mut state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&state_path).unwrap()).unwrap();
    let st = state["state"].as_object_mut().unwrap();
    assert!(st.remove("fix_rng").is_some());
    assert!(st["config"]
        .as_object_mut()
        .unwrap()
        .remove("fixes")
        .is_some());
    std::fs::write(&state_path, serde_json::to_vec(&state).unwrap()).unwrap();
    let mut b = (v.make)(&cfg);
    b.load(dir.path()).unwrap();
    let mut data = SeededRng::new(5);
    let expected = train(a.as_mut(), &mut data, 2);
    assert_eq!(train(b.as_mut(), &mut SeededRng::new(5), 2), expected);
}
