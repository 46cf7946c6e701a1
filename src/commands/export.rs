//! `ganbench export SWEEP`: every metric point of a sweep as CSV or JSON lines.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};

use super::{find_sweep, open_store};

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum Format {
    Csv,
    Jsonl,
}

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The sweep: NAME (newest version) or NAME@VERSION.
    sweep: String,
    #[arg(long, value_enum, default_value = "csv")]
    format: Format,
    /// Write to this file instead of stdout.
    #[arg(long)]
    out: Option<PathBuf>,
}

pub fn run(db: &Path, args: Args) -> Result<ExitCode> {
    let store = open_store(db)?;
    let sweep = find_sweep(&store, &args.sweep)?;
    let mut out: Box<dyn Write> = match &args.out {
        Some(p) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    if matches!(args.format, Format::Csv) {
        writeln!(
            out,
            "sweep,sweep_version,run_id,trial_key,plugin,label,seed,metric,step,value,wall_ms"
        )?;
    }
    for row in store.export_rows(sweep.id)? {
        let r = row?;
        match args.format {
            Format::Jsonl => {
                let mut v = serde_json::to_value(&r)?;
                // JSON has no NaN: a diverged run's last loss is written as a string.
                if !r.value.is_finite() {
                    v["value"] = serde_json::Value::String(r.value.to_string());
                }
                writeln!(out, "{v}")?;
            }
            Format::Csv => writeln!(
                out,
                "{},{},{},{},{},{},{},{},{},{},{}",
                csv(&r.sweep),
                r.sweep_version,
                r.run_id.0,
                csv(&r.trial_key),
                csv(&r.plugin),
                csv(&r.label),
                r.seed,
                csv(&r.metric),
                r.step,
                r.value,
                r.wall_ms
            )?,
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// Quotes a CSV field when it needs it (RFC 4180).
fn csv(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}
