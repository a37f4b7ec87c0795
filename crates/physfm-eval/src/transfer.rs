//! Transfer of a pretrained Encode-Process-Decode model to new physics: the errors of a
//! model on a collection, one transfer run (pretrained, encoder/decoder only, or from
//! scratch) on K trajectories, and the pieces of the scaling protocol (random K-subsets,
//! the adaptation budget). `cargo xtask transfer` and `cargo xtask scaling` are these
//! functions over presets.

use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};
use physfm_adapt::Strategy;
use physfm_data::InMemoryCollection;
use physfm_models::{Conditioning, EncodeProcessDecode, EpdConfig, Surrogate, advance};
use physfm_pde::{GOLDEN, splitmix64};
use physfm_train::{
    TrainConfig, TrainOptions, TrainReport, WindowDataset, frames_to_model, train_windows,
};
use serde::Serialize;

use crate::{EvalError, Result};

/// How PDE parameters enter a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ParamTransform {
    /// As they are.
    Identity,
    /// Their natural logarithm (positive parameters spanning decades).
    Log,
}

impl ParamTransform {
    /// Maps one value.
    pub fn apply(self, v: f64) -> f64 {
        match self {
            Self::Identity => v,
            Self::Log => v.ln(),
        }
    }
}

/// The result of one transfer run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TransferScore {
    /// One-step relative L2 error on the test collection (see [`rollout_errors`]).
    pub one_step_rel_l2: f64,
    /// Rollout relative L2 error.
    pub rollout_rel_l2: f64,
    /// Training seconds.
    pub seconds: f64,
}

/// One-step and rollout relative L2 errors of any surrogate on dataset `k` of `test` (whose
/// trajectories all start at frame 0; parameters mapped by `params` as the model was
/// trained): per trajectory, the L2 norm of the error over every predicted frame, point and
/// channel divided by that of the truth; the mean over trajectories. A model of `h` input
/// frames predicts frames `h..T`: one-step from windows of true frames, the rollout from the
/// first `h` true frames. (PDEBench's nRMSE, which normalises each frame by its own norm, is
/// dominated by the late frames of decaying solutions such as Burgers': a persistence
/// prediction of physfm_burgers1d's test split scores 39 205 there.)
///
/// # Errors
/// [`EvalError::Invalid`] naming the collection when it has no trajectory or too few frames
/// for the model's history.
pub fn rollout_errors<M: Surrogate>(
    model: &M,
    k: usize,
    test: &InMemoryCollection,
    params: ParamTransform,
    device: &Device,
) -> Result<(f64, f64)> {
    let meta = &test.meta;
    let h = model.history();
    let (b, t) = (test.records.len(), meta.frames);
    if b == 0 || t < h + 1 {
        return Err(EvalError::Invalid(format!(
            "`{}`: {b} trajectories of {t} frames; errors of a model of {h} input frames need \
             at least one trajectory of {} frames",
            meta.name,
            h + 1
        )));
    }
    let space = &meta.spatial_shape;
    let n: usize = space.iter().product();
    let c = meta.channel_names.len();
    let transform = params;
    let params: Vec<f64> = test
        .records
        .iter()
        .flat_map(|r| r.params.iter().map(|&p| transform.apply(p)))
        .collect();
    // Every frame of every trajectory in model layout, [b, t, c, n].
    let mut all = Vec::with_capacity(b * t * c * n);
    for r in &test.records {
        frames_to_model(&r.fields[..t * n * c], n, c, &mut all);
    }
    let all = Tensor::<4>::from_data(TensorData::new(all, [b, t, c, n]), device);
    let cond = |f: usize| {
        Conditioning::new(
            test.records
                .iter()
                .map(|r| r.times[f + 1] - r.times[f])
                .collect(),
        )
        .with_coefficients(params.clone())
        .with_dataset(k)
    };
    let frames = |from: usize, count: usize| all.clone().narrow(1, from, count);
    // Squared error sums per trajectory (one-step, rollout) and squared norms of the truth.
    let (mut one, mut roll, mut norm) = (vec![0.0f64; b], vec![0.0f64; b], vec![0.0f64; b]);
    let host = |x: Tensor<3>| x.into_data().try_to_vec::<f32>().expect("f32 fields");
    let per = c * n;
    let mut window = frames(0, h);
    for f in h - 1..t - 1 {
        let cf = cond(f);
        let truth = host(frames(f + 1, 1).reshape([b, c, n]));
        let next = host(model.step(frames(f + 1 - h, h), space, &cf));
        let rolled = model.step(window.clone(), space, &cf);
        window = advance(window, rolled.clone());
        let rolled = host(rolled);
        for s in 0..b {
            let y = &truth[s * per..(s + 1) * per];
            let sq = |p: &[f32]| -> f64 {
                p.iter()
                    .zip(y)
                    .map(|(a, b)| (a - b) as f64 * (a - b) as f64)
                    .sum()
            };
            one[s] += sq(&next[s * per..(s + 1) * per]);
            roll[s] += sq(&rolled[s * per..(s + 1) * per]);
            norm[s] += y.iter().map(|v| *v as f64 * *v as f64).sum::<f64>();
        }
    }
    let rel = |err: &[f64]| {
        err.iter()
            .zip(&norm)
            .map(|(e, y)| (e / y).sqrt())
            .sum::<f64>()
            / b as f64
    };
    Ok((rel(&one), rel(&roll)))
}

/// A K-subset of `pool`'s trajectories, drawn with a splitmix64 stream from `seed` (seed 0:
/// the first K).
pub fn random_subset(pool: &InMemoryCollection, k: usize, seed: u64) -> Result<InMemoryCollection> {
    if k == 0 || k > pool.records.len() {
        return Err(EvalError::Invalid(format!(
            "a subset of {k} trajectories from a pool of {}",
            pool.records.len()
        )));
    }
    let mut idx: Vec<usize> = (0..pool.records.len()).collect();
    if seed > 0 {
        let mut state = seed.wrapping_mul(GOLDEN);
        for i in (1..idx.len()).rev() {
            let z = splitmix64(state);
            state = state.wrapping_add(GOLDEN);
            idx.swap(i, (z % (i as u64 + 1)) as usize);
        }
    }
    let mut out = InMemoryCollection {
        meta: pool.meta.clone(),
        coordinates: pool.coordinates.clone(),
        records: idx[..k].iter().map(|&i| pool.records[i].clone()).collect(),
    };
    out.meta.trajectories = k;
    Ok(out)
}

/// The training budget of one adaptation: the pretraining run's settings with `steps`
/// optimiser steps at peak rate `lr`, no checkpoints or validation, generator `seed`.
pub fn adaptation_budget(base: &TrainConfig, steps: usize, lr: f64, seed: u64) -> TrainConfig {
    let mut train = base.clone();
    train.steps = steps;
    train.learning_rate = lr;
    train.warmup_steps = train.warmup_steps.min(steps / 10);
    train.checkpoint_every = 0;
    train.validate_every = 0;
    train.log_every = steps.max(1);
    train.seed = seed;
    train
}

/// Trains one model for the single dataset of `target_cfg` on `windows`: from the
/// pretrained model `pre` (how much of it trains: see [`Strategy`]; the new heads always train) or from fresh
/// weights ([`Strategy::Scratch`], which ignores `pre`). Parameters of `windows` must
/// already be mapped as the model takes them. Fresh weights (a new encoder/decoder, LoRA's
/// `a` factors, or the whole scratch model) are drawn with seed `1000 + budget.seed`. The
/// model trains on `device` with autodiff (plain or autodiff, as given) and comes back there,
/// LoRA updates merged into the weights.
pub fn transfer_train(
    pre: Option<&EncodeProcessDecode>,
    target_cfg: &EpdConfig,
    windows: &WindowDataset,
    strategy: Strategy,
    budget: &TrainConfig,
    device: &Device,
) -> Result<(EncodeProcessDecode, TrainReport)> {
    let device = device.clone().inner();
    let ad = device.clone().autodiff();
    device.seed(1000 + budget.seed);
    let pre = pre.filter(|_| strategy != Strategy::Scratch);
    if pre.is_none() && strategy != Strategy::Scratch {
        return Err(EvalError::Invalid(format!(
            "strategy {strategy} needs a pretrained model"
        )));
    }
    let model = match pre {
        None => target_cfg.init(&ad),
        Some(m) => {
            let moved = m.transfer(target_cfg, &ad)?;
            // The new physics' heads are fresh: they train under every strategy.
            let parts = moved.parts();
            let fresh: Vec<String> = parts.encoder.into_iter().chain(parts.decoder).collect();
            strategy.prepare(moved, &fresh, &ad)
        }
    };
    let options = TrainOptions::default();
    let (model, report) = train_windows(model, windows, None, budget, &ad, &options)?;
    Ok((strategy.finish(model), report))
}

/// [`transfer_train`] on `device`, then the errors of the trained model on `test`
/// ([`rollout_errors`], parameters mapped by `params`, on `device` without autodiff).
#[allow(clippy::too_many_arguments)]
pub fn transfer_protocol(
    pre: Option<&EncodeProcessDecode>,
    target_cfg: &EpdConfig,
    windows: &WindowDataset,
    test: &InMemoryCollection,
    strategy: Strategy,
    budget: &TrainConfig,
    params: ParamTransform,
    device: &Device,
) -> Result<TransferScore> {
    let (model, report) = transfer_train(pre, target_cfg, windows, strategy, budget, device)?;
    let plain = device.clone().inner();
    let (one, roll) = rollout_errors(&model.valid(), 0, test, params, &plain)?;
    Ok(TransferScore {
        one_step_rel_l2: one,
        rollout_rel_l2: roll,
        seconds: report.seconds,
    })
}
