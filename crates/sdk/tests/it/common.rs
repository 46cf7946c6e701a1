//! Shared test helpers: toy data and trainer construction from parameter overrides.
#![allow(dead_code)]

use std::collections::BTreeMap;

use candle_core::{Device, Result, Tensor};
use ganbench_sdk::plugin_api::{ParamSpec, ParamValue, Params, TrialConfig};
use ganbench_sdk::{SeededRng, Vars};

/// `rows` points from the ring of 8 Gaussians (radius 2, σ 0.02), row-major `(rows, 2)`.
pub fn ring8(rng: &mut SeededRng, rows: usize) -> Vec<f32> {
    let noise = rng.normal_vec(2 * rows);
    let modes = rng.uniform_vec(rows, 0.0, 8.0);
    let mut out = Vec::with_capacity(2 * rows);
    for (i, m) in modes.iter().enumerate() {
        let angle = std::f64::consts::TAU * (m.floor() as f64) / 8.0;
        out.push((2.0 * angle.cos() + 0.02 * noise[2 * i] as f64) as f32);
        out.push((2.0 * angle.sin() + 0.02 * noise[2 * i + 1] as f64) as f32);
    }
    out
}

/// A trial config for `specs` with `overrides` (`name=value` as parsed by the host) and `seed`.
pub fn trial(specs: &[ParamSpec], overrides: &[&str], seed: u64) -> TrialConfig {
    image_trial(specs, overrides, seed, &[2])
}

/// [`trial`] for examples of `data_shape`.
pub fn image_trial(
    specs: &[ParamSpec],
    overrides: &[&str],
    seed: u64,
    data_shape: &[usize],
) -> TrialConfig {
    let given: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    let parsed: BTreeMap<String, ParamValue> =
        Params::parse_assignments("test", specs, &given).unwrap();
    TrialConfig {
        params: Params::resolve("test", specs, &parsed).unwrap(),
        seed,
        device: ganbench_sdk::plugin_api::Device::Cpu,
        data_shape: data_shape.to_vec(),
    }
}

/// max over the parameters in `vars` (f64) of ‖fd − analytic‖ / ‖analytic‖ for the gradient of
/// the scalar `penalty` (which must be a deterministic function of the parameters, e.g. a gradient
/// penalty with fixed interpolation factors), fd being central differences with step 1e-6.
pub fn fd_relative_error(vars: &Vars, penalty: &dyn Fn() -> Result<Tensor>) -> f64 {
    let p = penalty().unwrap();
    let grads = p.backward().unwrap();
    let h = 1e-6;
    let mut worst = 0f64;
    for (name, var) in vars.params() {
        // A piecewise-linear critic's input gradient does not depend on the biases (only through
        // the locally constant activation pattern): candle then has no gradient entry, i.e. zero.
        // (Likewise a bias followed by batch norm, which removes it.)
        let analytic = match grads.get(var.as_tensor()) {
            Some(g) => g.flatten_all().unwrap().to_vec1::<f64>().unwrap(),
            None => vec![0.0; var.elem_count()],
        };
        let base = var
            .as_tensor()
            .flatten_all()
            .unwrap()
            .to_vec1::<f64>()
            .unwrap();
        let shape = var.shape().clone();
        let mut fd = Vec::with_capacity(base.len());
        for i in 0..base.len() {
            let eval = |delta: f64| {
                let mut w = base.clone();
                w[i] += delta;
                var.set(&Tensor::from_vec(w, shape.clone(), &Device::Cpu).unwrap())
                    .unwrap();
                penalty().unwrap().to_scalar::<f64>().unwrap()
            };
            fd.push((eval(h) - eval(-h)) / (2.0 * h));
        }
        var.set(&Tensor::from_vec(base, shape, &Device::Cpu).unwrap())
            .unwrap();
        let diff = fd
            .iter()
            .zip(&analytic)
            .map(|(a, b)| (a - b).powi(2))
            .sum::<f64>()
            .sqrt();
        let norm = analytic.iter().map(|a| a * a).sum::<f64>().sqrt();
        if norm == 0.0 {
            let fd_max = fd.iter().fold(0f64, |m, x| m.max(x.abs()));
            eprintln!("{name}: no gradient; finite differences at most {fd_max:.1e}");
            assert!(
                fd_max < 1e-8,
                "{name}: finite differences {fd_max}, but no analytic gradient"
            );
            continue;
        }
        let rel = diff / norm;
        eprintln!("{name}: relative error {rel:.2e} (gradient norm {norm:.3e})");
        worst = worst.max(rel);
    }
    worst
}
