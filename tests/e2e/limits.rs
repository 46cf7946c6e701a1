//! End to end: sweeps that ask for too much are refused at `file:line:col` before any work —
//! 10⁹ trials, numbers that would overflow or exhaust memory inside every trial, huge files and
//! labels, control characters — quickly and in little memory; `--max-trials` raises the limit.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::*;

/// What one `ganbench` process did: exit code, stdout, stderr, wall time and peak resident memory.
struct Measured {
    code: i32,
    stdout: String,
    stderr: String,
    wall: Duration,
    peak_mib: f64,
}

/// Runs ganbench and measures it, through an intermediate process: on Linux a child's peak
/// resident memory (`ru_maxrss`) starts at its parent's high-water mark, since exec carries the
/// old address space's peak over, and this test binary runs many tests at once. The intermediate
/// is this binary started afresh (a few MiB), running only [`measure_child`].
fn measured(args: &[&str]) -> Measured {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "limits::measure_child",
            "--ignored",
            "--nocapture",
        ])
        .env(MEASURE_ARGS, serde_json::to_string(args).unwrap())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("MEASURED "))
        .unwrap_or_else(|| {
            panic!(
                "no measurement: {text}{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    Measured {
        code: v["code"].as_i64().unwrap() as i32,
        stdout: v["stdout"].as_str().unwrap().to_string(),
        stderr: v["stderr"].as_str().unwrap().to_string(),
        wall: Duration::from_secs_f64(v["wall_s"].as_f64().unwrap()),
        peak_mib: v["peak_mib"].as_f64().unwrap(),
    }
}

/// The arguments (JSON) for [`measure_child`]; unset, it does nothing.
const MEASURE_ARGS: &str = "GANBENCH_TEST_MEASURE_ARGS";

/// The intermediate process of [`measured`]: runs ganbench with the arguments in `MEASURE_ARGS`
/// and prints one `MEASURED {json}` line. Ignored otherwise, and a no-op when the slow tier
/// (`--ignored`) runs it without the variable.
#[test]
#[ignore = "the intermediate process of measured()"]
fn measure_child() {
    let Some(args) = std::env::var_os(MEASURE_ARGS) else {
        return;
    };
    let args: Vec<String> = serde_json::from_str(args.to_str().unwrap()).unwrap();
    let m = measure(&args);
    let json = serde_json::json!({
        "code": m.code,
        "stdout": m.stdout,
        "stderr": m.stderr,
        "wall_s": m.wall.as_secs_f64(),
        "peak_mib": m.peak_mib,
    });
    println!("MEASURED {json}");
}

/// Runs ganbench from this process: peak RSS from the kernel's rusage of that one child.
// The child is reaped by `wait4`, which (unlike `Child::wait`) also returns its rusage.
#[allow(clippy::zombie_processes)]
fn measure(args: &[String]) -> Measured {
    let started = Instant::now();
    let mut child = ganbench()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let read = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            pipe.read_to_string(&mut text).unwrap();
            text
        })
    };
    let stdout = read(Box::new(child.stdout.take().unwrap()));
    let stderr = read(Box::new(child.stderr.take().unwrap()));
    let mut status = 0;
    // SAFETY: `rusage` is a C struct of integers and `timeval`s, for which all-zero bytes are a
    // valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `status` and `usage` are live locals of the types wait4 writes; the pid is our own
    // child, not yet reaped (std's `Child` is neither waited for nor dropped before this), so
    // wait4 reaps exactly it and no other code waits on it.
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as i32);
    Measured {
        code: if libc::WIFEXITED(status) {
            libc::WEXITSTATUS(status)
        } else {
            -1
        },
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
        wall: started.elapsed(),
        peak_mib: usage.ru_maxrss as f64 / 1024.0, // kilobytes on Linux
    }
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// Writes `head`, then `piece(0)`, `piece(1)`… until `size` bytes, then `tail`, without holding
/// the file in memory (50 MB strings, many at once, would weigh on a shared test machine).
fn write_streamed(
    dir: &Path,
    name: &str,
    head: &str,
    tail: &str,
    size: usize,
    mut piece: impl FnMut(u64) -> String,
) -> PathBuf {
    use std::io::Write;
    let path = dir.join(name);
    let mut out = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    out.write_all(head.as_bytes()).unwrap();
    let (mut written, mut i) = (0, 0);
    while written < size {
        let p = piece(i);
        out.write_all(p.as_bytes()).unwrap();
        written += p.len();
        i += 1;
    }
    out.write_all(tail.as_bytes()).unwrap();
    out.flush().unwrap();
    path
}

/// A small valid sweep with `extra` fields and the given variants.
fn sweep_text(extra: &str, variants: &str) -> String {
    format!(
        r#"Sweep(
    name: "limits",
    data: "ring8",
    steps: 2,
    eval_every: 1,
    eval_samples: 10,
    {extra}
    variants: [{variants}],
)"#
    )
}

/// `line:col` (1-based, columns in characters) of the first `needle` in the file: where an error
/// must point, found independently of the crate's own locator.
fn position(file: &Path, needle: &str) -> String {
    let text = std::fs::read_to_string(file).unwrap();
    let offset = text
        .find(needle)
        .unwrap_or_else(|| panic!("`{needle}` not in {}", file.display()));
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before[before.rfind('\n').map_or(0, |i| i + 1)..]
        .chars()
        .count()
        + 1;
    format!("{line}:{col}")
}

/// `ganbench run FILE` in `dir` with a database there; the sweep must be refused with exit 2 at
/// the position of `needle` in the file, with a message containing `expected`.
fn refused(dir: &Path, file: &Path, needle: &str, expected: &str) -> Measured {
    let at = position(file, needle);
    let db = dir.join("db.sqlite");
    let m = measured(&[
        "run",
        file.to_str().unwrap(),
        "--db",
        db.to_str().unwrap(),
        "--no-report",
    ]);
    assert_eq!(m.code, 2, "{}: {}", file.display(), m.stderr);
    let located = format!("{}:{at}: ", file.display());
    assert!(
        m.stderr.contains(&located) && m.stderr.contains(expected),
        "want `{located}…{expected}` in:\n{}",
        m.stderr
    );
    assert!(!m.stderr.contains("panicked"), "{}", m.stderr);
    assert!(!db.exists(), "the database was touched");
    m
}

#[test]
fn a_billion_trials_are_refused_at_once_in_little_memory() {
    let dir = tempfile::tempdir().unwrap();
    let seeds = write(
        dir.path(),
        "seeds.ron",
        &sweep_text("seeds: 1000000000,", r#"(plugin: "gan")"#),
    );
    let m = refused(
        dir.path(),
        &seeds,
        "1000000000",
        "the sweep expands to 1,000,000,000 trials, more than the limit of 100,000",
    );
    // Before: 24 GB and the out-of-memory killer, or minutes of spinning. The issue asks for a
    // refusal within a second; the bound here leaves room for a loaded test machine.
    assert!(m.wall < Duration::from_secs(5), "took {:?}", m.wall);
    assert!(m.peak_mib < 100.0, "peak {:.1} MiB", m.peak_mib);
    assert!(m.stderr.contains("--max-trials"), "{}", m.stderr);

    // Nine grid axes of ten values: located at the (last) longest axis.
    let axis = |name: &str, float: bool| {
        let values: Vec<String> = (1..=10)
            .map(|k| {
                if float {
                    format!("{k}e-2")
                } else {
                    k.to_string()
                }
            })
            .collect();
        format!("\"{name}\": [{}]", values.join(", "))
    };
    let axes: Vec<String> = ["lr_g", "lr_d", "beta1", "beta2"]
        .iter()
        .map(|n| axis(n, true))
        .chain(
            ["batch_size", "latent_dim", "hidden", "layers", "n_critic"]
                .iter()
                .map(|n| axis(n, false)),
        )
        .collect();
    let grid = write(
        dir.path(),
        "grid.ron",
        &sweep_text(
            &format!(
                "seeds: 1,\n    grid: {{\n        {}\n    }},",
                axes.join(",\n        ")
            ),
            r#"(plugin: "gan")"#,
        ),
    );
    let m = refused(
        dir.path(),
        &grid,
        "[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\n",
        "1,000,000,000 trials, more than the limit of 100,000 (variant `gan`: 1,000,000,000 grid point(s)",
    );
    assert!(m.peak_mib < 100.0, "peak {:.1} MiB", m.peak_mib);

    let search = write(
        dir.path(),
        "search.ron",
        &sweep_text(
            "seeds: 1,\n    search: (trials: 1000000000, space: {\"lr_g\": LogUniform(1e-5, 1e-2)}),",
            r#"(plugin: "gan")"#,
        ),
    );
    let m = refused(
        dir.path(),
        &search,
        "1000000000, space",
        "1,000,000,000 search draw(s)",
    );
    assert!(m.peak_mib < 100.0, "peak {:.1} MiB", m.peak_mib);
}

#[test]
fn numbers_that_would_overflow_or_exhaust_memory_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let gan = r#"(plugin: "gan")"#;
    // Panicked with `capacity overflow` before.
    let f = write(
        dir.path(),
        "max_seeds.ron",
        &sweep_text("seeds: 18446744073709551615,", gan),
    );
    refused(
        dir.path(),
        &f,
        "18446744073709551615",
        "18,446,744,073,709,551,615 trials",
    );
    // Passed validation and then panicked inside every trial before.
    let f = write(
        dir.path(),
        "eval_samples.ron",
        &sweep_text("seeds: 1,", gan)
            .replace("eval_samples: 10,", "eval_samples: 18446744073709551615,"),
    );
    refused(
        dir.path(),
        &f,
        "18446744073709551615",
        "`eval_samples` is 18,446,744,073,709,551,615; at most 100,000",
    );
    let f = write(
        dir.path(),
        "steps.ron",
        &sweep_text("seeds: 1,", gan).replace("steps: 2,", "steps: 1000000000000,"),
    );
    refused(
        dir.path(),
        &f,
        "1000000000000",
        "`steps` is 1,000,000,000,000; at most 1,000,000,000",
    );
    // A batch far beyond the plugin's declared bound is refused by the declaration.
    let f = write(
        dir.path(),
        "batch.ron",
        &sweep_text(
            "seeds: 1,",
            r#"(plugin: "gan", params: {"batch_size": 9223372036854775807})"#,
        ),
    );
    refused(
        dir.path(),
        &f,
        "9223372036854775807",
        "`batch_size` must be an integer in",
    );
    let f = write(
        dir.path(),
        "timeout.ron",
        &sweep_text("seeds: 1,\n    timeout: \"soon\",", gan),
    );
    refused(
        dir.path(),
        &f,
        "\"soon\"",
        "`timeout`: `soon` is not a duration",
    );
    let f = write(
        dir.path(),
        "timeout_long.ron",
        &sweep_text("seeds: 1,\n    timeout: \"31d\",", gan),
    );
    refused(
        dir.path(),
        &f,
        "\"31d\"",
        "out of range: from 1 s to 2592000 s",
    );

    // `train` takes the same bounds on its command line (its plugin panicked before).
    for (flag, value, range) in [
        ("--eval-samples", "18446744073709551615", "1..=100000"),
        ("--steps", "0", "1..=1000000000"),
    ] {
        let (code, stdout, stderr) = run(&["train", "--plugin", "gan", flag, value]);
        assert_eq!(code, 2, "{stderr}");
        assert!(
            stderr.contains(&format!("{value} is not in {range}")),
            "{stderr}"
        );
        assert!(stdout.is_empty() && !stderr.contains("panicked"));
    }
}

#[test]
fn labels_with_control_characters_or_megabytes_are_refused_without_being_repeated() {
    let dir = tempfile::tempdir().unwrap();
    for (name, label, expected) in [
        (
            "nul",
            "a\\u{0}b",
            "contains a control character (U+0000) at character 2",
        ),
        (
            "esc",
            "\\u{1b}[31mred",
            "contains a control character (U+001B) at character 1",
        ),
        (
            "newline",
            "two\\nlines",
            "contains a control character (U+000A)",
        ),
    ] {
        let f = write(
            dir.path(),
            &format!("{name}.ron"),
            &sweep_text(
                "seeds: 1,",
                &format!(r#"(plugin: "gan", label: "{label}")"#),
            ),
        );
        refused(
            dir.path(),
            &f,
            &format!("\"{}", &label[..1]),
            &format!("the label of variant 1 {expected}"),
        );
    }
    let long = "x".repeat(201);
    let f = write(
        dir.path(),
        "long.ron",
        &sweep_text("seeds: 1,", &format!(r#"(plugin: "gan", label: "{long}")"#)),
    );
    refused(
        dir.path(),
        &f,
        "\"xxx",
        "is 201 characters long; at most 200",
    );

    // A 50 MB label: refused, and never echoed.
    let (head, tail) = sweep_text("seeds: 1,", r#"(plugin: "gan", label: "LABEL")"#)
        .split_once("LABEL")
        .map(|(h, t)| (h.to_string(), t.to_string()))
        .unwrap();
    let f = write_streamed(dir.path(), "huge_label.ron", &head, &tail, 50 << 20, |_| {
        "y".repeat(1 << 20)
    });
    let m = refused(dir.path(), &f, "\"yyy", "is 52,428,800 characters long");
    assert!(m.stderr.len() < 2_000, "{} bytes of error", m.stderr.len());
    assert!(m.peak_mib < 400.0, "peak {:.1} MiB", m.peak_mib);
    assert!(m.wall < Duration::from_secs(20), "took {:?}", m.wall);
    assert!(m.stdout.is_empty());

    // A parameter name is checked before it is looked up (and echoed as unknown).
    let f = write(
        dir.path(),
        "key.ron",
        &sweep_text(
            "seeds: 1,",
            &format!(r#"(plugin: "gan", params: {{"{}": 1}})"#, "k".repeat(101)),
        ),
    );
    refused(
        dir.path(),
        &f,
        "\"kkk",
        "a parameter name is 101 characters long",
    );
}

#[test]
fn a_file_of_fifty_megabytes_is_refused_in_seconds_and_little_memory() {
    let dir = tempfile::tempdir().unwrap();
    // 50 MB of seeds: millions of list entries, counted before ron builds any of them.
    let (head, tail) = sweep_text("seeds: [SEEDS],", r#"(plugin: "gan")"#)
        .split_once("SEEDS")
        .map(|(h, t)| (h.to_string(), t.to_string()))
        .unwrap();
    let f = write_streamed(dir.path(), "seeds.ron", &head, &tail, 50 << 20, |i| {
        format!("{i},")
    });
    let m = refused(
        dir.path(),
        &f,
        ",249994,",
        "the sweep file holds more than 250,000 values",
    );
    assert!(m.peak_mib < 400.0, "peak {:.1} MiB", m.peak_mib);
    assert!(m.wall < Duration::from_secs(20), "took {:?}", m.wall);

    // Beyond 64 MiB the file is not even read.
    let f = dir.path().join("too_big.ron");
    let file = std::fs::File::create(&f).unwrap();
    file.set_len((64 << 20) + 1).unwrap(); // sparse: no disk used
    let db = dir.path().join("db.sqlite");
    let m = measured(&["run", f.to_str().unwrap(), "--db", db.to_str().unwrap()]);
    assert_eq!(m.code, 2, "{}", m.stderr);
    assert!(
        m.stderr
            .contains("67,108,865 bytes; sweep files are at most 67,108,864 bytes"),
        "{}",
        m.stderr
    );
    assert!(m.peak_mib < 100.0, "peak {:.1} MiB", m.peak_mib);
}

#[test]
fn max_trials_sets_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    // 2 variants × 3 seeds = 6 trials.
    let f = write(
        dir.path(),
        "six.ron",
        &sweep_text(
            "seeds: 3,\n    base: {\"batch_size\": 8, \"hidden\": 4},",
            r#"(plugin: "gan"), (plugin: "vae")"#,
        ),
    );
    let db = dir.path().join("db.sqlite");
    let (code, _, stderr) = run_sweep(&f, &db, &["--max-trials", "5"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("the sweep expands to 6 trials, more than the limit of 5"),
        "{stderr}"
    );
    assert!(!db.exists());
    let (code, stdout, stderr) = run_sweep(&f, &db, &["--max-trials", "6", "--json"]);
    assert_eq!(code, 0, "{stderr}");
    let summary: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(summary["finished"], 6, "{summary}");
}
