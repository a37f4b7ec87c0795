//! Evaluation protocols over a trained one-step model and a collection:
//! out-of-distribution error against a PDE parameter ([`parameter_protocol`]: inside the
//! training range against below and above it) and error at resolutions other than the
//! training one ([`resolution_protocol`]); error after adapting to new dynamics from K
//! trajectories, per strategy, against training from scratch ([`few_shot_protocol`]).

use burn::module::Module;
use burn::tensor::Device;
use physfm_adapt::{MetaConfig, Prior, Strategy};
use physfm_data::InMemoryCollection;
use physfm_models::{Dynamics, Surrogate};
use serde::Serialize;

use crate::evaluate::{TrajectoryScore, evaluate};
use crate::{EvalError, Result};

/// Where a parameter value lies relative to the training range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Region {
    /// Below the training range (extrapolation).
    Below,
    /// Inside the training range, ends included (interpolation).
    Inside,
    /// Above the training range (extrapolation).
    Above,
}

impl Region {
    /// The region of `value` for the training range `[lo, hi]`.
    pub fn of(value: f64, (lo, hi): (f64, f64)) -> Self {
        if value < lo {
            Self::Below
        } else if value > hi {
            Self::Above
        } else {
            Self::Inside
        }
    }
}

/// One trajectory's errors at its parameter value.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ParameterPoint {
    /// The parameter's value.
    pub value: f64,
    /// Where it lies relative to the training range.
    pub region: Region,
    /// One-step nRMSE (mean over steps).
    pub one_step_nrmse: f64,
    /// Autoregressive rollout nRMSE (mean over steps).
    pub rollout_nrmse: f64,
}

/// Errors of the trajectories of one region.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RegionSummary {
    /// The region.
    pub region: Region,
    /// Its trajectories.
    pub trajectories: usize,
    /// Mean one-step nRMSE.
    pub one_step_mean: f64,
    /// Mean rollout nRMSE.
    pub rollout_mean: f64,
    /// Median rollout nRMSE.
    pub rollout_median: f64,
    /// Largest rollout nRMSE.
    pub rollout_max: f64,
}

/// Error against one PDE parameter, with interpolation and extrapolation apart.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ParameterProtocol {
    /// The parameter's name.
    pub parameter: String,
    /// The training range `[lo, hi]`.
    pub train_range: (f64, f64),
    /// One point per trajectory, sorted by value.
    pub points: Vec<ParameterPoint>,
    /// One summary per region that has trajectories (below, inside, above).
    pub regions: Vec<RegionSummary>,
}

impl ParameterProtocol {
    /// The summary of one region, if it has trajectories.
    pub fn region(&self, region: Region) -> Option<&RegionSummary> {
        self.regions.iter().find(|r| r.region == region)
    }
}

/// Evaluates `model` on every trajectory of `data` and reports the errors against parameter
/// `parameter` (by name), split into the training range `train_range` (interpolation)
/// and the values below and above it (extrapolation). Pass a collection whose parameters
/// span and exceed the training range.
pub fn parameter_protocol<M: Dynamics + ?Sized>(
    model: &M,
    data: &InMemoryCollection,
    parameter: &str,
    train_range: (f64, f64),
    device: &Device,
) -> Result<ParameterProtocol> {
    let index = data
        .meta
        .param_names
        .iter()
        .position(|p| p == parameter)
        .ok_or_else(|| {
            EvalError::Invalid(format!(
                "collection `{}` has no parameter `{parameter}` (it has {:?})",
                data.meta.name, data.meta.param_names
            ))
        })?;
    if train_range.0.is_nan() || train_range.1.is_nan() || train_range.0 > train_range.1 {
        return Err(EvalError::Invalid(format!(
            "training range [{}, {}] is empty",
            train_range.0, train_range.1
        )));
    }
    let evaluation = evaluate(model, data, device)?;
    Ok(summarise_parameter(
        &evaluation.trajectories,
        parameter,
        index,
        train_range,
    ))
}

/// [`parameter_protocol`] from trajectory scores already computed (for example those of
/// several collections together); `index` is the parameter's position in their `params`.
pub fn summarise_parameter(
    scores: &[TrajectoryScore],
    parameter: &str,
    index: usize,
    train_range: (f64, f64),
) -> ParameterProtocol {
    let mut points: Vec<ParameterPoint> = scores
        .iter()
        .map(|s| ParameterPoint {
            value: s.params[index],
            region: Region::of(s.params[index], train_range),
            one_step_nrmse: s.one_step_nrmse,
            rollout_nrmse: s.rollout_nrmse,
        })
        .collect();
    points.sort_by(|a, b| a.value.total_cmp(&b.value));
    let regions = [Region::Below, Region::Inside, Region::Above]
        .into_iter()
        .filter_map(|region| {
            let of: Vec<&ParameterPoint> = points.iter().filter(|p| p.region == region).collect();
            if of.is_empty() {
                return None;
            }
            let n = of.len() as f64;
            let mut roll: Vec<f64> = of.iter().map(|p| p.rollout_nrmse).collect();
            roll.sort_by(f64::total_cmp);
            let median = if roll.len() % 2 == 1 {
                roll[roll.len() / 2]
            } else {
                0.5 * (roll[roll.len() / 2 - 1] + roll[roll.len() / 2])
            };
            Some(RegionSummary {
                region,
                trajectories: of.len(),
                one_step_mean: of.iter().map(|p| p.one_step_nrmse).sum::<f64>() / n,
                rollout_mean: roll.iter().sum::<f64>() / n,
                rollout_median: median,
                rollout_max: roll.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            })
        })
        .collect();
    ParameterProtocol {
        parameter: parameter.to_string(),
        train_range,
        points,
        regions,
    }
}

/// The model's errors at one resolution.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResolutionPoint {
    /// Grid points the model was evaluated on.
    pub points: usize,
    /// Every `factor`-th point of the collection's grid was kept.
    pub factor: usize,
    /// Mean one-step nRMSE.
    pub one_step_nrmse: f64,
    /// Mean rollout nRMSE.
    pub rollout_nrmse: f64,
    /// Rollout nRMSE after each step.
    pub rollout_by_step: Vec<f64>,
}

/// Keeps every `factor`-th grid point of a 1D collection (the fields and the coordinates).
pub fn subsample(data: &InMemoryCollection, factor: usize) -> Result<InMemoryCollection> {
    let m = &data.meta;
    if m.spatial_shape.len() != 1 {
        return Err(EvalError::Invalid(format!(
            "collection `{}`: subsampling is implemented for 1D grids, not {:?}",
            m.name, m.spatial_shape
        )));
    }
    let (n, c) = (m.spatial_shape[0], m.channel_names.len());
    if factor == 0 || n % factor != 0 {
        return Err(EvalError::Invalid(format!(
            "collection `{}`: {n} points cannot be subsampled by {factor} (it must divide them)",
            m.name
        )));
    }
    let keep = n / factor;
    let mut out = data.clone();
    out.meta.spatial_shape = vec![keep];
    out.coordinates = vec![
        data.coordinates[0]
            .iter()
            .step_by(factor)
            .copied()
            .collect(),
    ];
    for r in &mut out.records {
        let frames = r.fields.len() / (n * c);
        let mut f = Vec::with_capacity(frames * keep * c);
        for t in 0..frames {
            for x in (0..n).step_by(factor) {
                let at = (t * n + x) * c;
                f.extend_from_slice(&r.fields[at..at + c]);
            }
        }
        r.fields = f;
    }
    Ok(out)
}

/// Evaluates `model` on `data` at its own resolution divided by each of `factors`
/// (every `factor`-th grid point kept; `1` is the collection's resolution). With the
/// collection stored finer than the training grid, factor 1 measures super-resolution.
pub fn resolution_protocol<M: Dynamics + ?Sized>(
    model: &M,
    data: &InMemoryCollection,
    factors: &[usize],
    device: &Device,
) -> Result<Vec<ResolutionPoint>> {
    factors
        .iter()
        .map(|&factor| {
            let coarse = subsample(data, factor)?;
            let e = evaluate(model, &coarse, device)?;
            Ok(ResolutionPoint {
                points: coarse.meta.spatial_shape[0],
                factor,
                one_step_nrmse: e.one_step_nrmse,
                rollout_nrmse: e.rollout_nrmse,
                rollout_by_step: e.rollout_by_step,
            })
        })
        .collect()
}

/// The errors of one adapted model on the test collection.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FewShotPoint {
    /// Strategy name.
    pub strategy: String,
    /// Adaptation trajectories.
    pub shots: usize,
    /// Mean one-step nRMSE on the test collection.
    pub one_step_nrmse: f64,
    /// Mean rollout nRMSE over all steps.
    pub rollout_nrmse: f64,
    /// Rollout nRMSE at the last step.
    pub final_nrmse: f64,
    /// Values trained.
    pub trainable_params: usize,
    /// Loss of the last logging period of the adaptation.
    pub final_loss: f64,
    /// Wall time of the adaptation, seconds.
    pub seconds: f64,
}

/// The few-shot protocol's results.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FewShotProtocol {
    /// The pretrained model on the test collection, without adaptation (`shots` 0).
    pub zero_shot: FewShotPoint,
    /// One point per strategy and shot count, in the order run.
    pub points: Vec<FewShotPoint>,
}

fn point_of(strategy: &str, shots: usize, e: &crate::StepperEvaluation) -> FewShotPoint {
    FewShotPoint {
        strategy: strategy.into(),
        shots,
        one_step_nrmse: e.one_step_nrmse,
        rollout_nrmse: e.rollout_nrmse,
        final_nrmse: e.rollout_by_step.last().copied().unwrap_or(f64::NAN),
        trainable_params: 0,
        final_loss: f64::NAN,
        seconds: 0.0,
    }
}

/// The collections of the few-shot protocol, both of the new dynamics.
#[derive(Debug, Clone, Copy)]
pub struct FewShotData<'a> {
    /// Adaptation trajectories; the first `k` are used for `k` shots.
    pub pool: &'a InMemoryCollection,
    /// Test trajectories.
    pub test: &'a InMemoryCollection,
}

/// One arm of the few-shot protocol: a strategy, its peak learning rate and the prior it
/// adapts.
#[derive(Debug, Clone)]
pub struct Arm<M: Surrogate> {
    /// The strategy.
    pub strategy: Strategy,
    /// Its peak learning rate ([`Strategy::learning_rate`] is each one's default).
    pub learning_rate: f64,
    /// The prior it adapts; `None`: the protocol's pretrained model. Strategies that need
    /// meta-training (`coda`, `reptile`) take the prior [`physfm_adapt::meta_train`] made.
    pub prior: Option<Prior<M>>,
}

impl<M: Surrogate> Arm<M> {
    /// `strategy` at `learning_rate` on the pretrained model.
    pub fn new(strategy: Strategy, learning_rate: f64) -> Self {
        Self {
            strategy,
            learning_rate,
            prior: None,
        }
    }
}

/// Adapts `model` (any [`Surrogate`]) with each arm to the first `k` trajectories of
/// `data.pool`, for each `k` in `shots`, under the same `budget` (steps, batch, objective,
/// loss, schedule; each arm at its own learning rate), and evaluates each adapted model on
/// `data.test` ([`evaluate`]). `device` must be an autodiff device; `on_point` sees each
/// point as it is measured (for progress output).
///
/// Include [`Strategy::Scratch`] among the arms for the no-pretraining baseline: the same
/// architecture and budget from a fresh initialisation. [`Strategy::InContext`] takes no
/// gradient step: the `k` trajectories become its demonstrations.
#[allow(clippy::too_many_arguments)]
pub fn few_shot_protocol<M: Surrogate>(
    model: &M,
    arms: &[Arm<M>],
    data: FewShotData<'_>,
    shots: &[usize],
    budget: &physfm_train::TrainConfig,
    meta: &MetaConfig,
    device: &Device,
    on_point: &mut dyn FnMut(&FewShotPoint),
) -> Result<FewShotProtocol> {
    let FewShotData { pool, test } = data;
    check_shots(pool, shots)?;
    let eval_device = device.clone().inner();
    let zero = evaluate(&model.valid(), test, &eval_device)?;
    let zero_shot = point_of("pretrained", 0, &zero);
    let mut points = Vec::with_capacity(arms.len() * shots.len());
    for arm in arms {
        let s = arm.strategy;
        for &k in shots {
            let subset = first_k(pool, k);
            let windows = physfm_train::WindowDataset::with_history(
                &subset,
                model.history(),
                budget.objective.horizon(),
                1,
            )?;
            let cfg = physfm_train::TrainConfig {
                learning_rate: arm.learning_rate,
                ..budget.clone()
            };
            let prior = arm
                .prior
                .clone()
                .unwrap_or_else(|| Prior::Model(model.clone()));
            let (adapted, report) = physfm_adapt::adapt(
                prior,
                s,
                &[],
                &windows,
                None,
                &cfg,
                meta,
                device,
                &physfm_train::TrainOptions::default(),
            )?;
            let e = evaluate(&adapted.valid(), test, &eval_device)?;
            let mut p = point_of(&s.to_string(), k, &e);
            p.trainable_params = report.trainable_params;
            p.final_loss = report.train.final_loss;
            p.seconds = report.train.seconds;
            on_point(&p);
            points.push(p);
        }
    }
    Ok(FewShotProtocol { zero_shot, points })
}

fn check_shots(pool: &InMemoryCollection, shots: &[usize]) -> Result<()> {
    if let Some(&k) = shots.iter().find(|&&k| k == 0 || k > pool.records.len()) {
        return Err(EvalError::Invalid(format!(
            "{k} shots: the adaptation pool `{}` holds {} trajectories (use 1 to {})",
            pool.meta.name,
            pool.records.len(),
            pool.records.len()
        )));
    }
    Ok(())
}

/// The first `k` trajectories of `pool`.
fn first_k(pool: &InMemoryCollection, k: usize) -> InMemoryCollection {
    InMemoryCollection {
        meta: physfm_data::CollectionMeta {
            trajectories: k,
            ..pool.meta.clone()
        },
        coordinates: pool.coordinates.clone(),
        records: pool.records[..k].to_vec(),
    }
}
