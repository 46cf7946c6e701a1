//! Each variant's entry in the verdict. A variant with one configuration enters with every run
//! that ended; a variant with several (a grid or a random search) enters with its best
//! configuration, chosen on some runs and measured on others, so that the luck that made one
//! configuration look best among many (the winner's curse) is not reported as its result:
//!
//! 1. runs on fresh seeds made by `ganbench run --confirm-best K` (seeds the spec does not
//!    list): the configuration best on the search's runs, measured on those;
//! 2. otherwise, with two or more seeds: chosen on the first ⌊k/2⌋ of the k seeds (in the
//!    spec's order) and measured on the rest;
//! 3. otherwise (one seed per configuration): chosen and measured on the same runs, which the
//!    page calls optimistic.
//!
//! "Best" is the configuration whose runs rank highest among the variant's runs on the primary
//! metric, a run without a result counting as the worst ([`crate::verdict::outcome`]).

use ganbench_store::Status;
use serde::Serialize;

use crate::load::Loaded;
use crate::primary::PrimaryMetric;
use crate::stats;
use crate::verdict::{outcome, scores};

/// How a variant's entry was chosen and measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "how", rename_all = "snake_case")]
pub enum Selection {
    /// One configuration: every run that ended.
    AllRuns,
    /// The best of `configurations`, chosen on the runs with seeds `chosen_on` and measured on
    /// the runs with seeds `measured_on`.
    HeldOut {
        /// Configurations the variant has.
        configurations: usize,
        /// Seeds of the runs it was chosen on.
        chosen_on: Vec<u64>,
        /// Seeds of the runs it is measured on.
        measured_on: Vec<u64>,
    },
    /// The best of `configurations` on the search's runs, measured on confirmation runs with
    /// fresh seeds (`ganbench run --confirm-best`).
    Confirmed {
        /// Configurations the variant has.
        configurations: usize,
        /// The fresh seeds.
        measured_on: Vec<u64>,
    },
    /// The best of `configurations`, each run with one seed: chosen and measured on the same
    /// runs, so its value is optimistic.
    SameRuns {
        /// Configurations the variant has.
        configurations: usize,
    },
}

/// A variant's entry in the verdict.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The variant's index in [`Loaded::variants`].
    pub variant: usize,
    /// The chosen configuration's index in the variant's configurations.
    pub config: usize,
    /// What the verdict calls it: the variant's label, or the chosen configuration's label when
    /// it has several.
    pub label: String,
    /// The runs it is measured on (indices into [`Loaded::runs`]), all ended.
    pub runs: Vec<usize>,
    /// How it was chosen.
    pub selection: Selection,
}

/// A variant the verdict cannot rank, with the reason.
#[derive(Debug, Clone, Serialize)]
pub struct Unranked {
    /// The variant's label.
    pub label: String,
    /// Why, in words.
    pub reason: String,
}

/// Finished, diverged or failed: a run whose outcome is known.
pub fn ended(status: Status) -> bool {
    matches!(status, Status::Finished | Status::Diverged | Status::Failed)
}

/// The seeds a variant's sweep lists (`None` without a parsed spec).
fn spec_seeds(loaded: &Loaded, v: usize) -> Option<Vec<u64>> {
    let run = *loaded.variants[v].runs.first()?;
    let sweep = &loaded.sweeps[loaded.runs[run].sweep];
    sweep.spec.as_ref().map(|s| s.seeds.to_vec())
}

/// Every variant's entry, in variant order, and the variants that cannot be ranked.
pub fn entries(loaded: &Loaded, primary: &PrimaryMetric) -> (Vec<Entry>, Vec<Unranked>) {
    let mut out = Vec::new();
    let mut unranked = Vec::new();
    for (v, info) in loaded.variants.iter().enumerate() {
        let runs: Vec<usize> = info
            .runs
            .iter()
            .copied()
            .filter(|&r| ended(loaded.runs[r].run.status))
            .collect();
        if runs.is_empty() {
            unranked.push(Unranked {
                label: info.label.clone(),
                reason: "none of its runs has ended yet".into(),
            });
            continue;
        }
        // A variant whose finished runs never logged the metric does not have it (the VAE's
        // ELBO for a GAN); one that never finished counts as failing, whatever it logs.
        let finished: Vec<usize> = runs
            .iter()
            .copied()
            .filter(|&r| loaded.runs[r].run.status == Status::Finished)
            .collect();
        if !finished.is_empty()
            && finished
                .iter()
                .all(|&r| loaded.metrics[primary.index].per_run[r].is_none())
        {
            unranked.push(Unranked {
                label: info.label.clone(),
                reason: format!("none of its finished runs logged {}", primary.metric),
            });
            continue;
        }
        out.push(entry(loaded, primary, v, runs));
    }
    (out, unranked)
}

fn entry(loaded: &Loaded, primary: &PrimaryMetric, v: usize, runs: Vec<usize>) -> Entry {
    let info = &loaded.variants[v];
    let configurations = info.configs.len();
    if configurations <= 1 {
        return Entry {
            variant: v,
            config: 0,
            label: info.label.clone(),
            runs,
            selection: Selection::AllRuns,
        };
    }
    let listed = spec_seeds(loaded, v);
    let is_search_run = |r: &usize| {
        listed
            .as_ref()
            .is_none_or(|seeds| seeds.contains(&loaded.runs[*r].run.seed))
    };
    let (search, confirmation): (Vec<usize>, Vec<usize>) =
        runs.into_iter().partition(is_search_run);
    let seeds_of = |rs: &[usize]| {
        let mut seeds: Vec<u64> = rs.iter().map(|&r| loaded.runs[r].run.seed).collect();
        seeds.sort_unstable();
        seeds.dedup();
        seeds
    };
    let chosen = |config: usize, rs: &[usize]| -> Entry {
        Entry {
            variant: v,
            config,
            label: info.configs[config].label.clone(),
            runs: rs
                .iter()
                .copied()
                .filter(|&r| loaded.runs[r].config == config)
                .collect(),
            selection: Selection::AllRuns,
        }
    };

    // 1. Confirmation runs: chosen on the search, measured on the fresh seeds.
    if !confirmation.is_empty() {
        let confirmed: Vec<usize> = (0..configurations)
            .filter(|&c| confirmation.iter().any(|&r| loaded.runs[r].config == c))
            .collect();
        let best = rank_configurations(loaded, primary, &search)
            .into_iter()
            .find(|c| confirmed.contains(c))
            .unwrap_or(confirmed[0]);
        let mut e = chosen(best, &confirmation);
        e.selection = Selection::Confirmed {
            configurations,
            measured_on: seeds_of(&e.runs),
        };
        return e;
    }

    // 2. Held-out seeds: in the spec's order when it lists them.
    let mut seeds = seeds_of(&search);
    if let Some(order) = &listed {
        seeds.sort_by_key(|s| order.iter().position(|o| o == s));
    }
    if seeds.len() >= 2 {
        let (chosen_on, measured_on) = seeds.split_at(seeds.len() / 2);
        let picking: Vec<usize> = search
            .iter()
            .copied()
            .filter(|&r| chosen_on.contains(&loaded.runs[r].run.seed))
            .collect();
        let measuring: Vec<usize> = search
            .iter()
            .copied()
            .filter(|&r| measured_on.contains(&loaded.runs[r].run.seed))
            .collect();
        let best = rank_configurations(loaded, primary, &picking)
            .into_iter()
            .find(|&c| measuring.iter().any(|&r| loaded.runs[r].config == c));
        if let Some(best) = best {
            let mut e = chosen(best, &measuring);
            e.selection = Selection::HeldOut {
                configurations,
                chosen_on: chosen_on.to_vec(),
                measured_on: seeds_of(&e.runs),
            };
            return e;
        }
    }

    // 3. One seed: chosen and measured on the same runs.
    let best = rank_configurations(loaded, primary, &search)
        .first()
        .copied()
        .unwrap_or(0);
    let mut e = chosen(best, &search);
    e.selection = Selection::SameRuns { configurations };
    e
}

/// The configurations that have runs among `runs` (all of one variant), best first: by the
/// mean rank of their runs among `runs` on the primary metric (a run without a result ranking
/// lowest), then by fewer runs without a result, then in their order.
pub fn rank_configurations(loaded: &Loaded, primary: &PrimaryMetric, runs: &[usize]) -> Vec<usize> {
    let outcomes: Vec<_> = runs.iter().map(|&r| outcome(loaded, primary, r)).collect();
    let ranks = stats::midranks(&scores(&outcomes, primary));
    let mut configs: Vec<(usize, f64, usize)> = Vec::new();
    for (i, &r) in runs.iter().enumerate() {
        let c = loaded.runs[r].config;
        let failed = usize::from(outcomes[i].is_none());
        match configs.iter_mut().find(|x| x.0 == c) {
            Some(x) => {
                x.1 += ranks[i];
                x.2 += failed;
            }
            None => configs.push((c, ranks[i], failed)),
        }
    }
    let count = |c: usize| runs.iter().filter(|&&r| loaded.runs[r].config == c).count() as f64;
    let mut scored: Vec<(usize, f64, f64)> = configs
        .into_iter()
        .map(|(c, sum, failed)| (c, sum / count(c), failed as f64 / count(c)))
        .collect();
    scored.sort_by(|a, b| {
        b.1.total_cmp(&a.1)
            .then(a.2.total_cmp(&b.2))
            .then(a.0.cmp(&b.0))
    });
    scored.into_iter().map(|x| x.0).collect()
}

/// One result per configuration of variant `v` that has an ended run, in configuration order:
/// the mean of the primary metric over its ended runs, a run without a result counting as the
/// worst value (so a configuration that diverged on any seed is one nobody would pick). The
/// trials of the best-versus-budget curve.
pub fn configuration_results(loaded: &Loaded, primary: &PrimaryMetric, v: usize) -> Vec<f64> {
    loaded.variants[v]
        .configs
        .iter()
        .filter_map(|c| {
            let values: Vec<f64> = c
                .runs
                .iter()
                .filter(|&&r| ended(loaded.runs[r].run.status))
                .map(|&r| outcome(loaded, primary, r).map_or(primary.direction.worst(), |o| o.0))
                .collect();
            (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
        })
        .collect()
}

/// The `k` best configurations of each variant that has several, judged on its ended runs with
/// the seeds its sweep lists (not on earlier confirmation runs): what `ganbench run
/// --confirm-best K` trains again on fresh seeds. `(variant, configuration)` pairs, best first
/// within each variant.
pub fn best_configurations(
    loaded: &Loaded,
    primary: &PrimaryMetric,
    k: usize,
) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for (v, info) in loaded.variants.iter().enumerate() {
        if info.configs.len() < 2 {
            continue;
        }
        let listed = spec_seeds(loaded, v);
        let search: Vec<usize> = info
            .runs
            .iter()
            .copied()
            .filter(|&r| ended(loaded.runs[r].run.status))
            .filter(|&r| {
                listed
                    .as_ref()
                    .is_none_or(|seeds| seeds.contains(&loaded.runs[r].run.seed))
            })
            .collect();
        out.extend(
            rank_configurations(loaded, primary, &search)
                .into_iter()
                .take(k)
                .map(|c| (v, c)),
        );
    }
    out
}
