//! Errors of the PDE crate.

/// What can go wrong when configuring or solving a PDE family.
#[derive(Debug, thiserror::Error)]
pub enum PdeError {
    /// A parameter or configuration value is outside its allowed domain.
    #[error("invalid value for `{key}`: {value} ({reason})")]
    InvalidValue {
        /// Dotted name of the key, e.g. `train.nu.min`.
        key: String,
        /// The rejected value, printed.
        value: String,
        /// Why it was rejected.
        reason: String,
    },
    /// The solution became NaN or infinite.
    #[error(
        "{family} blew up at t = {time} with parameters {params}: the state is no longer finite"
    )]
    BlowUp {
        /// Family name, e.g. `burgers1d`.
        family: &'static str,
        /// Parameters, printed as `name=value` pairs.
        params: String,
        /// Physical time at which the non-finite state was detected.
        time: f64,
    },
    /// An input array has the wrong length.
    #[error("{what}: expected length {expected}, got {got}")]
    Shape {
        /// Which array.
        what: &'static str,
        /// Expected length.
        expected: usize,
        /// Actual length.
        got: usize,
    },
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, PdeError>;
