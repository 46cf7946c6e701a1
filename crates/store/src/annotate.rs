//! What researchers add to their results by hand: tags and notes on sweeps and runs, archiving
//! and deleting sweeps. Metrics and events are never touched here, except by [`Store::delete_sweep`],
//! which removes a whole sweep version and everything of it.

use std::collections::BTreeMap;

use rusqlite::{params, OptionalExtension};
use serde::Serialize;

use crate::error::{AtPath, Result, StoreError};
use crate::types::{RunId, SweepId};
use crate::{now_ms, Store};

/// Longest tag, in characters.
pub const MAX_TAG_CHARS: usize = 64;
/// Longest note, in characters.
pub const MAX_NOTE_CHARS: usize = 10_000;

/// What a tag or a note is attached to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// A sweep version as a whole.
    Sweep(SweepId),
    /// One run.
    Run(RunId),
}

/// A note, with when it was written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Note {
    /// Id, in writing order.
    pub id: i64,
    /// The run it is about; `None` for a note on the sweep.
    pub run_id: Option<RunId>,
    /// Unix time in milliseconds.
    pub at_ms: i64,
    /// The text as written.
    pub text: String,
}

/// The tags and notes of one sweep version and of its runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Annotations {
    /// Tags of the sweep itself, sorted.
    pub sweep_tags: Vec<String>,
    /// Tags of each run that has any, sorted.
    pub run_tags: BTreeMap<RunId, Vec<String>>,
    /// Notes on the sweep and on its runs, in writing order.
    pub notes: Vec<Note>,
}

impl Annotations {
    /// The tags of `run`, without those of its sweep.
    pub fn tags_of(&self, run: RunId) -> &[String] {
        self.run_tags.get(&run).map_or(&[], Vec::as_slice)
    }

    /// The notes on the sweep itself.
    pub fn sweep_notes(&self) -> impl Iterator<Item = &Note> {
        self.notes.iter().filter(|n| n.run_id.is_none())
    }

    /// The notes on `run`.
    pub fn notes_of(&self, run: RunId) -> impl Iterator<Item = &Note> {
        self.notes.iter().filter(move |n| n.run_id == Some(run))
    }
}

/// What [`Store::delete_sweep`] removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Deleted {
    /// Runs.
    pub runs: u64,
    /// Metric points.
    pub points: u64,
}

/// Refuses a tag that would not survive a shell, a CSV cell or a `--where tag = …` unquoted.
fn check_tag(tag: &str) -> Result<()> {
    let problem = if tag.is_empty() {
        Some("it is empty")
    } else if tag.chars().count() > MAX_TAG_CHARS {
        Some("it is longer than 64 characters")
    } else if !tag
        .chars()
        .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | ':' | '/' | '+'))
    {
        Some("a tag is letters, digits and - _ . : / + only")
    } else {
        None
    };
    match problem {
        Some(problem) => Err(StoreError::BadAnnotation(format!(
            "tag `{}`: {problem}",
            tag.escape_debug()
        ))),
        None => Ok(()),
    }
}

fn check_note(text: &str) -> Result<()> {
    let problem = if text.trim().is_empty() {
        Some("it is empty".to_string())
    } else if text.chars().count() > MAX_NOTE_CHARS {
        Some(format!("it is longer than {MAX_NOTE_CHARS} characters"))
    } else if text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        Some("it holds a control character (only newlines and tabs are kept)".to_string())
    } else {
        None
    };
    match problem {
        Some(problem) => Err(StoreError::BadAnnotation(format!("note: {problem}"))),
        None => Ok(()),
    }
}

impl Store {
    /// The sweep and run id columns of a row about `target`; fails for an unknown run or sweep.
    fn target_ids(&self, target: Target) -> Result<(i64, Option<i64>)> {
        match target {
            Target::Sweep(sweep) => {
                self.sweep(sweep)?;
                Ok((sweep.0, None))
            }
            Target::Run(run) => Ok((self.run(run)?.sweep_id.0, Some(run.0))),
        }
    }

    /// Adds tags to `target`; a tag it already has is kept once. Returns how many were new.
    pub fn add_tags(&self, target: Target, tags: &[String]) -> Result<usize> {
        for tag in tags {
            check_tag(tag)?;
        }
        let (sweep, run) = self.target_ids(target)?;
        let mut added = 0;
        for tag in tags {
            added += self
                .conn
                .execute(
                    "INSERT OR IGNORE INTO tags (sweep_id, run_id, tag) VALUES (?1, ?2, ?3)",
                    params![sweep, run, tag],
                )
                .at(&self.path)?;
        }
        Ok(added)
    }

    /// Removes tags from `target`. Returns how many it had.
    pub fn remove_tags(&self, target: Target, tags: &[String]) -> Result<usize> {
        let (sweep, run) = self.target_ids(target)?;
        let mut removed = 0;
        for tag in tags {
            removed += self
                .conn
                .execute(
                    "DELETE FROM tags WHERE sweep_id = ?1 AND run_id IS ?2 AND tag = ?3",
                    params![sweep, run, tag],
                )
                .at(&self.path)?;
        }
        Ok(removed)
    }

    /// Adds a note to `target`.
    pub fn add_note(&self, target: Target, text: &str) -> Result<Note> {
        check_note(text)?;
        let (sweep, run) = self.target_ids(target)?;
        let at_ms = now_ms();
        self.conn
            .execute(
                "INSERT INTO notes (sweep_id, run_id, at, text) VALUES (?1, ?2, ?3, ?4)",
                params![sweep, run, at_ms, text],
            )
            .at(&self.path)?;
        Ok(Note {
            id: self.conn.last_insert_rowid(),
            run_id: run.map(RunId),
            at_ms,
            text: text.to_string(),
        })
    }

    /// The tags and notes of a sweep version and its runs.
    pub fn annotations(&self, sweep: SweepId) -> Result<Annotations> {
        let p = &self.path;
        let mut out = Annotations::default();
        let mut st = self
            .conn
            .prepare_cached("SELECT run_id, tag FROM tags WHERE sweep_id = ?1 ORDER BY tag")
            .at(p)?;
        let tags: Vec<(Option<i64>, String)> = st
            .query_map([sweep.0], |r| Ok((r.get(0)?, r.get(1)?)))
            .and_then(|it| it.collect())
            .at(p)?;
        for (run, tag) in tags {
            match run {
                None => out.sweep_tags.push(tag),
                Some(run) => out.run_tags.entry(RunId(run)).or_default().push(tag),
            }
        }
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT id, run_id, at, text FROM notes WHERE sweep_id = ?1 ORDER BY id",
            )
            .at(p)?;
        out.notes = st
            .query_map([sweep.0], |r| {
                Ok(Note {
                    id: r.get(0)?,
                    run_id: r.get::<_, Option<i64>>(1)?.map(RunId),
                    at_ms: r.get(2)?,
                    text: r.get(3)?,
                })
            })
            .and_then(|it| it.collect())
            .at(p)?;
        Ok(out)
    }

    /// Hides a sweep version from `ganbench ls` (`archived = true`) or shows it again. Nothing
    /// of it is removed.
    pub fn set_archived(&self, sweep: SweepId, archived: bool) -> Result<()> {
        self.sweep(sweep)?;
        let at = archived.then(now_ms);
        self.conn
            .execute(
                "UPDATE sweeps SET archived_at = ?2 WHERE id = ?1",
                params![sweep.0, at],
            )
            .at(&self.path)?;
        Ok(())
    }

    /// When the sweep version was archived, if it is.
    pub fn archived_at(&self, sweep: SweepId) -> Result<Option<i64>> {
        self.conn
            .query_row(
                "SELECT archived_at FROM sweeps WHERE id = ?1",
                [sweep.0],
                |r| r.get(0),
            )
            .optional()
            .at(&self.path)?
            .ok_or(StoreError::NoSuchSweep(sweep))
    }

    /// Deletes a sweep version with its runs, metrics, events, artifacts rows, tags and notes,
    /// in one transaction. Refuses while any of its runs is `running` under a live process
    /// ([`StoreError::SweepRunning`]): its worker would go on writing into nothing. Files on
    /// disk (checkpoints, samples) are the caller's to remove.
    pub fn delete_sweep(&self, sweep: SweepId) -> Result<Deleted> {
        let p = &self.path;
        let tx = self.conn.unchecked_transaction().at(p)?;
        self.sweep(sweep)?;
        let host = crate::host_name();
        let mut st = tx
            .prepare(
                "SELECT id, owner_pid, host FROM runs WHERE sweep_id = ?1 AND status = 'running'",
            )
            .at(p)?;
        let running: Vec<(i64, Option<i64>, Option<String>)> = st
            .query_map([sweep.0], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .and_then(|it| it.collect())
            .at(p)?;
        drop(st);
        // A run on another host, or without an owner, may be alive: only a dead local owner is
        // proof that nobody writes to it.
        let live: Vec<String> = running
            .iter()
            .filter(|(_, pid, h)| {
                h.as_deref() != Some(host.as_str())
                    || pid.is_none_or(|pid| crate::pid_is_alive(pid as u32))
            })
            .map(|(id, pid, h)| match (pid, h) {
                (Some(pid), Some(h)) => format!("run {id} (process {pid} on {h})"),
                _ => format!("run {id}"),
            })
            .collect();
        if !live.is_empty() {
            return Err(StoreError::SweepRunning(sweep, live.join(", ")));
        }
        let points: i64 = tx
            .query_row(
                "SELECT count(*) FROM runs r CROSS JOIN metrics m WHERE r.sweep_id = ?1 AND m.run_id = r.id",
                [sweep.0],
                |r| r.get(0),
            )
            .at(p)?;
        // Children first: the batched writer's connection runs without foreign keys, so do not
        // lean on ON DELETE CASCADE alone.
        for sql in [
            "DELETE FROM metrics WHERE run_id IN (SELECT id FROM runs WHERE sweep_id = ?1)",
            "DELETE FROM events WHERE run_id IN (SELECT id FROM runs WHERE sweep_id = ?1)",
            "DELETE FROM artifacts WHERE run_id IN (SELECT id FROM runs WHERE sweep_id = ?1)",
            "DELETE FROM tags WHERE sweep_id = ?1",
            "DELETE FROM notes WHERE sweep_id = ?1",
        ] {
            tx.execute(sql, [sweep.0]).at(p)?;
        }
        let runs = tx
            .execute("DELETE FROM runs WHERE sweep_id = ?1", [sweep.0])
            .at(p)?;
        tx.execute("DELETE FROM sweeps WHERE id = ?1", [sweep.0])
            .at(p)?;
        tx.commit().at(p)?;
        Ok(Deleted {
            runs: runs as u64,
            points: points as u64,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_refuse_what_a_shell_or_a_query_would_split() {
        for good in ["good", "paper-fig2", "lr:1e-4", "v1.2/final", "größe"] {
            assert!(check_tag(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "two words",
            "a,b",
            "x\u{1b}[2J",
            "quote\"",
            &"x".repeat(65),
        ] {
            assert!(check_tag(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn notes_keep_lines_and_refuse_control_characters() {
        assert!(check_note("first line\n\tsecond").is_ok());
        for bad in ["", "  \n", "bell\u{7}", &"x".repeat(MAX_NOTE_CHARS + 1)] {
            assert!(check_note(bad).is_err(), "{bad:?}");
        }
    }
}
