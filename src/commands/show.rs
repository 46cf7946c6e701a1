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
    params: serde_json::Value,
    final_metrics: Vec<(String, u64, f64)>,
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
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&Shown {
                details: &details,
                params,
                final_metrics
            })?
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "run {} — {} ({}), seed {}, trial {}",
        run.id.0, run.label, run.plugin, run.seed, run.trial_key
    );
    let total = run.total_steps.map(|t| format!("/{t}")).unwrap_or_default();
    println!("status {} at step {}{total}", run.status.as_str(), run.step);
    if let Some(e) = &run.error {
        println!("error: {e}");
    }
    println!("\nparameters:");
    if let serde_json::Value::Object(map) = &params {
        for (k, v) in map {
            println!("  {k} = {v}");
        }
    }
    println!("\nfinal metrics:");
    for (name, step, value) in &final_metrics {
        println!("  {name:<16} {value:<14.6} (step {step})");
    }
    println!("\nevents:");
    for e in &details.events {
        println!(
            "  {}  {:<12} {}",
            super::format_time(e.at_ms),
            e.kind,
            e.message
        );
    }
    Ok(ExitCode::SUCCESS)
}
