//! Helpers for the end-to-end tests: run the real `ganbench` binary, build plugin libraries.

#![allow(dead_code)] // each test binary uses a different subset

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

pub fn ganbench() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ganbench"));
    cmd.env_remove("GANBENCH_PLUGIN_PATH")
        .env_remove("GANBENCH_DB");
    cmd
}

/// Runs ganbench with `args`; returns (exit code, stdout, stderr).
pub fn run(args: &[&str]) -> (i32, String, String) {
    let out = ganbench().args(args).output().expect("ganbench runs");
    split(out)
}

pub fn split(out: Output) -> (i32, String, String) {
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

pub fn run_json(args: &[&str]) -> serde_json::Value {
    let (code, stdout, stderr) = run(args);
    assert_eq!(code, 0, "ganbench {args:?} failed:\n{stderr}");
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{stdout}"))
}

/// The directory the test binary's `ganbench` was built into (target/debug or target/release).
pub fn profile_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_ganbench"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// `cargo build` with the same profile as this test's ganbench.
fn cargo_build(extra: &[&str]) {
    cargo_build_with(extra, &[]);
}

fn cargo_build_with(extra: &[&str], env: &[(&str, &str)]) {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.envs(env.iter().copied());
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
        .arg("build")
        .arg("--quiet");
    if profile_dir().file_name().is_some_and(|n| n == "release") {
        cmd.arg("--release");
    }
    let out = cmd.args(extra).output().expect("cargo runs");
    assert!(
        out.status.success(),
        "cargo build {extra:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Builds the plugin cdylibs with the same profile as this test's ganbench; returns their directory.
pub fn plugin_libraries() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let mut args = Vec::new();
        for p in [
            "ganbench-gan",
            "ganbench-wgan-gp",
            "ganbench-sngan",
            "ganbench-vae",
            "ganbench-lsgan",
        ] {
            args.extend(["-p", p]);
        }
        cargo_build(&args);
        profile_dir()
    })
}

/// Builds one of the standalone fixture libraries under tests/fixtures/plugins; returns its path.
pub fn fixture_library(name: &str) -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/plugins")
        .join(name)
        .join("Cargo.toml");
    let target = profile_dir().parent().unwrap().join("fixtures");
    // The abort fixture is a real plugin: it must carry this ganbench's build id to be accepted.
    let build_id = run_json(&["plugins", "--json"])["build_id"]
        .as_str()
        .unwrap()
        .to_string();
    cargo_build_with(
        &[
            "--manifest-path",
            manifest.to_str().unwrap(),
            "--target-dir",
            target.to_str().unwrap(),
        ],
        &[("GANBENCH_FIXTURE_BUILD_ID", &build_id)],
    );
    let crate_name = format!("ganbench_fixture_{}", name.replace('-', "_"));
    let file = format!(
        "{}{crate_name}{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    );
    let profile = profile_dir().file_name().unwrap().to_owned();
    target.join(profile).join(file)
}

/// The shared library file of a plugin crate (e.g. `ganbench_gan`) in `dir`.
pub fn library_path(dir: &Path, crate_name: &str) -> PathBuf {
    dir.join(format!(
        "{}{crate_name}{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    ))
}
