//! Comparison reports of ganbench: reads a sweep (or chosen runs) from the store and writes figures and one self-contained HTML page that says which variant is more stable, and how sure that is.
//!
//! ```text
//! load::load(store, selection)     runs → variants → configurations, series bucketed as they stream
//! primary::resolve(…)              the metric that ranks: --metric, the sweep's `primary`, or the default
//! select::entries(…)               each variant's entry: its runs, or its best configuration held out
//! verdict::verdict(…)              ranking, pairwise tests, divergence, one sentence per finding
//! summary::summarize(…)            the verdict plus the tables (mean ± std over finished runs)
//! plot::*                          curves, distributions, best-so-far, sample grids (plotters)
//! html::page(…)                    index.html: inline CSS, no script, every user string escaped
//! ```
//!
//! [`write_report`] does all of it. Figures are drawn on as many threads as there are CPUs.
//! Design notes: curves are downsampled to [`load::BUCKETS`] buckets per run and metric, each
//! keeping its minimum and maximum, so that a 10,000-step curve draws as fast as a 100-step one
//! and its spikes stay visible. The table averages finished runs only (a diverged run's last
//! evaluation predates its divergence) and counts the others; the verdict counts a run that
//! diverged or failed as the worst value of the primary metric, because for a stability study
//! not finishing is the result.

pub mod error;
pub mod html;
pub mod load;
pub mod metric;
pub mod palette;
pub mod plot;
pub mod primary;
pub mod runs;
pub mod select;
pub mod stats;
pub mod summary;
pub mod verdict;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use ganbench_store::{now_ms, Status, Store, UtcTime};

pub use error::{ReportError, Result};
pub use load::{run_labels, Loaded, RunEntry, Selection};
pub use metric::MetricKind;
pub use plot::curves::Band;
pub use plot::{Figure, ImageFormat, Section};
pub use primary::PrimaryMetric;
pub use runs::{filter_and_sort, run_rows, RunRow, UnknownField};
pub use summary::Summary;
pub use verdict::Verdict;

use plot::best::{BestFigure, Curve};
use plot::curves::{PerVariantPanels, SharedPanel};
use plot::distribution::{Distribution, Group};
use plot::samples::{Cell, RowLabel, SamplesFigure};

/// How to make a report.
#[derive(Debug, Clone)]
pub struct Options {
    /// The directory to write `index.html` and the figures into (created if needed).
    pub out_dir: PathBuf,
    /// What the band around each mean curve shows.
    pub band: Band,
    /// The figures' file format.
    pub format: ImageFormat,
    /// Inline the figures into the page as data URIs (the page is then one file to send).
    pub embed: bool,
    /// The metric the verdict ranks by (`NAME`, or `NAME:higher` / `NAME:lower` for a metric
    /// ganbench does not know); by default the sweep's `primary`, else modes captured on toy
    /// data and FID on images ([`primary::resolve`]).
    pub main_metric: Option<String>,
    /// The command that made this report, shown on the page.
    pub command: String,
    /// ganbench's version, shown on the page.
    pub version: String,
}

/// What [`write_report`] wrote.
#[derive(Debug, Clone)]
pub struct Report {
    /// The page.
    pub index: PathBuf,
    /// The figures, in page order.
    pub figures: Vec<Figure>,
    /// The table and the tests.
    pub summary: Summary,
}

/// Bootstrap draws per budget of the best-so-far curves.
const BEST_SO_FAR_DRAWS: usize = 1000;
/// Most evaluation steps (columns) in the sample grid.
const MAX_SAMPLE_COLUMNS: usize = 8;

/// Loads `selection` from `store`, draws every figure and writes the page into
/// `options.out_dir`.
pub fn write_report(store: &Store, selection: &Selection, options: &Options) -> Result<Report> {
    let loaded = load::load(store, selection)?;
    render(&loaded, selection, options)
}

/// Draws and writes a report of already loaded data.
pub fn render(loaded: &Loaded, selection: &Selection, options: &Options) -> Result<Report> {
    let primary = primary::resolve(loaded, options.main_metric.as_deref())?;
    let (heading, title) = match selection {
        Selection::Sweep(_) => {
            let s = &loaded.sweeps[0].sweep;
            (
                format!("Sweep “{}” (version {})", s.name, s.version),
                s.name.clone(),
            )
        }
        Selection::Runs(_) => (
            format!("Comparison of {} runs", loaded.runs.len()),
            "comparison".to_string(),
        ),
    };
    let summary = summary::summarize(loaded, &title, primary.as_ref());

    let dir = &options.out_dir;
    std::fs::create_dir_all(dir).map_err(|source| ReportError::Write {
        path: dir.clone(),
        source,
    })?;
    let (jobs, notes) = plan_figures(loaded, options, primary.as_ref());
    let figures = draw_all(jobs, dir, options.format)?;

    let mut reproduce = Vec::new();
    if let Selection::Sweep(_) = selection {
        let spec_path = dir.join("spec.ron");
        std::fs::write(&spec_path, &loaded.sweeps[0].sweep.spec_text).map_err(|source| {
            ReportError::Write {
                path: spec_path.clone(),
                source,
            }
        })?;
        reproduce.push((
            "ganbench run spec.ron --db reproduce.sqlite".to_string(),
            "Train every run again, from the spec saved beside this page (spec.ron), into a new \
             database:"
                .to_string(),
        ));
    }
    let mut sources = Vec::with_capacity(figures.len());
    for f in &figures {
        let src =
            html::image_source(dir, f, options.embed).map_err(|source| ReportError::Write {
                path: dir.join(&f.file),
                source,
            })?;
        sources.push((f.clone(), src));
    }
    let ctx = html::PageContext {
        heading,
        command: options.command.clone(),
        reproduce,
        version: options.version.clone(),
        generated_at: format_time(now_ms()),
        band: options.band.describe().to_string(),
        notes,
    };
    let page = html::page(loaded, &summary, &sources, &ctx);
    let index = dir.join("index.html");
    std::fs::write(&index, page).map_err(|source| ReportError::Write {
        path: index.clone(),
        source,
    })?;
    Ok(Report {
        index,
        figures,
        summary,
    })
}

fn indices(loaded: &Loaded, kind: MetricKind) -> Vec<usize> {
    (0..loaded.metrics.len())
        .filter(|&m| loaded.metrics[m].kind == kind)
        .collect()
}

/// A figure to draw: what, into which file (stem), and where it goes.
struct Job {
    stem: String,
    section: Section,
    caption: String,
    figure: FigureKind,
}

enum FigureKind {
    Shared(SharedPanel),
    PerVariant(PerVariantPanels),
    Distribution(Distribution),
    Best(BestFigure),
    Samples(SamplesFigure),
}

impl Job {
    fn draw(&self, dir: &Path, format: ImageFormat) -> Result<Figure> {
        let (file, size, format) = match &self.figure {
            FigureKind::Shared(f) => (
                plot::render(f, dir, &self.stem, format)?,
                plot::Draw::size(f),
                format,
            ),
            FigureKind::PerVariant(f) => (
                plot::render(f, dir, &self.stem, format)?,
                plot::Draw::size(f),
                format,
            ),
            FigureKind::Distribution(f) => (
                plot::render(f, dir, &self.stem, format)?,
                plot::Draw::size(f),
                format,
            ),
            FigureKind::Best(f) => (
                plot::render(f, dir, &self.stem, format)?,
                plot::Draw::size(f),
                format,
            ),
            FigureKind::Samples(f) => {
                // Images as SVG would be one rectangle per pixel: image grids stay PNG.
                let format = if f.has_images() {
                    ImageFormat::Png
                } else {
                    format
                };
                (
                    plot::render(f, dir, &self.stem, format)?,
                    plot::Draw::size(f),
                    format,
                )
            }
        };
        Ok(Figure {
            file,
            width: size.0,
            height: size.1,
            format,
            section: self.section,
            caption: self.caption.clone(),
        })
    }
}

/// Draws the figures on all CPUs, keeping their order.
fn draw_all(jobs: Vec<Job>, dir: &Path, format: ImageFormat) -> Result<Vec<Figure>> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(jobs.len())
        .max(1);
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<Figure>>>> =
        Mutex::new((0..jobs.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(job) = jobs.get(i) else { break };
                let result = job.draw(dir, format);
                results.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(result);
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .flatten()
        .collect()
}

/// Decides the figures; returns them and notes about samples that could not be drawn.
fn plan_figures(
    loaded: &Loaded,
    options: &Options,
    primary: Option<&PrimaryMetric>,
) -> (Vec<Job>, Vec<String>) {
    let mut stems: HashSet<String> = HashSet::new();
    let mut unique = |stem: String| {
        let mut candidate = stem.clone();
        let mut k = 2;
        while !stems.insert(candidate.clone()) {
            candidate = format!("{stem}-{k}");
            k += 1;
        }
        candidate
    };
    let all: Vec<usize> = (0..loaded.variants.len()).collect();
    let mut jobs = Vec::new();
    for (m, data) in loaded.metrics.iter().enumerate() {
        let desc = metric::describe(&data.name);
        let curves = plot::curves::variant_curves(loaded, m, &all, options.band);
        if curves.is_empty() {
            continue;
        }
        let arrow = match data.direction {
            Some(stats::Direction::Higher) => " (higher is better)",
            Some(stats::Direction::Lower) => " (lower is better)",
            None => "",
        };
        match data.kind {
            MetricKind::Evaluation => jobs.push(Job {
                stem: unique(format!("curve-{}", plot::slug(&data.name))),
                section: Section::Curves,
                caption: format!(
                    "{desc} against training step{arrow}: mean over runs, {}.",
                    options.band.describe()
                ),
                figure: FigureKind::Shared(SharedPanel {
                    title: format!("{desc}{arrow}"),
                    y_desc: desc.clone(),
                    curves,
                }),
            }),
            MetricKind::Loss | MetricKind::Signal => {
                let (prefix, section) = if data.kind == MetricKind::Loss {
                    ("loss", Section::Losses)
                } else {
                    ("signal", Section::Signals)
                };
                jobs.push(Job {
                    stem: unique(format!("{prefix}-{}", plot::slug(&data.name))),
                    section,
                    caption: format!(
                        "{} against training step, one panel per variant; {}.",
                        data.name,
                        options.band.describe()
                    ),
                    figure: FigureKind::PerVariant(PerVariantPanels {
                        title: format!("{} (per step)", data.name),
                        y_desc: data.name.clone(),
                        curves,
                    }),
                });
            }
            MetricKind::Timing => {}
        }
    }
    for m in indices(loaded, MetricKind::Evaluation) {
        let data = &loaded.metrics[m];
        // Only the variants that log the metric get a slot (the VAE's ELBO has none for a GAN).
        let groups: Vec<Group> = loaded
            .variants
            .iter()
            .filter(|info| info.runs.iter().any(|&r| data.per_run[r].is_some()))
            .map(|info| Group {
                label: info.label.clone(),
                colour: plot::colour(info.colour),
                values: summary::finished_values(loaded, m, &info.runs)
                    .iter()
                    .map(|x| x.1)
                    .collect(),
                without_result: info
                    .runs
                    .iter()
                    .filter(|&&r| {
                        matches!(loaded.runs[r].run.status, Status::Diverged | Status::Failed)
                    })
                    .count(),
            })
            .collect();
        if groups.iter().all(|g| g.values.is_empty()) {
            continue;
        }
        let desc = metric::describe(&data.name);
        let shown: Vec<&str> = groups.iter().map(|g| g.label.as_str()).collect();
        jobs.push(Job {
            stem: unique(format!("final-{}", plot::slug(&data.name))),
            section: Section::Distributions,
            caption: format!(
                "Final {desc} of every finished run of {} (the variants that log it); under \
                 each, how many of its runs diverged or failed.",
                shown.join(", ")
            ),
            figure: FigureKind::Distribution(Distribution {
                title: format!("Final {desc}"),
                y_desc: desc,
                groups,
            }),
        });
    }
    if let Some(p) = primary {
        if let Some(job) = best_so_far_job(loaded, p) {
            jobs.push(Job {
                stem: unique(job.stem.clone()),
                ..job
            });
        }
    }
    let mut notes = Vec::new();
    if let Some(figure) = samples_figure(loaded, options.format, &mut notes, Grid::Samples) {
        jobs.push(Job {
            stem: unique("samples".into()),
            section: Section::Samples,
            caption: "Generated samples of each variant's first run at its evaluation steps."
                .into(),
            figure: FigureKind::Samples(figure),
        });
    }
    if let Some(figure) = samples_figure(loaded, options.format, &mut notes, Grid::Reconstructions)
    {
        jobs.push(Job {
            stem: unique("reconstructions".into()),
            section: Section::Samples,
            caption: "Reconstructions: held-out images, each followed by the model's \
                      reconstruction of it (left original, right reconstruction, in pairs), for \
                      the variants that reconstruct (the VAE)."
                .into(),
            figure: FigureKind::Samples(figure),
        });
    }
    (jobs, notes)
}

/// The best-so-far figure of the primary metric, for the variants whose configurations come
/// from a random search (or, without a spec, that have several configurations). A trial is a
/// configuration, not a run: its result is the mean over its runs that ended, a run without a
/// result counting as the worst value (so a configuration that diverged on any seed is one
/// nobody would pick).
fn best_so_far_job(loaded: &Loaded, primary: &PrimaryMetric) -> Option<Job> {
    let data = &loaded.metrics[primary.index];
    let curves: Vec<Curve> = loaded
        .variants
        .iter()
        .enumerate()
        .filter(|(_, v)| {
            v.search || (loaded.sweeps.iter().all(|s| s.spec.is_none()) && v.configs.len() > 1)
        })
        .filter_map(|(i, v)| {
            let values = select::configuration_results(loaded, primary, i);
            (!values.is_empty()).then(|| Curve {
                label: v.label.clone(),
                colour: v.colour,
                points: stats::best_so_far(
                    &values,
                    primary.direction,
                    BEST_SO_FAR_DRAWS,
                    0xb357 + i as u64,
                ),
            })
        })
        .collect();
    if curves.is_empty() {
        return None;
    }
    let desc = metric::describe(&data.name);
    Some(Job {
        stem: format!("best-so-far-{}", plot::slug(&data.name)),
        section: Section::BestSoFar,
        caption: format!(
            "Best final {desc} among k configurations of the random search (each the mean of its \
             runs, a diverged run counting as the worst): median and 90% bootstrap band."
        ),
        figure: FigureKind::Best(BestFigure {
            title: format!("Best {} so far versus number of configurations", data.name),
            y_desc: desc,
            curves,
        }),
    })
}

/// Which artifacts a grid of [`samples_figure`] shows.
#[derive(Clone, Copy, PartialEq)]
enum Grid {
    Samples,
    Reconstructions,
}

impl Grid {
    fn files(self, entry: &RunEntry) -> &[(u64, PathBuf)] {
        match self {
            Grid::Samples => &entry.samples,
            Grid::Reconstructions => &entry.reconstructions,
        }
    }
}

/// A grid of samples (or reconstructions): per variant its first run (by seed) that saved them,
/// finished ones first; variants without any are left out.
fn samples_figure(
    loaded: &Loaded,
    format: ImageFormat,
    notes: &mut Vec<String>,
    grid: Grid,
) -> Option<SamplesFigure> {
    let mut chosen: Vec<(usize, usize)> = Vec::new(); // (variant, run)
    for (v, info) in loaded.variants.iter().enumerate() {
        let with_samples = |r: &&usize| !grid.files(&loaded.runs[**r]).is_empty();
        let run = info
            .runs
            .iter()
            .filter(with_samples)
            .find(|&&r| loaded.runs[r].run.status == Status::Finished)
            .or_else(|| info.runs.iter().find(with_samples));
        if let Some(&r) = run {
            chosen.push((v, r));
        }
    }
    if chosen.is_empty() {
        return None;
    }
    let mut steps: Vec<u64> = chosen
        .iter()
        .flat_map(|&(_, r)| grid.files(&loaded.runs[r]).iter().map(|s| s.0))
        .collect();
    steps.sort_unstable();
    steps.dedup();
    if steps.len() > MAX_SAMPLE_COLUMNS {
        let n = steps.len();
        let picked: Vec<u64> = (0..MAX_SAMPLE_COLUMNS)
            .map(|i| steps[(i * (n - 1) + (MAX_SAMPLE_COLUMNS - 1) / 2) / (MAX_SAMPLE_COLUMNS - 1)])
            .collect();
        steps = picked;
        steps.dedup();
    }
    let mut rows = Vec::new();
    let mut cells = Vec::new();
    for &(v, r) in &chosen {
        let entry = &loaded.runs[r];
        let info = &loaded.variants[v];
        rows.push(RowLabel {
            label: info.label.clone(),
            detail: format!("seed {} · run {}", entry.run.seed, entry.run.id.0),
            colour: plot::colour(info.colour),
        });
        cells.push(
            steps
                .iter()
                .map(
                    |step| match grid.files(entry).iter().find(|s| s.0 == *step) {
                        Some((_, path)) => {
                            let cell = Cell::read(path);
                            if let Cell::Missing(why) = &cell {
                                notes.push(format!(
                                    "{} of run {} at step {step}: {why}",
                                    match grid {
                                        Grid::Samples => "samples",
                                        Grid::Reconstructions => "reconstructions",
                                    },
                                    entry.run.id.0
                                ));
                            }
                            cell
                        }
                        None => Cell::Missing("no samples at this step".into()),
                    },
                )
                .collect::<Vec<Cell>>(),
        );
    }
    let centres = loaded
        .toy
        .as_ref()
        .map(|t| t.centres.clone())
        .unwrap_or_default();
    let extent = SamplesFigure::extent_for(&centres, &cells);
    let title = match (&loaded.toy, grid) {
        (_, Grid::Reconstructions) => "Held-out images and their reconstructions".to_string(),
        (Some(t), Grid::Samples) => {
            format!("Generated samples on {} (× true mode centres)", t.name)
        }
        (None, Grid::Samples) => "Generated samples".to_string(),
    };
    Some(SamplesFigure {
        title,
        rows,
        steps,
        cells,
        centres,
        extent,
        max_points: match format {
            ImageFormat::Png => plot::samples::MAX_POINTS,
            ImageFormat::Svg => 800,
        },
    })
}

/// A directory name for a sweep's report under `reports/`: the name with every character that
/// is not a letter, a digit, `-`, `_` or `.` replaced by `_`, so that a name with slashes,
/// quotes or spaces stays one safe path component.
pub fn dir_name(sweep: &str) -> String {
    let s: String = sweep
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let s = s.trim_start_matches('.');
    if s.is_empty() {
        "sweep".into()
    } else {
        s.to_string()
    }
}

/// Quotes `arg` for a POSIX shell when it needs quoting, so that a shown command can be pasted.
pub fn shell_quote(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:@,+%".contains(c));
    if plain {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

/// Milliseconds since the epoch as `YYYY-MM-DD HH:MM UTC`: the report's dates, to the minute.
pub(crate) fn format_time(ms: i64) -> String {
    let t = UtcTime::from_ms(ms);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02} UTC",
        t.year, t.month, t.day, t.hour, t.minute
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directory_names_are_one_safe_component() {
        assert_eq!(dir_name("quickstart"), "quickstart");
        assert_eq!(dir_name("../etc/passwd"), "_etc_passwd");
        assert_eq!(dir_name(r#"Ünï "quoted" name"#), "Ünï__quoted__name");
        assert_eq!(dir_name(""), "sweep");
        assert_eq!(dir_name("..."), "sweep");
    }

    #[test]
    fn shell_quoting_survives_quotes() {
        assert_eq!(shell_quote("quickstart"), "quickstart");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn times_format_as_utc_dates() {
        assert_eq!(format_time(0), "1970-01-01 00:00 UTC");
        assert_eq!(format_time(951_782_400_000), "2000-02-29 00:00 UTC");
    }
}
