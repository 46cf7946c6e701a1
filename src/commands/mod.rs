//! One module per subcommand. Each returns an exit code or an error; `main` prints errors.

pub mod plugins;
pub mod train;

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
