//! `ganbench ls`: the sweeps in a database, or the runs of one sweep.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use ganbench_store::{Run, Store};
use serde::Serialize;

use super::{find_sweep, open_store};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Show the runs of this sweep (NAME or NAME@VERSION) instead of the list of sweeps.
    sweep: Option<String>,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// A run with its configuration label, for `--json`.
#[derive(Serialize)]
struct Labelled<'a> {
    #[serde(flatten)]
    run: &'a Run,
    /// The variant's label plus the parameters that tell its configuration apart.
    configuration: &'a str,
}

pub fn run(db: &Path, args: Args) -> Result<ExitCode> {
    let store: Store = open_store(db)?;
    match args.sweep {
        None => {
            let sweeps = store.list_sweeps()?;
            if args.json {
                outln!("{}", serde_json::to_string_pretty(&sweeps)?)?;
            } else if sweeps.is_empty() {
                outln!(
                    "no sweeps in {} yet; start one with `ganbench run experiments/quickstart.ron`",
                    db.display()
                )?;
            } else {
                outln!(
                    "{:<28} {:>4} {:>6} {:>9} {:>8} {:>8} {:>7} {:>12}",
                    "SWEEP",
                    "VER",
                    "RUNS",
                    "FINISHED",
                    "RUNNING",
                    "DIVERGED",
                    "FAILED",
                    "INTERRUPTED"
                )?;
                for s in sweeps {
                    let r = s.runs;
                    outln!(
                        "{:<28} {:>4} {:>6} {:>9} {:>8} {:>8} {:>7} {:>12}",
                        s.name,
                        s.version,
                        r.total(),
                        r.finished,
                        r.running,
                        r.diverged,
                        r.failed,
                        r.interrupted + r.queued
                    )?;
                }
            }
        }
        Some(name) => {
            let sweep = find_sweep(&store, &name)?;
            let runs = store.runs(sweep.id)?;
            // Runs of a grid or search are told apart by the parameters that vary.
            let labels = ganbench_report::run_labels(&runs);
            if args.json {
                let rows: Vec<Labelled<'_>> = runs
                    .iter()
                    .zip(&labels)
                    .map(|(run, configuration)| Labelled { run, configuration })
                    .collect();
                outln!("{}", serde_json::to_string_pretty(&rows)?)?;
            } else {
                outln!("{} v{} — {} runs", sweep.name, sweep.version, runs.len())?;
                let labels: Vec<String> = labels.iter().map(|l| super::printable_line(l)).collect();
                let width = labels
                    .iter()
                    .map(|l| l.chars().count())
                    .max()
                    .unwrap_or(0)
                    .max(24);
                outln!(
                    "{:>5}  {:<width$} {:>6}  {:<11} {:>15}  ERROR",
                    "RUN",
                    "CONFIGURATION",
                    "SEED",
                    "STATUS",
                    "STEP"
                )?;
                for (r, label) in runs.into_iter().zip(&labels) {
                    let progress = match r.total_steps {
                        Some(t) => format!("{}/{}", r.step, t),
                        None => r.step.to_string(),
                    };
                    let error = super::printable_line(
                        r.error
                            .as_deref()
                            .unwrap_or("")
                            .lines()
                            .next()
                            .unwrap_or(""),
                    );
                    outln!(
                        "{:>5}  {label:<width$} {:>6}  {:<11} {:>15}  {error}",
                        r.id.0,
                        r.seed,
                        r.status.as_str(),
                        progress
                    )?;
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
