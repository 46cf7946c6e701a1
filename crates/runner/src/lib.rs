//! Runs ganbench trials through plugins: the training loop, evaluation, divergence and checkpoints.
//!
//! The runner sees plugins only through `ganbench-plugin-api`'s host side; it never links candle.

pub mod checkpoint;
pub mod trial;

pub use trial::{eval_seed, run_trial, Control, Event, HostState, Observer, Outcome, TrialError, TrialPlan};
