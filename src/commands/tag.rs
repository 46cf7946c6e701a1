//! `ganbench tag TARGET TAG…`: tags on a run or a sweep, for `ls --where 'tag = …'` and the report.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;

use super::{bad_input, find_target, open_store_for_writing, target_name};

#[derive(clap::Args, Debug)]
#[command(after_help = "\
Examples:
  ganbench tag 12 good paper-fig2      tag run 12
  ganbench tag quickstart baseline     tag the newest version of a sweep
  ganbench tag 12 good --remove        take a tag off
  ganbench tag 12                      list run 12's tags
  ganbench ls --where 'tag = good'     the runs tagged good, or in a sweep tagged good")]
pub struct Args {
    /// A run id (the RUN column of `ganbench ls SWEEP`) or a sweep (NAME or NAME@VERSION).
    target: String,
    /// Tags to add (letters, digits and - _ . : / +); none: list the tags.
    tags: Vec<String>,
    /// Remove these tags instead.
    #[arg(long, requires = "tags")]
    remove: bool,
}

pub fn run(db: &Path, args: Args) -> Result<ExitCode> {
    let store = open_store_for_writing(db)?;
    let target = find_target(&store, &args.target)?;
    let name = target_name(&store, target)?;
    if args.remove {
        let removed = store.remove_tags(target, &args.tags)?;
        eprintln!("{name}: {removed} tag(s) removed");
    } else if !args.tags.is_empty() {
        let added = store.add_tags(target, &args.tags).map_err(bad_input)?;
        eprintln!("{name}: {added} tag(s) added");
    }
    let sweep = match target {
        ganbench_store::Target::Sweep(id) => id,
        ganbench_store::Target::Run(run) => store.run(run)?.sweep_id,
    };
    let annotations = store.annotations(sweep)?;
    let tags = match target {
        ganbench_store::Target::Sweep(_) => &annotations.sweep_tags[..],
        ganbench_store::Target::Run(run) => annotations.tags_of(run),
    };
    outln!("{}", tags.join(" "))?;
    Ok(ExitCode::SUCCESS)
}
