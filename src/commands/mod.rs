//! One module per subcommand. Each returns an exit code or an error; `main` prints errors.

pub mod compare;
pub mod doctor;
pub mod export;
pub mod ls;
pub mod metrics;
pub mod plugins;
pub mod report;
pub mod run;
pub mod show;
pub mod train;
pub mod worker;

use std::fmt;

/// Wraps an error caused by the user's input (a bad parameter, an unknown plugin): exit status 2,
/// like a usage error, so scripts can tell "fix your command" from "the run failed".
#[derive(Debug)]
pub struct BadInput(pub anyhow::Error);

impl fmt::Display for BadInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#}", self.0)
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

/// Opens an existing database for reading commands (which must not create an empty one).
pub fn open_store(db: &std::path::Path) -> anyhow::Result<ganbench_store::Store> {
    if !db.exists() {
        return Err(bad_input(anyhow::anyhow!(
            "no database at {}; run a sweep first (`ganbench run experiments/quickstart.ron`) or pass --db PATH",
            db.display()
        )));
    }
    ganbench_store::Store::open(db).map_err(bad_input)
}

/// Finds a sweep by `NAME` (newest version) or `NAME@VERSION`.
pub fn find_sweep(
    store: &ganbench_store::Store,
    text: &str,
) -> anyhow::Result<ganbench_store::Sweep> {
    let (name, version) = match text.rsplit_once('@') {
        Some((n, v)) => match v.parse::<u32>() {
            Ok(v) => (n, Some(v)),
            Err(_) => (text, None),
        },
        None => (text, None),
    };
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

/// Milliseconds since the epoch as `YYYY-MM-DD HH:MM:SS` UTC.
pub fn format_time(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil-from-days (Howard Hinnant's algorithm), to avoid a date crate for one format.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn format_time_matches_known_dates() {
        assert_eq!(super::format_time(0), "1970-01-01 00:00:00");
        assert_eq!(super::format_time(951_782_400_000), "2000-02-29 00:00:00");
        assert_eq!(super::format_time(1_795_855_262_000), "2026-11-28 08:41:02");
    }
}
