//! The corpus of broken sweep files in tests/malformed/: each file's first line says which error it
//! must produce, where, and with what message:
//!
//! ```text
//! // expect: <ErrorKind> <line>:<col> <text the message contains>
//! // hint: <text the hint contains>            (optional)
//! ```
//!
//! The line:col were computed from the files' text independently of the crate (the position of
//! the offending token), so this checks both ron's positions and our locator's.

use crate::common;
use std::path::{Path, PathBuf};

use ganbench_spec::Sweep;

struct Expectation {
    kind: String,
    position: String,
    message: String,
    hint: Option<String>,
}

fn expectation(path: &Path, text: &str) -> Expectation {
    let mut lines = text.lines();
    let first = lines.next().and_then(|l| l.strip_prefix("// expect: "));
    let first = first
        .unwrap_or_else(|| panic!("{}: the first line must be `// expect: …`", path.display()));
    let mut parts = first.splitn(3, ' ');
    let (kind, position, message) = (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
    );
    let hint = lines
        .next()
        .and_then(|l| l.strip_prefix("// hint: "))
        .map(str::to_string);
    Expectation {
        kind: kind.into(),
        position: position.into(),
        message: message.into(),
        hint,
    }
}

fn corpus() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/malformed");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "ron"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_malformed_file_fails_with_the_expected_error_at_the_expected_place() {
    let catalog = common::catalog();
    let files = corpus();
    assert!(
        files.len() >= 40,
        "the corpus shrank: {} files",
        files.len()
    );
    let mut failures = Vec::new();
    for path in &files {
        let text = std::fs::read_to_string(path).unwrap();
        let want = expectation(path, &text);
        let err = match Sweep::load(path).and_then(|s| s.validate(&catalog)) {
            Ok(()) => {
                failures.push(format!("{}: no error", path.display()));
                continue;
            }
            Err(e) => e,
        };
        let got_position = err.position.map(|p| p.to_string()).unwrap_or_default();
        let mut problems = Vec::new();
        if format!("{:?}", err.kind) != want.kind {
            problems.push(format!("kind {:?}, want {}", err.kind, want.kind));
        }
        if got_position != want.position {
            problems.push(format!("at {got_position}, want {}", want.position));
        }
        if !err.message.contains(&want.message) {
            problems.push(format!("message lacks {:?}", want.message));
        }
        if let Some(hint) = &want.hint {
            if !err.hint.as_deref().unwrap_or("").contains(hint.as_str()) {
                problems.push(format!("hint lacks {hint:?}"));
            }
        }
        // The rendered form starts with the file and position, as an editor expects.
        let rendered = err.to_string();
        if !rendered.starts_with(&format!("{}:{}: ", path.display(), want.position)) {
            problems.push("rendered error does not start with path:line:col".into());
        }
        if !problems.is_empty() {
            failures.push(format!(
                "{}: {}\n    got: {rendered}",
                path.display(),
                problems.join("; ")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} files failed:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}

#[test]
fn text_without_a_path_is_called_sweep() {
    let err = Sweep::parse("Sweep(", "").unwrap_err();
    assert!(err.to_string().starts_with("<sweep>:1:"), "{err}");
}

#[test]
fn a_missing_file_is_a_read_error_naming_the_path() {
    let err = Sweep::load("no/such/sweep.ron").unwrap_err();
    assert_eq!(err.kind, ganbench_spec::ErrorKind::Read);
    assert!(
        err.to_string()
            .starts_with("no/such/sweep.ron: cannot read the sweep file"),
        "{err}"
    );
    assert!(std::error::Error::source(&err).is_some());
}
