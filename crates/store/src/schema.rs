//! Opening a database file: connection settings, sanity checks and ordered migrations.
//!
//! The schema version lives in `PRAGMA user_version`; `PRAGMA application_id` marks the file as
//! ganbench's so that another program's SQLite file is refused instead of "migrated".

use std::path::Path;
use std::time::{Duration, Instant};

use rusqlite::{Connection, ErrorCode, OpenFlags, TransactionBehavior};

use crate::error::{classify, AtPath, Result, StoreError};

/// `PRAGMA application_id` of a ganbench database: "GANB" in ASCII.
pub const APPLICATION_ID: i64 = 0x4741_4E42;

/// How long a connection waits for another one's lock before giving up. Long, because two
/// `ganbench run` processes may share a file and a batch commit of the other one must not fail us.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// Migration `i` (0-based) takes a database from version `i` to `i + 1`. Append only: never edit
/// a migration that has shipped, add a new one.
const MIGRATIONS: &[&str] = &[
    // v1: the schema of design.md.
    "
    PRAGMA application_id = 1195462210; -- APPLICATION_ID (GANB)
    CREATE TABLE sweeps (
        id          INTEGER PRIMARY KEY,
        name        TEXT    NOT NULL,
        spec_text   TEXT    NOT NULL,
        spec_hash   TEXT    NOT NULL,
        created_at  INTEGER NOT NULL            -- unix ms, like every *_at / wall_ms column
    );
    CREATE UNIQUE INDEX sweeps_by_name ON sweeps(name);
    CREATE TABLE runs (
        id          INTEGER PRIMARY KEY,
        sweep_id    INTEGER NOT NULL REFERENCES sweeps(id) ON DELETE CASCADE,
        trial_key   TEXT    NOT NULL,
        plugin      TEXT    NOT NULL,
        params_json TEXT    NOT NULL,
        seed        INTEGER NOT NULL,           -- u64 bit-cast to i64
        status      TEXT    NOT NULL DEFAULT 'queued' CHECK (status IN
                    ('queued', 'running', 'finished', 'failed', 'diverged', 'interrupted')),
        step        INTEGER NOT NULL DEFAULT 0,
        started_at  INTEGER,
        ended_at    INTEGER,
        error       TEXT,
        build_id    TEXT    NOT NULL,
        UNIQUE (sweep_id, trial_key)
    );
    CREATE INDEX runs_by_status ON runs(status);
    CREATE TABLE metric_keys (
        id          INTEGER PRIMARY KEY,
        name        TEXT    NOT NULL UNIQUE
    );
    -- The primary key makes a (run, metric, step) point unique; WITHOUT ROWID stores the rows in
    -- that key's order (one b-tree instead of table + index: smaller, faster inserts and series
    -- reads, see benches/store.rs). value NULL means NaN (SQLite cannot store NaN).
    CREATE TABLE metrics (
        run_id      INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        key_id      INTEGER NOT NULL REFERENCES metric_keys(id),
        step        INTEGER NOT NULL,
        value       REAL,
        wall_ms     INTEGER NOT NULL,
        PRIMARY KEY (run_id, key_id, step)
    ) WITHOUT ROWID;
    CREATE TABLE artifacts (
        id          INTEGER PRIMARY KEY,
        run_id      INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        step        INTEGER NOT NULL,
        kind        TEXT    NOT NULL,
        path        TEXT    NOT NULL
    );
    CREATE INDEX artifacts_by_run ON artifacts(run_id, step);
    CREATE TABLE events (
        id          INTEGER PRIMARY KEY,
        run_id      INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        at          INTEGER NOT NULL,
        kind        TEXT    NOT NULL,
        message     TEXT    NOT NULL
    );
    CREATE INDEX events_by_run ON events(run_id, id);
    ",
    // v2: versioned sweeps (a changed spec under the same name is stored as a new version),
    // variant labels, run ownership (for orphan detection) and planned steps (for progress).
    "
    ALTER TABLE sweeps ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
    DROP INDEX sweeps_by_name;
    CREATE UNIQUE INDEX sweeps_by_name_version ON sweeps(name, version);
    ALTER TABLE runs ADD COLUMN label TEXT NOT NULL DEFAULT '';
    ALTER TABLE runs ADD COLUMN owner_pid INTEGER;
    ALTER TABLE runs ADD COLUMN host TEXT;
    ALTER TABLE runs ADD COLUMN total_steps INTEGER;
    ",
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Opens (creating if needed) a connection with the settings every ganbench connection uses,
/// then checks and migrates the schema.
pub(crate) fn open(path: &Path) -> Result<Connection> {
    open_at_version(path, SCHEMA_VERSION)
}

/// Like [`open`] but migrates only up to `target`; lets tests build old-version files.
pub(crate) fn open_at_version(path: &Path, target: i64) -> Result<Connection> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Open {
            path: path.to_path_buf(),
            source: Box::new(e),
        })?;
    }
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(|e| StoreError::Open {
        path: path.to_path_buf(),
        source: Box::new(e),
    })?;
    conn.busy_timeout(BUSY_TIMEOUT).at(path)?;
    // Read the header and parse the schema before changing anything, so that a file that is
    // not SQLite, or is corrupt, is reported as such and left untouched. One read transaction:
    // the version and the table list must come from the same snapshot, or a concurrent
    // migration by another process could be mistaken for a foreign database.
    let version = {
        let tx = conn.unchecked_transaction().at(path)?;
        let (version, app_id) = read_versions(&tx, path)?;
        check_versions(&tx, path, version, app_id)?;
        version
    };
    set_wal(&conn, path)?;
    conn.pragma_update(None, "synchronous", "NORMAL").at(path)?;
    if version < target {
        migrate(&conn, path, target)?;
    }
    conn.pragma_update(None, "foreign_keys", true).at(path)?;
    Ok(conn)
}

/// WAL: readers (report, `ganbench status`) never block the writer and vice versa.
/// synchronous=NORMAL (set by the caller) in WAL: a commit survives a crash or kill -9 of the
/// process (it is in the OS's page cache); only an OS crash or power cut can lose the last
/// commits, never corrupt the file. `Writer::sync` forces everything to disk for that case.
///
/// Switching a file to WAL needs an exclusive lock and SQLite does not call the busy handler for
/// it: when two processes open a fresh file at once, one gets SQLITE_BUSY at once. So check
/// first (a WAL file needs no switch) and retry until the busy timeout.
fn set_wal(conn: &Connection, path: &Path) -> Result<()> {
    let deadline = Instant::now() + BUSY_TIMEOUT;
    loop {
        let mode: String = conn
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .at(path)?;
        if mode.eq_ignore_ascii_case("wal") {
            return Ok(());
        }
        // The answer may be another mode where WAL is impossible (e.g. no shared memory);
        // the store still works there, with readers and writer blocking each other.
        match conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get::<_, String>(0)) {
            Ok(_) => return Ok(()),
            Err(e)
                if e.sqlite_error_code() == Some(ErrorCode::DatabaseBusy)
                    && Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => return Err(classify(e, path)),
        }
    }
}

fn read_versions(conn: &Connection, path: &Path) -> Result<(i64, i64)> {
    let version = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .at(path)?;
    let app_id = conn
        .pragma_query_value(None, "application_id", |r| r.get(0))
        .at(path)?;
    Ok((version, app_id))
}

fn check_versions(conn: &Connection, path: &Path, version: i64, app_id: i64) -> Result<()> {
    let not_ours = |detail: String| StoreError::NotGanbench {
        path: path.to_path_buf(),
        detail,
    };
    // Parsing the schema touches page 1: this is where most corruption shows up.
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
        .and_then(|mut st| st.query_map([], |r| r.get(0))?.collect())
        .at(path)?;
    if app_id != APPLICATION_ID && (app_id != 0 || version != 0) {
        return Err(not_ours(format!(
            "it is an SQLite database of another program: application_id {app_id:#x}, user_version {version}"
        )));
    }
    if version == 0 && !tables.is_empty() {
        return Err(not_ours(format!(
            "it is an SQLite database with tables {} but no ganbench schema version",
            tables.join(", ")
        )));
    }
    if version > SCHEMA_VERSION {
        return Err(StoreError::TooNew {
            path: path.to_path_buf(),
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    Ok(())
}

fn migrate(conn: &Connection, path: &Path, target: i64) -> Result<()> {
    // Foreign keys off while migrating: a future migration may rebuild a table (the SQLite way
    // to change a constraint), which must not cascade deletes. Checked again before commit.
    // (This pragma is a no-op inside a transaction, hence here.)
    conn.pragma_update(None, "foreign_keys", false).at(path)?;
    // IMMEDIATE takes the write lock now; if two processes open a fresh file at once, the
    // second one waits here, then sees the new version below and does nothing.
    let tx = rusqlite::Transaction::new_unchecked(conn, TransactionBehavior::Immediate).at(path)?;
    let (version, app_id) = read_versions(&tx, path)?;
    check_versions(&tx, path, version, app_id)?;
    for (i, sql) in MIGRATIONS
        .iter()
        .enumerate()
        .take(target as usize)
        .skip(version as usize)
    {
        let to = i as i64 + 1;
        tx.execute_batch(sql)
            .and_then(|()| tx.pragma_update(None, "user_version", to))
            .map_err(|e| match classify(e, path) {
                StoreError::Sqlite { source, .. } => StoreError::Migration {
                    path: path.to_path_buf(),
                    version: to,
                    detail: source.to_string(),
                },
                other => other, // busy, corrupt...: those messages fit better
            })?;
    }
    let violations: i64 = tx
        .query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
            r.get(0)
        })
        .at(path)?;
    if violations > 0 {
        return Err(StoreError::Migration {
            path: path.to_path_buf(),
            version: target,
            detail: format!("{violations} foreign key violation(s) afterwards"),
        });
    }
    tx.commit().at(path)
}
