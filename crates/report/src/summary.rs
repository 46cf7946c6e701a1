//! The numbers the page shows and `--json` prints: the verdict, the table of final metrics (one
//! row per variant: every run, or for a variant with several configurations the runs its entry
//! in the verdict is measured on), and one row per configuration of such variants.

use ganbench_store::Status;
use serde::Serialize;

use crate::load::Loaded;
use crate::metric::{self, ColumnGroup, MetricKind};
use crate::primary::PrimaryMetric;
use crate::select::{self, Selection};
use crate::stats::{self, Direction};
use crate::verdict::{self, Verdict};

use crate::verdict::CI_LEVEL;

/// Everything the page's tables show.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// What the report is about (the sweep name, or "comparison").
    pub title: String,
    /// The sweep versions involved.
    pub sweeps: Vec<SweepRef>,
    /// How the table's statistics were computed, in words.
    pub statistics: String,
    /// The metric the verdict ranks by, and why (also in the verdict).
    pub primary: Option<PrimaryMetric>,
    /// The headline: ranking, tests, findings. `None` without a primary metric.
    pub verdict: Option<Verdict>,
    /// The table's metric columns.
    pub metrics: Vec<MetricColumn>,
    /// One row per variant.
    pub variants: Vec<VariantRow>,
    /// One row per configuration of the variants that have several, best first within each.
    pub configurations: Vec<ConfigRow>,
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
    /// Which of the page's tables it is in.
    pub group: ColumnGroup,
}

/// A variant's row.
#[derive(Debug, Clone, Serialize)]
pub struct VariantRow {
    /// Its label.
    pub label: String,
    /// The configuration the row is about, for a variant with several (its entry in the
    /// verdict).
    pub configuration: Option<String>,
    /// How that configuration was chosen.
    pub selection: Option<Selection>,
    /// Its colour in the figures, `#rrggbb`.
    pub colour: String,
    /// Runs in the row.
    pub runs: usize,
    /// Runs of the variant in all its configurations.
    pub variant_runs: usize,
    /// Distinct parameter configurations of the variant.
    pub configs: usize,
    /// Finished runs (the ones the cells average).
    pub finished: usize,
    /// Diverged runs.
    pub diverged: usize,
    /// Failed runs.
    pub failed: usize,
    /// Queued, running or interrupted runs.
    pub unfinished: usize,
    /// Share of the ended runs that diverged or failed.
    pub failure_share: Option<f64>,
    /// Its Wilson interval.
    pub failure_ci: Option<(f64, f64)>,
    /// One cell per metric column, in the same order.
    pub cells: Vec<Cell>,
    /// Mean training time per step over finished runs, in ms (a timing, not a result).
    pub ms_per_step: Option<f64>,
}

/// One configuration of a variant with several.
#[derive(Debug, Clone, Serialize)]
pub struct ConfigRow {
    /// The variant's label.
    pub variant: String,
    /// The configuration's label (the parameters that tell it apart).
    pub label: String,
    /// Its colour (the variant's).
    pub colour: String,
    /// Runs that ended.
    pub runs: usize,
    /// Their seeds.
    pub seeds: Vec<u64>,
    /// Diverged or failed.
    pub failed: usize,
    /// Share of runs that diverged or failed, with its Wilson interval.
    pub failure_ci: Option<(f64, f64)>,
    /// The primary metric over its finished runs.
    pub primary: Cell,
    /// Whether it is the variant's entry in the verdict.
    pub chosen: bool,
}

/// One cell: a metric's final values over the finished runs of a row.
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

/// The final values of `metric` of the finished runs among `runs`, with their run ids.
pub fn finished_values(loaded: &Loaded, metric: usize, runs: &[usize]) -> Vec<(i64, f64)> {
    let m = &loaded.metrics[metric];
    runs.iter()
        .filter(|&&r| loaded.runs[r].run.status == Status::Finished)
        .map(|&r| (loaded.runs[r].run.id.0, m.final_value(r)))
        .filter(|(_, v)| v.is_finite())
        .collect()
}

/// The direction of metric `m`: as known, or the primary metric's as given.
fn direction_of(loaded: &Loaded, primary: Option<&PrimaryMetric>, m: usize) -> Option<Direction> {
    loaded.metrics[m]
        .direction
        .or_else(|| primary.filter(|p| p.index == m).map(|p| p.direction))
}

fn cell(loaded: &Loaded, primary: Option<&PrimaryMetric>, m: usize, runs: &[usize]) -> Cell {
    let values = finished_values(loaded, m, runs);
    let plain: Vec<f64> = values.iter().map(|x| x.1).collect();
    let s = stats::summarize(&plain);
    let best = direction_of(loaded, primary, m).and_then(|d| {
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
}

/// Runs that failed or diverged among the ended ones of `runs`, and how many ended.
fn failures(loaded: &Loaded, runs: &[usize]) -> (usize, usize) {
    let ended = runs
        .iter()
        .filter(|&&r| select::ended(loaded.runs[r].run.status))
        .count();
    let failed = runs
        .iter()
        .filter(|&&r| matches!(loaded.runs[r].run.status, Status::Diverged | Status::Failed))
        .count();
    (failed, ended)
}

/// Computes the verdict, the table and the configurations.
pub fn summarize(loaded: &Loaded, title: &str, primary: Option<&PrimaryMetric>) -> Summary {
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
    let (entries, unranked) = match primary {
        Some(p) => select::entries(loaded, p),
        None => (Vec::new(), Vec::new()),
    };

    let mut variants: Vec<VariantRow> = loaded
        .variants
        .iter()
        .enumerate()
        .map(|(v, info)| {
            let entry = entries
                .iter()
                .find(|e| e.variant == v && info.configs.len() > 1);
            let runs: Vec<usize> = match entry {
                Some(e) => e.runs.clone(),
                None => info.runs.clone(),
            };
            let count = |s: Status| {
                runs.iter()
                    .filter(|&&r| loaded.runs[r].run.status == s)
                    .count()
            };
            let (failed_or_diverged, ended) = failures(loaded, &runs);
            let ms_per_step = timing.and_then(|t| {
                let values: Vec<f64> = finished_values(loaded, t, &runs)
                    .iter()
                    .map(|x| x.1)
                    .collect();
                stats::summarize(&values).mean
            });
            VariantRow {
                label: info.label.clone(),
                configuration: entry.map(|e| e.label.clone()),
                selection: entry.map(|e| e.selection.clone()),
                colour: info.colour.hex(),
                runs: runs.len(),
                variant_runs: info.runs.len(),
                configs: info.configs.len(),
                finished: count(Status::Finished),
                diverged: count(Status::Diverged),
                failed: count(Status::Failed),
                unfinished: count(Status::Queued)
                    + count(Status::Running)
                    + count(Status::Interrupted),
                failure_share: (ended > 0).then(|| failed_or_diverged as f64 / ended as f64),
                failure_ci: stats::wilson_interval(failed_or_diverged, ended, CI_LEVEL),
                cells: columns
                    .iter()
                    .map(|&m| cell(loaded, primary, m, &runs))
                    .collect(),
                ms_per_step,
            }
        })
        .collect();

    // Highlight the best mean of each column (every variant that ties with it).
    for (c, &m) in columns.iter().enumerate() {
        let Some(direction) = direction_of(loaded, primary, m) else {
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

    let mut configurations = Vec::new();
    if let Some(p) = primary {
        for (v, info) in loaded.variants.iter().enumerate() {
            if info.configs.len() < 2 {
                continue;
            }
            let ended: Vec<usize> = info
                .runs
                .iter()
                .copied()
                .filter(|&r| select::ended(loaded.runs[r].run.status))
                .collect();
            let chosen = entries.iter().find(|e| e.variant == v).map(|e| e.config);
            let mut order = select::rank_configurations(loaded, p, &ended);
            // Configurations without an ended run last, in their order.
            let missing: Vec<usize> = (0..info.configs.len())
                .filter(|c| !order.contains(c))
                .collect();
            order.extend(missing);
            for c in order {
                let runs: Vec<usize> = ended
                    .iter()
                    .copied()
                    .filter(|&r| loaded.runs[r].config == c)
                    .collect();
                let (failed, n) = failures(loaded, &runs);
                let mut seeds: Vec<u64> = runs.iter().map(|&r| loaded.runs[r].run.seed).collect();
                seeds.sort_unstable();
                configurations.push(ConfigRow {
                    variant: info.label.clone(),
                    label: info.configs[c].label.clone(),
                    colour: info.colour.hex(),
                    runs: n,
                    seeds,
                    failed,
                    failure_ci: stats::wilson_interval(failed, n, CI_LEVEL),
                    primary: cell(loaded, primary, p.index, &runs),
                    chosen: chosen == Some(c),
                });
            }
        }
    }

    let verdict = primary.map(|p| verdict::verdict(loaded, p, &entries, unranked));
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
                     runs are counted here, not averaged (the verdict counts them as the worst \
                     value)"
            .into(),
        primary: primary.cloned(),
        verdict,
        metrics: columns
            .iter()
            .map(|&m| MetricColumn {
                name: loaded.metrics[m].name.clone(),
                description: metric::describe(&loaded.metrics[m].name),
                direction: direction_of(loaded, primary, m),
                group: metric::column_group(&loaded.metrics[m].name),
            })
            .collect(),
        variants,
        configurations,
    }
}
