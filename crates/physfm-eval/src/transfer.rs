//! Transfer of a pretrained Encode-Process-Decode model to new physics: the errors of a
//! model on a collection, one transfer run (pretrained, encoder/decoder only, or from
//! scratch) on K trajectories, and the pieces of the scaling protocol (random K-subsets,
//! the adaptation budget). `cargo xtask transfer` and `cargo xtask scaling` are these
//! functions over presets.

use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};
use physfm_adapt::attach_lora;
use physfm_data::InMemoryCollection;
use physfm_models::{EncodeProcessDecode, EpdConfig};
use physfm_train::{
    PhysicsData, TrainConfig, TrainOptions, TrainReport, WindowDataset, frame_to_model,
    frames_to_stored, train_epd,
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

/// What is trained when moving to new physics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum TransferStrategy {
    /// New encoder/decoder, every weight trained.
    Full,
    /// New encoder/decoder trained; processor, time embedding and FiLM frozen.
    Heads,
    /// New encoder/decoder trained, and rank-`rank` LoRA updates (`alpha = rank`) of every
    /// processor weight of rank 2 or more (pointwise matrices, spectral weights as the matrix
    /// `[in, out * modes * 2]`); the processor's own weights, the time embedding and FiLM
    /// frozen. The updates are merged into the weights after training.
    Lora {
        /// Rank of the updates.
        rank: usize,
    },
    /// The same architecture from fresh weights (the baseline).
    Scratch,
}

impl std::str::FromStr for TransferStrategy {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "full" => Ok(Self::Full),
            "heads" => Ok(Self::Heads),
            "lora" => Ok(Self::Lora { rank: 4 }),
            "scratch" => Ok(Self::Scratch),
            _ => match s.strip_prefix("lora-r").and_then(|r| r.parse().ok()) {
                Some(rank) if rank > 0 => Ok(Self::Lora { rank }),
                _ => Err(format!(
                    "`{s}`: expected full, heads, lora (rank 4), lora-r<N> or scratch"
                )),
            },
        }
    }
}

impl std::fmt::Display for TransferStrategy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name())
    }
}

impl TransferStrategy {
    /// The name on the command line (`lora` of rank N is `lora-rN`).
    pub fn name(self) -> String {
        match self {
            Self::Full => "full".into(),
            Self::Heads => "heads".into(),
            Self::Lora { rank } => format!("lora-r{rank}"),
            Self::Scratch => "scratch".into(),
        }
    }
}

/// The result of one transfer run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TransferScore {
    /// One-step relative L2 error on the test collection (see [`epd_errors`]).
    pub one_step_rel_l2: f64,
    /// Rollout relative L2 error.
    pub rollout_rel_l2: f64,
    /// Training seconds.
    pub seconds: f64,
}

/// One-step and rollout relative L2 errors of dataset `k` of an Encode-Process-Decode model
/// on `test` (whose trajectories all start at frame 0; parameters mapped by `params` as the
/// model was trained): per trajectory, the L2 norm of the error over every
/// predicted frame, point and channel divided by that of the truth; the mean over
/// trajectories. (PDEBench's nRMSE, which normalises each frame by its own norm, is
/// dominated by the late frames of decaying solutions such as Burgers': a persistence
/// prediction of physfm_burgers1d's test split scores 39 205 there.)
pub fn epd_errors(
    model: &EncodeProcessDecode,
    config: &EpdConfig,
    k: usize,
    test: &InMemoryCollection,
    params: ParamTransform,
    device: &Device,
) -> Result<(f64, f64)> {
    match config.latent_grid.len() {
        1 => epd_errors_d::<3>(model, config, k, test, params, device),
        2 => epd_errors_d::<4>(model, config, k, test, params, device),
        d => Err(EvalError::Invalid(format!(
            "{d}D latent grids are not evaluated by epd_errors"
        ))),
    }
}

fn epd_errors_d<const D: usize>(
    model: &EncodeProcessDecode,
    config: &EpdConfig,
    k: usize,
    test: &InMemoryCollection,
    params: ParamTransform,
    device: &Device,
) -> Result<(f64, f64)> {
    let meta = &test.meta;
    let (b, t) = (test.records.len(), meta.frames);
    if b == 0 || t < 2 {
        return Err(EvalError::Invalid(format!(
            "`{}`: {b} trajectories of {t} frames; errors need at least one trajectory of two frames",
            meta.name
        )));
    }
    let n: usize = meta.spatial_shape.iter().product();
    let c = meta.channel_names.len();
    let mut shape = [0usize; D];
    shape[0] = b;
    shape[1] = c;
    shape[2..].copy_from_slice(&meta.spatial_shape);
    let transform = params;
    let params: Vec<f64> = test
        .records
        .iter()
        .flat_map(|r| r.params.iter().map(|&p| transform.apply(p)))
        .collect();
    let frame = |f: usize| {
        let mut v = Vec::with_capacity(b * c * n);
        for r in &test.records {
            frame_to_model(&r.fields[f * n * c..(f + 1) * n * c], n, c, &mut v);
        }
        Tensor::<D>::from_data(TensorData::new(v, shape), device)
    };
    let dts = |f: usize| -> Vec<f64> {
        test.records
            .iter()
            .map(|r| r.times[f + 1] - r.times[f])
            .collect()
    };
    // [b, t-1, n, c] arrays of predictions and targets, stored layout.
    let mut one = vec![0.0f32; b * (t - 1) * n * c];
    let mut roll = one.clone();
    let mut target = one.clone();
    let mut u = frame(0);
    for f in 0..t - 1 {
        let next = model.step::<D>(config, k, frame(f), &dts(f), &params, None);
        u = model.step::<D>(config, k, u, &dts(f), &params, None);
        let truth = frame(f + 1);
        for (dst, src) in [
            (&mut one, next),
            (&mut roll, u.clone()),
            (&mut target, truth),
        ] {
            let v = frames_to_stored(
                &src.into_data().try_to_vec::<f32>().expect("f32 fields"),
                b,
                c,
                n,
            );
            for s in 0..b {
                let at = (s * (t - 1) + f) * n * c;
                dst[at..at + n * c].copy_from_slice(&v[s * n * c..(s + 1) * n * c]);
            }
        }
    }
    let per = (t - 1) * n * c;
    let rel = |pred: &[f32]| {
        (0..b)
            .map(|s| {
                let (p, y) = (
                    &pred[s * per..(s + 1) * per],
                    &target[s * per..(s + 1) * per],
                );
                let num: f64 = p
                    .iter()
                    .zip(y)
                    .map(|(a, b)| (a - b) as f64 * (a - b) as f64)
                    .sum();
                let den: f64 = y.iter().map(|v| *v as f64 * *v as f64).sum();
                (num / den).sqrt()
            })
            .sum::<f64>()
            / b as f64
    };
    let (one, roll) = (rel(&one), rel(&roll));
    Ok((one, roll))
}

/// [`train_epd`] at the model's latent dimension (1 or 2).
pub fn train_epd_any(
    model: EncodeProcessDecode,
    config: &EpdConfig,
    data: &[PhysicsData],
    train: &TrainConfig,
    device: &Device,
    options: &TrainOptions,
) -> Result<(EncodeProcessDecode, TrainReport)> {
    Ok(match config.latent_grid.len() {
        1 => train_epd::<3>(model, config, data, train, device, options)?,
        2 => train_epd::<4>(model, config, data, train, device, options)?,
        d => {
            return Err(EvalError::Invalid(format!(
                "{d}D latent grids are not trained by train_epd_any"
            )));
        }
    })
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
        let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        for i in (1..idx.len()).rev() {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
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
/// pretrained model `pre` (how much of it trains: see [`TransferStrategy`]) or from fresh
/// weights ([`TransferStrategy::Scratch`], which ignores `pre`). Parameters of `windows` must
/// already be mapped as the model takes them. Fresh weights (a new encoder/decoder, LoRA's
/// `a` factors, or the whole scratch model) are drawn with seed `1000 + budget.seed`. The
/// model comes back on the flex device with autodiff, LoRA updates merged into the weights.
pub fn transfer_train(
    pre: Option<(&EncodeProcessDecode, &EpdConfig)>,
    target_cfg: &EpdConfig,
    windows: &WindowDataset,
    strategy: TransferStrategy,
    budget: &TrainConfig,
) -> Result<(EncodeProcessDecode, TrainReport)> {
    let device = Device::flex();
    let ad = device.clone().autodiff();
    device.seed(1000 + budget.seed);
    let pre = pre.filter(|_| strategy != TransferStrategy::Scratch);
    if pre.is_none() && strategy != TransferStrategy::Scratch {
        return Err(EvalError::Invalid(format!(
            "strategy {strategy} needs a pretrained model"
        )));
    }
    let mut model = match pre {
        None => target_cfg.init(&ad),
        Some((m, c)) => m.transfer(c, target_cfg, &ad)?,
    };
    match strategy {
        TransferStrategy::Heads => model.processor = model.processor.freeze(),
        TransferStrategy::Lora { rank } => {
            model.processor = attach_lora(model.processor, rank, rank as f64, |_| true)
        }
        TransferStrategy::Full | TransferStrategy::Scratch => {}
    }
    if let TransferStrategy::Heads | TransferStrategy::Lora { .. } = strategy {
        model.time = model.time.freeze();
        model.film = model.film.into_iter().map(Module::freeze).collect();
    }
    let data = [PhysicsData {
        windows: windows.clone(),
        weight: 1.0,
    }];
    let options = TrainOptions::default();
    let (model, report) = train_epd_any(model, target_cfg, &data, budget, &ad, &options)?;
    Ok((model.materialize(), report))
}

/// [`transfer_train`], then the errors of the trained model on `test` ([`epd_errors`],
/// parameters mapped by `params`).
pub fn transfer_protocol(
    pre: Option<(&EncodeProcessDecode, &EpdConfig)>,
    target_cfg: &EpdConfig,
    windows: &WindowDataset,
    test: &InMemoryCollection,
    strategy: TransferStrategy,
    budget: &TrainConfig,
    params: ParamTransform,
) -> Result<TransferScore> {
    let (model, report) = transfer_train(pre, target_cfg, windows, strategy, budget)?;
    let (one, roll) = epd_errors(&model.valid(), target_cfg, 0, test, params, &Device::flex())?;
    Ok(TransferScore {
        one_step_rel_l2: one,
        rollout_rel_l2: roll,
        seconds: report.seconds,
    })
}
