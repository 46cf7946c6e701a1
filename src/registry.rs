//! The plugin registry of this binary: the linked-in built-ins plus dynamic libraries.

use std::path::PathBuf;

use anyhow::{Context, Result};
use ganbench_plugin_api::Registry;

/// Environment variable with extra plugin directories or files, ':'-separated.
pub const PLUGIN_PATH_VAR: &str = "GANBENCH_PLUGIN_PATH";

/// Built-ins first, then GANBENCH_PLUGIN_PATH, then each `--plugin-dir` (later ones shadow earlier).
pub fn load(plugin_dirs: &[PathBuf]) -> Result<Registry> {
    let mut registry = Registry::new(ganbench_sdk::BUILD_ID);
    for decl in [
        ganbench_gan::declaration(),
        ganbench_wgan_gp::declaration(),
        ganbench_sngan::declaration(),
        ganbench_vae::declaration(),
    ] {
        registry
            .add_builtin(decl)
            .context("registering a built-in plugin")?;
    }
    let from_env: Vec<PathBuf> = std::env::var_os(PLUGIN_PATH_VAR)
        .map(|v| {
            std::env::split_paths(&v)
                .filter(|p| !p.as_os_str().is_empty())
                .collect()
        })
        .unwrap_or_default();
    for dir in from_env.iter().chain(plugin_dirs) {
        registry
            .add_path(dir)
            .with_context(|| format!("reading plugin directory {}", dir.display()))?;
    }
    Ok(registry)
}
