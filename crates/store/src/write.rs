//! Synchronous writes on a [`Store`]: sweeps, runs, status, events, artifacts, truncation.
//! Each call is one (IMMEDIATE) transaction, so it is atomic and safe beside other processes.

use rusqlite::{params, OptionalExtension, Transaction, TransactionBehavior};

use crate::error::{AtPath, Result, StoreError};
use crate::types::{
    Artifact, EnsuredRun, NewRun, Registration, RunId, Status, SweepId, Truncated, KILLED_EVENT,
};
use crate::{now_ms, Store};

impl Store {
    /// IMMEDIATE: take the write lock at BEGIN. A DEFERRED transaction that reads and then
    /// writes can fail at once with SQLITE_BUSY (stale snapshot) instead of waiting.
    pub(crate) fn write_tx(&self) -> Result<Transaction<'_>> {
        Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate).at(&self.path)
    }

    /// Registers a sweep spec under `name`.
    ///
    /// - No sweep of that name: stores it as version 1 → `Created`.
    /// - Some version of that name has exactly this `spec_hash` → `Existing` (its id), so that
    ///   re-running a spec continues it, even after going back to an older spec.
    /// - Otherwise → [`StoreError::SpecChanged`] with both hashes: the CLI should suggest
    ///   `--new-version` (see [`Store::register_new_version`]).
    pub fn register_sweep(
        &self,
        name: &str,
        spec_text: &str,
        spec_hash: &str,
    ) -> Result<Registration> {
        let tx = self.write_tx()?;
        let registration = register_sweep_in(&tx, &self.path, name, spec_text, spec_hash)?;
        tx.commit().at(&self.path)?;
        Ok(registration)
    }

    /// Stores `spec_text` as a new version of `name` (newest + 1, or 1), always: this is what
    /// `--new-version` does. Its runs start from scratch.
    pub fn register_new_version(
        &self,
        name: &str,
        spec_text: &str,
        spec_hash: &str,
    ) -> Result<Registration> {
        let tx = self.write_tx()?;
        let registration = register_new_version_in(&tx, &self.path, name, spec_text, spec_hash)?;
        tx.commit().at(&self.path)?;
        Ok(registration)
    }

    /// Returns the run of `sweep` with `run.trial_key`, inserting it as `queued` if absent.
    /// Idempotent: re-running a sweep finds its runs again (their stored plugin, params, seed
    /// and build id are kept; only a missing `total_steps` is filled in). The result tells the
    /// runner whether to skip (terminal status), resume (interrupted, step > 0) or start.
    pub fn ensure_run(&self, sweep: SweepId, run: &NewRun<'_>) -> Result<EnsuredRun> {
        let p = &self.path;
        let tx = self.write_tx()?;
        let exists: bool = tx
            .query_row(
                "SELECT EXISTS(SELECT 1 FROM sweeps WHERE id = ?1)",
                [sweep.0],
                |r| r.get(0),
            )
            .at(p)?;
        if !exists {
            return Err(StoreError::NoSuchSweep(sweep));
        }
        let found = find_run(&tx, p, sweep, run.trial_key)?;
        let ensured = match found {
            Some(mut e) => {
                if let Some(total) = run.total_steps {
                    tx.execute(
                        "UPDATE runs SET total_steps = ?2 WHERE id = ?1 AND total_steps IS NULL",
                        params![e.id.0, total as i64],
                    )
                    .at(p)?;
                }
                e.created = false;
                e
            }
            None => {
                tx.execute(
                    "INSERT INTO runs (sweep_id, trial_key, label, plugin, params_json, seed, build_id, total_steps)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                    params![
                        sweep.0,
                        run.trial_key,
                        run.label,
                        run.plugin,
                        run.params_json,
                        run.seed as i64,
                        run.build_id,
                        run.total_steps.map(|t| t as i64)
                    ],
                )
                .at(p)?;
                EnsuredRun {
                    id: RunId(tx.last_insert_rowid()),
                    created: true,
                    status: Status::Queued,
                    step: 0,
                    build_id: run.build_id.to_owned(),
                }
            }
        };
        tx.commit().at(p)?;
        Ok(ensured)
    }

    /// Marks the run `running`, owned by process `pid` on `host` (records a "claimed" event).
    ///
    /// The status is checked in the same transaction as the claim, so whatever other processes
    /// did since the caller last looked, a result is never taken over:
    /// - another live owner has it running: [`StoreError::AlreadyRunning`] (so two
    ///   `ganbench run` processes on one sweep never train the same run);
    /// - it is finished or diverged: [`StoreError::RunEnded`], always;
    /// - it failed: [`StoreError::RunEnded`], unless `retry_failed_before` is given and the run
    ///   failed at or before that time (unix ms). `--retry-failed` passes the time its command
    ///   started: it retries the runs that had failed then, not one that a concurrent retry of
    ///   another process has just failed again.
    ///
    /// Claiming again with the same owner is a no-op.
    pub fn claim_run(
        &self,
        run: RunId,
        pid: u32,
        host: &str,
        retry_failed_before: Option<i64>,
    ) -> Result<()> {
        let p = &self.path;
        let tx = self.write_tx()?;
        type Row = (String, Option<u32>, Option<String>, i64, Option<i64>);
        let row: Option<Row> = tx
            .query_row(
                "SELECT status, owner_pid, host, step, ended_at FROM runs WHERE id = ?1",
                [run.0],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .optional()
            .at(p)?;
        let (status, owner, owner_host, step, ended_at) = row.ok_or(StoreError::NoSuchRun(run))?;
        let status: Status = status.parse()?;
        let ended = || StoreError::RunEnded {
            run,
            status,
            step: step as u64,
        };
        match status {
            Status::Running => {
                if owner == Some(pid) && owner_host.as_deref() == Some(host) {
                    return Ok(());
                }
                return Err(StoreError::AlreadyRunning {
                    run,
                    pid: owner.unwrap_or(0),
                    host: owner_host.unwrap_or_else(|| "?".to_owned()),
                });
            }
            Status::Finished | Status::Diverged => return Err(ended()),
            Status::Failed => {
                let retry = retry_failed_before
                    .is_some_and(|before| ended_at.is_none_or(|ended| ended <= before));
                if !retry {
                    return Err(ended());
                }
            }
            Status::Queued | Status::Interrupted => {}
        }
        let now = now_ms();
        tx.execute(
            "UPDATE runs SET status = 'running', owner_pid = ?2, host = ?3,
                 started_at = COALESCE(started_at, ?4), ended_at = NULL, error = NULL
             WHERE id = ?1",
            params![run.0, pid, host, now],
        )
        .at(p)?;
        insert_event(
            &tx,
            p,
            run,
            now,
            "claimed",
            &format!("claimed by process {pid} on {host} (was {status} at step {step})"),
        )?;
        tx.commit().at(p)
    }

    /// How many times the run's worker was killed from outside ([`KILLED_EVENT`]s) since it last
    /// failed: what bounds the resumption of a run that the out-of-memory killer ends every time.
    pub fn kills_since_failure(&self, run: RunId) -> Result<u32> {
        self.conn
            .query_row(
                "SELECT count(*) FROM events WHERE run_id = ?1 AND kind = ?2 AND id >
                     COALESCE((SELECT max(id) FROM events WHERE run_id = ?1 AND kind = 'failed'), 0)",
                params![run.0, KILLED_EVENT],
                |r| r.get(0),
            )
            .at(&self.path)
    }

    /// Sets the status only. `running`/`queued` clear `ended_at`, any other status sets it.
    /// Prefer [`Store::claim_run`] to start a run and [`Store::finish_run`] to end one.
    pub fn set_status(&self, run: RunId, status: Status) -> Result<()> {
        let n = self
            .conn
            .execute(
                "UPDATE runs SET status = ?2,
                     ended_at = CASE WHEN ?2 IN ('running', 'queued') THEN NULL ELSE ?3 END
                 WHERE id = ?1",
                params![run.0, status.as_str(), now_ms()],
            )
            .at(&self.path)?;
        if n == 0 {
            return Err(StoreError::NoSuchRun(run));
        }
        Ok(())
    }

    /// Ends a run: sets `status`, its last `step`, `error` and `ended_at`, and records an
    /// event whose kind is the status.
    pub fn finish_run(
        &self,
        run: RunId,
        status: Status,
        step: u64,
        error: Option<&str>,
    ) -> Result<()> {
        let tx = self.write_tx()?;
        finish_run_in(&tx, &self.path, run, status, step, error, now_ms())?;
        tx.commit().at(&self.path)
    }

    /// Records an event of a run (kind: short machine-readable word; message: for humans).
    pub fn record_event(&self, run: RunId, kind: &str, message: &str) -> Result<()> {
        insert_event(&self.conn, &self.path, run, now_ms(), kind, message)
    }

    /// Records a file produced by a run at `step`.
    pub fn record_artifact(&self, run: RunId, step: u64, kind: &str, path: &str) -> Result<()> {
        insert_artifact(&self.conn, &self.path, run, step, kind, path)
    }

    /// Deletes the run's metric points and artifact rows with step > `step`, and lowers its
    /// progress to `step`; records a "truncated" event. Call it when resuming from a checkpoint
    /// taken at `step`, before logging again, so that nothing is logged twice. Events are kept
    /// (they are the run's history). Returns what was removed; deleting artifact files is the
    /// caller's business. A finished or diverged run is refused ([`StoreError::RunEnded`]): its
    /// results are kept whatever the caller believes.
    pub fn truncate_after(&self, run: RunId, step: u64) -> Result<Truncated> {
        let p = &self.path;
        let s = step as i64;
        let tx = self.write_tx()?;
        let row: Option<(String, i64)> = tx
            .query_row(
                "SELECT status, step FROM runs WHERE id = ?1",
                [run.0],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .at(p)?;
        let (status, current) = row.ok_or(StoreError::NoSuchRun(run))?;
        let status: Status = status.parse()?;
        // Results are never deleted: only a run that is still to be trained can be rewound.
        if matches!(status, Status::Finished | Status::Diverged) {
            return Err(StoreError::RunEnded {
                run,
                status,
                step: current as u64,
            });
        }
        let artifacts: Vec<Artifact> = {
            let mut st = tx
                .prepare("SELECT step, kind, path FROM artifacts WHERE run_id = ?1 AND step > ?2 ORDER BY step, id")
                .at(p)?;
            let rows = st.query_map(params![run.0, s], |r| {
                Ok(Artifact {
                    run_id: run,
                    step: r.get::<_, i64>(0)? as u64,
                    kind: r.get(1)?,
                    path: r.get(2)?,
                })
            });
            rows.and_then(|it| it.collect()).at(p)?
        };
        tx.execute(
            "DELETE FROM artifacts WHERE run_id = ?1 AND step > ?2",
            params![run.0, s],
        )
        .at(p)?;
        let metrics = tx
            .execute(
                "DELETE FROM metrics WHERE run_id = ?1 AND step > ?2",
                params![run.0, s],
            )
            .at(p)?;
        tx.execute(
            "UPDATE runs SET step = MIN(step, ?2) WHERE id = ?1",
            params![run.0, s],
        )
        .at(p)?;
        insert_event(
            &tx,
            p,
            run,
            now_ms(),
            "truncated",
            &format!(
                "removed {metrics} metric point(s) and {} artifact(s) after step {step}",
                artifacts.len()
            ),
        )?;
        tx.commit().at(p)?;
        Ok(Truncated { metrics, artifacts })
    }

    /// Marks `interrupted` every run left `running` on `host` by a process that `is_alive`
    /// says is gone (or with no recorded owner), with an "interrupted" event; returns how many.
    /// Call it at startup before claiming runs. Runs owned by another host are left alone:
    /// their pids mean nothing here. [`crate::pid_is_alive`] is a suitable `is_alive`.
    pub fn mark_orphans_interrupted(
        &self,
        host: &str,
        is_alive: impl Fn(u32) -> bool,
    ) -> Result<usize> {
        self.interrupt_running(|owner_host, pid| {
            let here = owner_host.is_none_or(|h| h == host);
            here && pid.is_none_or(|pid| !is_alive(pid))
        })
    }

    /// Marks `interrupted` every run left `running`, whichever host and process owned it: for a
    /// database with one writer at a time, such as a Slurm array task's shard, where a run left
    /// running is the work of an earlier instance of the same task, dead now even if it ran on
    /// another node (whose pids mean nothing here). Returns how many.
    pub fn mark_all_running_interrupted(&self) -> Result<usize> {
        self.interrupt_running(|_, _| true)
    }

    fn interrupt_running(&self, gone: impl Fn(Option<&str>, Option<u32>) -> bool) -> Result<usize> {
        let p = &self.path;
        let tx = self.write_tx()?;
        let running: Vec<(i64, Option<u32>, Option<String>, i64)> = {
            let mut st = tx
                .prepare("SELECT id, owner_pid, host, step FROM runs WHERE status = 'running' ORDER BY id")
                .at(p)?;
            let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)));
            rows.and_then(|it| it.collect()).at(p)?
        };
        let now = now_ms();
        let mut marked = 0;
        for (id, pid, owner_host, step) in running {
            if !gone(owner_host.as_deref(), pid) {
                continue;
            }
            tx.execute(
                "UPDATE runs SET status = 'interrupted', ended_at = ?2 WHERE id = ?1",
                params![id, now],
            )
            .at(p)?;
            let who = match (pid, &owner_host) {
                (Some(pid), Some(host)) => format!("process {pid} on {host}"),
                (Some(pid), None) => format!("process {pid}"),
                (None, _) => "its process (not recorded)".to_owned(),
            };
            insert_event(
                &tx,
                p,
                RunId(id),
                now,
                "interrupted",
                &format!("{who} is gone; marked interrupted at step {step}"),
            )?;
            marked += 1;
        }
        tx.commit().at(p)?;
        Ok(marked)
    }
}

/// [`Store::register_sweep`] inside the caller's transaction (a merge registers a shard's sweep
/// in the same transaction as its runs).
pub(crate) fn register_sweep_in(
    tx: &Transaction<'_>,
    p: &std::path::Path,
    name: &str,
    spec_text: &str,
    spec_hash: &str,
) -> Result<Registration> {
    let same: Option<(i64, u32)> = tx
        .query_row(
            "SELECT id, version FROM sweeps WHERE name = ?1 AND spec_hash = ?2 ORDER BY version DESC LIMIT 1",
            params![name, spec_hash],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .at(p)?;
    if let Some((id, version)) = same {
        return Ok(Registration::Existing {
            id: SweepId(id),
            version,
        });
    }
    let latest: Option<(u32, String)> = tx
        .query_row(
            "SELECT version, spec_hash FROM sweeps WHERE name = ?1 ORDER BY version DESC LIMIT 1",
            [name],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .at(p)?;
    if let Some((version, stored_hash)) = latest {
        return Err(StoreError::SpecChanged {
            name: name.to_owned(),
            version,
            stored_hash,
            new_hash: spec_hash.to_owned(),
        });
    }
    let id = insert_sweep(tx, p, name, 1, spec_text, spec_hash)?;
    Ok(Registration::Created { id, version: 1 })
}

/// [`Store::register_new_version`] inside the caller's transaction.
pub(crate) fn register_new_version_in(
    tx: &Transaction<'_>,
    p: &std::path::Path,
    name: &str,
    spec_text: &str,
    spec_hash: &str,
) -> Result<Registration> {
    let version: u32 = tx
        .query_row(
            "SELECT COALESCE(MAX(version), 0) + 1 FROM sweeps WHERE name = ?1",
            [name],
            |r| r.get(0),
        )
        .at(p)?;
    let id = insert_sweep(tx, p, name, version, spec_text, spec_hash)?;
    Ok(Registration::Created { id, version })
}

fn insert_sweep(
    tx: &Transaction<'_>,
    p: &std::path::Path,
    name: &str,
    version: u32,
    spec_text: &str,
    spec_hash: &str,
) -> Result<SweepId> {
    tx.execute(
        "INSERT INTO sweeps (name, version, spec_text, spec_hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![name, version, spec_text, spec_hash, now_ms()],
    )
    .at(p)?;
    Ok(SweepId(tx.last_insert_rowid()))
}

fn find_run(
    tx: &Transaction<'_>,
    p: &std::path::Path,
    sweep: SweepId,
    key: &str,
) -> Result<Option<EnsuredRun>> {
    let row: Option<(i64, String, i64, String)> = tx
        .query_row(
            "SELECT id, status, step, build_id FROM runs WHERE sweep_id = ?1 AND trial_key = ?2",
            params![sweep.0, key],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()
        .at(p)?;
    row.map(|(id, status, step, build_id)| {
        Ok(EnsuredRun {
            id: RunId(id),
            created: false,
            status: status.parse()?,
            step: step as u64,
            build_id,
        })
    })
    .transpose()
}

pub(crate) fn finish_run_in(
    conn: &rusqlite::Connection,
    p: &std::path::Path,
    run: RunId,
    status: Status,
    step: u64,
    error: Option<&str>,
    now: i64,
) -> Result<()> {
    let n = conn
        .execute(
            "UPDATE runs SET status = ?2, step = ?3, error = ?4, ended_at = ?5 WHERE id = ?1",
            params![run.0, status.as_str(), step as i64, error, now],
        )
        .at(p)?;
    if n == 0 {
        return Err(StoreError::NoSuchRun(run));
    }
    let message = match error {
        Some(e) => format!("at step {step}: {e}"),
        None => format!("at step {step}"),
    };
    insert_event(conn, p, run, now, status.as_str(), &message)
}

pub(crate) fn insert_event(
    conn: &rusqlite::Connection,
    p: &std::path::Path,
    run: RunId,
    at: i64,
    kind: &str,
    message: &str,
) -> Result<()> {
    conn.prepare_cached("INSERT INTO events (run_id, at, kind, message) VALUES (?1, ?2, ?3, ?4)")
        .and_then(|mut st| st.execute(params![run.0, at, kind, message]))
        .map_err(|e| no_such_run_on_fk(e, run, p))?;
    Ok(())
}

pub(crate) fn insert_artifact(
    conn: &rusqlite::Connection,
    p: &std::path::Path,
    run: RunId,
    step: u64,
    kind: &str,
    path: &str,
) -> Result<()> {
    conn.prepare_cached("INSERT INTO artifacts (run_id, step, kind, path) VALUES (?1, ?2, ?3, ?4)")
        .and_then(|mut st| st.execute(params![run.0, step as i64, kind, path]))
        .map_err(|e| no_such_run_on_fk(e, run, p))?;
    Ok(())
}

/// A foreign-key failure on a run_id column means the run does not exist: say that.
pub(crate) fn no_such_run_on_fk(e: rusqlite::Error, run: RunId, p: &std::path::Path) -> StoreError {
    if let rusqlite::Error::SqliteFailure(f, _) = &e {
        if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY {
            return StoreError::NoSuchRun(run);
        }
    }
    crate::error::classify(e, p)
}
