//! # physfm-train
//!
//! Training of physfm surrogates: windows in model layout ([`WindowDataset`]) and their
//! normalisation statistics; losses ([`loss`]: MSE, relative L2, H1); the generic training
//! loop [`fit`] with atomic checkpoints, exact resumption, validation with the best checkpoint
//! kept and a NaN guard; [`train_surrogate`], which trains any
//! [`Surrogate`](physfm_models::Surrogate) on one dataset or a weighted mixture of several,
//! through the one unroll of the one-step, rollout and pushforward objectives
//! ([`unroll_loss`]); [`train_windows`], its one-dataset form; and spec-driven runs on disk
//! ([`train_run`], also the `physfm-train` binary).
//!
//! The loop uses AdamW, warm-up +
//! cosine schedule, gradient clipping, a progress bar and a JSON-lines log.
//!
//! ```
//! use burn::tensor::Device;
//! use physfm_data::{CollectionMeta, InMemoryCollection, FORMAT_VERSION};
//! use physfm_data::TrajectoryRecord;
//! use physfm_models::{FnoConfig, Stepper1d, StepperConfig};
//! use physfm_train::{Objective, TrainConfig, TrainOptions, WindowDataset, train_windows};
//!
//! // A travelling wave u(x, t) = sin(2 pi (x - 0.1 t)) sampled at 16 points and 4 times.
//! let n = 16;
//! let fields: Vec<f32> = (0..4)
//!     .flat_map(|t| (0..n).map(move |x| (2.0 * std::f32::consts::PI * (x as f32 / n as f32 - 0.1 * t as f32)).sin()))
//!     .collect();
//! let data = InMemoryCollection {
//!     meta: CollectionMeta {
//!         format_version: FORMAT_VERSION, name: "wave".into(), channel_names: vec!["u".into()],
//!         param_names: vec![], axis_names: vec!["x".into()], spatial_shape: vec![n],
//!         domain_lengths: vec![1.0], boundary: vec![physfm_data::AxisBoundary::PERIODIC], frames: 4, trajectories: 1,
//!         generator: "doc".into(), seed: 0, provenance: serde_json::Value::Null,
//!     },
//!     coordinates: vec![(0..n).map(|x| x as f64 / n as f64).collect()],
//!     records: vec![TrajectoryRecord { fields, times: vec![0.0, 1.0, 2.0, 3.0], params: vec![] }],
//! };
//! // Windows of one input and two target frames, for a two-step rollout loss.
//! let windows = WindowDataset::from_collection(&data, 2, 1)?;
//! let device = Device::flex().autodiff();
//! let model = Stepper1d::new(
//!     StepperConfig::new(FnoConfig::new(1, 1, &[4], 8), true),
//!     windows.normalization(vec![])?,
//!     &device,
//! )?;
//! let config = TrainConfig {
//!     objective: Objective::Rollout { steps: 2 },
//!     log_every: 5,
//!     ..TrainConfig::new(20, 2, 3e-3)
//! };
//! let (_model, report) =
//!     train_windows(model, &windows, None, &config, &device, &TrainOptions::default())?;
//! assert_eq!(report.losses.len(), 4);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod checkpoint;
mod config;
mod error;
mod loss;
mod run;
mod stream;
mod trainer;
mod unroll;
mod windows;

pub use checkpoint::Checkpoints;
pub use config::{Objective, Schedule, TrainConfig};
pub use error::{Result, TrainError};
pub use loss::{LossGeometry, LossKind, RELATIVE_EPS, derivative, loss};
/// The generator [`fit`] hands to batch losses (batch sampling, noise).
pub use rand_chacha::ChaCha8Rng;
pub use run::{RunArgs, RunPaths, RunSpec, StepperSpec, train_run};
pub use stream::{Stream, train_streaming, window_batch};
pub use trainer::{
    GroupLoss, RngState, TrainOptions, TrainReport, Validate, fit, load_checkpoint_weights,
};
pub use unroll::{
    PhysicsData, loss_on_grid, train_surrogate, train_windows, train_windows_with, unroll_loss,
    validation_loss,
};
pub use windows::{
    WindowBatch, WindowDataset, dataset_spec, frame_to_model, frames_to_model, frames_to_stored,
};
