//! The sweep file's schema: plain serde structs, deserialized from RON with unknown fields refused.
//!
//! docs/sweeps.md documents every field with examples; keep the two in step.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use ganbench_plugin_api::ParamValue;
use serde::{Deserialize, Serialize};

pub use crate::data::DataSpec;
pub(crate) use crate::data::BAD_DATA;

/// Generated samples per evaluation when a sweep does not say: the PacGAN/VEEGAN protocol's 2500.
pub const DEFAULT_EVAL_SAMPLES: usize = 2500;

/// A parsed sweep file: what to train, on what data, for how long, over which seeds and parameters.
///
/// Built by [`Sweep::parse`] or [`Sweep::load`]; checked against the plugins by
/// [`Sweep::validate`] and turned into trials by [`Sweep::expand`]. `==` compares the [`Source`]
/// too; compare [`Sweep::spec_hash`] to ask whether two files say the same thing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sweep {
    /// The sweep's name: the report goes to `reports/<name>/`, and the store keys the sweep by it.
    pub name: String,
    /// The training data.
    pub data: DataSpec,
    /// Training steps per trial.
    pub steps: u64,
    /// Evaluate every this many steps (and always at the last step); 0: only at the end.
    pub eval_every: u64,
    /// Generated samples per evaluation.
    #[serde(default = "default_eval_samples")]
    pub eval_samples: usize,
    /// Checkpoint every this many steps; 0: never. Absent: see [`Sweep::checkpoint_every`].
    #[serde(default)]
    pub checkpoint_every: Option<u64>,
    /// The seeds every configuration is trained with.
    pub seeds: Seeds,
    /// Where trials run.
    #[serde(default)]
    pub device: Device,
    /// Parameters for every variant whose plugin declares them.
    #[serde(default)]
    pub base: BTreeMap<String, ParamValue>,
    /// The variants to compare; at least one.
    pub variants: Vec<Variant>,
    /// Grid axes for every variant whose plugin declares them: the trials are the cartesian product.
    #[serde(default)]
    pub grid: BTreeMap<String, Vec<ParamValue>>,
    /// A random search for every variant that has no search of its own.
    #[serde(default)]
    pub search: Option<Search>,
    /// Where the sweep was read from. Only used to point errors at `line:col`; not part of
    /// [`Sweep::spec_hash`].
    #[serde(skip)]
    pub source: Source,
}

fn default_eval_samples() -> usize {
    DEFAULT_EVAL_SAMPLES
}

impl Sweep {
    /// Steps between checkpoints: as written, or by default `eval_every`, so that a resumed run
    /// loses at most one evaluation interval and the checkpoints line up with the curves.
    pub fn checkpoint_every(&self) -> u64 {
        self.checkpoint_every.unwrap_or(self.eval_every)
    }
}

/// The file a sweep was parsed from: its path and full text.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Source {
    /// As given to [`Sweep::load`] or [`Sweep::parse`].
    pub path: PathBuf,
    /// The whole file, comments included (what the store keeps as `spec_text`).
    pub text: String,
}

/// One variant: a plugin with its own parameters, and optionally its own grid and search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variant {
    /// A registered plugin's name.
    pub plugin: String,
    /// The name in reports; default: the plugin name.
    #[serde(default)]
    pub label: Option<String>,
    /// Overrides of `base` (and of sweep-level grid and search axes) for this variant.
    #[serde(default)]
    pub params: BTreeMap<String, ParamValue>,
    /// Grid axes of this variant only; they override sweep-level axes of the same name.
    #[serde(default)]
    pub grid: BTreeMap<String, Vec<ParamValue>>,
    /// A random search of this variant only; it replaces the sweep-level search for this variant.
    #[serde(default)]
    pub search: Option<Search>,
}

impl Variant {
    /// The label, or the plugin name when there is none.
    pub fn label(&self) -> &str {
        self.label.as_deref().unwrap_or(&self.plugin)
    }
}

/// A random search: `trials` points drawn from `space`, reproducibly from `seed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Search {
    /// Distinct points to draw (per variant, per grid point).
    pub trials: usize,
    /// Seed of the search's own generator (not of training).
    #[serde(default)]
    pub seed: u64,
    /// One distribution per parameter.
    pub space: BTreeMap<String, Dist>,
}

/// A search distribution over one parameter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Dist {
    /// Uniform on [lo, hi].
    Uniform(f64, f64),
    /// Log-uniform on [lo, hi], 0 < lo < hi: for learning rates and other scales.
    LogUniform(f64, f64),
    /// A uniform integer in lo..=hi.
    Int(i64, i64),
    /// One of the listed values, uniformly.
    Choice(Vec<ParamValue>),
}

impl fmt::Display for Dist {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dist::Uniform(lo, hi) => write!(f, "Uniform({lo:?}, {hi:?})"),
            Dist::LogUniform(lo, hi) => write!(f, "LogUniform({lo:?}, {hi:?})"),
            Dist::Int(lo, hi) => write!(f, "Int({lo}, {hi})"),
            Dist::Choice(options) => {
                let options: Vec<String> = options.iter().map(ToString::to_string).collect();
                write!(f, "Choice([{}])", options.join(", "))
            }
        }
    }
}

/// Which seeds to train every configuration with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    untagged,
    expecting = "a seed count such as `3` (seeds 0, 1, 2) or a list of seeds such as `[1, 5, 9]`"
)]
pub enum Seeds {
    /// Seeds `0..n`.
    Count(u64),
    /// Exactly these seeds, in this order.
    List(Vec<u64>),
}

impl Seeds {
    /// The seeds, in order.
    pub fn to_vec(&self) -> Vec<u64> {
        match self {
            Seeds::Count(n) => (0..*n).collect(),
            Seeds::List(list) => list.clone(),
        }
    }
}

/// Where trials run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Device {
    /// The CPU (the default).
    #[default]
    Cpu,
    /// A CUDA device by index (needs the `cuda` cargo feature).
    Cuda(usize),
}

impl fmt::Display for Device {
    /// `cpu` or `cuda:N`, the form [`ganbench_plugin_api::TrialConfig::device`] takes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Device::Cpu => f.write_str("cpu"),
            Device::Cuda(i) => write!(f, "cuda:{i}"),
        }
    }
}
