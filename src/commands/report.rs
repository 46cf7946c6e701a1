//! `ganbench report SWEEP`: figures and one HTML page comparing the variants of a sweep.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use ganbench_report::{Band, ImageFormat, Options, Report, Selection};
use ganbench_store::Store;
use serde::Serialize;

use super::{bad_input, find_sweep, open_store};

/// What the band around each variant's mean curve shows.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default)]
pub enum BandArg {
    /// From the lowest to the highest run.
    #[default]
    Minmax,
    /// The mean ± one standard deviation over runs.
    Std,
}

/// Options shared by `report` and `compare`.
#[derive(clap::Args, Debug)]
pub struct Look {
    /// Directory to write index.html and the figures into [default: reports/SWEEP, or
    /// reports/compare for `compare`].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// What the band around each variant's mean curve shows.
    #[arg(long, value_enum, default_value_t = BandArg::Minmax)]
    pub band: BandArg,
    /// Write the figures as SVG instead of PNG (image sample grids stay PNG).
    #[arg(long)]
    pub svg: bool,
    /// Inline the figures into index.html as data URIs: one file to send.
    #[arg(long)]
    pub embed: bool,
    /// The metric the verdict ranks the variants by: NAME, or NAME:higher / NAME:lower for a
    /// metric ganbench does not know [default: the sweep's `primary`, else modes captured on toy
    /// data (ties broken by high_quality) and fid on images].
    #[arg(long, value_name = "NAME")]
    pub metric: Option<String>,
    /// Print the verdict and the tables as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The sweep: NAME (its newest version) or NAME@VERSION.
    sweep: String,
    /// The sweep version [default: the newest].
    #[arg(long, value_name = "V")]
    version: Option<u32>,
    #[command(flatten)]
    look: Look,
}

/// `--json` output: where the page is, and the table.
#[derive(Serialize)]
struct JsonOut<'a> {
    index: &'a Path,
    figures: usize,
    #[serde(flatten)]
    summary: &'a ganbench_report::Summary,
}

pub fn run(db: &Path, args: Args) -> Result<ExitCode> {
    let store = open_store(db)?;
    let sweep = match args.version {
        Some(v) => store
            .find_sweep(&args.sweep, Some(v))?
            .ok_or_else(|| {
                bad_input(anyhow::anyhow!(
                    "no version {v} of sweep `{}` in {}; `ganbench ls` lists the sweeps and their versions",
                    args.sweep,
                    db.display()
                ))
            })?,
        None => find_sweep(&store, &args.sweep)?,
    };
    let out = match args.look.out.clone() {
        Some(out) => out,
        None => default_dir(&store, &sweep)?,
    };
    let report = write(
        &store,
        &Selection::Sweep(sweep.id),
        out,
        &args.look,
        invocation(),
    )?;
    print(&report, args.look.json)
}

/// Where a sweep's report goes unless `--out` says otherwise: `reports/<name>`, or
/// `reports/<name>-vN` for a version that is not the newest.
pub fn default_dir(store: &Store, sweep: &ganbench_store::SweepRecord) -> Result<PathBuf> {
    let newest = store
        .find_sweep(&sweep.name, None)?
        .map_or(sweep.version, |s| s.version);
    let mut dir = ganbench_report::dir_name(&sweep.name);
    if sweep.version != newest {
        dir.push_str(&format!("-v{}", sweep.version));
    }
    Ok(Path::new("reports").join(dir))
}

/// Writes a report with the shared options.
pub fn write(
    store: &Store,
    selection: &Selection,
    out_dir: PathBuf,
    look: &Look,
    command: String,
) -> Result<Report> {
    let options = Options {
        out_dir,
        band: match look.band {
            BandArg::Minmax => Band::MinMax,
            BandArg::Std => Band::Std,
        },
        format: if look.svg {
            ImageFormat::Svg
        } else {
            ImageFormat::Png
        },
        embed: look.embed,
        main_metric: look.metric.clone(),
        command,
        version: env!("CARGO_PKG_VERSION").to_string(),
    };
    ganbench_report::write_report(store, selection, &options).map_err(|e| match e {
        e @ (ganbench_report::ReportError::UnknownMetric { .. }
        | ganbench_report::ReportError::NoDirection { .. }
        | ganbench_report::ReportError::NoRuns { .. }) => bad_input(e),
        e => anyhow::Error::new(e).context(format!(
            "writing the report into {}",
            options.out_dir.display()
        )),
    })
}

/// Prints where the report went (or the table as JSON).
pub fn print(report: &Report, json: bool) -> Result<ExitCode> {
    if json {
        let out = JsonOut {
            index: &report.index,
            figures: report.figures.len(),
            summary: &report.summary,
        };
        outln!(
            "{}",
            serde_json::to_string_pretty(&out).context("serializing the summary")?
        )?;
    } else {
        outln!(
            "report: {} ({} figures)",
            report.index.display(),
            report.figures.len()
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The report `ganbench run` writes at the end of a sweep, read through the store the run already
/// holds open: into `out`, else `reports/<name>/`;
/// PNG figures.
pub fn after_run(
    store: &Store,
    db: &Path,
    name: &str,
    version: u32,
    out: Option<&Path>,
) -> Result<Report> {
    let sweep = store
        .find_sweep(name, Some(version))?
        .with_context(|| format!("sweep {name}@{version} vanished from {}", db.display()))?;
    let look = Look {
        out: None,
        band: BandArg::Minmax,
        svg: false,
        embed: false,
        metric: None,
        json: false,
    };
    let out = out.map_or_else(
        || Path::new("reports").join(ganbench_report::dir_name(name)),
        Path::to_path_buf,
    );
    let command = format!(
        "ganbench report {} --db {}",
        ganbench_report::shell_quote(&format!("{name}@{version}")),
        ganbench_report::shell_quote(&db.display().to_string())
    );
    write(store, &Selection::Sweep(sweep.id), out, &look, command)
}

/// This process's command line, as a pasteable shell command starting with `ganbench`.
pub fn invocation() -> String {
    std::iter::once("ganbench".to_string())
        .chain(
            std::env::args_os()
                .skip(1)
                .map(|a| ganbench_report::shell_quote(&a.to_string_lossy())),
        )
        .collect::<Vec<_>>()
        .join(" ")
}
