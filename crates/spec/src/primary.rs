//! The primary metric: the one evaluation metric a sweep's report ranks its variants by, and the
//! table of evaluation metrics ganbench knows (their direction and the data they are computed
//! on).
//!
//! The table lives here, not in the report, because validating `primary` needs it before any
//! training; the report reads directions from here too, so there is one table.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Whether larger values of a metric are better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Larger is better (modes captured, high-quality share, ELBO, precision…).
    Higher,
    /// Smaller is better (reverse KL, FID, reconstruction error…).
    Lower,
}

impl Direction {
    /// True if `a` is strictly better than `b`.
    pub fn better(self, a: f64, b: f64) -> bool {
        match self {
            Direction::Higher => a > b,
            Direction::Lower => a < b,
        }
    }

    /// The worst possible value: what a trial without a result counts as.
    pub fn worst(self) -> f64 {
        match self {
            Direction::Higher => f64::NEG_INFINITY,
            Direction::Lower => f64::INFINITY,
        }
    }

    /// "higher" or "lower".
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Higher => "higher",
            Direction::Lower => "lower",
        }
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which data a known metric is computed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricData {
    /// Toy 2D mixtures (the PacGAN/VEEGAN mode metrics).
    Toy,
    /// Image data (in the evaluation network's feature space).
    Images,
    /// Any data (a model's own evaluation, e.g. the VAE's ELBO).
    Any,
}

/// An evaluation metric ganbench or its built-in plugins log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownMetric {
    /// The name as logged.
    pub name: &'static str,
    /// Whether larger is better; `None` for metrics that trade off (the VAE's KL term).
    pub direction: Option<Direction>,
    /// Which data it is computed on.
    pub data: MetricData,
}

const fn known(name: &'static str, direction: Option<Direction>, data: MetricData) -> KnownMetric {
    KnownMetric {
        name,
        direction,
        data,
    }
}

const H: Option<Direction> = Some(Direction::Higher);
const L: Option<Direction> = Some(Direction::Lower);

/// Every evaluation metric ganbench knows by name, in the order reports show them.
pub const KNOWN_METRICS: &[KnownMetric] = &[
    known("modes", H, MetricData::Toy),
    known("high_quality", H, MetricData::Toy),
    known("reverse_kl", L, MetricData::Toy),
    known("reverse_kl_hq", L, MetricData::Toy),
    known("fid", L, MetricData::Images),
    known("kid_mean", L, MetricData::Images),
    known("kid", L, MetricData::Images),
    known("kid_std", None, MetricData::Images),
    known("precision", H, MetricData::Images),
    known("recall", H, MetricData::Images),
    known("density", H, MetricData::Images),
    known("coverage", H, MetricData::Images),
    known("modes_1000", H, MetricData::Images),
    known("kl_1000", L, MetricData::Images),
    known("elbo", H, MetricData::Any),
    known("reconstruction", L, MetricData::Any),
    known("kl", None, MetricData::Any),
    known("mse", L, MetricData::Any),
    known("accuracy", H, MetricData::Any),
    known("inception_score", H, MetricData::Any),
];

/// Suffix of a metric computed on an averaged (EMA) generator: it has its base metric's meaning.
const AVERAGED_SUFFIX: &str = "_ema";

/// The known metric `name` is (or, for `name_ema`, is computed like).
pub fn known_metric(name: &str) -> Option<&'static KnownMetric> {
    let base = name.strip_suffix(AVERAGED_SUFFIX).unwrap_or(name);
    KNOWN_METRICS.iter().find(|m| m.name == base)
}

/// Whether larger values of `name` are better, if ganbench knows.
pub fn metric_direction(name: &str) -> Option<Direction> {
    known_metric(name).and_then(|m| m.direction)
}

/// The primary metric when a sweep names none: modes captured on toy data (ties broken by the
/// high-quality share, see [`tie_break`]), FID on image data.
pub fn default_primary(toy_data: bool) -> &'static str {
    if toy_data {
        "modes"
    } else {
        "fid"
    }
}

/// The metric that breaks ties of `primary`: the high-quality share for modes captured, which
/// are small integers (8 of 8 is common), and nothing for continuous metrics.
pub fn tie_break(primary: &str) -> Option<String> {
    let base = primary.strip_suffix(AVERAGED_SUFFIX);
    match base.unwrap_or(primary) {
        "modes" => Some(match base {
            Some(_) => format!("high_quality{AVERAGED_SUFFIX}"),
            None => "high_quality".to_string(),
        }),
        _ => None,
    }
}

/// The sweep file's `primary`: the metric the report ranks variants by and tests.
///
/// ```text
/// primary: "modes"                                          a metric ganbench knows
/// primary: (metric: "my_score", higher_is_better: true)     any metric, with its direction
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    untagged,
    expecting = "a metric name such as \"modes\", or `(metric: \"my_score\", higher_is_better: true)` for a metric a plugin adds"
)]
pub enum Primary {
    /// A metric whose direction ganbench knows.
    Name(String),
    /// Any metric, with its direction.
    Metric {
        /// The metric's name as logged.
        metric: String,
        /// Whether larger values are better.
        higher_is_better: bool,
    },
}

impl Primary {
    /// The metric's name.
    pub fn metric(&self) -> &str {
        match self {
            Primary::Name(name) => name,
            Primary::Metric { metric, .. } => metric,
        }
    }

    /// The direction: as written, or ganbench's for a known metric.
    pub fn direction(&self) -> Option<Direction> {
        match self {
            Primary::Name(name) => metric_direction(name),
            Primary::Metric {
                higher_is_better, ..
            } => Some(if *higher_is_better {
                Direction::Higher
            } else {
                Direction::Lower
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directions_cover_averaged_metrics_and_leave_trade_offs_open() {
        assert_eq!(metric_direction("modes"), Some(Direction::Higher));
        assert_eq!(metric_direction("fid_ema"), Some(Direction::Lower));
        // Stacked MNIST: more triples covered is better, a larger KL to uniform worse.
        assert_eq!(metric_direction("modes_1000"), Some(Direction::Higher));
        assert_eq!(metric_direction("kl_1000"), Some(Direction::Lower));
        assert_eq!(metric_direction("kl"), None);
        assert_eq!(metric_direction("my_score"), None);
        assert_eq!(tie_break("modes").as_deref(), Some("high_quality"));
        assert_eq!(tie_break("modes_ema").as_deref(), Some("high_quality_ema"));
        assert_eq!(tie_break("fid"), None);
        assert!(Direction::Lower.better(1.0, 2.0));
        assert_eq!(Direction::Higher.worst(), f64::NEG_INFINITY);
    }
}
