//! Helpers for the end-to-end tests: run the real `ganbench` binary, build plugin libraries.

#![allow(dead_code)] // each test binary uses a different subset

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

pub fn ganbench() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ganbench"));
    cmd.env_remove("GANBENCH_PLUGIN_PATH")
        .env_remove("GANBENCH_DB")
        // Plugin probe verdicts go to the build folder, not the user's ~/.cache.
        .env(
            "GANBENCH_CACHE_DIR",
            profile_dir().parent().unwrap().join("test-cache"),
        );
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

/// `ganbench run SWEEP --db DB --no-report EXTRA…`; returns (exit code, stdout, stderr). Tests
/// that want a report write it into their own folder with `ganbench report --out`.
pub fn run_sweep(sweep: &Path, db: &Path, extra: &[&str]) -> (i32, String, String) {
    let mut args = vec![
        "run",
        sweep.to_str().unwrap(),
        "--db",
        db.to_str().unwrap(),
        "--no-report",
    ];
    args.extend_from_slice(extra);
    run(&args)
}

/// Writes `dir/mixed.ron`: on ring8, a trial of the `abort` fixture plugin that aborts at step 5,
/// one whose loss becomes NaN at step `nan_at`, and a small GAN that finishes.
pub fn mixed_sweep(dir: &Path, nan_at: u64) -> PathBuf {
    let lib = fixture_library("abort");
    let path = dir.join("mixed.ron");
    std::fs::write(
        &path,
        format!(
            r#"Sweep(
    name: "mixed",
    data: "ring8",
    steps: 30,
    eval_every: 10,
    eval_samples: 100,
    seeds: 1,
    variants: [
        (plugin: "{lib}", label: "aborts", params: {{"abort_at": 5}}),
        (plugin: "{lib}", label: "nan", params: {{"abort_at": 0, "nan_at": {nan_at}}}),
        (plugin: "gan", params: {{"batch_size": 32, "hidden": 16}}),
    ],
)"#,
            lib = lib.display()
        ),
    )
    .unwrap();
    path
}

/// The committed MNIST fixture: 10,000 digits with their labels.
pub fn mnist_fixture() -> ganbench_data::ImageSet {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mnist");
    ganbench_data::ImageSpec::Idx {
        images: dir.join("images-idx3-ubyte.gz"),
        labels: Some(dir.join("labels-idx1-ubyte.gz")),
        transpose: false,
        held_out: None,
    }
    .load_all()
    .unwrap()
}

/// An IDX image file's bytes: magic 0x00000803, count, rows, columns (big-endian), then `pixels`
/// (which a test may make too short on purpose).
pub fn idx_image_bytes(count: u32, side: u32, pixels: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, 8, 3];
    for d in [count, side, side] {
        out.extend_from_slice(&d.to_be_bytes());
    }
    out.extend_from_slice(pixels);
    out
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

/// The plugins under plugins/, by name: a plugin is named after its folder (`wgan-gp`).
pub fn plugin_folders() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("plugins");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("Cargo.toml").is_file())
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The built-in plugins, in registration order: every `ganbench-NAME` among the binary's
/// `[dependencies]` in Cargo.toml with a crate in plugins/NAME (the one list; build.rs turns it
/// into the registry's).
pub fn builtin_plugins() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let dependencies = manifest
        .split("\n[dependencies]\n")
        .nth(1)
        .expect("Cargo.toml has a [dependencies] table")
        .split("\n[")
        .next()
        .unwrap();
    dependencies
        .lines()
        .filter_map(|l| l.strip_prefix("ganbench-")?.split('.').next())
        .filter(|name| root.join("plugins").join(name).is_dir())
        .map(str::to_string)
        .collect()
}

/// The library (crate) name of the plugin named `name`: `wgan-gp` → `ganbench_wgan_gp`.
pub fn plugin_crate(name: &str) -> String {
    format!("ganbench_{}", name.replace('-', "_"))
}

/// A folder holding the dynamic library of every plugin under plugins/, as built for this test.
///
/// Every plugin crate is a dependency of this package (built-ins as normal dependencies, the
/// others as dev-dependencies), and cargo writes a dependency's cdylib into `deps/`: the build
/// that made this test made them, with the same profile and features as the ganbench under test.
/// (Running `cargo build -p <plugin>…` from a test resolves features for the plugins alone: a
/// second copy of candle and of every shared dependency, minutes on two cores, and it overwrites
/// the workspace's plugin libraries, whose file names carry no hash.) They are copied into a
/// folder of their own because `deps/` holds other libraries too (procedural macros).
pub fn plugin_libraries() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let deps = profile_dir().join("deps");
        let dir = profile_dir().join("plugin-libraries");
        std::fs::create_dir_all(&dir).unwrap();
        for name in plugin_folders().iter().map(|p| plugin_crate(p)) {
            let built = library_path(&deps, &name);
            assert!(
                built.is_file(),
                "{} is missing: is {name} a dependency of the ganbench package?",
                built.display()
            );
            // Copy, then rename: test processes running at once never see half a library.
            let file = library_path(&dir, &name);
            let tmp = dir.join(format!(".{name}.{}", std::process::id()));
            std::fs::copy(&built, &tmp).unwrap();
            std::fs::rename(&tmp, &file).unwrap();
        }
        dir
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

/// Every metric point of the newest version of `sweep` in `db`, keyed by (trial, metric, step), as
/// bits; a point logged twice fails the test. `ms_per_step` is a timing, not a result, and is left
/// out.
pub fn points(db: &Path, sweep: &str) -> std::collections::BTreeMap<(String, String, u64), u64> {
    let store = ganbench_store::Store::open(db).unwrap();
    let s = store.find_sweep(sweep, None).unwrap().unwrap();
    let mut out = std::collections::BTreeMap::new();
    for row in store.export_rows(s.id).unwrap() {
        let r = row.unwrap();
        if r.metric == "ms_per_step" {
            continue;
        }
        let key = (r.trial_key, r.metric, r.step);
        assert!(
            out.insert(key.clone(), r.value.to_bits()).is_none(),
            "{key:?} logged twice"
        );
    }
    out
}

/// A sweep small enough to run many times in a test: 2 variants × 2 seeds, frequent checkpoints.
pub fn tiny_sweep(dir: &Path, name: &str, steps: u64) -> PathBuf {
    let path = dir.join(format!("{name}.ron"));
    std::fs::write(
        &path,
        format!(
            r#"Sweep(
    name: "{name}",
    data: "ring8",
    steps: {steps},
    eval_every: {eval_every},
    eval_samples: 200,
    checkpoint_every: 3,
    seeds: 2,
    base: {{"batch_size": 32, "hidden": 16}},
    variants: [(plugin: "gan"), (plugin: "vae")],
)"#,
            eval_every = steps.min(20)
        ),
    )
    .unwrap();
    path
}

/// Every run of the newest version of `sweep`: (trial key, status, step), by trial key.
pub fn statuses(db: &Path, sweep: &str) -> Vec<(String, ganbench_store::Status, u64)> {
    let store = ganbench_store::Store::open_read_only(db).unwrap();
    let s = store.find_sweep(sweep, None).unwrap().unwrap();
    let mut runs: Vec<_> = store
        .runs(s.id)
        .unwrap()
        .into_iter()
        .map(|r| (r.trial_key, r.status, r.step))
        .collect();
    runs.sort_by(|a, b| a.0.cmp(&b.0));
    runs
}

/// The built-in plugins' declarations, as `ganbench` registers them (checked against the
/// manifest's list, `builtin_plugins`).
pub fn builtin_registry() -> ganbench_plugin_api::Registry {
    let mut registry = ganbench_plugin_api::Registry::new(ganbench_sdk::BUILD_ID);
    for decl in [
        ganbench_gan::declaration(),
        ganbench_wgan_gp::declaration(),
        ganbench_sngan::declaration(),
        ganbench_vae::declaration(),
        ganbench_wgan::declaration(),
        ganbench_vae_gan::declaration(),
    ] {
        registry.add_builtin(decl).unwrap();
    }
    let mut names = registry.names();
    let mut listed = builtin_plugins();
    names.sort();
    listed.sort();
    assert_eq!(
        names, listed,
        "a built-in plugin is missing from this test's list"
    );
    registry
}

/// The first `n` digits of the fixture as gzipped IDX files `dir/images.gz` and `dir/labels.gz`.
pub fn write_digits(dir: &Path, n: usize) {
    use std::io::Write;
    let set = mnist_fixture();
    let pixels: Vec<u8> = (0..n).flat_map(|i| set.image(i).to_vec()).collect();
    let images = idx_image_bytes(n as u32, 28, &pixels);
    let mut labels = vec![0u8, 0, 8, 1];
    labels.extend_from_slice(&(n as u32).to_be_bytes());
    labels.extend(set.labels().unwrap()[..n].iter().map(|&l| l as u8));
    for (name, bytes) in [("images.gz", images), ("labels.gz", labels)] {
        let mut gz = flate2::write::GzEncoder::new(
            std::fs::File::create(dir.join(name)).unwrap(),
            flate2::Compression::fast(),
        );
        gz.write_all(&bytes).unwrap();
        gz.finish().unwrap();
    }
}
