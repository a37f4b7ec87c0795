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
}

impl From<physfm_pde::PdeError> for EvalError {
    fn from(e: physfm_pde::PdeError) -> Self {
        Self::Pde(Box::new(e))
    }
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, EvalError>;
