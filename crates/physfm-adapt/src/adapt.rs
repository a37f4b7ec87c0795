//! Adapting any pretrained surrogate with a strategy under a budget.

use burn::tensor::Device;
use physfm_models::Surrogate;
use physfm_train::{TrainConfig, TrainOptions, TrainReport, WindowDataset, train_windows};
use serde::{Deserialize, Serialize};

use crate::{ParamCount, Result, Strategy, count_params};

/// What an adaptation did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdaptReport {
    /// Strategy name.
    pub strategy: String,
    /// What it trained.
    pub trains: String,
    /// Values that received gradients.
    pub trainable_params: usize,
    /// All values of the prepared network, adapters included.
    pub total_params: usize,
    /// The training run.
    pub train: TrainReport,
}

/// Adapts `model` (any [`Surrogate`]) to the windows of `data` (a few trajectories of the
/// new dynamics, the model's dataset 0) with `strategy`: prepares it ([`Strategy::prepare`];
/// weights under `fresh` always train), trains it under `budget` (the objective, loss and
/// schedule of `budget` apply; the model's normalisation is kept), and returns the finished
/// plain model. `device` must be an autodiff device.
///
/// ```
/// use burn::tensor::Device;
/// use physfm_adapt::{Strategy, adapt};
/// use physfm_data::{CollectionMeta, InMemoryCollection, TrajectoryRecord, FORMAT_VERSION};
/// use physfm_models::{FnoConfig, Stepper1d, StepperConfig};
/// use physfm_train::{TrainConfig, TrainOptions, WindowDataset};
/// // One trajectory of a travelling wave: the "new dynamics".
/// let n = 16;
/// let fields: Vec<f32> = (0..4)
///     .flat_map(|t| (0..n).map(move |x| ((x as f32 / n as f32 - 0.1 * t as f32) * 6.283).sin()))
///     .collect();
/// let data = InMemoryCollection {
///     meta: CollectionMeta {
///         format_version: FORMAT_VERSION, name: "wave".into(), channel_names: vec!["u".into()],
///         param_names: vec![], axis_names: vec!["x".into()], spatial_shape: vec![n],
///         domain_lengths: vec![1.0], boundary: vec!["periodic".into()], frames: 4, trajectories: 1,
///         generator: "doc".into(), seed: 0, provenance: serde_json::Value::Null,
///     },
///     coordinates: vec![(0..n).map(|x| x as f64 / n as f64).collect()],
///     records: vec![TrajectoryRecord { fields, times: vec![0.0, 1.0, 2.0, 3.0], params: vec![] }],
/// };
/// let pairs = WindowDataset::pairs(&data, 1)?;
/// let device = Device::flex().autodiff();
/// let pretrained = Stepper1d::new(
///     StepperConfig::new(FnoConfig::new(1, 1, &[4], 8), true),
///     pairs.normalization(vec![])?,
///     &device,
/// )?;
/// let lora: Strategy = "lora-r2".parse()?;
/// let budget = TrainConfig::new(10, 3, lora.learning_rate());
/// let (adapted, report) =
///     adapt(pretrained, lora, &[], &pairs, &budget, &device, &TrainOptions::default())?;
/// assert!(report.trainable_params < report.total_params / 4);
/// assert_eq!(adapted.net.blocks.len(), 4);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn adapt<M: Surrogate>(
    model: M,
    strategy: Strategy,
    fresh: &[String],
    data: &WindowDataset,
    budget: &TrainConfig,
    device: &Device,
    options: &TrainOptions,
) -> Result<(M, AdaptReport)> {
    let prepared = strategy.prepare(model, fresh, device);
    let ParamCount { trainable, total } = count_params(&prepared);
    let (trained, train) = train_windows(prepared, data, None, budget, device, options)?;
    Ok((
        strategy.finish(trained),
        AdaptReport {
            strategy: strategy.to_string(),
            trains: strategy.trains(),
            trainable_params: trainable,
            total_params: total,
            train,
        },
    ))
}
