//! Milliseconds per training step of every stability fix (docs/fixes.md) against the plain GAN
//! measured in the same run: toy fixes with the `gan` plugin's default MLPs (256 × 2, batch 256)
//! on 2D data, image fixes on SN-GAN's DCGAN critic (channels 16, batch 64) on 1×28×28 data. The
//! `vae` and `vae-gan` models with their defaults (the same network sizes) are timed beside the
//! toy fixes.
//!
//! `cargo bench -p ganbench-sdk --bench fix_step`; set `RAYON_NUM_THREADS=1` to match
//! ganbench's one thread per trial. It runs `ROUNDS` (default 5) rounds; each round times
//! `STEPS` (default 20) steps of every configuration back to back, after 3 warm-up steps, and a
//! configuration's ratio is the median over the rounds of its per-round ratio to the baseline's
//! median step, so that a shared machine's changing load hits both alike. A step is what
//! `ganbench` times as `ms_per_step`: all of its critic updates (five for the WGANs) and the
//! generator update, on `batch_size × pac` rows per update. A plain `main`: numbers, no
//! assertions.

use std::time::Instant;

use candle_core::Device;
use ganbench_sdk::gan::{self, GanConfig, GanDefaults, Regularizer};
use ganbench_sdk::loss::{self, GanLoss};
use ganbench_sdk::plugin_api::{Batch, Params, Trainer, TrialConfig};
use ganbench_sdk::{
    vae, vae_gan, GanTrainer, GradientPenalty, SeededRng, VaeGanTrainer, VaeTrainer,
};

/// The model a configuration trains.
#[derive(Clone, Copy)]
enum Model {
    /// [`GanTrainer`] with the configuration's loss, regularizer and weight clipping.
    Gan,
    /// The `vae` plugin's [`VaeTrainer`].
    Vae,
    /// The `vae-gan` plugin's [`VaeGanTrainer`].
    VaeGan,
}

/// One configuration: its label, data shape, `--set` assignments, loss, the plugin's own
/// regularizer and the critic's weight clipping (the `wgan` plugin).
struct Config {
    label: &'static str,
    model: Model,
    shape: &'static [usize],
    set: &'static [&'static str],
    loss: fn() -> Box<dyn GanLoss>,
    gp: Option<f64>,
    weight_clip: f64,
}

const TOY: &[usize] = &[2];
const IMAGE: &[usize] = &[1, 28, 28];

fn ns() -> Box<dyn GanLoss> {
    Box::new(loss::NonSaturating)
}
fn hinge() -> Box<dyn GanLoss> {
    Box::new(loss::Hinge)
}
fn wasserstein() -> Box<dyn GanLoss> {
    Box::new(loss::Wasserstein)
}

fn toy(label: &'static str, set: &'static [&'static str]) -> Config {
    Config {
        label,
        model: Model::Gan,
        shape: TOY,
        set,
        loss: ns,
        gp: None,
        weight_clip: 0.0,
    }
}

fn configs() -> Vec<Config> {
    const DC: [&str; 5] = [
        "arch=Dcgan",
        "channels=16",
        "batch_size=64",
        "latent_dim=32",
        "spectral_norm=true",
    ];
    macro_rules! image {
        ($label:expr, $($extra:expr),*) => {
            Config {
                label: $label,
                model: Model::Gan,
                shape: IMAGE,
                set: &[DC[0], DC[1], DC[2], DC[3], DC[4], $($extra),*],
                loss: hinge,
                gp: None,
                weight_clip: 0.0,
            }
        };
    }
    vec![
        toy("GAN (baseline)", &[]),
        toy("SGD", &["optimizer=sgd", "lr_g=0.1", "lr_d=0.1"]),
        toy(
            "SGD-Nesterov",
            &["optimizer=sgd", "sgd_momentum=0.9", "sgd_nesterov=true"],
        ),
        toy("RMSProp", &["optimizer=rmsprop"]),
        toy(
            "clip grad norm",
            &["clip_grad_norm_d=2.5", "clip_grad_norm_g=12"],
        ),
        toy(
            "lr cosine + warm-up",
            &[
                "lr_schedule=cosine",
                "lr_warmup_steps=100",
                "lr_decay_steps=2000",
            ],
        ),
        Config {
            loss: hinge,
            ..toy("hinge", &[])
        },
        Config {
            loss: wasserstein,
            weight_clip: 0.01,
            ..toy(
                "WGAN (clipping)",
                &["optimizer=rmsprop", "batch_size=64", "n_critic=5"],
            )
        },
        Config {
            loss: wasserstein,
            gp: Some(0.1),
            ..toy("WGAN-GP", &["n_critic=5", "beta2=0.9"])
        },
        toy("label smoothing", &["label_smoothing=0.1"]),
        Config {
            loss: hinge,
            ..toy("SN-GAN", &["spectral_norm=true"])
        },
        toy("R1", &["r1_gamma=10"]),
        toy("R1 lazy", &["r1_gamma=10", "lazy_interval=16"]),
        toy("R2", &["r2_gamma=10"]),
        toy("DRAGAN", &["dragan_lambda=10"]),
        toy(
            "instance noise",
            &["instance_noise=0.1", "instance_noise_steps=2000"],
        ),
        toy("PacGAN2", &["pac=2"]),
        toy("minibatch std", &["minibatch_std=4"]),
        toy("EMA", &["ema_decay=0.999"]),
        Config {
            model: Model::Vae,
            ..toy("VAE", &[])
        },
        Config {
            model: Model::VaeGan,
            ..toy("VAE-GAN", &[])
        },
        image!("DCGAN SN-GAN (image baseline)",),
        image!("DiffAugment", "diffaugment=color,translation,cutout"),
        image!("bCR", "bcr_real=10", "bcr_fake=10"),
        image!("R1 (images)", "r1_gamma=10"),
        image!("PacGAN2 (images)", "pac=2"),
        image!("EMA (images)", "ema_decay=0.999"),
    ]
}

fn trainer(c: &Config) -> Box<dyn Trainer> {
    let specs = match c.model {
        Model::Gan => {
            let mut specs = gan::param_specs(&GanDefaults::default());
            specs.push(gan::spectral_norm_spec(false));
            specs
        }
        Model::Vae => vae::param_specs(),
        Model::VaeGan => vae_gan::param_specs(),
    };
    let set: Vec<String> = c.set.iter().map(|s| s.to_string()).collect();
    let given = Params::parse_assignments("bench", &specs, &set).unwrap();
    let params = Params::resolve("bench", &specs, &given).unwrap();
    let trial = TrialConfig {
        params: params.clone(),
        seed: 0,
        device: ganbench_sdk::plugin_api::Device::Cpu,
        data_shape: c.shape.to_vec(),
    };
    match c.model {
        Model::Gan => {}
        Model::Vae => return Box::new(VaeTrainer::from_trial(&trial).unwrap()),
        Model::VaeGan => return Box::new(VaeGanTrainer::from_trial(&trial).unwrap()),
    }
    let mut config = GanConfig::from_params(&params, c.shape).unwrap();
    config.fixes.weight_clip = c.weight_clip;
    let reg =
        c.gp.map(|lambda| Box::new(GradientPenalty { lambda }) as Box<dyn Regularizer>);
    Box::new(GanTrainer::from_config(config, 0, &Device::Cpu, (c.loss)(), reg).unwrap())
}

/// A batch's values and shape, as [`Batch`] borrows them.
type BatchData = (Vec<f32>, Vec<usize>);

/// A fixed batch of `rows_per_step` rows of `shape`, uniform in [-1, 1).
fn batch_data(t: &dyn Trainer, shape: &[usize]) -> BatchData {
    let mut dims = vec![t.rows_per_step()];
    dims.extend(shape);
    let n = dims.iter().product();
    (SeededRng::new(1).uniform_vec(n, -1.0, 1.0), dims)
}

/// Median wall milliseconds per step over `steps` steps.
fn time(t: &mut dyn Trainer, data: &(Vec<f32>, Vec<usize>), steps: usize) -> f64 {
    let batch = Batch {
        data: &data.0,
        shape: &data.1,
    };
    let mut ms: Vec<f64> = (0..steps)
        .map(|_| {
            let start = Instant::now();
            t.train_step(batch).unwrap();
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    ms.sort_by(f64::total_cmp);
    ms[ms.len() / 2]
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    // The penalties' double backward (the ganbench binary sets this at startup).
    std::env::set_var("CANDLE_GRAD_DO_NOT_DETACH", "1");
    let env = |name: &str, default: usize| {
        std::env::var(name)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(default)
    };
    let (rounds, steps) = (env("ROUNDS", 5), env("STEPS", 20));
    let configs = configs();
    let mut trainers: Vec<(Box<dyn Trainer>, BatchData)> = configs
        .iter()
        .map(|c| {
            let mut t = trainer(c);
            let data = batch_data(t.as_ref(), c.shape);
            time(t.as_mut(), &data, 3); // warm-up
            (t, data)
        })
        .collect();
    // Per round, every configuration's median step.
    let mut ms = vec![Vec::with_capacity(rounds); configs.len()];
    for _ in 0..rounds {
        for (i, (t, data)) in trainers.iter_mut().enumerate() {
            ms[i].push(time(t.as_mut(), data, steps));
        }
    }
    println!(
        "threads {}, {rounds} rounds of {steps} steps; ratio = median over rounds of ms / baseline ms",
        std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "all".into())
    );
    let mut baseline = 0;
    for (i, c) in configs.iter().enumerate() {
        if c.label.contains("baseline") {
            baseline = i;
        }
        let ratios: Vec<f64> = ms[i]
            .iter()
            .zip(&ms[baseline])
            .map(|(a, b)| a / b)
            .collect();
        let (lo, hi) = ratios
            .iter()
            .fold((f64::MAX, f64::MIN), |(l, h), r| (l.min(*r), h.max(*r)));
        println!(
            "{:<32} {:>8.2} ms/step  {:>5.2}× (rounds {lo:.2}–{hi:.2}×)",
            c.label,
            median(ms[i].clone()),
            median(ratios)
        );
    }
}
