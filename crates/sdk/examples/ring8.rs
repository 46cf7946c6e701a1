//! Trains a plugin library on the toy `ring8` mixture and prints mode coverage and ms per step:
//! a quick check of a plugin's defaults and speed, through the same C ABI the host uses.
//!
//! ```text
//! cargo build --release -p ganbench-gan          # or any plugin
//! cargo run --release -p ganbench-sdk --example ring8 -- target/release gan 3000 [key=value…]
//! ```

use std::time::Instant;

use ganbench_sdk::plugin_api::{Batch, Registry, TrialConfig};
use ganbench_sdk::SeededRng;

const RADIUS: f64 = 2.0;
const STD: f64 = 0.02;

fn ring8(rng: &mut SeededRng, rows: usize) -> Vec<f32> {
    let noise = rng.normal_vec(2 * rows);
    let modes = rng.uniform_vec(rows, 0.0, 8.0);
    let mut out = Vec::with_capacity(2 * rows);
    for (i, m) in modes.iter().enumerate() {
        let a = std::f64::consts::TAU * m.floor() as f64 / 8.0;
        out.push((RADIUS * a.cos() + STD * noise[2 * i] as f64) as f32);
        out.push((RADIUS * a.sin() + STD * noise[2 * i + 1] as f64) as f32);
    }
    out
}

/// (modes captured, fraction of high-quality samples, reverse KL to uniform over modes).
fn mode_metrics(samples: &[f32]) -> (usize, f64, f64) {
    let n = samples.len() / 2;
    let mut counts = [0usize; 8];
    let mut good = 0;
    for p in samples.chunks(2) {
        let (best, d) = (0..8)
            .map(|k| {
                let a = std::f64::consts::TAU * k as f64 / 8.0;
                (
                    k,
                    ((p[0] as f64 - RADIUS * a.cos()).powi(2)
                        + (p[1] as f64 - RADIUS * a.sin()).powi(2))
                    .sqrt(),
                )
            })
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap();
        if d <= 3.0 * STD {
            good += 1;
            counts[best] += 1;
        }
    }
    let kl = counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / good as f64;
            p * (p * 8.0).ln()
        })
        .sum();
    (
        counts.iter().filter(|&&c| c > 0).count(),
        good as f64 / n as f64,
        kl,
    )
}

fn main() {
    // Second-order gradients (WGAN-GP) need this before any backward pass, in the plugin too.
    std::env::set_var("CANDLE_GRAD_DO_NOT_DETACH", "1");
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dir, name, steps, overrides @ ..] = args.as_slice() else {
        eprintln!("usage: ring8 <plugin-dir> <plugin> <steps> [key=value…]");
        std::process::exit(2);
    };
    let steps: usize = steps.parse().expect("steps");
    let mut reg = Registry::new(ganbench_sdk::BUILD_ID);
    reg.add_path(dir.as_ref()).expect("plugin directory");
    for s in reg.skipped() {
        eprintln!("skipped: {s}");
    }
    let plugin = reg.get(name).expect("plugin");
    let params = plugin
        .params_from_assignments(overrides)
        .expect("parameters");
    let config = TrialConfig {
        params,
        seed: 0,
        device: ganbench_sdk::plugin_api::Device::Cpu,
        data_shape: vec![2],
    };
    let mut t = plugin.create(&config).expect("create");
    println!("{}: {}", name, t.describe().unwrap().architecture);
    let rows = t.rows_per_step();
    let mut data = SeededRng::new(1);
    let every = (steps / 6).max(1);
    let mut train_time = 0.0;
    for step in 1..=steps {
        let x = ring8(&mut data, rows);
        let start = Instant::now();
        let m = t
            .train_step(Batch {
                data: &x,
                shape: &[rows, 2],
            })
            .expect("train_step");
        train_time += start.elapsed().as_secs_f64();
        if step % every == 0 || step == steps {
            let s = t.sample(2500, 0).unwrap();
            let (modes, hq, kl) = mode_metrics(&s.data);
            let radii: Vec<f64> = s
                .data
                .chunks(2)
                .map(|p| (p[0] as f64).hypot(p[1] as f64))
                .collect();
            let near_ring = radii.iter().filter(|r| (*r - RADIUS).abs() < 0.25).count() as f64
                / radii.len() as f64;
            let m: Vec<String> = m.iter().map(|(k, v)| format!("{k} {v:.3}")).collect();
            println!(
                "step {step:5}: modes {modes}/8, high quality {:5.1}%, reverse KL {kl:.3}, near ring {:3.0}%, {:.1} ms/step | {}",
                hq * 100.0,
                near_ring * 100.0,
                1000.0 * train_time / step as f64,
                m.join(", ")
            );
        }
    }
}
