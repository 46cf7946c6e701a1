//! The headline verdict: the variants ranked on the primary metric, every pair tested, and one
//! sentence per finding, each computed from the data.
//!
//! Method (stated on the page):
//! - A variant enters with its runs that ended ([`crate::select`]: its best configuration,
//!   measured on runs it was not chosen on, when it has several).
//! - A run that diverged, failed or logged no finite value counts as the worst possible value
//!   of the primary metric: for a stability study, not finishing is the result. Runs are
//!   ordered by the primary metric, then by its tie-break (the high-quality share for modes).
//! - Variants are ranked by the mean rank of their runs among all ranked runs (ties at
//!   midranks), the Kruskal–Wallis ordering.
//! - Every pair is tested with a two-sided Mann–Whitney U test on that order (exact permutation
//!   p-values), Holm-adjusted over all pairs; its effect size is the probability of
//!   superiority. The difference of means is over finished runs, with a percentile-bootstrap
//!   interval. The shares without a result get Wilson intervals and pairwise Fisher's exact
//!   tests, Holm-adjusted over the pairs as a second family.
//! - For a pair that is not significant: the smallest p an exact test of its run counts can
//!   give, and the seeds per variant that would detect the observed probability of superiority
//!   with 80% power (Noether's formula, α divided by the number of pairs).

use serde::Serialize;

use crate::load::Loaded;
use crate::metric;
use crate::primary::PrimaryMetric;
use crate::select::{Entry, Selection, Unranked};
use crate::stats::{self, Direction, MwuMethod};

/// Significance level of the tests, after Holm's correction.
pub const ALPHA: f64 = 0.05;
/// Bootstrap resamples for the interval of a difference of means.
pub const BOOTSTRAP_DRAWS: usize = 10_000;
/// Coverage of the intervals.
pub const CI_LEVEL: f64 = 0.95;
/// The power the seed counts are planned for.
pub const POWER: f64 = 0.8;
/// Below this share of high-quality samples in every variant, "modes captured" counts modes
/// that scattered samples happen to hit (measured: grid25 after 2000 steps, every variant under
/// 3%, the VAE "first" with 21 of 25 modes), and the page says so.
pub const LOW_QUALITY: f64 = 0.10;

/// A run's result on the primary metric: `Some((value, tie-break value))` for a finished run
/// with a finite value (the tie-break NaN when absent); `None` for a run that diverged, failed
/// or gave no finite value, which counts as the worst result.
pub fn outcome(loaded: &Loaded, primary: &PrimaryMetric, r: usize) -> Option<(f64, f64)> {
    if loaded.runs[r].run.status != ganbench_store::Status::Finished {
        return None;
    }
    let value = loaded.metrics[primary.index].final_value(r);
    if !value.is_finite() {
        return None;
    }
    let tie = primary
        .tie_index
        .map_or(f64::NAN, |t| loaded.metrics[t].final_value(r));
    Some((value, tie))
}

/// Scores that order `outcomes` from worst to best (higher is better; equal outcomes get equal
/// scores; no result is 0): what the rank tests compare. They depend only on the order, so any
/// monotone change of the metric leaves every test unchanged.
pub fn scores(outcomes: &[Option<(f64, f64)>], primary: &PrimaryMetric) -> Vec<f64> {
    let orient = |d: Option<Direction>, x: f64| match (d, x.is_finite()) {
        (_, false) => f64::NEG_INFINITY,
        (Some(Direction::Lower), true) => -x,
        _ => x,
    };
    let key = |o: &(f64, f64)| {
        (
            orient(Some(primary.direction), o.0),
            orient(primary.tie_direction, o.1),
        )
    };
    let mut keys: Vec<(f64, f64)> = outcomes.iter().flatten().map(key).collect();
    let cmp = |a: &(f64, f64), b: &(f64, f64)| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1));
    keys.sort_by(cmp);
    keys.dedup();
    outcomes
        .iter()
        .map(|o| match o {
            None => 0.0,
            Some(o) => {
                let k = key(o);
                keys.binary_search_by(|probe| cmp(probe, &k))
                    .map_or(0.0, |i| (i + 1) as f64)
            }
        })
        .collect()
}

/// One ranked variant.
#[derive(Debug, Clone, Serialize)]
pub struct Ranked {
    /// 1 for the best; equal mean ranks share a rank.
    pub rank: usize,
    /// The entry's label (the chosen configuration's, for a variant with several).
    pub label: String,
    /// The variant's label.
    pub variant: String,
    /// Its colour in the figures, `#rrggbb`.
    pub colour: String,
    /// How its runs were chosen.
    pub selection: Selection,
    /// Runs it is measured on.
    pub runs: usize,
    /// Of them, finished with a value.
    pub with_result: usize,
    /// Diverged.
    pub diverged: usize,
    /// Failed.
    pub failed: usize,
    /// Finished without a finite value.
    pub no_value: usize,
    /// Share of runs without a result.
    pub no_result_share: f64,
    /// Its Wilson interval.
    pub no_result_ci: Option<(f64, f64)>,
    /// Mean of the primary metric over the runs with a result.
    pub mean: Option<f64>,
    /// Their sample standard deviation.
    pub std: Option<f64>,
    /// Mean of the tie-break metric over the runs with a result.
    pub tie_mean: Option<f64>,
    /// Mean rank of its runs among all ranked runs (higher is better).
    pub mean_rank: f64,
    /// The seeds of its runs.
    pub seeds: Vec<u64>,
}

/// The test of two ranked variants, `a` ranked above (or level with) `b`.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    /// The higher-ranked variant.
    pub a: String,
    /// The other.
    pub b: String,
    /// Runs of each.
    pub n_a: usize,
    /// Runs of each.
    pub n_b: usize,
    /// Runs without a result, of each.
    pub no_result_a: usize,
    /// Runs without a result, of each.
    pub no_result_b: usize,
    /// Mann–Whitney U of `a` (runs without a result as the worst value).
    pub u: f64,
    /// Two-sided p-value.
    pub p: f64,
    /// How `p` was computed.
    pub method: MwuMethod,
    /// `p` after Holm's correction over all pairs.
    pub p_holm: f64,
    /// P(a run of `a` beats a run of `b`) + ½ P(tie).
    pub probability_of_superiority: f64,
    /// Mean of `a` minus mean of `b` over finished runs, in the metric's unit.
    pub difference: Option<f64>,
    /// Bootstrap interval of that difference.
    pub ci: Option<(f64, f64)>,
    /// Fisher's exact test of the shares without a result.
    pub no_result_p: f64,
    /// The same after Holm's correction over all pairs.
    pub no_result_p_holm: f64,
    /// Whether `p_holm` < [`ALPHA`].
    pub significant: bool,
    /// The better variant, when significant.
    pub better: Option<String>,
    /// The smallest p an exact test of `n_a` against `n_b` runs can give.
    pub smallest_p: f64,
    /// Seeds per variant that would detect this probability of superiority with 80% power at
    /// α / (number of pairs); `None` when it is ½.
    pub seeds_for_power: Option<usize>,
}

/// Adjacent variants of the ranking and what the page says about them.
#[derive(Debug, Clone, Serialize)]
pub struct AdjacentPair {
    /// Index into [`Verdict::comparisons`].
    pub comparison: usize,
    /// The finding, in words.
    pub sentence: String,
}

/// The headline: the ranking, the tests and the findings in words.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    /// The metric that decided, and why.
    pub primary: PrimaryMetric,
    /// How the numbers were computed, in words.
    pub method: String,
    /// Best first.
    pub ranking: Vec<Ranked>,
    /// Variants that could not be ranked, with the reason.
    pub unranked: Vec<Unranked>,
    /// Every pair of ranked variants, in ranking order.
    pub comparisons: Vec<Comparison>,
    /// Neighbours in the ranking.
    pub adjacent: Vec<AdjacentPair>,
    /// Runs left out because they have not ended.
    pub unfinished_runs: usize,
    /// The findings, one sentence each: the metric, the leader, each adjacent pair, failures,
    /// how searched variants were chosen, what is left out.
    pub findings: Vec<String>,
}

/// Computes the verdict of `entries` (see the module docs).
pub fn verdict(
    loaded: &Loaded,
    primary: &PrimaryMetric,
    entries: &[Entry],
    unranked: Vec<Unranked>,
) -> Verdict {
    let outcomes: Vec<Vec<Option<(f64, f64)>>> = entries
        .iter()
        .map(|e| {
            e.runs
                .iter()
                .map(|&r| outcome(loaded, primary, r))
                .collect()
        })
        .collect();
    let pooled: Vec<Option<(f64, f64)>> = outcomes.iter().flatten().copied().collect();
    let pooled_scores = scores(&pooled, primary);
    let ranks = stats::midranks(&pooled_scores);
    let mut offset = 0;
    let mut rows: Vec<(usize, Ranked, Vec<f64>)> = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        let n = e.runs.len();
        let my_scores = pooled_scores[offset..offset + n].to_vec();
        let mean_rank = ranks[offset..offset + n].iter().sum::<f64>() / n as f64;
        offset += n;
        let values: Vec<f64> = outcomes[i].iter().flatten().map(|o| o.0).collect();
        let ties: Vec<f64> = outcomes[i].iter().flatten().map(|o| o.1).collect();
        let summary = stats::summarize(&values);
        let count = |s: ganbench_store::Status| {
            e.runs
                .iter()
                .filter(|&&r| loaded.runs[r].run.status == s)
                .count()
        };
        let diverged = count(ganbench_store::Status::Diverged);
        let failed = count(ganbench_store::Status::Failed);
        let no_result = n - values.len();
        let mut seeds: Vec<u64> = e.runs.iter().map(|&r| loaded.runs[r].run.seed).collect();
        seeds.sort_unstable();
        rows.push((
            i,
            Ranked {
                rank: 0,
                label: e.label.clone(),
                variant: loaded.variants[e.variant].label.clone(),
                colour: loaded.variants[e.variant].colour.hex(),
                selection: e.selection.clone(),
                runs: n,
                with_result: values.len(),
                diverged,
                failed,
                no_value: no_result - diverged - failed,
                no_result_share: no_result as f64 / n as f64,
                no_result_ci: stats::wilson_interval(no_result, n, CI_LEVEL),
                mean: summary.mean,
                std: summary.std,
                tie_mean: stats::summarize(&ties).mean,
                mean_rank,
                seeds,
            },
            my_scores,
        ));
    }
    // Best first; equal mean ranks by fewer runs without a result, then in variant order.
    rows.sort_by(|a, b| {
        b.1.mean_rank
            .total_cmp(&a.1.mean_rank)
            .then(a.1.no_result_share.total_cmp(&b.1.no_result_share))
            .then(a.0.cmp(&b.0))
    });
    for k in 0..rows.len() {
        rows[k].1.rank = if k > 0 && rows[k].1.mean_rank == rows[k - 1].1.mean_rank {
            rows[k - 1].1.rank
        } else {
            k + 1
        };
    }

    let pairs = rows.len() * rows.len().saturating_sub(1) / 2;
    let mut comparisons = Vec::with_capacity(pairs);
    for i in 0..rows.len() {
        for j in i + 1..rows.len() {
            comparisons.push(compare(&rows[i], &rows[j], &outcomes, pairs));
        }
    }
    let holm = stats::holm(&comparisons.iter().map(|c| c.p).collect::<Vec<_>>());
    let holm_no_result = stats::holm(
        &comparisons
            .iter()
            .map(|c| c.no_result_p)
            .collect::<Vec<_>>(),
    );
    for ((c, p), q) in comparisons.iter_mut().zip(holm).zip(holm_no_result) {
        c.p_holm = p;
        c.no_result_p_holm = q;
        c.significant = p < ALPHA && c.probability_of_superiority != 0.5;
        c.better = c.significant.then(|| {
            if c.probability_of_superiority > 0.5 {
                c.a.clone()
            } else {
                c.b.clone()
            }
        });
    }
    let ranking: Vec<Ranked> = rows.into_iter().map(|r| r.1).collect();
    let index_of = |i: usize, j: usize| {
        // Position of pair (i, j), i < j, in the row-major upper triangle.
        let n = ranking.len();
        i * n - i * (i + 1) / 2 + (j - i - 1)
    };
    let noun = metric::noun(&primary.metric);
    let adjacent: Vec<AdjacentPair> = (1..ranking.len())
        .map(|k| {
            let c = index_of(k - 1, k);
            AdjacentPair {
                comparison: c,
                sentence: pair_sentence(
                    &comparisons[c],
                    &ranking[k - 1],
                    &ranking[k],
                    primary,
                    &noun,
                    pairs,
                ),
            }
        })
        .collect();
    let unfinished_runs = loaded
        .runs
        .iter()
        .filter(|r| !crate::select::ended(r.run.status))
        .count();
    let mut findings = vec![primary_sentence(primary)];
    findings.extend(leader_sentence(&ranking, &comparisons, &noun, index_of));
    findings.extend(adjacent.iter().map(|a| a.sentence.clone()));
    findings.extend(failure_sentences(&ranking, &comparisons));
    findings.extend(low_quality_sentence(primary, &ranking));
    findings.extend(ranking.iter().filter_map(selection_sentence));
    findings.extend(
        unranked
            .iter()
            .map(|u| format!("{} is not ranked: {}.", u.label, u.reason)),
    );
    if unfinished_runs > 0 {
        findings.push(format!(
            "{} left out: not ended yet (queued, running or interrupted); run the sweep again to \
             finish {}.",
            plural(unfinished_runs, "run is", "runs are"),
            if unfinished_runs == 1 { "it" } else { "them" }
        ));
    }
    Verdict {
        primary: primary.clone(),
        method: method_sentence(primary, pairs),
        ranking,
        unranked,
        comparisons,
        adjacent,
        unfinished_runs,
        findings,
    }
}

fn compare(
    a: &(usize, Ranked, Vec<f64>),
    b: &(usize, Ranked, Vec<f64>),
    outcomes: &[Vec<Option<(f64, f64)>>],
    pairs: usize,
) -> Comparison {
    let (ra, rb) = (&a.1, &b.1);
    let test = stats::mann_whitney(&a.2, &b.2).expect("entries have runs");
    let ps = stats::probability_of_superiority(&test, ra.runs, rb.runs);
    let values = |i: usize| -> Vec<f64> { outcomes[i].iter().flatten().map(|o| o.0).collect() };
    let (xa, xb) = (values(a.0), values(b.0));
    let mean = |s: &[f64]| s.iter().sum::<f64>() / s.len() as f64;
    let difference = (!xa.is_empty() && !xb.is_empty()).then(|| mean(&xa) - mean(&xb));
    // Seeded by the pair's variants, so that the page is the same every time.
    let seed = 0x5eed_0000 + (a.0 * 1000 + b.0) as u64;
    let no_result = |r: &Ranked| (r.runs - r.with_result) as u64;
    Comparison {
        a: ra.label.clone(),
        b: rb.label.clone(),
        n_a: ra.runs,
        n_b: rb.runs,
        no_result_a: no_result(ra) as usize,
        no_result_b: no_result(rb) as usize,
        u: test.u,
        p: test.p,
        method: test.method,
        p_holm: test.p,
        probability_of_superiority: ps,
        difference,
        ci: stats::bootstrap_mean_difference(&xa, &xb, CI_LEVEL, BOOTSTRAP_DRAWS, seed),
        no_result_p: stats::fisher_exact([
            [no_result(ra), ra.with_result as u64],
            [no_result(rb), rb.with_result as u64],
        ]),
        no_result_p_holm: 1.0,
        significant: false,
        better: None,
        smallest_p: stats::smallest_exact_p(ra.runs, rb.runs),
        seeds_for_power: stats::seeds_for_power(ps, ALPHA / pairs.max(1) as f64, POWER),
    }
}

// ---- Sentences. Every number in them comes from the data or from the constants above. ----

/// A number with 3 significant digits, trailing zeros dropped.
pub fn num(x: f64) -> String {
    if !x.is_finite() {
        return crate::html::number(x);
    }
    if x == 0.0 {
        return "0".into();
    }
    let magnitude = x.abs().log10().floor() as i32;
    if !(-3..5).contains(&magnitude) {
        return format!("{x:.2e}");
    }
    let decimals = (2 - magnitude).max(0) as usize;
    let s = format!("{x:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// A p-value: two decimals from 0.1 up, two significant digits below (0.048, not a rounded
/// 0.05 that reads like the threshold).
pub fn pval(p: f64) -> String {
    if p >= 0.995 {
        "1".into()
    } else if p >= 0.1 {
        format!("{p:.2}")
    } else if p >= 1e-4 {
        let decimals = (1 - p.log10().floor() as i32) as usize;
        format!("{p:.decimals$}")
    } else {
        format!("{p:.1e}")
    }
}

/// A share as a percentage.
pub fn pct(x: f64) -> String {
    if x > 0.0 && x < 0.005 {
        "<1%".into()
    } else if x < 1.0 && x > 0.995 {
        ">99%".into()
    } else {
        format!("{:.0}%", x * 100.0)
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// `a`, `a and b`, `a, b and c`.
fn list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// `seed 1`, `seeds 0, 1 and 2`.
pub(crate) fn seeds_text(seeds: &[u64]) -> String {
    let shown: Vec<String> = seeds.iter().map(u64::to_string).collect();
    format!(
        "{} {}",
        if seeds.len() == 1 { "seed" } else { "seeds" },
        list(&shown)
    )
}

fn primary_sentence(primary: &PrimaryMetric) -> String {
    let tie = primary.tie_break.as_ref().map_or(String::new(), |t| {
        format!("; ties broken by the {}", metric::noun(t))
    });
    format!(
        "Ranked by {} ({} is better{tie}): {}.",
        metric::noun(&primary.metric),
        primary.direction,
        primary.reason
    )
}

/// When the ranking is on modes with the high-quality share breaking ties and no variant puts
/// even [`LOW_QUALITY`] of its samples near a mode: the modes are hit by scattered samples.
fn low_quality_sentence(primary: &PrimaryMetric, ranking: &[Ranked]) -> Option<String> {
    if primary.metric != "modes" || primary.tie_break.as_deref() != Some("high_quality") {
        return None;
    }
    let best = ranking
        .iter()
        .filter_map(|r| r.tie_mean.map(|q| (r, q)))
        .max_by(|a, b| a.1.total_cmp(&b.1))?;
    (best.1 < LOW_QUALITY).then(|| {
        format!(
            "Read the modes with care: no variant puts {}% of its samples near a mode (the most, \
             {}, puts {}%), so a mode counts as captured when scattered samples happen to fall on \
             it; train longer, or rank on the high-quality share (`primary: \"high_quality\"`).",
            num(LOW_QUALITY * 100.0),
            best.0.label,
            num(best.1 * 100.0)
        )
    })
}

fn method_sentence(primary: &PrimaryMetric, pairs: usize) -> String {
    format!(
        "Each variant is measured on its runs that ended. A run that diverged, failed or logged \
         no finite {noun} counts as the worst possible {noun}, so not finishing is part of the \
         result and a variant that never finishes ranks last. Variants are ordered by the mean \
         rank of their runs among all ranked runs; each pair is compared with a two-sided \
         Mann–Whitney U test on that order (exact permutation p-values up to {exact} runs per \
         pair, the normal approximation beyond), Holm-adjusted over the {pairs} {pair_word}, and \
         called significant when the adjusted p < {ALPHA}. The effect size is the probability \
         that a run of the higher-ranked variant beats one of the other (ties count half); the \
         difference of means is over runs with a result, with a {level}% percentile-bootstrap \
         interval ({BOOTSTRAP_DRAWS} resamples, seeded). Shares of runs without a result have \
         {level}% Wilson intervals and are compared with Fisher's exact test, Holm-adjusted over \
         the pairs. Seeds needed: Noether's formula for {power}% power at α = {ALPHA}/{pairs}.",
        noun = metric::noun(&primary.metric),
        exact = stats::EXACT_MAX_TOTAL,
        pair_word = if pairs == 1 { "pair" } else { "pairs" },
        level = CI_LEVEL * 100.0,
        power = POWER * 100.0,
    )
}

fn leader_sentence(
    ranking: &[Ranked],
    comparisons: &[Comparison],
    noun: &str,
    index_of: impl Fn(usize, usize) -> usize,
) -> Option<String> {
    let top = ranking.first()?;
    if ranking.len() == 1 {
        return Some(format!(
            "{} is the only variant that can be ranked: there is nothing to compare it with.",
            top.label
        ));
    }
    let against: Vec<&Comparison> = (1..ranking.len())
        .map(|k| &comparisons[index_of(0, k)])
        .collect();
    let beaten: Vec<&&Comparison> = against
        .iter()
        .filter(|c| c.significant && c.probability_of_superiority > 0.5)
        .collect();
    let tied_first: Vec<String> = ranking[1..]
        .iter()
        .filter(|r| r.rank == 1)
        .map(|r| r.label.clone())
        .collect();
    if !tied_first.is_empty() {
        return Some(format!(
            "{} and {} share the first place on {noun}: their runs rank the same on average.",
            top.label,
            list(&tied_first)
        ));
    }
    if beaten.len() == against.len() {
        let worst = against.iter().map(|c| c.p_holm).fold(0.0, f64::max);
        return Some(format!(
            "{} is the best variant on {noun}: its runs beat those of {} (Holm-adjusted p ≤ {}).",
            top.label,
            if against.len() == 1 {
                against[0].b.clone()
            } else {
                format!("each of the other {} variants", against.len())
            },
            pval(worst)
        ));
    }
    let level: Vec<String> = against
        .iter()
        .filter(|c| !(c.significant && c.probability_of_superiority > 0.5))
        .map(|c| format!("{} (p = {})", c.b, pval(c.p_holm)))
        .collect();
    let beaten_text = if beaten.is_empty() {
        String::new()
    } else {
        let names: Vec<String> = beaten.iter().map(|c| c.b.clone()).collect();
        format!(", though it is significantly better than {}", list(&names))
    };
    Some(format!(
        "{} ranks first on {noun}, but the data cannot tell it from {} after Holm's correction{beaten_text}.",
        top.label,
        list(&level)
    ))
}

fn means_text(c: &Comparison, upper: &Ranked, lower: &Ranked, primary: &PrimaryMetric) -> String {
    let noun = metric::noun(&primary.metric);
    match (upper.mean, lower.mean) {
        (Some(mu), Some(ml)) => {
            let mut text = format!(
                "{noun} {} against {} on average over runs with a result",
                num(mu),
                num(ml)
            );
            if let (Some(d), Some((lo, hi))) = (c.difference, c.ci) {
                text.push_str(&format!(
                    " (difference {}, {:.0}% CI {} to {})",
                    num(d),
                    CI_LEVEL * 100.0,
                    num(lo),
                    num(hi)
                ));
            }
            // The tie-break decides between runs with equal primary values: show it.
            if let (Some(t), Some(tu), Some(tl)) =
                (&primary.tie_break, upper.tie_mean, lower.tie_mean)
            {
                text.push_str(&format!(
                    ", and {} {} against {}",
                    metric::noun(t),
                    num(tu),
                    num(tl)
                ));
            }
            // The upper variant ranks higher although its finished runs score worse: say why.
            if primary.direction.better(ml, mu) && lower.with_result < lower.runs {
                text.push_str(&format!(
                    ", but {} of {}'s {} runs gave no result",
                    lower.runs - lower.with_result,
                    lower.label,
                    lower.runs
                ));
            }
            text
        }
        (Some(mu), None) => format!(
            "{noun} {} on average over {}'s runs with a result, while {} has none",
            num(mu),
            upper.label,
            lower.label
        ),
        _ => format!(
            "neither {} nor {} has a run with a result",
            upper.label, lower.label
        ),
    }
}

fn pair_sentence(
    c: &Comparison,
    upper: &Ranked,
    lower: &Ranked,
    primary: &PrimaryMetric,
    noun: &str,
    pairs: usize,
) -> String {
    let relation = if upper.rank == lower.rank {
        "ties with"
    } else {
        "ranks above"
    };
    let ps = c.probability_of_superiority;
    let mut s = format!(
        "{} {relation} {}: {}. A run of {} beats one of {} with probability {} (Mann–Whitney p = {}, {} after Holm's correction over {})",
        upper.label,
        lower.label,
        means_text(c, upper, lower, primary),
        upper.label,
        lower.label,
        pct(ps),
        pval(c.p),
        pval(c.p_holm),
        plural(pairs, "pair", "pairs"),
    );
    if c.significant {
        s.push_str(&format!(
            ": {} is significantly better.",
            c.better.as_deref().unwrap_or("")
        ));
        return s;
    }
    if ps == 0.5 {
        s.push_str(&format!(": their runs show no difference in {noun}."));
        return s;
    }
    s.push_str(": not significant");
    if c.smallest_p >= ALPHA {
        s.push_str(&format!(
            ", and with {} and {} runs it could not be: the smallest p an exact test of so few \
             runs can give is {}",
            c.n_a,
            c.n_b,
            pval(c.smallest_p)
        ));
    }
    if let Some(n) = c.seeds_for_power {
        let have = c.n_a.max(c.n_b);
        if n > have {
            s.push_str(&format!(
                ". About {n} seeds per variant would detect a difference this large with {:.0}% power",
                POWER * 100.0
            ));
        } else {
            s.push_str(&format!(
                ". {n} seeds per variant would usually detect a difference this large, so the \
                 true difference is probably smaller than these runs suggest"
            ));
        }
    }
    s.push('.');
    s
}

fn failure_sentences(ranking: &[Ranked], comparisons: &[Comparison]) -> Vec<String> {
    let mut out = Vec::new();
    for r in ranking {
        let none = r.runs - r.with_result;
        if none == 0 {
            continue;
        }
        let mut why = Vec::new();
        if r.diverged > 0 {
            why.push(format!("{} diverged", r.diverged));
        }
        if r.failed > 0 {
            why.push(format!("{} failed", r.failed));
        }
        if r.no_value > 0 {
            why.push(format!("{} finished without a finite value", r.no_value));
        }
        let ci = r.no_result_ci.map_or(String::new(), |(lo, hi)| {
            format!(", {:.0}% CI {} to {}", CI_LEVEL * 100.0, pct(lo), pct(hi))
        });
        if none == r.runs {
            let last = r.rank == ranking.last().map_or(0, |l| l.rank);
            out.push(format!(
                "{} finished none of its {} with a result ({}){}.",
                r.label,
                plural(r.runs, "run", "runs"),
                list(&why),
                if last { ", so it ranks last" } else { "" }
            ));
        } else {
            out.push(format!(
                "{} gave no result in {} of its {} runs ({}): {}{ci}.",
                r.label,
                none,
                r.runs,
                list(&why),
                pct(r.no_result_share)
            ));
        }
    }
    if out.is_empty() || comparisons.is_empty() {
        return out;
    }
    let mut differing: Vec<&Comparison> = comparisons
        .iter()
        .filter(|c| c.no_result_p_holm < ALPHA)
        .collect();
    if differing.is_empty() {
        let smallest = comparisons
            .iter()
            .min_by(|a, b| a.no_result_p_holm.total_cmp(&b.no_result_p_holm))
            .expect("not empty");
        out.push(format!(
            "No two variants differ significantly in how often they give no result (smallest \
             Holm-adjusted Fisher's exact p = {}, {} against {}: {}/{} against {}/{}).",
            pval(smallest.no_result_p_holm),
            smallest.a,
            smallest.b,
            smallest.no_result_a,
            smallest.n_a,
            smallest.no_result_b,
            smallest.n_b
        ));
    } else {
        differing.sort_by(|a, b| a.no_result_p_holm.total_cmp(&b.no_result_p_holm));
        for c in differing {
            let (more, fewer) = if c.no_result_a * c.n_b > c.no_result_b * c.n_a {
                ((&c.a, c.no_result_a, c.n_a), (&c.b, c.no_result_b, c.n_b))
            } else {
                ((&c.b, c.no_result_b, c.n_b), (&c.a, c.no_result_a, c.n_a))
            };
            out.push(format!(
                "{} gives no result significantly more often than {} ({}/{} against {}/{}; \
                 Fisher's exact p = {}, {} after Holm's correction).",
                more.0,
                fewer.0,
                more.1,
                more.2,
                fewer.1,
                fewer.2,
                pval(c.no_result_p),
                pval(c.no_result_p_holm)
            ));
        }
    }
    out
}

fn selection_sentence(r: &Ranked) -> Option<String> {
    match &r.selection {
        Selection::AllRuns => None,
        Selection::HeldOut {
            configurations,
            chosen_on,
            measured_on,
        } => Some(format!(
            "{}: the best of {} configurations of {} on {}, measured on {} ({}), so that the luck \
             that made it look best is not counted as its result.",
            r.label,
            configurations,
            r.variant,
            seeds_text(chosen_on),
            seeds_text(measured_on),
            plural(r.runs, "run", "runs")
        )),
        Selection::Confirmed {
            configurations,
            measured_on,
        } => Some(format!(
            "{}: the best of {} configurations of {} on the search's runs, measured on {} fresh \
             seeds ({}) trained by --confirm-best.",
            r.label,
            configurations,
            r.variant,
            measured_on.len(),
            list(&measured_on.iter().map(u64::to_string).collect::<Vec<_>>())
        )),
        Selection::SameRuns { configurations } => Some(format!(
            "{}: the best of {} configurations of {}, chosen and measured on the same {} (one \
             seed per configuration), so its value is optimistic: the best of many noisy runs \
             (the winner's curse). `ganbench run SWEEP.ron --confirm-best 1` trains it again on \
             fresh seeds.",
            r.label,
            configurations,
            r.variant,
            plural(r.runs, "run", "runs")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_in_sentences_are_short() {
        assert_eq!(num(7.3333), "7.33");
        assert_eq!(num(8.0), "8");
        assert_eq!(num(0.012345), "0.0123");
        assert_eq!(num(-1.5), "-1.5");
        assert_eq!(num(123456.0), "1.23e5");
        assert_eq!(pval(0.1), "0.10");
        assert_eq!(pval(0.0476), "0.048");
        assert_eq!(pval(0.0021645), "0.0022");
        assert_eq!(pval(1.0), "1");
        assert_eq!(pval(1.08e-5), "1.1e-5");
        assert_eq!(pct(2.0 / 3.0), "67%");
        assert_eq!(pct(0.001), "<1%");
        assert_eq!(list(&["a".into(), "b".into(), "c".into()]), "a, b and c");
    }
}
