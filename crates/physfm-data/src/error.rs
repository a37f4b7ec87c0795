//! Errors of the data crate.

use std::path::PathBuf;

/// What can go wrong when reading or writing trajectory collections.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The store cannot be used as it is (not a store, or another collection's); the message
    /// says why and what to do.
    #[error("zarr store {path}: {message}")]
    Store {
        /// Store root.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The store could not be read or written; the underlying error is its source.
    #[error("zarr store {path}: {source}")]
    StoreAccess {
        /// Store root.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The output path exists already and would be overwritten.
    #[error("{path} exists already; refusing to overwrite it")]
    Exists {
        /// The path.
        path: PathBuf,
    },
    /// The store's metadata is missing or malformed.
    #[error("zarr store {path}: bad metadata: {message}")]
    Metadata {
        /// Store root.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The store was never completed by its writer.
    #[error("zarr store {path} is incomplete: its writer did not finish (no `complete` flag)")]
    Incomplete {
        /// Store root.
        path: PathBuf,
    },
    /// An array or argument has the wrong shape.
    #[error("{what}: expected {expected}, got {got}")]
    Shape {
        /// Which array or argument.
        what: String,
        /// Expected shape or length.
        expected: String,
        /// Actual shape or length.
        got: String,
    },
    /// An index is out of range.
    #[error("{what}: index {index} out of range 0..{len}")]
    Index {
        /// Which array.
        what: String,
        /// The index.
        index: usize,
        /// The number of entries.
        len: usize,
    },
    /// Stored data holds NaN or infinite values (or a chunk that was never written).
    #[error(
        "zarr store {path}: array `{array}` trajectory {index} holds non-finite values (missing or corrupt chunk?)"
    )]
    NonFinite {
        /// Store root.
        path: PathBuf,
        /// Array name.
        array: String,
        /// Trajectory index.
        index: usize,
    },
    /// A chunk could not be read or decoded (truncated, corrupt, wrong size).
    #[error("zarr store {path}: array `{array}` trajectory {index}: chunk unreadable: {message}")]
    Chunk {
        /// Store root.
        path: PathBuf,
        /// Array name.
        array: String,
        /// Trajectory index.
        index: usize,
        /// The decoder's or the store's error, printed.
        message: String,
    },
    /// A chunk that should hold data was never written.
    #[error("zarr store {path}: array `{array}` trajectory {index}: chunk `{key}` is missing")]
    MissingChunk {
        /// Store root.
        path: PathBuf,
        /// Array name.
        array: String,
        /// Trajectory index.
        index: usize,
        /// The chunk's store key.
        key: String,
    },
    /// An array the layout requires is absent or unreadable.
    #[error("zarr store {path}: array `{array}` is missing or unreadable: {message}")]
    MissingArray {
        /// Store root.
        path: PathBuf,
        /// Array name.
        array: String,
        /// The underlying error, printed.
        message: String,
    },
    /// An HDF5 file does not have the layout its reader expects, or could not be read.
    #[error("HDF5 file {path}: `{object}`: {message}")]
    Hdf5 {
        /// The file.
        path: PathBuf,
        /// The dataset, group or attribute concerned.
        object: String,
        /// What is wrong.
        message: String,
    },
    /// A split, sampler, mixture or loader setting is invalid.
    #[error("{what}: {message}")]
    Config {
        /// The setting.
        what: String,
        /// What is wrong with it.
        message: String,
    },
    /// A `.npy` file could not be read or written, or holds what physfm does not accept.
    #[error("NumPy file {path}: {message}")]
    Npy {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A background loader thread failed.
    #[error("data loader: {0}")]
    Loader(String),
    /// Generating a split from a PDE preset failed.
    #[error("generating split `{split}`: {what}")]
    Generate {
        /// The split.
        split: String,
        /// What failed (the plan, or which trajectory).
        what: String,
        /// The solver's or preset's error.
        #[source]
        source: physfm_pde::PdeError,
    },
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, DataError>;
