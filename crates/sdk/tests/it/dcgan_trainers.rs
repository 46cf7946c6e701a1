//! The GAN and VAE trainers with `arch = Dcgan` on image-shaped data: determinism, seed
//! sensitivity, bitwise resume (batch norm's running statistics included), every parameter
//! training, samples that depend on their own latent only, and the refusals (non-image data,
//! a gradient penalty on a batch-norm critic).

use candle_core::Device;
use ganbench_sdk::gan::{self, GanConfig, GanDefaults, Regularizer};
use ganbench_sdk::loss::{self, GanLoss};
use ganbench_sdk::plugin_api::{Batch, Metrics, ParamSpec, Trainer, TrialConfig};
use ganbench_sdk::{vae, GanArch, GanTrainer, GradientPenalty, SeededRng, VaeTrainer};

use crate::common::image_trial;

/// Small images keep these tests fast; the schedule has two halvings, as for 28×28 (16 → 8 → 4).
const SHAPE: [usize; 3] = [1, 16, 16];

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
    let mut config = GanConfig::from_params(&t.params, &t.data_shape).unwrap();
    if reg.is_some() {
        config = config.without_critic_batch_norm();
    }
    Box::new(GanTrainer::from_config(config, t.seed, &Device::Cpu, loss, reg).unwrap())
}

const GAN: &[&str] = &["arch=Dcgan", "channels=4", "batch_size=8", "latent_dim=5"];

fn variants() -> Vec<Variant> {
    vec![
        Variant {
            name: "ns, batch norm",
            specs: gan_specs(),
            overrides: GAN,
            make: |t| make_gan(t, Box::new(loss::NonSaturating), None),
        },
        Variant {
            name: "wgan-gp, no normalization",
            specs: gan_specs(),
            overrides: &[
                "arch=Dcgan",
                "channels=4",
                "batch_size=8",
                "latent_dim=5",
                "n_critic=2",
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
            name: "hinge, spectral norm",
            specs: gan_specs(),
            overrides: &[
                "arch=Dcgan",
                "channels=4",
                "batch_size=8",
                "latent_dim=5",
                "spectral_norm=true",
            ],
            make: |t| make_gan(t, Box::new(loss::Hinge), None),
        },
        Variant {
            name: "vae",
            specs: vae::param_specs(),
            overrides: &["arch=Dcgan", "channels=4", "batch_size=8"],
            make: |t| Box::new(VaeTrainer::from_trial(t).unwrap()),
        },
        // The image fixes (docs/fixes.md) on SN-GAN's critic, as in the DiffAugment and bCR papers.
        Variant {
            name: "fixes: DiffAugment, bCR, pac, minibatch std, EMA",
            specs: gan_specs(),
            overrides: &[
                "arch=Dcgan",
                "channels=4",
                "batch_size=8",
                "latent_dim=5",
                "spectral_norm=true",
                "diffaugment=color,translation,cutout",
                "bcr_real=10",
                "bcr_fake=10",
                "pac=2",
                "minibatch_std=4",
                "ema_decay=0.9",
            ],
            make: |t| make_gan(t, Box::new(loss::Hinge), None),
        },
    ]
}

fn trial(v: &Variant, seed: u64) -> TrialConfig {
    image_trial(&v.specs, v.overrides, seed, &SHAPE)
}

/// Image-shaped batches: a smooth random blob per row plus noise, in [-1, 1].
fn images(data: &mut SeededRng, rows: usize) -> Vec<f32> {
    let s = SHAPE[1];
    let mut out = Vec::with_capacity(rows * s * s);
    for _ in 0..rows {
        let c = data.uniform_vec(2, 3.0, (s - 3) as f64);
        let noise = data.uniform_vec(s * s, -0.1, 0.1);
        for i in 0..s {
            for j in 0..s {
                let r2 = (i as f32 - c[0]).powi(2) + (j as f32 - c[1]).powi(2);
                let v = 2.0 * (-r2 / 8.0).exp() - 1.0 + noise[i * s + j];
                out.push(v.clamp(-1.0, 1.0));
            }
        }
    }
    out
}

fn train(t: &mut dyn Trainer, data: &mut SeededRng, steps: usize) -> Vec<Metrics> {
    let rows = t.rows_per_step();
    (0..steps)
        .map(|_| {
            let x = images(data, rows);
            t.train_step(Batch {
                data: &x,
                shape: &[rows, SHAPE[0], SHAPE[1], SHAPE[2]],
            })
            .unwrap()
        })
        .collect()
}

fn run(v: &Variant, seed: u64, steps: usize) -> (Vec<Metrics>, Vec<f32>) {
    let mut t = (v.make)(&trial(v, seed));
    let m = train(t.as_mut(), &mut SeededRng::new(99), steps);
    (m, t.sample(20, 5).unwrap().data)
}

#[test]
fn same_seed_is_bitwise_identical_and_another_seed_differs() {
    for v in variants() {
        let a = run(&v, 1, 3);
        let b = run(&v, 1, 3);
        assert_eq!(a, b, "{}: same seed, different results", v.name);
        let c = run(&v, 2, 3);
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
    let (k, m) = (3, 3);
    for v in variants() {
        let cfg = trial(&v, 7);
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
        let mut resumed = (v.make)(&trial(&v, 8));
        resumed.load(dir.path()).unwrap();
        got.extend(train(resumed.as_mut(), &mut data, m));

        assert_eq!(expected, got, "{}: resumed metrics differ", v.name);
        // Samples use batch norm's running statistics: they too must have been restored.
        assert_eq!(
            whole.sample(30, 1).unwrap(),
            resumed.sample(30, 1).unwrap(),
            "{}: samples differ",
            v.name
        );
        assert_eq!(
            whole.sample_averaged(30, 1).unwrap(),
            resumed.sample_averaged(30, 1).unwrap(),
            "{}: averaged samples differ",
            v.name
        );
    }
}

#[test]
fn checkpoints_hold_batch_norm_running_statistics() {
    let v = &variants()[0];
    let mut t = (v.make)(&trial(v, 0));
    train(t.as_mut(), &mut SeededRng::new(1), 1);
    let dir = tempfile::tempdir().unwrap();
    t.save(dir.path()).unwrap();
    let tensors = candle_core::safetensors::load(
        dir.path().join(ganbench_sdk::checkpoint::TENSORS_FILE),
        &Device::Cpu,
    )
    .unwrap();
    for name in [
        "g.buffers.fc_bn.running_mean",
        "g.buffers.fc_bn.running_var",
        "g.buffers.up0_bn.running_var",
        "d.buffers.conv1_bn.running_mean",
    ] {
        let t = tensors.get(name).unwrap_or_else(|| panic!("no {name}"));
        let v = t.to_vec1::<f32>().unwrap();
        // One training step moved them away from their initial 0 (mean) and 1 (variance).
        assert!(v.iter().all(|x| *x != 0.0 && *x != 1.0), "{name}: {v:?}");
    }
}

#[test]
fn every_parameter_trains() {
    for v in variants() {
        let mut t = (v.make)(&trial(&v, 3));
        let dir = tempfile::tempdir().unwrap();
        t.save(dir.path()).unwrap();
        let path = dir.path().join(ganbench_sdk::checkpoint::TENSORS_FILE);
        let before = candle_core::safetensors::load(&path, &Device::Cpu).unwrap();
        train(t.as_mut(), &mut SeededRng::new(4), 2);
        t.save(dir.path()).unwrap();
        let after = candle_core::safetensors::load(&path, &Device::Cpu).unwrap();
        let mut params = 0;
        let mut unchanged = vec![];
        for (name, b) in &before {
            // Parameters only: not optimizer moments or buffers.
            let net = name.starts_with("g.") || name.starts_with("d.") || name.starts_with("vae.");
            if !net || name.contains(".buffers.") {
                continue;
            }
            params += 1;
            let (b, a) = (
                b.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
                after[name].flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            );
            if a == b {
                unchanged.push(name.as_str());
            }
        }
        assert!(params >= 8, "{}: only {params} parameters", v.name);
        // The critic's output bias has no gradient in two cases: WGAN-GP (it cancels in
        // E[D(x)] − E[D(G(z))] and does not move ∇ₓD), and the hinge loss while every logit lies
        // inside the margin (−1, 1), as at the start: its gradient is −P(r < 1) + P(f > −1) = 0.
        let expected: &[&str] = match v.name {
            "wgan-gp, no normalization"
            | "hinge, spectral norm"
            | "fixes: DiffAugment, bCR, pac, minibatch std, EMA" => &["d.fc.bias"],
            _ => &[],
        };
        assert_eq!(
            unchanged, expected,
            "{}: parameters that did not train",
            v.name
        );
    }
}

#[test]
fn samples_depend_on_their_own_latent_only() {
    // Evaluation-mode batch norm: the first rows of a large draw (generated in chunks) equal a
    // small draw from the same seed, up to the rounding of different matrix shapes.
    for v in variants() {
        let mut t = (v.make)(&trial(&v, 5));
        train(t.as_mut(), &mut SeededRng::new(6), 2);
        let n = ganbench_sdk::gan::SAMPLE_CHUNK + 40;
        let big = t.sample(n, 9).unwrap();
        assert_eq!(big.shape, vec![n, 1, 16, 16]);
        let small = t.sample(10, 9).unwrap();
        let err = small
            .data
            .iter()
            .zip(&big.data)
            .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
        assert!(err < 1e-5, "{}: {err}", v.name);
        // Sampling does not move the running statistics: training continues identically.
        let mut u = (v.make)(&trial(&v, 5));
        train(u.as_mut(), &mut SeededRng::new(6), 2);
        assert_eq!(
            train(t.as_mut(), &mut SeededRng::new(7), 1),
            train(u.as_mut(), &mut SeededRng::new(7), 1),
            "{}",
            v.name
        );
    }
}

#[test]
fn dcgan_needs_square_image_data() {
    let specs = gan_specs();
    for shape in [&[2usize][..], &[1, 28, 20], &[1, 18, 18]] {
        let t = image_trial(&specs, &["arch=Dcgan"], 0, shape);
        let err = GanConfig::from_params(&t.params, shape)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("arch = Dcgan") && err.contains(&format!("{shape:?}")),
            "{err}"
        );
        let t = image_trial(&vae::param_specs(), &["arch=Dcgan"], 0, shape);
        let err = VaeTrainer::from_trial(&t).err().unwrap().to_string();
        assert!(err.contains("arch = Dcgan"), "{err}");
    }
}

#[test]
fn gradient_penalty_refuses_a_batch_norm_critic() {
    let t = image_trial(&gan_specs(), GAN, 0, &SHAPE);
    let config = GanConfig::from_params(&t.params, &SHAPE).unwrap();
    assert_eq!(
        config.arch,
        GanArch::Dcgan {
            channels: 4,
            critic_batch_norm: true
        }
    );
    let err = GanTrainer::from_config(
        config,
        0,
        &Device::Cpu,
        Box::new(loss::Wasserstein),
        Some(Box::new(GradientPenalty { lambda: 10.0 })),
    )
    .err()
    .unwrap()
    .to_string();
    assert!(err.contains("batch statistics"), "{err}");
}

#[test]
fn mlp_checkpoints_without_an_architecture_still_load() {
    // Checkpoints written before `arch` existed have no `arch` in their config: they are MLPs.
    let specs = gan_specs();
    let t = image_trial(&specs, &["hidden=8"], 0, &[2]);
    let mut trainer = make_gan(&t, Box::new(loss::NonSaturating), None);
    let dir = tempfile::tempdir().unwrap();
    trainer.save(dir.path()).unwrap();
    let state_path = dir.path().join(ganbench_sdk::checkpoint::STATE_FILE);
    let mut state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&state_path).unwrap()).unwrap();
    let config = state["state"]["config"].as_object_mut().unwrap();
    assert_eq!(config.remove("arch"), Some(serde_json::json!("Mlp")));
    std::fs::write(&state_path, serde_json::to_vec(&state).unwrap()).unwrap();
    trainer.load(dir.path()).unwrap();
}

#[test]
fn packed_image_critics_see_the_samples_stacked_along_channels() {
    let v = &variants()[4];
    let mut t = (v.make)(&trial(v, 0));
    assert_eq!(t.rows_per_step(), 8 * 2, "batch 8 × pac 2");
    let arch = t.describe().architecture;
    assert!(
        arch.contains(
            "D: DCGAN 2×16×16→4×8×8→8×4×4→1 (leaky_relu(0.2), spectral norm, minibatch std over 4)"
        ) && arch.contains("bCR (λ_real = 10, λ_fake = 10)")
            && arch.contains("DiffAugment color,translation,cutout"),
        "{arch}"
    );
    let m = train(t.as_mut(), &mut SeededRng::new(1), 1).remove(0);
    assert!(m.iter().any(|(k, v)| k == "bcr" && *v > 0.0), "{m:?}");
    // Samples stay single images, the averaged ones too.
    assert_eq!(t.sample(3, 0).unwrap().shape, vec![3, 1, 16, 16]);
    assert_eq!(
        t.sample_averaged(3, 0).unwrap().unwrap().shape,
        vec![3, 1, 16, 16]
    );
}
