//! Shared test helpers: toy data and trainer construction from parameter overrides.
#![allow(dead_code)]

use std::collections::BTreeMap;

use ganbench_sdk::plugin_api::{ParamSpec, ParamValue, Params, TrialConfig};
use ganbench_sdk::SeededRng;

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
    let given: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    let parsed: BTreeMap<String, ParamValue> =
        Params::parse_assignments("test", specs, &given).unwrap();
    TrialConfig {
        params: Params::resolve("test", specs, &parsed).unwrap(),
        seed,
        device: "cpu".into(),
        data_shape: vec![2],
    }
}
