//! Sweeps as Slurm job arrays: the run folder every node shares, the sbatch scripts, and what
//! `squeue` says about the array.
//!
//! Slurm schedules; ganbench only prepares, runs and merges. A sweep of T trials becomes an array
//! of N tasks (one per trial, or per group of trials); task I runs `ganbench run SWEEP --task I/N`
//! into a database of its own (SQLite is safe on one machine, not on a network filesystem), and a
//! job that depends on the array merges the shards into the main database and writes the report.
//!
//! ```text
//! folder.rs   RunFolder: DB.slurm/SWEEP-vV/{array.sbatch, merge.sbatch, submission.json,
//!             shards/task-I.sqlite (+ task-I.runs/ checkpoints), logs/}
//! script.rs   the array's and the merge job's sbatch scripts (requeue on USR1 before the limit)
//! queue.rs    sbatch, squeue and scontrol, run and read
//! ```
//!
//! This crate knows nothing of training: the binary expands the sweep and passes the counts.

mod error;
mod folder;
mod queue;
mod script;

pub use error::SlurmError;
pub use folder::{RunFolder, Submission};
pub use queue::{cancel, queue_states, requeue, submit, TaskState};
pub use script::{array_script, merge_script, quote, ArrayJob, Resources, TaskList};
