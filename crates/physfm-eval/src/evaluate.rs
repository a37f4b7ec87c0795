//! Evaluation of a one-step surrogate on a collection: one-step error, autoregressive
//! rollouts, and error per trajectory (hence against the PDE parameters).

use burn::tensor::{Device, Tensor, TensorData};
use physfm_data::{InMemoryCollection, TrajectoryRecord};
use physfm_models::{Conditioning, Dynamics};
use physfm_train::{frames_to_model, frames_to_stored};
use serde::Serialize;

use crate::metrics::{nrmse_per_sample, nrmse_per_time_channel};
use crate::suite::{MetricOptions, MetricSuite, metric_suite};
use crate::{EvalError, ParamTransform, Result};

/// Scores of one trajectory.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrajectoryScore {
    /// The trajectory's parameters.
    pub params: Vec<f64>,
    /// nRMSE of one-step predictions from every true frame, averaged over steps.
    pub one_step_nrmse: f64,
    /// nRMSE of the autoregressive rollout from the first frame(s), averaged over steps.
    pub rollout_nrmse: f64,
    /// nRMSE of persistence (`u(t + dt) = u(t)`), the trivial baseline, averaged over steps.
    pub persistence_nrmse: f64,
}

/// Scores of a model on a collection.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepperEvaluation {
    /// Mean one-step nRMSE over trajectories.
    pub one_step_nrmse: f64,
    /// Mean one-step nRMSE of persistence over trajectories.
    pub persistence_nrmse: f64,
    /// Mean rollout nRMSE over trajectories and steps.
    pub rollout_nrmse: f64,
    /// Rollout nRMSE after each autoregressive step, averaged over trajectories: entry `s` is
    /// frame `history + s` (frames `1..T` for a model of one input frame).
    pub rollout_by_step: Vec<f64>,
    /// True frames each rollout starts from (the model's history window); the first predicted
    /// frame is this one.
    pub history: usize,
    /// The whole metric suite on the rollouts (frames `history..T` against the truth), per channel
    /// and step: PDEBench's, VRMSE, relative L2 and H1 (the collection's domain lengths;
    /// axes periodic where its boundary says so).
    pub rollout_suite: MetricSuite,
    /// Per trajectory.
    pub trajectories: Vec<TrajectoryScore>,
}

const CHUNK: usize = 128;

/// Predictions of a model on every trajectory of a collection, in the stored layout
/// `[frames, *space, channel]` of frames `history..T` (see [`predictions`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Predictions {
    /// True frames before the first prediction.
    pub history: usize,
    /// Per trajectory, each frame predicted from the window of true frames before it.
    pub one_step: Vec<Vec<f32>>,
    /// Per trajectory, the autoregressive rollout from its first `history` true frames.
    pub rollout: Vec<Vec<f32>>,
}

/// One step of `model` on `count` windows in model layout `[count, history, c, n]`, with
/// their time steps and `[count, p]` coefficients, in chunks: the predicted frames
/// `[count, c, n]` in model layout.
#[allow(clippy::too_many_arguments)]
fn predict<M: Dynamics + ?Sized>(
    model: &M,
    windows: &[f32],
    params: &[f64],
    dts: &[f64],
    dataset: usize,
    c: usize,
    space: &[usize],
    device: &Device,
) -> Vec<f32> {
    let count = dts.len();
    let h = model.history();
    let n: usize = space.iter().product();
    let p = params.len() / count.max(1);
    let wl = h * c * n;
    let mut out = Vec::with_capacity(count * c * n);
    for start in (0..count).step_by(CHUNK) {
        let end = (start + CHUNK).min(count);
        let x = Tensor::<4>::from_data(
            TensorData::new(
                windows[start * wl..end * wl].to_vec(),
                [end - start, h, c, n],
            ),
            device,
        );
        let cond = Conditioning::new(dts[start..end].to_vec())
            .with_coefficients(params[start * p..end * p].to_vec())
            .with_dataset(dataset);
        let y = model.step(x, space, &cond);
        out.extend(y.into_data().try_to_vec::<f32>().expect("f32 model output"));
    }
    out
}

/// One-step predictions and autoregressive rollouts of `model` (any [`Dynamics`]; its
/// dataset `dataset`) on every trajectory of `data`, of any spatial dimension. A model of
/// `h` input frames predicts frames `h..T`: one-step from windows of true frames, the
/// rollout from the first `h` true frames, its window sliding over its own predictions.
/// Each step is conditioned on the trajectory's parameters (mapped by `params`) and the
/// time from the last input frame to the predicted one.
///
/// # Errors
/// [`EvalError::Shape`] naming the collection when it has no trajectory or fewer than
/// `h + 1` frames.
pub fn predictions<M: Dynamics + ?Sized>(
    model: &M,
    dataset: usize,
    data: &InMemoryCollection,
    params: ParamTransform,
    device: &Device,
) -> Result<Predictions> {
    let rollout = rollout_predictions(model, dataset, data, params, device)?;
    let history = model.history();
    let (_, t, n, c) = dims(data, history)?;
    let space = &data.meta.spatial_shape;
    let fl = n * c;
    let wl = history * fl;
    let steps = t - history;
    // One step from every window of true frames, a trajectory at a time.
    let mut one_step = Vec::with_capacity(data.records.len());
    for r in &data.records {
        let mut inputs = Vec::with_capacity(steps * wl);
        for k in history..t {
            frames_to_model(&r.fields[(k - history) * fl..k * fl], n, c, &mut inputs);
        }
        let p = params.map(&r.params);
        let coeffs: Vec<f64> = (0..steps).flat_map(|_| p.iter().copied()).collect();
        let dts: Vec<f64> = (history..t).map(|k| r.times[k] - r.times[k - 1]).collect();
        let pred = predict(model, &inputs, &coeffs, &dts, dataset, c, space, device);
        one_step.push(frames_to_stored(&pred, steps, c, n));
    }
    Ok(Predictions {
        history,
        one_step,
        rollout,
    })
}

/// The rollouts of [`predictions`] alone (half its work): per trajectory, the frames
/// `h..T` predicted autoregressively from its first `h` true frames, in the stored layout.
///
/// # Errors
/// As [`predictions`].
pub fn rollout_predictions<M: Dynamics + ?Sized>(
    model: &M,
    dataset: usize,
    data: &InMemoryCollection,
    params: ParamTransform,
    device: &Device,
) -> Result<Vec<Vec<f32>>> {
    let history = model.history();
    let (b, t, n, c) = dims(data, history)?;
    let space = &data.meta.spatial_shape;
    let fl = n * c;
    let wl = history * fl;
    let steps = t - history;
    let mapped = |r: &TrajectoryRecord| -> Vec<f64> { params.map(&r.params) };
    // One window per trajectory, all trajectories stepped together.
    let mut windows = Vec::with_capacity(b * wl);
    let mut coeffs = Vec::new();
    for r in &data.records {
        frames_to_model(&r.fields[..wl], n, c, &mut windows);
        coeffs.extend(mapped(r));
    }
    let mut rollout = vec![Vec::with_capacity(steps * fl); b];
    for k in history..t {
        let dts: Vec<f64> = data
            .records
            .iter()
            .map(|r| r.times[k] - r.times[k - 1])
            .collect();
        let next = predict(model, &windows, &coeffs, &dts, dataset, c, space, device);
        let stored = frames_to_stored(&next, b, c, n);
        for (i, o) in rollout.iter_mut().enumerate() {
            o.extend_from_slice(&stored[i * fl..(i + 1) * fl]);
            let w = &mut windows[i * wl..(i + 1) * wl];
            w.copy_within(fl.., 0);
            w[wl - fl..].copy_from_slice(&next[i * fl..(i + 1) * fl]);
        }
    }
    Ok(rollout)
}

/// Autoregressive rollouts of every trajectory from its first `model.history()` frames:
/// returns, per trajectory, the predicted frames `history..T` in the stored layout
/// `[T - history, *space, channel]` (the rollouts of [`predictions`], dataset 0, parameters
/// as they are).
pub fn rollouts<M: Dynamics + ?Sized>(
    model: &M,
    data: &InMemoryCollection,
    device: &Device,
) -> Result<Vec<Vec<f32>>> {
    rollout_predictions(model, 0, data, ParamTransform::Identity, device)
}

fn dims(data: &InMemoryCollection, history: usize) -> Result<(usize, usize, usize, usize)> {
    let m = &data.meta;
    if history == 0 || m.frames < history + 1 || data.records.is_empty() {
        return Err(EvalError::Shape {
            what: format!("collection `{}`", m.name),
            expected: format!(
                "at least one trajectory of at least {} frames (a history of {history} and one \
                 to predict)",
                history.max(1) + 1
            ),
            got: format!("{} frames, {} trajectories", m.frames, data.records.len()),
        });
    }
    Ok((
        data.records.len(),
        m.frames,
        m.spatial_shape.iter().product(),
        m.channel_names.len(),
    ))
}

/// Evaluates `model` (any [`Dynamics`], its dataset 0, parameters as they are) on every
/// trajectory of `data`, of any spatial dimension (nRMSE with PDEBench's definition); a model
/// of `h` input frames is scored on frames `h..T`, from windows of true frames (one-step) or
/// from the first `h` true frames (rollout) ([`predictions`]).
pub fn evaluate<M: Dynamics + ?Sized>(
    model: &M,
    data: &InMemoryCollection,
    device: &Device,
) -> Result<StepperEvaluation> {
    let Predictions {
        history,
        one_step,
        rollout: rolls,
    } = predictions(model, 0, data, ParamTransform::Identity, device)?;
    let (b, t, n, c) = dims(data, history)?;
    let fl = n * c;
    let steps = t - history;
    let mut trajectories = Vec::with_capacity(b);
    let mut by_step = vec![0.0; steps];
    for ((r, roll), pred) in data.records.iter().zip(&rolls).zip(&one_step) {
        let truth = &r.fields[history * fl..];
        let one = nrmse_per_sample(pred, truth, &[steps, 1, n, c])?;
        let persistence = nrmse_per_sample(
            &r.fields[(history - 1) * fl..(t - 1) * fl],
            truth,
            &[steps, 1, n, c],
        )?;
        let roll_steps = nrmse_per_time_channel(roll, truth, &[1, steps, n, c])?;
        let per_step: Vec<f64> = roll_steps
            .chunks(c)
            .map(|v| v.iter().sum::<f64>() / c as f64)
            .collect();
        for (acc, v) in by_step.iter_mut().zip(&per_step) {
            *acc += v / b as f64;
        }
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        trajectories.push(TrajectoryScore {
            params: r.params.clone(),
            one_step_nrmse: mean(&one),
            rollout_nrmse: mean(&per_step),
            persistence_nrmse: mean(&persistence),
        });
    }
    let all_rolls: Vec<f32> = rolls.concat();
    let all_truth: Vec<f32> = data
        .records
        .iter()
        .flat_map(|r| r.fields[history * fl..].iter().copied())
        .collect();
    let periodic: Vec<bool> = data
        .meta
        .boundary
        .iter()
        .map(physfm_data::AxisBoundary::is_periodic)
        .collect();
    let space = &data.meta.spatial_shape;
    let options = MetricOptions::unit(space.len())
        .with_lengths(&data.meta.domain_lengths)
        .with_periodic(&periodic);
    let suite_dims: Vec<usize> = [b, steps]
        .into_iter()
        .chain(space.iter().copied())
        .chain([c])
        .collect();
    let rollout_suite = metric_suite(&all_rolls, &all_truth, &suite_dims, &options)?;
    let mean_of =
        |f: fn(&TrajectoryScore) -> f64| trajectories.iter().map(f).sum::<f64>() / b as f64;
    Ok(StepperEvaluation {
        one_step_nrmse: mean_of(|s| s.one_step_nrmse),
        persistence_nrmse: mean_of(|s| s.persistence_nrmse),
        rollout_nrmse: mean_of(|s| s.rollout_nrmse),
        rollout_by_step: by_step,
        history,
        rollout_suite,
        trajectories,
    })
}
