//! `ganbench note TARGET [TEXT]`: notes on a run or a sweep, shown by `show` and the report.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use ganbench_store::Target;

use super::{bad_input, find_target, open_store_for_writing, printable, target_name};

#[derive(clap::Args, Debug)]
#[command(after_help = "\
Examples:
  ganbench note 12 'collapsed to 3 modes after step 1500; lr_d too high?'
  ganbench note quickstart 'baseline for the SN ablation'
  ganbench note quickstart             the sweep's notes (--json for a script)")]
pub struct Args {
    /// A run id (the RUN column of `ganbench ls SWEEP`) or a sweep (NAME or NAME@VERSION).
    target: String,
    /// The note to add; without it, list the notes.
    text: Option<String>,
    /// Print JSON instead of text (when listing).
    #[arg(long)]
    json: bool,
}

pub fn run(db: &Path, args: Args) -> Result<ExitCode> {
    let store = open_store_for_writing(db)?;
    let target = find_target(&store, &args.target)?;
    if let Some(text) = &args.text {
        store.add_note(target, text).map_err(bad_input)?;
        eprintln!("{}: note added", target_name(&store, target)?);
        return Ok(ExitCode::SUCCESS);
    }
    let sweep = match target {
        Target::Sweep(id) => id,
        Target::Run(run) => store.run(run)?.sweep_id,
    };
    let annotations = store.annotations(sweep)?;
    let notes: Vec<_> = annotations
        .notes
        .iter()
        .filter(|n| match target {
            Target::Sweep(_) => n.run_id.is_none(),
            Target::Run(run) => n.run_id == Some(run),
        })
        .collect();
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&notes)?)?;
    } else {
        for note in notes {
            outln!(
                "{}  {}",
                ganbench_store::format_time(note.at_ms),
                printable(&note.text)
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
