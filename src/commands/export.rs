//! `ganbench export SWEEP`: every metric point of a sweep as CSV or JSON lines, or with `--wide`
//! one row per run with its parameters and final metrics as columns.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;
use ganbench_store::{RunId, Store, Sweep};
use serde_json::Value;

use super::{bad_input, find_sweep, open_store};

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum Format {
    Csv,
    Jsonl,
}

const EXAMPLES: &str = "\
Examples:
  ganbench export quickstart --out q.csv               every metric point, one per line
  ganbench export lr-search --wide --out runs.csv      one row per run: parameters, final metrics
  ganbench export lr-search --wide --format jsonl      the same as JSON lines";

#[derive(clap::Args, Debug)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// The sweep: NAME (newest version) or NAME@VERSION.
    sweep: String,
    #[arg(long, value_enum, default_value = "csv")]
    format: Format,
    /// One row per run, with every parameter and every metric's final value (`final_NAME`) as
    /// columns, instead of one row per metric point.
    #[arg(long)]
    wide: bool,
    /// Write to this file instead of stdout.
    #[arg(long)]
    out: Option<PathBuf>,
}

pub fn run(db: &Path, args: Args) -> Result<ExitCode> {
    let store = open_store(db)?;
    let sweep = find_sweep(&store, &args.sweep)?;
    let mut out: Box<dyn Write> = match &args.out {
        Some(p) => Box::new(std::io::BufWriter::new(std::fs::File::create(p).map_err(
            |e| {
                bad_input(anyhow::Error::new(e).context(format!(
                    "cannot create the --out file {}; check that its folder exists and is writable",
                    p.display()
                )))
            },
        )?)),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    if args.wide {
        wide(&store, &sweep, args.format, &mut out)?;
        out.flush()?;
        return Ok(ExitCode::SUCCESS);
    }
    // Runs of a grid or search are told apart by the parameters that vary.
    let runs = store.runs(sweep.id)?;
    let configuration: HashMap<RunId, String> = runs
        .iter()
        .map(|r| r.id)
        .zip(ganbench_report::run_labels(&runs))
        .collect();
    if matches!(args.format, Format::Csv) {
        writeln!(
            out,
            // `configuration` last, so that scripts reading the earlier columns by position keep working.
            "sweep,sweep_version,run_id,trial_key,plugin,label,seed,metric,step,value,wall_ms,configuration"
        )?;
    }
    for row in store.export_rows(sweep.id)? {
        let r = row?;
        let config = configuration.get(&r.run_id).map_or("", String::as_str);
        match args.format {
            Format::Jsonl => {
                let mut v = serde_json::to_value(&r)?;
                v["configuration"] = Value::String(config.to_string());
                // JSON has no NaN: a diverged run's last loss is written as a string.
                if !r.value.is_finite() {
                    v["value"] = Value::String(r.value.to_string());
                }
                writeln!(out, "{v}")?;
            }
            Format::Csv => writeln!(
                out,
                "{},{},{},{},{},{},{},{},{},{},{},{}",
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
                r.wall_ms,
                csv(config)
            )?,
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// The columns of a wide row that every run has.
const FIXED: [&str; 10] = [
    "sweep",
    "sweep_version",
    "run_id",
    "trial_key",
    "plugin",
    "label",
    "configuration",
    "seed",
    "status",
    "step",
];

/// One row per run: the fixed columns, every parameter (named as itself, or `param_NAME` where
/// that would repeat a fixed column), and every metric's final value as `final_NAME` (empty
/// when the run never logged it).
fn wide(store: &Store, sweep: &Sweep, format: Format, out: &mut dyn Write) -> Result<()> {
    let runs = store.runs(sweep.id)?;
    let labels = ganbench_report::run_labels(&runs);
    let params: Vec<BTreeMap<String, Value>> = runs
        .iter()
        .map(|r| serde_json::from_str(&r.params_json).unwrap_or_default())
        .collect();
    let param_names: BTreeSet<&String> = params.iter().flat_map(|p| p.keys()).collect();
    let mut finals: HashMap<(RunId, String), f64> = HashMap::new();
    let mut metric_names: BTreeSet<String> = BTreeSet::new();
    for v in store.last_values(sweep.id)? {
        metric_names.insert(v.metric.clone());
        finals.insert((v.run_id, v.metric), v.value);
    }
    let param_column = |name: &str| {
        if FIXED.contains(&name) {
            format!("param_{name}")
        } else {
            name.to_string()
        }
    };
    let header: Vec<String> = FIXED
        .iter()
        .map(|c| c.to_string())
        .chain(param_names.iter().map(|n| param_column(n)))
        .chain(metric_names.iter().map(|m| format!("final_{m}")))
        .collect();
    if matches!(format, Format::Csv) {
        let cells: Vec<String> = header.iter().map(|h| csv(h)).collect();
        writeln!(out, "{}", cells.join(","))?;
    }
    for ((run, label), p) in runs.iter().zip(&labels).zip(&params) {
        let mut values: Vec<Value> = vec![
            sweep.name.clone().into(),
            sweep.version.into(),
            run.id.0.into(),
            run.trial_key.clone().into(),
            run.plugin.clone().into(),
            run.label.clone().into(),
            label.clone().into(),
            run.seed.into(),
            run.status.as_str().into(),
            run.step.into(),
        ];
        values.extend(
            param_names
                .iter()
                .map(|n| p.get(*n).cloned().unwrap_or(Value::Null)),
        );
        values.extend(metric_names.iter().map(|m| {
            match finals.get(&(run.id, m.clone())) {
                None => Value::Null,
                // JSON has no NaN or ∞: written as strings, as in the long export.
                Some(x) if !x.is_finite() => Value::String(x.to_string()),
                Some(x) => (*x).into(),
            }
        }));
        match format {
            Format::Jsonl => {
                let object: serde_json::Map<String, Value> =
                    header.iter().cloned().zip(values).collect();
                writeln!(out, "{}", Value::Object(object))?;
            }
            Format::Csv => {
                let cells: Vec<String> = values
                    .iter()
                    .map(|v| match v {
                        Value::Null => String::new(),
                        Value::String(s) => csv(s),
                        other => other.to_string(),
                    })
                    .collect();
                writeln!(out, "{}", cells.join(","))?;
            }
        }
    }
    Ok(())
}

/// Quotes a CSV field when it needs it (RFC 4180).
fn csv(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}
