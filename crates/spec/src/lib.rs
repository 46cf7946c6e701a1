//! ganbench's sweep files: RON schema, validation with line:col errors, expansion to trials.
//!
//! ```text
//! Sweep::load(path)        syntax + schema            (ErrorKind::Syntax, UnknownField, WrongType…)
//!   .validate(&catalog)    semantics, before training (UnknownPlugin, UnknownParam, EmptyGrid…)
//!   .expand(&catalog)      variants × grid × search × seeds → Vec<Trial>
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
mod locate;
mod parse;
mod schema;
mod validate;

pub use catalog::PluginCatalog;
pub use error::{ErrorKind, Position, SpecError};
pub use expand::{render_value, Trial};
pub use hash::{fnv1a64, spec_hash, trial_key};
pub use schema::{
    DataSpec, Device, Dist, Search, Seeds, Source, Sweep, Variant, DEFAULT_EVAL_SAMPLES,
};
