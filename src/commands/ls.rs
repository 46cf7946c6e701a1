//! `ganbench ls`: the sweeps in a database, or the runs of one sweep.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use ganbench_store::Store;

use super::{find_sweep, open_store};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Show the runs of this sweep (NAME or NAME@VERSION) instead of the list of sweeps.
    sweep: Option<String>,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

pub fn run(db: &Path, args: Args) -> Result<ExitCode> {
    let store: Store = open_store(db)?;
    match args.sweep {
        None => {
            let sweeps = store.list_sweeps()?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&sweeps)?);
            } else if sweeps.is_empty() {
                println!(
                    "no sweeps in {} yet; start one with `ganbench run experiments/quickstart.ron`",
                    db.display()
                );
            } else {
                println!(
                    "{:<28} {:>4} {:>6} {:>9} {:>8} {:>8} {:>7} {:>12}",
                    "SWEEP",
                    "VER",
                    "RUNS",
                    "FINISHED",
                    "RUNNING",
                    "DIVERGED",
                    "FAILED",
                    "INTERRUPTED"
                );
                for s in sweeps {
                    let r = s.runs;
                    println!(
                        "{:<28} {:>4} {:>6} {:>9} {:>8} {:>8} {:>7} {:>12}",
                        s.name,
                        s.version,
                        r.total(),
                        r.finished,
                        r.running,
                        r.diverged,
                        r.failed,
                        r.interrupted + r.queued
                    );
                }
            }
        }
        Some(name) => {
            let sweep = find_sweep(&store, &name)?;
            let runs = store.runs(sweep.id)?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&runs)?);
            } else {
                println!("{} v{} — {} runs", sweep.name, sweep.version, runs.len());
                println!(
                    "{:>5}  {:<24} {:>6}  {:<11} {:>15}  ERROR",
                    "RUN", "LABEL", "SEED", "STATUS", "STEP"
                );
                for r in runs {
                    let progress = match r.total_steps {
                        Some(t) => format!("{}/{}", r.step, t),
                        None => r.step.to_string(),
                    };
                    let error = r
                        .error
                        .as_deref()
                        .unwrap_or("")
                        .lines()
                        .next()
                        .unwrap_or("");
                    println!(
                        "{:>5}  {:<24} {:>6}  {:<11} {:>15}  {error}",
                        r.id.0,
                        r.label,
                        r.seed,
                        r.status.as_str(),
                        progress
                    );
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
