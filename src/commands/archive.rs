//! `ganbench archive SWEEP`: hides a sweep from `ganbench ls` without removing anything.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;

use super::{find_sweep, open_store_for_writing};

#[derive(clap::Args, Debug)]
#[command(after_help = "\
Examples:
  ganbench archive lr-search           hidden from `ganbench ls`; `ls --all` still shows it
  ganbench archive lr-search --undo    listed again
  ganbench rm lr-search                deleted, with its files (asks first)")]
pub struct Args {
    /// The sweep: NAME (its newest version) or NAME@VERSION.
    sweep: String,
    /// List it again.
    #[arg(long)]
    undo: bool,
}

pub fn run(db: &Path, args: Args) -> Result<ExitCode> {
    let store = open_store_for_writing(db)?;
    let sweep = find_sweep(&store, &args.sweep)?;
    store.set_archived(sweep.id, !args.undo)?;
    eprintln!(
        "sweep {}@{} {}",
        sweep.name,
        sweep.version,
        if args.undo {
            "is listed again"
        } else {
            "archived: `ganbench ls --all` lists it, `ganbench archive --undo` brings it back"
        }
    );
    Ok(ExitCode::SUCCESS)
}
