//! Checkpoint directories that are either complete or invisible.
//!
//! A checkpoint is written into `.tmp-step-N/` and every file is synced ([`write_pending`]); it
//! becomes visible when [`commit`] renames the directory to `step-N/` (atomic on POSIX file
//! systems). The two halves are separate so that whoever logs a run's metrics can commit a
//! checkpoint only once the metrics up to its step are durable: a resumed run then never misses a
//! logged step. A kill at any point leaves either the old newest checkpoint or the new one;
//! half-written or uncommitted `.tmp-*` directories are ignored and cleaned up. Only the newest
//! checkpoint is kept.

use std::fs;
use std::path::{Path, PathBuf};

use crate::trial::HostState;

const PREFIX: &str = "step-";
const TMP_PREFIX: &str = ".tmp-step-";
const HOST_FILE: &str = "host.json";
const PLUGIN_DIR: &str = "plugin";

/// Where the plugin's own files of a checkpoint live.
pub fn plugin_dir(checkpoint: &Path) -> PathBuf {
    checkpoint.join(PLUGIN_DIR)
}

/// The newest complete checkpoint in `dir`: (step, path).
pub fn latest(dir: &Path) -> Result<Option<(u64, PathBuf)>, String> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
    let mut best: Option<(u64, PathBuf)> = None;
    for entry in entries {
        let entry = entry.map_err(|e| e.to_string())?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(step) = name
            .strip_prefix(PREFIX)
            .and_then(|n| n.parse::<u64>().ok())
        {
            if best.as_ref().is_none_or(|(b, _)| step > *b) {
                best = Some((step, entry.path()));
            }
        }
    }
    Ok(best)
}

pub fn read_host(checkpoint: &Path) -> Result<HostState, String> {
    let path = checkpoint.join(HOST_FILE);
    let text = fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Writes the checkpoint of `step` and commits it at once.
pub fn write(
    dir: &Path,
    step: u64,
    host: &HostState,
    save_plugin: impl FnOnce(&Path) -> Result<(), String>,
) -> Result<PathBuf, String> {
    let pending = write_pending(dir, step, host, save_plugin)?;
    commit(dir, step, &pending)
}

/// Writes the checkpoint of `step` into an invisible directory; `save_plugin` fills the plugin's
/// part. Returns that directory. Its name carries the process id, so that a worker orphaned by a
/// killed sweep can never write into the directory its successor is about to commit.
pub fn write_pending(
    dir: &Path,
    step: u64,
    host: &HostState,
    save_plugin: impl FnOnce(&Path) -> Result<(), String>,
) -> Result<PathBuf, String> {
    fs::create_dir_all(dir).map_err(io)?;
    let tmp = dir.join(format!("{TMP_PREFIX}{step}-{}", std::process::id()));
    if tmp.exists() {
        fs::remove_dir_all(&tmp).map_err(io)?;
    }
    fs::create_dir_all(plugin_dir(&tmp)).map_err(io)?;
    save_plugin(&plugin_dir(&tmp))?;
    let host_json = serde_json::to_vec_pretty(host).map_err(|e| e.to_string())?;
    fs::write(tmp.join(HOST_FILE), host_json).map_err(io)?;
    sync_tree(&tmp).map_err(io)?;
    Ok(tmp)
}

/// Makes `pending` (from [`write_pending`] for `step`) the newest visible checkpoint and removes
/// older ones.
pub fn commit(dir: &Path, step: u64, pending: &Path) -> Result<PathBuf, String> {
    let done = dir.join(format!("{PREFIX}{step}"));
    if done.exists() {
        fs::remove_dir_all(&done).map_err(io)?;
    }
    fs::rename(pending, &done).map_err(|e| format!("committing {}: {e}", pending.display()))?;
    sync_dir(dir).map_err(io)?;

    // The new checkpoint is durable: older ones and leftovers of killed writes can go.
    for entry in fs::read_dir(dir).map_err(io)?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let committed = name
            .strip_prefix(PREFIX)
            .and_then(|n| n.parse::<u64>().ok());
        let pending = name
            .strip_prefix(TMP_PREFIX)
            .and_then(|n| n.split('-').next()?.parse::<u64>().ok());
        if committed.is_some_and(|s| s < step) || pending.is_some_and(|s| s <= step) {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
    Ok(done)
}

/// Removes every checkpoint of a trial (it finished, or starts over).
pub fn remove_all(dir: &Path) -> Result<(), String> {
    match fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(e)),
        _ => Ok(()),
    }
}

fn io(e: std::io::Error) -> String {
    e.to_string()
}

fn sync_tree(dir: &Path) -> std::io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            sync_tree(&path)?;
        } else {
            fs::File::open(&path)?.sync_all()?;
        }
    }
    sync_dir(dir)
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    // Directories can be fsynced on Unix; elsewhere the rename is the best we have.
    if cfg!(unix) {
        fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ganbench_data::{DataStream, Toy2d, ToyMixture};

    fn host(step: u64) -> HostState {
        let toy = ToyMixture::new("ring8".parse::<Toy2d>().unwrap()).unwrap();
        HostState {
            step,
            data: DataStream::new(toy, 1).state(),
        }
    }

    #[test]
    fn newest_complete_checkpoint_wins_and_old_ones_go() {
        let dir = tempfile::tempdir().unwrap();
        assert!(latest(dir.path()).unwrap().is_none());
        for step in [10, 20] {
            write(dir.path(), step, &host(step), |p| {
                fs::write(p.join("w"), step.to_string()).map_err(|e| e.to_string())
            })
            .unwrap();
        }
        // A write killed half-way, or never committed, leaves only a .tmp directory behind.
        write_pending(dir.path(), 30, &host(30), |_| Ok(())).unwrap();
        let (step, path) = latest(dir.path()).unwrap().unwrap();
        assert_eq!(step, 20);
        assert_eq!(read_host(&path).unwrap().step, 20);
        assert_eq!(
            fs::read_to_string(plugin_dir(&path).join("w")).unwrap(),
            "20"
        );
        assert!(!dir.path().join("step-10").exists());
    }

    #[test]
    fn a_failing_plugin_save_leaves_the_previous_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), 5, &host(5), |_| Ok(())).unwrap();
        let err = write(dir.path(), 6, &host(6), |_| Err("disk full".into())).unwrap_err();
        assert!(!dir.path().join("step-6").exists());
        assert_eq!(err, "disk full");
        assert_eq!(latest(dir.path()).unwrap().unwrap().0, 5);
    }
}
