//! Errors of the adaptation crate.

/// What can stop an adaptation.
#[derive(Debug, thiserror::Error)]
pub enum AdaptError {
    /// No strategy of this name.
    #[error("unknown adaptation strategy `{name}` (known: {known}, lora-r<rank>)")]
    UnknownStrategy {
        /// The name given.
        name: String,
        /// The names known.
        known: String,
    },
    /// Training failed.
    #[error(transparent)]
    Train(#[from] physfm_train::TrainError),
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, AdaptError>;
