//! The boundary between the ganbench host and its model plugins: a C ABI over plain data, no candle.
//!
//! A plugin owns its whole candle world (model, loss, optimizer, backward, checkpoint); only plain
//! data crosses this boundary: parameters as JSON, batches and samples as f32 buffers with a shape,
//! metrics as (name, f64) pairs, errors as strings. The reason is measured, not stylistic: candle
//! tensors created in a dynamic library and used in the host get silently wrong gradients, because
//! each library has its own copy of candle's tensor-id counter (see design.md).
//!
//! - [`plugin`]: the traits a plugin implements ([`Plugin`], [`Trainer`]).
//! - [`abi`]: the `#[repr(C)]` declaration, its vtable and [`export_plugin!`].
//! - [`host`]: the host's safe wrapper, library loading and the [`Registry`].
//! - [`params`]: declared parameters and their validation.
//! - [`device`]: where a trial trains ([`Device`]), shared by the sweep file, the runner and
//!   the plugins.
//! - [`probe`]: loading a library in a child process first, so that one that crashes or hangs
//!   while loading is skipped instead of taking the host down.

pub mod abi;
pub mod device;
pub mod host;
pub mod params;
pub mod plugin;
pub mod probe;

pub use abi::{PluginDeclaration, ABI_VERSION, TOOLCHAIN_ID};
pub use device::{Device, UnknownDevice};
pub use host::{
    CallError, LoadError, Origin, PluginHandle, Registry, RegistryError, TrainerHandle,
};
pub use params::{ParamError, ParamKind, ParamSpec, ParamValue, Params};
pub use plugin::{
    Batch, Description, Metrics, Plugin, PluginError, PluginResult, Samples, Trainer, TrialConfig,
};

#[cfg(test)]
mod tests;
