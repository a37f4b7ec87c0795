//! # physfm
//!
//! Foundation models of physics in Rust: parametric PDE families and their solvers
//! ([`pde`]), trajectory collections in Zarr ([`data`]), spectral convolution
//! ([`spectral`]), surrogate models ([`models`]), training ([`train`]), adaptation ([`adapt`]) and evaluation
//! ([`eval`]). This crate re-exports them; [`prelude`] holds the names most programs use.
//!
//! The whole pipeline in a few lines (tiny sizes, so that the example runs in a moment):
//!
//! ```
//! use physfm::prelude::*;
//!
//! // 1. Data: four Burgers trajectories at two viscosities.
//! let family = Burgers1dConfig {
//!     resolution: 128, stored_resolution: 32, length: 1.0, t_end: 0.4, frames: 5,
//!     initial: SumOfSines::default(),
//! };
//! let mut records = Vec::new();
//! for (i, nu) in [0.05, 0.05, 0.2, 0.2].into_iter().enumerate() {
//!     let traj = family.generate(nu, i as u64)?;
//!     records.push(TrajectoryRecord {
//!         fields: traj.values.iter().map(|&v| v as f32).collect(),
//!         times: traj.times,
//!         params: vec![nu],
//!     });
//! }
//! let data = InMemoryCollection {
//!     meta: CollectionMeta {
//!         format_version: FORMAT_VERSION, name: "burgers1d".into(), channel_names: vec!["u".into()],
//!         param_names: vec!["nu".into()], axis_names: vec!["x".into()], spatial_shape: vec![32],
//!         domain_lengths: vec![1.0], boundary: vec![physfm_data::AxisBoundary::PERIODIC], frames: 5, trajectories: 4,
//!         generator: "doc".into(), seed: 0, provenance: serde_json::Value::Null,
//!     },
//!     coordinates: vec![family.stored_coordinates()],
//!     records,
//! };
//! // 2. Model and training.
//! let pairs = WindowDataset::pairs(&data, 1)?;
//! let device = Device::flex().autodiff();
//! let model = Stepper1d::new(
//!     StepperConfig::new(FnoConfig::new(2, 1, &[8], 8), true),
//!     pairs.normalization(vec![true])?,
//!     &device,
//! )?;
//! let config = TrainConfig { log_every: 5, ..TrainConfig::new(10, 4, 1e-3) };
//! let (model, _) = train_windows(model, &pairs, None, &config, &device, &TrainOptions::default())?;
//! // 3. Evaluation.
//! let scores = evaluate(&model, &data, &device)?;
//! assert_eq!(scores.rollout_by_step.len(), 4);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub use burn;
pub use physfm_adapt as adapt;
pub use physfm_data as data;
pub use physfm_eval as eval;
pub use physfm_models as models;
pub use physfm_pde as pde;
pub use physfm_spectral as spectral;
pub use physfm_train as train;

/// The names most programs use.
pub mod prelude {
    pub use burn::tensor::{Device, Tensor};
    pub use physfm_adapt::{Adapted, MetaConfig, Prior, Strategy, adapt, meta_train};
    pub use physfm_data::{
        Batch, ChannelStats, CollectionMeta, DatasetSpec, FORMAT_VERSION, FrameSpacing,
        InMemoryCollection, Loader, LoaderConfig, SplitRule, Splits, TrajectoryCollection,
        TrajectoryRecord, TrajectorySource, WindowSpec,
    };
    pub use physfm_eval::{evaluate, nrmse, rollout_errors};
    pub use physfm_models::{
        Conditioning, Dynamics, Fno, FnoConfig, Stepper1d, StepperConfig, Surrogate,
        load_surrogate, rollout,
    };
    pub use physfm_pde::{
        Burgers1d, Burgers1dConfig, FamilyConfig, ParamRange, PdeFamily, PeriodicGrid1d, Preset,
        SumOfSines, TimeSampling,
    };
    pub use physfm_spectral::{SpectralConv1d, SpectralConv1dConfig};
    pub use physfm_train::{
        PhysicsData, TrainConfig, TrainOptions, WindowDataset, train_surrogate, train_windows,
    };
}

/// The README's examples compile and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeDoctests;
