//! # physfm-train
//!
//! Training of physfm surrogates: one-step pairs in model layout ([`PairDataset`]), their
//! normalisation statistics, and the training loop ([`train_stepper`]) with AdamW, warm-up +
//! cosine schedule, gradient clipping, a progress bar and a JSON-lines log.
//!
//! ```
//! use burn::tensor::Device;
//! use physfm_data::{CollectionMeta, InMemoryCollection, FORMAT_VERSION};
//! use physfm_data::TrajectoryRecord;
//! use physfm_models::{FnoConfig, Stepper1d, StepperConfig};
//! use physfm_train::{PairDataset, TrainConfig, TrainOptions, train_stepper};
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
//!         domain_lengths: vec![1.0], boundary: vec!["periodic".into()], frames: 4, trajectories: 1,
//!         generator: "doc".into(), seed: 0, provenance: serde_json::Value::Null,
//!     },
//!     coordinates: vec![(0..n).map(|x| x as f64 / n as f64).collect()],
//!     records: vec![TrajectoryRecord { fields, times: vec![0.0, 1.0, 2.0, 3.0], params: vec![] }],
//! };
//! let pairs = PairDataset::from_collection(&data, 1)?;
//! let device = Device::flex().autodiff();
//! let model = Stepper1d::new(
//!     StepperConfig { fno: FnoConfig::new(1, 1, &[4], 8), residual: true },
//!     pairs.normalization(vec![])?,
//!     &device,
//! )?;
//! let config = TrainConfig {
//!     steps: 20, batch_size: 3, learning_rate: 3e-3, weight_decay: 0.0, warmup_steps: 0,
//!     min_lr_ratio: 0.1, grad_clip_norm: 1.0, seed: 0, log_every: 5,
//! };
//! let (_model, report) = train_stepper(model, &pairs, &config, &device, &TrainOptions::default())?;
//! assert_eq!(report.losses.len(), 4);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod error;
mod pairs;
mod trainer;

pub use error::{Result, TrainError};
pub use pairs::{PairDataset, frame_to_model, frames_to_stored};
pub use trainer::{TrainConfig, TrainOptions, TrainReport, train_stepper};
