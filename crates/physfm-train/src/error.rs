//! Errors of the training crate.

use std::path::PathBuf;

/// What can stop a training run.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
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
    /// The loss became NaN or infinite.
    #[error(
        "training diverged: loss {loss} at step {step}; lower the learning rate{}",
        match checkpoint {
            Some(c) => format!(" (the last good checkpoint, {}, is kept)", c.display()),
            None => String::new(),
        }
    )]
    NonFinite {
        /// Step (1-based) whose loss was not finite.
        step: usize,
        /// The loss value.
        loss: f64,
        /// The last checkpoint written before it, if any.
        checkpoint: Option<PathBuf>,
    },
    /// The data cannot feed this model.
    #[error(transparent)]
    Data(#[from] physfm_data::DataError),
    /// The model failed.
    #[error(transparent)]
    Model(#[from] physfm_models::ModelError),
    /// The caller's validation of the model failed (see [`crate::Validate`]).
    #[error("validation failed: {0}")]
    Validation(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A file could not be read, parsed or written; the underlying error is its source.
    #[error("{path}: {source}")]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A log file could not be written.
    #[error("{path}: {message}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, TrainError>;

/// Wraps an error about the file `path` as [`TrainError::File`], its source kept.
pub(crate) fn file_error<E: std::error::Error + Send + Sync + 'static>(
    path: &std::path::Path,
) -> impl Fn(E) -> TrainError + '_ {
    move |e| TrainError::File {
        path: path.to_path_buf(),
        source: Box::new(e),
    }
}
