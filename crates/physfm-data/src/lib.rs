//! # physfm-data
//!
//! The data layer of physfm: it stores, reads, samples and batches PDE trajectories.
//!
//! - [`TrajectoryCollection`]: the native Zarr v3 layout (documented in
//!   `docs/dataset-format.md`), on the file system or over HTTP ([`HttpStore`]), with
//!   per-channel statistics ([`ChannelStats`], [`compute_stats`]) and splits ([`Splits`])
//!   stored alongside.
//! - [`TrajectorySource`]: one reading interface over native collections, in-memory data
//!   and (feature `hdf5`) the PDEBench and The Well HDF5 layouts (`hdf5` module).
//! - [`Loader`]: windows ([`WindowSpec`], [`FrameSpacing`]) drawn from one or several
//!   datasets by weight ([`DatasetSpec`]), prepared on background threads, handed over as
//!   [`Batch`]es or burn tensors ([`TensorBatch`]).
//! - [`inspect`]: a summary of any source, for humans or as JSON.
//!
//! Layout convention: stored fields are `[trajectory, time, *space, channel]`, channel last,
//! as PDEBench stores them.
//!
//! ```
//! use physfm_data::{CollectionMeta, InMemoryCollection, TrajectoryCollection, WindowSpec, FORMAT_VERSION};
//! let dir = tempfile::tempdir()?;
//! let meta = CollectionMeta {
//!     format_version: FORMAT_VERSION,
//!     name: "ramp".into(),
//!     channel_names: vec!["u".into()],
//!     param_names: vec![],
//!     axis_names: vec!["x".into()],
//!     spatial_shape: vec![2],
//!     domain_lengths: vec![1.0],
//!     boundary: vec![physfm_data::AxisBoundary::PERIODIC],
//!     frames: 3,
//!     trajectories: 1,
//!     generator: "doc".into(),
//!     seed: 0,
//!     provenance: serde_json::Value::Null,
//! };
//! let store = TrajectoryCollection::create(&dir.path().join("ramp.zarr"), meta, &[vec![0.0, 0.5]])?;
//! store.write_trajectory(0, &[0.0, 0.0, 1.0, 1.0, 2.0, 2.0], &[0.0, 1.0, 2.0], &[])?;
//! store.finalize()?;
//! let data = InMemoryCollection::load(&store)?;
//! let spec = WindowSpec { history: 1, horizon: 1, stride: 1 };
//! let windows = data.windows(&spec)?;
//! assert_eq!(windows.len(), 2);
//! let w = data.window(&spec, windows[1])?;
//! assert_eq!((w.input, w.target), (vec![1.0, 1.0], vec![2.0, 2.0]));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

/// The Rust examples of `docs/dataset-format.md`, compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/dataset-format.md")]
struct DatasetFormatDoc;

mod collection;
mod error;
mod generate;
#[cfg(feature = "hdf5")]
pub mod hdf5;
mod http;
mod inspect;
mod loader;
mod npy;
mod source;
mod split;
mod stats;
mod window;

pub use collection::{
    AxisBoundary, CollectionMeta, FORMAT_VERSION, MAX_TRAJECTORY_VALUES, TrajectoryCollection,
    TrajectoryRecord, WriteOptions, write_atomic,
};
pub use error::{DataError, Result};
pub use generate::{
    SplitReport, collection_meta, generate_in_memory, generate_split, trajectory_bar,
};
pub use http::HttpStore;
pub use inspect::{ParamSummary, Summary, TimeSummary, inspect};
#[cfg(feature = "burn")]
pub use loader::TensorBatch;
pub use loader::{Batch, DatasetSpec, FrameSpacing, Loader, LoaderConfig};
pub use npy::{NpyArray, read_npy, write_npy};
pub use source::{TrajectorySource, copy_to_collection, list_collections};
pub use split::{Interval, SplitRule, Splits};
pub use stats::{ChannelStat, ChannelStats, Moments, channel_moments, compute_stats};
pub use window::{InMemoryCollection, TrajectoryWindow, WindowIndex, WindowSpec};
