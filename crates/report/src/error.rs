//! Typed errors. Each message names the file or the thing concerned and what to do about it.

use std::path::PathBuf;

/// Everything that can go wrong while making a report.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReportError {
    /// Reading the database failed (its message names the file).
    #[error(transparent)]
    Store(#[from] ganbench_store::StoreError),
    /// There is nothing to report on.
    #[error("{what} in {} has no runs; run the sweep first (`ganbench run SWEEP.ron`)", .db.display())]
    NoRuns {
        /// The database file.
        db: PathBuf,
        /// What was asked for.
        what: String,
    },
    /// The metric asked for with --metric was not logged.
    #[error("no evaluation metric `{name}` in these runs; metrics there: {known}; pass one of them to --metric")]
    UnknownMetric {
        /// The name asked for.
        name: String,
        /// The evaluation metrics that exist.
        known: String,
    },
    /// The metric asked for ranks nothing: its better direction is unknown.
    #[error("ganbench does not know whether larger `{name}` is better; write --metric {name}:higher or --metric {name}:lower")]
    NoDirection {
        /// The name asked for.
        name: String,
    },
    /// Writing a file of the report failed.
    #[error("cannot write {}: {source}; check that the directory is writable or pass --out DIR", .path.display())]
    Write {
        /// The file or directory.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// plotters could not draw or encode a figure.
    #[error("cannot draw figure {}: {message}; please report this with the command that failed", .path.display())]
    Draw {
        /// The figure's file.
        path: PathBuf,
        /// What plotters said.
        message: String,
    },
}

/// Result alias of this crate.
pub type Result<T, E = ReportError> = std::result::Result<T, E>;
