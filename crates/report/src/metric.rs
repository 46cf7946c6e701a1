//! What each logged metric is: which section of the page it belongs to, whether larger is
//! better, and which metric the significance tests compare.

use serde::Serialize;

use crate::stats::Direction;

/// The role of a metric in the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MetricKind {
    /// A sample-quality number computed at evaluation steps (modes, reverse KL, FID, ELBO…):
    /// the results, compared in the table.
    Evaluation,
    /// A training loss, logged every step: drawn per variant, since losses of different
    /// objectives have different scales.
    Loss,
    /// Another per-step training signal (discriminator outputs, gradient norms…): drawn like
    /// losses, not compared.
    Signal,
    /// A timing (`ms_per_step`): shown, never treated as a result.
    Timing,
}

/// Names of evaluation metrics whose direction is known. Everything else an evaluation step logs
/// is shown without a "best".
const HIGHER_IS_BETTER: &[&str] = &[
    "modes",
    "high_quality",
    "elbo",
    "precision",
    "recall",
    "density",
    "coverage",
    "accuracy",
    "inception_score",
];
const LOWER_IS_BETTER: &[&str] = &["reverse_kl", "fid", "kid", "reconstruction", "mse"];
/// Known evaluation metrics that have no better direction (the VAE's KL term trades off
/// against reconstruction).
const NEUTRAL_EVALUATION: &[&str] = &["kl", "kid_std"];
/// The main metric when the caller names none: the first of these that was logged.
/// Continuous metrics come first: they rank runs with fewer ties than mode counts.
const MAIN_METRIC_PREFERENCE: &[&str] =
    &["fid", "reverse_kl", "kid", "modes", "high_quality", "elbo"];

/// Whether larger values of `name` are better, if known.
pub fn direction(name: &str) -> Option<Direction> {
    if HIGHER_IS_BETTER.contains(&name) {
        Some(Direction::Higher)
    } else if LOWER_IS_BETTER.contains(&name) {
        Some(Direction::Lower)
    } else {
        None
    }
}

/// True for names that denote a loss: `loss`, `loss_*`, `*_loss`.
pub fn is_loss(name: &str) -> bool {
    name == "loss" || name.starts_with("loss_") || name.ends_with("_loss")
}

/// The role of `name`, given how densely it was logged: `points` is the largest number of
/// points one run logged for it, `densest` the largest over every metric. A metric that is not
/// known by name is a per-step signal when it was logged about as often as the densest one, and
/// an evaluation metric when it was logged much less often (at evaluation steps).
pub fn classify(name: &str, points: usize, densest: usize) -> MetricKind {
    if name == "ms_per_step" {
        MetricKind::Timing
    } else if is_loss(name) {
        MetricKind::Loss
    } else if direction(name).is_some() || NEUTRAL_EVALUATION.contains(&name) {
        MetricKind::Evaluation
    } else if points * 2 > densest && densest > 2 {
        MetricKind::Signal
    } else {
        MetricKind::Evaluation
    }
}

/// The metric the significance tests compare: `requested` if given, else the first of a fixed
/// preference list (FID, reverse KL, KID, modes, high-quality share, ELBO) among `available`,
/// else the first available evaluation metric with a known direction.
pub fn main_metric<'a>(available: &[&'a str], requested: Option<&'a str>) -> Option<&'a str> {
    if let Some(r) = requested {
        return available.iter().copied().find(|a| *a == r);
    }
    MAIN_METRIC_PREFERENCE
        .iter()
        .find_map(|p| available.iter().copied().find(|a| a == p))
        .or_else(|| available.iter().copied().find(|a| direction(a).is_some()))
}

/// Known evaluation metrics in the order the page shows them.
const DISPLAY_ORDER: &[&str] = &[
    "modes",
    "high_quality",
    "reverse_kl",
    "fid",
    "kid",
    "precision",
    "recall",
    "density",
    "coverage",
    "elbo",
    "reconstruction",
    "kl",
    "mse",
];

/// Sort key of a metric name within its kind: known names in a fixed order, then the rest.
pub fn display_rank(name: &str) -> usize {
    DISPLAY_ORDER
        .iter()
        .position(|n| *n == name)
        .unwrap_or(DISPLAY_ORDER.len())
}

/// A short description of a metric with its unit, for axis labels and table headers.
pub fn describe(name: &str) -> String {
    match name {
        "modes" => "modes captured (count)".into(),
        "high_quality" => "high-quality samples (fraction)".into(),
        "reverse_kl" => "reverse KL (nats)".into(),
        "elbo" => "ELBO (nats)".into(),
        "reconstruction" => "reconstruction NLL (nats)".into(),
        "kl" => "KL term (nats)".into(),
        "mse" => "reconstruction MSE".into(),
        "ms_per_step" => "training time (ms per step)".into(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn losses_evaluations_signals_and_timings_are_told_apart() {
        assert_eq!(classify("loss_d", 4000, 4000), MetricKind::Loss);
        assert_eq!(classify("g_loss", 4000, 4000), MetricKind::Loss);
        assert_eq!(classify("loss", 4000, 4000), MetricKind::Loss);
        assert_eq!(classify("modes", 9, 4000), MetricKind::Evaluation);
        // Known by name even when a short run logs it at every step.
        assert_eq!(classify("reverse_kl", 5, 5), MetricKind::Evaluation);
        assert_eq!(classify("d_real", 4000, 4000), MetricKind::Signal);
        assert_eq!(classify("my_score", 9, 4000), MetricKind::Evaluation);
        assert_eq!(classify("ms_per_step", 1, 4000), MetricKind::Timing);
        // "lossless" is not a loss.
        assert_ne!(classify("lossless", 9, 4000), MetricKind::Loss);
    }

    #[test]
    fn the_main_metric_prefers_continuous_quality_metrics() {
        let available = ["high_quality", "modes", "reverse_kl"];
        assert_eq!(main_metric(&available, None), Some("reverse_kl"));
        assert_eq!(main_metric(&available, Some("modes")), Some("modes"));
        assert_eq!(main_metric(&available, Some("fid")), None);
        assert_eq!(main_metric(&["kl", "precision"], None), Some("precision"));
        assert_eq!(main_metric(&["kl"], None), None);
    }
}
