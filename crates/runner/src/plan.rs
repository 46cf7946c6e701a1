//! A sweep's trials to runs in the store and tasks for workers: what happens between reading the
//! sweep file and training.
//!
//! [`plan_sweep`] registers every trial as a run (once: a trial's key finds its run again on
//! resume), leaves out the runs that have ended, and gives each remaining one the [`WorkerTask`]
//! that a `ganbench worker` process trains from: the trial's [`TrialPlan`], its data, and its
//! folders under the database's runs folder ([`trial_dir`]).

use std::path::PathBuf;

use ganbench_data::DataSource;
use ganbench_plugin_api::{Device, TrialConfig};
use ganbench_spec::{Sweep, Trial};
use ganbench_store::layout::trial_dir;
use ganbench_store::{NewRun, Registration, Status, Store, StoreError, EXTRACTOR_EVENT};

use crate::protocol::WorkerTask;
use crate::sweep::PlannedTrial;
use crate::trial::TrialPlan;

/// The evaluation network's weights that image metrics use, prepared once before planning.
#[derive(Debug, Clone)]
pub struct FeatureWeights {
    /// The weights file each worker loads.
    pub path: PathBuf,
    /// What reports say the image metrics were computed in (an event on every run).
    pub description: String,
}

/// What planning needs beyond the sweep file: decided by the command line and the machine.
#[derive(Debug, Clone)]
pub struct PlanOptions {
    /// Where every trial trains (a slot of `--gpus` may still move it to its own GPU).
    pub device: Device,
    /// The shape of one data example ([`ganbench_data::Dataset::sample_shape`]).
    pub data_shape: Vec<usize>,
    /// Train again the runs that failed (finished and diverged ones always stay done).
    pub retry_failed: bool,
    /// The build the runs are trained by, stored with each new run.
    pub build_id: String,
    /// The folder that holds every run's checkpoints and samples
    /// ([`ganbench_store::layout::runs_dir`] of the database).
    pub runs_dir: PathBuf,
    /// For image data: the evaluation network.
    pub features: Option<FeatureWeights>,
}

/// The runs a sweep still has to train.
#[derive(Debug)]
pub struct SweepPlan {
    /// One per run to train, in the order of the trials given.
    pub trials: Vec<PlannedTrial>,
    /// Trials whose runs had ended before (finished, diverged, or failed without
    /// [`PlanOptions::retry_failed`]).
    pub skipped: usize,
}

/// Registers `trials` (of `spec`, stored as `sweep`) as runs and plans the ones left to train.
pub fn plan_sweep(
    store: &Store,
    sweep: &Registration,
    spec: &Sweep,
    trials: &[Trial],
    options: &PlanOptions,
) -> Result<SweepPlan, StoreError> {
    let data: DataSource = spec.data.source();
    let mut planned = Vec::new();
    let mut skipped = 0;
    for trial in trials {
        let params_json =
            serde_json::to_string(&trial.params).expect("parameters serialize to JSON");
        let run = store.ensure_run(
            sweep.id(),
            &NewRun {
                trial_key: &trial.key,
                label: &trial.variant,
                plugin: &trial.plugin,
                params_json: &params_json,
                seed: trial.seed,
                build_id: &options.build_id,
                total_steps: Some(spec.steps),
            },
        )?;
        let done = match run.status {
            Status::Finished | Status::Diverged => true,
            Status::Failed => !options.retry_failed,
            _ => false,
        };
        if done {
            skipped += 1;
            continue;
        }
        if let Some(features) = &options.features {
            store.record_event(run.id, EXTRACTOR_EVENT, &features.description)?;
        }
        let dir = trial_dir(&options.runs_dir, &spec.name, sweep.version(), &trial.key);
        planned.push(PlannedTrial {
            run: run.id,
            label: trial.label.clone(),
            trial_key: trial.key.clone(),
            task: WorkerTask {
                plugin: trial.plugin.clone(),
                data: data.clone(),
                plan: TrialPlan {
                    config: TrialConfig {
                        params: trial.params.clone(),
                        seed: trial.seed,
                        device: options.device,
                        data_shape: options.data_shape.clone(),
                    },
                    steps: spec.steps,
                    eval_every: spec.eval_every,
                    eval_samples: spec.eval_samples,
                    checkpoint_every: spec.checkpoint_every(),
                },
                checkpoints: dir.join("checkpoints"),
                samples_dir: Some(dir.join("samples")),
                extractor: options.features.as_ref().map(|f| f.path.clone()),
            },
        });
    }
    Ok(SweepPlan {
        trials: planned,
        skipped,
    })
}

/// One share of a sweep's trials, `--task I/N`: task `index` of `count` (0-based), for a job
/// array whose tasks each train their share into a database of their own.
///
/// Shares are contiguous runs of the trial list, as equal as they can be (sizes differ by at most
/// one), so one task per trial gives task `I` trial `I`, and `N` tasks of a grid keep each
/// configuration's seeds together. The trial list is the same on every machine (expansion is
/// deterministic), so every task computes the same split without talking to the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskShare {
    /// This task, `0..count`.
    pub index: usize,
    /// Tasks in the array, at least 1.
    pub count: usize,
}

impl TaskShare {
    /// The trials of `0..trials` this task trains.
    pub fn range(self, trials: usize) -> std::ops::Range<usize> {
        let start = |i: usize| i * trials / self.count;
        start(self.index)..start(self.index + 1)
    }
}

impl std::fmt::Display for TaskShare {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl std::str::FromStr for TaskShare {
    type Err = String;

    /// `I/N` with `0 <= I < N`, e.g. `3/10`.
    fn from_str(text: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "`{text}` is not a task share: write I/N, task I (from 0) of N tasks, e.g. 3/10"
            )
        };
        let (index, count) = text.trim().split_once('/').ok_or_else(bad)?;
        let index: usize = index.trim().parse().map_err(|_| bad())?;
        let count: usize = count.trim().parse().map_err(|_| bad())?;
        if count == 0 || index >= count {
            return Err(format!(
                "task share `{text}`: the task number must be below the number of tasks (0 to {})",
                count.saturating_sub(1)
            ));
        }
        Ok(TaskShare { index, count })
    }
}

#[cfg(test)]
mod tests {
    use super::TaskShare;

    #[test]
    fn shares_cover_every_trial_once_in_order_and_differ_by_at_most_one() {
        for trials in [0, 1, 7, 10, 110] {
            for count in [1, 2, 3, 10, 110, 200] {
                let ranges: Vec<_> = (0..count)
                    .map(|index| TaskShare { index, count }.range(trials))
                    .collect();
                let flat: Vec<usize> = ranges.iter().cloned().flatten().collect();
                assert_eq!(flat, (0..trials).collect::<Vec<_>>(), "{trials}/{count}");
                let sizes: Vec<usize> = ranges.iter().map(|r| r.len()).collect();
                let (min, max) = (sizes.iter().min(), sizes.iter().max());
                assert!(
                    max.unwrap() - min.unwrap() <= 1,
                    "{trials}/{count}: {sizes:?}"
                );
            }
        }
        // One task per trial: task I trains trial I.
        assert_eq!(
            TaskShare {
                index: 4,
                count: 10
            }
            .range(10),
            4..5
        );
    }

    #[test]
    fn parses_i_of_n_and_rejects_the_rest() {
        assert_eq!(
            "3/10".parse(),
            Ok(TaskShare {
                index: 3,
                count: 10
            })
        );
        assert_eq!(" 0 / 1 ".parse(), Ok(TaskShare { index: 0, count: 1 }));
        for bad in ["10/10", "0/0", "3", "a/2", "-1/2", "1/2/3", ""] {
            assert!(bad.parse::<TaskShare>().is_err(), "{bad}");
        }
        assert!("10/10".parse::<TaskShare>().unwrap_err().contains("0 to 9"));
        let share = TaskShare { index: 2, count: 5 };
        assert_eq!(share.to_string().parse(), Ok(share));
    }
}
