//! Training windows `(u(t - (h - 1) dt), ..., u(t); u(t + dt), ..., u(t + H dt))`: a history of
//! `h` input frames and a horizon of `H` target frames, converted from the stored layout
//! `[time, x, channel]` to the model layout `[channel, x]`: the one place where that
//! conversion happens.

use burn::tensor::{Device, Tensor, TensorData};
use physfm_data::{CollectionMeta, InMemoryCollection, WindowSpec};
use physfm_models::{DatasetSpec, Normalization};

use crate::{LossGeometry, Result, TrainError};

/// Every window of `history` input frames and `horizon` target frames of a collection, in
/// model layout (spatial axes flattened into `n` points, row-major; the input frames of a
/// window stacked on the channel axis, oldest first, as [`physfm_models::StepperFrame`]
/// takes them).
#[derive(Debug, Clone)]
pub struct WindowDataset {
    /// Inputs `[windows, history * channels, n]`.
    pub inputs: Vec<f32>,
    /// Targets `[windows, horizon, channels, n]`.
    pub targets: Vec<f32>,
    /// Parameters `[windows, parameters]`.
    pub params: Vec<f64>,
    /// Input frames per window.
    pub history: usize,
    /// Target frames per window.
    pub horizon: usize,
    /// Channels.
    pub channels: usize,
    /// Grid points (all spatial axes together).
    pub n: usize,
    /// Points per spatial axis.
    pub spatial_shape: Vec<usize>,
    /// Time from each window's last input frame to its first target frame.
    pub dts: Vec<f64>,
    /// Parameters per pair.
    pub n_params: usize,
    /// Parameter names.
    pub param_names: Vec<String>,
    /// The domain (length, periodicity) for derivative-based losses.
    pub geometry: LossGeometry,
    /// Trajectories the windows were cut from.
    pub trajectories: usize,
}

/// A batch of windows.
#[derive(Debug, Clone)]
pub struct WindowBatch {
    /// Inputs `[batch, history * channels, n]`.
    pub x: Tensor<3>,
    /// Targets `[batch, horizon, channels, n]`.
    pub ys: Tensor<4>,
    /// Parameters, `batch * parameters` values, row-major.
    pub params: Vec<f64>,
    /// Time step of each window.
    pub dt: Vec<f64>,
}

/// The dataset of a multi-physics model that takes collections of `meta`'s kind: its name,
/// channels and parameters, and which axes are periodic (the boundary `periodic`).
pub fn dataset_spec(meta: &CollectionMeta) -> DatasetSpec {
    DatasetSpec {
        name: meta.name.clone(),
        channels: meta.channel_names.len(),
        params: meta.param_names.len(),
        periodic: LossGeometry::from_meta(meta).periodic,
    }
}

/// Transposes one frame `[n, c]` (stored) into `[c, n]` (model).
pub fn frame_to_model(frame: &[f32], n: usize, c: usize, out: &mut Vec<f32>) {
    for ch in 0..c {
        out.extend((0..n).map(|x| frame[x * c + ch]));
    }
}

/// Transposes consecutive stored frames `[count, n, c]` into model layout `[count, c, n]`,
/// appended to `out` (a history window stacked on the channel axis, oldest first).
pub fn frames_to_model(frames: &[f32], n: usize, c: usize, out: &mut Vec<f32>) {
    for frame in frames.chunks_exact(n * c) {
        frame_to_model(frame, n, c, out);
    }
}

/// Transposes `count` frames from model layout `[count, c, n]` back to the stored layout
/// `[count, n, c]`.
pub fn frames_to_stored(model: &[f32], count: usize, c: usize, n: usize) -> Vec<f32> {
    let mut out = vec![0.0; count * c * n];
    for f in 0..count {
        for ch in 0..c {
            for x in 0..n {
                out[(f * n + x) * c + ch] = model[(f * c + ch) * n + x];
            }
        }
    }
    out
}

impl WindowDataset {
    /// One-step pairs of consecutive frames (`stride` frames between pair starts).
    pub fn pairs(data: &InMemoryCollection, stride: usize) -> Result<Self> {
        Self::from_collection(data, 1, stride)
    }

    /// Windows of one input and `horizon` target frames (`stride` frames between window
    /// starts) of a collection of any dimension.
    pub fn from_collection(
        data: &InMemoryCollection,
        horizon: usize,
        stride: usize,
    ) -> Result<Self> {
        Self::with_history(data, 1, horizon, stride)
    }

    /// Windows of `history` input frames and `horizon` target frames (`stride` frames between
    /// window starts) of a collection of any dimension.
    ///
    /// ```
    /// use physfm_data::{CollectionMeta, FORMAT_VERSION, InMemoryCollection, TrajectoryRecord};
    /// use physfm_train::WindowDataset;
    /// // One trajectory of 6 frames on 4 points, one channel: frame k holds the value k.
    /// let data = InMemoryCollection {
    ///     meta: CollectionMeta {
    ///         format_version: FORMAT_VERSION, name: "ramp".into(),
    ///         channel_names: vec!["u".into()], param_names: vec![], axis_names: vec!["x".into()],
    ///         spatial_shape: vec![4], domain_lengths: vec![1.0], boundary: vec![physfm_data::AxisBoundary::PERIODIC],
    ///         frames: 6, trajectories: 1, generator: "doc".into(), seed: 0,
    ///         provenance: serde_json::Value::Null,
    ///     },
    ///     coordinates: vec![vec![0.0, 0.25, 0.5, 0.75]],
    ///     records: vec![TrajectoryRecord {
    ///         fields: (0..6).flat_map(|k| [k as f32; 4]).collect(),
    ///         times: (0..6).map(|k| 0.1 * k as f64).collect(),
    ///         params: vec![],
    ///     }],
    /// };
    /// let w = WindowDataset::with_history(&data, 3, 2, 1)?;
    /// // Frames (0, 1, 2 -> 3, 4), (1, 2, 3 -> 4, 5).
    /// assert_eq!(w.len(), 2);
    /// assert_eq!(w.inputs[12..24], [[1.0f32; 4], [2.0; 4], [3.0; 4]].concat());
    /// assert_eq!(w.targets[8..16], [[4.0f32; 4], [5.0; 4]].concat());
    /// assert!((w.dts[1] - 0.1).abs() < 1e-12);
    /// assert!(WindowDataset::with_history(&data, 5, 2, 1).is_err()); // 7 frames needed
    /// # Ok::<(), physfm_train::TrainError>(())
    /// ```
    pub fn with_history(
        data: &InMemoryCollection,
        history: usize,
        horizon: usize,
        stride: usize,
    ) -> Result<Self> {
        let meta = &data.meta;
        let (n, c) = (
            meta.spatial_shape.iter().product::<usize>(),
            meta.channel_names.len(),
        );
        if history == 0 || history >= meta.frames {
            return Err(TrainError::Config {
                key: "history".into(),
                value: history.to_string(),
                reason: format!(
                    "windows need 1 to {} input frames in `{}` ({} frames)",
                    meta.frames.saturating_sub(1),
                    meta.name,
                    meta.frames
                ),
            });
        }
        if horizon == 0 || history + horizon > meta.frames {
            return Err(TrainError::Config {
                key: "horizon".into(),
                value: horizon.to_string(),
                reason: format!(
                    "windows of {history} input frame(s) need 1 to {} target frames in `{}` ({} \
                     frames)",
                    meta.frames.saturating_sub(history),
                    meta.name,
                    meta.frames
                ),
            });
        }
        let spec = WindowSpec {
            history,
            horizon,
            stride,
        };
        let windows = data.windows(&spec)?;
        let mut d = Self {
            inputs: Vec::with_capacity(windows.len() * history * n * c),
            targets: Vec::with_capacity(windows.len() * horizon * n * c),
            params: Vec::with_capacity(windows.len() * meta.param_names.len()),
            channels: c,
            n,
            n_params: meta.param_names.len(),
            param_names: meta.param_names.clone(),
            history,
            horizon,
            spatial_shape: meta.spatial_shape.clone(),
            dts: Vec::with_capacity(windows.len()),
            geometry: LossGeometry::from_meta(meta),
            trajectories: data.records.len(),
        };
        for at in windows {
            let w = data.window(&spec, at)?;
            frames_to_model(&w.input, n, c, &mut d.inputs);
            frames_to_model(&w.target, n, c, &mut d.targets);
            d.params.extend_from_slice(&w.params);
            d.dts
                .push(w.target_times[0] - w.input_times[w.input_times.len() - 1]);
        }
        Ok(d)
    }

    /// Refuses windows whose history is not the `history` input frames a model takes.
    pub fn check_history(&self, history: usize) -> Result<()> {
        if self.history == history {
            return Ok(());
        }
        Err(TrainError::Config {
            key: "model.history".into(),
            value: history.to_string(),
            reason: format!(
                "the model takes {history} input frame(s); the windows hold {}",
                self.history
            ),
        })
    }

    /// Number of windows.
    pub fn len(&self) -> usize {
        self.dts.len()
    }

    /// Whether there are no windows.
    pub fn is_empty(&self) -> bool {
        self.inputs.is_empty()
    }

    /// A batch of `size` windows drawn uniformly (with replacement) with `rng`.
    pub fn sample(
        &self,
        size: usize,
        rng: &mut rand_chacha::ChaCha8Rng,
        device: &Device,
    ) -> WindowBatch {
        use rand::Rng;
        let indices: Vec<usize> = (0..size)
            .map(|_| (rng.next_u64() % self.len() as u64) as usize)
            .collect();
        self.batch(&indices, device)
    }

    /// The windows at `indices` as tensors on `device`.
    pub fn batch(&self, indices: &[usize], device: &Device) -> WindowBatch {
        let fl = self.history * self.channels * self.n;
        let tl = self.channels * self.n * self.horizon;
        let mut x = Vec::with_capacity(indices.len() * fl);
        let mut y = Vec::with_capacity(indices.len() * tl);
        let mut p = Vec::with_capacity(indices.len() * self.n_params);
        let mut dt = Vec::with_capacity(indices.len());
        for &i in indices {
            dt.push(self.dts[i]);
            x.extend_from_slice(&self.inputs[i * fl..(i + 1) * fl]);
            y.extend_from_slice(&self.targets[i * tl..(i + 1) * tl]);
            p.extend_from_slice(&self.params[i * self.n_params..(i + 1) * self.n_params]);
        }
        let b = indices.len();
        WindowBatch {
            x: Tensor::from_data(
                TensorData::new(x, [b, self.history * self.channels, self.n]),
                device,
            ),
            ys: Tensor::from_data(
                TensorData::new(y, [b, self.horizon, self.channels, self.n]),
                device,
            ),
            params: p,
            dt,
        }
    }

    /// Standard deviation of each field channel over the windows' last input frames: the
    /// unit of [`TrainConfig::input_noise`](crate::TrainConfig::input_noise).
    pub fn field_std(&self) -> Vec<f32> {
        self.normalization(vec![false; self.n_params])
            .map(|n| n.field_std)
            .expect("one flag per parameter")
    }

    /// Normalisation statistics of these windows: fields from each window's last input frame,
    /// increments from it to the first target; `param_log[j]` log-transforms parameter `j`.
    pub fn normalization(&self, param_log: Vec<bool>) -> Result<Normalization> {
        if param_log.len() != self.n_params {
            return Err(TrainError::Config {
                key: "param_log".into(),
                value: format!("{} entries", param_log.len()),
                reason: format!("one per parameter ({})", self.n_params),
            });
        }
        let (c, n) = (self.channels, self.n);
        let mut stats = vec![MeanVar::default(); 2 * c];
        let (fl, tl) = (c * n, c * n * self.horizon);
        let il = fl * self.history;
        for w in 0..self.len() {
            let last = &self.inputs[w * il + il - fl..(w + 1) * il];
            for (r, x) in last.iter().enumerate() {
                let y = self.targets[w * tl + r];
                let ch = r / n;
                stats[ch].push(*x as f64);
                stats[c + ch].push((y - *x) as f64);
            }
        }
        let mut pstats = vec![MeanVar::default(); self.n_params];
        for (k, v) in self.params.iter().enumerate() {
            let j = k % self.n_params;
            pstats[j].push(if param_log[j] { v.ln() } else { *v });
        }
        let f = |s: &[MeanVar], g: fn(&MeanVar) -> f64| {
            s.iter().map(|m| g(m) as f32).collect::<Vec<f32>>()
        };
        Ok(Normalization {
            field_mean: f(&stats[..c], MeanVar::mean),
            field_std: f(&stats[..c], MeanVar::std),
            delta_mean: f(&stats[c..], MeanVar::mean),
            delta_std: f(&stats[c..], MeanVar::std),
            param_names: self.param_names.clone(),
            param_log,
            param_mean: f(&pstats, MeanVar::mean),
            param_std: f(&pstats, MeanVar::std),
        })
    }
}

/// Welford's streaming mean and variance.
#[derive(Debug, Clone, Copy, Default)]
struct MeanVar {
    n: f64,
    mean: f64,
    m2: f64,
}

impl MeanVar {
    fn push(&mut self, x: f64) {
        self.n += 1.0;
        let d = x - self.mean;
        self.mean += d / self.n;
        self.m2 += d * (x - self.mean);
    }
    fn mean(&self) -> f64 {
        self.mean
    }
    /// Population standard deviation, floored so that a constant input still normalises.
    fn std(&self) -> f64 {
        (self.m2 / self.n.max(1.0)).sqrt().max(1e-6)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_conversions_are_inverse() {
        // Two frames of 3 points and 2 channels, stored [frame, x, c].
        let stored: Vec<f32> = (0..12).map(|v| v as f32).collect();
        let mut model = Vec::new();
        for f in 0..2 {
            frame_to_model(&stored[f * 6..(f + 1) * 6], 3, 2, &mut model);
        }
        assert_eq!(&model[..6], &[0.0, 2.0, 4.0, 1.0, 3.0, 5.0]);
        assert_eq!(frames_to_stored(&model, 2, 2, 3), stored);
    }
}
