//! The run folder: everything of one sweep version's Slurm run, beside the main database, on the
//! filesystem that the submitting machine and the nodes share.

use std::path::{Path, PathBuf};

use ganbench_store::layout::file_name;
use serde::{Deserialize, Serialize};

use crate::SlurmError;

/// `DB.slurm/SWEEP-vVERSION/` beside the main database `DB.sqlite`:
///
/// ```text
/// submission.json        what was submitted (Submission): counts, job ids, the command
/// array.sbatch           the array's script;  merge.sbatch: the merge job's
/// shards/task-I.sqlite   task I's database; its checkpoints in shards/task-I.runs/
/// logs/task-I.out        task I's output, appended across requeues; logs/merge-JOB.out
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunFolder {
    root: PathBuf,
}

impl RunFolder {
    /// The run folder of version `version` of sweep `sweep` whose main database is `db`.
    pub fn new(db: &Path, sweep: &str, version: u32) -> Self {
        let root = db
            .with_extension("slurm")
            .join(format!("{}-v{version}", file_name(sweep)));
        Self { root }
    }

    /// The run folder of `sweep`'s newest submitted version (the highest `-vN` with a
    /// submission record), if any.
    pub fn latest(db: &Path, sweep: &str) -> Option<Self> {
        let prefix = format!("{}-v", file_name(sweep));
        let parent = db.with_extension("slurm");
        let mut best: Option<(u32, Self)> = None;
        for entry in std::fs::read_dir(&parent).ok()?.flatten() {
            let name = entry.file_name();
            let Some(version) = name
                .to_str()
                .and_then(|n| n.strip_prefix(&prefix))
                .and_then(|v| v.parse::<u32>().ok())
            else {
                continue;
            };
            let folder = Self::new(db, sweep, version);
            let ours = folder.load().is_ok_and(|s| s.sweep == sweep);
            if ours && best.as_ref().is_none_or(|(v, _)| version > *v) {
                best = Some((version, folder));
            }
        }
        best.map(|(_, folder)| folder)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn array_script(&self) -> PathBuf {
        self.root.join("array.sbatch")
    }

    pub fn merge_script(&self) -> PathBuf {
        self.root.join("merge.sbatch")
    }

    pub fn shards_dir(&self) -> PathBuf {
        self.root.join("shards")
    }

    pub fn logs_dir(&self) -> PathBuf {
        self.root.join("logs")
    }

    /// Task `task`'s database (its checkpoints go beside it, in `task-I.runs/`).
    pub fn shard(&self, task: usize) -> PathBuf {
        self.shards_dir().join(format!("task-{task}.sqlite"))
    }

    fn record(&self) -> PathBuf {
        self.root.join("submission.json")
    }

    /// Creates the folder and its `shards/` and `logs/`.
    pub fn create(&self) -> Result<(), SlurmError> {
        for dir in [self.shards_dir(), self.logs_dir()] {
            std::fs::create_dir_all(&dir)
                .map_err(|source| SlurmError::Write { path: dir, source })?;
        }
        Ok(())
    }

    /// The shards that exist, as (task, path), by task number.
    pub fn shards(&self) -> Result<Vec<(usize, PathBuf)>, SlurmError> {
        let dir = self.shards_dir();
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => return Err(SlurmError::Read { path: dir, source }),
        };
        let mut shards = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|source| SlurmError::Read {
                path: dir.clone(),
                source,
            })?;
            let name = entry.file_name();
            let task = name
                .to_str()
                .and_then(|n| n.strip_prefix("task-"))
                .and_then(|n| n.strip_suffix(".sqlite"))
                .and_then(|n| n.parse::<usize>().ok());
            if let Some(task) = task {
                shards.push((task, entry.path()));
            }
        }
        shards.sort();
        Ok(shards)
    }

    /// Saves what was submitted (atomically: written beside, then renamed).
    pub fn save(&self, submission: &Submission) -> Result<(), SlurmError> {
        let path = self.record();
        let tmp = path.with_extension("json.tmp");
        let text = serde_json::to_string_pretty(submission).expect("a submission serializes");
        std::fs::write(&tmp, text + "\n")
            .and_then(|()| std::fs::rename(&tmp, &path))
            .map_err(|source| SlurmError::Write { path, source })
    }

    /// What was submitted, if anything was.
    pub fn load(&self) -> Result<Submission, SlurmError> {
        let path = self.record();
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(SlurmError::NotSubmitted {
                    folder: self.root.clone(),
                })
            }
            Err(source) => return Err(SlurmError::Read { path, source }),
        };
        serde_json::from_str(&text).map_err(|e| SlurmError::BadRecord {
            path,
            cause: e.to_string(),
        })
    }
}

/// What `ganbench slurm submit` submitted, kept in the run folder for `status`, `resubmit` and
/// `merge`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Submission {
    /// The sweep's name and the version the main database stores its spec as.
    pub sweep: String,
    pub version: u32,
    /// The spec hash every shard must carry (a shard of another spec is refused at merge).
    pub spec_hash: String,
    /// The sweep file, absolute (the tasks read it; it must be on the shared filesystem).
    pub sweep_file: PathBuf,
    /// The main database, absolute.
    pub db: PathBuf,
    /// Trials in the sweep, and array tasks they are shared among (`--task I/N`).
    pub trials: usize,
    pub tasks: usize,
    /// `--array-parallelism`, kept for resubmissions (whose `--array` replaces the script's).
    #[serde(default)]
    pub array_parallelism: Option<usize>,
    /// Job ids, oldest first: the array as first submitted, then each resubmission.
    pub array_jobs: Vec<String>,
    /// The merge jobs, one per array submission.
    pub merge_jobs: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lives_beside_the_database_and_lists_shards_by_task() {
        let tmp = tempfile::tempdir().unwrap();
        let folder = RunFolder::new(&tmp.path().join("lab.sqlite"), "my sweep/2", 3);
        assert_eq!(folder.root(), tmp.path().join("lab.slurm/my_sweep_2-v3"));
        assert!(matches!(
            folder.load(),
            Err(SlurmError::NotSubmitted { .. })
        ));
        folder.create().unwrap();
        for task in [10, 2, 0] {
            std::fs::write(folder.shard(task), b"").unwrap();
        }
        std::fs::create_dir(folder.shards_dir().join("task-2.runs")).unwrap();
        std::fs::write(folder.shards_dir().join("task-x.sqlite"), b"").unwrap();
        let tasks: Vec<usize> = folder
            .shards()
            .unwrap()
            .into_iter()
            .map(|(t, _)| t)
            .collect();
        assert_eq!(tasks, [0, 2, 10]);
        let submission = Submission {
            sweep: "my sweep/2".into(),
            version: 3,
            spec_hash: "abc".into(),
            sweep_file: "/x/s.ron".into(),
            db: tmp.path().join("lab.sqlite"),
            trials: 12,
            tasks: 12,
            array_parallelism: Some(4),
            array_jobs: vec!["7".into()],
            merge_jobs: vec!["8".into()],
        };
        folder.save(&submission).unwrap();
        assert_eq!(folder.load().unwrap(), submission);
        // The newest version with a record of this sweep; a folder without one does not count.
        let db = tmp.path().join("lab.sqlite");
        RunFolder::new(&db, "my sweep/2", 7).create().unwrap();
        assert_eq!(RunFolder::latest(&db, "my sweep/2"), Some(folder.clone()));
        let v1 = RunFolder::new(&db, "my sweep/2", 1);
        v1.create().unwrap();
        v1.save(&Submission {
            version: 1,
            ..submission.clone()
        })
        .unwrap();
        assert_eq!(RunFolder::latest(&db, "my sweep/2"), Some(folder));
        assert_eq!(RunFolder::latest(&db, "other"), None);
    }
}
