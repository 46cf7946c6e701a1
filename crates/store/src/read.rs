//! Queries for the CLI and the report. All return plain serde-serializable rows.

use std::path::Path;

use rusqlite::{params, OptionalExtension, Row};

use crate::error::{AtPath, Result, StoreError};
use crate::types::{
    Artifact, Event, ExportRow, LastValue, Point, Run, RunDetails, RunId, Status, StatusCounts, Sweep,
    SweepId, SweepSummary,
};
use crate::{value_from_sql, Store};

const RUN_COLS: &str = "id, sweep_id, trial_key, label, plugin, params_json, seed, status, step, total_steps, \
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
        status: status
            .parse()
            .map_err(|e: StoreError| rusqlite::Error::FromSqlConversionFailure(7, rusqlite::types::Type::Text, e.into()))?,
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

fn sweep_from_row(r: &Row<'_>) -> rusqlite::Result<Sweep> {
    Ok(Sweep {
        id: SweepId(r.get(0)?),
        name: r.get(1)?,
        version: r.get(2)?,
        spec_text: r.get(3)?,
        spec_hash: r.get(4)?,
        created_at_ms: r.get(5)?,
    })
}

impl Store {
    /// Every sweep version, oldest first, with run counts per status.
    pub fn list_sweeps(&self) -> Result<Vec<SweepSummary>> {
        let p = &self.path;
        let mut st = self
            .conn
            .prepare("SELECT id, name, version, spec_hash, created_at FROM sweeps ORDER BY id")
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
    pub fn sweep(&self, id: SweepId) -> Result<Sweep> {
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
    pub fn find_sweep(&self, name: &str, version: Option<u32>) -> Result<Option<Sweep>> {
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
            .prepare_cached(&format!("SELECT {RUN_COLS} FROM runs WHERE sweep_id = ?1 ORDER BY id"))
            .at(&self.path)?;
        st.query_map([sweep.0], run_from_row).and_then(|it| it.collect()).at(&self.path)
    }

    /// One run.
    pub fn run(&self, run: RunId) -> Result<Run> {
        self.conn
            .query_row(&format!("SELECT {RUN_COLS} FROM runs WHERE id = ?1"), [run.0], run_from_row)
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
            .query_map([run.0], |r| Ok(Event { run_id: run, at_ms: r.get(0)?, kind: r.get(1)?, message: r.get(2)? }))
            .and_then(|it| it.collect())
            .at(p)?;
        Ok(RunDetails { run: info, events, artifacts: self.artifacts(run)? })
    }

    /// The artifacts of a run, by step.
    pub fn artifacts(&self, run: RunId) -> Result<Vec<Artifact>> {
        let mut st = self
            .conn
            .prepare_cached("SELECT step, kind, path FROM artifacts WHERE run_id = ?1 ORDER BY step, id")
            .at(&self.path)?;
        st.query_map([run.0], |r| {
            Ok(Artifact { run_id: run, step: r.get::<_, i64>(0)? as u64, kind: r.get(1)?, path: r.get(2)? })
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
            Ok(Point { step: r.get::<_, i64>(0)? as u64, value: value_from_sql(r.get(1)?), wall_ms: r.get(2)? })
        })
        .and_then(|it| it.collect())
        .at(&self.path)
    }

    /// For every run of the sweep and every metric it logged: the value at its highest step.
    /// Ordered by run id, then metric name. One index seek per (run, metric), not a scan.
    pub fn last_values(&self, sweep: SweepId) -> Result<Vec<LastValue>> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT x.run_id, k.name, m.step, m.value
                 FROM (SELECT r.id AS run_id, k.id AS key_id,
                              (SELECT MAX(step) FROM metrics WHERE run_id = r.id AND key_id = k.id) AS last
                       FROM runs r CROSS JOIN metric_keys k WHERE r.sweep_id = ?1) x
                 JOIN metrics m ON m.run_id = x.run_id AND m.key_id = x.key_id AND m.step = x.last
                 JOIN metric_keys k ON k.id = x.key_id
                 ORDER BY x.run_id, k.name",
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
                 WHERE EXISTS (SELECT 1 FROM runs r JOIN metrics m ON m.run_id = r.id AND m.key_id = k.id
                               WHERE r.sweep_id = ?1)
                 ORDER BY k.name",
            )
            .at(&self.path)?;
        st.query_map([sweep.0], |r| r.get(0)).and_then(|it| it.collect()).at(&self.path)
    }

    /// Every metric point of the sweep with its run's identity, for CSV/JSONL export, ordered
    /// by run, metric (in first-logged order), step. Streams in pages, so memory stays flat for
    /// large sweeps.
    pub fn export_rows(&self, sweep: SweepId) -> Result<ExportIter<'_>> {
        let s = self.sweep(sweep)?;
        Ok(ExportIter { store: self, sweep: s, after: (i64::MIN, i64::MIN, i64::MIN), page: Vec::new(), done: false })
    }
}

/// Iterator of [`ExportRow`]s from [`Store::export_rows`]. Reads pages of rows by keyset (the
/// metrics primary key), because a rusqlite cursor cannot outlive a borrow of its statement.
pub struct ExportIter<'a> {
    store: &'a Store,
    sweep: Sweep,
    after: (i64, i64, i64),
    page: Vec<ExportRow>,
    done: bool,
}

const EXPORT_PAGE: i64 = 10_000;

impl ExportIter<'_> {
    fn fill(&mut self) -> Result<()> {
        let p: &Path = &self.store.path;
        let mut st = self
            .store
            .conn
            .prepare_cached(
                "SELECT m.run_id, m.key_id, m.step, m.value, m.wall_ms, r.trial_key, r.plugin, r.label, r.seed, k.name
                 FROM metrics m JOIN runs r ON r.id = m.run_id JOIN metric_keys k ON k.id = m.key_id
                 WHERE r.sweep_id = ?1 AND (m.run_id, m.key_id, m.step) > (?2, ?3, ?4)
                 ORDER BY m.run_id, m.key_id, m.step LIMIT ?5",
            )
            .at(p)?;
        let (a, b, c) = self.after;
        let mut last = self.after;
        let sweep = &self.sweep;
        let rows: Vec<ExportRow> = st
            .query_map(params![sweep.id.0, a, b, c, EXPORT_PAGE], |r| {
                last = (r.get(0)?, r.get(1)?, r.get(2)?);
                Ok(ExportRow {
                    sweep: sweep.name.clone(),
                    sweep_version: sweep.version,
                    run_id: RunId(last.0),
                    trial_key: r.get(5)?,
                    plugin: r.get(6)?,
                    label: r.get(7)?,
                    seed: r.get::<_, i64>(8)? as u64,
                    metric: r.get(9)?,
                    step: last.2 as u64,
                    value: value_from_sql(r.get(3)?),
                    wall_ms: r.get(4)?,
                })
            })
            .and_then(|it| it.collect())
            .at(p)?;
        self.done = (rows.len() as i64) < EXPORT_PAGE;
        self.after = last;
        self.page = rows;
        self.page.reverse(); // pop() from the end
        Ok(())
    }
}

impl Iterator for ExportIter<'_> {
    type Item = Result<ExportRow>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.page.is_empty() {
            if self.done {
                return None;
            }
            if let Err(e) = self.fill() {
                self.done = true;
                return Some(Err(e));
            }
        }
        self.page.pop().map(Ok)
    }
}
