//! Transfer of a pretrained Encode-Process-Decode model to new physics: the errors of a
//! model on a collection, one transfer run (pretrained, encoder/decoder only, or from
//! scratch) on K trajectories, and the pieces of the scaling protocol (random K-subsets,
//! the adaptation budget). `cargo xtask transfer` and `cargo xtask scaling` are these
//! functions over presets.

use burn::module::Module;
use burn::tensor::Device;
use physfm_adapt::{Adapted, MetaConfig, Prior, Strategy, adapt};
use physfm_data::InMemoryCollection;
use physfm_models::{Dynamics, EncodeProcessDecode, EpdConfig, Surrogate};
use physfm_pde::{GOLDEN, splitmix64};
use physfm_train::{TrainConfig, TrainOptions, TrainReport, WindowDataset};

use crate::evaluate::{Predictions, predictions, rollout_predictions};
use serde::{Deserialize, Serialize};

use crate::{EvalError, Result};

/// How PDE parameters enter a model (`params = "log"` or `"identity"` in a spec).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ParamTransform {
    /// As they are (coefficients that may be 0: a term that is absent).
    Identity,
    /// Their natural logarithm (positive parameters spanning decades).
    #[default]
    Log,
    /// Not at all: the model is not told the coefficients (an ablation of the
    /// conditioning; its datasets have no parameter inputs).
    None,
}

impl ParamTransform {
    /// Maps one value ([`ParamTransform::None`] keeps it; [`ParamTransform::map`] drops
    /// the values).
    pub fn apply(self, v: f64) -> f64 {
        match self {
            Self::Identity | Self::None => v,
            Self::Log => v.ln(),
        }
    }

    /// The values a model taking parameters this way is fed: each mapped, or none.
    pub fn map(self, params: &[f64]) -> Vec<f64> {
        match self {
            Self::None => Vec::new(),
            _ => params.iter().map(|&v| self.apply(v)).collect(),
        }
    }

    /// How many parameter inputs a model of a collection with `n` parameters has.
    pub fn inputs(self, n: usize) -> usize {
        if self == Self::None { 0 } else { n }
    }

    /// The one-step windows of `data` with their parameters mapped, as a model that takes
    /// them this way is fed.
    ///
    /// # Errors
    /// [`EvalError::Invalid`] naming the trajectory whose parameter is not positive, for
    /// [`ParamTransform::Log`]; the windowing errors.
    pub fn pairs(self, data: &InMemoryCollection) -> Result<WindowDataset> {
        self.check(data)?;
        let mut w = WindowDataset::pairs(data, 1)?;
        if self == Self::None {
            w.params.clear();
            w.n_params = 0;
            w.param_names.clear();
        }
        for p in &mut w.params {
            *p = self.apply(*p);
        }
        Ok(w)
    }

    /// Refuses, for [`ParamTransform::Log`], a collection with a parameter that is not
    /// positive, naming the trajectory.
    ///
    /// # Errors
    /// [`EvalError::Invalid`].
    pub fn check(self, data: &InMemoryCollection) -> Result<()> {
        for (i, r) in data.records.iter().enumerate() {
            self.check_trajectory(
                &format!("{} trajectory {i}", data.meta.name),
                &data.meta.param_names,
                &r.params,
            )?;
        }
        Ok(())
    }

    /// Refuses, for [`ParamTransform::Log`], one trajectory's parameters `params` (named
    /// `names`) if one is not positive; the error names `trajectory` and the parameter.
    ///
    /// # Errors
    /// [`EvalError::Invalid`].
    pub fn check_trajectory(
        self,
        trajectory: &str,
        names: &[String],
        params: &[f64],
    ) -> Result<()> {
        if self != Self::Log {
            return Ok(());
        }
        match names.iter().zip(params).find(|(_, v)| **v <= 0.0) {
            Some((name, v)) => Err(EvalError::Invalid(format!(
                "{trajectory}: parameter {name} = {v} is not positive; parameters enter the \
                 model as logarithms (`params = \"identity\"` feeds them as they are)"
            ))),
            None => Ok(()),
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
pub fn rollout_errors<M: Dynamics + ?Sized>(
    model: &M,
    k: usize,
    test: &InMemoryCollection,
    params: ParamTransform,
    device: &Device,
) -> Result<(f64, f64)> {
    let s = rollout_scores(model, k, test, params, device)?;
    Ok((s.one_step_rel_l2, s.rollout_rel_l2))
}

/// The errors of a model on a test collection, relative L2 (see [`rollout_errors`]) and
/// PDEBench's nRMSE (each predicted frame's error normalised by the true frame's norm,
/// averaged over frames, channels and trajectories; see [`crate::nrmse`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RolloutScores {
    /// One-step relative L2.
    pub one_step_rel_l2: f64,
    /// Rollout relative L2.
    pub rollout_rel_l2: f64,
    /// One-step nRMSE.
    pub one_step_nrmse: f64,
    /// Rollout nRMSE.
    pub rollout_nrmse: f64,
}

/// [`rollout_errors`] and the nRMSE of the same predictions.
///
/// # Errors
/// As [`rollout_errors`].
pub fn rollout_scores<M: Dynamics + ?Sized>(
    model: &M,
    k: usize,
    test: &InMemoryCollection,
    params: ParamTransform,
    device: &Device,
) -> Result<RolloutScores> {
    let h = model.history();
    let Predictions {
        one_step, rollout, ..
    } = predictions(model, k, test, params, device)?;
    let per = test.meta.spatial_shape.iter().product::<usize>() * test.meta.channel_names.len();
    let truths: Vec<f32> = test
        .records
        .iter()
        .flat_map(|r| r.fields[h * per..test.meta.frames * per].iter().copied())
        .collect();
    let dims: Vec<usize> = [test.records.len(), test.meta.frames - h]
        .into_iter()
        .chain(test.meta.spatial_shape.iter().copied())
        .chain([test.meta.channel_names.len()])
        .collect();
    Ok(RolloutScores {
        one_step_rel_l2: mean_rel_l2(&one_step, test, h),
        rollout_rel_l2: mean_rel_l2(&rollout, test, h),
        one_step_nrmse: crate::nrmse(&one_step.concat(), &truths, &dims)?,
        rollout_nrmse: crate::nrmse(&rollout.concat(), &truths, &dims)?,
    })
}

/// The rollout relative L2 error of [`rollout_scores`] alone, at half its cost (no one-step
/// predictions): what training validates on.
///
/// # Errors
/// As [`rollout_scores`].
pub fn rollout_rel_l2<M: Dynamics + ?Sized>(
    model: &M,
    k: usize,
    test: &InMemoryCollection,
    params: ParamTransform,
    device: &Device,
) -> Result<f64> {
    let rollout = rollout_predictions(model, k, test, params, device)?;
    Ok(mean_rel_l2(&rollout, test, model.history()))
}

/// The mean over trajectories of `||prediction - truth|| / ||truth||` over frames `h..T`.
fn mean_rel_l2(predicted: &[Vec<f32>], test: &InMemoryCollection, h: usize) -> f64 {
    let per = test.meta.spatial_shape.iter().product::<usize>() * test.meta.channel_names.len();
    let total: f64 = test
        .records
        .iter()
        .zip(predicted)
        .map(|(r, p)| {
            let truth = &r.fields[h * per..test.meta.frames * per];
            // The difference in f32, as the predictions are; the sums in f64.
            let (err, norm) = truth.iter().zip(p).fold((0.0, 0.0), |(e, n), (t, y)| {
                let d = (y - t) as f64;
                (e + d * d, n + *t as f64 * *t as f64)
            });
            (err / norm).sqrt()
        })
        .sum();
    total / test.records.len() as f64
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

/// Adapts to the single dataset of `target_cfg` on `windows`: the pretrained prior `pre`
/// (a plain model, or one meta-trained with the strategy: see [`meta_train`]) gets the new
/// physics' heads (fresh, or the pretrained head of the same name: see
/// [`EncodeProcessDecode::transfer`]), which train under every strategy; how much else trains is the
/// strategy's (see [`Strategy`]). Without `pre` only [`Strategy::Scratch`] runs, on a new
/// model of `target_cfg`. Parameters of `windows` must already be mapped as the model takes
/// them. Fresh weights (the new heads, LoRA's `a` factors, residuals, the whole scratch
/// model) are drawn with seed `1000 + budget.seed`. The model trains on `device` with
/// autodiff (plain or autodiff, as given) and comes back there.
///
/// With `valid` (held-out trajectories of the target and the map of their parameters), the
/// training validates by the rollout relative L2 error on them every `budget.validate_every`
/// steps; with `budget.patience` > 0 it stops early and keeps the best weights, the
/// transferred model's own included (see [`physfm_train::TrainConfig::patience`]).
///
/// [`meta_train`]: physfm_adapt::meta_train
#[allow(clippy::too_many_arguments)]
pub fn transfer_train(
    pre: Option<&Prior<EncodeProcessDecode>>,
    target_cfg: &EpdConfig,
    windows: &WindowDataset,
    valid: Option<(&InMemoryCollection, ParamTransform)>,
    strategy: Strategy,
    budget: &TrainConfig,
    meta: &MetaConfig,
    device: &Device,
) -> Result<(Adapted<EncodeProcessDecode>, TrainReport)> {
    let device = device.clone().inner();
    let ad = device.clone().autodiff();
    device.seed(1000 + budget.seed);
    // Scratch ignores the prior: a new model of `target_cfg`.
    let pre = pre.filter(|_| strategy != Strategy::Scratch);
    let (prior, fresh) = match pre {
        Some(p) => {
            // Every head of the moved model is new.
            let parts = p.model().parts();
            let fresh: Vec<String> = parts.encoder.into_iter().chain(parts.decoder).collect();
            let moved = p.clone().map(|m| m.transfer(target_cfg, &ad), &fresh)?;
            (moved, fresh)
        }
        None if strategy == Strategy::Scratch => {
            let model = target_cfg.init(&ad);
            // `Strategy::Scratch` re-initialises it: with the generator at the same seed, to
            // the weights `target_cfg.init` draws.
            device.seed(1000 + budget.seed);
            (Prior::Model(model), Vec::new())
        }
        None => {
            return Err(EvalError::Invalid(format!(
                "strategy {strategy} needs a pretrained model"
            )));
        }
    };
    let options = TrainOptions::default();
    let mut score = |m: &EncodeProcessDecode| -> physfm_train::Result<f64> {
        let (data, params) = valid.expect("validates only with data");
        rollout_rel_l2(&m.valid(), 0, data, params, &device)
            .map_err(|e| physfm_train::TrainError::Validation(Box::new(e)))
    };
    let validate: Option<physfm_train::Validate<'_, EncodeProcessDecode>> = match valid {
        Some(_) => Some(&mut score),
        None => None,
    };
    let (model, report) = adapt(
        prior, strategy, &fresh, windows, validate, budget, meta, &ad, &options,
    )?;
    Ok((model, report.train))
}

/// [`transfer_train`] on `device`, then the errors of the adapted model on `test`
/// ([`rollout_errors`], parameters mapped by `params`, on `device` without autodiff).
#[allow(clippy::too_many_arguments)]
pub fn transfer_protocol(
    pre: Option<&Prior<EncodeProcessDecode>>,
    target_cfg: &EpdConfig,
    windows: &WindowDataset,
    test: &InMemoryCollection,
    strategy: Strategy,
    budget: &TrainConfig,
    meta: &MetaConfig,
    params: ParamTransform,
    device: &Device,
) -> Result<TransferScore> {
    let (model, report) = transfer_train(
        pre, target_cfg, windows, None, strategy, budget, meta, device,
    )?;
    let plain = device.clone().inner();
    let (one, roll) = rollout_errors(&model.valid(), 0, test, params, &plain)?;
    Ok(TransferScore {
        one_step_rel_l2: one,
        rollout_rel_l2: roll,
        seconds: report.seconds,
    })
}
