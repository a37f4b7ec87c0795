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

/// A configuration error naming the key, the value given and why it was refused (reported
/// as training's configuration error, as every other bad setting).
pub(crate) fn config_error(
    key: impl Into<String>,
    value: impl Into<String>,
    reason: impl Into<String>,
) -> AdaptError {
    AdaptError::Train(physfm_train::TrainError::Config {
        key: key.into(),
        value: value.into(),
        reason: reason.into(),
    })
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, AdaptError>;
