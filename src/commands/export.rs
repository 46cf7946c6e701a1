//! `ganbench export SWEEP`: every metric point of a sweep as CSV or JSON lines, or with `--wide`
//! one row per run with its parameters and final metrics as columns; or the sweep written for
//! another viewer (`--format tensorboard` or `mlflow`, through crates/bridges).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;
use ganbench_bridges::ExportRun;
use ganbench_store::{RunId, Store, SweepRecord};
use serde_json::Value;

use super::{bad_input, find_sweep, open_store};

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum Format {
    Csv,
    Jsonl,
    /// TensorBoard event files, one folder per run, into the --out folder.
    Tensorboard,
    /// An MLflow tracking folder (one experiment per sweep version) at --out.
    Mlflow,
}

/// The formats written to a file or stdout.
#[derive(Clone, Copy)]
enum Table {
    Csv,
    Jsonl,
}

const EXAMPLES: &str = "\
Examples:
  ganbench export quickstart --out q.csv               every metric point, one per line
  ganbench export lr-search --wide --out runs.csv      one row per run: parameters, final metrics
  ganbench export lr-search --wide --format jsonl      the same as JSON lines
  ganbench export quickstart --format tensorboard --out tb && tensorboard --logdir tb
  ganbench export quickstart --format mlflow --out mlruns
      then: MLFLOW_ALLOW_FILE_STORE=true mlflow ui --backend-store-uri mlruns";

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
    /// Write to this file instead of stdout (a folder for tensorboard and mlflow).
    #[arg(long)]
    out: Option<PathBuf>,
}

/// `--format tensorboard` or `mlflow`: the sweep's runs with their labels, tags and notes, written
/// into the folder `out`.
fn to_viewer(store: &Store, sweep: &SweepRecord, format: Format, out: &Path) -> Result<ExitCode> {
    let runs = store.runs(sweep.id)?;
    let labels = ganbench_report::run_labels(&runs);
    let annotations = store.annotations(sweep.id)?;
    let runs: Vec<ExportRun> = runs
        .into_iter()
        .zip(labels)
        .map(|(run, configuration)| {
            let mut tags = annotations.tags_of(run.id).to_vec();
            tags.extend(annotations.sweep_tags.iter().cloned());
            let notes = annotations
                .notes_of(run.id)
                .map(|n| n.text.clone())
                .collect();
            ExportRun {
                run,
                configuration,
                tags,
                notes,
            }
        })
        .collect();
    let written = match format {
        Format::Tensorboard => ganbench_bridges::tensorboard::write(store, sweep, &runs, out),
        _ => ganbench_bridges::mlflow::write(store, sweep, &runs, out),
    }
    .map_err(|e| match e {
        ganbench_bridges::BridgeError::Write { .. } => bad_input(e),
        e => e.into(),
    })?;
    let how = match format {
        Format::Tensorboard => format!("tensorboard --logdir {}", out.display()),
        _ => format!(
            "MLFLOW_ALLOW_FILE_STORE=true mlflow ui --backend-store-uri {}",
            out.display()
        ),
    };
    eprintln!(
        "wrote {} run(s), {} metric point(s) of {}@{} to {}; view them with `{how}`",
        written.runs,
        written.points,
        sweep.name,
        sweep.version,
        out.display()
    );
    Ok(ExitCode::SUCCESS)
}

pub fn run(db: &Path, args: Args) -> Result<ExitCode> {
    let store = open_store(db)?;
    let sweep = find_sweep(&store, &args.sweep)?;
    let table = match args.format {
        Format::Csv => Table::Csv,
        Format::Jsonl => Table::Jsonl,
        viewer => {
            let Some(out) = &args.out else {
                return Err(bad_input(anyhow::anyhow!(
                    "--format tensorboard and mlflow write a folder: name it with --out DIR"
                )));
            };
            if args.wide {
                return Err(bad_input(anyhow::anyhow!(
                    "--wide is a table; TensorBoard and MLflow get every point (leave out --wide)"
                )));
            }
            return to_viewer(&store, &sweep, viewer, out);
        }
    };
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
        wide(&store, &sweep, table, &mut out)?;
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
    if matches!(table, Table::Csv) {
        writeln!(
            out,
            // `configuration` last, so that scripts reading the earlier columns by position keep working.
            "sweep,sweep_version,run_id,trial_key,plugin,label,seed,metric,step,value,wall_ms,configuration"
        )?;
    }
    for row in store.export_rows(sweep.id)? {
        let r = row?;
        let config = configuration.get(&r.run_id).map_or("", String::as_str);
        match table {
            Table::Jsonl => {
                let mut v = serde_json::to_value(&r)?;
                v["configuration"] = Value::String(config.to_string());
                // JSON has no NaN: a diverged run's last loss is written as a string.
                if !r.value.is_finite() {
                    v["value"] = Value::String(r.value.to_string());
                }
                writeln!(out, "{v}")?;
            }
            Table::Csv => writeln!(
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
fn wide(store: &Store, sweep: &SweepRecord, format: Table, out: &mut dyn Write) -> Result<()> {
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
    if matches!(format, Table::Csv) {
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
            Table::Jsonl => {
                let object: serde_json::Map<String, Value> =
                    header.iter().cloned().zip(values).collect();
                writeln!(out, "{}", Value::Object(object))?;
            }
            Table::Csv => {
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
