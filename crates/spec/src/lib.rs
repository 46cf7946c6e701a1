//! ganbench's sweep files: RON schema, validation with line:col errors, expansion to trials.
//!
//! ```text
//! Sweep::load(path)        syntax + schema            (ErrorKind::Syntax, UnknownField, WrongType…)
//!   .validate(&catalog)    semantics, before training (UnknownPlugin, UnknownParam, EmptyGrid…)
//!   .expand(&catalog)      variants × grid × search × seeds → Vec<Trial>, counted first
//!                          and refused above a limit (limits.rs holds every size limit)
//!   .spec_hash()           content hash; comments and whitespace do not count
//! ```
//!
//! docs/sweeps.md is the user's reference for the file format. No candle; the only I/O beyond
//! reading the sweep file is checking the data files an image dataset names (headers and sizes).

mod catalog;
mod data;
mod error;
mod expand;
mod hash;
mod label;
mod limits;
mod locate;
mod parse;
mod primary;
mod schema;
mod validate;

pub use catalog::PluginCatalog;
pub use error::{ErrorKind, Position, SpecError};
pub use expand::{render_value, Trial};
/// Parameter values, as the labels and trials of this crate hold them.
pub use ganbench_plugin_api::ParamValue;
pub use hash::{fnv1a64, spec_hash, trial_key};
pub use label::{configuration_labels, render_value_digits};
pub use limits::{
    DEFAULT_MAX_TRIALS, MAX_EVAL_SAMPLES, MAX_FILE_BYTES, MAX_LABEL_CHARS, MAX_PARAM_NAME_CHARS,
    MAX_PATH_BYTES, MAX_STEPS, MAX_STRING_VALUE_CHARS, MAX_TIMEOUT_SECS, MAX_VALUES,
};
pub use primary::{
    default_primary, known_metric, metric_direction, tie_break, Direction, KnownMetric, MetricData,
    Primary, KNOWN_METRICS,
};
pub use schema::{
    DataSpec, Device, Dist, Search, Seeds, Source, Sweep, Timeout, Variant, DEFAULT_EVAL_SAMPLES,
};
