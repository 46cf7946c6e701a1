//! Runs ganbench trials and sweeps through plugins: training loop, worker processes, checkpoints.
//!
//! - [`trial`]: one trial's training loop (used in-process by `ganbench train`, and by workers).
//! - [`plan`]: a sweep's trials registered as runs, and the tasks of those left to train.
//! - [`sweep`]: a sweep's trials on worker subprocesses, streamed into the store.
//! - [`worker`] and [`protocol`]: the worker process and what it says to its parent.
//! - [`checkpoint`]: checkpoint directories that are either complete or invisible.
//!
//! The runner sees plugins only through `ganbench-plugin-api`'s host side; it never links candle.

pub mod checkpoint;
pub mod plan;
pub mod protocol;
pub mod sweep;
pub mod trial;
pub mod worker;

pub use trial::{
    eval_seed, run_trial, Control, Event, HostState, Observer, Outcome, TrialError, TrialPlan,
};
