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
use crate::limits::MAX_TIMEOUT_SECS;
use crate::primary::Primary;

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
    /// Wall-time limit of one trial's worker process: a trial still training after it is ended
    /// as failed ("timed out") and the sweep goes on. Absent: no limit. Not part of
    /// [`Sweep::spec_hash`]: raising it and running again (`--retry-failed`) continues the sweep.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Timeout>,
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
    /// The metric the report ranks the variants by; absent: modes captured on toy data (ties
    /// broken by the high-quality share), FID on image data. It changes no trial, so it is not
    /// part of [`Sweep::spec_hash`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary: Option<Primary>,
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
    /// How many seeds there are, without listing them (`seeds: 1000000000` is a count).
    pub fn len(&self) -> u64 {
        match self {
            Seeds::Count(n) => *n,
            Seeds::List(list) => list.len() as u64,
        }
    }

    /// True when there are no seeds (no trial would run).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The seeds, in order. Check [`Seeds::len`] first: a count is not bounded until the sweep
    /// is validated.
    pub fn to_vec(&self) -> Vec<u64> {
        match self {
            Seeds::Count(n) => (0..*n).collect(),
            Seeds::List(list) => list.clone(),
        }
    }
}

/// Where trials run: the plugin boundary's own type, written `Cpu` or `Cuda(1)` in a sweep file.
pub use ganbench_plugin_api::Device;

/// A wall-time limit, written as whole seconds (`timeout: 5400`) or as a string of numbers with
/// units `d`, `h`, `m`, `s` (`timeout: "1h30m"`); from 1 second to [`MAX_TIMEOUT_SECS`].
/// Serialized as seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeout {
    /// The limit in seconds, 1 to [`MAX_TIMEOUT_SECS`].
    pub seconds: u64,
}

impl Timeout {
    /// The limit as a [`Duration`](std::time::Duration).
    pub fn duration(self) -> std::time::Duration {
        std::time::Duration::from_secs(self.seconds)
    }

    /// Parses `"90"`, `"90s"`, `"30m"`, `"1h30m"`, `"2d"`; checks the range.
    pub fn parse(text: &str) -> Result<Timeout, String> {
        let bad = || {
            format!(
                "`{}` is not a duration; write seconds (`5400`) or numbers with units d, h, m, s \
                 (`\"1h30m\"`)",
                text.escape_debug()
            )
        };
        let text = text.trim();
        if text.is_empty() || text.len() > 32 {
            return Err(bad());
        }
        let mut seconds: u64 = 0;
        let mut number = String::new();
        for c in text.chars() {
            if c.is_ascii_digit() {
                number.push(c);
                continue;
            }
            let unit = match c {
                'd' => 86_400,
                'h' => 3_600,
                'm' => 60,
                's' => 1,
                _ => return Err(bad()),
            };
            let n: u64 = number.parse().map_err(|_| bad())?;
            number.clear();
            seconds = n
                .checked_mul(unit)
                .and_then(|x| seconds.checked_add(x))
                .ok_or_else(bad)?;
        }
        if !number.is_empty() {
            let n: u64 = number.parse().map_err(|_| bad())?;
            seconds = seconds.checked_add(n).ok_or_else(bad)?;
        }
        Timeout::seconds(seconds)
    }

    /// A limit of `seconds`, checked against the range.
    pub fn seconds(seconds: u64) -> Result<Timeout, String> {
        if (1..=MAX_TIMEOUT_SECS).contains(&seconds) {
            Ok(Timeout { seconds })
        } else {
            Err(format!(
                "a timeout of {seconds} s is out of range: from 1 s to {MAX_TIMEOUT_SECS} s (30 days)"
            ))
        }
    }
}

impl fmt::Display for Timeout {
    /// `1h30m`, `45s`: the largest units first.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.seconds;
        for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
            if rest >= size {
                write!(f, "{}{unit}", rest / size)?;
                rest %= size;
            }
        }
        Ok(())
    }
}

impl Serialize for Timeout {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.seconds)
    }
}

impl<'de> Deserialize<'de> for Timeout {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Timeout;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(TIMEOUT_EXPECTING)
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Timeout, E> {
                Timeout::seconds(v).map_err(bad_timeout)
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Timeout, E> {
                Timeout::seconds(u64::try_from(v).unwrap_or(0)).map_err(bad_timeout)
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Timeout, E> {
                Timeout::parse(v).map_err(bad_timeout)
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// Prefix of a `timeout` value's errors, so that the parse-error mapping can place them (serde's
/// custom errors carry only text).
pub(crate) const BAD_TIMEOUT: &str = "invalid timeout: ";

fn bad_timeout<E: serde::de::Error>(message: String) -> E {
    E::custom(format!("{BAD_TIMEOUT}{message}"))
}

/// What a `timeout` must look like, for type errors.
pub(crate) const TIMEOUT_EXPECTING: &str =
    "a timeout in seconds (`5400`) or with units (`\"1h30m\"`, `\"45m\"`, `\"2d\"`)";
