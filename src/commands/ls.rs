//! `ganbench ls`: the sweeps in a database, or runs: of one sweep, or of every sweep filtered
//! with `--where` and ordered with `--sort`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use ganbench_report::{filter_and_sort, run_rows, RunRow};
use ganbench_store::{Filter, Store, SweepSummary};

use super::{bad_input, find_sweep, open_store, printable_line};

#[derive(clap::Args, Debug)]
#[command(after_help = "\
Examples:
  ganbench ls                                   the sweeps, with run counts and tags
  ganbench ls quickstart                        the runs of one sweep (NAME or NAME@VERSION)
  ganbench ls --where 'lr_d < 3e-4 and status = finished' --sort modes --desc
  ganbench ls grid25 --where 'tag = good or plugin = sngan' --json

Fields of --where and --sort: id, sweep, version, status, seed, plugin, label, step, tag (the
run's and its sweep's tags), every parameter (lr_d, hidden, loss…) and every final metric
(modes, hq_fraction, fid…). Operators: = != < <= > >= and ~ (contains), joined with and, or,
not and parentheses. A run without the field, or with NaN there, fails the comparison.")]
pub struct Args {
    /// Show the runs of this sweep (NAME or NAME@VERSION) instead of the list of sweeps.
    sweep: Option<String>,
    /// Only the runs for which this is true, e.g. 'lr_d < 3e-4 and status = finished'; without
    /// a SWEEP, the runs of every sweep that is not archived.
    #[arg(long = "where", value_name = "EXPR")]
    filter: Option<String>,
    /// Order the runs by this field (a parameter, a final metric, seed, status…); runs without
    /// it come last.
    #[arg(long, value_name = "FIELD")]
    sort: Option<String>,
    /// With --sort: largest first.
    #[arg(long, requires = "sort")]
    desc: bool,
    /// Also list archived sweeps (`ganbench archive`).
    #[arg(long)]
    all: bool,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

pub fn run(db: &Path, args: Args) -> Result<ExitCode> {
    let store: Store = open_store(db)?;
    let filter = args
        .filter
        .as_deref()
        .map(Filter::parse)
        .transpose()
        .map_err(bad_input)?;
    let every = store.list_sweeps()?;
    let archived = every.iter().filter(|s| s.archived_at_ms.is_some()).count();
    let sweeps: Vec<SweepSummary> = match &args.sweep {
        Some(name) => {
            let sweep = find_sweep(&store, name)?;
            every.into_iter().filter(|s| s.id == sweep.id).collect()
        }
        None => every
            .into_iter()
            .filter(|s| args.all || s.archived_at_ms.is_none())
            .collect(),
    };
    if args.sweep.is_none() && filter.is_none() && args.sort.is_none() {
        return list_sweeps(db, &sweeps, archived, args.json);
    }
    let mut rows = run_rows(&store, &sweeps)?;
    filter_and_sort(&mut rows, filter.as_ref(), args.sort.as_deref(), args.desc)
        .map_err(bad_input)?;
    print_runs(&sweeps, &rows, args.sweep.is_some(), args.json)?;
    if args.sweep.is_some() && !args.json {
        slurm_lines(db, &sweeps)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `archived`: how many sweeps `sweeps` leaves out because they are archived.
fn list_sweeps(
    db: &Path,
    sweeps: &[SweepSummary],
    archived: usize,
    json: bool,
) -> Result<ExitCode> {
    if json {
        outln!("{}", serde_json::to_string_pretty(&sweeps)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    if sweeps.is_empty() && archived > 0 {
        outln!(
            "every sweep in {} is archived ({archived}); `ganbench ls --all` lists them",
            db.display()
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    if sweeps.is_empty() {
        outln!(
            "no sweeps in {} yet; start one with `ganbench run experiments/quickstart.ron`",
            db.display()
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    outln!(
        "{:<28} {:>4} {:>6} {:>7} {:>8} {:>9} {:>8} {:>7} {:>12}  TAGS",
        "SWEEP",
        "VER",
        "RUNS",
        "QUEUED",
        "RUNNING",
        "FINISHED",
        "DIVERGED",
        "FAILED",
        "INTERRUPTED"
    )?;
    for s in sweeps {
        let r = &s.runs;
        let mut tags = s.tags.join(" ");
        if s.archived_at_ms.is_some() {
            tags = format!("(archived) {tags}");
        }
        let line = format!(
            "{:<28} {:>4} {:>6} {:>7} {:>8} {:>9} {:>8} {:>7} {:>12}  {tags}",
            s.name,
            s.version,
            r.total(),
            r.queued,
            r.running,
            r.finished,
            r.diverged,
            r.failed,
            r.interrupted,
        );
        outln!("{}", line.trim_end())?;
    }
    slurm_lines(db, sweeps)?;
    Ok(ExitCode::SUCCESS)
}

/// A line per sweep with a Slurm submission: its tasks' progress, read from their shards.
fn slurm_lines(db: &Path, sweeps: &[SweepSummary]) -> Result<()> {
    for s in sweeps {
        if let Some(line) = super::slurm::ls_line(db, &s.name, s.version) {
            outln!("{line}")?;
        }
    }
    Ok(())
}

fn print_runs(sweeps: &[SweepSummary], rows: &[RunRow], one_sweep: bool, json: bool) -> Result<()> {
    if json {
        outln!("{}", serde_json::to_string_pretty(&rows)?)?;
        return Ok(());
    }
    if let ([sweep], true) = (sweeps, one_sweep) {
        outln!("{} v{} — {} runs", sweep.name, sweep.version, rows.len())?;
    } else {
        outln!("{} runs in {} sweeps", rows.len(), sweeps.len())?;
    }
    let labels: Vec<String> = rows
        .iter()
        .map(|row| {
            let label = printable_line(&row.configuration);
            if one_sweep {
                label
            } else {
                format!("{} {label}", printable_line(&row.sweep))
            }
        })
        .collect();
    let width = labels
        .iter()
        .map(|l| l.chars().count())
        .max()
        .unwrap_or(0)
        .max(24);
    let tagged = rows.iter().any(|row| !row.tags.is_empty());
    outln!(
        "{:>5}  {:<width$} {:>6}  {:<11} {:>15}  {}ERROR",
        "RUN",
        if one_sweep {
            "CONFIGURATION"
        } else {
            "SWEEP CONFIGURATION"
        },
        "SEED",
        "STATUS",
        "STEP",
        if tagged { "TAGS  " } else { "" }
    )?;
    for (row, label) in rows.iter().zip(&labels) {
        let r = &row.run;
        let progress = match r.total_steps {
            Some(t) => format!("{}/{}", r.step, t),
            None => r.step.to_string(),
        };
        let error = printable_line(
            r.error
                .as_deref()
                .unwrap_or("")
                .lines()
                .next()
                .unwrap_or(""),
        );
        let tags = if tagged {
            format!("{}  ", row.tags.join(","))
        } else {
            String::new()
        };
        let line = format!(
            "{:>5}  {label:<width$} {:>6}  {:<11} {:>15}  {tags}{error}",
            r.id.0,
            r.seed,
            r.status.as_str(),
            progress
        );
        outln!("{}", line.trim_end())?;
    }
    Ok(())
}
