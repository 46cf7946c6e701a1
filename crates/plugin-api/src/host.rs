//! The host's side: a safe wrapper over a declaration, dynamic loading, and the registry.
//!
//! Built-in and dynamic plugins are both a `&'static PluginDeclaration`, so they run the very same
//! code path. Libraries are never unloaded (their code may still be referenced by leaked
//! trainers or panic payloads, and candle keeps thread-locals inside them).

use std::collections::BTreeMap;
use std::ffi::c_void;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::abi::*;
use crate::params::{ParamError, ParamSpec, ParamValue, Params};
use crate::plugin::{Batch, Description, Metrics, Samples, TrialConfig};
use crate::probe::Prober;

/// Where a plugin came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "path", rename_all = "snake_case")]
pub enum Origin {
    BuiltIn,
    Dynamic(PathBuf),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::BuiltIn => f.write_str("built-in"),
            Origin::Dynamic(p) => write!(f, "{}", p.display()),
        }
    }
}

/// Why a library could not be used as a plugin.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The loader refused the file; `reason` is its own (no such file, not an ELF file, wrong
    /// architecture, a missing dependency).
    #[error("{path}: cannot be loaded as a library: {reason}")]
    NotALibrary { path: PathBuf, reason: String },
    #[error(
        "{path}: not a ganbench plugin: it exports no `{symbol}` symbol (a plugin calls \
         `export_plugin!` and keeps the file name cargo gave it, e.g. lib<crate>.so)"
    )]
    NoDeclaration { path: PathBuf, symbol: String },
    #[error(
        "{path}: plugin ABI version {found}, but this ganbench speaks ABI version {expected}; \
         rebuild the plugin against this ganbench's plugin-api"
    )]
    AbiMismatch {
        path: PathBuf,
        found: u32,
        expected: u32,
    },
    #[error(
        "{path}: plugin build id `{found}` differs from this ganbench's `{expected}`; rebuild the \
         plugin with the same compiler, profile (debug/release) and candle version"
    )]
    BuildMismatch {
        path: PathBuf,
        found: String,
        expected: String,
    },
    #[error("{path}: {message}")]
    BadDeclaration { path: PathBuf, message: String },
    /// Probing it in a child process showed that loading it crashes or hangs (see [`crate::probe`]).
    #[error(
        "{path}: skipped: probed in a child process, it {reason}, so loading it would take \
         ganbench down with it; fix the plugin or move it out of the plugin directory (this \
         verdict is kept until the file changes)"
    )]
    Unsafe { path: PathBuf, reason: String },
}

/// An error from a call into a plugin.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CallError {
    #[error("plugin `{plugin}` failed in {call}: {message}")]
    Failed {
        plugin: String,
        call: &'static str,
        message: String,
    },
    #[error("plugin `{plugin}` panicked in {call}: {message}")]
    Panicked {
        plugin: String,
        call: &'static str,
        message: String,
    },
    #[error("plugin `{plugin}`: {message}")]
    Protocol { plugin: String, message: String },
}

/// A usable plugin: its declaration and what the host read from it once.
#[derive(Clone)]
pub struct PluginHandle {
    decl: &'static PluginDeclaration,
    pub name: String,
    pub version: String,
    pub build_id: String,
    pub origin: Origin,
    pub params: Vec<ParamSpec>,
}

impl fmt::Debug for PluginHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PluginHandle")
            .field("name", &self.name)
            .field("version", &self.version)
            .field("origin", &self.origin)
            .finish()
    }
}

impl PluginHandle {
    /// Wraps a declaration after checking its ABI version and build id.
    pub fn new(
        decl: &'static PluginDeclaration,
        origin: Origin,
        expected_build_id: &str,
    ) -> Result<Self, LoadError> {
        let path = match &origin {
            Origin::BuiltIn => PathBuf::from("<built-in>"),
            Origin::Dynamic(p) => p.clone(),
        };
        if decl.abi_version != ABI_VERSION {
            return Err(LoadError::AbiMismatch {
                path,
                found: decl.abi_version,
                expected: ABI_VERSION,
            });
        }
        // SAFETY: the ABI version matches, so `decl` has this crate's layout and was made by
        // `PluginDeclaration::of`, whose `build_id` is a `StrRef` to a `&'static str` (of a library
        // that is never unloaded): valid, initialized bytes for as long as we read them. (The
        // fields are public for the C layout; a declaration built by hand with other pointers
        // would break this, which is why `of` is the documented way to make one.)
        let build_id = unsafe { decl.build_id.to_string_lossy() };
        if build_id != expected_build_id {
            return Err(LoadError::BuildMismatch {
                path,
                found: build_id,
                expected: expected_build_id.into(),
            });
        }
        // SAFETY: as for `build_id`: `name` and `version` are `StrRef`s to `P::NAME` and
        // `P::VERSION`, `&'static str` constants of a library that stays loaded.
        let (name, version) =
            unsafe { (decl.name.to_string_lossy(), decl.version.to_string_lossy()) };
        let mut handle = Self {
            decl,
            name,
            version,
            build_id,
            origin,
            params: Vec::new(),
        };
        let json = handle
            // SAFETY: `out` and `err` are `string_sink`s over `call_text`'s own Strings, which
            // outlive this call and are touched only by the sinks' callback during it (vtable
            // contract: sinks are for the call).
            .call_text("params", |out, err| unsafe {
                (decl.vtable.params)(out, err)
            })
            .map_err(|e| LoadError::BadDeclaration {
                path: path.clone(),
                message: e.to_string(),
            })?;
        handle.params = serde_json::from_str(&json).map_err(|e| LoadError::BadDeclaration {
            path,
            message: format!("unreadable parameter declaration: {e}"),
        })?;
        Ok(handle)
    }

    /// Validates `given` parameter values against this plugin's declarations.
    pub fn resolve_params(
        &self,
        given: &BTreeMap<String, ParamValue>,
    ) -> Result<Params, ParamError> {
        Params::resolve(&self.name, &self.params, given)
    }

    /// Parses `key=value` assignments and validates them.
    pub fn params_from_assignments(&self, assignments: &[String]) -> Result<Params, ParamError> {
        let given = Params::parse_assignments(&self.name, &self.params, assignments)?;
        self.resolve_params(&given)
    }

    /// Builds a trainer. `config.params` should come from [`PluginHandle::resolve_params`].
    pub fn create(&self, config: &TrialConfig) -> Result<TrainerHandle, CallError> {
        let json = serde_json::to_string(config).expect("a TrialConfig always serializes");
        let mut handle: Handle = std::ptr::null_mut();
        let mut err = String::new();
        // SAFETY: the vtable contract holds: the config `StrRef` borrows `json` and the sink
        // borrows `err`, both alive until after the call; `&mut handle` is a writable `Handle`.
        let status = unsafe {
            (self.decl.vtable.create)(StrRef::new(&json), &mut handle, string_sink(&mut err))
        };
        self.check("create", status, err)?;
        if handle.is_null() {
            return Err(CallError::Protocol {
                plugin: self.name.clone(),
                message: "create returned no trainer".into(),
            });
        }
        Ok(TrainerHandle {
            plugin: self.clone(),
            handle,
        })
    }

    fn check(&self, call: &'static str, status: Status, message: String) -> Result<(), CallError> {
        let plugin = self.name.clone();
        match status {
            STATUS_OK => Ok(()),
            STATUS_PANIC => Err(CallError::Panicked {
                plugin,
                call,
                message,
            }),
            _ => Err(CallError::Failed {
                plugin,
                call,
                message,
            }),
        }
    }

    fn call_text(
        &self,
        call: &'static str,
        f: impl FnOnce(ByteSink, ByteSink) -> Status,
    ) -> Result<String, CallError> {
        let (mut out, mut err) = (String::new(), String::new());
        let status = f(string_sink(&mut out), string_sink(&mut err));
        self.check(call, status, err)?;
        Ok(out)
    }
}

/// A trainer living inside a plugin. Dropping it destroys the plugin-side state.
pub struct TrainerHandle {
    plugin: PluginHandle,
    handle: Handle,
}

// SAFETY: a trainer is used by one thread at a time (methods take &mut self); plugin state is
// created and driven through the handle only.
unsafe impl Send for TrainerHandle {}

impl TrainerHandle {
    pub fn plugin(&self) -> &PluginHandle {
        &self.plugin
    }

    pub fn rows_per_step(&self) -> usize {
        // SAFETY: `self.handle` came from this plugin's `create` and is destroyed only in `drop`;
        // `TrainerHandle` is not `Sync`, so no other call on it can run during this one.
        unsafe { (self.plugin.decl.vtable.rows_per_step)(self.handle) }
    }

    pub fn train_step(&mut self, batch: Batch<'_>) -> Result<Metrics, CallError> {
        self.metrics_call("train_step", batch, self.plugin.decl.vtable.train_step)
    }

    pub fn evaluate(&mut self, batch: Batch<'_>) -> Result<Metrics, CallError> {
        self.metrics_call("evaluate", batch, self.plugin.decl.vtable.evaluate)
    }

    fn metrics_call(
        &mut self,
        call: &'static str,
        batch: Batch<'_>,
        f: unsafe extern "C-unwind" fn(Handle, TensorRef, MetricSink, ByteSink) -> Status,
    ) -> Result<Metrics, CallError> {
        let t = self.tensor_ref(batch)?;
        let mut metrics: Metrics = Vec::new();
        let mut err = String::new();
        let sink = MetricSink {
            ctx: &mut metrics as *mut Metrics as *mut c_void,
            push: push_metric,
        };
        // SAFETY: `f` is this plugin's `train_step` or `evaluate`; the handle is live and `&mut
        // self` makes this call exclusive; `t` borrows `batch` (length checked against its shape)
        // and the sinks borrow `metrics` and `err`, all alive until after the call.
        let status = unsafe { f(self.handle, t, sink, string_sink(&mut err)) };
        self.plugin.check(call, status, err)?;
        Ok(metrics)
    }

    /// `batch` as the boundary passes it, after checking that its values fill its shape.
    fn tensor_ref(&self, batch: Batch<'_>) -> Result<TensorRef, CallError> {
        let expected: usize = batch.shape.iter().product();
        if expected != batch.data.len() {
            return Err(CallError::Protocol {
                plugin: self.plugin.name.clone(),
                message: format!(
                    "batch of {} values does not match shape {:?}",
                    batch.data.len(),
                    batch.shape
                ),
            });
        }
        Ok(TensorRef {
            data: batch.data.as_ptr(),
            len: batch.data.len(),
            shape: batch.shape.as_ptr(),
            ndim: batch.shape.len(),
        })
    }

    pub fn sample(&mut self, n: usize, seed: u64) -> Result<Samples, CallError> {
        let mut samples: Option<Samples> = None;
        let mut err = String::new();
        let sink = TensorSink {
            ctx: &mut samples as *mut Option<Samples> as *mut c_void,
            write: write_tensor,
        };
        // SAFETY: the handle is live and `&mut self` makes this call exclusive; the sinks borrow
        // `samples` and `err`, which outlive the call (vtable contract).
        let status = unsafe {
            (self.plugin.decl.vtable.sample)(self.handle, n, seed, sink, string_sink(&mut err))
        };
        self.plugin.check("sample", status, err)?;
        samples.ok_or_else(|| CallError::Protocol {
            plugin: self.plugin.name.clone(),
            message: "sample returned no tensor".into(),
        })
    }

    /// Samples from the model's averaged generator, if it keeps one (see
    /// [`Trainer::sample_averaged`]).
    ///
    /// [`Trainer::sample_averaged`]: crate::Trainer::sample_averaged
    pub fn sample_averaged(&mut self, n: usize, seed: u64) -> Result<Option<Samples>, CallError> {
        let mut samples: Option<Samples> = None;
        let mut err = String::new();
        let sink = TensorSink {
            ctx: &mut samples as *mut Option<Samples> as *mut c_void,
            write: write_tensor,
        };
        let f = self.plugin.decl.vtable.sample_averaged;
        // SAFETY: as in `sample`: live, exclusive handle; sinks over locals that outlive the call.
        let status = unsafe { f(self.handle, n, seed, sink, string_sink(&mut err)) };
        self.plugin.check("sample_averaged", status, err)?;
        Ok(samples)
    }

    /// The model's reconstructions of `batch`, if it makes any (see [`Trainer::reconstruct`]).
    ///
    /// [`Trainer::reconstruct`]: crate::Trainer::reconstruct
    pub fn reconstruct(&mut self, batch: Batch<'_>) -> Result<Option<Samples>, CallError> {
        let t = self.tensor_ref(batch)?;
        let mut samples: Option<Samples> = None;
        let mut err = String::new();
        let sink = TensorSink {
            ctx: &mut samples as *mut Option<Samples> as *mut c_void,
            write: write_tensor,
        };
        // SAFETY: live, exclusive handle (`&mut self`); `t` borrows `batch` (length checked
        // against its shape) and the sinks borrow `samples` and `err`, all alive past the call.
        let status = unsafe {
            (self.plugin.decl.vtable.reconstruct)(self.handle, t, sink, string_sink(&mut err))
        };
        self.plugin.check("reconstruct", status, err)?;
        Ok(samples)
    }

    pub fn save(&mut self, dir: &Path) -> Result<(), CallError> {
        self.path_call("save", dir, self.plugin.decl.vtable.save)
    }

    pub fn load(&mut self, dir: &Path) -> Result<(), CallError> {
        self.path_call("load", dir, self.plugin.decl.vtable.load)
    }

    fn path_call(
        &mut self,
        call: &'static str,
        dir: &Path,
        f: unsafe extern "C-unwind" fn(Handle, StrRef, ByteSink) -> Status,
    ) -> Result<(), CallError> {
        let dir = dir.to_str().ok_or_else(|| CallError::Protocol {
            plugin: self.plugin.name.clone(),
            message: format!("path {} is not UTF-8", dir.display()),
        })?;
        let mut err = String::new();
        // SAFETY: `f` is this plugin's `save` or `load`; live, exclusive handle (`&mut self`);
        // the `StrRef` borrows `dir` and the sink `err`, both alive past the call.
        let status = unsafe { f(self.handle, StrRef::new(dir), string_sink(&mut err)) };
        self.plugin.check(call, status, err)
    }

    pub fn describe(&mut self) -> Result<Description, CallError> {
        let h = self.handle;
        let f = self.plugin.decl.vtable.describe;
        let json = self
            .plugin
            // SAFETY: `h` is live and `&mut self` makes this call exclusive; `out` and `err` are
            // sinks over `call_text`'s Strings, which outlive the call.
            .call_text("describe", |out, err| unsafe { f(h, out, err) })?;
        serde_json::from_str(&json).map_err(|e| CallError::Protocol {
            plugin: self.plugin.name.clone(),
            message: format!("unreadable description: {e}"),
        })
    }
}

impl Drop for TrainerHandle {
    fn drop(&mut self) {
        // SAFETY: `self.handle` came from `create` (non-null, checked there) and this is the only
        // place that destroys it; after `drop` nothing can call through it again.
        unsafe { (self.plugin.decl.vtable.destroy)(self.handle) }
    }
}

fn string_sink(s: &mut String) -> ByteSink {
    ByteSink {
        ctx: s as *mut String as *mut c_void,
        write: append_string,
    }
}

/// A [`ByteSink`] callback: appends the bytes (lossily decoded) to the `String` at `ctx`.
///
/// # Safety
/// `ctx` is the `&mut String` a [`string_sink`] was made from, still alive and borrowed by
/// nothing else; `ptr..ptr + len` are initialized bytes, valid for this call.
unsafe extern "C-unwind" fn append_string(ctx: *mut c_void, ptr: *const u8, len: usize) {
    // SAFETY: by the contract above `ctx` is a live, exclusive, aligned `*mut String` (the sink
    // is used only during the vtable call that received it, while its String is borrowed by it).
    let s = unsafe { &mut *(ctx as *mut String) };
    // SAFETY: the plugin passes `len` bytes of a live `&str` for the duration of this callback,
    // and `bytes` is dropped before it returns.
    let bytes = unsafe { StrRef { ptr, len }.as_bytes() };
    s.push_str(&String::from_utf8_lossy(bytes));
}

/// A [`MetricSink`] callback: appends `(name, value)` to the `Metrics` at `ctx`.
///
/// # Safety
/// `ctx` is the `&mut Metrics` that `metrics_call` made the sink from, alive and borrowed by
/// nothing else; `name` is valid for this call.
unsafe extern "C-unwind" fn push_metric(ctx: *mut c_void, name: StrRef, value: f64) {
    // SAFETY: by the contract above `ctx` is a live, exclusive, aligned `*mut Metrics`.
    let metrics = unsafe { &mut *(ctx as *mut Metrics) };
    // SAFETY: the plugin's `StrRef` borrows a live metric name for this callback; it is copied.
    metrics.push((unsafe { name.to_string_lossy() }, value));
}

/// A [`TensorSink`] callback: copies the tensor into the `Option<Samples>` at `ctx`.
///
/// # Safety
/// `ctx` is the `&mut Option<Samples>` the sink was made from, alive and borrowed by nothing
/// else; `t` points at `len` initialized f32 values and `ndim` usizes, valid for this call.
unsafe extern "C-unwind" fn write_tensor(ctx: *mut c_void, t: TensorRef) {
    // SAFETY: by the contract above `ctx` is a live, exclusive, aligned `*mut Option<Samples>`.
    let out = unsafe { &mut *(ctx as *mut Option<Samples>) };
    let data = if t.len == 0 {
        Vec::new()
    } else {
        // SAFETY: `len > 0`; the plugin's `write_samples` points `data` at a live `&[f32]` of
        // `len` values (aligned, initialized) for this callback, and we copy it before returning.
        unsafe { std::slice::from_raw_parts(t.data, t.len) }.to_vec()
    };
    let shape = if t.ndim == 0 {
        Vec::new()
    } else {
        // SAFETY: as for `data`: `ndim` values of a live `&[usize]`, copied before returning.
        unsafe { std::slice::from_raw_parts(t.shape, t.ndim) }.to_vec()
    };
    *out = Some(Samples { data, shape });
}

/// The symbol a library file must export: derived from its file name, which cargo makes from the
/// crate name (`libganbench_gan.so` → `ganbench_plugin_ganbench_gan`).
pub fn declaration_symbol(path: &Path) -> String {
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default();
    let crate_name = if cfg!(windows) {
        stem
    } else {
        stem.strip_prefix("lib").unwrap_or(stem)
    };
    format!("{SYMBOL_PREFIX}{crate_name}")
}

/// Loads a plugin library and checks it. The library is never unloaded.
pub fn load_library(path: &Path, expected_build_id: &str) -> Result<PluginHandle, LoadError> {
    let symbol = declaration_symbol(path);
    // SAFETY: loading runs the library's initializers; plugin directories are trusted like any
    // code the user chose to run.
    let lib = unsafe { libloading::Library::new(path) }.map_err(|e| LoadError::NotALibrary {
        path: path.into(),
        reason: loader_reason(&e),
    })?;
    // SAFETY: the symbol is read as a pointer to a `PluginDeclaration`, which is what
    // `export_plugin!` exports under this name (a `static`, so the symbol's address is the
    // declaration's); a foreign symbol of that name is caught by the ABI check below before any
    // other field is read. Copying the pointer out of `Symbol` is sound because `lib` is never
    // unloaded (`forget` below).
    let decl: *const PluginDeclaration = unsafe {
        match lib.get::<*const PluginDeclaration>(symbol.as_bytes()) {
            Ok(sym) => *sym,
            Err(_) => {
                return Err(LoadError::NoDeclaration {
                    path: path.into(),
                    symbol,
                })
            }
        }
    };
    // Never unloaded: the declaration must stay valid for 'static.
    std::mem::forget(lib);
    // Read the frozen first field before trusting the rest of the layout.
    // SAFETY: `decl` is the address of an exported, loaded (never unloaded) static; every
    // `PluginDeclaration` of any ABI version starts with a `u32` `abi_version` (`#[repr(C)]`, frozen
    // first field), so its first four bytes are an initialized, aligned u32.
    let abi_version = unsafe { std::ptr::read(decl as *const u32) };
    if abi_version != ABI_VERSION {
        return Err(LoadError::AbiMismatch {
            path: path.into(),
            found: abi_version,
            expected: ABI_VERSION,
        });
    }
    PluginHandle::new(
        // SAFETY: the ABI version matches, so the static at `decl` is a `PluginDeclaration` of
        // this layout, immutable (`Sync`) and valid for 'static because the library stays loaded.
        unsafe { &*decl },
        Origin::Dynamic(path.into()),
        expected_build_id,
    )
}

/// What the loader said: libloading's own message is only "dlopen failed", with `dlerror()`'s
/// text (no such file, invalid ELF header, wrong ELF class…) as its source.
fn loader_reason(e: &libloading::Error) -> String {
    match std::error::Error::source(e) {
        Some(source) => source.to_string(),
        None => e.to_string(),
    }
}

/// True for file names with the platform's dynamic library extension.
pub fn is_library_file(path: &Path) -> bool {
    path.extension().and_then(|e| e.to_str()) == Some(std::env::consts::DLL_EXTENSION)
}

/// A problem finding a plugin by name.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("unknown plugin `{name}`; available: {available}. Dynamic plugins are found in --plugin-dir DIR and GANBENCH_PLUGIN_PATH")]
    Unknown { name: String, available: String },
    #[error(transparent)]
    Load(#[from] LoadError),
}

/// All plugins this process can use: built-ins first, then dynamic libraries.
///
/// A dynamic plugin with the name of an earlier one *shadows* it (so a user's rebuilt `gan`
/// replaces the built-in); both stay listed, and a library path always selects exactly that file.
///
/// With a [`Prober`], every library is first loaded in a child process, and one that crashes or
/// hangs there is refused ([`LoadError::Unsafe`]) without being loaded into this process.
pub struct Registry {
    expected_build_id: String,
    entries: Vec<PluginHandle>,
    skipped: Vec<LoadError>,
    prober: Option<Prober>,
}

impl Registry {
    pub fn new(expected_build_id: impl Into<String>) -> Self {
        Self {
            expected_build_id: expected_build_id.into(),
            entries: Vec::new(),
            skipped: Vec::new(),
            prober: None,
        }
    }

    /// Probes every library loaded from now on with `prober` first.
    pub fn set_prober(&mut self, prober: Prober) {
        self.prober = Some(prober);
    }

    pub fn expected_build_id(&self) -> &str {
        &self.expected_build_id
    }

    /// Registers a linked-in plugin through the same declaration a library would export.
    pub fn add_builtin(&mut self, decl: &'static PluginDeclaration) -> Result<(), LoadError> {
        let handle = PluginHandle::new(decl, Origin::BuiltIn, &self.expected_build_id)?;
        self.entries.push(handle);
        Ok(())
    }

    /// Loads one library file (after probing it, with a prober).
    pub fn add_library(&mut self, path: &Path) -> Result<&PluginHandle, LoadError> {
        if let Some(prober) = &self.prober {
            prober.check(path).map_err(|reason| LoadError::Unsafe {
                path: path.into(),
                reason,
            })?;
        }
        let handle = load_library(path, &self.expected_build_id)?;
        self.entries.push(handle);
        Ok(self.entries.last().expect("just pushed"))
    }

    /// Loads every library in `dir` (or `dir` itself if it is a file). Files that are not usable
    /// plugins are remembered in [`Registry::skipped`] instead of failing the whole scan.
    pub fn add_path(&mut self, dir: &Path) -> std::io::Result<()> {
        if dir.is_file() {
            if let Err(e) = self.add_library(dir) {
                self.skipped.push(e);
            }
            return Ok(());
        }
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && is_library_file(p))
            .collect();
        files.sort(); // deterministic shadowing order
        for file in files {
            if let Err(e) = self.add_library(&file) {
                self.skipped.push(e);
            }
        }
        Ok(())
    }

    /// Every registered plugin, in registration order.
    pub fn entries(&self) -> &[PluginHandle] {
        &self.entries
    }

    /// Libraries that were found but refused.
    pub fn skipped(&self) -> &[LoadError] {
        &self.skipped
    }

    /// True when a later plugin of the same name hides this one.
    pub fn is_shadowed(&self, index: usize) -> bool {
        let name = &self.entries[index].name;
        self.entries[index + 1..].iter().any(|e| &e.name == name)
    }

    /// Finds a plugin by name (the last registered wins) or by library path.
    pub fn get(&mut self, name_or_path: &str) -> Result<PluginHandle, RegistryError> {
        let path = Path::new(name_or_path);
        if is_library_file(path) {
            if let Some(h) = self
                .entries
                .iter()
                .find(|e| e.origin == Origin::Dynamic(path.into()))
            {
                return Ok(h.clone());
            }
            return Ok(self.add_library(path)?.clone());
        }
        self.find(name_or_path)
            .cloned()
            .ok_or_else(|| RegistryError::Unknown {
                name: name_or_path.into(),
                available: self.names().join(", "),
            })
    }

    /// The active plugin of that name, if any.
    pub fn find(&self, name: &str) -> Option<&PluginHandle> {
        self.entries.iter().rev().find(|e| e.name == name)
    }

    /// Distinct plugin names, in registration order.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for e in &self.entries {
            if !names.contains(&e.name) {
                names.push(e.name.clone());
            }
        }
        names
    }
}
