//! `ganbench compare RUN_OR_SWEEP…`: a report over chosen runs, from one sweep or several.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;
use ganbench_report::Selection;
use ganbench_store::{RunId, StoreError};

use super::report::{invocation, print, write, Look};
use super::{bad_input, find_sweep, open_store};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Run ids (as `ganbench ls SWEEP` shows them) and sweeps (NAME or NAME@VERSION: all its
    /// runs), in any mix. Runs are grouped by their sweep and variant label.
    #[arg(required = true, value_name = "RUN_OR_SWEEP")]
    items: Vec<String>,
    #[command(flatten)]
    look: Look,
}

pub fn run(db: &Path, args: Args) -> Result<ExitCode> {
    let store = open_store(db)?;
    let mut runs: Vec<RunId> = Vec::new();
    for item in &args.items {
        if let Ok(id) = item.parse::<i64>() {
            match store.run(RunId(id)) {
                Ok(_) => {
                    runs.push(RunId(id));
                    continue;
                }
                Err(StoreError::NoSuchRun(_)) => {
                    // Maybe a sweep with a numeric name; if not, say that no run has this id.
                    if store.find_sweep(item, None)?.is_none() {
                        return Err(bad_input(anyhow::anyhow!(
                            "no run {id} and no sweep `{item}` in {}; `ganbench ls SWEEP` lists run ids",
                            db.display()
                        )));
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
        let sweep = find_sweep(&store, item)?;
        runs.extend(store.runs(sweep.id)?.into_iter().map(|r| r.id));
    }
    let out = args
        .look
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("reports").join("compare"));
    let report = write(
        &store,
        &Selection::Runs(runs),
        out,
        &args.look,
        invocation(),
    )?;
    print(&report, args.look.json)
}
