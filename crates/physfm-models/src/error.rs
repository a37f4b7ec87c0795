//! Errors of the models crate.

use std::path::PathBuf;

/// What can go wrong when building, saving or loading a model.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A configuration value is invalid.
    #[error("invalid value for `{key}`: {value} ({reason})")]
    Config {
        /// Dotted key.
        key: String,
        /// The value, printed.
        value: String,
        /// Why.
        reason: String,
    },
    /// A model file is not what it must be (not a model directory, another kind, missing or
    /// misshapen weights); the message says what.
    #[error("{path}: {message}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A model file could not be read, parsed or written; the underlying error is its source.
    #[error("{path}: {source}")]
    File {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// Wraps an error about the file `path` as [`ModelError::File`], its source kept.
pub(crate) fn file_error<E: std::error::Error + Send + Sync + 'static>(
    path: &std::path::Path,
) -> impl Fn(E) -> ModelError + '_ {
    move |e| ModelError::File {
        path: path.to_path_buf(),
        source: Box::new(e),
    }
}

/// A [`ModelError::Config`] for the key `prefix.key`.
pub(crate) fn config_error(prefix: &str, key: &str, value: String, reason: &str) -> ModelError {
    ModelError::Config {
        key: format!("{prefix}.{key}"),
        value,
        reason: reason.into(),
    }
}

/// Refuses the first of the `(key, value)` sizes that is zero, naming `prefix.key`.
pub(crate) fn at_least_one(prefix: &str, sizes: &[(&str, usize)]) -> Result<()> {
    match sizes.iter().find(|(_, v)| *v == 0) {
        Some((k, _)) => Err(config_error(prefix, k, "0".into(), "must be at least 1")),
        None => Ok(()),
    }
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, ModelError>;
