//! Milliseconds per training step of every GAN/VAE variant with `arch = Dcgan` on 1×28×28
//! batches, against the MLP `gan` step on the same data as a baseline in the same run.
//!
//! `cargo bench -p ganbench-sdk --bench dcgan_step -- [channels…]` (default 32); set
//! `RAYON_NUM_THREADS=1` to match ganbench's one thread per trial. `STEPS` (default 10) timed
//! steps follow 2 warm-up steps; the median wall time is printed, and the mean CPU time of the
//! process (all threads), which a loaded machine does not inflate. A plain `main`: numbers, no
//! assertions.

use std::time::Instant;

use candle_core::Device;
use ganbench_sdk::gan::{self, GanConfig, GanDefaults, Regularizer};
use ganbench_sdk::loss::{self, GanLoss};
use ganbench_sdk::plugin_api::{Batch, ParamSpec, Params, Trainer};
use ganbench_sdk::{vae, GanTrainer, GradientPenalty, SeededRng, VaeTrainer};

const SHAPE: [usize; 3] = [1, 28, 28];

fn params(specs: &[ParamSpec], set: &[String]) -> Params {
    let given = Params::parse_assignments("bench", specs, set).unwrap();
    Params::resolve("bench", specs, &given).unwrap()
}

fn gan_trainer(
    defaults: &GanDefaults,
    set: &[String],
    loss: Box<dyn GanLoss>,
    reg: Option<Box<dyn Regularizer>>,
    spectral_norm: bool,
) -> Box<dyn Trainer> {
    let mut specs = gan::param_specs(defaults);
    specs.push(gan::spectral_norm_spec(spectral_norm));
    let p = params(&specs, set);
    let mut config = GanConfig::from_params(&p, &SHAPE).unwrap();
    if reg.is_some() {
        config = config.without_critic_batch_norm();
    }
    Box::new(GanTrainer::from_config(config, 0, &Device::Cpu, loss, reg).unwrap())
}

/// This process's CPU time (all threads, user + system) in milliseconds, from /proc/self/stat
/// (10 ms resolution; `None` where there is no /proc). On a loaded machine wall time overstates
/// the cost of a step; CPU time does not.
fn cpu_ms() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesized command name; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks * 10.0) // USER_HZ is 100 on Linux
}

/// (median wall milliseconds, mean CPU milliseconds) per step over `steps` steps after 2 warm-up
/// steps.
fn time(t: &mut dyn Trainer, steps: usize) -> (f64, Option<f64>) {
    let rows = t.rows_per_step();
    let mut rng = SeededRng::new(1);
    let data = rng.uniform_vec(rows * SHAPE.iter().product::<usize>(), -1.0, 1.0);
    let batch = Batch {
        data: &data,
        shape: &[rows, SHAPE[0], SHAPE[1], SHAPE[2]],
    };
    for _ in 0..2 {
        t.train_step(batch).unwrap();
    }
    let cpu_start = cpu_ms();
    let mut ms: Vec<f64> = (0..steps)
        .map(|_| {
            let start = Instant::now();
            t.train_step(batch).unwrap();
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    let cpu = cpu_ms()
        .zip(cpu_start)
        .map(|(end, start)| (end - start) / steps as f64);
    ms.sort_by(f64::total_cmp);
    (ms[ms.len() / 2], cpu)
}

fn main() {
    // WGAN-GP's double backward (the ganbench binary sets this at startup).
    std::env::set_var("CANDLE_GRAD_DO_NOT_DETACH", "1");
    let steps: usize = std::env::var("STEPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let mut channels: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    if channels.is_empty() {
        channels.push(32);
    }
    let batch = 64;
    let wgan = GanDefaults {
        lr_g: 1e-4,
        lr_d: 1e-4,
        beta2: 0.9,
        n_critic: 5,
        ..GanDefaults::default()
    };
    let base = |extra: &[&str]| -> Vec<String> {
        let mut v = vec![format!("batch_size={batch}"), "latent_dim=64".to_string()];
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let mut mlp = gan_trainer(
        &GanDefaults::default(),
        &base(&[]),
        Box::new(loss::NonSaturating),
        None,
        false,
    );
    let (mlp_ms, mlp_cpu) = time(mlp.as_mut(), steps);
    let cpu_text = |cpu: Option<f64>| cpu.map(|c| format!("{c:.0} ms CPU")).unwrap_or_default();
    println!(
        "threads {}, batch {batch}, 1×28×28, median of {steps} steps",
        std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "all".into())
    );
    println!(
        "baseline gan, arch=Mlp (256×2): {mlp_ms:.1} ms/step, {}",
        cpu_text(mlp_cpu)
    );
    for c in channels {
        let ch = format!("channels={c}");
        let dc = base(&["arch=Dcgan", &ch]);
        let dc1 = base(&["arch=Dcgan", &ch, "n_critic=1"]);
        let mut variants: Vec<(String, Box<dyn Trainer>)> = vec![
            (
                "gan (ns, batch norm)".into(),
                gan_trainer(
                    &GanDefaults::default(),
                    &dc,
                    Box::new(loss::NonSaturating),
                    None,
                    false,
                ),
            ),
            (
                "lsgan (batch norm)".into(),
                gan_trainer(
                    &GanDefaults::default(),
                    &dc,
                    Box::new(loss::LeastSquares::default()),
                    None,
                    false,
                ),
            ),
            (
                "sngan (hinge, spectral norm)".into(),
                gan_trainer(
                    &GanDefaults::default(),
                    &dc,
                    Box::new(loss::Hinge),
                    None,
                    true,
                ),
            ),
            (
                "wgan-gp (n_critic 5)".into(),
                gan_trainer(
                    &wgan,
                    &dc,
                    Box::new(loss::Wasserstein),
                    Some(Box::new(GradientPenalty { lambda: 10.0 })),
                    false,
                ),
            ),
            (
                "wgan-gp (n_critic 1)".into(),
                gan_trainer(
                    &wgan,
                    &dc1,
                    Box::new(loss::Wasserstein),
                    Some(Box::new(GradientPenalty { lambda: 10.0 })),
                    false,
                ),
            ),
        ];
        let vae_specs = vae::param_specs();
        let p = params(&vae_specs, &base(&["arch=Dcgan", &ch]));
        let vcfg = vae::VaeConfig::from_params(&p, &SHAPE).unwrap();
        variants.push((
            "vae (conv)".into(),
            Box::new(VaeTrainer::new(vcfg, 0, &Device::Cpu).unwrap()),
        ));
        for (name, mut t) in variants {
            let (ms, cpu) = time(t.as_mut(), steps);
            println!(
                "channels {c:>3}  {name:<30} {ms:>8.1} ms/step  ({:.1}× the MLP step), {}",
                ms / mlp_ms,
                cpu_text(cpu)
            );
        }
    }
}
