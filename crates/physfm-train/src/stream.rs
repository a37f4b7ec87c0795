//! Training that streams its windows through physfm-data's [`Loader`]: batches are read from
//! the stores (a Zarr directory, HTTP, HDF5, or a collection in memory) on background
//! threads, so memory is bounded by the loader's prefetch depth, not by the corpus.

use burn::tensor::{Device, Tensor, TensorData};
use physfm_data::{Batch, DatasetSpec, Loader, LoaderConfig};
use physfm_models::Surrogate;

use crate::unroll::{dataset_key, fits, with_groups};
use crate::{
    ChaCha8Rng, Checkpoints, GroupLoss, LossGeometry, Result, TrainConfig, TrainError,
    TrainOptions, TrainReport, WindowBatch, fit, frames_to_model, unroll_loss,
};

/// The loader side of a streaming run: the datasets (dataset `k` is the model's dataset `k`,
/// sampled by its weight) and the loader's threads. The batch size, the number of batches
/// and the seed come from the [`TrainConfig`].
#[derive(Debug, Clone)]
pub struct Stream {
    /// The datasets, with their windows (history and horizon) and weights.
    pub datasets: Vec<DatasetSpec>,
    /// Background reader threads (at least 1).
    pub workers: usize,
    /// Batches each worker may hold ready: the memory bound.
    pub prefetch: usize,
    /// Feed the model the natural logarithm of each PDE parameter (as a model pretrained on
    /// positive parameters spanning decades takes them) instead of the stored value.
    pub log_params: bool,
}

impl Stream {
    /// A stream of `datasets` read by one worker with two batches ready, parameters as
    /// stored.
    pub fn new(datasets: Vec<DatasetSpec>) -> Self {
        Self {
            datasets,
            workers: 1,
            prefetch: 2,
            log_params: false,
        }
    }
}

/// A loader batch (`[B, frames, *space, channel]`, stored layout) as a [`WindowBatch`] in
/// model layout on `device`, with each sample's step from its last input frame to its first
/// target frame.
pub fn window_batch(batch: &Batch, device: &Device) -> WindowBatch {
    let (b, h, k, c) = (batch.size, batch.history, batch.horizon, batch.channels);
    let n: usize = batch.spatial_shape.iter().product();
    let mut x = Vec::with_capacity(batch.input.len());
    frames_to_model(&batch.input, n, c, &mut x);
    let mut y = Vec::with_capacity(batch.target.len());
    frames_to_model(&batch.target, n, c, &mut y);
    let dt = (0..b)
        .map(|i| batch.target_times[i * k] - batch.input_times[i * h + h - 1])
        .collect();
    WindowBatch {
        x: Tensor::from_data(TensorData::new(x, [b, h * c, n]), device),
        ys: Tensor::from_data(TensorData::new(y, [b, k, c, n]), device),
        params: batch.params.clone(),
        dt,
    }
}

/// Trains `model` on batches streamed from `stream`: one batch per optimiser step, drawn by
/// the loader from the datasets by weight, unrolled with `config.objective` and
/// `config.loss` ([`unroll_loss`]). The loader's stream is a pure function of `config.seed`,
/// and a resumed run (`options.resume`) restarts it at the checkpoint's step without reading
/// the batches before it, so a resumed run sees the batches an uninterrupted one would.
/// Input noise is not applied to streams (`config.input_noise` must be 0).
///
/// `device` must be an autodiff device. See [`fit`] for checkpoints, resumption and the NaN
/// guard.
///
/// # Errors
/// [`TrainError::Config`] naming the dataset whose channels, grid, coefficients, history or
/// horizon do not fit the model or the objective; the loader's read errors as
/// [`TrainError::Data`].
pub fn train_streaming<M: Surrogate>(
    model: M,
    stream: &Stream,
    config: &TrainConfig,
    device: &Device,
    options: &TrainOptions,
) -> Result<(M, TrainReport)> {
    config.validate("train")?;
    check(&model, stream, config)?;
    let geometry: Vec<LossGeometry> = stream
        .datasets
        .iter()
        .map(|d| LossGeometry::from_meta(d.source.meta()))
        .collect();
    let skip = match (&options.checkpoint_dir, options.resume) {
        (Some(dir), true) => Checkpoints::new(dir).current("last")?.map_or(0, |(_, s)| s),
        _ => 0,
    };
    let mut loader = Loader::new(
        stream.datasets.clone(),
        LoaderConfig {
            batch_size: config.batch_size,
            batches: config.steps,
            seed: config.seed,
            workers: stream.workers,
            prefetch: stream.prefetch,
            skip,
        },
    )?;
    let options = with_groups(&model, stream.datasets.len(), options);
    let batch_loss = move |m: &M, _rng: &mut ChaCha8Rng| {
        let batch = loader.next().ok_or_else(|| TrainError::Config {
            key: "stream".into(),
            value: "ended".into(),
            reason: "the loader ran out of batches before the last step".into(),
        })??;
        let k = batch.dataset;
        let space = batch.spatial_shape.clone();
        let mut windows = window_batch(&batch, device);
        if stream.log_params {
            windows.params.iter_mut().for_each(|p| *p = p.ln());
        }
        let l = unroll_loss(
            m,
            windows,
            &space,
            k,
            config.objective,
            config.loss,
            &geometry[k],
        );
        Ok(GroupLoss { loss: l, group: k })
    };
    fit(model, config, &options, batch_loss, None)
}

/// Refuses streams that do not fit the model or the objective, naming the dataset.
fn check<M: Surrogate>(model: &M, stream: &Stream, config: &TrainConfig) -> Result<()> {
    let bad =
        |key: String, value: String, reason: String| Err(TrainError::Config { key, value, reason });
    if stream.datasets.is_empty() {
        return bad(
            "stream".into(),
            "no datasets".into(),
            "nothing to train on".into(),
        );
    }
    if config.input_noise != 0.0 {
        return bad(
            "train.input_noise".into(),
            config.input_noise.to_string(),
            "streamed training adds no input noise; set it to 0".into(),
        );
    }
    for (i, d) in stream.datasets.iter().enumerate() {
        let m = d.source.meta();
        let key = dataset_key(model, "stream.datasets", i);
        let (c, p) = (m.channel_names.len(), m.param_names.len());
        fits(model, i, &key, c, m.spatial_shape.len(), p)?;
        if d.window.history != model.history() {
            return bad(
                key,
                format!("windows of {} input frames", d.window.history),
                format!("the model takes {}", model.history()),
            );
        }
        if d.window.horizon < config.objective.horizon() {
            return bad(
                key,
                format!("windows of {} target frames", d.window.horizon),
                format!(
                    "{:?} needs {}",
                    config.objective,
                    config.objective.horizon()
                ),
            );
        }
    }
    Ok(())
}
