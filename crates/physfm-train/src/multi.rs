//! Multi-physics pretraining: batches drawn from several datasets by weight (each batch from
//! one dataset, since grids and channels differ), through the Encode-Process-Decode model.

use burn::tensor::{Device, Tensor};
use physfm_models::{EncodeProcessDecode, EpdConfig};
use rand::Rng;

use crate::{
    GroupLoss, LossKind, Objective, Result, TrainConfig, TrainError, TrainOptions, TrainReport,
    WindowBatch, WindowDataset, fit, loss,
};

/// One dataset of a multi-physics run.
#[derive(Debug, Clone)]
pub struct PhysicsData {
    /// Its windows; the dataset index in the model is its position in the slice.
    pub windows: WindowDataset,
    /// Relative sampling weight (the probability of a batch is weight / sum of weights).
    pub weight: f64,
}

/// The loss of one batch of dataset `dataset` under `objective`, on physical fields (use
/// [`LossKind::RelL2`] or the model's per-sample normalisation so that datasets of different
/// scales weigh alike). `batch` comes from `windows`; `D` is the latent grid's dimension
/// plus 2.
pub fn epd_loss<const D: usize>(
    model: &EncodeProcessDecode,
    config: &EpdConfig,
    dataset: usize,
    windows: &WindowDataset,
    batch: WindowBatch,
    objective: Objective,
    kind: LossKind,
) -> Tensor<1> {
    let (spatial, geometry) = (&windows.spatial_shape, &windows.geometry);
    let WindowBatch { x, ys, params, dt } = batch;
    let [b, _, c, _] = ys.dims();
    let mut shape = [0usize; D];
    shape[0] = b;
    shape[1] = c;
    shape[2..].copy_from_slice(spatial);
    let target = |s: usize| ys.clone().narrow(1, s, 1).reshape(shape);
    let step = |u: Tensor<D>| model.step(config, dataset, u, &dt, &params, None);
    let u0: Tensor<D> = x.reshape(shape);
    match objective {
        Objective::OneStep => loss(kind, step(u0), target(0), geometry),
        Objective::Rollout { steps } => {
            let mut u = u0;
            let mut total: Option<Tensor<1>> = None;
            for s in 0..steps {
                u = step(u);
                let l = loss(kind, u.clone(), target(s), geometry);
                total = Some(match total {
                    Some(t) => t + l,
                    None => l,
                });
            }
            total.expect("steps >= 1") / steps as f64
        }
        Objective::Pushforward { steps } => {
            let mut u = u0;
            for _ in 0..steps - 1 {
                u = step(u).detach();
            }
            loss(kind, step(u), target(steps - 1), geometry)
        }
    }
}

/// Pretrains `model` on several datasets at once: each step draws a dataset by weight, then a
/// batch of its windows, and takes one AdamW step on that batch's loss (`train.objective`,
/// `train.loss`). The log holds the loss of each dataset (`loss_<name>`, by the names in
/// `config.datasets`). See [`fit`] for checkpoints, resumption and the NaN guard. `device`
/// must be an autodiff device.
pub fn train_epd<const D: usize>(
    model: EncodeProcessDecode,
    config: &EpdConfig,
    data: &[PhysicsData],
    train: &TrainConfig,
    device: &Device,
    options: &TrainOptions,
) -> Result<(EncodeProcessDecode, TrainReport)> {
    train.validate("train")?;
    config.validate()?;
    let bad =
        |key: String, value: String, reason: String| Err(TrainError::Config { key, value, reason });
    if data.len() != config.datasets.len() {
        return bad(
            "data".into(),
            format!("{} datasets", data.len()),
            format!("the model has {}", config.datasets.len()),
        );
    }
    let dims = config.latent_grid.len();
    if D != dims + 2 {
        return bad(
            "D".into(),
            D.to_string(),
            format!("a {dims}D model takes tensors of {} axes", dims + 2),
        );
    }
    for (i, (d, spec)) in data.iter().zip(&config.datasets).enumerate() {
        let w = &d.windows;
        let key = format!("data[{i}] ({})", spec.name);
        if w.is_empty() {
            return bad(key, "0 windows".into(), "nothing to train on".into());
        }
        if w.channels != spec.channels || w.n_params != spec.params {
            return bad(
                key,
                format!("{} channels, {} parameters", w.channels, w.n_params),
                format!(
                    "the model's dataset has {} channels, {} parameters",
                    spec.channels, spec.params
                ),
            );
        }
        if w.history != 1 {
            return bad(
                key,
                format!("windows of {} input frames", w.history),
                "the encode-process-decode model steps one frame at a time".into(),
            );
        }
        if w.spatial_shape.len() != dims {
            return bad(
                key,
                format!("{}D", w.spatial_shape.len()),
                format!("the model is {dims}D"),
            );
        }
        if w.horizon < train.objective.horizon() {
            return bad(
                key,
                format!("windows of {} target frames", w.horizon),
                format!("{:?} needs {}", train.objective, train.objective.horizon()),
            );
        }
        if !(d.weight.is_finite() && d.weight > 0.0) {
            return bad(key, d.weight.to_string(), "weights must be positive".into());
        }
    }
    let total: f64 = data.iter().map(|d| d.weight).sum();
    let mut options = options.clone();
    if options.groups.is_empty() {
        options.groups = config.datasets.iter().map(|d| d.name.clone()).collect();
    }
    let batch_loss = |m: &EncodeProcessDecode, rng: &mut crate::ChaCha8Rng| {
        let mut r = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * total;
        let mut k = data.len() - 1;
        for (i, d) in data.iter().enumerate() {
            if r < d.weight {
                k = i;
                break;
            }
            r -= d.weight;
        }
        let w = &data[k].windows;
        let l = epd_loss::<D>(
            m,
            config,
            k,
            w,
            w.sample(train.batch_size, rng, device),
            train.objective,
            train.loss,
        );
        Ok(GroupLoss { loss: l, group: k })
    };
    fit(model, train, &options, batch_loss, None)
}
