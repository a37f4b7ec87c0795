//! Errors of the evaluation crate.

use std::path::PathBuf;

/// What can go wrong while evaluating or reporting.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// Two arrays that must match do not.
    #[error("{what}: expected {expected}, got {got}")]
    Shape {
        /// Which array.
        what: String,
        /// Expected shape or length.
        expected: String,
        /// Actual shape or length.
        got: String,
    },
    /// An argument or a value is not acceptable; the message names it.
    #[error("{0}")]
    Invalid(String),
    /// A figure could not be drawn or written.
    #[error("figure {path}: {message}")]
    Plot {
        /// Output file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The data could not be read.
    #[error(transparent)]
    Data(#[from] physfm_data::DataError),
    /// The data cannot be fed to this model.
    #[error(transparent)]
    Train(#[from] physfm_train::TrainError),
    /// An adaptation failed.
    #[error(transparent)]
    Adapt(#[from] physfm_adapt::AdaptError),
    /// A model could not be built or loaded.
    #[error(transparent)]
    Model(#[from] physfm_models::ModelError),
    /// A preset or a PDE setting is not valid (boxed: the PDE errors are large).
    #[error(transparent)]
    Pde(Box<physfm_pde::PdeError>),
    /// Reading, parsing or writing failed; `context` says what was being done.
    #[error("{context}: {source}")]
    Context {
        /// What was being done (the file, and what in it).
        context: String,
        /// The underlying error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// Adds what was being done to a failure: an error becomes [`EvalError::Context`] (its
/// source kept), a missing value [`EvalError::Invalid`].
pub(crate) trait WithContext<T> {
    /// The value, or the error with `context`.
    fn with_context(self, context: impl FnOnce() -> String) -> Result<T>;
}

impl<T, E: std::error::Error + Send + Sync + 'static> WithContext<T> for std::result::Result<T, E> {
    fn with_context(self, context: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| EvalError::Context {
            context: context(),
            source: Box::new(e),
        })
    }
}

impl<T> WithContext<T> for Option<T> {
    fn with_context(self, context: impl FnOnce() -> String) -> Result<T> {
        self.ok_or_else(|| EvalError::Invalid(context()))
    }
}

/// A JSON file's value; errors name the file.
pub(crate) fn read_json(path: &std::path::Path) -> Result<serde_json::Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not valid JSON", path.display()))
}

/// Writes `bytes` to `path` atomically ([`physfm_data::write_atomic`]); errors name the file.
pub(crate) fn write_file(path: &std::path::Path, bytes: &[u8]) -> Result<()> {
    physfm_data::write_atomic(path, bytes).with_context(|| format!("writing {}", path.display()))
}

impl From<physfm_pde::PdeError> for EvalError {
    fn from(e: physfm_pde::PdeError) -> Self {
        Self::Pde(Box::new(e))
    }
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, EvalError>;
