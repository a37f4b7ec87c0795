//! # physfm-data
//!
//! Trajectory collections for physfm: the native Zarr v3 layout
//! ([`TrajectoryCollection`]), and windows of frames for training and evaluation
//! ([`WindowSpec`], [`InMemoryCollection`]).
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
//!     boundary: vec!["periodic".into()],
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

mod collection;
mod error;
mod window;

pub use collection::{CollectionMeta, FORMAT_VERSION, TrajectoryCollection, TrajectoryRecord};
pub use error::{DataError, Result};
pub use window::{InMemoryCollection, TrajectoryWindow, WindowIndex, WindowSpec};
