//! Ids, the run status and the plain row structs that the read API returns.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::StoreError;

/// The event kind that names a run's evaluation feature extractor (image data): its message says
/// which network and weights the image metrics were computed with, and its held-out accuracy.
/// Written by the runner's parent, read by reports.
pub const EXTRACTOR_EVENT: &str = "extractor";

/// The event kind recorded when a run's worker process was killed from outside (SIGKILL, e.g.
/// by the out-of-memory killer, or SIGTERM/SIGHUP it did not handle): such a run is left
/// `interrupted` to resume, and after [`Store::kills_since_failure`] reaches the runner's bound it
/// fails instead.
///
/// [`Store::kills_since_failure`]: crate::Store::kills_since_failure
pub const KILLED_EVENT: &str = "killed";

/// The artifact kind of a run's generated samples at an evaluation (an .npy array).
pub const SAMPLES_ARTIFACT: &str = "samples";

/// The artifact kind of held-out images interleaved with the model's reconstructions of them
/// (original, reconstruction, …; an .npy array), for models that reconstruct.
pub const RECONSTRUCTIONS_ARTIFACT: &str = "reconstructions";

/// Id of a sweep version (one row of `sweeps`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SweepId(pub i64);

/// Id of a run (one trial of a sweep).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RunId(pub i64);

impl fmt::Display for SweepId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Lifecycle of a run, stored as lowercase text (a CHECK constraint guards the column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Registered, never started.
    Queued,
    /// A live process owns it (see `owner_pid`, `host`).
    Running,
    /// Trained to the end.
    Finished,
    /// Stopped by an error (see `error`).
    Failed,
    /// Stopped because the losses became non-finite or exploded.
    Diverged,
    /// Its process died or was stopped; resumable from its last checkpoint.
    Interrupted,
}

impl Status {
    /// Every status, in lifecycle order.
    pub const ALL: [Status; 6] = [
        Status::Queued,
        Status::Running,
        Status::Finished,
        Status::Failed,
        Status::Diverged,
        Status::Interrupted,
    ];

    /// The text stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Queued => "queued",
            Status::Running => "running",
            Status::Finished => "finished",
            Status::Failed => "failed",
            Status::Diverged => "diverged",
            Status::Interrupted => "interrupted",
        }
    }

    /// Finished, failed or diverged: re-running the sweep skips the run.
    pub fn is_terminal(self) -> bool {
        matches!(self, Status::Finished | Status::Failed | Status::Diverged)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Status {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Status::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| StoreError::UnknownStatus(s.to_owned()))
    }
}

/// What `register_sweep` / `register_new_version` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Registration {
    /// A new sweep version was stored.
    Created {
        /// Its id.
        id: SweepId,
        /// Its version number (1 for a new name).
        version: u32,
    },
    /// A version with exactly this spec hash was already there; re-running continues it.
    Existing {
        /// Its id.
        id: SweepId,
        /// Its version number.
        version: u32,
    },
}

impl Registration {
    /// The sweep id, whichever way it was obtained.
    pub fn id(&self) -> SweepId {
        match *self {
            Registration::Created { id, .. } | Registration::Existing { id, .. } => id,
        }
    }
    /// The version number.
    pub fn version(&self) -> u32 {
        match *self {
            Registration::Created { version, .. } | Registration::Existing { version, .. } => {
                version
            }
        }
    }
}

/// A trial to register with `ensure_run` (a struct because there are many fields).
#[derive(Debug, Clone, Copy)]
pub struct NewRun<'a> {
    /// Unique within the sweep; the same trial always gets the same key, so re-running finds it.
    pub trial_key: &'a str,
    /// The variant's label from the spec: what the report groups seeds by.
    pub label: &'a str,
    /// Plugin name.
    pub plugin: &'a str,
    /// The trial's parameters as JSON text.
    pub params_json: &'a str,
    /// The trial's seed (any u64; stored bit-cast to SQLite's signed INTEGER).
    pub seed: u64,
    /// Build id of the binary/plugin that trains it.
    pub build_id: &'a str,
    /// Planned number of steps, if known (for progress display).
    pub total_steps: Option<u64>,
}

/// What `ensure_run` found or created: enough for the runner to skip, resume or start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EnsuredRun {
    /// The run.
    pub id: RunId,
    /// True if it was inserted now (status `queued`).
    pub created: bool,
    /// Current status.
    pub status: Status,
    /// Last step recorded for it.
    pub step: u64,
    /// The build id stored when it was first registered (may differ from the current build).
    pub build_id: String,
}

/// One sweep version as stored, with its spec text (the parsed file is `ganbench_spec::Sweep`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SweepRecord {
    /// Id.
    pub id: SweepId,
    /// Name (from the spec file).
    pub name: String,
    /// Version under that name, from 1.
    pub version: u32,
    /// The spec as the user wrote it.
    pub spec_text: String,
    /// Hash of the spec, computed by the caller.
    pub spec_hash: String,
    /// Unix time in milliseconds.
    pub created_at_ms: i64,
}

/// Number of runs in each status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct StatusCounts {
    /// Queued.
    pub queued: u64,
    /// Running.
    pub running: u64,
    /// Finished.
    pub finished: u64,
    /// Failed.
    pub failed: u64,
    /// Diverged.
    pub diverged: u64,
    /// Interrupted.
    pub interrupted: u64,
}

impl StatusCounts {
    /// Total number of runs.
    pub fn total(&self) -> u64 {
        self.queued + self.running + self.finished + self.failed + self.diverged + self.interrupted
    }
    pub(crate) fn add(&mut self, status: Status, n: u64) {
        *match status {
            Status::Queued => &mut self.queued,
            Status::Running => &mut self.running,
            Status::Finished => &mut self.finished,
            Status::Failed => &mut self.failed,
            Status::Diverged => &mut self.diverged,
            Status::Interrupted => &mut self.interrupted,
        } += n;
    }
}

/// One line of `list_sweeps`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SweepSummary {
    /// Id.
    pub id: SweepId,
    /// Name.
    pub name: String,
    /// Version.
    pub version: u32,
    /// Spec hash.
    pub spec_hash: String,
    /// Unix time in milliseconds.
    pub created_at_ms: i64,
    /// Runs per status.
    pub runs: StatusCounts,
    /// When it was archived (hidden from `ganbench ls`), if it was.
    pub archived_at_ms: Option<i64>,
    /// Its own tags (not its runs'), sorted.
    pub tags: Vec<String>,
}

/// One run (trial) with its state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Run {
    /// Id.
    pub id: RunId,
    /// Its sweep.
    pub sweep_id: SweepId,
    /// Key unique within the sweep.
    pub trial_key: String,
    /// Variant label.
    pub label: String,
    /// Plugin name.
    pub plugin: String,
    /// Parameters as JSON text.
    pub params_json: String,
    /// Seed.
    pub seed: u64,
    /// Status.
    pub status: Status,
    /// Last step logged (progress).
    pub step: u64,
    /// Planned steps, if known.
    pub total_steps: Option<u64>,
    /// First claim, unix ms.
    pub started_at_ms: Option<i64>,
    /// When it reached its current non-running status, unix ms.
    pub ended_at_ms: Option<i64>,
    /// Error message of a failed or diverged run.
    pub error: Option<String>,
    /// Build id recorded when the run was registered.
    pub build_id: String,
    /// Process that last claimed it.
    pub owner_pid: Option<u32>,
    /// Host of that process.
    pub host: Option<String>,
}

/// Something that happened to a run (claimed, resumed, diverged, interrupted …).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Event {
    /// The run.
    pub run_id: RunId,
    /// Unix ms.
    pub at_ms: i64,
    /// Short machine-readable kind, e.g. "resumed".
    pub kind: String,
    /// Human-readable text.
    pub message: String,
}

/// A file produced by a run (checkpoint, sample grid …), path as given by the runner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Artifact {
    /// The run.
    pub run_id: RunId,
    /// Training step it belongs to.
    pub step: u64,
    /// Kind, e.g. "samples" or "checkpoint".
    pub kind: String,
    /// Path.
    pub path: String,
}

/// A run with its events and artifacts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunDetails {
    /// The run.
    pub run: Run,
    /// Its events, oldest first.
    pub events: Vec<Event>,
    /// Its artifacts, by step.
    pub artifacts: Vec<Artifact>,
}

/// One point of a metric series. `value` may be NaN or ±inf.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Point {
    /// Training step.
    pub step: u64,
    /// Value (NaN is stored as SQL NULL and restored as NaN).
    pub value: f64,
    /// When it was logged, unix ms.
    pub wall_ms: i64,
}

/// The value at the highest step of one metric of one run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LastValue {
    /// The run.
    pub run_id: RunId,
    /// Metric name.
    pub metric: String,
    /// Its highest step.
    pub step: u64,
    /// The value there (may be NaN/inf).
    pub value: f64,
}

/// One exported metric point with its run's identity, for CSV/JSONL.
///
/// Note: serde_json writes a NaN or infinite `value` as `null`; a CSV writer prints
/// `NaN`/`inf`. Consumers that need the distinction in JSON should write the value themselves.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExportRow {
    /// Sweep name.
    pub sweep: String,
    /// Sweep version.
    pub sweep_version: u32,
    /// Run id.
    pub run_id: RunId,
    /// Trial key.
    pub trial_key: String,
    /// Plugin.
    pub plugin: String,
    /// Variant label.
    pub label: String,
    /// Seed.
    pub seed: u64,
    /// Metric name.
    pub metric: String,
    /// Step.
    pub step: u64,
    /// Value.
    pub value: f64,
    /// When it was logged, unix ms.
    pub wall_ms: i64,
}

/// What `truncate_after` removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Truncated {
    /// Number of metric points deleted.
    pub metrics: usize,
    /// The artifact rows deleted (the caller may delete the files).
    pub artifacts: Vec<Artifact>,
}
