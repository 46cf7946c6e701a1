//! The statistics the report states: summaries over seeds, the Mann–Whitney U test, bootstrap
//! intervals, Holm's correction and the best-so-far curve of a random search.
//!
//! Definitions follow SciPy where SciPy has the function (`scipy.stats.mannwhitneyu`,
//! `numpy.quantile`'s default "linear" method); `tests/fixtures/mannwhitney.py` produced the
//! reference values the tests compare with.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

/// Mean, sample standard deviation (n − 1 divisor) and count of the finite values.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Summary {
    /// Number of finite values.
    pub n: usize,
    /// Their mean; `None` when there are none.
    pub mean: Option<f64>,
    /// Their sample standard deviation; `None` with fewer than two values.
    pub std: Option<f64>,
}

/// Summarizes the finite values of `values` (NaN and ±∞ are left out).
pub fn summarize(values: &[f64]) -> Summary {
    let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    let n = finite.len();
    if n == 0 {
        return Summary {
            n,
            mean: None,
            std: None,
        };
    }
    let mean = finite.iter().sum::<f64>() / n as f64;
    let std = (n > 1).then(|| {
        let ss: f64 = finite.iter().map(|v| (v - mean) * (v - mean)).sum();
        (ss / (n - 1) as f64).sqrt()
    });
    Summary {
        n,
        mean: Some(mean),
        std,
    }
}

/// The `q`-quantile (0 ≤ q ≤ 1) of sorted, non-empty `sorted`, interpolating linearly between
/// order statistics like `numpy.quantile(x, q)` (its default "linear" method).
pub fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    debug_assert!(!sorted.is_empty());
    let h = (sorted.len() - 1) as f64 * q.clamp(0.0, 1.0);
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    let (a, b) = (sorted[lo], sorted[hi]);
    if a == b {
        // Also keeps ±∞ from turning into NaN (∞ − ∞).
        a
    } else {
        a + (h - lo as f64) * (b - a)
    }
}

/// How a Mann–Whitney p-value was computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MwuMethod {
    /// From the exact null distribution of U (no ties, small samples).
    Exact,
    /// From the normal approximation with tie correction and continuity correction.
    Asymptotic,
}

impl MwuMethod {
    /// How the page names the method.
    pub fn describe(self) -> &'static str {
        match self {
            MwuMethod::Exact => "exact",
            MwuMethod::Asymptotic => "normal approx.",
        }
    }
}

/// Result of a two-sided Mann–Whitney U test.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct MannWhitney {
    /// U of the first sample: the number of pairs (x, y) with x > y, ties counting ½
    /// (`scipy.stats.mannwhitneyu(x, y).statistic`).
    pub u: f64,
    /// Two-sided p-value.
    pub p: f64,
    /// How `p` was computed.
    pub method: MwuMethod,
}

/// Largest total sample size for which [`mann_whitney`] uses the exact distribution: the
/// number of arrangements, C(n₁+n₂, n₁) ≤ C(100, 50) ≈ 1e29, fits an `i128`.
pub const EXACT_MAX_TOTAL: usize = 100;

/// Two-sided Mann–Whitney U test of `x` against `y` (finite values only). Exact when there are
/// no ties and n₁ + n₂ ≤ [`EXACT_MAX_TOTAL`], else the normal approximation. `None` when a
/// sample is empty.
///
/// (SciPy's `method="auto"` switches to the approximation from 8 values per sample on; the
/// exact p-value is the better one whenever it can be computed, and each method on its own
/// matches SciPy's.)
pub fn mann_whitney(x: &[f64], y: &[f64]) -> Option<MannWhitney> {
    let ranks = RankSums::new(x, y)?;
    if !ranks.has_ties && x.len() + y.len() <= EXACT_MAX_TOTAL {
        Some(ranks.exact())
    } else {
        Some(ranks.asymptotic())
    }
}

/// The exact two-sided test (`scipy.stats.mannwhitneyu(x, y, method="exact")`). Meaningful only
/// without ties. `None` when a sample is empty or n₁ + n₂ > [`EXACT_MAX_TOTAL`].
pub fn mann_whitney_exact(x: &[f64], y: &[f64]) -> Option<MannWhitney> {
    if x.len() + y.len() > EXACT_MAX_TOTAL {
        return None;
    }
    Some(RankSums::new(x, y)?.exact())
}

/// The normal approximation with tie and continuity corrections
/// (`scipy.stats.mannwhitneyu(x, y, method="asymptotic")`). `None` when a sample is empty.
pub fn mann_whitney_asymptotic(x: &[f64], y: &[f64]) -> Option<MannWhitney> {
    Some(RankSums::new(x, y)?.asymptotic())
}

struct RankSums {
    n1: usize,
    n2: usize,
    /// U of the first sample.
    u1: f64,
    /// Σ (t³ − t) over groups of t tied values.
    tie_term: f64,
    has_ties: bool,
}

impl RankSums {
    fn new(x: &[f64], y: &[f64]) -> Option<RankSums> {
        let (n1, n2) = (x.len(), y.len());
        if n1 == 0 || n2 == 0 {
            return None;
        }
        // (value, from x) sorted by value; midranks for ties.
        let mut all: Vec<(f64, bool)> = x
            .iter()
            .map(|&v| (v, true))
            .chain(y.iter().map(|&v| (v, false)))
            .collect();
        all.sort_by(|a, b| a.0.total_cmp(&b.0));
        let (mut r1, mut tie_term, mut has_ties) = (0.0, 0.0, false);
        let mut i = 0;
        while i < all.len() {
            let mut j = i + 1;
            while j < all.len() && all[j].0 == all[i].0 {
                j += 1;
            }
            // Positions i..j (0-based) share the rank ((i+1) + j) / 2.
            let rank = (i + 1 + j) as f64 / 2.0;
            let t = (j - i) as f64;
            if j - i > 1 {
                has_ties = true;
                tie_term += t * t * t - t;
            }
            r1 += rank * all[i..j].iter().filter(|(_, from_x)| *from_x).count() as f64;
            i = j;
        }
        let u1 = r1 - (n1 * (n1 + 1)) as f64 / 2.0;
        Some(RankSums {
            n1,
            n2,
            u1,
            tie_term,
            has_ties,
        })
    }

    fn u_max(&self) -> f64 {
        self.u1.max((self.n1 * self.n2) as f64 - self.u1)
    }

    fn exact(&self) -> MannWhitney {
        let counts = u_distribution(self.n1, self.n2);
        let total: i128 = counts.iter().sum();
        // P(U ≥ u_max) = P(U ≤ n1·n2 − u_max) by symmetry; sum the lower tail, whose terms
        // are small and exact.
        let u_min = ((self.n1 * self.n2) as f64 - self.u_max()).round() as usize;
        let tail: i128 = counts[..=u_min].iter().sum();
        let p = (2.0 * tail as f64 / total as f64).min(1.0);
        MannWhitney {
            u: self.u1,
            p,
            method: MwuMethod::Exact,
        }
    }

    fn asymptotic(&self) -> MannWhitney {
        let (n1, n2) = (self.n1 as f64, self.n2 as f64);
        let n = n1 + n2;
        let mu = n1 * n2 / 2.0;
        let var = n1 * n2 / 12.0 * ((n + 1.0) - self.tie_term / (n * (n - 1.0)));
        let p = if var <= 0.0 {
            // Every value tied: no evidence of a difference.
            1.0
        } else {
            let z = (self.u_max() - mu - 0.5) / var.sqrt();
            (2.0 * normal_sf(z)).clamp(0.0, 1.0)
        };
        MannWhitney {
            u: self.u1,
            p,
            method: MwuMethod::Asymptotic,
        }
    }
}

/// Number of arrangements of n₁ x's and n₂ y's with U = u, for u = 0..=n₁n₂: the coefficients of
/// the Gaussian binomial [n₁+n₂ choose n₁]_q = ∏ᵢ₌₁..n₁ (1 − q^(n₂+i)) / (1 − q^i), built one
/// factor at a time (each partial product is itself a Gaussian binomial, so integral).
fn u_distribution(n1: usize, n2: usize) -> Vec<i128> {
    let len = n1 * n2 + 1;
    let mut poly = vec![0i128; len];
    poly[0] = 1;
    for i in 1..=n1 {
        let up = n2 + i;
        for k in (up..len).rev() {
            poly[k] -= poly[k - up];
        }
        for k in i..len {
            poly[k] += poly[k - i];
        }
    }
    poly
}

/// P(Z > z) for a standard normal Z.
pub fn normal_sf(z: f64) -> f64 {
    0.5 * libm::erfc(z / std::f64::consts::SQRT_2)
}

/// Percentile-bootstrap confidence interval of mean(x) − mean(y): `draws` resamples of each
/// sample with replacement, from a generator seeded with `seed` (so a report is reproducible).
/// `None` when a sample is empty.
pub fn bootstrap_mean_difference(
    x: &[f64],
    y: &[f64],
    level: f64,
    draws: usize,
    seed: u64,
) -> Option<(f64, f64)> {
    if x.is_empty() || y.is_empty() || draws == 0 {
        return None;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mean_of_resample = |s: &[f64], rng: &mut ChaCha8Rng| {
        (0..s.len())
            .map(|_| s[rng.random_range(0..s.len())])
            .sum::<f64>()
            / s.len() as f64
    };
    let mut diffs: Vec<f64> = (0..draws)
        .map(|_| mean_of_resample(x, &mut rng) - mean_of_resample(y, &mut rng))
        .collect();
    diffs.sort_by(f64::total_cmp);
    let tail = (1.0 - level) / 2.0;
    Some((
        quantile_sorted(&diffs, tail),
        quantile_sorted(&diffs, 1.0 - tail),
    ))
}

/// Holm's step-down adjustment of p-values for multiple comparisons (same order as given).
pub fn holm(p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    let mut adjusted = vec![0.0; m];
    let mut running = 0.0f64;
    for (rank, &i) in order.iter().enumerate() {
        running = running.max(((m - rank) as f64 * p[i]).min(1.0));
        adjusted[i] = running;
    }
    adjusted
}

/// Whether larger values of a metric are better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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
}

/// One point of a best-so-far curve: the distribution of the best result among `k` trials.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct BestSoFar {
    /// Number of trials in the budget.
    pub k: usize,
    /// Median of the best over the bootstrap draws.
    pub median: f64,
    /// 5th percentile.
    pub low: f64,
    /// 95th percentile.
    pub high: f64,
}

/// The best result among k trials for k = 1..=`values.len()`, as in Lucic et al. 2018 ("Are GANs
/// Created Equal?"): for each k, `draws` sets of k trials drawn with replacement from `values`,
/// the best of each set, and that distribution's median and 90% band. A NaN value (a trial that
/// diverged or gave no number) counts as the worst possible result; a band may therefore be
/// infinite, and the caller draws only finite values.
pub fn best_so_far(
    values: &[f64],
    direction: Direction,
    draws: usize,
    seed: u64,
) -> Vec<BestSoFar> {
    if values.is_empty() || draws == 0 {
        return Vec::new();
    }
    let values: Vec<f64> = values
        .iter()
        .map(|&v| if v.is_nan() { direction.worst() } else { v })
        .collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut bests = vec![0.0; draws];
    (1..=values.len())
        .map(|k| {
            for best in bests.iter_mut() {
                let mut b = direction.worst();
                for _ in 0..k {
                    let v = values[rng.random_range(0..values.len())];
                    if direction.better(v, b) {
                        b = v;
                    }
                }
                *best = b;
            }
            bests.sort_by(f64::total_cmp);
            BestSoFar {
                k,
                median: quantile_sorted(&bests, 0.5),
                low: quantile_sorted(&bests, 0.05),
                high: quantile_sorted(&bests, 0.95),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_uses_the_sample_standard_deviation_and_skips_non_finite_values() {
        let s = summarize(&[
            2.0,
            4.0,
            4.0,
            4.0,
            5.0,
            5.0,
            7.0,
            9.0,
            f64::NAN,
            f64::INFINITY,
        ]);
        assert_eq!(s.n, 8);
        assert_eq!(s.mean, Some(5.0));
        // Σ(x − 5)² = 32, divided by n − 1 = 7.
        assert!((s.std.unwrap() - (32.0f64 / 7.0).sqrt()).abs() < 1e-15);
        assert_eq!(summarize(&[3.0]).std, None);
        assert_eq!(summarize(&[f64::NAN]).mean, None);
    }

    #[test]
    fn quantiles_interpolate_like_numpy() {
        let x = [1.0, 2.0, 3.0, 4.0];
        // numpy.quantile([1, 2, 3, 4], [0, 0.25, 0.5, 0.9, 1]) = [1, 1.75, 2.5, 3.7, 4]
        for (q, want) in [(0.0, 1.0), (0.25, 1.75), (0.5, 2.5), (0.9, 3.7), (1.0, 4.0)] {
            assert!((quantile_sorted(&x, q) - want).abs() < 1e-12, "q = {q}");
        }
        assert_eq!(
            quantile_sorted(&[f64::INFINITY, f64::INFINITY], 0.5),
            f64::INFINITY
        );
    }

    #[test]
    fn the_u_distribution_counts_every_arrangement() {
        // n1 = 2, n2 = 2: U ∈ {0, 1, 2, 2, 3, 4} over the C(4, 2) = 6 orders.
        assert_eq!(u_distribution(2, 2), vec![1, 1, 2, 1, 1]);
        for (n1, n2) in [(1, 5), (3, 4), (7, 7), (50, 50)] {
            let counts = u_distribution(n1, n2);
            let total: i128 = counts.iter().sum();
            let binomial = (1..=n1 as i128).fold(1i128, |acc, i| acc * (n2 as i128 + i) / i);
            assert_eq!(total, binomial, "n1 = {n1}, n2 = {n2}");
            assert!(counts.iter().all(|&c| c > 0), "no negative or zero count");
            assert!(counts.iter().eq(counts.iter().rev()), "symmetric");
        }
    }

    #[test]
    fn holm_matches_a_hand_computation() {
        // Sorted: 0.005·4 = 0.02, 0.01·3 = 0.03, 0.03·2 = 0.06, max(0.04·1, 0.06) = 0.06.
        let adjusted = holm(&[0.01, 0.04, 0.03, 0.005]);
        let want = [0.03, 0.06, 0.06, 0.02];
        for (a, w) in adjusted.iter().zip(want) {
            assert!((a - w).abs() < 1e-15, "{adjusted:?}");
        }
        assert_eq!(holm(&[0.9, 0.8]), vec![1.0, 1.0]);
    }

    #[test]
    fn the_bootstrap_interval_of_constant_samples_is_their_difference() {
        let (lo, hi) = bootstrap_mean_difference(&[3.0; 4], &[1.0; 5], 0.95, 500, 1).unwrap();
        assert_eq!((lo, hi), (2.0, 2.0));
    }

    #[test]
    fn the_bootstrap_interval_has_the_standard_error_of_a_mean_difference() {
        // x: 400 values evenly spread on [0, 1) (variance ≈ 1/12), y the same shifted by 0.5.
        // The difference of means has standard error sqrt(2 · (1/12) / 400) ≈ 0.0204, so the
        // 95% interval is about 0.5 ± 1.96 · 0.0204 = [0.46, 0.54].
        let x: Vec<f64> = (0..400).map(|i| i as f64 / 400.0).collect();
        let y: Vec<f64> = x.iter().map(|v| v - 0.5).collect();
        let (lo, hi) = bootstrap_mean_difference(&x, &y, 0.95, 4000, 7).unwrap();
        let half = 1.96 * (2.0 / 12.0 / 400.0f64).sqrt();
        assert!((lo - (0.5 - half)).abs() < 0.006, "{lo}");
        assert!((hi - (0.5 + half)).abs() < 0.006, "{hi}");
    }

    #[test]
    fn best_so_far_follows_the_distribution_of_a_maximum() {
        // Values 1..=100 drawn k at a time with replacement: P(max ≤ j) = (j/100)^k, so the
        // median of the best is the smallest j with (j/100)^k ≥ 1/2.
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        let curve = best_so_far(&values, Direction::Higher, 20_000, 3);
        assert_eq!(curve.len(), 100);
        for point in [&curve[0], &curve[4], &curve[19]] {
            let k = point.k as i32;
            let median = (1..=100)
                .find(|&j| (j as f64 / 100.0).powi(k) >= 0.5)
                .unwrap();
            let low = (1..=100)
                .find(|&j| (j as f64 / 100.0).powi(k) >= 0.05)
                .unwrap();
            assert!(
                (point.median - median as f64).abs() <= 1.0,
                "k = {k}: {point:?}"
            );
            assert!((point.low - low as f64).abs() <= 1.0, "k = {k}: {point:?}");
        }
        // Lower is better: the same with the minimum, and a NaN counts as the worst.
        let curve = best_so_far(&[f64::NAN, 1.0], Direction::Lower, 2000, 3);
        assert_eq!(curve[0].high, f64::INFINITY);
        assert_eq!(curve[1].median, 1.0);
    }
}
