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

/// Whether larger values of `name` are better, if known (`ganbench_spec`'s table of known
/// metrics, which also validates a sweep's `primary`).
pub fn direction(name: &str) -> Option<Direction> {
    ganbench_spec::metric_direction(name)
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
    } else if ganbench_spec::known_metric(name).is_some() {
        MetricKind::Evaluation
    } else if points * 2 > densest && densest > 2 {
        MetricKind::Signal
    } else {
        MetricKind::Evaluation
    }
}

/// Sort key of a metric name within its kind: known names in the table's order, then the rest.
pub fn display_rank(name: &str) -> usize {
    let base = name.strip_suffix("_ema").unwrap_or(name);
    let known = ganbench_spec::KNOWN_METRICS;
    known
        .iter()
        .position(|m| m.name == base)
        .map_or(2 * known.len(), |i| 2 * i + usize::from(base != name))
}

/// Which table of the summary a metric's column goes into, so that no table is wider than the
/// page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ColumnGroup {
    /// How well samples match the data (the toy mode metrics; FID, KID, precision/recall,
    /// density/coverage).
    SampleQuality,
    /// A model's evaluation of itself (the VAE's ELBO and its terms).
    ModelFit,
    /// Metrics ganbench does not know.
    Other,
}

impl ColumnGroup {
    /// The table's heading.
    pub fn title(self) -> &'static str {
        match self {
            ColumnGroup::SampleQuality => "Sample quality",
            ColumnGroup::ModelFit => "Model fit",
            ColumnGroup::Other => "Other evaluation metrics",
        }
    }
}

/// The summary table `name` belongs in.
pub fn column_group(name: &str) -> ColumnGroup {
    use ganbench_spec::MetricData;
    match ganbench_spec::known_metric(name).map(|m| m.data) {
        Some(MetricData::Toy | MetricData::Images) => ColumnGroup::SampleQuality,
        Some(MetricData::Any) => ColumnGroup::ModelFit,
        None => ColumnGroup::Other,
    }
}

/// What a metric is, as a noun for sentences ("modes captured", "FID").
pub fn noun(name: &str) -> String {
    if let Some(base) = name.strip_suffix("_ema") {
        return format!("{} of the averaged generator", noun(base));
    }
    match name {
        "modes" => "modes captured".into(),
        "high_quality" => "high-quality share".into(),
        "reverse_kl" => "reverse KL".into(),
        "reverse_kl_hq" => "reverse KL of the high-quality samples".into(),
        "fid" => "FID".into(),
        "kid_mean" | "kid" => "KID".into(),
        "modes_1000" => "digit triples captured".into(),
        "kl_1000" => "KL of the digit triples".into(),
        "elbo" => "ELBO".into(),
        "reconstruction" => "reconstruction NLL".into(),
        "mse" => "reconstruction MSE".into(),
        other => other.to_string(),
    }
}

/// A short description of a metric with its unit, for axis labels and table headers.
pub fn describe(name: &str) -> String {
    match name {
        "modes" => "modes captured (count)".into(),
        "high_quality" => "high-quality samples (fraction)".into(),
        "reverse_kl" => "reverse KL (nats)".into(),
        "reverse_kl_hq" => "reverse KL, high-quality samples (nats)".into(),
        "modes_1000" => "digit triples captured (of 1,000)".into(),
        "kl_1000" => "KL of the triples to uniform (nats)".into(),
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
    fn known_metrics_sort_in_the_tables_order_and_group_by_what_they_measure() {
        assert!(display_rank("modes") < display_rank("high_quality"));
        assert!(display_rank("modes") < display_rank("modes_ema"));
        assert!(display_rank("modes_ema") < display_rank("high_quality"));
        assert!(display_rank("elbo") < display_rank("my_score"));
        assert_eq!(column_group("fid"), ColumnGroup::SampleQuality);
        assert_eq!(column_group("reverse_kl_ema"), ColumnGroup::SampleQuality);
        assert_eq!(column_group("elbo"), ColumnGroup::ModelFit);
        assert_eq!(column_group("my_score"), ColumnGroup::Other);
    }
}
