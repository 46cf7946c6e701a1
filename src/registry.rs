//! The plugin registry of this binary: the linked-in built-ins plus dynamic libraries.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result};
use ganbench_plugin_api::probe::{Prober, DEFAULT_PROBE_TIMEOUT};
use ganbench_plugin_api::Registry;

use crate::commands::bad_input;

// BUILTIN_PLUGINS: every `plugins/*` crate among the binary's dependencies (build.rs).
include!(concat!(env!("OUT_DIR"), "/builtin_plugins.rs"));

/// Environment variable with extra plugin directories or files, ':'-separated.
pub const PLUGIN_PATH_VAR: &str = "GANBENCH_PLUGIN_PATH";

/// Environment variable naming ganbench's cache folder (the plugin probe verdicts); default
/// `$XDG_CACHE_HOME/ganbench`, else `~/.cache/ganbench`.
pub const CACHE_DIR_VAR: &str = "GANBENCH_CACHE_DIR";

/// Environment variable: seconds a plugin library may take to load in its probe process.
pub const PROBE_TIMEOUT_VAR: &str = "GANBENCH_PROBE_TIMEOUT";

/// The hidden subcommand that loads one library in a child process (see `ganbench_plugin_api::probe`).
pub const PROBE_COMMAND: &str = "probe-plugin";

/// Built-ins first, then GANBENCH_PLUGIN_PATH, then each `--plugin-dir` (later ones shadow earlier).
///
/// Every dynamic library is probed in a child process before it is loaded here, so that one
/// that crashes or hangs while loading is skipped (and listed with the reason) instead of taking
/// this process down.
pub fn load(plugin_dirs: &[PathBuf]) -> Result<Registry> {
    let mut registry = Registry::new(ganbench_sdk::BUILD_ID);
    registry.set_prober(prober()?);
    for (name, declaration) in BUILTIN_PLUGINS {
        registry
            .add_builtin(declaration())
            .with_context(|| format!("registering the built-in plugin `{name}`"))?;
    }
    let from_env: Vec<PathBuf> = std::env::var_os(PLUGIN_PATH_VAR)
        .map(|v| {
            std::env::split_paths(&v)
                .filter(|p| !p.as_os_str().is_empty())
                .collect()
        })
        .unwrap_or_default();
    for dir in from_env.iter().chain(plugin_dirs) {
        registry.add_path(dir).map_err(|e| {
            let from = if from_env.contains(dir) {
                PLUGIN_PATH_VAR
            } else {
                "--plugin-dir"
            };
            bad_input(anyhow::Error::new(e).context(format!(
                "cannot read the plugin directory {} (from {from}); check the path",
                dir.display()
            )))
        })?;
    }
    Ok(registry)
}

/// Probes a library by running this binary's hidden `probe-plugin` subcommand on it.
fn prober() -> Result<Prober> {
    let exe = std::env::current_exe().context("locating the ganbench binary to probe plugins")?;
    let timeout = match std::env::var(PROBE_TIMEOUT_VAR) {
        Ok(text) => text
            .parse::<f64>()
            .ok()
            .filter(|s| s.is_finite() && *s > 0.0 && *s <= 3600.0)
            .map(Duration::from_secs_f64)
            .ok_or_else(|| {
                bad_input(anyhow::anyhow!(
                    "{PROBE_TIMEOUT_VAR}={text:?} is not a number of seconds from 0 to 3600"
                ))
            })?,
        Err(_) => DEFAULT_PROBE_TIMEOUT,
    };
    let command = move |library: &Path| {
        let mut cmd = Command::new(&exe);
        cmd.arg(PROBE_COMMAND).arg(library);
        cmd
    };
    Ok(Prober::new(
        Box::new(command),
        cache_dir().map(|dir| dir.join("plugin-probes.json")),
        timeout,
        ganbench_sdk::BUILD_ID,
    ))
}

/// `$GANBENCH_CACHE_DIR`, `$XDG_CACHE_HOME/ganbench` or `~/.cache/ganbench`; none without a home.
pub fn cache_dir() -> Option<PathBuf> {
    let from = |var: &str| {
        std::env::var_os(var)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    from(CACHE_DIR_VAR)
        .or_else(|| from("XDG_CACHE_HOME").map(|d| d.join("ganbench")))
        .or_else(|| from("HOME").map(|d| d.join(".cache").join("ganbench")))
}

/// The child's side of a probe: loads `library` and reads its declaration in this process. It
/// exits normally when that does not crash, whatever the verdict (a refusal is reported by the
/// parent's own, safe, load); the parent only watches for a crash or a hang.
pub fn probe(library: &Path) -> Result<std::process::ExitCode> {
    if let Err(e) = ganbench_plugin_api::host::load_library(library, ganbench_sdk::BUILD_ID) {
        eprintln!("{e}");
    }
    Ok(std::process::ExitCode::SUCCESS)
}
