//! Evaluation of a one-step surrogate on a collection: one-step error, autoregressive
//! rollouts, and error per trajectory (hence against the PDE parameters).

use burn::tensor::{Device, Tensor, TensorData};
use physfm_data::InMemoryCollection;
use physfm_models::Stepper1d;
use physfm_train::{frames_to_model, frames_to_stored};
use serde::Serialize;

use crate::metrics::{nrmse_per_sample, nrmse_per_time_channel};
use crate::suite::{MetricOptions, MetricSuite, metric_suite};
use crate::{EvalError, Result};

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

/// One step of a surrogate: the window `[batch, history * channels, n]` (the state `[batch,
/// channels, n]` for one frame of history) and `batch * parameters` values to the next state
/// `[batch, channels, n]` (a [`Stepper1d`]'s `step`, or a frozen model corrected in context).
pub type StepFn<'a> = &'a dyn Fn(Tensor<3>, &[f64]) -> Tensor<3>;

/// Runs `model` on `count` windows in model layout `[count, history * c, n]` with parameters
/// `[count, p]`, in chunks, and returns the predicted frames `[count, c, n]`.
#[allow(clippy::too_many_arguments)]
fn predict(
    model: StepFn<'_>,
    windows: &[f32],
    params: &[f64],
    count: usize,
    history: usize,
    c: usize,
    n: usize,
    device: &Device,
) -> Vec<f32> {
    let p = params.len() / count.max(1);
    let wl = history * c * n;
    let mut out = Vec::with_capacity(count * c * n);
    for start in (0..count).step_by(CHUNK) {
        let end = (start + CHUNK).min(count);
        let x = Tensor::<3>::from_data(
            TensorData::new(
                windows[start * wl..end * wl].to_vec(),
                [end - start, history * c, n],
            ),
            device,
        );
        let y = model(x, &params[start * p..end * p]);
        out.extend(y.into_data().try_to_vec::<f32>().expect("f32 model output"));
    }
    out
}

/// Autoregressive rollouts of every trajectory from its first `model.history()` frames:
/// returns, per trajectory, the predicted frames `history..T` in the stored layout
/// `[T - history, *space, channel]` (frames `1..T` for a model of one input frame).
pub fn rollouts(
    model: &Stepper1d,
    data: &InMemoryCollection,
    device: &Device,
) -> Result<Vec<Vec<f32>>> {
    rollouts_windowed(&|x, p| model.step(x, p), model.history(), data, device)
}

/// [`rollouts`] of any one-step surrogate of one input frame.
pub fn rollouts_with(
    model: StepFn<'_>,
    data: &InMemoryCollection,
    device: &Device,
) -> Result<Vec<Vec<f32>>> {
    rollouts_windowed(model, 1, data, device)
}

/// [`rollouts`] of any one-step surrogate of `history` input frames: each rollout starts from
/// the trajectory's first `history` true frames and slides the window over its own
/// predictions.
pub fn rollouts_windowed(
    model: StepFn<'_>,
    history: usize,
    data: &InMemoryCollection,
    device: &Device,
) -> Result<Vec<Vec<f32>>> {
    let (b, t, n, c) = dims(data, history)?;
    let fl = n * c;
    let wl = history * fl;
    // Windows in model layout, one per trajectory.
    let mut windows = Vec::with_capacity(b * wl);
    let mut params = Vec::new();
    for r in &data.records {
        frames_to_model(&r.fields[..wl], n, c, &mut windows);
        params.extend_from_slice(&r.params);
    }
    let mut out = vec![Vec::with_capacity((t - history) * fl); b];
    for _ in history..t {
        let next = predict(model, &windows, &params, b, history, c, n, device);
        let stored = frames_to_stored(&next, b, c, n);
        for (i, o) in out.iter_mut().enumerate() {
            o.extend_from_slice(&stored[i * fl..(i + 1) * fl]);
            let w = &mut windows[i * wl..(i + 1) * wl];
            w.copy_within(fl.., 0);
            w[wl - fl..].copy_from_slice(&next[i * fl..(i + 1) * fl]);
        }
    }
    Ok(out)
}

fn dims(data: &InMemoryCollection, history: usize) -> Result<(usize, usize, usize, usize)> {
    let m = &data.meta;
    if m.spatial_shape.len() != 1
        || history == 0
        || m.frames < history + 1
        || data.records.is_empty()
    {
        return Err(EvalError::Shape {
            what: format!("collection `{}`", m.name),
            expected: format!(
                "a 1D collection with at least one trajectory of at least {} frames (a history \
                 of {history} and one to predict)",
                history.max(1) + 1
            ),
            got: format!(
                "spatial shape {:?}, {} frames, {} trajectories",
                m.spatial_shape,
                m.frames,
                data.records.len()
            ),
        });
    }
    Ok((
        data.records.len(),
        m.frames,
        m.spatial_shape[0],
        m.channel_names.len(),
    ))
}

/// Evaluates `model` on every trajectory of `data` (nRMSE with PDEBench's definition); a model
/// of `h` input frames is scored on frames `h..T`, from windows of true frames (one-step) or
/// from the first `h` true frames (rollout).
pub fn evaluate_stepper(
    model: &Stepper1d,
    data: &InMemoryCollection,
    device: &Device,
) -> Result<StepperEvaluation> {
    evaluate_windowed(&|x, p| model.step(x, p), model.history(), data, device)
}

/// [`evaluate_stepper`] for any one-step surrogate of one input frame.
pub fn evaluate_step_fn(
    model: StepFn<'_>,
    data: &InMemoryCollection,
    device: &Device,
) -> Result<StepperEvaluation> {
    evaluate_windowed(model, 1, data, device)
}

/// [`evaluate_stepper`] for any one-step surrogate of `history` input frames.
pub fn evaluate_windowed(
    model: StepFn<'_>,
    history: usize,
    data: &InMemoryCollection,
    device: &Device,
) -> Result<StepperEvaluation> {
    let (b, t, n, c) = dims(data, history)?;
    let fl = n * c;
    let steps = t - history;
    let rolls = rollouts_windowed(model, history, data, device)?;
    let mut trajectories = Vec::with_capacity(b);
    let mut by_step = vec![0.0; steps];
    for (r, roll) in data.records.iter().zip(&rolls) {
        // The window of true frames before each predicted frame `history..T`.
        let mut inputs = Vec::with_capacity(steps * history * fl);
        for k in history..t {
            frames_to_model(&r.fields[(k - history) * fl..k * fl], n, c, &mut inputs);
        }
        let params: Vec<f64> = (0..steps).flat_map(|_| r.params.iter().copied()).collect();
        let pred = frames_to_stored(
            &predict(model, &inputs, &params, steps, history, c, n, device),
            steps,
            c,
            n,
        );
        let truth = &r.fields[history * fl..];
        let one = nrmse_per_sample(&pred, truth, &[steps, 1, n, c])?;
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
    let periodic: Vec<bool> = data.meta.boundary.iter().map(|b| b == "periodic").collect();
    let options = MetricOptions::unit(1)
        .with_lengths(&data.meta.domain_lengths)
        .with_periodic(&periodic);
    let rollout_suite = metric_suite(&all_rolls, &all_truth, &[b, steps, n, c], &options)?;
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
