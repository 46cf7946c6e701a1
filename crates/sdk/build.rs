//! Computes what the SDK adds to `ganbench-plugin-api`'s toolchain id to make the plugin build id:
//! the candle version (and `; cuda` in a CUDA build), because candle's in-memory layout is part of
//! what host and plugin must agree on (design.md, "The plugin boundary"). The toolchain part is
//! `plugin_api::TOOLCHAIN_ID` itself, joined to this suffix at compile time in lib.rs, so the two
//! can never be computed differently.

/// Pinned with `=` in the workspace manifest; a unit test checks it against Cargo.lock.
const CANDLE_VERSION: &str = "0.11.1";

fn main() {
    // A CUDA build's candle differs from a CPU build's, and a plugin must agree with its host on
    // whether `cuda:N` can work: the feature is part of the id (docs/cuda.md).
    let cuda = if std::env::var_os("CARGO_FEATURE_CUDA").is_some() {
        "; cuda"
    } else {
        ""
    };
    println!("cargo:rustc-env=GANBENCH_BUILD_SUFFIX=; candle-{CANDLE_VERSION}{cuda}");
    println!("cargo:rustc-env=GANBENCH_CANDLE_VERSION={CANDLE_VERSION}");
    println!("cargo:rerun-if-changed=build.rs");
}
