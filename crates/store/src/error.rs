//! Typed errors. Every message names the file and says what the user can do about it.

use std::path::{Path, PathBuf};

use rusqlite::ErrorCode;

use crate::types::{RunId, Status, SweepId};

/// Result alias of this crate.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Everything that can go wrong in the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The file (or its directory) could not be opened or created.
    #[error("cannot open database file {}: {source}; check the path and its permissions, or pass --db to use another file", .path.display())]
    Open {
        /// The database file.
        path: PathBuf,
        /// What SQLite or the OS said.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The file is not SQLite at all, or is SQLite written by another program.
    #[error("database file {} is not a ganbench database ({detail}); move it aside or pass --db to use another file", .path.display())]
    NotGanbench {
        /// The database file.
        path: PathBuf,
        /// Why we think so.
        detail: String,
    },
    /// SQLite found damaged pages.
    #[error("database file {} is corrupt ({source}); move it aside (`sqlite3 FILE .recover` may salvage its data) or pass --db to use another file", .path.display())]
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// What SQLite said.
        #[source]
        source: rusqlite::Error,
    },
    /// The schema version is newer than this build knows: a newer ganbench wrote it.
    #[error("database file {} has schema version {found} but this ganbench knows versions up to {supported}: it was written by a newer ganbench; upgrade ganbench, or pass --db to use another file", .path.display())]
    TooNew {
        /// The database file.
        path: PathBuf,
        /// `PRAGMA user_version` of the file.
        found: i64,
        /// The newest version this build can migrate to.
        supported: i64,
    },
    /// The file's schema version is older than this build's, and it was opened read-only, so it
    /// cannot be upgraded.
    #[error("database file {} has schema version {found}, older than this ganbench's {current}; it must be upgraded before it can be read, which needs write access: make it (and its folder) writable and run this command again, or use the ganbench that wrote it", .path.display())]
    TooOld {
        /// The database file.
        path: PathBuf,
        /// `PRAGMA user_version` of the file.
        found: i64,
        /// The version this build writes.
        current: i64,
    },
    /// A table of the file is missing or differs from what ganbench created (changed by hand
    /// or by another program). Refused before anything is written.
    #[error("database file {} does not have the tables of a ganbench database (schema version {version}): {problem}; it was changed outside ganbench: restore it from a backup, or pass --db to use another file", .path.display())]
    SchemaMismatch {
        /// The database file.
        path: PathBuf,
        /// Its schema version.
        version: i64,
        /// What differs.
        problem: String,
    },
    /// A migration failed; it ran in a transaction, so the file is unchanged.
    #[error("upgrading database file {} to schema version {version} failed ({detail}); the file was left unchanged: please report this, and meanwhile use the ganbench that wrote it, or pass --db to use another file", .path.display())]
    Migration {
        /// The database file.
        path: PathBuf,
        /// The version the failed migration leads to.
        version: i64,
        /// What went wrong.
        detail: String,
    },
    /// Another process held the database lock longer than the busy timeout.
    #[error("database file {} stayed locked by another process for longer than the busy timeout ({source}); wait for it to finish, or pass --db to use another file", .path.display())]
    Busy {
        /// The database file.
        path: PathBuf,
        /// What SQLite said.
        #[source]
        source: rusqlite::Error,
    },
    /// Any other SQLite error.
    #[error("database error on {}: {source}", .path.display())]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// What SQLite said.
        #[source]
        source: rusqlite::Error,
    },
    /// A sweep of this name exists with a different spec. The CLI should offer `--new-version`.
    #[error("sweep '{name}' already exists (version {version}, spec hash {stored_hash}) with a different spec (hash {new_hash}); pass --new-version to store the changed spec as version {}, or give the sweep another name", .version + 1)]
    SpecChanged {
        /// The sweep name.
        name: String,
        /// The newest stored version of that name.
        version: u32,
        /// Spec hash of that newest version.
        stored_hash: String,
        /// Spec hash that was offered.
        new_hash: String,
    },
    /// No run with this id.
    #[error(
        "run {0} does not exist in this database; `ganbench ls SWEEP` lists the runs of a sweep"
    )]
    NoSuchRun(RunId),
    /// No sweep with this id.
    #[error("sweep {0} does not exist in this database; `ganbench ls` lists the sweeps")]
    NoSuchSweep(SweepId),
    /// `claim_run` on a run that another process marks as running.
    #[error("run {run} is already running (process {pid} on host {host}); stop that process first, or if it died, start ganbench again so that it marks the run interrupted")]
    AlreadyRunning {
        /// The run.
        run: RunId,
        /// The owner recorded in the database (0 if none).
        pid: u32,
        /// The owner's host ("?" if none).
        host: String,
    },
    /// `claim_run` or `truncate_after` on a run whose result is in: finished or diverged (or
    /// failed, for a claim that does not retry failed runs). Nothing was changed.
    #[error("run {run} is already {status} (at step {step}); its results are kept and it is not trained again{}", if matches!(.status, Status::Failed) { "; `ganbench run --retry-failed` retries failed runs" } else { "" })]
    RunEnded {
        /// The run.
        run: RunId,
        /// Its status: finished, diverged or failed.
        status: Status,
        /// Its last step.
        step: u64,
    },
    /// A status string read from the database or given by the user is unknown.
    #[error("unknown run status '{0}'; expected one of queued, running, finished, failed, diverged, interrupted")]
    UnknownStatus(String),
    /// Writes queued on the batched writer failed (reported by the next `flush`).
    #[error("{failed} queued store write(s) to {} failed and were dropped; first error: {first}", .path.display())]
    WriteFailed {
        /// The database file.
        path: PathBuf,
        /// How many messages were dropped.
        failed: usize,
        /// The first error, as text.
        first: String,
    },
    /// A tag or note that cannot be stored as given.
    #[error("{0}")]
    BadAnnotation(String),
    /// A sweep that cannot be deleted because some of its runs are training.
    #[error("sweep {0} cannot be deleted while it trains: {1} still running; stop that `ganbench run` first (Ctrl-C), then delete")]
    SweepRunning(SweepId, String),
    /// A shard given to [`crate::Store::merge_shard`] holds no sweep of the name asked for.
    #[error("shard {} holds {held}, not sweep '{sweep}'; check the sweep name, and that this file is the database a task of that sweep's job array wrote", .path.display())]
    ShardLacksSweep {
        /// The shard's database file.
        path: PathBuf,
        /// The sweep name asked for.
        sweep: String,
        /// What it holds instead, e.g. "sweeps a, b" or "no sweep".
        held: String,
    },
    /// A shard's sweep of that name has another spec hash than the caller expects: it was run
    /// from another version of the spec. Nothing was merged.
    #[error("shard {} holds sweep '{sweep}' with spec hash {found}, not the expected {expected}: it is a shard of another version of the sweep; merge it into the version with its hash, or leave it out", .path.display())]
    ShardOfAnotherVersion {
        /// The shard's database file.
        path: PathBuf,
        /// The sweep name.
        sweep: String,
        /// The spec hash the caller expected.
        expected: String,
        /// The spec hash(es) of the shard's versions of that name, comma-separated.
        found: String,
    },
    /// The batched writer's thread is gone (it panicked); nothing more can be logged through it.
    #[error("the store writer thread for {} has stopped; open a new writer (Store::writer)", .path.display())]
    WriterGone {
        /// The database file.
        path: PathBuf,
    },
}

/// Attaches the database path to rusqlite errors and sorts them into the variants above.
pub(crate) trait AtPath<T> {
    fn at(self, path: &Path) -> Result<T>;
}

impl<T> AtPath<T> for rusqlite::Result<T> {
    fn at(self, path: &Path) -> Result<T> {
        self.map_err(|e| classify(e, path))
    }
}

pub(crate) fn classify(e: rusqlite::Error, path: &Path) -> StoreError {
    let path = path.to_path_buf();
    match e.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => StoreError::NotGanbench {
            path,
            detail: format!("not an SQLite file: {e}"),
        },
        Some(ErrorCode::DatabaseCorrupt) => StoreError::Corrupt { path, source: e },
        Some(ErrorCode::DatabaseBusy) | Some(ErrorCode::DatabaseLocked) => {
            StoreError::Busy { path, source: e }
        }
        Some(ErrorCode::CannotOpen) => StoreError::Open {
            path,
            source: Box::new(e),
        },
        _ => StoreError::Sqlite { path, source: e },
    }
}
