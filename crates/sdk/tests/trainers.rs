//! The generic GAN and VAE trainers: determinism, seed sensitivity, bitwise resume from a
//! checkpoint, reproducible sampling, and that sampling/evaluation never disturb training.

mod common;

use ganbench_sdk::gan::{self, GanDefaults, Regularizer};
use ganbench_sdk::loss::{self, GanLoss};
use ganbench_sdk::plugin_api::{Batch, Metrics, ParamSpec, Trainer, TrialConfig};
use ganbench_sdk::{vae, GanTrainer, GradientPenalty, SeededRng, VaeTrainer};

use common::{ring8, trial};

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
