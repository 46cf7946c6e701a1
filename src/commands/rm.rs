//! `ganbench rm SWEEP`: deletes a sweep version, its runs and metrics, and its files.

use std::io::{BufRead, IsTerminal};
use std::path::Path;
use std::process::ExitCode;

use anyhow::{anyhow, Context, Result};
use ganbench_store::layout::sweep_dir;

use super::{bad_input, find_sweep, open_store_for_writing, runs_dir};

#[derive(clap::Args, Debug)]
#[command(after_help = "\
Examples:
  ganbench rm lr-search@2              asks, then deletes version 2 and its folder of checkpoints
  ganbench rm lr-search --yes          no question (scripts; required when stdin is not a terminal)
  ganbench archive lr-search           hides it from `ganbench ls` instead, keeping everything")]
pub struct Args {
    /// The sweep: NAME (its newest version) or NAME@VERSION. Other versions are kept.
    sweep: String,
    /// Delete without asking.
    #[arg(long, short)]
    yes: bool,
}

pub fn run(db: &Path, args: Args) -> Result<ExitCode> {
    let store = open_store_for_writing(db)?;
    let sweep = find_sweep(&store, &args.sweep)?;
    let runs = store.runs(sweep.id)?.len();
    let folder = sweep_dir(&runs_dir(db), &sweep.name, sweep.version);
    let what = format!(
        "sweep {}@{}: {runs} run(s) with their metrics, events, tags and notes{}",
        sweep.name,
        sweep.version,
        if folder.exists() {
            format!(", and the folder {}", folder.display())
        } else {
            String::new()
        }
    );
    if !args.yes {
        if !std::io::stdin().is_terminal() {
            return Err(bad_input(anyhow!(
                "`ganbench rm` would delete {what}; pass --yes to delete without a terminal to ask on"
            )));
        }
        eprint!("delete {what}? [y/N] ");
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            eprintln!("nothing deleted");
            return Ok(ExitCode::SUCCESS);
        }
    }
    let deleted = store.delete_sweep(sweep.id).map_err(bad_input)?;
    let had_folder = folder.exists();
    if had_folder {
        std::fs::remove_dir_all(&folder).with_context(|| {
            format!(
                "the database rows are deleted, but not the folder {}; remove it by hand",
                folder.display()
            )
        })?;
    }
    eprintln!(
        "deleted sweep {}@{}: {} run(s), {} metric point(s){}",
        sweep.name,
        sweep.version,
        deleted.runs,
        deleted.points,
        if had_folder { " and its files" } else { "" }
    );
    Ok(ExitCode::SUCCESS)
}
