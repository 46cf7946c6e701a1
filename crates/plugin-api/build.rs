//! Computes the toolchain part of the plugin build id: a dynamic plugin must have been built by the
//! same compiler, for the same target, in the same profile as the host that loads it.
use std::process::Command;

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
    println!("cargo:rustc-env=GANBENCH_TOOLCHAIN_ID={version}; {target}; {profile}");
    println!("cargo:rerun-if-env-changed=RUSTC");
}
