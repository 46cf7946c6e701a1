//! Bridges from the ganbench store to the viewers researchers already use: a sweep written as TensorBoard event files or as an MLflow tracking folder, one run per ganbench run, with its parameters and every metric point.
//!
//! ```text
//! tensorboard::write   DIR/RUN-NAME/events.out.tfevents.*   scalars per step, hyper-parameters
//! mlflow::write        DIR/EXPERIMENT/RUN/{meta.yaml, params/, metrics/, tags/}
//! protobuf             the few protobuf fields TensorBoard's event files need
//! ```
//!
//! Both formats are written by hand: each needs a handful of fields of a stable, documented
//! layout (TFRecord framing of `Event` protos; MLflow's `FileStore` folders), and the crates that
//! could do it (prost with TensorBoard's .proto files; an MLflow client) would bring a code
//! generator or a server. Each writer is checked by reading its output back with the tool's own
//! Python package (tests/e2e/bridges.rs).
//!
//! Writing is idempotent: a second export of the same sweep into the same folder replaces the
//! folders it wrote the first time (their names derive from the sweep and the runs) and touches
//! nothing else there.

pub mod mlflow;
mod protobuf;
pub mod tensorboard;

use std::path::PathBuf;

use std::collections::HashMap;

use ganbench_store::{Run, RunId, Store, StoreError, SweepRecord};

/// One run to export, with what the binary knows about it beyond the store row.
#[derive(Debug, Clone)]
pub struct ExportRun {
    /// As stored.
    pub run: Run,
    /// The configuration label (variant plus the parameters that tell it apart).
    pub configuration: String,
    /// The run's tags and its sweep's.
    pub tags: Vec<String>,
    /// Notes on the run, oldest first.
    pub notes: Vec<String>,
}

impl ExportRun {
    /// The name a viewer lists it under: `run ID: configuration seed N`.
    pub fn display_name(&self) -> String {
        format!(
            "run {}: {} seed {}",
            self.run.id.0, self.configuration, self.run.seed
        )
    }

    /// A folder name for the run of `sweep`: `NAME_VERSION-runID-configuration-seedN`, with
    /// what a file name cannot hold replaced by `_` (store::layout::file_name).
    pub fn folder_name(&self, sweep: &SweepRecord) -> String {
        ganbench_store::layout::file_name(&format!(
            "{}@{}-run{}-{}-seed{}",
            sweep.name, sweep.version, self.run.id.0, self.configuration, self.run.seed
        ))
    }

    /// The run's parameters, plus `plugin` and `seed`, as (name, JSON value) in name order.
    pub fn params(&self) -> Vec<(String, serde_json::Value)> {
        let mut params: Vec<(String, serde_json::Value)> = serde_json::from_str::<
            serde_json::Map<String, serde_json::Value>,
        >(&self.run.params_json)
        .unwrap_or_default()
        .into_iter()
        .collect();
        params.push(("plugin".into(), self.run.plugin.clone().into()));
        params.push(("seed".into(), self.run.seed.into()));
        params.sort_by(|a, b| a.0.cmp(&b.0));
        params
    }
}

/// What an export wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Exported {
    /// Runs.
    pub runs: usize,
    /// Metric points.
    pub points: u64,
}

/// Everything that can go wrong while exporting.
#[derive(Debug, thiserror::Error)]
pub enum BridgeError {
    /// Reading the store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A file or folder could not be written.
    #[error("cannot write {}: {source}; check that the --out folder is writable and has space", .path.display())]
    Write {
        /// What was being written.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
}

pub(crate) trait AtPath<T> {
    fn at(self, path: &std::path::Path) -> Result<T, BridgeError>;
}

impl<T> AtPath<T> for std::io::Result<T> {
    fn at(self, path: &std::path::Path) -> Result<T, BridgeError> {
        self.map_err(|source| BridgeError::Write {
            path: path.to_path_buf(),
            source,
        })
    }
}

/// One metric point of a run.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Point {
    pub metric: String,
    pub step: u64,
    pub value: f64,
    /// When it was logged, unix ms.
    pub wall_ms: i64,
}

/// Calls `each` with every run of `runs` and its metric points,
/// streaming from the store one run at a time (points come ordered by run, metric, step).
pub(crate) fn for_each_run(
    store: &Store,
    sweep: &SweepRecord,
    runs: &[ExportRun],
    mut each: impl FnMut(&ExportRun, &[Point]) -> Result<(), BridgeError>,
) -> Result<Exported, BridgeError> {
    // Runs not yet written, by id: a run's points arrive together, so each is written once, and
    // what is left at the end logged nothing.
    let mut pending: HashMap<RunId, &ExportRun> = runs.iter().map(|r| (r.run.id, r)).collect();
    let mut points: Vec<Point> = Vec::new();
    let mut current: Option<RunId> = None;
    let mut total = 0u64;
    let mut flush = |id: Option<RunId>, points: &mut Vec<Point>| -> Result<(), BridgeError> {
        if let Some(run) = id.and_then(|id| pending.remove(&id)) {
            total += points.len() as u64;
            each(run, points)?;
        }
        points.clear();
        Ok(())
    };
    for row in store.export_rows(sweep.id)? {
        let row = row?;
        if current != Some(row.run_id) {
            flush(current, &mut points)?;
            current = Some(row.run_id);
        }
        points.push(Point {
            metric: row.metric,
            step: row.step,
            value: row.value,
            wall_ms: row.wall_ms,
        });
    }
    flush(current, &mut points)?;
    // Runs that logged nothing (queued, failed at once) still appear, with their parameters.
    for run in runs {
        flush(Some(run.run.id), &mut points)?;
    }
    Ok(Exported {
        runs: runs.len(),
        points: total,
    })
}
