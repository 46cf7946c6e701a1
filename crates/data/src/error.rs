//! The one error type of this crate.

use thiserror::Error;

/// What a dataset text form looks like, appended to parse errors so that every message says what
/// is accepted.
pub(crate) const ACCEPTED_FORMS: &str = "accepted: `ring8`, `grid25`, \
    `ring(modes=<int>,radius=<num>,std=<num>)` or `grid(side=<int>,spacing=<num>,std=<num>)`";

/// Everything that can go wrong when describing a dataset or restoring a data stream.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum DataError {
    /// The text names no known dataset family.
    #[error("unknown dataset `{name}`; {ACCEPTED_FORMS}")]
    UnknownDataset {
        /// The name as written.
        name: String,
    },
    /// The text is not of the form `name` or `family(key=value,...)`.
    #[error("malformed dataset `{input}`: {problem}; {ACCEPTED_FORMS}")]
    Syntax {
        /// The whole text as written.
        input: String,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// A `key=value` pair names a parameter the family does not have.
    #[error("unknown parameter `{key}` for {family}; accepted: {accepted}")]
    UnknownParam {
        /// `ring` or `grid`.
        family: &'static str,
        /// The key as written.
        key: String,
        /// The keys the family takes.
        accepted: &'static str,
    },
    /// A parameter is given twice.
    #[error("parameter `{key}` of {family} is given twice")]
    DuplicateParam {
        /// `ring` or `grid`.
        family: &'static str,
        /// The repeated key.
        key: &'static str,
    },
    /// A parameter is missing; there are no defaults, so that a sweep file says what it runs.
    #[error("{family} needs parameter `{key}` (all of {accepted} are required)")]
    MissingParam {
        /// `ring` or `grid`.
        family: &'static str,
        /// The missing key.
        key: &'static str,
        /// The keys the family takes.
        accepted: &'static str,
    },
    /// A value does not parse as the parameter's type.
    #[error("parameter `{key}` of {family} is `{value}`, which is not {expected}")]
    BadValue {
        /// `ring` or `grid`.
        family: &'static str,
        /// The parameter.
        key: &'static str,
        /// The value as written.
        value: String,
        /// What the parameter takes.
        expected: &'static str,
    },
    /// A value parses but is out of range.
    #[error("{family} parameter `{key}` is {value}; it must be {expected}")]
    InvalidParam {
        /// `ring` or `grid`.
        family: &'static str,
        /// The parameter.
        key: &'static str,
        /// The offending value, formatted.
        value: String,
        /// The accepted range.
        expected: &'static str,
    },
    /// A saved stream state is restored against a different dataset.
    #[error("saved data stream state belongs to dataset `{saved}`, but this stream draws from `{current}`")]
    StateMismatch {
        /// The dataset named in the saved state.
        saved: String,
        /// The dataset of the stream being restored.
        current: String,
    },
    /// A file could not be read or written.
    #[error("{}: {message}", path.display())]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// What the operating system said.
        message: String,
    },
    /// A file has the wrong format.
    #[error("{}: {message}", path.display())]
    Format {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong with it.
        message: String,
    },
}
