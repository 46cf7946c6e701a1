//! ms per full training iteration of ganbench's own plugins on the CPU: the candle side of
//! `bench/compare-pytorch.sh`, whose PyTorch twin is `bench/pytorch_iteration.py`.
//!
//! Each model is a built-in plugin driven through its C declaration, as the host drives it, one
//! `train_step` per iteration (one discriminator and one generator update; one update for the
//! VAE) on a fixed batch:
//!
//! - `toy`: the `gan` plugin's MLPs (defaults: hidden 256 × 2, latent 8), batch 512;
//! - `wgan-gp`: the `wgan-gp` plugin with its gradient penalty, batch 512, `n_critic = 1` so that
//!   an iteration is one critic and one generator update, as for the others;
//! - `dcgan`: the `gan` plugin with `arch = Dcgan` on 1×28×28 images, 64 channels, latent 100,
//!   batch 64;
//! - `vae`: the `vae` plugin (defaults: hidden 256 × 2, latent 2), batch 512.
//!
//! Prints one row per model: the median, 10th and 90th percentile of the timed iterations.

use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Parser;
use ganbench_sdk::plugin_api::{Batch, PluginDeclaration, Registry, TrialConfig};
use ganbench_sdk::SeededRng;

#[derive(Parser)]
#[command(about = "ms per training iteration of ganbench's plugins (candle, CPU)")]
struct Args {
    /// CPU threads (candle's and rayon's pools).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Untimed iterations first.
    #[arg(long, default_value_t = 10)]
    warmup: usize,
    /// Timed iterations.
    #[arg(long, default_value_t = 50)]
    iters: usize,
    /// Models to run (default: all): toy, wgan-gp, dcgan, vae.
    #[arg(long, num_args = 0..)]
    only: Vec<String>,
}

/// One benchmarked configuration.
struct Model {
    name: &'static str,
    plugin: &'static PluginDeclaration,
    params: &'static [&'static str],
    data_shape: &'static [usize],
    batch: usize,
}

fn models() -> Vec<Model> {
    vec![
        Model {
            name: "toy",
            plugin: ganbench_gan::declaration(),
            params: &["batch_size=512"],
            data_shape: &[2],
            batch: 512,
        },
        Model {
            name: "wgan-gp",
            plugin: ganbench_wgan_gp::declaration(),
            params: &["batch_size=512", "n_critic=1"],
            data_shape: &[2],
            batch: 512,
        },
        Model {
            name: "dcgan",
            plugin: ganbench_gan::declaration(),
            params: &[
                "arch=Dcgan",
                "channels=64",
                "latent_dim=100",
                "batch_size=64",
            ],
            data_shape: &[1, 28, 28],
            batch: 64,
        },
        Model {
            name: "vae",
            plugin: ganbench_vae::declaration(),
            params: &["batch_size=512"],
            data_shape: &[2],
            batch: 512,
        },
    ]
}

/// Fixed data: toy rows on the ring of 8 (radius 2, σ 0.02), images uniform in [-1, 1].
fn data(shape: &[usize], rows: usize, rng: &mut SeededRng) -> Vec<f32> {
    if shape == [2] {
        let modes = rng.uniform_vec(rows, 0.0, 8.0);
        let noise = rng.normal_vec(2 * rows);
        modes
            .iter()
            .enumerate()
            .flat_map(|(i, m)| {
                let a = std::f32::consts::TAU * m.floor() / 8.0;
                [
                    2.0 * a.cos() + 0.02 * noise[2 * i],
                    2.0 * a.sin() + 0.02 * noise[2 * i + 1],
                ]
            })
            .collect()
    } else {
        rng.uniform_vec(rows * shape.iter().product::<usize>(), -1.0, 1.0)
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

fn run(model: &Model, args: &Args) -> Result<Vec<f64>> {
    let mut registry = Registry::new(ganbench_sdk::BUILD_ID);
    registry.add_builtin(model.plugin)?;
    let name = registry.names().pop().context("one registered plugin")?;
    let plugin = registry.get(&name)?;
    let set: Vec<String> = model.params.iter().map(|s| s.to_string()).collect();
    let config = TrialConfig {
        params: plugin.params_from_assignments(&set)?,
        seed: 0,
        device: ganbench_sdk::plugin_api::Device::Cpu,
        data_shape: model.data_shape.to_vec(),
    };
    let mut trainer = plugin
        .create(&config)
        .with_context(|| format!("creating the {} trainer", model.name))?;
    let rows = trainer.rows_per_step();
    if rows != model.batch {
        bail!(
            "{}: {rows} rows per step, expected {}",
            model.name,
            model.batch
        );
    }
    let mut shape = vec![rows];
    shape.extend(model.data_shape);
    let data = data(model.data_shape, rows, &mut SeededRng::new(1));
    let mut times = Vec::with_capacity(args.iters);
    for i in 0..args.warmup + args.iters {
        let start = Instant::now();
        trainer.train_step(Batch {
            data: &data,
            shape: &shape,
        })?;
        if i >= args.warmup {
            times.push(start.elapsed().as_secs_f64() * 1e3);
        }
    }
    Ok(times)
}

fn main() -> Result<()> {
    let args = Args::parse();
    // Before candle's or rayon's first use; WGAN-GP's double backward needs the last one before
    // the first backward pass.
    std::env::set_var("RAYON_NUM_THREADS", args.threads.to_string());
    std::env::set_var("CANDLE_NUM_THREADS", args.threads.to_string());
    std::env::set_var(ganbench_sdk::gp::DOUBLE_BACKWARD_ENV, "1");
    if args.iters == 0 {
        bail!("--iters must be at least 1");
    }
    println!(
        "candle {}, {} thread(s), median of {} iterations after {} warm-up",
        ganbench_sdk::CANDLE_VERSION,
        args.threads,
        args.iters,
        args.warmup
    );
    println!(
        "{:<10} {:>6} {:>10} {:>9} {:>9}",
        "model", "batch", "median ms", "p10 ms", "p90 ms"
    );
    for model in &models() {
        if !args.only.is_empty() && !args.only.iter().any(|n| n == model.name) {
            continue;
        }
        let mut times = run(model, &args)?;
        times.sort_by(f64::total_cmp);
        println!(
            "{:<10} {:>6} {:>10.2} {:>9.2} {:>9.2}",
            model.name,
            model.batch,
            percentile(&times, 0.5),
            percentile(&times, 0.1),
            percentile(&times, 0.9)
        );
    }
    Ok(())
}
