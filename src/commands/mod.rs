//! One module per subcommand. Each returns an exit code or an error; `main` prints errors.

pub mod archive;
pub mod compare;
pub mod completions;
pub mod confirm;
pub mod doctor;
pub mod export;
pub mod ls;
pub mod man;
pub mod merge;
pub mod metrics;
pub mod note;
pub mod open;
pub mod plugin;
pub mod plugins;
pub mod report;
pub mod rm;
pub mod run;
pub mod serve;
pub mod show;
pub mod slurm;
pub mod tag;
pub mod train;
pub mod worker;

use std::fmt;

/// Wraps an error caused by the user's input (a bad parameter, an unknown plugin): exit status 2,
/// like a usage error, so scripts can tell "fix your command" from "the run failed".
#[derive(Debug)]
pub struct BadInput(pub anyhow::Error);

impl fmt::Display for BadInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&chain_text(self.0.chain()))
    }
}

impl std::error::Error for BadInput {}

/// Marks an error as the user's to fix.
pub fn bad_input(err: impl Into<anyhow::Error>) -> anyhow::Error {
    anyhow::Error::new(BadInput(err.into()))
}

pub fn exit_code(err: &anyhow::Error) -> u8 {
    if err.chain().any(|e| e.is::<BadInput>()) {
        2
    } else {
        1
    }
}

/// True when the error is a write to a closed pipe (`ganbench ls | head`).
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// An error and its causes, joined by ": " like anyhow's `{:#}`, without a cause whose text is
/// already there (rusqlite repeats SQLite's message in its source: "unable to open database
/// file" three times), and with control characters escaped so that no message moves the cursor
/// or recolours the terminal.
pub fn error_text(err: &anyhow::Error) -> String {
    printable(&chain_text(err.chain())).into_owned()
}

fn chain_text<'a>(chain: impl Iterator<Item = &'a (dyn std::error::Error + 'static)>) -> String {
    let mut text = String::new();
    for cause in chain {
        let part = cause.to_string();
        if part.is_empty() || text.contains(&part) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&part);
    }
    text
}

/// `text` with control characters other than newline and tab escaped (`\u{1b}`): for strings
/// that a terminal shows (labels, errors and events from a database or a plugin).
pub fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    if !text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return text.into();
    }
    text.chars()
        .map(|c| {
            if c.is_control() && c != '\n' && c != '\t' {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect::<String>()
        .into()
}

/// [`printable`] on one line: newlines and tabs escaped too (table cells).
pub fn printable_line(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Opens an existing database read-only, for the reading commands (`ls`, `show`, `export`,
/// `report`, `compare`): they never create or write a file, so they work on a read-only file or
/// folder. The one exception is a file of an older schema, which is upgraded first (one
/// migration transaction) when it can be.
pub fn open_store(db: &std::path::Path) -> anyhow::Result<ganbench_store::Store> {
    use ganbench_store::{Store, StoreError};
    if !db.exists() {
        return Err(bad_input(anyhow::anyhow!(
            "no database at {}; run a sweep first (`ganbench run experiments/quickstart.ron`) or pass --db PATH",
            db.display()
        )));
    }
    match Store::open_read_only(db) {
        Err(old @ StoreError::TooOld { .. }) => match Store::open(db) {
            Ok(upgraded) => {
                drop(upgraded);
                Store::open_read_only(db).map_err(bad_input)
            }
            Err(e) => Err(bad_input(anyhow::Error::new(old).context(format!("{e}")))),
        },
        other => other.map_err(bad_input),
    }
}

pub use ganbench_store::layout::runs_dir;

/// Opens a database for a command that writes to it by hand (`tag`, `note`, `archive`, `rm`):
/// it must exist already, so that a mistyped --db is not created empty.
pub fn open_store_for_writing(db: &std::path::Path) -> anyhow::Result<ganbench_store::Store> {
    if !db.exists() {
        return Err(bad_input(anyhow::anyhow!(
            "no database at {}; run a sweep first (`ganbench run experiments/quickstart.ron`) or pass --db PATH",
            db.display()
        )));
    }
    ganbench_store::Store::open(db).map_err(bad_input)
}

/// What `tag` and `note` are about: a run by its id (a number: the RUN column of `ganbench ls
/// SWEEP`), else a sweep by `NAME` or `NAME@VERSION` (a sweep whose name is a number is named
/// `NAME@VERSION`).
pub fn find_target(
    store: &ganbench_store::Store,
    text: &str,
) -> anyhow::Result<ganbench_store::Target> {
    use ganbench_store::{RunId, Target};
    match text.parse::<i64>() {
        Ok(id) => {
            store.run(RunId(id)).map_err(bad_input)?;
            Ok(Target::Run(RunId(id)))
        }
        Err(_) => Ok(Target::Sweep(find_sweep(store, text)?.id)),
    }
}

/// How a target is named in messages: `run 3` or `sweep quickstart@1`.
pub fn target_name(
    store: &ganbench_store::Store,
    target: ganbench_store::Target,
) -> anyhow::Result<String> {
    Ok(match target {
        ganbench_store::Target::Run(run) => format!("run {}", run.0),
        ganbench_store::Target::Sweep(id) => {
            let sweep = store.sweep(id)?;
            format!("sweep {}@{}", sweep.name, sweep.version)
        }
    })
}

/// `NAME` or `NAME@VERSION` as the commands take a sweep: the name and the version, if one is
/// given (a name ending in `@` and something that is not a number is all name).
pub fn sweep_ref(text: &str) -> (&str, Option<u32>) {
    match text.rsplit_once('@') {
        Some((name, v)) => match v.parse::<u32>() {
            Ok(v) => (name, Some(v)),
            Err(_) => (text, None),
        },
        None => (text, None),
    }
}

/// Finds a sweep by `NAME` (newest version) or `NAME@VERSION`.
pub fn find_sweep(
    store: &ganbench_store::Store,
    text: &str,
) -> anyhow::Result<ganbench_store::SweepRecord> {
    let (name, version) = sweep_ref(text);
    match store.find_sweep(name, version)? {
        Some(s) => Ok(s),
        None => {
            let known: Vec<String> = store
                .list_sweeps()?
                .into_iter()
                .map(|s| format!("{}@{}", s.name, s.version))
                .collect();
            let known = if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            };
            Err(bad_input(anyhow::anyhow!(
                "no sweep `{text}` in {}; sweeps there: {known}",
                store.path().display()
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn repeated_causes_are_said_once_and_control_characters_escaped() {
        let err = anyhow::Error::new(std::io::Error::other("unable to open database file"))
            .context("unable to open database file")
            .context("cannot open database file x.db: unable to open database file; pass --db");
        assert_eq!(
            super::error_text(&err),
            "cannot open database file x.db: unable to open database file; pass --db"
        );
        let err = anyhow::anyhow!("label `a\u{1b}[31mb\0`\nnext line");
        assert_eq!(
            super::error_text(&err),
            "label `a\\u{1b}[31mb\\u{0}`\nnext line"
        );
        assert_eq!(super::printable_line("a\tb\nc"), "a\\tb\\nc");
        let bad = super::bad_input(anyhow::anyhow!("inner").context("outer"));
        assert_eq!(super::error_text(&bad.context("top")), "top: outer: inner");
    }

    #[test]
    fn a_closed_pipe_is_recognized_through_contexts() {
        let err = anyhow::Error::new(std::io::Error::from(std::io::ErrorKind::BrokenPipe))
            .context("writing the export");
        assert!(super::is_broken_pipe(&err));
        assert!(!super::is_broken_pipe(&anyhow::anyhow!("Broken pipe")));
    }
}
