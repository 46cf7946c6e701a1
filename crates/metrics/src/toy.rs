//! Toy 2D mode metrics (PacGAN / VEEGAN protocol), exactly as design.md defines them.

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Why mode metrics could not be computed. Every case is a caller's mistake, not a property of the
/// generator: samples that are NaN or infinite are scored, not rejected (see [`mode_metrics`]).
#[derive(Debug, Clone, PartialEq, Error)]
pub enum MetricsError {
    /// No samples: every share would be 0/0, and reporting 0 would look like a collapsed model.
    #[error("no samples to evaluate; pass at least one (the protocol uses 2500)")]
    NoSamples,
    /// No mode centres.
    #[error("no mode centres; pass at least one")]
    NoCentres,
    /// A centre coordinate is NaN or infinite.
    #[error("mode centre {index} is {centre:?}; centres must be finite")]
    NonFiniteCentre {
        /// Index of the centre in the slice.
        index: usize,
        /// The centre.
        centre: [f64; 2],
    },
    /// The mode standard deviation is not a finite positive number.
    #[error("mode standard deviation is {0}; it must be a finite number > 0")]
    BadStd(f64),
    /// A row-major sample slice whose length is not a multiple of 2.
    #[error("{0} values do not form rows of 2 coordinates; pass an n×2 row-major slice")]
    RaggedRows(usize),
}

/// The toy mode metrics of one set of generated samples.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ModeMetrics {
    /// Modes captured: modes that are the nearest centre of at least one high-quality sample.
    pub modes: usize,
    /// Number of modes of the dataset.
    pub total_modes: usize,
    /// Share of all samples that lie within 3σ of their nearest centre.
    pub high_quality: f64,
    /// KL(p ‖ uniform) in nats, p the histogram of the finite samples over their nearest centres.
    /// NaN when no sample is finite (there is no histogram).
    pub reverse_kl: f64,
    /// KL(q ‖ uniform) in nats, q the histogram of the high-quality samples only over their
    /// centres: the reading of PacGAN's Table 1 that its code supports (it logs the entropy of
    /// this histogram; docs/reproductions.md). NaN when no sample is high quality.
    #[serde(default = "f64_nan")]
    pub reverse_kl_hq: f64,
}

fn f64_nan() -> f64 {
    f64::NAN
}

impl ModeMetrics {
    /// The metrics as named values for logging: `modes`, `high_quality`, `reverse_kl`,
    /// `reverse_kl_hq`.
    pub fn named(&self) -> [(&'static str, f64); 4] {
        [
            ("modes", self.modes as f64),
            ("high_quality", self.high_quality),
            ("reverse_kl", self.reverse_kl),
            ("reverse_kl_hq", self.reverse_kl_hq),
        ]
    }
}

/// The nearest centre to `point` and the distance to it; ties go to the lowest index.
/// `None` when `centres` is empty or `point` is not finite.
pub fn nearest_centre(point: [f64; 2], centres: &[[f64; 2]]) -> Option<(usize, f64)> {
    if !(point[0].is_finite() && point[1].is_finite()) {
        return None;
    }
    let mut best: Option<(usize, f64)> = None;
    for (k, c) in centres.iter().enumerate() {
        let (dx, dy) = (point[0] - c[0], point[1] - c[1]);
        let d2 = dx * dx + dy * dy;
        // Strict `<` keeps the first of equally near centres, so ties are deterministic.
        if best.is_none_or(|(_, b)| d2 < b) {
            best = Some((k, d2));
        }
    }
    best.map(|(k, d2)| (k, d2.sqrt()))
}

/// Mode metrics of `samples` against a mixture with `centres` and per-coordinate `std`.
///
/// Definitions (design.md, "Metrics"): a sample is high quality when its distance to its nearest
/// centre is ≤ 3·std; `modes` counts the centres that are nearest to at least one high-quality
/// sample; `high_quality` is the share of high-quality samples; `reverse_kl` is Σ p_i ln(p_i·K)
/// over modes with p_i > 0, p_i = count_i / n the histogram of all samples over nearest centres;
/// `reverse_kl_hq` is the same sum over the histogram of the high-quality samples only.
///
/// Non-finite samples (a diverging generator emits NaN) are scored rather than rejected, so a
/// diverging run still gets numbers: they count in `high_quality`'s denominator as not high
/// quality, and are left out of the histogram, which is normalized by the finite samples only
/// (counting them in n would make p sum to less than 1, and all-NaN input would read as a perfect
/// KL of 0). With no finite sample at all, `reverse_kl` is NaN.
pub fn mode_metrics(
    samples: &[[f64; 2]],
    centres: &[[f64; 2]],
    std: f64,
) -> Result<ModeMetrics, MetricsError> {
    evaluate(samples.iter().copied(), samples.len(), centres, std)
}

/// [`mode_metrics`] for a row-major n×2 `f32` slice, the layout of a plugin's sample buffer.
pub fn mode_metrics_rows(
    samples: &[f32],
    centres: &[[f64; 2]],
    std: f64,
) -> Result<ModeMetrics, MetricsError> {
    if !samples.len().is_multiple_of(2) {
        return Err(MetricsError::RaggedRows(samples.len()));
    }
    let points = samples
        .chunks_exact(2)
        .map(|p| [f64::from(p[0]), f64::from(p[1])]);
    evaluate(points, samples.len() / 2, centres, std)
}

fn evaluate(
    points: impl Iterator<Item = [f64; 2]>,
    n: usize,
    centres: &[[f64; 2]],
    std: f64,
) -> Result<ModeMetrics, MetricsError> {
    if n == 0 {
        return Err(MetricsError::NoSamples);
    }
    if centres.is_empty() {
        return Err(MetricsError::NoCentres);
    }
    if let Some(index) = centres
        .iter()
        .position(|c| !(c[0].is_finite() && c[1].is_finite()))
    {
        return Err(MetricsError::NonFiniteCentre {
            index,
            centre: centres[index],
        });
    }
    if !(std.is_finite() && std > 0.0) {
        return Err(MetricsError::BadStd(std));
    }

    let radius = 3.0 * std;
    // One allocation: per mode, the histogram counts of all finite and of high-quality samples.
    let mut per_mode = vec![(0usize, 0usize); centres.len()];
    let mut high_quality = 0usize;
    for p in points {
        let Some((k, dist)) = nearest_centre(p, centres) else {
            continue;
        };
        per_mode[k].0 += 1;
        if dist <= radius {
            high_quality += 1;
            per_mode[k].1 += 1;
        }
    }

    let all: Vec<usize> = per_mode.iter().map(|m| m.0).collect();
    let hq: Vec<usize> = per_mode.iter().map(|m| m.1).collect();
    Ok(ModeMetrics {
        modes: hq.iter().filter(|&&count| count > 0).count(),
        total_modes: centres.len(),
        high_quality: high_quality as f64 / n as f64,
        reverse_kl: kl_to_uniform(&all),
        reverse_kl_hq: kl_to_uniform(&hq),
    })
}

/// KL(p ‖ uniform) in nats of the histogram `counts` (one bin per mode); NaN when it is empty.
pub(crate) fn kl_to_uniform(counts: &[usize]) -> f64 {
    let total: usize = counts.iter().sum();
    if total == 0 {
        return f64::NAN;
    }
    let (total, k) = (total as f64, counts.len() as f64);
    let kl: f64 = counts
        .iter()
        .filter(|&&count| count > 0)
        // p·ln(p·K) with p·K = count·K/n: count·K is an exact integer, so a uniform histogram
        // gives ln(1) = 0 exactly.
        .map(|&count| count as f64 / total * (count as f64 * k / total).ln())
        .sum();
    // KL ≥ 0; rounding can leave a tiny negative sum that would look odd in a report.
    kl.max(0.0)
}
