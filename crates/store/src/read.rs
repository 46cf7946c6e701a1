//! Queries for the CLI and the report. All return plain serde-serializable rows.

use std::collections::HashMap;
use std::path::Path;

use rusqlite::{params, OptionalExtension, Row};

use crate::error::{AtPath, Result, StoreError};
use crate::types::{
    Artifact, Event, ExportRow, LastValue, Point, Run, RunDetails, RunId, Status, StatusCounts,
    SweepId, SweepRecord, SweepSummary,
};
use crate::{value_from_sql, Store};

const RUN_COLS: &str =
    "id, sweep_id, trial_key, label, plugin, params_json, seed, status, step, total_steps, \
                        started_at, ended_at, error, build_id, owner_pid, host";

fn run_from_row(r: &Row<'_>) -> rusqlite::Result<Run> {
    let status: String = r.get(7)?;
    Ok(Run {
        id: RunId(r.get(0)?),
        sweep_id: SweepId(r.get(1)?),
        trial_key: r.get(2)?,
        label: r.get(3)?,
        plugin: r.get(4)?,
        params_json: r.get(5)?,
        seed: r.get::<_, i64>(6)? as u64,
        // The CHECK constraint guarantees a known status; map a violation to a conversion error.
        status: status.parse().map_err(|e: StoreError| {
            rusqlite::Error::FromSqlConversionFailure(7, rusqlite::types::Type::Text, e.into())
        })?,
        step: r.get::<_, i64>(8)? as u64,
        total_steps: r.get::<_, Option<i64>>(9)?.map(|t| t as u64),
        started_at_ms: r.get(10)?,
        ended_at_ms: r.get(11)?,
        error: r.get(12)?,
        build_id: r.get(13)?,
        owner_pid: r.get(14)?,
        host: r.get(15)?,
    })
}

pub(crate) fn sweep_from_row(r: &Row<'_>) -> rusqlite::Result<SweepRecord> {
    Ok(SweepRecord {
        id: SweepId(r.get(0)?),
        name: r.get(1)?,
        version: r.get(2)?,
        spec_text: r.get(3)?,
        spec_hash: r.get(4)?,
        created_at_ms: r.get(5)?,
    })
}

impl Store {
    /// Every sweep version, oldest first, with run counts per status (archived ones too).
    pub fn list_sweeps(&self) -> Result<Vec<SweepSummary>> {
        let p = &self.path;
        let mut st = self
            .conn
            .prepare(
                "SELECT id, name, version, spec_hash, created_at, archived_at,
                        (SELECT group_concat(tag, ' ') FROM
                            (SELECT tag FROM tags t WHERE t.sweep_id = s.id AND t.run_id IS NULL ORDER BY tag))
                 FROM sweeps s ORDER BY id",
            )
            .at(p)?;
        let mut sweeps: Vec<SweepSummary> = st
            .query_map([], |r| {
                Ok(SweepSummary {
                    id: SweepId(r.get(0)?),
                    name: r.get(1)?,
                    version: r.get(2)?,
                    spec_hash: r.get(3)?,
                    created_at_ms: r.get(4)?,
                    runs: StatusCounts::default(),
                    archived_at_ms: r.get(5)?,
                    // Tags hold no spaces (annotate::check_tag).
                    tags: r
                        .get::<_, Option<String>>(6)?
                        .map(|t| t.split(' ').map(str::to_string).collect())
                        .unwrap_or_default(),
                })
            })
            .and_then(|it| it.collect())
            .at(p)?;
        let mut st = self
            .conn
            .prepare("SELECT sweep_id, status, count(*) FROM runs GROUP BY sweep_id, status")
            .at(p)?;
        let counts: Vec<(i64, String, i64)> = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .and_then(|it| it.collect())
            .at(p)?;
        for (sweep, status, n) in counts {
            let status: Status = status.parse()?;
            if let Some(s) = sweeps.iter_mut().find(|s| s.id.0 == sweep) {
                s.runs.add(status, n as u64);
            }
        }
        Ok(sweeps)
    }

    /// One sweep version with its spec.
    pub fn sweep(&self, id: SweepId) -> Result<SweepRecord> {
        self.conn
            .query_row(
                "SELECT id, name, version, spec_text, spec_hash, created_at FROM sweeps WHERE id = ?1",
                [id.0],
                sweep_from_row,
            )
            .optional()
            .at(&self.path)?
            .ok_or(StoreError::NoSuchSweep(id))
    }

    /// The sweep `name` at `version`, or its newest version if `version` is `None`.
    pub fn find_sweep(&self, name: &str, version: Option<u32>) -> Result<Option<SweepRecord>> {
        self.conn
            .query_row(
                "SELECT id, name, version, spec_text, spec_hash, created_at FROM sweeps
                 WHERE name = ?1 AND (?2 IS NULL OR version = ?2) ORDER BY version DESC LIMIT 1",
                params![name, version],
                sweep_from_row,
            )
            .optional()
            .at(&self.path)
    }

    /// The runs of a sweep (status, progress = `step` / `total_steps`), in registration order.
    pub fn runs(&self, sweep: SweepId) -> Result<Vec<Run>> {
        let mut st = self
            .conn
            .prepare_cached(&format!(
                "SELECT {RUN_COLS} FROM runs WHERE sweep_id = ?1 ORDER BY id"
            ))
            .at(&self.path)?;
        st.query_map([sweep.0], run_from_row)
            .and_then(|it| it.collect())
            .at(&self.path)
    }

    /// One run.
    pub fn run(&self, run: RunId) -> Result<Run> {
        self.conn
            .query_row(
                &format!("SELECT {RUN_COLS} FROM runs WHERE id = ?1"),
                [run.0],
                run_from_row,
            )
            .optional()
            .at(&self.path)?
            .ok_or(StoreError::NoSuchRun(run))
    }

    /// One run with its events (oldest first) and artifacts (by step).
    pub fn run_details(&self, run: RunId) -> Result<RunDetails> {
        let p = &self.path;
        let info = self.run(run)?;
        let mut st = self
            .conn
            .prepare("SELECT at, kind, message FROM events WHERE run_id = ?1 ORDER BY id")
            .at(p)?;
        let events = st
            .query_map([run.0], |r| {
                Ok(Event {
                    run_id: run,
                    at_ms: r.get(0)?,
                    kind: r.get(1)?,
                    message: r.get(2)?,
                })
            })
            .and_then(|it| it.collect())
            .at(p)?;
        Ok(RunDetails {
            run: info,
            events,
            artifacts: self.artifacts(run)?,
        })
    }

    /// The artifacts of a run, by step.
    pub fn artifacts(&self, run: RunId) -> Result<Vec<Artifact>> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT step, kind, path FROM artifacts WHERE run_id = ?1 ORDER BY step, id",
            )
            .at(&self.path)?;
        st.query_map([run.0], |r| {
            Ok(Artifact {
                run_id: run,
                step: r.get::<_, i64>(0)? as u64,
                kind: r.get(1)?,
                path: r.get(2)?,
            })
        })
        .and_then(|it| it.collect())
        .at(&self.path)
    }

    /// The series of one metric of one run, by step (empty if never logged).
    pub fn series(&self, run: RunId, metric: &str) -> Result<Vec<Point>> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT m.step, m.value, m.wall_ms FROM metrics m
                 WHERE m.run_id = ?1 AND m.key_id = (SELECT id FROM metric_keys WHERE name = ?2)
                 ORDER BY m.step",
            )
            .at(&self.path)?;
        st.query_map(params![run.0, metric], |r| {
            Ok(Point {
                step: r.get::<_, i64>(0)? as u64,
                value: value_from_sql(r.get(1)?),
                wall_ms: r.get(2)?,
            })
        })
        .and_then(|it| it.collect())
        .at(&self.path)
    }

    /// For every run of the sweep and every metric it logged: the value at its highest step.
    /// Ordered by run id, then metric name.
    ///
    /// The CROSS JOINs fix the join order (SQLite never reorders them): runs of the sweep,
    /// then metric names, then one primary-key seek for the highest step. Without them and
    /// without ANALYZE statistics the planner may scan every point (measured: 1000× slower).
    pub fn last_values(&self, sweep: SweepId) -> Result<Vec<LastValue>> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT r.id, k.name, m.step, m.value
                 FROM runs r CROSS JOIN metric_keys k CROSS JOIN metrics m
                 WHERE r.sweep_id = ?1 AND m.run_id = r.id AND m.key_id = k.id
                   AND m.step = (SELECT MAX(step) FROM metrics WHERE run_id = r.id AND key_id = k.id)
                 ORDER BY r.id, k.name",
            )
            .at(&self.path)?;
        st.query_map([sweep.0], |r| {
            Ok(LastValue {
                run_id: RunId(r.get(0)?),
                metric: r.get(1)?,
                step: r.get::<_, i64>(2)? as u64,
                value: value_from_sql(r.get(3)?),
            })
        })
        .and_then(|it| it.collect())
        .at(&self.path)
    }

    /// The names of all metrics logged by any run of the sweep, sorted.
    pub fn metric_names(&self, sweep: SweepId) -> Result<Vec<String>> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT k.name FROM metric_keys k
                 WHERE EXISTS (SELECT 1 FROM runs r CROSS JOIN metrics m
                               WHERE r.sweep_id = ?1 AND m.run_id = r.id AND m.key_id = k.id)
                 ORDER BY k.name",
            )
            .at(&self.path)?;
        st.query_map([sweep.0], |r| r.get(0))
            .and_then(|it| it.collect())
            .at(&self.path)
    }

    /// Every metric point of the sweep with its run's identity, for CSV/JSONL export, ordered
    /// by run, metric (in first-logged order), step. Streams in pages, so memory stays flat for
    /// large sweeps.
    pub fn export_rows(&self, sweep: SweepId) -> Result<ExportIter<'_>> {
        let s = self.sweep(sweep)?;
        let mut runs = self.runs(sweep)?;
        runs.reverse(); // pop() from the end
        let mut st = self
            .conn
            .prepare("SELECT id, name FROM metric_keys")
            .at(&self.path)?;
        let keys = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .and_then(|it| it.collect())
            .at(&self.path)?;
        Ok(ExportIter {
            store: self,
            sweep: s,
            keys,
            runs,
            after: None,
            page: Vec::new(),
        })
    }
}

/// Iterator of [`ExportRow`]s from [`Store::export_rows`]. Reads one run at a time, in pages by
/// keyset on the metrics primary key (a rusqlite cursor cannot outlive a borrow of its
/// statement, and a single-table range scan has only one possible plan).
pub struct ExportIter<'a> {
    store: &'a Store,
    sweep: SweepRecord,
    keys: HashMap<i64, String>,
    /// Runs not yet finished, last one next.
    runs: Vec<Run>,
    /// Position in the current run (last one of `runs`): last (key_id, step) read.
    after: Option<(i64, i64)>,
    page: Vec<ExportRow>,
}

const EXPORT_PAGE: usize = 10_000;

impl ExportIter<'_> {
    /// Reads the next page of the current run; moves to the next run when it is exhausted.
    fn fill(&mut self) -> Result<()> {
        let p: &Path = &self.store.path;
        while self.page.is_empty() {
            let Some(run) = self.runs.last() else {
                return Ok(());
            };
            let (key, step) = self.after.unwrap_or((i64::MIN, i64::MIN));
            let mut st = self
                .store
                .conn
                .prepare_cached(
                    "SELECT key_id, step, value, wall_ms FROM metrics
                     WHERE run_id = ?1 AND (key_id, step) > (?2, ?3)
                     ORDER BY key_id, step LIMIT ?4",
                )
                .at(p)?;
            let mut last = None;
            let rows: Vec<(i64, i64, Option<f64>, i64)> = st
                .query_map(params![run.id.0, key, step, EXPORT_PAGE as i64], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                })
                .and_then(|it| it.collect())
                .at(p)?;
            for (key_id, step, value, wall_ms) in rows {
                last = Some((key_id, step));
                if !self.keys.contains_key(&key_id) {
                    // Interned after the export started.
                    let name = self
                        .store
                        .conn
                        .query_row(
                            "SELECT name FROM metric_keys WHERE id = ?1",
                            [key_id],
                            |r| r.get(0),
                        )
                        .at(p)?;
                    self.keys.insert(key_id, name);
                }
                self.page.push(ExportRow {
                    sweep: self.sweep.name.clone(),
                    sweep_version: self.sweep.version,
                    run_id: run.id,
                    trial_key: run.trial_key.clone(),
                    plugin: run.plugin.clone(),
                    label: run.label.clone(),
                    seed: run.seed,
                    metric: self.keys[&key_id].clone(),
                    step: step as u64,
                    value: value_from_sql(value),
                    wall_ms,
                });
            }
            if self.page.len() == EXPORT_PAGE {
                self.after = last;
            } else {
                self.runs.pop();
                self.after = None;
            }
        }
        self.page.reverse(); // pop() from the end
        Ok(())
    }
}

impl Iterator for ExportIter<'_> {
    type Item = Result<ExportRow>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.page.is_empty() {
            if let Err(e) = self.fill() {
                self.runs.clear();
                return Some(Err(e));
            }
        }
        self.page.pop().map(Ok)
    }
}

impl Store {
    /// Passes every metric series of `runs` to `visit(run, metric, points)` without collecting
    /// them all: in the order of `runs`, then metric (first-logged order), each series as its
    /// `(step, value)` points in step order (NaN arrives as NaN). The report's bulk read: one
    /// primary-key range scan per run, millions of points in seconds.
    pub fn visit_series(
        &self,
        runs: &[RunId],
        mut visit: impl FnMut(RunId, &str, &[(u64, f64)]),
    ) -> Result<()> {
        use rusqlite::types::ValueRef;
        let p = &self.path;
        let mut keys: HashMap<i64, String> = {
            let mut st = self
                .conn
                .prepare("SELECT id, name FROM metric_keys")
                .at(p)?;
            let rows = st
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .and_then(|it| it.collect());
            rows.at(p)?
        };
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT key_id, step, value FROM metrics WHERE run_id = ?1 ORDER BY key_id, step",
            )
            .at(p)?;
        let mut points: Vec<(u64, f64)> = Vec::new();
        for &run in runs {
            let mut rows = st.query([run.0]).at(p)?;
            let mut current: Option<i64> = None;
            while let Some(row) = rows.next().at(p)? {
                // Typed access without conversions: this loop runs once per point.
                let int = |i: usize| match row.get_ref(i)? {
                    ValueRef::Integer(v) => Ok(v),
                    other => Err(rusqlite::Error::InvalidColumnType(
                        i,
                        "integer".into(),
                        other.data_type(),
                    )),
                };
                let (key, step) = (int(0).at(p)?, int(1).at(p)?);
                let value = match row.get_ref(2).at(p)? {
                    ValueRef::Real(v) => v,
                    // SQLite stores whole REALs as integers.
                    ValueRef::Integer(v) => v as f64,
                    _ => value_from_sql(None),
                };
                if current != Some(key) {
                    if let Some(k) = current {
                        visit(run, &keys[&k], &points);
                        points.clear();
                    }
                    if let std::collections::hash_map::Entry::Vacant(slot) = keys.entry(key) {
                        // Interned by a writer after the names were read.
                        let name: String = self
                            .conn
                            .query_row("SELECT name FROM metric_keys WHERE id = ?1", [key], |r| {
                                r.get(0)
                            })
                            .at(p)?;
                        slot.insert(name);
                    }
                    current = Some(key);
                }
                points.push((step as u64, value));
            }
            if let Some(k) = current {
                visit(run, &keys[&k], &points);
                points.clear();
            }
        }
        Ok(())
    }
}
