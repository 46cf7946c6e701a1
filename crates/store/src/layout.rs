//! Where files beside a database go: `ganbench.sqlite` keeps its checkpoints and samples in
//! `ganbench.runs/NAME-vVERSION/TRIAL-KEY/`; and the one rule that turns a user's name into a
//! file name, for every folder ganbench names after a sweep, a label or a run.

use std::path::{Path, PathBuf};

/// The folder of checkpoints and samples of the database at `db`: `ganbench.sqlite` →
/// `ganbench.runs`.
pub fn runs_dir(db: &Path) -> PathBuf {
    db.with_extension("runs")
}

/// The folder of every trial of one sweep version (what `ganbench rm` removes).
pub fn sweep_dir(runs_dir: &Path, sweep: &str, version: u32) -> PathBuf {
    runs_dir.join(format!("{}-v{version}", file_name(sweep)))
}

/// Where a trial keeps its checkpoints and samples, under the sweep's folder.
pub fn trial_dir(runs_dir: &Path, sweep: &str, version: u32, trial_key: &str) -> PathBuf {
    sweep_dir(runs_dir, sweep, version).join(trial_key)
}

/// A file-name-safe form of a user-given name: letters, digits and `- _ .` kept, anything else
/// `_`; never empty, never hidden (a leading `.` gets a `_` before it). Changing the rule would
/// move existing checkpoint folders out of a resumed sweep's sight: keep it.
pub fn file_name(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() || s.starts_with('.') {
        format!("_{s}")
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_one_safe_path_component() {
        assert_eq!(file_name("GAN lr_d=1e-4"), "GAN_lr_d_1e-4");
        assert_eq!(file_name("../../etc/passwd"), "_.._.._etc_passwd");
        assert_eq!(file_name(".hidden"), "_.hidden");
        assert_eq!(file_name(""), "_");
        assert_eq!(file_name("grid25@2 größe"), "grid25_2_größe");
        assert_eq!(
            trial_dir(
                &runs_dir(Path::new("x/ganbench.sqlite")),
                "a/b",
                2,
                "gan-s0"
            ),
            Path::new("x/ganbench.runs/a_b-v2/gan-s0")
        );
    }
}
