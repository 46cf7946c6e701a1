//! `ganbench run --confirm-best K`: once a sweep's search has ended, the K best configurations
//! of each variant with several train again on fresh seeds, so that the report measures each
//! variant's best configuration on runs it was not chosen on (no winner's curse).

use anyhow::Result;
use ganbench_plugin_api::Params;
use ganbench_report::Selection;
use ganbench_spec::{trial_key, Sweep, Trial};
use ganbench_store::{Store, SweepId};

use super::bad_input;

/// What `--confirm-best` does now.
pub enum Confirmation {
    /// Trials of the search have not ended: they train first, the confirmation after them.
    SearchNotDone {
        /// How many.
        pending: usize,
    },
    /// These trials (the best configurations on fresh seeds) join the sweep.
    Trials(Vec<Trial>),
}

/// The confirmation trials of `spec` (stored as `sweep`, expanded into `trials`): for each
/// variant with several configurations its `k` best on the search's runs (the report's choice:
/// `ganbench_report::select::best_configurations`), each on `seeds` fresh seeds following the
/// largest seed the sweep lists. The same command twice trains nothing twice: the trials have
/// the same keys.
pub fn plan(
    store: &Store,
    sweep: SweepId,
    spec: &Sweep,
    trials: &[Trial],
    k: usize,
    seeds: usize,
) -> Result<Confirmation> {
    if k == 0 || seeds == 0 {
        return Err(bad_input(anyhow::anyhow!(
            "--confirm-best and --confirm-seeds take a number ≥ 1"
        )));
    }
    let runs = store.runs(sweep)?;
    let pending = trials
        .iter()
        .filter(|t| {
            !runs
                .iter()
                .any(|r| r.trial_key == t.key && r.status.is_terminal())
        })
        .count();
    if pending > 0 {
        return Ok(Confirmation::SearchNotDone { pending });
    }
    let loaded = ganbench_report::load::load(store, &Selection::Sweep(sweep))?;
    let Some(primary) = ganbench_report::primary::resolve(&loaded, None)? else {
        return Err(bad_input(anyhow::anyhow!(
            "{}: no run logged an evaluation metric with a known direction, so there is no best \
             configuration to confirm; name one with `primary` in the sweep file",
            spec.source.path.display()
        )));
    };
    let first = spec.seeds.to_vec().into_iter().max().map_or(0, |s| s + 1);
    let mut out = Vec::new();
    for (v, c) in ganbench_report::select::best_configurations(&loaded, &primary, k) {
        let config = &loaded.variants[v].configs[c];
        let run = &loaded.runs[config.runs[0]].run;
        let params: Params = serde_json::from_str(&run.params_json)?;
        for seed in first..first + seeds as u64 {
            out.push(Trial {
                key: trial_key(&run.plugin, &params, seed),
                variant: run.label.clone(),
                label: config.label.clone(),
                plugin: run.plugin.clone(),
                params: params.clone(),
                seed,
                varied: Default::default(),
                draw: None,
            });
        }
    }
    Ok(Confirmation::Trials(out))
}
