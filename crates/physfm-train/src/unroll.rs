//! Training of any [`Surrogate`]: the one unroll of the one-step, rollout and pushforward
//! objectives ([`unroll_loss`]), its validation loss, and the training loop over one dataset
//! or a weighted mixture of several ([`train_surrogate`]).

use burn::tensor::{Device, Tensor, TensorData};
use physfm_models::{Conditioning, Dynamics, Surrogate, advance};
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};

use crate::{
    ChaCha8Rng, GroupLoss, LossGeometry, LossKind, Objective, Result, TrainConfig, TrainError,
    TrainOptions, TrainReport, Validate, WindowBatch, WindowDataset, fit, loss,
};

/// One dataset of a training run: its windows and how often a batch comes from it.
#[derive(Debug, Clone)]
pub struct PhysicsData {
    /// Its windows; the dataset index in the model is its position in the slice.
    pub windows: WindowDataset,
    /// Relative sampling weight (the probability of a batch is weight / sum of weights).
    pub weight: f64,
}

/// [`loss`] of fields in the flattened layout `[batch, channels, points]` on a grid of shape
/// `space`: the H1 loss differentiates along the grid's axes, so it sees the fields in that
/// shape; the other losses do not depend on it.
///
/// # Panics
/// As [`loss`], and if `space` has more than three axes or does not hold the points.
pub fn loss_on_grid(
    kind: LossKind,
    pred: Tensor<3>,
    target: Tensor<3>,
    space: &[usize],
    geometry: &LossGeometry,
) -> Tensor<1> {
    if kind != LossKind::H1 || space.len() <= 1 {
        return loss(kind, pred, target, geometry);
    }
    let [b, c, _] = pred.dims();
    match *space {
        [x, y] => loss(
            kind,
            pred.reshape([b, c, x, y]),
            target.reshape([b, c, x, y]),
            geometry,
        ),
        [x, y, z] => loss(
            kind,
            pred.reshape([b, c, x, y, z]),
            target.reshape([b, c, x, y, z]),
            geometry,
        ),
        _ => panic!("loss_on_grid: grids of 1 to 3 axes, got {space:?}"),
    }
}

/// The loss of one batch of windows of dataset `dataset` under `objective`, in the model's
/// training space ([`Surrogate::forward_raw`] against [`Surrogate::target`]).
///
/// Multi-step objectives feed the model its own predictions: a rollout loss averages the
/// loss of every step, a pushforward loss is the loss of the last step, with the steps
/// before it detached (Brandstetter et al. 2022). The window slides over the predictions
/// ([`advance`]), so models of several input frames unroll the same way.
///
/// # Panics
/// If the batch's horizon is shorter than `objective.horizon()`, or the model refuses the
/// batch's shapes (its `# Panics`).
pub fn unroll_loss<M: Dynamics + ?Sized>(
    model: &M,
    batch: WindowBatch,
    space: &[usize],
    dataset: usize,
    objective: Objective,
    kind: LossKind,
    geometry: &LossGeometry,
) -> Tensor<1> {
    let WindowBatch { x, ys, params, dt } = batch;
    let [b, horizon, c, n] = ys.dims();
    assert!(
        horizon >= objective.horizon(),
        "unroll_loss: {objective:?} needs {} target frames, the batch has {horizon}",
        objective.horizon()
    );
    let h = x.dims()[1] / c;
    let frames = x.reshape([b, h, c, n]);
    let cond = Conditioning::new(dt)
        .with_coefficients(params)
        .with_dataset(dataset);
    let target = |s: usize| ys.clone().narrow(1, s, 1).reshape([b, c, n]);
    let step_loss = |w: &Tensor<4>, out: Tensor<3>, s: usize| {
        loss_on_grid(kind, out, model.target(w, target(s)), space, geometry)
    };
    match objective {
        Objective::OneStep => {
            let out = model.forward_raw(frames.clone(), space, &cond);
            step_loss(&frames, out, 0)
        }
        Objective::Rollout { steps } => {
            let mut w = frames;
            let mut total: Option<Tensor<1>> = None;
            for s in 0..steps {
                let out = model.forward_raw(w.clone(), space, &cond);
                let l = step_loss(&w, out.clone(), s);
                total = Some(match total {
                    Some(t) => t + l,
                    None => l,
                });
                let next = model.decode(&w, out);
                w = advance(w, next);
            }
            total.expect("steps >= 1") / steps as f64
        }
        Objective::Pushforward { steps } => {
            let mut w = frames;
            for _ in 0..steps - 1 {
                let next = model.step(w.clone(), space, &cond);
                w = advance(w, next).detach();
            }
            let out = model.forward_raw(w.clone(), space, &cond);
            step_loss(&w, out, steps - 1)
        }
    }
}

/// Mean one-step loss of `model` over every window of `data` (dataset `dataset` of the
/// model), in chunks and without gradients.
pub fn validation_loss<M: Surrogate>(
    model: &M,
    data: &WindowDataset,
    dataset: usize,
    kind: LossKind,
    device: &Device,
) -> f64 {
    let model = model.valid();
    let device = device.clone().inner();
    let indices: Vec<usize> = (0..data.len()).collect();
    let mut total = 0.0;
    for idx in indices.chunks(64) {
        let l = unroll_loss(
            &model,
            data.batch(idx, &device),
            &data.spatial_shape,
            dataset,
            Objective::OneStep,
            kind,
            &data.geometry,
        );
        total += l.into_scalar::<f32>() as f64 * idx.len() as f64;
    }
    total / data.len().max(1) as f64
}

/// Gaussian noise of `scale` per-channel standard deviations, `[batch, history * channels, n]`
/// (`std` has one entry per field channel and repeats over the window's frames).
fn input_noise(
    rng: &mut ChaCha8Rng,
    dims: [usize; 3],
    std: &[f32],
    scale: f64,
    device: &Device,
) -> Tensor<3> {
    let [b, c, n] = dims;
    let mut v = Vec::with_capacity(b * c * n);
    for _ in 0..b {
        for s in std.iter().cycle().take(c) {
            for _ in 0..n {
                let z: f64 = StandardNormal.sample(rng);
                v.push((z * scale * *s as f64) as f32);
            }
        }
    }
    Tensor::from_data(TensorData::new(v, dims), device)
}

/// Trains `model` on one dataset or a weighted mixture of several (`data[k]` is the model's
/// dataset `k`): each step draws a dataset by weight (a single dataset draws nothing), then a
/// batch of its windows, and takes one AdamW step on [`unroll_loss`] with `config.objective`
/// and `config.loss`. With `config.input_noise`, the inputs get Gaussian noise of that many
/// per-channel standard deviations of the fields ([`Surrogate::field_scale`], else the
/// dataset's). `valid`, if given, is scored
/// with the one-step loss of dataset 0 (the best checkpoint is kept on it). With several
/// datasets the log holds each one's loss (`loss_<group>`, by `options.groups`, else the
/// model's [dataset names](Surrogate::dataset_names), else the dataset index).
///
/// `device` must be an autodiff device. See [`fit`] for checkpoints, resumption and the NaN
/// guard.
///
/// # Errors
/// [`TrainError::Config`] naming the dataset at fault when a dataset is empty, has other
/// channels or history than the model, windows too short for the objective, or a
/// non-positive weight.
pub fn train_surrogate<M: Surrogate>(
    model: M,
    data: &[PhysicsData],
    valid: Option<&WindowDataset>,
    config: &TrainConfig,
    device: &Device,
    options: &TrainOptions,
) -> Result<(M, TrainReport)> {
    let windows: Vec<&WindowDataset> = data.iter().map(|d| &d.windows).collect();
    let weights: Vec<f64> = data.iter().map(|d| d.weight).collect();
    fit_surrogate(
        model, &windows, &weights, valid, None, config, device, options,
    )
}

/// [`train_surrogate`] on one dataset, borrowed: the model's dataset 0.
///
/// ```
/// use burn::tensor::Device;
/// use physfm_data::{CollectionMeta, InMemoryCollection, FORMAT_VERSION, TrajectoryRecord};
/// use physfm_models::{Dynamics, UNetConfig};
/// use physfm_train::{TrainConfig, TrainOptions, WindowDataset, train_windows};
///
/// // A travelling wave u(x, t) = sin(2 pi (x - 0.1 t)) sampled at 16 points and 5 times.
/// let n = 16;
/// let fields: Vec<f32> = (0..5)
///     .flat_map(|t| (0..n).map(move |x| (2.0 * std::f32::consts::PI * (x as f32 / n as f32 - 0.1 * t as f32)).sin()))
///     .collect();
/// let data = InMemoryCollection {
///     meta: CollectionMeta {
///         format_version: FORMAT_VERSION, name: "wave".into(), channel_names: vec!["u".into()],
///         param_names: vec![], axis_names: vec!["x".into()], spatial_shape: vec![n],
///         domain_lengths: vec![1.0], boundary: vec![physfm_data::AxisBoundary::PERIODIC], frames: 5, trajectories: 1,
///         generator: "doc".into(), seed: 0, provenance: serde_json::Value::Null,
///     },
///     coordinates: vec![(0..n).map(|x| x as f64 / n as f64).collect()],
///     records: vec![TrajectoryRecord { fields, times: vec![0.0, 1.0, 2.0, 3.0, 4.0], params: vec![] }],
/// };
/// // A U-Net that sees two frames, trained on windows of two input frames and one target.
/// let windows = WindowDataset::with_history(&data, 2, 1, 1)?;
/// let device = Device::flex().autodiff();
/// let model = UNetConfig::new(2, 1, 1)
///     .with_hidden(8)
///     .with_channel_mults(vec![1, 2])
///     .with_norm_groups(4)
///     .init(&device);
/// assert_eq!(model.history(), 2);
/// let config = TrainConfig { log_every: 5, ..TrainConfig::new(10, 2, 1e-3) };
/// let (_model, report) =
///     train_windows(model, &windows, None, &config, &device, &TrainOptions::default())?;
/// assert_eq!(report.losses.len(), 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn train_windows<M: Surrogate>(
    model: M,
    data: &WindowDataset,
    valid: Option<&WindowDataset>,
    config: &TrainConfig,
    device: &Device,
    options: &TrainOptions,
) -> Result<(M, TrainReport)> {
    fit_surrogate(model, &[data], &[1.0], valid, None, config, device, options)
}

/// [`train_windows`] validated by any score of the model (lower is better) instead of the
/// one-step loss on windows: a rollout error on held-out trajectories, say, which makes
/// early stopping ([`TrainConfig::patience`]) select on the error that matters.
pub fn train_windows_with<M: Surrogate>(
    model: M,
    data: &WindowDataset,
    validate: Option<Validate<'_, M>>,
    config: &TrainConfig,
    device: &Device,
    options: &TrainOptions,
) -> Result<(M, TrainReport)> {
    fit_surrogate(
        model,
        &[data],
        &[1.0],
        None,
        validate,
        config,
        device,
        options,
    )
}

/// [`train_surrogate`] on borrowed datasets and their weights, validated on `valid`'s
/// windows or by `score`.
#[allow(clippy::too_many_arguments)]
fn fit_surrogate<M: Surrogate>(
    model: M,
    data: &[&WindowDataset],
    weights: &[f64],
    valid: Option<&WindowDataset>,
    score: Option<Validate<'_, M>>,
    config: &TrainConfig,
    device: &Device,
    options: &TrainOptions,
) -> Result<(M, TrainReport)> {
    config.validate("train")?;
    check(&model, data, weights, valid, config)?;
    // The noise's unit: the model's own field statistics, else the data's (computed only
    // where noise is asked for).
    let noise_std: Vec<Vec<f32>> = if config.input_noise > 0.0 {
        data.iter()
            .enumerate()
            .map(|(k, w)| model.field_scale(k).unwrap_or_else(|| w.field_std()))
            .collect()
    } else {
        vec![Vec::new(); data.len()]
    };
    let total: f64 = weights.iter().sum();
    let options = with_groups(&model, data.len(), options);
    let batch_loss = |m: &M, rng: &mut ChaCha8Rng| {
        let k = if data.len() == 1 {
            0
        } else {
            let mut r = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * total;
            let mut k = data.len() - 1;
            for (i, &w) in weights.iter().enumerate() {
                if r < w {
                    k = i;
                    break;
                }
                r -= w;
            }
            k
        };
        let w = data[k];
        let mut batch = w.sample(config.batch_size, rng, device);
        if config.input_noise > 0.0 {
            let x = batch.x;
            batch.x =
                x.clone() + input_noise(rng, x.dims(), &noise_std[k], config.input_noise, device);
        }
        let l = unroll_loss(
            m,
            batch,
            &w.spatial_shape,
            k,
            config.objective,
            config.loss,
            &w.geometry,
        );
        Ok(GroupLoss { loss: l, group: k })
    };
    let mut validate_fn = |m: &M| {
        Ok(validation_loss(
            m,
            valid.expect("given"),
            0,
            config.loss,
            device,
        ))
    };
    match valid {
        Some(_) => fit(model, config, &options, batch_loss, Some(&mut validate_fn)),
        None => fit(model, config, &options, batch_loss, score),
    }
}

/// `options` with per-dataset loss groups for a run of `datasets` datasets: the caller's,
/// else the model's dataset names, else the indices (none for a single dataset).
pub(crate) fn with_groups<M: Surrogate>(
    model: &M,
    datasets: usize,
    options: &TrainOptions,
) -> TrainOptions {
    let mut options = options.clone();
    if options.groups.is_empty() && datasets > 1 {
        let names = model.dataset_names();
        options.groups = (0..datasets)
            .map(|k| names.get(k).cloned().unwrap_or_else(|| k.to_string()))
            .collect();
    }
    options
}

/// `{what}[i]`, with the model's name for dataset `i` where it has one.
pub(crate) fn dataset_key<M: Surrogate>(model: &M, what: &str, i: usize) -> String {
    match model.dataset_names().get(i) {
        Some(name) => format!("{what}[{i}] ({name})"),
        None => format!("{what}[{i}]"),
    }
}

/// Refuses data of `channels` channels on a grid of `dims` axes with `params` parameters
/// for the model's dataset `i`, naming `key`.
pub(crate) fn fits<M: Surrogate>(
    model: &M,
    i: usize,
    key: &str,
    channels: usize,
    dims: usize,
    params: usize,
) -> Result<()> {
    let bad = |value: String, reason: String| {
        Err(TrainError::Config {
            key: key.to_string(),
            value,
            reason,
        })
    };
    if channels != model.channels(i) {
        return bad(
            format!("{channels} channels"),
            format!("the model's dataset {i} has {}", model.channels(i)),
        );
    }
    if dims != model.dims() {
        return bad(
            format!("{dims}D data"),
            format!("the model is {}D", model.dims()),
        );
    }
    match model.coefficients(i) {
        Some(p) if p != params => bad(
            format!("{params} parameters"),
            format!("the model's dataset {i} takes {p} coefficients"),
        ),
        _ => Ok(()),
    }
}

/// Refuses data that does not fit the model or the objective, naming the dataset.
fn check<M: Surrogate>(
    model: &M,
    data: &[&WindowDataset],
    weights: &[f64],
    valid: Option<&WindowDataset>,
    config: &TrainConfig,
) -> Result<()> {
    let bad =
        |key: String, value: String, reason: String| Err(TrainError::Config { key, value, reason });
    if data.is_empty() {
        return bad(
            "data".into(),
            "no datasets".into(),
            "nothing to train on".into(),
        );
    }
    let need = config.objective.horizon();
    for (i, (w, &weight)) in data.iter().zip(weights).enumerate() {
        let key = dataset_key(model, "data", i);
        if w.is_empty() {
            return bad(key, "0 windows".into(), "nothing to train on".into());
        }
        fits(
            model,
            i,
            &key,
            w.channels,
            w.spatial_shape.len(),
            w.n_params,
        )?;
        w.check_history(model.history())?;
        if w.horizon < need {
            return bad(
                "train.objective".into(),
                format!("{:?}", config.objective),
                format!(
                    "needs windows of {need} target frames; {key} has {}",
                    w.horizon
                ),
            );
        }
        if !(weight.is_finite() && weight > 0.0) {
            return bad(key, weight.to_string(), "weights must be positive".into());
        }
    }
    if let Some(v) = valid {
        v.check_history(model.history())?;
    }
    Ok(())
}
