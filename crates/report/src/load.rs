//! Reads what a report needs from the store in one pass: the runs grouped into variants, every
//! metric series downsampled into buckets while it streams by, the final values, the sample
//! artifacts, and the parsed spec (variant order, random searches, the toy data's mode centres).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use ganbench_spec::{DataSpec, ParamValue};
use ganbench_store::{
    Run, RunId, Status, Store, SweepId, SweepRecord, EXTRACTOR_EVENT, RECONSTRUCTIONS_ARTIFACT,
    SAMPLES_ARTIFACT,
};

use crate::error::ReportError;
use crate::metric::{self, MetricKind};
use crate::palette;
use crate::stats::Direction;

/// Buckets per curve: about one per horizontal pixel of a panel's plotting area, so that a
/// curve of any length draws in constant time while its spikes (kept as each bucket's min and
/// max) stay visible.
pub const BUCKETS: u64 = 480;

/// Which runs a report covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// Every run of one sweep version.
    Sweep(SweepId),
    /// Chosen runs, possibly from several sweeps (`ganbench compare`).
    Runs(Vec<RunId>),
}

/// One sweep version the report draws from.
#[derive(Debug)]
pub struct SweepInfo {
    /// As stored.
    pub sweep: SweepRecord,
    /// The stored spec text parsed again, if it still parses with this ganbench.
    pub spec: Option<ganbench_spec::Sweep>,
    /// The researcher's tags and notes on the sweep and its runs.
    pub annotations: ganbench_store::Annotations,
}

/// One run with where it belongs in the report.
#[derive(Debug)]
pub struct RunEntry {
    /// As stored.
    pub run: Run,
    /// Index into [`Loaded::variants`].
    pub variant: usize,
    /// Index into [`Loaded::sweeps`].
    pub sweep: usize,
    /// Index into its variant's [`VariantInfo::configs`].
    pub config: usize,
    /// Sample files by evaluation step.
    pub samples: Vec<(u64, PathBuf)>,
    /// Files of held-out images interleaved with their reconstructions, by evaluation step
    /// (models that reconstruct, on image data).
    pub reconstructions: Vec<(u64, PathBuf)>,
}

/// A variant: the runs that share a label (within one sweep).
#[derive(Debug)]
pub struct VariantInfo {
    /// What the page and the figures call it.
    pub label: String,
    /// Indices into [`Loaded::runs`], in run order.
    pub runs: Vec<usize>,
    /// Its colour in every figure and in the table.
    pub colour: palette::Rgb,
    /// Its configurations (runs with the same parameters, different seeds), in order of their
    /// first run.
    pub configs: Vec<ConfigInfo>,
    /// Whether its configurations come from a random search.
    pub search: bool,
}

/// One configuration of a variant: the runs that share every parameter.
#[derive(Debug)]
pub struct ConfigInfo {
    /// The variant's label plus the parameters that tell it from the variant's other
    /// configurations ([`ganbench_spec::configuration_labels`]).
    pub label: String,
    /// Indices into [`Loaded::runs`], by seed.
    pub runs: Vec<usize>,
}

/// Downsampled points of one (run, metric) series within one step bucket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    /// Bucket number: steps `index·width .. (index+1)·width`.
    pub index: u32,
    /// Finite points in it.
    pub n: u32,
    /// Their sum (for the mean).
    pub sum: f64,
    /// Their mean step (where the bucket is drawn).
    pub step_sum: f64,
    /// Smallest value and its step.
    pub min: (u64, f64),
    /// Largest value and its step.
    pub max: (u64, f64),
}

impl Bucket {
    /// Mean of the finite values in the bucket.
    pub fn mean(&self) -> f64 {
        self.sum / f64::from(self.n)
    }
    /// Mean step of the points in the bucket.
    pub fn step(&self) -> f64 {
        self.step_sum / f64::from(self.n)
    }
}

/// One run's series of one metric, downsampled.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunSeries {
    /// Buckets with at least one finite value, by index.
    pub buckets: Vec<Bucket>,
    /// Points logged (finite or not).
    pub points: usize,
    /// The point at the highest step: the run's final value (NaN when it was NaN).
    pub last: Option<(u64, f64)>,
    /// The last finite point: where a diverged run's curve ends.
    pub last_finite: Option<(u64, f64)>,
}

impl RunSeries {
    /// Adds a point (points must come in step order).
    pub(crate) fn push(&mut self, width: u64, step: u64, value: f64) {
        self.points += 1;
        self.last = Some((step, value));
        if !value.is_finite() {
            return;
        }
        self.last_finite = Some((step, value));
        let index = (step / width).min(u64::from(u32::MAX)) as u32;
        match self.buckets.last_mut() {
            Some(b) if b.index == index => {
                b.n += 1;
                b.sum += value;
                b.step_sum += step as f64;
                if value < b.min.1 {
                    b.min = (step, value);
                }
                if value > b.max.1 {
                    b.max = (step, value);
                }
            }
            _ => self.buckets.push(Bucket {
                index,
                n: 1,
                sum: value,
                step_sum: step as f64,
                min: (step, value),
                max: (step, value),
            }),
        }
    }
}

/// One metric over every run.
#[derive(Debug)]
pub struct MetricData {
    /// As logged.
    pub name: String,
    /// Its role in the report.
    pub kind: MetricKind,
    /// Whether larger is better, if known.
    pub direction: Option<Direction>,
    /// By run index (`None`: that run never logged it).
    pub per_run: Vec<Option<RunSeries>>,
}

impl MetricData {
    /// The final value of run `i` (NaN when absent or NaN).
    pub fn final_value(&self, i: usize) -> f64 {
        self.per_run[i]
            .as_ref()
            .and_then(|s| s.last)
            .map_or(f64::NAN, |(_, v)| v)
    }
}

/// The mixture the runs were trained on, when it is a toy 2D one.
#[derive(Debug, Clone, PartialEq)]
pub struct ToyInfo {
    /// Its text form (`ring8`, …).
    pub name: String,
    /// Mode centres.
    pub centres: Vec<[f64; 2]>,
    /// Per-coordinate standard deviation of each mode.
    pub std: f64,
}

/// Everything a report is made from.
#[derive(Debug)]
pub struct Loaded {
    /// The database file.
    pub db: PathBuf,
    /// The sweep versions the runs come from, in order of first appearance.
    pub sweeps: Vec<SweepInfo>,
    /// The runs, in id order within each variant's sweep.
    pub runs: Vec<RunEntry>,
    /// Variants in spec order (then order of first appearance).
    pub variants: Vec<VariantInfo>,
    /// Metrics, evaluation metrics first in a fixed order of known names, then by name.
    pub metrics: Vec<MetricData>,
    /// The toy data, when every sweep trained on the same toy mixture.
    pub toy: Option<ToyInfo>,
    /// The evaluation feature extractors the image metrics were computed with (each run's
    /// newest [`EXTRACTOR_EVENT`] message), without repeats.
    pub extractors: Vec<String>,
    /// Steps per bucket of every [`RunSeries`].
    pub bucket_width: u64,
}

impl Loaded {
    /// The metric named `name`.
    pub fn metric(&self, name: &str) -> Option<&MetricData> {
        self.metrics.iter().find(|m| m.name == name)
    }
}

/// Reads the runs of `selection` and everything about them.
pub fn load(store: &Store, selection: &Selection) -> Result<Loaded, ReportError> {
    let runs: Vec<Run> = match selection {
        Selection::Sweep(id) => store.runs(*id)?,
        Selection::Runs(ids) => {
            let mut runs = ids
                .iter()
                .map(|&id| store.run(id))
                .collect::<Result<Vec<_>, _>>()?;
            runs.sort_by_key(|r| r.id);
            runs.dedup_by_key(|r| r.id);
            runs
        }
    };
    if runs.is_empty() {
        return Err(ReportError::NoRuns {
            db: store.path().to_path_buf(),
            what: match selection {
                Selection::Sweep(id) => format!("sweep {}", store.sweep(*id)?.name),
                Selection::Runs(_) => "the selection".into(),
            },
        });
    }

    let mut sweeps: Vec<SweepInfo> = Vec::new();
    for run in &runs {
        if !sweeps.iter().any(|s| s.sweep.id == run.sweep_id) {
            let sweep = store.sweep(run.sweep_id)?;
            let spec =
                ganbench_spec::Sweep::parse(&sweep.spec_text, format!("{}.ron", sweep.name)).ok();
            let annotations = store.annotations(sweep.id)?;
            sweeps.push(SweepInfo {
                sweep,
                spec,
                annotations,
            });
        }
    }
    let several_sweeps = sweeps.len() > 1;

    // Variants: (sweep, label) pairs, in spec order within each sweep, then as first seen.
    let mut keys: Vec<(usize, String)> = Vec::new();
    for (si, s) in sweeps.iter().enumerate() {
        if let Some(spec) = &s.spec {
            for v in &spec.variants {
                let key = (si, v.label().to_string());
                if runs
                    .iter()
                    .any(|r| r.sweep_id == s.sweep.id && r.label == key.1)
                    && !keys.contains(&key)
                {
                    keys.push(key);
                }
            }
        }
    }
    for r in &runs {
        let si = sweeps
            .iter()
            .position(|s| s.sweep.id == r.sweep_id)
            .unwrap_or(0);
        let key = (si, r.label.clone());
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    let mut variants: Vec<VariantInfo> = keys
        .iter()
        .enumerate()
        .map(|(i, (si, label))| {
            let s = &sweeps[*si];
            let search = s.spec.as_ref().is_some_and(|spec| {
                spec.search.is_some()
                    || spec
                        .variants
                        .iter()
                        .any(|v| v.label() == label && v.search.is_some())
            });
            VariantInfo {
                label: if several_sweeps {
                    format!("{label} ({}@{})", s.sweep.name, s.sweep.version)
                } else {
                    label.clone()
                },
                runs: Vec::new(),
                colour: palette::colour(i),
                configs: Vec::new(),
                search,
            }
        })
        .collect();

    let db_dir = store
        .path()
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let mut entries: Vec<RunEntry> = Vec::with_capacity(runs.len());
    let mut extractors: Vec<String> = Vec::new();
    for run in runs {
        // One read of the run's events and artifacts.
        let details = store.run_details(run.id)?;
        let newest_extractor = details
            .events
            .into_iter()
            .rev()
            .find(|e| e.kind == EXTRACTOR_EVENT);
        if let Some(e) = newest_extractor {
            if !extractors.contains(&e.message) {
                extractors.push(e.message);
            }
        }
        let sweep = sweeps
            .iter()
            .position(|s| s.sweep.id == run.sweep_id)
            .unwrap_or(0);
        let variant = keys
            .iter()
            .position(|(si, l)| *si == sweep && *l == run.label)
            .unwrap_or(0);
        let of_kind = |kind: &str| -> Vec<(u64, PathBuf)> {
            details
                .artifacts
                .iter()
                .filter(|a| a.kind == kind)
                .map(|a| (a.step, resolve(&db_dir, &a.path)))
                .collect()
        };
        let (samples, reconstructions) =
            (of_kind(SAMPLES_ARTIFACT), of_kind(RECONSTRUCTIONS_ARTIFACT));
        variants[variant].runs.push(entries.len());
        entries.push(RunEntry {
            run,
            variant,
            sweep,
            config: 0,
            samples,
            reconstructions,
        });
    }
    // Sort each variant's runs by configuration then seed, so "the first seed" is well defined.
    for v in &mut variants {
        v.runs.sort_by(|&a, &b| {
            let (ra, rb) = (&entries[a].run, &entries[b].run);
            (ra.seed, ra.id).cmp(&(rb.seed, rb.id))
        });
    }
    describe_configs(&mut variants, &mut entries);

    let width = {
        let max_step = entries
            .iter()
            .map(|e| e.run.step.max(e.run.total_steps.unwrap_or(0)))
            .max()
            .unwrap_or(0);
        (max_step + 1).div_ceil(BUCKETS).max(1)
    };
    let metrics = read_series(store, &entries, width)?;
    let toy = toy_info(&sweeps);
    Ok(Loaded {
        db: store.path().to_path_buf(),
        sweeps,
        runs: entries,
        variants,
        metrics,
        toy,
        extractors,
        bucket_width: width,
    })
}

/// A sample path as stored is relative to the directory `ganbench run` ran in; when that is not
/// where the report runs, it is usually relative to the database's directory.
fn resolve(db_dir: &Path, stored: &str) -> PathBuf {
    let path = PathBuf::from(stored);
    if path.is_relative() && !path.exists() {
        let beside = db_dir.join(&path);
        if beside.exists() {
            return beside;
        }
    }
    path
}

/// A run's stored parameters (empty when the JSON does not parse: an older or foreign store).
fn parse_params(json: &str) -> BTreeMap<String, ParamValue> {
    serde_json::from_str(json).unwrap_or_default()
}

/// The configuration label of each of `runs` (runs of one sweep), e.g. `GAN lr_d=1.1e-4`: runs
/// are grouped by their variant label, and each is labelled by the parameters that differ
/// between its variant's configurations ([`ganbench_spec::configuration_labels`], the one
/// function every label comes from). What `ganbench ls`, `show` and `export` print.
pub fn run_labels(runs: &[Run]) -> Vec<String> {
    let params: Vec<BTreeMap<String, ParamValue>> =
        runs.iter().map(|r| parse_params(&r.params_json)).collect();
    let mut out = vec![String::new(); runs.len()];
    let mut variants: Vec<&str> = Vec::new();
    for r in runs {
        if !variants.contains(&r.label.as_str()) {
            variants.push(&r.label);
        }
    }
    for variant in variants {
        let members: Vec<usize> = (0..runs.len())
            .filter(|&i| runs[i].label == variant)
            .collect();
        let configs: Vec<&BTreeMap<String, ParamValue>> =
            members.iter().map(|&i| &params[i]).collect();
        for (i, label) in members
            .into_iter()
            .zip(ganbench_spec::configuration_labels(variant, &configs))
        {
            out[i] = label;
        }
    }
    out
}

/// Groups each variant's runs into configurations (equal parameters) and labels them by the
/// parameters that differ between them.
fn describe_configs(variants: &mut [VariantInfo], entries: &mut [RunEntry]) {
    for v in variants {
        let params: Vec<BTreeMap<String, ParamValue>> = v
            .runs
            .iter()
            .map(|&i| parse_params(&entries[i].run.params_json))
            .collect();
        let mut distinct: Vec<&BTreeMap<String, ParamValue>> = Vec::new();
        for p in &params {
            if !distinct.contains(&p) {
                distinct.push(p);
            }
        }
        // Labels without the sweep suffix that several sweeps add to the variant's label.
        let base = entries
            .get(v.runs.first().copied().unwrap_or(0))
            .map_or(v.label.as_str(), |e| e.run.label.as_str());
        let labels = ganbench_spec::configuration_labels(base, &distinct);
        let suffix = v.label.strip_prefix(base).unwrap_or("");
        v.configs = labels
            .into_iter()
            .map(|label| ConfigInfo {
                label: format!("{label}{suffix}"),
                runs: Vec::new(),
            })
            .collect();
        for (&i, p) in v.runs.iter().zip(&params) {
            let c = distinct.iter().position(|d| *d == p).unwrap_or(0);
            entries[i].config = c;
            v.configs[c].runs.push(i);
        }
    }
}

/// Streams every point of every run once, bucketing as it goes. The runs are split between as
/// many threads as there are CPUs, each with its own connection (SQLite reads in parallel under
/// WAL), because reading the points is most of a large report's time.
fn read_series(
    store: &Store,
    entries: &[RunEntry],
    width: u64,
) -> Result<Vec<MetricData>, ReportError> {
    let ids: Vec<RunId> = entries.iter().map(|e| e.run.id).collect();
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, ids.len().max(1));
    let chunk = ids.len().div_ceil(threads).max(1);
    // (run index, metric name, series) from each thread, in run order within a chunk.
    type Part = Vec<(usize, String, RunSeries)>;
    let read_chunk = |store: &Store, offset: usize, runs: &[RunId]| -> Result<Part, ReportError> {
        let mut part: Part = Vec::new();
        let mut run_index = offset;
        let mut last_run = None;
        store.visit_series(runs, |run, name, points| {
            if last_run != Some(run) {
                run_index = offset + runs.iter().position(|r| *r == run).unwrap_or(0);
                last_run = Some(run);
            }
            let mut series = RunSeries::default();
            for &(step, value) in points {
                series.push(width, step, value);
            }
            part.push((run_index, name.to_string(), series));
        })?;
        Ok(part)
    };
    let parts: Vec<Result<Part, ReportError>> = if threads == 1 {
        vec![read_chunk(store, 0, &ids)]
    } else {
        let path = store.path().to_path_buf();
        std::thread::scope(|scope| {
            let handles: Vec<_> = ids
                .chunks(chunk)
                .enumerate()
                .map(|(c, runs)| {
                    let path = &path;
                    let read_chunk = &read_chunk;
                    scope.spawn(move || {
                        let own = Store::open_read_only(path)?;
                        read_chunk(&own, c * chunk, runs)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("a reader thread panicked"))
                .collect()
        })
    };

    let mut names: Vec<String> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut series: Vec<Vec<Option<RunSeries>>> = Vec::new();
    for part in parts {
        for (run, name, s) in part? {
            let m = *index.entry(name.clone()).or_insert_with(|| {
                names.push(name);
                series.push(vec![None; entries.len()]);
                names.len() - 1
            });
            series[m][run] = Some(s);
        }
    }

    let densest = series
        .iter()
        .flat_map(|per_run| per_run.iter().flatten().map(|s| s.points))
        .max()
        .unwrap_or(0);
    let mut metrics: Vec<MetricData> = names
        .into_iter()
        .zip(series)
        .map(|(name, per_run)| {
            let points = per_run
                .iter()
                .flatten()
                .map(|s| s.points)
                .max()
                .unwrap_or(0);
            MetricData {
                kind: metric::classify(&name, points, densest),
                direction: metric::direction(&name),
                name,
                per_run,
            }
        })
        .collect();
    metrics.sort_by(|a, b| {
        (a.kind, metric::display_rank(&a.name), &a.name).cmp(&(
            b.kind,
            metric::display_rank(&b.name),
            &b.name,
        ))
    });
    Ok(metrics)
}

/// The toy mixture, when every sweep's spec parses and names the same one.
fn toy_info(sweeps: &[SweepInfo]) -> Option<ToyInfo> {
    let mut found: Option<ToyInfo> = None;
    for s in sweeps {
        let spec = s.spec.as_ref()?;
        #[allow(unreachable_patterns)] // DataSpec is non-exhaustive: image data will come.
        let toy = match &spec.data {
            DataSpec::Toy(toy) => ToyInfo {
                name: toy.to_string(),
                centres: toy.centres(),
                std: toy.std(),
            },
            _ => return None,
        };
        match &found {
            Some(f) if *f != toy => return None,
            _ => found = Some(toy),
        }
    }
    found
}

/// Statuses whose runs count in the statistics.
pub fn counts_in_statistics(status: Status) -> bool {
    status == Status::Finished
}
