//! [`SeededRng`]: the seeded, serializable generator behind every random number in a plugin.
//!
//! candle's CPU generator cannot be seeded (`Device::set_seed` fails on CPU, and `Tensor::randn`
//! and candle-nn's initializers draw from it), so plugins never use them: weights, latent noise and
//! interpolation factors all come from a `SeededRng` whose state goes into the checkpoint.

use candle_core::{Device, Result, Shape, Tensor};
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

/// Stream numbers that keep a trainer's random numbers independent of each other: the generator's
/// initial weights do not change when the discriminator's architecture does, and sampling or
/// evaluating never shifts the training noise.
pub mod stream {
    /// Generator (or VAE decoder) initialization.
    pub const G_INIT: u64 = 1;
    /// Discriminator (or VAE encoder) initialization.
    pub const D_INIT: u64 = 2;
    /// Training noise: latents, GP interpolation factors, reparameterization noise.
    pub const TRAIN: u64 = 3;
    /// Latents of [`Trainer::sample`](crate::plugin_api::Trainer::sample), seeded by its `seed`.
    pub const SAMPLE: u64 = 4;
    /// Noise of [`Trainer::evaluate`](crate::plugin_api::Trainer::evaluate).
    pub const EVAL: u64 = 5;
    /// The stability fixes' noise (DiffAugment, instance noise, DRAGAN and bCR draws), apart
    /// from the training latents so that turning a fix on leaves those unchanged.
    pub const FIXES: u64 = 6;
    /// A VAE-GAN's encoder initialization (its decoder and discriminator use [`G_INIT`] and
    /// [`D_INIT`]).
    pub const ENCODER_INIT: u64 = 7;
}

/// A ChaCha8 generator with serializable state (seed, stream and position), producing f32 tensors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeededRng {
    inner: ChaCha8Rng,
}

impl SeededRng {
    /// The generator for `seed` (stream 0).
    pub fn new(seed: u64) -> Self {
        Self::with_stream(seed, 0)
    }

    /// The generator for `seed` on an independent `stream` (see [`stream`]).
    pub fn with_stream(seed: u64, stream: u64) -> Self {
        let mut inner = ChaCha8Rng::seed_from_u64(seed);
        inner.set_stream(stream);
        Self { inner }
    }

    /// `n` draws from N(0, 1).
    pub fn normal_vec(&mut self, n: usize) -> Vec<f32> {
        (0..n)
            .map(|_| StandardNormal.sample(&mut self.inner))
            .collect()
    }

    /// `n` draws from U[lo, hi), computed in f64 and rounded to f32.
    pub fn uniform_vec(&mut self, n: usize, lo: f64, hi: f64) -> Vec<f32> {
        (0..n)
            .map(|_| (lo + (hi - lo) * self.inner.random::<f64>()) as f32)
            .collect()
    }

    /// An f32 tensor of N(0, 1) draws, filled in row-major order.
    pub fn normal<S: Into<Shape>>(&mut self, shape: S, device: &Device) -> Result<Tensor> {
        let shape = shape.into();
        Tensor::from_vec(self.normal_vec(shape.elem_count()), shape, device)
    }

    /// An f32 tensor of U[lo, hi) draws, filled in row-major order.
    pub fn uniform<S: Into<Shape>>(
        &mut self,
        shape: S,
        lo: f64,
        hi: f64,
        device: &Device,
    ) -> Result<Tensor> {
        let shape = shape.into();
        Tensor::from_vec(self.uniform_vec(shape.elem_count(), lo, hi), shape, device)
    }
}

/// So the generator also works with `rand`'s API (shuffles, distributions).
impl RngCore for SeededRng {
    fn next_u32(&mut self) -> u32 {
        self.inner.next_u32()
    }

    fn next_u64(&mut self) -> u64 {
        self.inner.next_u64()
    }

    fn fill_bytes(&mut self, dst: &mut [u8]) {
        self.inner.fill_bytes(dst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_numbers_and_state_round_trips() {
        let mut a = SeededRng::new(7);
        let mut b = SeededRng::new(7);
        assert_eq!(a.normal_vec(5), b.normal_vec(5));
        let json = serde_json::to_string(&a).unwrap();
        let mut c: SeededRng = serde_json::from_str(&json).unwrap();
        assert_eq!(a.uniform_vec(9, -1.0, 1.0), c.uniform_vec(9, -1.0, 1.0));
        assert_ne!(
            SeededRng::new(8).normal_vec(5),
            SeededRng::new(7).normal_vec(5)
        );
        assert_ne!(
            SeededRng::with_stream(7, 1).normal_vec(5),
            SeededRng::new(7).normal_vec(5)
        );
    }

    #[test]
    fn moments_are_plausible() {
        let mut r = SeededRng::new(1);
        let n = 20_000;
        let x = r.normal_vec(n);
        let mean = x.iter().map(|&v| v as f64).sum::<f64>() / n as f64;
        let var = x.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n as f64;
        assert!(
            mean.abs() < 0.03 && (var - 1.0).abs() < 0.05,
            "{mean} {var}"
        );
        let u = r.uniform_vec(n, -2.0, 3.0);
        assert!(u.iter().all(|&v| (-2.0..3.0).contains(&v)));
        let mean = u.iter().map(|&v| v as f64).sum::<f64>() / n as f64;
        assert!((mean - 0.5).abs() < 0.05, "{mean}");
    }
}
