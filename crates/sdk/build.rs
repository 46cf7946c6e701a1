//! Computes the SDK's plugin build id: the toolchain part exactly as `ganbench-plugin-api`'s
//! build script computes it, plus the candle version (and `; cuda` in a CUDA build), because
//! candle's in-memory layout is part of what host and plugin must agree on (design.md, "The plugin
//! boundary").
use std::process::Command;

/// Pinned with `=` in the workspace manifest; a unit test checks it against Cargo.lock.
const CANDLE_VERSION: &str = "0.11.1";

fn main() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let version = Command::new(&rustc)
        .arg("-V")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| "rustc-unknown".into());
    let target = std::env::var("TARGET").unwrap_or_default();
    let profile = std::env::var("PROFILE").unwrap_or_default();
    // A CUDA build's candle differs from a CPU build's, and a plugin must agree with its host on
    // whether `cuda:N` can work: the feature is part of the id (docs/cuda.md).
    let cuda = if std::env::var_os("CARGO_FEATURE_CUDA").is_some() {
        "; cuda"
    } else {
        ""
    };
    println!(
        "cargo:rustc-env=GANBENCH_BUILD_ID={version}; {target}; {profile}; candle-{CANDLE_VERSION}{cuda}"
    );
    println!("cargo:rustc-env=GANBENCH_CANDLE_VERSION={CANDLE_VERSION}");
    println!("cargo:rerun-if-env-changed=RUSTC");
    println!("cargo:rerun-if-changed=build.rs");
}
