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
/// (2: `reconstruct` appended to the vtable; 3: `sample_averaged` appended.)
pub const ABI_VERSION: u32 = 3;

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

    /// The bytes this string points at.
    ///
    /// # Safety
    /// Unless `len` is 0, `ptr` must point at `len` initialized bytes that stay valid and
    /// unmodified for the chosen lifetime `'a` (for a boundary argument: the duration of the call;
    /// for a declaration's strings: forever).
    pub unsafe fn as_bytes<'a>(self) -> &'a [u8] {
        if self.len == 0 {
            // A zero-length string may carry a null or dangling pointer (C callers): not read.
            &[]
        } else {
            // SAFETY: `len > 0`, and the caller guarantees `ptr..ptr + len` is initialized and
            // outlives 'a; u8 has alignment 1, so any non-null pointer is aligned.
            unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
        }
    }

    /// The bytes as a `String`, invalid UTF-8 replaced by U+FFFD.
    ///
    /// # Safety
    /// As [`StrRef::as_bytes`], for the duration of this call (the bytes are copied).
    pub unsafe fn to_string_lossy(self) -> String {
        // SAFETY: the caller upholds `as_bytes`'s contract for this call; the borrow ends when
        // `into_owned` has copied the bytes.
        String::from_utf8_lossy(unsafe { self.as_bytes() }).into_owned()
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
///
/// # Contract
/// What the host ([`crate::host`]) guarantees on every call, and what the plugin side
/// (`shim`, behind [`PluginDeclaration::of`]) relies on:
/// - **Borrowed arguments live for the call.** A [`StrRef`] points at `len` initialized bytes, a
///   [`TensorRef`] at `len` initialized f32 values and `ndim` shape entries (with `len` the shape's
///   product), valid and unmodified until the function returns; the callee copies what it keeps.
/// - **Sinks are for the call.** A sink's `ctx` is passed back unchanged to its own callback, and
///   only during the call that received the sink; the callback copies what it is given, so the
///   callee may pass pointers into its own temporary buffers.
/// - **Handles.** `handle` is a value that this declaration's `create` stored, not yet passed to
///   `destroy`, and calls on one handle never overlap (the host's `TrainerHandle` is `Send`, not
///   `Sync`, and its calls take `&mut self` or finish before returning). `create`'s `out` points at
///   a writable [`Handle`].
/// - **No unwinding across.** Every function catches panics and reports them as
///   [`STATUS_PANIC`] (`destroy` swallows them); the sinks the host passes do not panic.
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
    /// Like `sample`, from the averaged generator (weights' moving average); writes nothing
    /// when the model keeps no average.
    pub sample_averaged: unsafe extern "C-unwind" fn(
        handle: Handle,
        n: usize,
        seed: u64,
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

// SAFETY: a declaration is never mutated after construction: its raw pointers are `StrRef`s to
// `&'static str` data (`PluginDeclaration::of` takes only 'static strings) and plain fn pointers,
// so sharing `&PluginDeclaration` between threads reads only immutable, forever-valid memory.
unsafe impl Sync for PluginDeclaration {}
// SAFETY: as for `Sync`: nothing in it is owned, thread-bound or mutable, so moving it to another
// thread changes nothing that the pointers refer to.
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
                sample_averaged: shim::sample_averaged,
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
        // SAFETY (of the unsafe attribute): the symbol name embeds the crate name, unique in a
        // build, so it cannot collide with another plugin's or any other exported symbol.
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
        // SAFETY: `sink` is an argument of the vtable call in progress, so its `ctx` is valid for
        // its callback now (vtable contract, "Sinks are for the call"); `s.as_ptr()..+len` is a live
        // `&str` for the whole callback, which copies it.
        unsafe { (sink.write)(sink.ctx, s.as_ptr(), s.len()) }
    }

    fn json_out(sink: &ByteSink, value: &impl serde::Serialize) -> Result<(), PluginError> {
        write_str(sink, &serde_json::to_string(value)?);
        Ok(())
    }

    /// The trainer behind `handle`.
    ///
    /// # Safety
    /// `handle` was stored by `create` (a `Box<Boxed>` turned into a raw pointer) and not yet
    /// destroyed, and no other reference to that trainer exists during `'a` (the vtable contract:
    /// calls on one handle never overlap). `'a` must end before the vtable call returns.
    unsafe fn trainer<'a>(handle: Handle) -> &'a mut Boxed {
        // SAFETY: by the caller's contract `handle` is the live, properly aligned `*mut Boxed`
        // that `Box::into_raw` made in `create`, and this is its only reference during 'a.
        unsafe { &mut *(handle as *mut Boxed) }
    }

    /// The batch that `t` points at.
    ///
    /// # Safety
    /// `t` is a [`TensorRef`] argument of the vtable call in progress (valid data and shape arrays
    /// for the call's duration), and `'a` ends before that call returns.
    unsafe fn batch<'a>(t: TensorRef) -> Batch<'a> {
        let data = if t.len == 0 {
            &[][..]
        } else {
            // SAFETY: `len > 0`; the host's `TensorRef` points at `len` initialized f32 values of
            // a live `&[f32]` (so aligned) that outlives the call, and 'a ends within it.
            unsafe { std::slice::from_raw_parts(t.data, t.len) }
        };
        let shape = if t.ndim == 0 {
            &[][..]
        } else {
            // SAFETY: as for `data`: `ndim` initialized, aligned usizes of a live `&[usize]`.
            unsafe { std::slice::from_raw_parts(t.shape, t.ndim) }
        };
        Batch { data, shape }
    }

    /// `s` as a `&str`.
    ///
    /// # Safety
    /// `s` is a [`StrRef`] argument of the vtable call in progress, and `'a` ends before that call
    /// returns.
    unsafe fn utf8<'a>(s: StrRef) -> Result<&'a str, PluginError> {
        // SAFETY: by the caller's contract the host's string is valid and unmodified for the
        // whole call, which outlasts 'a.
        std::str::from_utf8(unsafe { s.as_bytes() })
            .map_err(|_| PluginError::msg("argument is not UTF-8"))
    }

    /// Writes `P`'s parameter declarations as JSON to `out`.
    ///
    /// # Safety
    /// The vtable contract (`PluginVTable`'s docs) holds for every argument.
    pub unsafe extern "C-unwind" fn params<P: Plugin>(out: ByteSink, err: ByteSink) -> Status {
        guard(&err, || json_out(&out, &P::params()))
    }

    /// Builds `P`'s trainer from a JSON `TrialConfig` and stores its handle in `*out`.
    ///
    /// # Safety
    /// The vtable contract (`PluginVTable`'s docs) holds for every argument.
    pub unsafe extern "C-unwind" fn create<P: Plugin>(
        config: StrRef,
        out: *mut Handle,
        err: ByteSink,
    ) -> Status {
        guard(&err, || {
            // SAFETY: `config` is this call's argument; the borrow ends with `from_str`.
            let config: TrialConfig = serde_json::from_str(unsafe { utf8(config) }?)?;
            let trainer: Boxed = P::create(&config)?;
            // SAFETY: the contract says `out` points at a writable `Handle`; the write transfers
            // the box's ownership to the host, which hands it back to `destroy` exactly once.
            unsafe { *out = Box::into_raw(Box::new(trainer)) as Handle };
            Ok(())
        })
    }

    /// Drops the trainer behind `handle` (a null handle is ignored).
    ///
    /// # Safety
    /// The vtable contract (`PluginVTable`'s docs) holds for every argument.
    pub unsafe extern "C-unwind" fn destroy(handle: Handle) {
        if !handle.is_null() {
            // Dropping must not unwind into the host: a panic in a destructor is swallowed.
            let _ = catch_unwind(AssertUnwindSafe(|| {
                // SAFETY: a non-null `handle` is the pointer `create` made with `Box::into_raw`,
                // passed to `destroy` once (the host's `TrainerHandle::drop`) and never used after,
                // so taking its ownership back frees it exactly once.
                drop(unsafe { Box::from_raw(handle as *mut Boxed) })
            }));
        }
    }

    /// How many batch rows the trainer consumes per step (0 if it panicked).
    ///
    /// # Safety
    /// The vtable contract (`PluginVTable`'s docs) holds for every argument.
    pub unsafe extern "C-unwind" fn rows_per_step(handle: Handle) -> usize {
        catch_unwind(AssertUnwindSafe(|| {
            // SAFETY: `handle` is live and not in use elsewhere (vtable contract); the borrow
            // ends with this call.
            let trainer = unsafe { trainer(handle) };
            trainer.rows_per_step()
        }))
        .unwrap_or(0)
    }

    fn push_metrics(out: &MetricSink, metrics: &[(String, f64)]) {
        for (name, value) in metrics {
            // SAFETY: `out` is an argument of the vtable call in progress, so `ctx` is valid for
            // `push` now; the `StrRef` borrows `name`, alive for the whole callback, which copies
            // it.
            unsafe { (out.push)(out.ctx, StrRef::new(name), *value) }
        }
    }

    /// One training step on `b`; its metrics go to `out`.
    ///
    /// # Safety
    /// The vtable contract (`PluginVTable`'s docs) holds for every argument.
    pub unsafe extern "C-unwind" fn train_step(
        h: Handle,
        b: TensorRef,
        out: MetricSink,
        err: ByteSink,
    ) -> Status {
        guard(&err, || {
            // SAFETY: `h` is live and exclusive, `b` valid for this call (vtable contract); both
            // borrows end before it returns.
            let metrics = unsafe { trainer(h).train_step(batch(b)) }?;
            push_metrics(&out, &metrics);
            Ok(())
        })
    }

    /// Evaluation metrics on `b`, to `out`.
    ///
    /// # Safety
    /// The vtable contract (`PluginVTable`'s docs) holds for every argument.
    pub unsafe extern "C-unwind" fn evaluate(
        h: Handle,
        b: TensorRef,
        out: MetricSink,
        err: ByteSink,
    ) -> Status {
        guard(&err, || {
            // SAFETY: `h` is live and exclusive, `b` valid for this call (vtable contract); both
            // borrows end before it returns.
            let metrics = unsafe { trainer(h).evaluate(batch(b)) }?;
            push_metrics(&out, &metrics);
            Ok(())
        })
    }

    /// `n` samples drawn with `seed`, to `out`.
    ///
    /// # Safety
    /// The vtable contract (`PluginVTable`'s docs) holds for every argument.
    pub unsafe extern "C-unwind" fn sample(
        h: Handle,
        n: usize,
        seed: u64,
        out: TensorSink,
        err: ByteSink,
    ) -> Status {
        guard(&err, || {
            // SAFETY: `h` is live and exclusive for this call (vtable contract).
            let samples = unsafe { trainer(h) }.sample(n, seed)?;
            write_samples("sample", &samples, &out)
        })
    }

    /// `n` samples of the averaged generator, to `out` (nothing without one).
    ///
    /// # Safety
    /// The vtable contract (`PluginVTable`'s docs) holds for every argument.
    pub unsafe extern "C-unwind" fn sample_averaged(
        h: Handle,
        n: usize,
        seed: u64,
        out: TensorSink,
        err: ByteSink,
    ) -> Status {
        guard(&err, || {
            // SAFETY: `h` is live and exclusive for this call (vtable contract).
            let trainer = unsafe { trainer(h) };
            match trainer.sample_averaged(n, seed)? {
                Some(s) => write_samples("sample_averaged", &s, &out),
                None => Ok(()),
            }
        })
    }

    /// Reconstructions of `b`, to `out` (nothing for a model without them).
    ///
    /// # Safety
    /// The vtable contract (`PluginVTable`'s docs) holds for every argument.
    pub unsafe extern "C-unwind" fn reconstruct(
        h: Handle,
        b: TensorRef,
        out: TensorSink,
        err: ByteSink,
    ) -> Status {
        guard(&err, || {
            // SAFETY: `h` is live and exclusive, `b` valid for this call (vtable contract); both
            // borrows end before it returns.
            let (trainer, batch) = unsafe { (trainer(h), batch(b)) };
            match trainer.reconstruct(batch)? {
                Some(s) => write_samples("reconstruct", &s, &out),
                None => Ok(()),
            }
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
        // SAFETY: `out` is an argument of the vtable call in progress, so `ctx` is valid for
        // `write` now; `t` points into `s`, whose data and shape (lengths checked above) outlive
        // the callback, which copies them.
        unsafe { (out.write)(out.ctx, t) };
        Ok(())
    }

    /// Saves the trainer's state under the folder `dir`.
    ///
    /// # Safety
    /// The vtable contract (`PluginVTable`'s docs) holds for every argument.
    pub unsafe extern "C-unwind" fn save(h: Handle, dir: StrRef, err: ByteSink) -> Status {
        // SAFETY: `h` is live and exclusive, `dir` valid for this call (vtable contract).
        guard(&err, || unsafe { trainer(h).save(Path::new(utf8(dir)?)) })
    }

    /// Restores the trainer's state from the folder `dir`.
    ///
    /// # Safety
    /// The vtable contract (`PluginVTable`'s docs) holds for every argument.
    pub unsafe extern "C-unwind" fn load(h: Handle, dir: StrRef, err: ByteSink) -> Status {
        // SAFETY: `h` is live and exclusive, `dir` valid for this call (vtable contract).
        guard(&err, || unsafe { trainer(h).load(Path::new(utf8(dir)?)) })
    }

    /// The trainer's `Description` as JSON, to `out`.
    ///
    /// # Safety
    /// The vtable contract (`PluginVTable`'s docs) holds for every argument.
    pub unsafe extern "C-unwind" fn describe(h: Handle, out: ByteSink, err: ByteSink) -> Status {
        // SAFETY: `h` is live and exclusive for this call (vtable contract).
        guard(&err, || json_out(&out, &unsafe { trainer(h) }.describe()))
    }
}
