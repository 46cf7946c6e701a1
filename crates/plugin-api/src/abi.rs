//! The C ABI: one `#[repr(C)]` declaration per plugin, exported under one symbol.
//!
//! Only plain data crosses: UTF-8 strings, f32 buffers with a shape, (name, f64) pairs. Output
//! flows through host-provided *sinks* (a context pointer and a callback that copies), so memory
//! allocated on one side is never freed on the other. Every function is `extern "C-unwind"` and
//! catches panics itself, returning them as errors.
//!
//! Layout rule: `abi_version` and `build_id` are the first two fields forever, so a host can read
//! them from a library of any version and refuse it cleanly.

use std::ffi::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use crate::plugin::{Batch, Plugin, PluginError, TrialConfig};

/// Bumped on any change to the layout or meaning of [`PluginDeclaration`].
/// (2: `reconstruct` appended to the vtable.)
pub const ABI_VERSION: u32 = 2;

/// The compiler, target and profile this crate was built with (see build.rs). The SDK appends
/// the candle version to make the full build id.
pub const TOOLCHAIN_ID: &str = env!("GANBENCH_TOOLCHAIN_ID");

/// The exported symbol's name is this prefix plus the library's crate name, so that several
/// plugins linked into one binary as built-ins never clash.
pub const SYMBOL_PREFIX: &str = "ganbench_plugin_";

/// Result of a boundary call.
pub type Status = i32;
pub const STATUS_OK: Status = 0;
pub const STATUS_ERROR: Status = 1;
pub const STATUS_PANIC: Status = 2;

/// A borrowed UTF-8 string.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct StrRef {
    pub ptr: *const u8,
    pub len: usize,
}

impl StrRef {
    pub const fn new(s: &str) -> Self {
        Self {
            ptr: s.as_ptr(),
            len: s.len(),
        }
    }

    /// # Safety
    /// `ptr..ptr+len` must be valid, initialized memory for the chosen lifetime.
    pub unsafe fn as_bytes<'a>(self) -> &'a [u8] {
        if self.len == 0 {
            &[]
        } else {
            std::slice::from_raw_parts(self.ptr, self.len)
        }
    }

    /// # Safety
    /// As [`StrRef::as_bytes`].
    pub unsafe fn to_string_lossy(self) -> String {
        String::from_utf8_lossy(self.as_bytes()).into_owned()
    }
}

/// Receives bytes (a UTF-8 string) from the other side; the callee copies them.
#[repr(C)]
pub struct ByteSink {
    pub ctx: *mut c_void,
    pub write: unsafe extern "C-unwind" fn(ctx: *mut c_void, ptr: *const u8, len: usize),
}

/// Receives (name, value) metric pairs, one call each.
#[repr(C)]
pub struct MetricSink {
    pub ctx: *mut c_void,
    pub push: unsafe extern "C-unwind" fn(ctx: *mut c_void, name: StrRef, value: f64),
}

/// A borrowed f32 tensor: `len` values, row-major, of shape `shape[..ndim]`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct TensorRef {
    pub data: *const f32,
    pub len: usize,
    pub shape: *const usize,
    pub ndim: usize,
}

/// Receives one tensor; the callee copies it.
#[repr(C)]
pub struct TensorSink {
    pub ctx: *mut c_void,
    pub write: unsafe extern "C-unwind" fn(ctx: *mut c_void, tensor: TensorRef),
}

/// Opaque per-trial state owned by the plugin.
pub type Handle = *mut c_void;

/// The functions of a plugin. All fallible ones write an error message to `err` on failure.
#[repr(C)]
pub struct PluginVTable {
    /// Writes the declared parameters as JSON (`Vec<ParamSpec>`).
    pub params: unsafe extern "C-unwind" fn(out: ByteSink, err: ByteSink) -> Status,
    /// Builds a trainer from a JSON [`TrialConfig`]; stores its handle in `*out`.
    pub create:
        unsafe extern "C-unwind" fn(config: StrRef, out: *mut Handle, err: ByteSink) -> Status,
    pub destroy: unsafe extern "C-unwind" fn(handle: Handle),
    pub rows_per_step: unsafe extern "C-unwind" fn(handle: Handle) -> usize,
    pub train_step: unsafe extern "C-unwind" fn(
        handle: Handle,
        batch: TensorRef,
        out: MetricSink,
        err: ByteSink,
    ) -> Status,
    pub evaluate: unsafe extern "C-unwind" fn(
        handle: Handle,
        batch: TensorRef,
        out: MetricSink,
        err: ByteSink,
    ) -> Status,
    pub sample: unsafe extern "C-unwind" fn(
        handle: Handle,
        n: usize,
        seed: u64,
        out: TensorSink,
        err: ByteSink,
    ) -> Status,
    pub save: unsafe extern "C-unwind" fn(handle: Handle, dir: StrRef, err: ByteSink) -> Status,
    pub load: unsafe extern "C-unwind" fn(handle: Handle, dir: StrRef, err: ByteSink) -> Status,
    /// Writes a JSON [`crate::Description`].
    pub describe:
        unsafe extern "C-unwind" fn(handle: Handle, out: ByteSink, err: ByteSink) -> Status,
    /// Writes the reconstructions of `batch` to `out`, or nothing when the model has none.
    pub reconstruct: unsafe extern "C-unwind" fn(
        handle: Handle,
        batch: TensorRef,
        out: TensorSink,
        err: ByteSink,
    ) -> Status,
}

/// What a plugin library exports (and what a built-in hands the registry directly).
#[repr(C)]
pub struct PluginDeclaration {
    /// Frozen: always the first field.
    pub abi_version: u32,
    /// Frozen: always the second field.
    pub build_id: StrRef,
    pub name: StrRef,
    pub version: StrRef,
    pub vtable: PluginVTable,
}

// SAFETY: a declaration is immutable static data: string pointers into 'static memory and fn pointers.
unsafe impl Sync for PluginDeclaration {}
unsafe impl Send for PluginDeclaration {}

impl PluginDeclaration {
    /// The declaration for plugin `P`; `build_id` must be `'static` (normally the SDK's `BUILD_ID`).
    pub const fn of<P: Plugin>(build_id: &'static str) -> Self {
        Self {
            abi_version: ABI_VERSION,
            build_id: StrRef::new(build_id),
            name: StrRef::new(P::NAME),
            version: StrRef::new(P::VERSION),
            vtable: PluginVTable {
                params: shim::params::<P>,
                create: shim::create::<P>,
                destroy: shim::destroy,
                rows_per_step: shim::rows_per_step,
                train_step: shim::train_step,
                evaluate: shim::evaluate,
                sample: shim::sample,
                save: shim::save,
                load: shim::load,
                describe: shim::describe,
                reconstruct: shim::reconstruct,
            },
        }
    }
}

/// Exports a [`Plugin`] implementation: defines `pub fn declaration()` (used to register it as a
/// built-in) and the C symbol `ganbench_plugin_<crate name>` (used when loaded as a library).
///
/// Plugin crates normally call the SDK's `ganbench_sdk::export_plugin!(MyPlugin)`, which supplies
/// the build id (toolchain + candle version).
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty, build_id = $build_id:expr) => {
        #[doc(hidden)]
        #[unsafe(export_name = concat!("ganbench_plugin_", env!("CARGO_CRATE_NAME")))]
        pub static __GANBENCH_PLUGIN_DECLARATION: $crate::PluginDeclaration =
            $crate::PluginDeclaration::of::<$plugin>($build_id);

        /// This plugin's declaration, for registering it as a built-in.
        pub fn declaration() -> &'static $crate::PluginDeclaration {
            &__GANBENCH_PLUGIN_DECLARATION
        }
    };
}

/// The plugin-side implementations behind the vtable: decode plain data, call the trait, encode.
mod shim {
    use super::*;
    use crate::plugin::Trainer;

    type Boxed = Box<dyn Trainer>;

    /// Runs `f`, turning errors and panics into a status and a message on `err`.
    fn guard(err: &ByteSink, f: impl FnOnce() -> Result<(), PluginError>) -> Status {
        match catch_unwind(AssertUnwindSafe(f)) {
            Ok(Ok(())) => STATUS_OK,
            Ok(Err(e)) => {
                write_str(err, &e.0);
                STATUS_ERROR
            }
            Err(payload) => {
                let msg = if let Some(s) = payload.downcast_ref::<&str>() {
                    s.to_string()
                } else if let Some(s) = payload.downcast_ref::<String>() {
                    s.clone()
                } else {
                    "unknown panic payload".to_string()
                };
                write_str(err, &format!("plugin panicked: {msg}"));
                STATUS_PANIC
            }
        }
    }

    fn write_str(sink: &ByteSink, s: &str) {
        // SAFETY: the host built this sink for exactly this call; it copies the bytes.
        unsafe { (sink.write)(sink.ctx, s.as_ptr(), s.len()) }
    }

    fn json_out(sink: &ByteSink, value: &impl serde::Serialize) -> Result<(), PluginError> {
        write_str(sink, &serde_json::to_string(value)?);
        Ok(())
    }

    /// # Safety
    /// `handle` came from `create` and was not destroyed.
    unsafe fn trainer<'a>(handle: Handle) -> &'a mut Boxed {
        &mut *(handle as *mut Boxed)
    }

    /// # Safety
    /// `t` points to valid data and shape arrays for the duration of the call.
    unsafe fn batch<'a>(t: TensorRef) -> Batch<'a> {
        let data = if t.len == 0 {
            &[][..]
        } else {
            std::slice::from_raw_parts(t.data, t.len)
        };
        let shape = if t.ndim == 0 {
            &[][..]
        } else {
            std::slice::from_raw_parts(t.shape, t.ndim)
        };
        Batch { data, shape }
    }

    fn utf8<'a>(s: StrRef) -> Result<&'a str, PluginError> {
        // SAFETY: the host passes a string valid for the call; we do not keep it past the call.
        std::str::from_utf8(unsafe { s.as_bytes() })
            .map_err(|_| PluginError::msg("argument is not UTF-8"))
    }

    pub unsafe extern "C-unwind" fn params<P: Plugin>(out: ByteSink, err: ByteSink) -> Status {
        guard(&err, || json_out(&out, &P::params()))
    }

    pub unsafe extern "C-unwind" fn create<P: Plugin>(
        config: StrRef,
        out: *mut Handle,
        err: ByteSink,
    ) -> Status {
        guard(&err, || {
            let config: TrialConfig = serde_json::from_str(utf8(config)?)?;
            let trainer: Boxed = P::create(&config)?;
            *out = Box::into_raw(Box::new(trainer)) as Handle;
            Ok(())
        })
    }

    pub unsafe extern "C-unwind" fn destroy(handle: Handle) {
        if !handle.is_null() {
            // Dropping must not unwind into the host: a panic in a destructor is swallowed.
            let _ = catch_unwind(AssertUnwindSafe(|| {
                drop(Box::from_raw(handle as *mut Boxed))
            }));
        }
    }

    pub unsafe extern "C-unwind" fn rows_per_step(handle: Handle) -> usize {
        catch_unwind(AssertUnwindSafe(|| trainer(handle).rows_per_step())).unwrap_or(0)
    }

    fn push_metrics(out: &MetricSink, metrics: &[(String, f64)]) {
        for (name, value) in metrics {
            // SAFETY: the host's sink copies the name during the call.
            unsafe { (out.push)(out.ctx, StrRef::new(name), *value) }
        }
    }

    pub unsafe extern "C-unwind" fn train_step(
        h: Handle,
        b: TensorRef,
        out: MetricSink,
        err: ByteSink,
    ) -> Status {
        guard(&err, || {
            let metrics = trainer(h).train_step(batch(b))?;
            push_metrics(&out, &metrics);
            Ok(())
        })
    }

    pub unsafe extern "C-unwind" fn evaluate(
        h: Handle,
        b: TensorRef,
        out: MetricSink,
        err: ByteSink,
    ) -> Status {
        guard(&err, || {
            let metrics = trainer(h).evaluate(batch(b))?;
            push_metrics(&out, &metrics);
            Ok(())
        })
    }

    pub unsafe extern "C-unwind" fn sample(
        h: Handle,
        n: usize,
        seed: u64,
        out: TensorSink,
        err: ByteSink,
    ) -> Status {
        guard(&err, || {
            write_samples("sample", &trainer(h).sample(n, seed)?, &out)
        })
    }

    pub unsafe extern "C-unwind" fn reconstruct(
        h: Handle,
        b: TensorRef,
        out: TensorSink,
        err: ByteSink,
    ) -> Status {
        guard(&err, || match trainer(h).reconstruct(batch(b))? {
            Some(s) => write_samples("reconstruct", &s, &out),
            None => Ok(()),
        })
    }

    /// Hands `s` to the host's sink after checking that its values fill its shape.
    fn write_samples(call: &str, s: &crate::Samples, out: &TensorSink) -> Result<(), PluginError> {
        let expected: usize = s.shape.iter().product();
        if expected != s.data.len() {
            return Err(PluginError::msg(format!(
                "{call} returned {} values for shape {:?}",
                s.data.len(),
                s.shape
            )));
        }
        let t = TensorRef {
            data: s.data.as_ptr(),
            len: s.data.len(),
            shape: s.shape.as_ptr(),
            ndim: s.shape.len(),
        };
        // SAFETY: the host's sink copies the tensor during the call.
        unsafe { (out.write)(out.ctx, t) };
        Ok(())
    }

    pub unsafe extern "C-unwind" fn save(h: Handle, dir: StrRef, err: ByteSink) -> Status {
        guard(&err, || trainer(h).save(Path::new(utf8(dir)?)))
    }

    pub unsafe extern "C-unwind" fn load(h: Handle, dir: StrRef, err: ByteSink) -> Status {
        guard(&err, || trainer(h).load(Path::new(utf8(dir)?)))
    }

    pub unsafe extern "C-unwind" fn describe(h: Handle, out: ByteSink, err: ByteSink) -> Status {
        guard(&err, || json_out(&out, &trainer(h).describe()))
    }
}
