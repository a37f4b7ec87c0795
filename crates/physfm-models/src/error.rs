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
    /// A model file could not be read or written.
    #[error("{path}: {message}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, ModelError>;
