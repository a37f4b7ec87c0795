//! In-context adaptation without gradient steps: the similarity-based method of Chen et al.
//! (NeurIPS 2024), as their code implements it.
//!
//! A few demonstrations of the new dynamics (input/next-state pairs) are given at prediction
//! time. The frozen model predicts every demonstration; then, for each grid point and channel
//! of a query's prediction `p`, the `k = round(neighbours * sqrt(J))` demonstration points
//! (any demonstration, any position; `J` demonstrations) whose *predictions* are closest to
//! `p` (distance `|p - d| / |p|`, the relative distance of the paper's code for one feature)
//! vote with their *true* values: `y_nn` is their mean and `|std / mean|` their spread. Where
//! the spread is below its mean over the whole prediction, `y_nn` replaces the model's value;
//! elsewhere the model's value stands.
//!
//! Built as in the reference code's 2D configurations: one feature per point (the prediction
//! itself, no dropout-augmented copies), equal weights, the confidence gate on. Channels are
//! matched separately. Any model with [`Dynamics`] is corrected; [`InContext`] is a model so
//! corrected, which rollouts and evaluation take like any other.

use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};
use physfm_models::{Conditioning, Dynamics};
use physfm_train::WindowDataset;
use serde::{Deserialize, Serialize};

use crate::Result;

/// Settings of in-context adaptation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IclConfig {
    /// Neighbours per square root of the number of demonstrations (20 in the reference code).
    pub neighbours: f64,
    /// Replace only where the neighbours agree (the reference code's gate); without it, every
    /// point takes the neighbours' mean.
    pub gate: bool,
}

impl Default for IclConfig {
    fn default() -> Self {
        Self {
            neighbours: 20.0,
            gate: true,
        }
    }
}

/// The demonstrations, predicted once: per channel, `(prediction, truth)` of every point,
/// sorted by prediction.
#[derive(Debug, Clone)]
pub struct Demonstrations {
    channels: Vec<Vec<(f32, f32)>>,
    k: usize,
    gate: bool,
}

impl Demonstrations {
    /// Predicts every window of `demos` (the new dynamics, the model's dataset `dataset`;
    /// `J` = number of trajectories) with `model` and indexes the points. `device` need not
    /// track gradients.
    pub fn new<M: Dynamics>(
        model: &M,
        demos: &WindowDataset,
        dataset: usize,
        trajectories: usize,
        config: &IclConfig,
        device: &Device,
    ) -> Result<Self> {
        if demos.is_empty() || trajectories == 0 {
            return Err(crate::error::config_error(
                "demonstrations",
                "none",
                "in-context adaptation needs at least one demonstration",
            ));
        }
        if !(config.neighbours.is_finite() && config.neighbours > 0.0) {
            return Err(crate::error::config_error(
                "icl.neighbours",
                config.neighbours.to_string(),
                "must be positive",
            ));
        }
        demos.check_history(model.history())?;
        let (c, n) = (demos.channels, demos.n);
        let mut channels = vec![Vec::with_capacity(demos.len() * n); c];
        let all: Vec<usize> = (0..demos.len()).collect();
        for idx in all.chunks(64) {
            let b = demos.batch(idx, device);
            let bs = idx.len();
            let h = demos.history;
            let frames = b.x.reshape([bs, h, c, n]);
            let cond = Conditioning::new(b.dt)
                .with_coefficients(b.params)
                .with_dataset(dataset);
            let pred = model
                .step(frames, &demos.spatial_shape, &cond)
                .into_data()
                .try_to_vec::<f32>()
                .expect("f32 data");
            let truth =
                b.ys.narrow(1, 0, 1)
                    .reshape([bs, c, n])
                    .into_data()
                    .try_to_vec::<f32>()
                    .expect("f32 data");
            for (i, (p, y)) in pred.iter().zip(&truth).enumerate() {
                channels[(i / n) % c].push((*p, *y));
            }
        }
        for ch in &mut channels {
            ch.sort_by(|a, b| a.0.total_cmp(&b.0));
        }
        let k = ((config.neighbours * (trajectories as f64).sqrt()).round() as usize)
            .clamp(1, channels[0].len());
        Ok(Self {
            channels,
            k,
            gate: config.gate,
        })
    }

    /// Neighbours used per point.
    pub fn neighbours(&self) -> usize {
        self.k
    }

    /// The `k` points of `sorted` whose predictions are nearest to `p`: their truths' mean and
    /// `|std / mean|` (unbiased std).
    fn vote(&self, sorted: &[(f32, f32)], p: f32) -> (f32, f32) {
        let k = self.k;
        // The k nearest in |p - d| form one window of the sorted predictions.
        let at = sorted.partition_point(|e| e.0 < p);
        let (mut lo, mut hi) = (at, at);
        while hi - lo < k {
            let left = (lo > 0).then(|| p - sorted[lo - 1].0);
            let right = (hi < sorted.len()).then(|| sorted[hi].0 - p);
            match (left, right) {
                (Some(l), Some(r)) if l <= r => lo -= 1,
                (Some(_), None) => lo -= 1,
                (_, Some(_)) => hi += 1,
                (None, None) => break,
            }
        }
        let ys = &sorted[lo..hi];
        let m = ys.iter().map(|e| e.1 as f64).sum::<f64>() / ys.len() as f64;
        let var = if ys.len() > 1 {
            ys.iter().map(|e| (e.1 as f64 - m).powi(2)).sum::<f64>() / (ys.len() - 1) as f64
        } else {
            0.0
        };
        (m as f32, (var.sqrt() / m.abs()) as f32)
    }

    /// A model's prediction `[batch, channels, points]` corrected by the demonstrations.
    ///
    /// # Panics
    /// If the prediction has other channels than the demonstrations.
    pub fn correct(&self, pred: Tensor<3>) -> Tensor<3> {
        let [b, c, n] = pred.dims();
        assert_eq!(
            c,
            self.channels.len(),
            "in-context correction: the demonstrations have {} channels, the prediction {c}",
            self.channels.len()
        );
        let device = pred.device();
        let pred = pred.into_data().try_to_vec::<f32>().expect("f32 data");
        let votes: Vec<(f32, f32)> = pred
            .iter()
            .enumerate()
            .map(|(i, &p)| self.vote(&self.channels[(i / n) % c], p))
            .collect();
        let out: Vec<f32> = if self.gate {
            // The reference code gates on the mean confidence over the whole prediction.
            let finite: Vec<f64> = votes
                .iter()
                .map(|v| v.1 as f64)
                .filter(|v| v.is_finite())
                .collect();
            let mean = finite.iter().sum::<f64>() / finite.len().max(1) as f64;
            pred.iter()
                .zip(&votes)
                .map(|(&p, &(y, s))| if (s as f64) < mean { y } else { p })
                .collect()
        } else {
            votes.iter().map(|v| v.0).collect()
        };
        Tensor::from_data(TensorData::new(out, [b, c, n]), &device)
    }
}

/// A model whose every step is corrected by demonstrations of the new dynamics
/// ([`Demonstrations::correct`]): in-context adaptation, without a gradient step.
#[derive(Module, Debug)]
pub struct InContext<M: Module> {
    /// The frozen model.
    pub model: M,
    /// The demonstrations.
    #[module(skip)]
    pub demonstrations: Demonstrations,
}

impl<M: Module + Dynamics> Dynamics for InContext<M> {
    fn history(&self) -> usize {
        self.model.history()
    }

    fn forward_raw(&self, frames: Tensor<4>, space: &[usize], cond: &Conditioning) -> Tensor<3> {
        self.model.forward_raw(frames, space, cond)
    }

    fn target(&self, frames: &Tensor<4>, next: Tensor<3>) -> Tensor<3> {
        self.model.target(frames, next)
    }

    /// The model's next frame, corrected.
    fn decode(&self, frames: &Tensor<4>, raw: Tensor<3>) -> Tensor<3> {
        self.demonstrations.correct(self.model.decode(frames, raw))
    }
}
