//! The SQLite tracking store of ganbench: sweeps, runs, metrics, events and artifacts, written through a batched writer thread and read back for the CLI and the report.
//!
//! # Use
//!
//! ```no_run
//! # fn main() -> Result<(), ganbench_store::StoreError> {
//! use ganbench_store::{NewRun, Status, Store};
//! let store = Store::open("ganbench.db")?;
//! store.mark_orphans_interrupted(&ganbench_store::host_name(), ganbench_store::pid_is_alive)?;
//! let sweep = store.register_sweep("quickstart", "(spec text)", "hash")?.id();
//! let run = store.ensure_run(sweep, &NewRun {
//!     trial_key: "gan/seed=0", label: "gan", plugin: "gan", params_json: "{}",
//!     seed: 0, build_id: "b", total_steps: Some(1000),
//! })?;
//! store.claim_run(run.id, std::process::id(), &ganbench_store::host_name(), None)?;
//! let writer = store.writer()?; // clone it into worker threads
//! writer.log(run.id, 1, &[("d_loss", 0.69), ("g_loss", 0.71)])?;
//! writer.flush()?; // at each checkpoint: everything logged so far is now in the file
//! writer.finish_run(run.id, Status::Finished, 1000, None)?;
//! writer.flush()?;
//! # Ok(()) }
//! ```
//!
//! # Schema (version [`SCHEMA_VERSION`], in `PRAGMA user_version`)
//!
//! ```text
//! sweeps(id, name, version, spec_text, spec_hash, created_at)   UNIQUE(name, version)
//! runs(id, sweep_id, trial_key, label, plugin, params_json, seed, status, step, total_steps,
//!      started_at, ended_at, error, build_id, owner_pid, host)   UNIQUE(sweep_id, trial_key)
//! metric_keys(id, name UNIQUE)
//! metrics(run_id, key_id, step, value, wall_ms)   PRIMARY KEY(run_id, key_id, step) WITHOUT ROWID
//! artifacts(id, run_id, step, kind, path)         events(id, run_id, at, kind, message)
//! tags(sweep_id, run_id, tag)                     notes(id, sweep_id, run_id, at, text)
//! ```
//!
//! - Tags and notes (run_id NULL: on the sweep itself) are the researcher's own words about a
//!   result ([`Store::add_tags`], [`Store::add_note`]); `sweeps.archived_at` hides a sweep from
//!   `ganbench ls` without removing anything.
//!
//! - Sweeps are versioned: a changed spec under a known name is refused
//!   ([`StoreError::SpecChanged`]) unless stored as a new version, so old results are never
//!   mixed with new ones.
//! - `metrics` is WITHOUT ROWID: one b-tree ordered by its key instead of a table plus an
//!   index; ~40% smaller and 5–7× faster series reads (benches/store.rs). Metric names are
//!   interned in `metric_keys` so that a point is ~27 bytes.
//! - `status` is text guarded by a CHECK constraint, readable in the `sqlite3` shell.
//! - Migrations are ordered SQL scripts applied in one transaction on open; a file from a newer
//!   ganbench ([`StoreError::TooNew`]), another program's SQLite file or a non-SQLite file
//!   ([`StoreError::NotGanbench`], via `PRAGMA application_id`) and a corrupt file
//!   ([`StoreError::Corrupt`]) are refused with the path and what to do.
//! - WAL journal, `busy_timeout` ([`BUSY_TIMEOUT`]), foreign keys on (except on the batched
//!   writer's own connection, which checks run ids itself: see [`Writer`]).
//!
//! # Durability contract
//!
//! WAL journal with `synchronous=NORMAL`. Every committed transaction survives a crash or
//! `kill -9` of the process. [`Writer::flush`] returns once everything sent before it is
//! committed, so a runner that flushes at each checkpoint loses, on a kill, at most what was
//! logged after the last flush (and `truncate_after(checkpoint_step)` removes any points past
//! the checkpoint before resuming). An OS crash or power cut may additionally lose the commits
//! since the last WAL sync, never corrupting the file; [`Writer::sync`] forces that sync.
//!
//! # Values
//!
//! Metric values are `f64` and stored faithfully, including ±inf. SQLite turns NaN into NULL,
//! so the store writes NaN as SQL NULL on purpose and reads NULL back as `f64::NAN` (a NaN's
//! payload bits are not kept). `-0.0` comes back as `0.0`: SQLite stores whole REALs as integers,
//! which have no sign of zero. In SQL, `value IS NULL` therefore means "NaN", and SQL
//! aggregates skip NaNs: compute statistics in Rust. Re-logging a (run, metric, step) replaces
//! the stored point (last write wins): the primary key makes a duplicate impossible.
//!
//! Times are unix milliseconds (`*_at_ms`, `wall_ms`). Seeds are `u64`, stored bit-cast into
//! SQLite's signed INTEGER.

mod annotate;
mod error;
pub mod layout;
mod merge;
mod query;
mod read;
mod schema;
mod sys;
mod time;
mod types;
mod write;
mod writer;

use std::path::{Path, PathBuf};

use rusqlite::Connection;

pub use annotate::{Annotations, Deleted, Note, Target, MAX_NOTE_CHARS, MAX_TAG_CHARS};
pub use error::{Result, StoreError};
pub use merge::MergeReport;
pub use query::{FieldValue, Fields, Filter, Op, QueryError};
pub use read::ExportIter;
pub use schema::{APPLICATION_ID, BUSY_TIMEOUT, SCHEMA_VERSION};
pub use sys::{host_name, pid_is_alive};
pub use time::{format_time, now_ms, UtcTime};
pub use types::{
    Artifact, EnsuredRun, Event, ExportRow, LastValue, NewRun, Point, Registration, Run,
    RunDetails, RunId, Status, StatusCounts, SweepId, SweepRecord, SweepSummary, Truncated,
    EXTRACTOR_EVENT, KILLED_EVENT, RECONSTRUCTIONS_ARTIFACT, SAMPLES_ARTIFACT,
};
pub use writer::{Writer, WriterOptions};

use error::AtPath;

/// A connection to one ganbench database file. Synchronous; for per-step metrics use the
/// batched [`Writer`] from [`Store::writer`]. Several `Store`s (threads or processes) may
/// share a file.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

impl Store {
    /// Opens or creates the database at `path` (and its directory), applying pending
    /// migrations. Refuses a file that is not SQLite, not ganbench's, corrupt, written by a
    /// newer ganbench, or whose tables were changed outside ganbench
    /// ([`StoreError::SchemaMismatch`]), with an error that names the file, before anything is
    /// written to it.
    pub fn open(path: impl AsRef<Path>) -> Result<Store> {
        let path = path.as_ref().to_path_buf();
        let conn = schema::open(&path)?;
        Ok(Store { conn, path })
    }

    /// Opens an existing database for reading only (`ls`, `show`, `export`, `report`): nothing
    /// is created, migrated or written, so it works on a read-only file or folder. The same
    /// checks as [`Store::open`] refuse a foreign, corrupt or newer file and a file whose tables
    /// were changed; a file of an older schema is refused ([`StoreError::TooOld`]). Writing
    /// calls on the returned store fail.
    pub fn open_read_only(path: impl AsRef<Path>) -> Result<Store> {
        let path = path.as_ref().to_path_buf();
        let conn = schema::open_read_only(&path)?;
        Ok(Store { conn, path })
    }

    /// Opens migrating only up to `version`: for tests of the migrations (of this crate and its
    /// users). Not for production use.
    #[doc(hidden)]
    pub fn open_at_schema_version(path: impl AsRef<Path>, version: i64) -> Result<Store> {
        let path = path.as_ref().to_path_buf();
        let conn = schema::open_at_version(&path, version)?;
        Ok(Store { conn, path })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `PRAGMA user_version` of the file.
    pub fn schema_version(&self) -> Result<i64> {
        self.conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .at(&self.path)
    }

    /// Runs SQLite's `integrity_check`; returns the problems found (empty when healthy).
    /// Reads the whole file: meant for a `doctor` command and tests, not for every start.
    pub fn integrity_check(&self) -> Result<Vec<String>> {
        let mut st = self.conn.prepare("PRAGMA integrity_check").at(&self.path)?;
        let rows: Vec<String> = st
            .query_map([], |r| r.get(0))
            .and_then(|it| it.collect())
            .at(&self.path)?;
        Ok(rows.into_iter().filter(|r| r != "ok").collect())
    }

    /// Starts a batched writer on this file with default options (its own connection and
    /// thread).
    pub fn writer(&self) -> Result<Writer> {
        Writer::open(&self.path, WriterOptions::default())
    }

    /// Starts a batched writer with the given options.
    pub fn writer_with(&self, options: WriterOptions) -> Result<Writer> {
        Writer::open(&self.path, options)
    }

    /// The underlying connection, for queries this API does not cover. Keep writes to the API.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }
}

/// NaN -> NULL (SQLite would do it anyway; doing it explicitly makes the convention visible).
pub(crate) fn value_to_sql(v: f64) -> Option<f64> {
    (!v.is_nan()).then_some(v)
}

/// NULL -> NaN, the inverse of [`value_to_sql`].
pub(crate) fn value_from_sql(v: Option<f64>) -> f64 {
    v.unwrap_or(f64::NAN)
}
