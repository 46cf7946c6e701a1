//! The SDK's error type. It converts into [`crate::plugin_api::PluginError`] through that type's
//! blanket `From<E: std::error::Error>`, so plugin code can use `?` on SDK results.

/// An SDK failure: a candle error, a checkpoint I/O problem, a bad parameter or a plain message.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    #[error(transparent)]
    Param(#[from] ganbench_plugin_api::ParamError),
    #[error("{0}")]
    Msg(String),
}

impl Error {
    pub fn msg(message: impl std::fmt::Display) -> Self {
        Self::Msg(message.to_string())
    }

    pub(crate) fn io(context: impl std::fmt::Display, source: std::io::Error) -> Self {
        Self::Io {
            context: context.to_string(),
            source,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
