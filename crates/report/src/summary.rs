//! The summary table (variant × final evaluation metric) and the pairwise tests of the main
//! metric: the numbers the page shows and `--json` prints.

use ganbench_store::Status;
use serde::Serialize;

use crate::load::{counts_in_statistics, Loaded};
use crate::metric::{self, MetricKind};
use crate::stats::{self, Direction, MwuMethod};

/// Significance level of the pairwise tests, after Holm's correction.
pub const ALPHA: f64 = 0.05;
/// Bootstrap resamples for the confidence interval of a difference of means.
pub const BOOTSTRAP_DRAWS: usize = 10_000;
/// Coverage of that interval.
pub const CI_LEVEL: f64 = 0.95;

/// Everything in the summary table and the significance table.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// What the report is about (the sweep name, or "comparison").
    pub title: String,
    /// The sweep versions involved.
    pub sweeps: Vec<SweepRef>,
    /// How the statistics were computed, in words.
    pub statistics: String,
    /// The metric the pairwise tests compare.
    pub main_metric: Option<String>,
    /// The table's metric columns.
    pub metrics: Vec<MetricColumn>,
    /// One row per variant.
    pub variants: Vec<VariantRow>,
    /// Every pair of variants with values of the main metric.
    pub comparisons: Vec<Comparison>,
}

/// A sweep version.
#[derive(Debug, Clone, Serialize)]
pub struct SweepRef {
    /// Name.
    pub name: String,
    /// Version.
    pub version: u32,
}

/// A metric column of the table.
#[derive(Debug, Clone, Serialize)]
pub struct MetricColumn {
    /// The metric's name as logged.
    pub name: String,
    /// What it is, with its unit.
    pub description: String,
    /// Whether larger is better, if known.
    pub direction: Option<Direction>,
}

/// A variant's row.
#[derive(Debug, Clone, Serialize)]
pub struct VariantRow {
    /// Its label.
    pub label: String,
    /// Its colour in the figures, `#rrggbb`.
    pub colour: String,
    /// Runs of the variant.
    pub runs: usize,
    /// Distinct parameter configurations.
    pub configs: usize,
    /// Finished runs (the ones the statistics use).
    pub finished: usize,
    /// Diverged runs.
    pub diverged: usize,
    /// Failed runs.
    pub failed: usize,
    /// Queued, running or interrupted runs.
    pub unfinished: usize,
    /// One cell per metric column, in the same order.
    pub cells: Vec<Cell>,
    /// Mean training time per step over finished runs, in ms (a timing, not a result).
    pub ms_per_step: Option<f64>,
}

/// One cell: a metric's final values over the variant's finished runs.
#[derive(Debug, Clone, Serialize)]
pub struct Cell {
    /// The metric.
    pub metric: String,
    /// Finished runs with a finite final value.
    pub n: usize,
    /// Their mean.
    pub mean: Option<f64>,
    /// Their sample standard deviation (n − 1).
    pub std: Option<f64>,
    /// The best single run's value (when the metric has a direction).
    pub best: Option<f64>,
    /// That run's id.
    pub best_run: Option<i64>,
    /// Whether this mean is the best of its column.
    pub top: bool,
}

/// The test of one pair of variants on the main metric.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    /// First variant.
    pub a: String,
    /// Second variant.
    pub b: String,
    /// Values of each.
    pub n_a: usize,
    /// Values of each.
    pub n_b: usize,
    /// Mann–Whitney U of `a`.
    pub u: f64,
    /// Two-sided p-value.
    pub p: f64,
    /// How `p` was computed.
    pub method: MwuMethod,
    /// `p` after Holm's correction over all pairs.
    pub p_holm: f64,
    /// Mean of `a` minus mean of `b`.
    pub difference: f64,
    /// Bootstrap confidence interval of that difference.
    pub ci: Option<(f64, f64)>,
    /// Whether `p_holm` < [`ALPHA`].
    pub significant: bool,
    /// The better variant, when the difference is significant and the metric has a direction.
    pub better: Option<String>,
}

/// The final values of `metric` of the finished runs of variant `v`, with their run ids.
pub fn finished_values(loaded: &Loaded, metric: usize, v: usize) -> Vec<(i64, f64)> {
    let m = &loaded.metrics[metric];
    loaded.variants[v]
        .runs
        .iter()
        .filter(|&&r| counts_in_statistics(loaded.runs[r].run.status))
        .map(|&r| (loaded.runs[r].run.id.0, m.final_value(r)))
        .filter(|(_, v)| v.is_finite())
        .collect()
}

/// Computes the table and the tests. `main` is the main metric's index, if any.
pub fn summarize(loaded: &Loaded, title: &str, main: Option<usize>) -> Summary {
    let columns: Vec<usize> = loaded
        .metrics
        .iter()
        .enumerate()
        .filter(|(_, m)| m.kind == MetricKind::Evaluation)
        .map(|(i, _)| i)
        .collect();
    let timing = loaded
        .metrics
        .iter()
        .position(|m| m.kind == MetricKind::Timing);

    let mut variants: Vec<VariantRow> = loaded
        .variants
        .iter()
        .enumerate()
        .map(|(v, info)| {
            let count = |s: Status| {
                info.runs
                    .iter()
                    .filter(|&&r| loaded.runs[r].run.status == s)
                    .count()
            };
            let cells = columns
                .iter()
                .map(|&m| {
                    let values = finished_values(loaded, m, v);
                    let plain: Vec<f64> = values.iter().map(|x| x.1).collect();
                    let s = stats::summarize(&plain);
                    let best = loaded.metrics[m].direction.and_then(|d| {
                        values
                            .iter()
                            .copied()
                            .reduce(|a, b| if d.better(b.1, a.1) { b } else { a })
                    });
                    Cell {
                        metric: loaded.metrics[m].name.clone(),
                        n: s.n,
                        mean: s.mean,
                        std: s.std,
                        best: best.map(|b| b.1),
                        best_run: best.map(|b| b.0),
                        top: false,
                    }
                })
                .collect();
            let ms_per_step = timing.and_then(|t| {
                let values: Vec<f64> = finished_values(loaded, t, v).iter().map(|x| x.1).collect();
                stats::summarize(&values).mean
            });
            VariantRow {
                label: info.label.clone(),
                colour: info.colour.hex(),
                runs: info.runs.len(),
                configs: info.configs,
                finished: count(Status::Finished),
                diverged: count(Status::Diverged),
                failed: count(Status::Failed),
                unfinished: count(Status::Queued)
                    + count(Status::Running)
                    + count(Status::Interrupted),
                cells,
                ms_per_step,
            }
        })
        .collect();

    // Highlight the best mean of each column (every variant that ties with it).
    for (c, &m) in columns.iter().enumerate() {
        let Some(direction) = loaded.metrics[m].direction else {
            continue;
        };
        let best = variants
            .iter()
            .filter_map(|row| row.cells[c].mean)
            .reduce(|a, b| if direction.better(b, a) { b } else { a });
        if let Some(best) = best {
            for row in &mut variants {
                if row.cells[c].mean == Some(best) {
                    row.cells[c].top = true;
                }
            }
        }
    }

    let comparisons = main.map(|m| compare(loaded, m)).unwrap_or_default();
    let mut sweeps: Vec<SweepRef> = loaded
        .sweeps
        .iter()
        .map(|s| SweepRef {
            name: s.sweep.name.clone(),
            version: s.sweep.version,
        })
        .collect();
    sweeps.dedup_by(|a, b| a.name == b.name && a.version == b.version);
    Summary {
        title: title.to_string(),
        sweeps,
        statistics: "final value of each run (at its last logged step); mean ± sample standard \
                     deviation (n − 1) over finished runs with a finite value; diverged and failed \
                     runs are counted, not averaged"
            .into(),
        main_metric: main.map(|m| loaded.metrics[m].name.clone()),
        metrics: columns
            .iter()
            .map(|&m| MetricColumn {
                name: loaded.metrics[m].name.clone(),
                description: metric::describe(&loaded.metrics[m].name),
                direction: loaded.metrics[m].direction,
            })
            .collect(),
        variants,
        comparisons,
    }
}

fn compare(loaded: &Loaded, m: usize) -> Vec<Comparison> {
    let direction = loaded.metrics[m].direction;
    let values: Vec<Vec<f64>> = (0..loaded.variants.len())
        .map(|v| finished_values(loaded, m, v).iter().map(|x| x.1).collect())
        .collect();
    let mut out = Vec::new();
    for a in 0..values.len() {
        for b in a + 1..values.len() {
            let (x, y) = (&values[a], &values[b]);
            let Some(test) = stats::mann_whitney(x, y) else {
                continue;
            };
            let mean = |s: &[f64]| s.iter().sum::<f64>() / s.len() as f64;
            let seed = 0x5eed_0000 + (a * values.len() + b) as u64;
            out.push(Comparison {
                a: loaded.variants[a].label.clone(),
                b: loaded.variants[b].label.clone(),
                n_a: x.len(),
                n_b: y.len(),
                u: test.u,
                p: test.p,
                method: test.method,
                p_holm: test.p,
                difference: mean(x) - mean(y),
                ci: stats::bootstrap_mean_difference(x, y, CI_LEVEL, BOOTSTRAP_DRAWS, seed),
                significant: false,
                better: None,
            });
        }
    }
    let adjusted = stats::holm(&out.iter().map(|c| c.p).collect::<Vec<_>>());
    for (c, p) in out.iter_mut().zip(adjusted) {
        c.p_holm = p;
        c.significant = p < ALPHA;
        if c.significant {
            c.better = direction.map(|d| {
                if d.better(c.difference, 0.0) {
                    c.a.clone()
                } else {
                    c.b.clone()
                }
            });
        }
    }
    out
}
