//! What can go wrong between ganbench and Slurm.

use std::path::PathBuf;

/// An error of the Slurm commands or of the run folder.
#[derive(Debug, thiserror::Error)]
pub enum SlurmError {
    #[error(
        "`{command}` is not installed here: submit from a machine of the Slurm cluster (a login \
         node), or pass --dry-run to see the script"
    )]
    NotInstalled { command: String },
    #[error("`{command}` failed ({status}): {stderr}")]
    Command {
        command: String,
        status: String,
        stderr: String,
    },
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{}: no Slurm submission of this sweep (no submission.json); submit it first with \
         `ganbench slurm submit SWEEP.ron`",
        folder.display()
    )]
    NotSubmitted { folder: PathBuf },
    #[error("{}: not a submission record ({cause}); submit again", path.display())]
    BadRecord { path: PathBuf, cause: String },
}
