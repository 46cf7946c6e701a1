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
    /// From the exact permutation distribution of U given the observed ties (for samples without
    /// ties, the classical exact distribution).
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
/// number of arrangements, C(n₁+n₂, n₁) ≤ C(100, 50) ≈ 1e29, fits a `u128`.
pub const EXACT_MAX_TOTAL: usize = 100;

/// Two-sided Mann–Whitney U test of `x` against `y` (finite values only, or any values whose
/// order means "better": the test uses ranks only). Exact when n₁ + n₂ ≤ [`EXACT_MAX_TOTAL`],
/// else the normal approximation. `None` when a sample is empty.
///
/// (SciPy's `method="auto"` switches to the approximation from 8 values per sample on, and its
/// exact method ignores ties; the exact permutation p-value is the better one whenever it can
/// be computed. Without ties it equals `scipy.stats.mannwhitneyu(x, y, method="exact")`, with
/// ties `scipy.stats.permutation_test` of U over every split, and the approximation equals
/// `method="asymptotic"`.)
pub fn mann_whitney(x: &[f64], y: &[f64]) -> Option<MannWhitney> {
    let ranks = RankSums::new(x, y)?;
    if x.len() + y.len() <= EXACT_MAX_TOTAL {
        Some(ranks.exact())
    } else {
        Some(ranks.asymptotic())
    }
}

/// The exact two-sided test: P(U as extreme as observed) over every split of the pooled values
/// into samples of sizes n₁ and n₂, ties kept at their midranks. `None` when a sample is empty
/// or n₁ + n₂ > [`EXACT_MAX_TOTAL`].
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

/// The smallest two-sided p-value an exact rank test of `n1` against `n2` values can give:
/// 2 / C(n₁+n₂, n₁), reached when the samples do not overlap at all (ties only raise it).
pub fn smallest_exact_p(n1: usize, n2: usize) -> f64 {
    if n1 == 0 || n2 == 0 {
        return 1.0;
    }
    (2.0 / binomial_f64(n1 + n2, n1)).min(1.0)
}

/// C(n, k) as a float (exact up to 2⁵³, then correctly rounded to a few ulps).
fn binomial_f64(n: usize, k: usize) -> f64 {
    let k = k.min(n - k);
    (0..k).fold(1.0, |acc, i| acc * (n - i) as f64 / (i + 1) as f64)
}

struct RankSums {
    n1: usize,
    n2: usize,
    /// U of the first sample.
    u1: f64,
    /// Σ (t³ − t) over groups of t tied values.
    tie_term: f64,
    has_ties: bool,
    /// Sizes of the groups of equal values, in ascending order of value (1 for an untied value).
    groups: Vec<usize>,
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
        let mut groups = Vec::new();
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
            groups.push(j - i);
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
            groups,
        })
    }

    fn u_max(&self) -> f64 {
        self.u1.max((self.n1 * self.n2) as f64 - self.u1)
    }

    fn exact(&self) -> MannWhitney {
        let p = if self.has_ties {
            self.exact_p_with_ties()
        } else {
            let counts = u_distribution(self.n1, self.n2);
            let total: i128 = counts.iter().sum();
            // Without ties U is symmetric: P(U ≥ u_max) = P(U ≤ n1·n2 − u_max); sum the lower
            // tail, whose terms are small and exact.
            let u_min = ((self.n1 * self.n2) as f64 - self.u_max()).round() as usize;
            let tail: i128 = counts[..=u_min].iter().sum();
            (2.0 * tail as f64 / total as f64).min(1.0)
        };
        MannWhitney {
            u: self.u1,
            p,
            method: MwuMethod::Exact,
        }
    }

    /// 2·min(P(U ≤ u), P(U ≥ u)) under every split of the pooled values (ties at midranks), as
    /// `scipy.stats.permutation_test` computes it. With ties U is not symmetric, so both tails
    /// are counted. Rank sums are kept doubled, so that midranks are integers.
    fn exact_p_with_ties(&self) -> f64 {
        let n1 = self.n1;
        let n = self.n1 + self.n2;
        let width = n * (n + 1) + 1; // doubled sum of all ranks: bounds every doubled rank sum
                                     // ways[c·width + s]: splits of the groups seen so far with c values in x of doubled
                                     // rank sum s. Two flat buffers, and only the reachable sums are visited.
        let mut ways = vec![0u128; (n1 + 1) * width];
        let mut next = ways.clone();
        ways[0] = 1;
        let (mut start, mut reach) = (0, 0); // values before the current group; largest sum
        for &t in &self.groups {
            let doubled_rank = 2 * start + t + 1;
            let new_reach = (reach + t.min(n1) * doubled_rank).min(width - 1);
            for c in 0..=n1 {
                next[c * width..c * width + new_reach + 1].fill(0);
            }
            let choose = binomials(t);
            for c in 0..=n1.min(start) {
                for s in 0..=reach {
                    let w = ways[c * width + s];
                    if w == 0 {
                        continue;
                    }
                    for (k, &ck) in choose.iter().enumerate().take(n1 - c + 1) {
                        next[(c + k) * width + s + k * doubled_rank] += w * ck;
                    }
                }
            }
            std::mem::swap(&mut ways, &mut next);
            start += t;
            reach = new_reach;
        }
        let observed = (2.0 * self.u1).round() as usize + n1 * (n1 + 1); // doubled R1
        let last = &ways[n1 * width..(n1 + 1) * width];
        let total: u128 = last.iter().sum();
        let below: u128 = last[..=observed].iter().sum();
        let above: u128 = last[observed..].iter().sum();
        let tail = below.min(above);
        (2.0 * tail as f64 / total as f64).min(1.0)
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

/// C(t, k) for k = 0..=t.
fn binomials(t: usize) -> Vec<u128> {
    let mut row = vec![1u128; t + 1];
    for k in 1..t {
        row[k] = row[k - 1] * (t - k + 1) as u128 / k as u128;
    }
    row
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

/// The probability of superiority of `x` over `y`, P(X > Y) + ½·P(X = Y) for a random pair:
/// U / (n₁n₂), the common-language effect size of the Mann–Whitney test (0.5: no difference).
pub fn probability_of_superiority(test: &MannWhitney, n1: usize, n2: usize) -> f64 {
    test.u / (n1 * n2) as f64
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

// Wichura's coefficients for AS 241, lowest power first, as published (the digits beyond an
// f64's precision are kept so that they can be checked against the paper).
#[allow(clippy::excessive_precision)]
const PPND16_A: [f64; 8] = [
    3.387132872796366608,
    133.14166789178437745,
    1971.5909503065514427,
    13731.693765509461125,
    45921.953931549871457,
    67265.770927008700853,
    33430.575583588128105,
    2509.0809287301226727,
];
#[allow(clippy::excessive_precision)]
const PPND16_B: [f64; 8] = [
    1.0,
    42.313330701600911252,
    687.1870074920579083,
    5394.1960214247511077,
    21213.794301586595867,
    39307.89580009271061,
    28729.085735721942674,
    5226.495278852854561,
];
#[allow(clippy::excessive_precision)]
const PPND16_C: [f64; 8] = [
    1.42343711074968357734,
    4.6303378461565452959,
    5.7694972214606914055,
    3.64784832476320460504,
    1.27045825245236838258,
    0.24178072517745061177,
    0.0227238449892691845833,
    7.7454501427834140764e-4,
];
#[allow(clippy::excessive_precision)]
const PPND16_D: [f64; 8] = [
    1.0,
    2.05319162663775882187,
    1.6763848301838038494,
    0.68976733498510000455,
    0.14810397642748007459,
    0.0151986665636164571966,
    5.475938084995344946e-4,
    1.05075007164441684324e-9,
];
#[allow(clippy::excessive_precision)]
const PPND16_E: [f64; 8] = [
    6.6579046435011037772,
    5.4637849111641143699,
    1.7848265399172913358,
    0.29656057182850489123,
    0.026532189526576123093,
    0.0012426609473880784386,
    2.71155556874348757815e-5,
    2.01033439929228813265e-7,
];
#[allow(clippy::excessive_precision)]
const PPND16_F: [f64; 8] = [
    1.0,
    0.59983220655588793769,
    0.13692988092273580531,
    0.0148753612908506148525,
    7.868691311456132591e-4,
    1.8463183175100546818e-5,
    1.4215117583164458887e-7,
    2.04426310338993978564e-15,
];

/// Σ cᵢ xⁱ by Horner's rule.
fn polynomial(c: &[f64; 8], x: f64) -> f64 {
    c.iter().rev().fold(0.0, |acc, &ci| acc * x + ci)
}

/// The `p`-quantile of the standard normal distribution (its inverse CDF), by Wichura's
/// algorithm AS 241 (PPND16): about 16 correct digits over (0, 1). ±∞ at 0 and 1, NaN outside.
pub fn normal_quantile(p: f64) -> f64 {
    if p.is_nan() || !(0.0..=1.0).contains(&p) {
        return f64::NAN;
    }
    if p == 0.0 {
        return f64::NEG_INFINITY;
    }
    if p == 1.0 {
        return f64::INFINITY;
    }
    let q = p - 0.5;
    if q.abs() <= 0.425 {
        let r = 0.180625 - q * q;
        return q * polynomial(&PPND16_A, r) / polynomial(&PPND16_B, r);
    }
    let tail = if q < 0.0 { p } else { 1.0 - p };
    let r = (-tail.ln()).sqrt();
    let value = if r <= 5.0 {
        polynomial(&PPND16_C, r - 1.6) / polynomial(&PPND16_D, r - 1.6)
    } else {
        polynomial(&PPND16_E, r - 5.0) / polynomial(&PPND16_F, r - 5.0)
    };
    if q < 0.0 {
        -value
    } else {
        value
    }
}

/// Wilson's score interval for a binomial proportion: `k` successes in `n` trials, coverage
/// `level` (`scipy.stats.binomtest(k, n).proportion_ci(level, method="wilson")`). It keeps close
/// to its nominal coverage with a handful of trials and never leaves [0, 1], unlike the normal
/// ("Wald") interval, which collapses to a point at 0 of n. `None` when `n` is 0 or `k` > `n`.
pub fn wilson_interval(k: usize, n: usize, level: f64) -> Option<(f64, f64)> {
    if n == 0 || k > n {
        return None;
    }
    let z = normal_quantile(0.5 + level / 2.0);
    let (n, p) = (n as f64, k as f64 / n as f64);
    let denom = 2.0 * (n + z * z);
    let center = (2.0 * n * p + z * z) / denom;
    let half = z * (z * z + 4.0 * n * p * (1.0 - p)).sqrt() / denom;
    Some(((center - half).max(0.0), (center + half).min(1.0)))
}

/// Two-sided Fisher's exact test of the 2×2 table `[[a, b], [c, d]]`: the probability, with
/// every margin fixed, of a table no more likely than the observed one
/// (`scipy.stats.fisher_exact(table).pvalue`). Probabilities within a relative 10⁻⁷ of the
/// observed one count as equal (R's `fisher.test` tolerance), so that rounding cannot split
/// tables that are equally likely by symmetry.
pub fn fisher_exact(table: [[u64; 2]; 2]) -> f64 {
    let [[a, b], [c, d]] = table;
    let (row1, row2, col1) = (a + b, c + d, a + c);
    let n = row1 + row2;
    if row1 == 0 || row2 == 0 || col1 == 0 || col1 == n {
        return 1.0;
    }
    let ln_choose = |n: u64, k: u64| {
        libm::lgamma((n + 1) as f64)
            - libm::lgamma((k + 1) as f64)
            - libm::lgamma((n - k + 1) as f64)
    };
    let ln_total = ln_choose(n, col1);
    // The hypergeometric probability of a top-left cell x.
    let pmf = |x: u64| (ln_choose(row1, x) + ln_choose(row2, col1 - x) - ln_total).exp();
    let observed = pmf(a);
    let (lo, hi) = (col1.saturating_sub(row2), row1.min(col1));
    let p: f64 = (lo..=hi)
        .map(pmf)
        .filter(|&q| q <= observed * (1.0 + 1e-7))
        .sum();
    p.min(1.0)
}

/// Seeds per variant (two equal groups) that a two-sided Wilcoxon–Mann–Whitney test at level
/// `alpha` needs to detect a probability of superiority `ps` with probability `power`, by
/// Noether's (1987) formula n = (z₁₋α/₂ + z_power)² / (6 (ps − ½)²), rounded up, and at least
/// the smallest n at which an exact test can reach `alpha` at all ([`smallest_exact_p`]).
/// `None` when `ps` is ½ (no difference to detect) or not a probability.
pub fn seeds_for_power(ps: f64, alpha: f64, power: f64) -> Option<usize> {
    if !(0.0..=1.0).contains(&ps) || (ps - 0.5).abs() < 1e-12 {
        return None;
    }
    let z = normal_quantile(1.0 - alpha / 2.0) + normal_quantile(power);
    let n = (z * z / (6.0 * (ps - 0.5).powi(2))).ceil();
    let noether = if n.is_finite() && n < 1e9 {
        n as usize
    } else {
        1_000_000_000
    };
    let attainable = (1..).find(|&k| smallest_exact_p(k, k) < alpha).unwrap_or(1);
    Some(noether.max(attainable))
}

/// Ranks of `values` from 1 (smallest) to n, tied values sharing the mean of their ranks
/// (`scipy.stats.rankdata(values)`, method "average").
pub fn midranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut ranks = vec![0.0; values.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i + 1;
        while j < order.len() && values[order[j]] == values[order[i]] {
            j += 1;
        }
        let rank = (i + 1 + j) as f64 / 2.0;
        for &k in &order[i..j] {
            ranks[k] = rank;
        }
        i = j;
    }
    ranks
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

pub use ganbench_spec::Direction;

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
    fn both_exact_computations_agree_without_ties() {
        // The Gaussian-binomial distribution of U and the counting over tie groups (here all
        // of size 1) are two computations of one distribution.
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        for (n1, n2) in [(1, 1), (2, 5), (3, 3), (4, 7), (6, 6), (9, 4)] {
            let mut pool: Vec<f64> = (0..n1 + n2).map(|i| i as f64).collect();
            for _ in 0..5 {
                for i in (1..pool.len()).rev() {
                    pool.swap(i, rng.random_range(0..=i));
                }
                let ranks = RankSums::new(&pool[..n1], &pool[n1..]).unwrap();
                assert!(!ranks.has_ties);
                let plain = ranks.exact().p;
                let counted = ranks.exact_p_with_ties();
                assert!(
                    (plain - counted).abs() < 1e-12,
                    "{n1} vs {n2}: {plain} {counted}"
                );
            }
        }
    }

    #[test]
    fn midranks_average_ties_like_scipy_rankdata() {
        // scipy.stats.rankdata([3, 1, 3, 2, 3]) = [4, 1, 4, 2, 4]
        assert_eq!(
            midranks(&[3.0, 1.0, 3.0, 2.0, 3.0]),
            [4.0, 1.0, 4.0, 2.0, 4.0]
        );
        assert!(midranks(&[]).is_empty());
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
    fn the_bootstrap_interval_covers_the_true_difference_about_as_often_as_it_says() {
        // 400 experiments: 20 normal values against 20 shifted by 0.5. A 95% interval should
        // contain 0.5 in about 95% of them; the percentile bootstrap runs a little short with
        // 20 values (about 93%). 400 experiments put the count within ±2.5 points (2σ).
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let mut normal = || {
            let (u, v): (f64, f64) = (rng.random(), rng.random());
            (-2.0 * (1.0 - u).ln()).sqrt() * (std::f64::consts::TAU * v).cos()
        };
        let experiments = 400;
        let mut covered = 0;
        for e in 0..experiments {
            let x: Vec<f64> = (0..20).map(|_| normal() + 0.5).collect();
            let y: Vec<f64> = (0..20).map(|_| normal()).collect();
            let (lo, hi) = bootstrap_mean_difference(&x, &y, 0.95, 1000, e).unwrap();
            covered += usize::from(lo <= 0.5 && 0.5 <= hi);
        }
        let rate = covered as f64 / experiments as f64;
        assert!((0.89..=0.98).contains(&rate), "coverage {rate}");
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
