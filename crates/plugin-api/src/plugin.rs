//! The plugin author's side: the traits a plugin implements, in plain Rust types.
//!
//! [`export_plugin!`](crate::export_plugin) turns an implementation of [`Plugin`] into the C
//! declaration that hosts read; nothing here mentions candle, so the boundary stays plain data.

use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::device::Device;
use crate::params::{ParamSpec, Params};

/// Everything a plugin needs to build one trial's trainer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrialConfig {
    /// Validated parameters, every declared one present.
    pub params: Params,
    /// The seed of everything random inside the plugin (weights, noise).
    pub seed: u64,
    /// Where to train; `"cpu"` or `"cuda:N"` in the JSON form plugins receive.
    #[serde(with = "crate::device::as_text")]
    pub device: Device,
    /// The shape of one data example: `[2]` for toy 2D data, `[C, H, W]` for images.
    pub data_shape: Vec<usize>,
}

/// A borrowed batch of examples: `data` is row-major with `shape[0]` rows.
#[derive(Debug, Clone, Copy)]
pub struct Batch<'a> {
    pub data: &'a [f32],
    pub shape: &'a [usize],
}

/// An owned f32 tensor in plain data: generated samples, reconstructions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Samples {
    pub data: Vec<f32>,
    pub shape: Vec<usize>,
}

/// Named scalar values from one step or evaluation, e.g. `("loss_d", 0.69)`.
pub type Metrics = Vec<(String, f64)>;

/// What a report shows about a trainer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Description {
    /// Number of trainable parameters, all networks together.
    pub parameters: u64,
    /// A short human-readable architecture summary.
    pub architecture: String,
}

/// An error raised inside a plugin; it crosses the boundary as its message.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginError(pub String);

impl PluginError {
    pub fn msg(message: impl fmt::Display) -> Self {
        Self(message.to_string())
    }
}

impl fmt::Display for PluginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

// Like anyhow: any error converts, so plugin code can use `?` on candle and io results.
// (PluginError itself is deliberately not `std::error::Error`, or this impl would overlap `From<T> for T`.)
impl<E: std::error::Error> From<E> for PluginError {
    fn from(e: E) -> Self {
        Self(e.to_string())
    }
}

pub type PluginResult<T> = Result<T, PluginError>;

/// A plugin: a named model/loss variant with declared parameters.
pub trait Plugin {
    /// Unique name used in sweeps and on the command line, e.g. `wgan-gp`.
    const NAME: &'static str;
    /// The plugin's own version, shown in listings and recorded with every run.
    const VERSION: &'static str;
    /// The parameters this plugin accepts.
    fn params() -> Vec<ParamSpec>;
    /// Builds a trainer for one trial. `config.params` has already been validated.
    fn create(config: &TrialConfig) -> PluginResult<Box<dyn Trainer>>;
}

/// One trial's training state, owned entirely by the plugin (model, optimizer, RNG, candle world).
pub trait Trainer {
    /// How many data rows one [`Trainer::train_step`] consumes (e.g. batch × n_critic).
    fn rows_per_step(&self) -> usize;
    /// One training step (one generator update and its critic updates); returns losses etc.
    fn train_step(&mut self, batch: Batch<'_>) -> PluginResult<Metrics>;
    /// `n` generated samples, reproducible for a given `seed` and model state.
    fn sample(&mut self, n: usize, seed: u64) -> PluginResult<Samples>;
    /// Optional metrics on held-out real data (a VAE's ELBO, reconstruction error).
    fn evaluate(&mut self, _batch: Batch<'_>) -> PluginResult<Metrics> {
        Ok(Vec::new())
    }
    /// Optional: the model's reconstructions of held-out real examples, in `batch`'s shape (a
    /// VAE's decoded posterior means); `None` for models that do not reconstruct. Reports show
    /// them beside the originals.
    fn reconstruct(&mut self, _batch: Batch<'_>) -> PluginResult<Option<Samples>> {
        Ok(None)
    }
    /// Optional: `n` samples from the generator's averaged weights (an exponential moving
    /// average, e.g. the SDK's `ema_decay`), with the latents [`Trainer::sample`] draws for the
    /// same `seed`; `None` for models that keep no average. The host evaluates them like
    /// [`Trainer::sample`]'s and logs the metrics with an `_ema` suffix.
    fn sample_averaged(&mut self, _n: usize, _seed: u64) -> PluginResult<Option<Samples>> {
        Ok(None)
    }
    /// Writes everything needed to continue training bit-for-bit into `dir` (which exists).
    fn save(&self, dir: &Path) -> PluginResult<()>;
    /// Restores what [`Trainer::save`] wrote.
    fn load(&mut self, dir: &Path) -> PluginResult<()>;
    fn describe(&self) -> Description;
}
