//! Runs as a table a person filters and sorts: each run with its configuration label, tags,
//! parameters and final metrics, and the `--where` / `--sort` of `ganbench ls` and of the runs
//! table of `ganbench serve` (one implementation for both).

use std::collections::{BTreeSet, HashMap};

use ganbench_store::{FieldValue, Fields, Filter, Run, Store, SweepSummary};
use serde::Serialize;

/// One run with everything `--where` and `--sort` can ask about.
#[derive(Debug, Clone, Serialize)]
pub struct RunRow {
    /// As stored.
    #[serde(flatten)]
    pub run: Run,
    /// The sweep's name and version, `NAME@VERSION`.
    pub sweep: String,
    /// The sweep's version.
    #[serde(skip)]
    pub version: u32,
    /// The variant's label plus the parameters that tell its configuration apart.
    pub configuration: String,
    /// The run's own tags.
    pub tags: Vec<String>,
    /// The run's tags and its sweep's: what `tag = …` looks in.
    #[serde(skip)]
    pub all_tags: Vec<String>,
    /// The parameters, parsed.
    #[serde(skip)]
    pub params: serde_json::Map<String, serde_json::Value>,
    /// Every metric's value at its last step (NaN where it was NaN).
    #[serde(skip)]
    pub metrics: HashMap<String, f64>,
}

/// Fields every run has, before its parameters and metrics.
pub const BUILT_IN_FIELDS: [&str; 9] = [
    "id", "sweep", "version", "status", "seed", "plugin", "label", "step", "tag",
];

impl Fields for RunRow {
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

/// The runs of `sweeps`, in sweep then id order, with labels, tags, parameters and final metrics.
pub fn run_rows(store: &Store, sweeps: &[SweepSummary]) -> ganbench_store::Result<Vec<RunRow>> {
    let mut rows = Vec::new();
    for sweep in sweeps {
        let runs = store.runs(sweep.id)?;
        // Runs of a grid or search are told apart by the parameters that vary.
        let labels = crate::run_labels(&runs);
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
            rows.push(RunRow {
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

/// A `--where` or `--sort` that names a field no run has, with the fields there are: a typo
/// would otherwise filter everything out in silence.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no run here has a field `{}`; fields: {}, and parameters and final metrics: {}", .unknown.join("`, `"), BUILT_IN_FIELDS.join(", "), .known.join(", "))]
pub struct UnknownField {
    /// The fields asked for that no run has.
    pub unknown: Vec<String>,
    /// The parameters and metrics the runs have.
    pub known: Vec<String>,
}

/// Keeps the rows `filter` passes and orders them by `sort` (largest first with `desc`; rows
/// without the field, or NaN there, last). Refuses fields that no row has.
pub fn filter_and_sort(
    rows: &mut Vec<RunRow>,
    filter: Option<&Filter>,
    sort: Option<&str>,
    desc: bool,
) -> Result<(), UnknownField> {
    let asked: Vec<&str> = filter.iter().flat_map(|f| f.fields()).chain(sort).collect();
    let unknown: Vec<String> = asked
        .iter()
        .filter(|f| !rows.is_empty() && rows.iter().all(|row| row.get(f).is_none()))
        .map(|f| f.to_string())
        .collect();
    if !unknown.is_empty() {
        let mut known: BTreeSet<&str> = BTreeSet::new();
        for row in rows.iter() {
            known.extend(row.params.keys().map(String::as_str));
            known.extend(row.metrics.keys().map(String::as_str));
        }
        return Err(UnknownField {
            unknown,
            known: known.into_iter().map(str::to_string).collect(),
        });
    }
    if let Some(filter) = filter {
        rows.retain(|row| filter.matches(row));
    }
    if let Some(field) = sort {
        rows.sort_by(|a, b| {
            let key = |row: &RunRow| match row.get(field) {
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
    Ok(())
}
