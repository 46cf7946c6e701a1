//! `ganbench merge SWEEP`: brings the databases of a sweep's array tasks (shards) into the main
//! database, idempotently, while tasks may still be writing them.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use ganbench_slurm::RunFolder;
use ganbench_store::{MergeReport, Store};
use serde::Serialize;

use super::bad_input;

#[derive(clap::Args, Debug)]
#[command(after_help = "\
Examples:
  ganbench merge quickstart                    the shards of its newest Slurm submission
  ganbench merge quickstart@2                  of version 2's
  ganbench merge quickstart a.sqlite b.sqlite  these shards (`ganbench run --task I/N --db …`)
  ganbench merge quickstart --json | jq '.shards[].runs_added'

Merging again changes nothing; a run still training is brought up to date. A shard of another
sweep, or of another spec of this one, is refused. See docs/cluster.md.")]
pub struct Args {
    /// The sweep: NAME (its newest submitted version) or NAME@VERSION.
    sweep: String,
    /// Shard databases to merge; by default every shard of the sweep's Slurm run folder
    /// (DB.slurm/NAME-vVERSION/shards/).
    shards: Vec<PathBuf>,
    /// Print what was merged as JSON on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Summary<'a> {
    sweep: &'a str,
    db: &'a Path,
    shards: &'a [MergeReport],
    conflicts: usize,
}

pub fn run(db: &Path, args: Args) -> Result<ExitCode> {
    let (name, version) = super::sweep_ref(&args.sweep);
    let folder = match version {
        Some(v) => Some(RunFolder::new(db, name, v)).filter(|f| f.root().exists()),
        None => RunFolder::latest(db, name),
    };
    let submission = folder.as_ref().and_then(|f| f.load().ok());
    let shards = if args.shards.is_empty() {
        let Some(folder) = &folder else {
            return Err(bad_input(anyhow::anyhow!(
                "no Slurm run folder of sweep `{}` beside {} ({}); name the shard files \
                 (`ganbench merge {} SHARD.sqlite…`), or submit first (`ganbench slurm submit`)",
                args.sweep,
                db.display(),
                db.with_extension("slurm").display(),
                args.sweep,
            )));
        };
        folder.shards()?.into_iter().map(|(_, path)| path).collect()
    } else {
        args.shards.clone()
    };
    for shard in &shards {
        if !shard.is_file() {
            return Err(bad_input(anyhow::anyhow!(
                "no shard database at {}",
                shard.display()
            )));
        }
    }
    // The spec every shard must have been trained from: the submitted one, else the version
    // the main database already stores under that name, else the first shard's.
    let store = Store::open(db).map_err(bad_input)?;
    let mut expected = match &submission {
        Some(s) => Some(s.spec_hash.clone()),
        None => store.find_sweep(name, version)?.map(|s| s.spec_hash),
    };
    let mut reports = Vec::new();
    for shard in &shards {
        let report = store
            .merge_shard(shard, name, expected.as_deref())
            .map_err(bad_input)
            .with_context(|| format!("merging {} into {}", shard.display(), db.display()))?;
        expected.get_or_insert_with(|| report.spec_hash.clone());
        if !args.json {
            eprintln!("{}", describe(&report));
        }
        reports.push(report);
    }
    let conflicts: usize = reports.iter().map(|r| r.conflicts.len()).sum();
    if args.json {
        let summary = Summary {
            sweep: name,
            db,
            shards: &reports,
            conflicts,
        };
        outln!("{}", serde_json::to_string(&summary)?)?;
    } else {
        let added: u64 = reports.iter().map(|r| r.runs_added).sum();
        let updated: u64 = reports.iter().map(|r| r.runs_updated).sum();
        let unchanged: u64 = reports.iter().map(|r| r.runs_unchanged).sum();
        let points: u64 = reports.iter().map(|r| r.points_copied).sum();
        let version = reports
            .last()
            .map_or(String::new(), |r| format!("@{}", r.version));
        outln!(
            "{name}{version}: {} shards merged into {}: {added} runs added, {updated} updated, \
             {unchanged} unchanged, {points} metric points written{}",
            reports.len(),
            db.display(),
            if conflicts > 0 {
                format!("; {conflicts} runs differ from a result already stored (kept, see above)")
            } else {
                String::new()
            }
        )?;
        outln!("next: ganbench report {name}   ganbench ls {name}")?;
    }
    Ok(ExitCode::SUCCESS)
}

/// One line per shard: what it added.
fn describe(r: &MergeReport) -> String {
    let mut line = format!(
        "{}: {} added, {} updated, {} unchanged ({} points)",
        r.shard.display(),
        r.runs_added,
        r.runs_updated,
        r.runs_unchanged,
        r.points_copied
    );
    for key in &r.conflicts {
        line += &format!(
            "\n  warning: run {key} has a result in the main database that differs from this \
             shard's; the stored one is kept (was this trial trained twice?)"
        );
    }
    line
}
