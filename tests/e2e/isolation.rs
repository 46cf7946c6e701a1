//! End to end: a plugin library that crashes or hangs while being loaded or declaring its
//! parameters is probed in a child process and listed as skipped with the reason, and nothing
//! else is affected; the loader's own reason reaches the user when a file cannot be loaded.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::*;
use serde_json::Value;

/// A folder holding copies of the named fixture libraries (so that each test probes its own
/// files), and a cache folder of its own.
struct PluginDir {
    dir: tempfile::TempDir,
}

impl PluginDir {
    fn with(fixtures: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("plugins")).unwrap();
        for name in fixtures {
            let lib = fixture_library(name);
            std::fs::copy(
                &lib,
                dir.path().join("plugins").join(lib.file_name().unwrap()),
            )
            .unwrap();
        }
        Self { dir }
    }

    fn plugins(&self) -> PathBuf {
        self.dir.path().join("plugins")
    }

    fn cache(&self) -> PathBuf {
        self.dir.path().join("cache")
    }

    fn ganbench(&self) -> Command {
        let mut cmd = ganbench();
        cmd.env("GANBENCH_CACHE_DIR", self.cache())
            .arg("--plugin-dir")
            .arg(self.plugins());
        cmd
    }
}

fn output(mut cmd: Command) -> (i32, String, String) {
    split(cmd.output().unwrap())
}

#[test]
fn a_library_that_segfaults_in_its_declaration_is_skipped_with_the_signal_named() {
    let dir = PluginDir::with(&["segv-declare", "abort"]);
    let segv = dir
        .plugins()
        .join(fixture_library("segv-declare").file_name().unwrap());

    let mut cmd = dir.ganbench();
    cmd.args(["plugins", "--json"]);
    let (code, stdout, stderr) = output(cmd);
    assert_eq!(code, 0, "the listing survives: {stderr}");
    let listing: Value = serde_json::from_str(&stdout).unwrap();
    let names = |listing: &Value| -> Vec<String> {
        listing["plugins"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap().to_string())
            .collect()
    };
    // The built-ins, then the one fixture that loads.
    let (code, builtins, stderr) = run(&["plugins", "--json"]);
    assert_eq!(code, 0, "{stderr}");
    let mut expected = names(&serde_json::from_str(&builtins).unwrap());
    expected.push("abort".into());
    assert_eq!(names(&listing), expected);
    let skipped: Vec<&str> = listing["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert_eq!(skipped.len(), 1, "{skipped:?}");
    assert!(
        skipped[0].starts_with(&format!("{}: skipped", segv.display()))
            && skipped[0].contains(
                "was killed by SIGSEGV (signal 11) while loading or declaring its parameters"
            )
            && skipped[0].contains("segv-declare: declaring parameters"),
        "{}",
        skipped[0]
    );

    // The text listing says it on stderr; the verdict is cached (by path, size and time).
    let mut cmd = dir.ganbench();
    cmd.arg("plugins");
    let (code, stdout, stderr) = output(cmd);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("abort 0.0.0 — dynamic"), "{stdout}");
    assert!(
        stderr.contains("skipped: ") && stderr.contains("SIGSEGV (signal 11)"),
        "{stderr}"
    );
    let cache = std::fs::read_to_string(dir.cache().join("plugin-probes.json")).unwrap();
    assert!(cache.contains("SIGSEGV"), "{cache}");

    // A sweep and a training run beside it are not affected.
    let mut cmd = dir.ganbench();
    cmd.args([
        "train",
        "--plugin",
        "abort",
        "--set",
        "abort_at=0",
        "--steps",
        "3",
        "--eval-every",
        "0",
        "--eval-samples",
        "10",
        "--json",
    ]);
    let (code, stdout, stderr) = output(cmd);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("\"status\":\"finished\""), "{stdout}");
    let sweep = dir.dir.path().join("beside.ron");
    std::fs::write(
        &sweep,
        r#"Sweep(name: "beside", data: "ring8", steps: 3, eval_every: 0, eval_samples: 10, seeds: 1,
    variants: [(plugin: "abort", params: {"abort_at": 0}), (plugin: "gan", params: {"batch_size": 8, "hidden": 4})])"#,
    )
    .unwrap();
    let mut cmd = dir.ganbench();
    cmd.args([
        "run",
        sweep.to_str().unwrap(),
        "--db",
        dir.dir.path().join("db.sqlite").to_str().unwrap(),
        "--no-report",
        "--json",
    ]);
    let (code, stdout, stderr) = output(cmd);
    assert_eq!(code, 0, "{stderr}");
    let summary: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(summary["finished"], 2, "{summary}");

    // Naming the library itself is an input error with the same reason.
    let (code, _, stderr) = run(&["train", "--plugin", segv.to_str().unwrap()]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("SIGSEGV (signal 11)"), "{stderr}");
}

#[test]
fn a_library_that_hangs_in_its_declaration_is_skipped_after_the_probe_timeout() {
    let dir = PluginDir::with(&["hang-declare"]);
    let started = Instant::now();
    let mut cmd = dir.ganbench();
    cmd.env("GANBENCH_PROBE_TIMEOUT", "3")
        .args(["plugins", "--json"]);
    let (code, stdout, stderr) = output(cmd);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "waited {:?}",
        started.elapsed()
    );
    let listing: Value = serde_json::from_str(&stdout).unwrap();
    let skipped = listing["skipped"][0].as_str().unwrap();
    assert!(
        skipped.contains("did not finish loading and declaring its parameters within 3 s"),
        "{skipped}"
    );
    // Cached: the next listing does not wait for the library again (a 600 s timeout would show).
    let started = Instant::now();
    let mut cmd = dir.ganbench();
    cmd.env("GANBENCH_PROBE_TIMEOUT", "600")
        .args(["plugins", "--json"]);
    let (code, stdout, _) = output(cmd);
    assert_eq!(code, 0);
    assert!(started.elapsed() < Duration::from_secs(300));
    let listing: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(listing["skipped"][0].as_str().unwrap(), skipped);
}

/// Writes `bytes` as a library file in `dir`.
fn fake_library(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn the_loaders_reason_reaches_the_user() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("libmissing.so");
    let text = fake_library(dir.path(), "libtext.so", &[b'x'; 4096]);
    // A 32-bit ELF header: the loader refuses it for its class.
    let mut elf32 = vec![0x7f, b'E', b'L', b'F', 1, 1, 1, 0];
    elf32.resize(4096, 0);
    elf32[16] = 3; // ET_DYN
    elf32[18] = 3; // EM_386
    elf32[20] = 1; // EV_CURRENT
    let elf32 = fake_library(dir.path(), "libelf32.so", &elf32);
    for (path, reason) in [
        (
            &missing,
            "cannot open shared object file: No such file or directory",
        ),
        (&text, "invalid ELF header"),
        (&elf32, "wrong ELF class: ELFCLASS32"),
    ] {
        let (code, _, stderr) = run(&["train", "--plugin", path.to_str().unwrap(), "--steps", "1"]);
        assert_eq!(code, 2, "{stderr}");
        assert!(
            stderr.contains(&format!(
                "{}: cannot be loaded as a library:",
                path.display()
            )) && stderr.contains(reason),
            "want {reason:?} in {stderr}"
        );
        assert!(!stderr.contains("dlopen failed"), "{stderr}");
    }
    let (code, _, stderr) = run(&["plugins", "--plugin-dir", missing.to_str().unwrap()]);
    assert_eq!(
        code, 2,
        "a missing --plugin-dir is an input error: {stderr}"
    );
    assert!(stderr.contains("--plugin-dir"), "{stderr}");
}
