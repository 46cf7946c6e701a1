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
    // v3: tags and notes on sweeps and runs, archived sweeps (hidden from `ganbench ls`).
    // A row with run_id NULL belongs to the sweep itself.
    "
    ALTER TABLE sweeps ADD COLUMN archived_at INTEGER;
    CREATE TABLE tags (
        sweep_id    INTEGER NOT NULL REFERENCES sweeps(id) ON DELETE CASCADE,
        run_id      INTEGER REFERENCES runs(id) ON DELETE CASCADE,
        tag         TEXT    NOT NULL
    );
    CREATE UNIQUE INDEX tags_unique ON tags(sweep_id, ifnull(run_id, 0), tag);
    CREATE TABLE notes (
        id          INTEGER PRIMARY KEY,
        sweep_id    INTEGER NOT NULL REFERENCES sweeps(id) ON DELETE CASCADE,
        run_id      INTEGER REFERENCES runs(id) ON DELETE CASCADE,
        at          INTEGER NOT NULL,
        text        TEXT    NOT NULL
    );
    CREATE INDEX notes_by_sweep ON notes(sweep_id, id);
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
    refuse_folder(path)?;
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
        // A file at its final version is checked now, before anything is written to it; one
        // that migrates is checked inside the migration's transaction.
        if version >= target {
            check_tables(&tx, path, version)?;
        }
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

/// WAL: readers (report, `ganbench ls`) never block the writer and vice versa.
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
    check_tables(&tx, path, target)?;
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

/// Opens an existing file for reading only: nothing is created, migrated or written, so it works
/// on a read-only file or folder. Checks the header and the tables like [`open`]. A file of an
/// older schema version is refused with [`StoreError::TooOld`] (upgrading it is a write).
///
/// A WAL database needs its `-shm` index to be read; SQLite creates it on open, which a read-only
/// folder forbids. When the folder has none and no write-ahead log holds unmerged changes, the
/// file is opened `immutable` (SQLite then reads the main file alone, without locks: right for a
/// folder nobody can write). Otherwise the error says what to do.
pub(crate) fn open_read_only(path: &Path) -> Result<Connection> {
    let open_error = |e: rusqlite::Error| StoreError::Open {
        path: path.to_path_buf(),
        source: Box::new(e),
    };
    if let Err(e) = std::fs::metadata(path) {
        return Err(StoreError::Open {
            path: path.to_path_buf(),
            source: Box::new(e),
        });
    }
    refuse_folder(path)?;
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    let conn = Connection::open_with_flags(path, flags).map_err(open_error)?;
    conn.busy_timeout(BUSY_TIMEOUT).at(path)?;
    match check_read_only(&conn, path) {
        Ok(()) => return Ok(conn),
        Err(StoreError::Open { .. } | StoreError::Sqlite { .. }) if !wal_has_changes(path) => {}
        Err(StoreError::Open { source, .. }) => return Err(wal_unreadable(path, &*source)),
        Err(StoreError::Sqlite { source, .. }) => return Err(wal_unreadable(path, &source)),
        Err(e) => return Err(e),
    }
    drop(conn);
    let uri = format!("file:{}?immutable=1", uri_path(path));
    let conn = Connection::open_with_flags(&uri, flags).map_err(open_error)?;
    check_read_only(&conn, path)?;
    Ok(conn)
}

/// A folder given as the database: say so (SQLite would say "disk I/O error" or "unable to open").
fn refuse_folder(path: &Path) -> Result<()> {
    if path.is_dir() {
        return Err(StoreError::Open {
            path: path.to_path_buf(),
            source: "it is a folder; name a database file in it, e.g. --db FOLDER/ganbench.sqlite"
                .into(),
        });
    }
    Ok(())
}

/// A WAL database in a folder where its `-shm` index cannot be created, with changes in its log.
fn wal_unreadable(path: &Path, cause: &dyn std::error::Error) -> StoreError {
    StoreError::Open {
        path: path.to_path_buf(),
        source: format!(
            "{cause}: its write-ahead log ({}-wal) holds changes that can only be read with an \
             index file ({}-shm) that this process cannot create in a read-only folder; make the \
             folder writable, or copy the database and its -wal file somewhere writable",
            path.display(),
            path.display()
        )
        .into(),
    }
}

/// The header, version and tables of a file opened read-only, in one read transaction.
fn check_read_only(conn: &Connection, path: &Path) -> Result<()> {
    let tx = conn.unchecked_transaction().at(path)?;
    let (version, app_id) = read_versions(&tx, path)?;
    check_versions(&tx, path, version, app_id)?;
    if version == 0 {
        return Err(StoreError::NotGanbench {
            path: path.to_path_buf(),
            detail: "it is an empty SQLite file with no ganbench schema".into(),
        });
    }
    if version < SCHEMA_VERSION {
        return Err(StoreError::TooOld {
            path: path.to_path_buf(),
            found: version,
            current: SCHEMA_VERSION,
        });
    }
    check_tables(&tx, path, version)
}

/// True when `path-wal` exists and is not empty: changes not yet merged into the main file.
fn wal_has_changes(path: &Path) -> bool {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    std::fs::metadata(wal).is_ok_and(|m| m.len() > 0)
}

/// `path` for a `file:` URI: absolute, with `%`, `?` and `#` (and non-ASCII bytes) escaped.
fn uri_path(path: &Path) -> String {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut out = String::new();
    for &b in absolute.as_os_str().as_encoded_bytes() {
        match b {
            b'%' | b'?' | b'#' => out.push_str(&format!("%{b:02X}")),
            0x21..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// One column of a table as `PRAGMA table_info` describes it.
#[derive(Debug, PartialEq, Eq)]
struct Column {
    name: String,
    declared_type: String,
    not_null: bool,
    primary_key: i64,
}

/// Table name → columns, for every ganbench table in `conn`.
fn tables(conn: &Connection, path: &Path) -> Result<Vec<(String, Vec<Column>)>> {
    let names: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
        .and_then(|mut st| st.query_map([], |r| r.get(0))?.collect())
        .at(path)?;
    names
        .into_iter()
        .map(|name| {
            let columns = conn
                .prepare(
                    "SELECT name, type, \"notnull\", pk FROM pragma_table_info(?1) ORDER BY cid",
                )
                .and_then(|mut st| {
                    st.query_map([&name], |r| {
                        Ok(Column {
                            name: r.get(0)?,
                            declared_type: r.get::<_, String>(1)?.to_ascii_uppercase(),
                            not_null: r.get(2)?,
                            primary_key: r.get(3)?,
                        })
                    })?
                    .collect()
                })
                .at(path)?;
            Ok((name, columns))
        })
        .collect()
}

/// Refuses a file whose tables differ from what the migrations up to `version` build: a table
/// missing, or a column missing, added, renamed or retyped (by hand, or by another program).
/// The expected tables come from running the same migrations on an empty in-memory database.
fn check_tables(conn: &Connection, path: &Path, version: i64) -> Result<()> {
    let expected = {
        let memory = Connection::open_in_memory().at(path)?;
        for sql in MIGRATIONS.iter().take(version as usize) {
            memory.execute_batch(sql).at(path)?;
        }
        tables(&memory, path)?
    };
    let found = tables(conn, path)?;
    let mismatch = |problem: String| StoreError::SchemaMismatch {
        path: path.to_path_buf(),
        version,
        problem,
    };
    for (table, columns) in &expected {
        let Some((_, have)) = found.iter().find(|(name, _)| name == table) else {
            return Err(mismatch(format!("table `{table}` is missing")));
        };
        for column in columns {
            match have.iter().find(|c| c.name == column.name) {
                None => {
                    return Err(mismatch(format!(
                        "table `{table}` has no column `{}`",
                        column.name
                    )))
                }
                Some(c) if c != column => {
                    return Err(mismatch(format!(
                        "column `{table}.{}` is declared `{}{}{}`, expected `{}{}{}`",
                        c.name,
                        c.declared_type,
                        if c.not_null { " NOT NULL" } else { "" },
                        if c.primary_key > 0 {
                            " PRIMARY KEY"
                        } else {
                            ""
                        },
                        column.declared_type,
                        if column.not_null { " NOT NULL" } else { "" },
                        if column.primary_key > 0 {
                            " PRIMARY KEY"
                        } else {
                            ""
                        },
                    )))
                }
                Some(_) => {}
            }
        }
        if let Some(extra) = have
            .iter()
            .find(|c| !columns.iter().any(|e| e.name == c.name))
        {
            return Err(mismatch(format!(
                "table `{table}` has a column `{}` that ganbench does not know",
                extra.name
            )));
        }
    }
    // Indexes are not compared: a missing one makes queries slow, not wrong.
    Ok(())
}
