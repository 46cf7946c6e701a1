//! `ganbench show RUN`: one run's parameters, final metrics, events and error.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use ganbench_store::RunId;
use serde::Serialize;

use super::{bad_input, open_store};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The run id (the RUN column of `ganbench ls SWEEP`).
    run: i64,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Shown<'a> {
    #[serde(flatten)]
    details: &'a ganbench_store::RunDetails,
    /// The variant's label plus the parameters that tell its configuration apart.
    configuration: &'a str,
    params: serde_json::Value,
    final_metrics: Vec<(String, u64, f64)>,
    /// The run's own tags.
    tags: &'a [String],
    /// Notes on the run.
    notes: Vec<&'a ganbench_store::Note>,
}

pub fn run(db: &Path, args: Args) -> Result<ExitCode> {
    let store = open_store(db)?;
    let details = store.run_details(RunId(args.run)).map_err(|e| {
        bad_input(anyhow::Error::new(e).context(format!("run {} in {}", args.run, db.display())))
    })?;
    let run = &details.run;
    let last = store.last_values(run.sweep_id)?;
    let final_metrics: Vec<(String, u64, f64)> = last
        .into_iter()
        .filter(|v| v.run_id == run.id)
        .map(|v| (v.metric, v.step, v.value))
        .collect();
    let params: serde_json::Value =
        serde_json::from_str(&run.params_json).context("stored parameters")?;
    // The label needs the run's whole sweep: it names what differs from the other configurations.
    let siblings = store.runs(run.sweep_id)?;
    let configuration = siblings
        .iter()
        .position(|r| r.id == run.id)
        .map(|i| ganbench_report::run_labels(&siblings).swap_remove(i))
        .unwrap_or_else(|| run.label.clone());
    let annotations = store.annotations(run.sweep_id)?;
    let tags = annotations.tags_of(run.id);
    let notes: Vec<&ganbench_store::Note> = annotations.notes_of(run.id).collect();
    if args.json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&Shown {
                details: &details,
                configuration: &configuration,
                params,
                final_metrics,
                tags,
                notes,
            })?
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    outln!(
        "run {} — {} ({}), seed {}, trial {}",
        run.id.0,
        super::printable_line(&configuration),
        super::printable_line(&run.plugin),
        run.seed,
        run.trial_key
    )?;
    let total = run.total_steps.map(|t| format!("/{t}")).unwrap_or_default();
    outln!("status {} at step {}{total}", run.status.as_str(), run.step)?;
    if let Some(e) = &run.error {
        outln!("error: {}", super::printable(e))?;
    }
    if !tags.is_empty() {
        outln!("tags: {}", tags.join(" "))?;
    }
    for note in &notes {
        outln!(
            "note ({}): {}",
            ganbench_store::format_time(note.at_ms),
            super::printable(&note.text)
        )?;
    }
    outln!("\nparameters:")?;
    if let serde_json::Value::Object(map) = &params {
        for (k, v) in map {
            outln!("  {k} = {v}")?;
        }
    }
    outln!("\nfinal metrics:")?;
    for (name, step, value) in &final_metrics {
        outln!("  {name:<16} {value:<14.6} (step {step})")?;
    }
    outln!("\nevents:")?;
    for e in &details.events {
        outln!(
            "  {}  {:<12} {}",
            ganbench_store::format_time(e.at_ms),
            super::printable_line(&e.kind),
            super::printable(&e.message)
        )?;
    }
    Ok(ExitCode::SUCCESS)
}
