//! The conversation between a sweep and its worker subprocesses.
//!
//! Each trial trains in its own process, so a plugin that aborts or runs out of memory takes down
//! only its trial. The parent sends one [`WorkerTask`] as JSON on the worker's stdin; the worker
//! answers with one JSON [`WorkerMessage`] per line on stdout. The parent is the only writer to
//! the store, and it commits a worker's checkpoint only after the metrics before it are durable.

use std::fmt;
use std::path::PathBuf;

use ganbench_data::DataSource;
use ganbench_plugin_api::Metrics;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::trial::TrialPlan;

/// Everything a worker needs to run (or resume) one trial: its [`TrialPlan`] and where it runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkerTask {
    /// Plugin name or library path, resolved against the same registry as the parent's.
    pub plugin: String,
    /// The dataset, paths resolved.
    pub data: DataSource,
    /// What to train: the plugin's config, the step budget, evaluations and checkpoints.
    pub plan: TrialPlan,
    /// This trial's checkpoint directory.
    pub checkpoints: PathBuf,
    /// Where evaluation samples are written (`.npy`), if anywhere.
    pub samples_dir: Option<PathBuf>,
    /// The feature extractor's weights, for image data: the parent trains (or finds) them once per
    /// dataset before starting workers, so that parallel workers never train the same one twice.
    #[serde(default)]
    pub extractor: Option<PathBuf>,
}

/// A metric value that survives JSON even when it is NaN or infinite (a diverging run's last loss).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Value(pub f64);

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0.is_finite() {
            s.serialize_f64(self.0)
        } else {
            s.serialize_str(&self.0.to_string()) // "NaN", "inf", "-inf"
        }
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Num(f64),
            Text(String),
        }
        match Repr::deserialize(d)? {
            Repr::Num(x) => Ok(Value(x)),
            Repr::Text(t) => t.parse().map(Value).map_err(serde::de::Error::custom),
        }
    }
}

/// Metrics in wire form.
pub type WireMetrics = Vec<(String, Value)>;

pub fn to_wire(metrics: &Metrics) -> WireMetrics {
    metrics
        .iter()
        .map(|(k, v)| (k.clone(), Value(*v)))
        .collect()
}

pub fn from_wire(metrics: &WireMetrics) -> Metrics {
    metrics.iter().map(|(k, v)| (k.clone(), v.0)).collect()
}

/// What a worker reports, one JSON object per line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum WorkerMessage {
    /// The trainer exists; `parameters` and `architecture` describe it.
    Started {
        parameters: u64,
        architecture: String,
    },
    /// Continuing from the committed checkpoint of `step`.
    Resumed {
        step: u64,
    },
    Step {
        step: u64,
        metrics: WireMetrics,
    },
    Eval {
        step: u64,
        metrics: WireMetrics,
        samples: Option<PathBuf>,
        /// Held-out images interleaved with their reconstructions (see `trial::Event::Eval`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reconstructions: Option<PathBuf>,
    },
    /// A pending checkpoint of `step` is written to `pending`; the parent commits it.
    Checkpoint {
        step: u64,
        pending: PathBuf,
    },
    Finished {
        step: u64,
        ms_per_step: f64,
    },
    Diverged {
        step: u64,
        metric: String,
        value: Value,
    },
    /// Stopped on request (Ctrl-C) after `step`, with a pending checkpoint if one was due.
    Stopped {
        step: u64,
    },
    /// The trial could not run.
    Failed {
        message: String,
    },
}

impl fmt::Display for WorkerMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&serde_json::to_string(self).map_err(|_| fmt::Error)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_finite_values_survive_the_wire() {
        let m = WorkerMessage::Step {
            step: 3,
            metrics: to_wire(&vec![
                ("a".into(), f64::NAN),
                ("b".into(), f64::NEG_INFINITY),
                ("c".into(), 0.1),
            ]),
        };
        let line = m.to_string();
        let back: WorkerMessage = serde_json::from_str(&line).unwrap();
        let WorkerMessage::Step { metrics, .. } = back else {
            panic!("{line}")
        };
        let m = from_wire(&metrics);
        assert!(m[0].1.is_nan());
        assert_eq!(m[1].1, f64::NEG_INFINITY);
        assert_eq!(m[2].1.to_bits(), 0.1f64.to_bits());
    }
}
