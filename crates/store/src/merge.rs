//! Merging a shard into the main database: the file that one task of a Slurm job array wrote
//! for its trials of a sweep (issue 17). Idempotent, so `ganbench merge` can be run while tasks
//! still train and again when they are done.
//!
//! The shard is read in one read transaction (a consistent snapshot, even while its task goes
//! on writing) through a read-only connection that never checkpoints it; the main database is
//! written in one IMMEDIATE transaction, so a failure midway leaves it as it was.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rusqlite::config::DbConfig;
use rusqlite::types::{Value, ValueRef};
use rusqlite::{params, params_from_iter, Connection, OptionalExtension};
use serde::Serialize;

use crate::error::{AtPath, Result, StoreError};
use crate::read::sweep_from_row;
use crate::types::{Status, SweepRecord};
use crate::write::{register_new_version_in, register_sweep_in};
use crate::Store;

/// What [`Store::merge_shard`] did to the main database. All zero (and `registered` false) when
/// the shard had nothing new: see [`MergeReport::changed`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MergeReport {
    /// The shard's database file.
    pub shard: PathBuf,
    /// The sweep name.
    pub sweep: String,
    /// The spec hash of the merged version.
    pub spec_hash: String,
    /// Its version number in the shard (shards start empty, so usually 1).
    pub shard_version: u32,
    /// Its version number in the main database.
    pub version: u32,
    /// True when the main database had no version with this spec hash and it was stored now.
    pub registered: bool,
    /// Runs of the shard that the main database did not have.
    pub runs_added: u64,
    /// Runs whose state (status, progress, metrics, events, artifacts) was replaced by the
    /// shard's.
    pub runs_updated: u64,
    /// Runs equal in both: nothing written.
    pub runs_unchanged: u64,
    /// Runs queued and never started in the shard while the main database holds more of them
    /// (another shard's trials that this one only registered): left as the main database has them.
    pub runs_not_started: u64,
    /// Trial keys of runs with a result (finished or diverged) in the main database that differs
    /// from the shard's: kept, because results are never overwritten. Two writers trained these
    /// trials; the caller should say so.
    pub conflicts: Vec<String>,
    /// Metric points written (those of added and updated runs).
    pub points_copied: u64,
    /// Events written.
    pub events_copied: u64,
    /// Artifact rows written.
    pub artifacts_copied: u64,
    /// Run tags of the shard that the main database lacked.
    pub tags_added: u64,
    /// Run notes of the shard that the main database lacked.
    pub notes_added: u64,
}

impl MergeReport {
    /// True when the merge wrote anything to the main database.
    pub fn changed(&self) -> bool {
        self.registered
            || self.runs_added + self.runs_updated + self.tags_added + self.notes_added > 0
    }
}

/// The columns of a run that are its state, in this order (all but `id` and `sweep_id`).
const RUN_STATE: [&str; 14] = [
    "trial_key",
    "label",
    "plugin",
    "params_json",
    "seed",
    "status",
    "step",
    "total_steps",
    "started_at",
    "ended_at",
    "error",
    "build_id",
    "owner_pid",
    "host",
];
const TRIAL_KEY: usize = 0;
const STATUS: usize = 5;
const STARTED_AT: usize = 8;

/// A run's rows in a dependent table, in an order and form that compare equal across
/// databases: no ids, metric names instead of key ids. The same SQL runs on both sides.
const HISTORY: [&str; 3] = [
    "SELECT at, kind, message FROM events WHERE run_id = ?1 ORDER BY id",
    "SELECT step, kind, path FROM artifacts WHERE run_id = ?1 ORDER BY id",
    "SELECT k.name, m.step, m.value, m.wall_ms FROM metrics m JOIN metric_keys k ON k.id = m.key_id
     WHERE m.run_id = ?1 ORDER BY k.name, m.step",
];

impl Store {
    /// Brings the runs of sweep `sweep` in the shard database `shard` into this database, in one
    /// transaction. The shard is opened read-only and read in one snapshot; it is never written
    /// or checkpointed, so a task may still be writing it.
    ///
    /// - The shard's version of `sweep`: the one whose spec hash is `expected_hash` (else
    ///   [`StoreError::ShardOfAnotherVersion`]), or its newest when `None`. No version at all:
    ///   [`StoreError::ShardLacksSweep`]. A file that is not a ganbench database, or is from a
    ///   newer ganbench, is refused as by [`Store::open_read_only`].
    /// - It is matched here by name and spec hash (version numbers differ between files); if no
    ///   version here has that hash, the spec is registered, as a new version if the name exists.
    /// - Runs are matched by trial key. A run absent here is inserted with its metrics, events and
    ///   artifacts. A run present here is replaced by the shard's when they differ (the shard is
    ///   the one writer of its trials), except that a run the shard never started, or a result
    ///   here (finished, diverged) that the shard would change, is kept
    ///   ([`MergeReport::conflicts`]).
    /// - Run tags and notes are the researcher's: the shard's are added, none removed. Sweep tags,
    ///   notes and archiving are this database's own and not copied.
    ///
    /// Merging the same shard again writes nothing. Metric values are copied bit for bit.
    /// Holds this database's write lock for the whole merge: other writers wait (up to
    /// [`crate::BUSY_TIMEOUT`]).
    pub fn merge_shard(
        &self,
        shard: &Path,
        sweep: &str,
        expected_hash: Option<&str>,
    ) -> Result<MergeReport> {
        let source = Store::open_read_only(shard)?;
        let sp = source.path();
        // A read-only connection cannot checkpoint anyway; say so explicitly, since a checkpoint
        // by the merge would rewrite a file that a running task owns.
        source
            .conn
            .set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)
            .at(sp)?;
        // DEFERRED: the snapshot starts at the first read and holds until the end.
        let snapshot = source.conn.unchecked_transaction().at(sp)?;
        let from = shard_sweep(&snapshot, sp, sweep, expected_hash)?;
        let runs: Vec<(i64, String, Vec<Value>)> = {
            let mut st = snapshot
                .prepare(&format!(
                    "SELECT id, {} FROM runs WHERE sweep_id = ?1 ORDER BY id",
                    RUN_STATE.join(", ")
                ))
                .at(sp)?;
            let rows = st.query_map([from.id.0], |r| {
                Ok((r.get(0)?, r.get(1 + TRIAL_KEY)?, run_state(r, 1)?))
            });
            rows.and_then(|it| it.collect()).at(sp)?
        };

        let p = &self.path;
        let tx = self.write_tx()?;
        let registration =
            match register_sweep_in(&tx, p, &from.name, &from.spec_text, &from.spec_hash) {
                Err(StoreError::SpecChanged { .. }) => {
                    register_new_version_in(&tx, p, &from.name, &from.spec_text, &from.spec_hash)?
                }
                other => other?,
            };
        let target = registration.id();
        let mut report = MergeReport {
            shard: shard.to_path_buf(),
            sweep: from.name.clone(),
            spec_hash: from.spec_hash.clone(),
            shard_version: from.version,
            version: registration.version(),
            registered: matches!(registration, crate::Registration::Created { .. }),
            ..MergeReport::default()
        };
        let mut copier = Copier {
            shard: &snapshot,
            shard_path: sp,
            main: &tx,
            main_path: p,
            keys: HashMap::new(),
        };
        let select_here = format!(
            "SELECT id, {} FROM runs WHERE sweep_id = ?1 AND trial_key = ?2",
            RUN_STATE.join(", ")
        );
        for (shard_run, key, state) in &runs {
            let here: Option<(i64, Vec<Value>)> = tx
                .query_row(&select_here, params![target.0, key], |r| {
                    Ok((r.get(0)?, run_state(r, 1)?))
                })
                .optional()
                .at(p)?;
            let main_run = match here {
                None => {
                    let id = copier.insert_run(target.0, state)?;
                    copier.copy_history(*shard_run, id, &mut report)?;
                    report.runs_added += 1;
                    id
                }
                Some((id, here_state)) => {
                    if same_values(state, &here_state) && copier.same_history(*shard_run, id)? {
                        report.runs_unchanged += 1;
                    } else if never_started(state) {
                        report.runs_not_started += 1;
                    } else if has_result(&here_state) {
                        report.conflicts.push(key.clone());
                    } else {
                        copier.replace_run(id, state)?;
                        copier.copy_history(*shard_run, id, &mut report)?;
                        report.runs_updated += 1;
                    }
                    id
                }
            };
            copier.add_annotations(*shard_run, target.0, main_run, &mut report)?;
        }
        drop(copier);
        tx.commit().at(p)?;
        Ok(report)
    }
}

/// The shard's version of `name` to merge (see [`Store::merge_shard`]).
fn shard_sweep(
    conn: &Connection,
    path: &Path,
    name: &str,
    expected_hash: Option<&str>,
) -> Result<SweepRecord> {
    let versions: Vec<SweepRecord> = conn
        .prepare(
            "SELECT id, name, version, spec_text, spec_hash, created_at FROM sweeps
             WHERE name = ?1 ORDER BY version DESC",
        )
        .and_then(|mut st| st.query_map([name], sweep_from_row)?.collect())
        .at(path)?;
    if versions.is_empty() {
        let held: Vec<String> = conn
            .prepare("SELECT DISTINCT name FROM sweeps ORDER BY name")
            .and_then(|mut st| st.query_map([], |r| r.get(0))?.collect())
            .at(path)?;
        return Err(StoreError::ShardLacksSweep {
            path: path.to_path_buf(),
            sweep: name.to_owned(),
            held: if held.is_empty() {
                "no sweep".to_owned()
            } else {
                format!("sweeps {}", held.join(", "))
            },
        });
    }
    match expected_hash {
        None => Ok(versions.into_iter().next().expect("not empty")),
        Some(expected) => {
            if let Some(i) = versions.iter().position(|v| v.spec_hash == expected) {
                return Ok(versions.into_iter().nth(i).expect("found"));
            }
            Err(StoreError::ShardOfAnotherVersion {
                path: path.to_path_buf(),
                sweep: name.to_owned(),
                expected: expected.to_owned(),
                found: versions
                    .iter()
                    .map(|v| v.spec_hash.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
        }
    }
}

/// The [`RUN_STATE`] columns of a row, from column `first` on.
fn run_state(r: &rusqlite::Row<'_>, first: usize) -> rusqlite::Result<Vec<Value>> {
    (first..first + RUN_STATE.len())
        .map(|i| r.get_ref(i).map(Value::from))
        .collect()
}

/// Queued and never claimed: the shard holds nothing of the run but its registration.
fn never_started(state: &[Value]) -> bool {
    matches!(&state[STATUS], Value::Text(s) if s == Status::Queued.as_str())
        && state[STARTED_AT] == Value::Null
}

/// Finished or diverged: a result, which the store never overwrites or deletes.
fn has_result(state: &[Value]) -> bool {
    matches!(&state[STATUS], Value::Text(s)
        if s == Status::Finished.as_str() || s == Status::Diverged.as_str())
}

/// Equal values; reals compare by their bits (so that a changed sign of zero or NaN payload
/// would count as a change, not only a changed number).
fn same_value(a: ValueRef<'_>, b: ValueRef<'_>) -> bool {
    match (a, b) {
        (ValueRef::Real(x), ValueRef::Real(y)) => x.to_bits() == y.to_bits(),
        _ => a == b,
    }
}

fn same_values(a: &[Value], b: &[Value]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| same_value(ValueRef::from(x), ValueRef::from(y)))
}

/// Copies and compares one run's rows from the shard's snapshot into the main transaction.
struct Copier<'a> {
    shard: &'a Connection,
    shard_path: &'a Path,
    main: &'a Connection,
    main_path: &'a Path,
    /// Shard metric key id → main key id (ids differ between databases; names do not).
    keys: HashMap<i64, i64>,
}

impl Copier<'_> {
    /// True when the run's events, artifacts and metric points are equal on both sides,
    /// compared row by row without loading either side whole.
    fn same_history(&self, shard_run: i64, main_run: i64) -> Result<bool> {
        let (sp, mp) = (self.shard_path, self.main_path);
        for sql in HISTORY {
            let mut a = self.shard.prepare_cached(sql).at(sp)?;
            let mut b = self.main.prepare_cached(sql).at(mp)?;
            let columns = a.column_count();
            let mut ra = a.query([shard_run]).at(sp)?;
            let mut rb = b.query([main_run]).at(mp)?;
            loop {
                match (ra.next().at(sp)?, rb.next().at(mp)?) {
                    (None, None) => break,
                    (Some(x), Some(y)) => {
                        for i in 0..columns {
                            if !same_value(x.get_ref(i).at(sp)?, y.get_ref(i).at(mp)?) {
                                return Ok(false);
                            }
                        }
                    }
                    _ => return Ok(false),
                }
            }
        }
        Ok(true)
    }

    /// Inserts a run of the shard into sweep `sweep` here; returns its id here.
    fn insert_run(&mut self, sweep: i64, state: &[Value]) -> Result<i64> {
        let sql = format!(
            "INSERT INTO runs (sweep_id, {}) VALUES (?1, {})",
            RUN_STATE.join(", "),
            (2..=RUN_STATE.len() + 1)
                .map(|i| format!("?{i}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let values = std::iter::once(Value::Integer(sweep)).chain(state.iter().cloned());
        self.main
            .execute(&sql, params_from_iter(values))
            .at(self.main_path)?;
        Ok(self.main.last_insert_rowid())
    }

    /// Sets run `id`'s state to the shard's and deletes its events, artifacts and points, which
    /// [`Copier::copy_history`] then writes again from the shard.
    fn replace_run(&mut self, id: i64, state: &[Value]) -> Result<()> {
        let mp = self.main_path;
        let set = RUN_STATE
            .iter()
            .enumerate()
            .skip(TRIAL_KEY + 1)
            .map(|(i, c)| format!("{c} = ?{}", i + 1))
            .collect::<Vec<_>>()
            .join(", ");
        let values = std::iter::once(Value::Integer(id)).chain(state.iter().skip(1).cloned());
        self.main
            .execute(
                &format!("UPDATE runs SET {set} WHERE id = ?1"),
                params_from_iter(values),
            )
            .at(mp)?;
        for sql in [
            "DELETE FROM metrics WHERE run_id = ?1",
            "DELETE FROM events WHERE run_id = ?1",
            "DELETE FROM artifacts WHERE run_id = ?1",
        ] {
            self.main.execute(sql, [id]).at(mp)?;
        }
        Ok(())
    }

    /// Writes the shard run's events and artifacts (in their order) and metric points under
    /// run `main_run` here, which has none.
    fn copy_history(
        &mut self,
        shard_run: i64,
        main_run: i64,
        report: &mut MergeReport,
    ) -> Result<()> {
        let (shard, sp, mp) = (self.shard, self.shard_path, self.main_path);
        for (select, insert, count) in [
            (
                "SELECT at, kind, message FROM events WHERE run_id = ?1 ORDER BY id",
                "INSERT INTO events (run_id, at, kind, message) VALUES (?1, ?2, ?3, ?4)",
                &mut report.events_copied,
            ),
            (
                "SELECT step, kind, path FROM artifacts WHERE run_id = ?1 ORDER BY id",
                "INSERT INTO artifacts (run_id, step, kind, path) VALUES (?1, ?2, ?3, ?4)",
                &mut report.artifacts_copied,
            ),
        ] {
            let mut from = shard.prepare_cached(select).at(sp)?;
            let mut to = self.main.prepare_cached(insert).at(mp)?;
            let mut rows = from.query([shard_run]).at(sp)?;
            while let Some(r) = rows.next().at(sp)? {
                let row: Vec<Value> = (0..3)
                    .map(|i| r.get_ref(i).map(Value::from))
                    .collect::<rusqlite::Result<_>>()
                    .at(sp)?;
                to.execute(params![main_run, row[0], row[1], row[2]])
                    .at(mp)?;
                *count += 1;
            }
        }
        let mut from = shard
            .prepare_cached(
                "SELECT key_id, step, value, wall_ms FROM metrics WHERE run_id = ?1
                 ORDER BY key_id, step",
            )
            .at(sp)?;
        let mut rows = from.query([shard_run]).at(sp)?;
        while let Some(r) = rows.next().at(sp)? {
            let key = self.main_key(r.get(0).at(sp)?)?;
            // Option<f64>: NULL is NaN (see `value_to_sql`); an f64 is copied bit for bit.
            let (step, value, wall_ms): (i64, Option<f64>, i64) =
                (r.get(1).at(sp)?, r.get(2).at(sp)?, r.get(3).at(sp)?);
            self.main
                .prepare_cached(
                    "INSERT INTO metrics (run_id, key_id, step, value, wall_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .and_then(|mut st| st.execute(params![main_run, key, step, value, wall_ms]))
                .at(mp)?;
            report.points_copied += 1;
        }
        Ok(())
    }

    /// The id here of the shard's metric key `shard_key`, interning its name if new here.
    fn main_key(&mut self, shard_key: i64) -> Result<i64> {
        if let Some(&id) = self.keys.get(&shard_key) {
            return Ok(id);
        }
        let name: String = self
            .shard
            .prepare_cached("SELECT name FROM metric_keys WHERE id = ?1")
            .and_then(|mut st| st.query_row([shard_key], |r| r.get(0)))
            .at(self.shard_path)?;
        let mp = self.main_path;
        self.main
            .prepare_cached(
                "INSERT INTO metric_keys (name) VALUES (?1) ON CONFLICT (name) DO NOTHING",
            )
            .and_then(|mut st| st.execute([&name]))
            .at(mp)?;
        let id: i64 = self
            .main
            .prepare_cached("SELECT id FROM metric_keys WHERE name = ?1")
            .and_then(|mut st| st.query_row([&name], |r| r.get(0)))
            .at(mp)?;
        self.keys.insert(shard_key, id);
        Ok(id)
    }

    /// Adds the shard run's tags and notes that run `main_run` (of sweep `sweep`) lacks here.
    /// A note counts as present when one with the same time and text is.
    fn add_annotations(
        &mut self,
        shard_run: i64,
        sweep: i64,
        main_run: i64,
        report: &mut MergeReport,
    ) -> Result<()> {
        let (sp, mp) = (self.shard_path, self.main_path);
        let tags: Vec<String> = self
            .shard
            .prepare_cached("SELECT tag FROM tags WHERE run_id = ?1 ORDER BY tag")
            .and_then(|mut st| st.query_map([shard_run], |r| r.get(0))?.collect())
            .at(sp)?;
        for tag in tags {
            report.tags_added += self
                .main
                .prepare_cached(
                    "INSERT OR IGNORE INTO tags (sweep_id, run_id, tag) VALUES (?1, ?2, ?3)",
                )
                .and_then(|mut st| st.execute(params![sweep, main_run, tag]))
                .at(mp)? as u64;
        }
        let notes: Vec<(i64, String)> = self
            .shard
            .prepare_cached("SELECT at, text FROM notes WHERE run_id = ?1 ORDER BY id")
            .and_then(|mut st| {
                st.query_map([shard_run], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect()
            })
            .at(sp)?;
        for (at, text) in notes {
            report.notes_added += self
                .main
                .prepare_cached(
                    "INSERT INTO notes (sweep_id, run_id, at, text)
                     SELECT ?1, ?2, ?3, ?4 WHERE NOT EXISTS
                         (SELECT 1 FROM notes WHERE run_id = ?2 AND at = ?3 AND text = ?4)",
                )
                .and_then(|mut st| st.execute(params![sweep, main_run, at, text]))
                .at(mp)? as u64;
        }
        Ok(())
    }
}
