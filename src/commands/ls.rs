//! `ganbench ls`: the sweeps in a database, or runs: of one sweep, or of every sweep filtered
//! with `--where` and ordered with `--sort`.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::process::ExitCode;

use anyhow::{anyhow, Result};
use ganbench_store::{FieldValue, Fields, Filter, Run, Store, SweepSummary};
use serde::Serialize;

use super::{bad_input, find_sweep, open_store, printable_line};

#[derive(clap::Args, Debug)]
#[command(after_help = "\
Examples:
  ganbench ls                                   the sweeps, with run counts and tags
  ganbench ls quickstart                        the runs of one sweep (NAME or NAME@VERSION)
  ganbench ls --where 'lr_d < 3e-4 and status = finished' --sort modes --desc
  ganbench ls grid25 --where 'tag = good or plugin = sngan' --json

Fields of --where and --sort: id, sweep, version, status, seed, plugin, label, step, tag (the
run's and its sweep's tags), every parameter (lr_d, hidden, loss…) and every final metric
(modes, hq_fraction, fid…). Operators: = != < <= > >= and ~ (contains), joined with and, or,
not and parentheses. A run without the field, or with NaN there, fails the comparison.")]
pub struct Args {
    /// Show the runs of this sweep (NAME or NAME@VERSION) instead of the list of sweeps.
    sweep: Option<String>,
    /// Only the runs for which this is true, e.g. 'lr_d < 3e-4 and status = finished'; without
    /// a SWEEP, the runs of every sweep that is not archived.
    #[arg(long = "where", value_name = "EXPR")]
    filter: Option<String>,
    /// Order the runs by this field (a parameter, a final metric, seed, status…); runs without
    /// it come last.
    #[arg(long, value_name = "FIELD")]
    sort: Option<String>,
    /// With --sort: largest first.
    #[arg(long, requires = "sort")]
    desc: bool,
    /// Also list archived sweeps (`ganbench archive`).
    #[arg(long)]
    all: bool,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// A run with its configuration label and tags, for `--json`.
#[derive(Serialize)]
struct Labelled<'a> {
    #[serde(flatten)]
    run: &'a Run,
    /// The sweep's name and version, `NAME@VERSION`.
    sweep: String,
    /// The variant's label plus the parameters that tell its configuration apart.
    configuration: &'a str,
    /// The run's own tags.
    tags: &'a [String],
}

/// One run with everything `--where` and `--sort` can ask about.
struct Row {
    run: Run,
    sweep: String,
    version: u32,
    configuration: String,
    /// The run's own tags.
    tags: Vec<String>,
    /// The run's tags and its sweep's: what `tag = …` looks in.
    all_tags: Vec<String>,
    params: serde_json::Map<String, serde_json::Value>,
    metrics: HashMap<String, f64>,
}

impl Fields for Row {
    fn get(&self, name: &str) -> Option<FieldValue<'_>> {
        let r = &self.run;
        Some(match name {
            "id" => FieldValue::Number(r.id.0 as f64),
            "sweep" => FieldValue::Text(&self.sweep),
            "version" => FieldValue::Number(f64::from(self.version)),
            "status" => FieldValue::Text(r.status.as_str()),
            "seed" => FieldValue::Number(r.seed as f64),
            "plugin" => FieldValue::Text(&r.plugin),
            "label" => FieldValue::Text(&self.configuration),
            "step" => FieldValue::Number(r.step as f64),
            "tag" => FieldValue::Set(&self.all_tags),
            _ => match self.params.get(name) {
                Some(serde_json::Value::Number(n)) => FieldValue::Number(n.as_f64()?),
                Some(serde_json::Value::String(s)) => FieldValue::Text(s),
                Some(serde_json::Value::Bool(b)) => {
                    FieldValue::Text(if *b { "true" } else { "false" })
                }
                Some(_) => return None,
                None => FieldValue::Number(*self.metrics.get(name)?),
            },
        })
    }
}

const BUILT_IN_FIELDS: [&str; 9] = [
    "id", "sweep", "version", "status", "seed", "plugin", "label", "step", "tag",
];

pub fn run(db: &Path, args: Args) -> Result<ExitCode> {
    let store: Store = open_store(db)?;
    let filter = args
        .filter
        .as_deref()
        .map(Filter::parse)
        .transpose()
        .map_err(bad_input)?;
    let sweeps: Vec<SweepSummary> = match &args.sweep {
        Some(name) => {
            let sweep = find_sweep(&store, name)?;
            store
                .list_sweeps()?
                .into_iter()
                .filter(|s| s.id == sweep.id)
                .collect()
        }
        None => store
            .list_sweeps()?
            .into_iter()
            .filter(|s| args.all || s.archived_at_ms.is_none())
            .collect(),
    };
    if args.sweep.is_none() && filter.is_none() && args.sort.is_none() {
        return list_sweeps(&store, db, &sweeps, args.json);
    }
    let mut rows = rows(&store, &sweeps)?;
    let asked: Vec<&str> = filter
        .iter()
        .flat_map(Filter::fields)
        .chain(args.sort.as_deref())
        .collect();
    check_fields(&rows, &asked)?;
    if let Some(filter) = &filter {
        rows.retain(|row| filter.matches(row));
    }
    if let Some(field) = &args.sort {
        sort(&mut rows, field, args.desc);
    }
    print_runs(&sweeps, &rows, args.sweep.is_some(), args.json)?;
    Ok(ExitCode::SUCCESS)
}

/// The runs of `sweeps` with their labels, tags, parameters and final metrics.
fn rows(store: &Store, sweeps: &[SweepSummary]) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    for sweep in sweeps {
        let runs = store.runs(sweep.id)?;
        // Runs of a grid or search are told apart by the parameters that vary.
        let labels = ganbench_report::run_labels(&runs);
        let annotations = store.annotations(sweep.id)?;
        let mut metrics: HashMap<_, HashMap<String, f64>> = HashMap::new();
        for v in store.last_values(sweep.id)? {
            metrics
                .entry(v.run_id)
                .or_default()
                .insert(v.metric, v.value);
        }
        for (run, configuration) in runs.into_iter().zip(labels) {
            let tags = annotations.tags_of(run.id).to_vec();
            let mut all_tags = tags.clone();
            all_tags.extend(annotations.sweep_tags.iter().cloned());
            rows.push(Row {
                sweep: format!("{}@{}", sweep.name, sweep.version),
                version: sweep.version,
                configuration,
                tags,
                all_tags,
                params: serde_json::from_str(&run.params_json).unwrap_or_default(),
                metrics: metrics.remove(&run.id).unwrap_or_default(),
                run,
            });
        }
    }
    Ok(rows)
}

/// Refuses a field that no run has: a typo would otherwise filter everything out in silence.
fn check_fields(rows: &[Row], asked: &[&str]) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let unknown: Vec<&str> = asked
        .iter()
        .copied()
        .filter(|f| rows.iter().all(|row| row.get(f).is_none()))
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    let mut known: BTreeSet<&str> = BTreeSet::new();
    for row in rows {
        known.extend(row.params.keys().map(String::as_str));
        known.extend(row.metrics.keys().map(String::as_str));
    }
    Err(bad_input(anyhow!(
        "no run here has a field `{}`; fields: {}, and parameters and final metrics: {}",
        unknown.join("`, `"),
        BUILT_IN_FIELDS.join(", "),
        known.into_iter().collect::<Vec<_>>().join(", ")
    )))
}

/// Orders rows by `field`: numbers before text, runs without the field (or NaN) last.
fn sort(rows: &mut [Row], field: &str, desc: bool) {
    rows.sort_by(|a, b| {
        let key = |row: &Row| match row.get(field) {
            Some(FieldValue::Number(x)) if !x.is_nan() => (0, x, String::new()),
            Some(FieldValue::Text(s)) => (1, 0.0, s.to_string()),
            Some(FieldValue::Set(words)) => (1, 0.0, words.join(" ")),
            _ => (2, 0.0, String::new()),
        };
        let (ka, kb) = (key(a), key(b));
        if ka.0 != kb.0 {
            return ka.0.cmp(&kb.0);
        }
        let order = ka.1.total_cmp(&kb.1).then_with(|| ka.2.cmp(&kb.2));
        if desc {
            order.reverse()
        } else {
            order
        }
    });
}

fn list_sweeps(store: &Store, db: &Path, sweeps: &[SweepSummary], json: bool) -> Result<ExitCode> {
    if json {
        outln!("{}", serde_json::to_string_pretty(&sweeps)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    let archived = store.list_sweeps()?.len() - sweeps.len();
    if sweeps.is_empty() && archived > 0 {
        outln!(
            "every sweep in {} is archived ({archived}); `ganbench ls --all` lists them",
            db.display()
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    if sweeps.is_empty() {
        outln!(
            "no sweeps in {} yet; start one with `ganbench run experiments/quickstart.ron`",
            db.display()
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    outln!(
        "{:<28} {:>4} {:>6} {:>9} {:>8} {:>8} {:>7} {:>12}  TAGS",
        "SWEEP",
        "VER",
        "RUNS",
        "FINISHED",
        "RUNNING",
        "DIVERGED",
        "FAILED",
        "INTERRUPTED"
    )?;
    for s in sweeps {
        let r = &s.runs;
        let mut tags = s.tags.join(" ");
        if s.archived_at_ms.is_some() {
            tags = format!("(archived) {tags}");
        }
        let line = format!(
            "{:<28} {:>4} {:>6} {:>9} {:>8} {:>8} {:>7} {:>12}  {tags}",
            s.name,
            s.version,
            r.total(),
            r.finished,
            r.running,
            r.diverged,
            r.failed,
            r.interrupted + r.queued,
        );
        outln!("{}", line.trim_end())?;
    }
    Ok(ExitCode::SUCCESS)
}

fn print_runs(sweeps: &[SweepSummary], rows: &[Row], one_sweep: bool, json: bool) -> Result<()> {
    if json {
        let rows: Vec<Labelled<'_>> = rows
            .iter()
            .map(|row| Labelled {
                run: &row.run,
                sweep: row.sweep.clone(),
                configuration: &row.configuration,
                tags: &row.tags,
            })
            .collect();
        outln!("{}", serde_json::to_string_pretty(&rows)?)?;
        return Ok(());
    }
    if let ([sweep], true) = (sweeps, one_sweep) {
        outln!("{} v{} — {} runs", sweep.name, sweep.version, rows.len())?;
    } else {
        outln!("{} runs in {} sweeps", rows.len(), sweeps.len())?;
    }
    let labels: Vec<String> = rows
        .iter()
        .map(|row| {
            let label = printable_line(&row.configuration);
            if one_sweep {
                label
            } else {
                format!("{} {label}", printable_line(&row.sweep))
            }
        })
        .collect();
    let width = labels
        .iter()
        .map(|l| l.chars().count())
        .max()
        .unwrap_or(0)
        .max(24);
    let tagged = rows.iter().any(|row| !row.tags.is_empty());
    outln!(
        "{:>5}  {:<width$} {:>6}  {:<11} {:>15}  {}ERROR",
        "RUN",
        if one_sweep {
            "CONFIGURATION"
        } else {
            "SWEEP CONFIGURATION"
        },
        "SEED",
        "STATUS",
        "STEP",
        if tagged { "TAGS  " } else { "" }
    )?;
    for (row, label) in rows.iter().zip(&labels) {
        let r = &row.run;
        let progress = match r.total_steps {
            Some(t) => format!("{}/{}", r.step, t),
            None => r.step.to_string(),
        };
        let error = printable_line(
            r.error
                .as_deref()
                .unwrap_or("")
                .lines()
                .next()
                .unwrap_or(""),
        );
        let tags = if tagged {
            format!("{}  ", row.tags.join(","))
        } else {
            String::new()
        };
        let line = format!(
            "{:>5}  {label:<width$} {:>6}  {:<11} {:>15}  {tags}{error}",
            r.id.0,
            r.seed,
            r.status.as_str(),
            progress
        );
        outln!("{}", line.trim_end())?;
    }
    Ok(())
}
