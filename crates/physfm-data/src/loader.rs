//! Sampling windows and loading batches on background threads.
//!
//! A [`DatasetSpec`] says which trajectories of a [`TrajectorySource`] to sample, how to cut
//! windows ([`WindowSpec`]) and how far apart the frames of a window are ([`FrameSpacing`]:
//! regular, or random gaps that turn a regular series into an irregular one; the times of
//! the chosen frames travel with the sample). A [`Loader`] draws batches from one or several
//! datasets by weight (each batch from one dataset, since shapes differ between datasets),
//! reads and assembles them on background worker threads, and hands them over through
//! bounded channels, so memory stays bounded by `workers * prefetch` batches.
//!
//! The stream of batches is a pure function of the seed: batch `k` holds the same samples
//! whatever the number of workers, and [`LoaderConfig::skip`] resumes a stream at batch `k`
//! without reading the skipped batches.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

#[cfg(feature = "burn")]
use burn::tensor::{Device, Tensor, TensorData};
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::source::TrajectorySource;
use crate::stats::ChannelStats;
use crate::{DataError, Result, WindowSpec};

/// How far apart, in stored frames, the frames of one window are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum FrameSpacing {
    /// Every `every`-th frame (1: consecutive frames).
    Regular {
        /// Frame step.
        every: usize,
    },
    /// Random gaps, each drawn uniformly from `1..=max_gap` frames: an irregular series
    /// made from a regular one.
    Random {
        /// Largest gap.
        max_gap: usize,
    },
}

impl FrameSpacing {
    /// Frames a window of `span` frames covers at most.
    pub fn extent(&self, span: usize) -> usize {
        (span - 1) * self.step() + 1
    }

    fn step(&self) -> usize {
        match *self {
            FrameSpacing::Regular { every } => every,
            FrameSpacing::Random { max_gap } => max_gap,
        }
    }
}

/// One dataset of a loader: what to sample from it and with which weight.
#[derive(Clone)]
pub struct DatasetSpec {
    /// The trajectories.
    pub source: Arc<dyn TrajectorySource>,
    /// Which trajectories to use (e.g. a split's training set); all when empty.
    pub indices: Vec<usize>,
    /// History, horizon and stride between window starts.
    pub window: WindowSpec,
    /// Spacing of the frames inside a window.
    pub spacing: FrameSpacing,
    /// Relative weight in a mixture.
    pub weight: f64,
    /// Normalise inputs and targets with these statistics.
    pub normalise: Option<ChannelStats>,
}

impl std::fmt::Debug for DatasetSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatasetSpec")
            .field("source", &self.source.location())
            .field("trajectories", &self.indices.len())
            .field("window", &self.window)
            .field("spacing", &self.spacing)
            .field("weight", &self.weight)
            .finish()
    }
}

impl DatasetSpec {
    /// A dataset of every trajectory of `source`, consecutive frames, weight 1.
    pub fn new(source: Arc<dyn TrajectorySource>, window: WindowSpec) -> Self {
        let indices = (0..source.len()).collect();
        Self {
            source,
            indices,
            window,
            spacing: FrameSpacing::Regular { every: 1 },
            weight: 1.0,
            normalise: None,
        }
    }

    /// Window starts per trajectory (a window covers at most `spacing.extent(span)` frames).
    fn starts(&self) -> Result<Vec<usize>> {
        self.window
            .starts_spaced(self.source.meta().frames, self.spacing.step())
            .map_err(|e| match e {
                DataError::Shape {
                    what,
                    expected,
                    got,
                } => DataError::Shape {
                    what: format!("{what} of {}", self.source.location().display()),
                    expected,
                    got,
                },
                e => e,
            })
    }
}

/// Loader settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LoaderConfig {
    /// Samples per batch.
    pub batch_size: usize,
    /// Batches to produce in all.
    pub batches: usize,
    /// Seed of the stream.
    pub seed: u64,
    /// Background worker threads (at least 1).
    pub workers: usize,
    /// Batches each worker may hold ready (bounds memory).
    pub prefetch: usize,
    /// Start the stream at this batch (to resume a run), without reading the earlier ones.
    pub skip: usize,
}

impl Default for LoaderConfig {
    fn default() -> Self {
        Self {
            batch_size: 16,
            batches: 1,
            seed: 0,
            workers: 1,
            prefetch: 4,
            skip: 0,
        }
    }
}

/// A batch of windows from one dataset, channel last.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// Position of this batch in the stream.
    pub index: usize,
    /// Which dataset of the loader it came from.
    pub dataset: usize,
    /// Samples in the batch.
    pub size: usize,
    /// Spatial shape of the dataset.
    pub spatial_shape: Vec<usize>,
    /// Channels.
    pub channels: usize,
    /// History frames per sample.
    pub history: usize,
    /// Horizon frames per sample.
    pub horizon: usize,
    /// Inputs, `[B, history, *S, C]`.
    pub input: Vec<f32>,
    /// Targets, `[B, horizon, *S, C]`.
    pub target: Vec<f32>,
    /// Times of the input frames, `[B, history]`.
    pub input_times: Vec<f64>,
    /// Times of the target frames, `[B, horizon]`.
    pub target_times: Vec<f64>,
    /// Parameters, `[B, P]`.
    pub params: Vec<f64>,
    /// `(trajectory, first frame)` of each sample.
    pub origin: Vec<(usize, usize)>,
}

impl Batch {
    /// Bytes of field data in the batch.
    pub fn field_bytes(&self) -> usize {
        4 * (self.input.len() + self.target.len())
    }

    /// Time from the last input frame to each target frame, `[B, horizon]`: the steps a
    /// model must predict, irregular when the frames were sampled with random gaps.
    pub fn target_offsets(&self) -> Vec<f64> {
        let mut out = Vec::with_capacity(self.size * self.horizon);
        for b in 0..self.size {
            let t0 = self.input_times[b * self.history + self.history - 1];
            out.extend(
                self.target_times[b * self.horizon..(b + 1) * self.horizon]
                    .iter()
                    .map(|t| t - t0),
            );
        }
        out
    }

    /// The batch as burn tensors on `device` (feature `burn`, on by default). `D` is the rank of the field tensors:
    /// `3 + spatial dimensions` (`[B, frames, *S, C]`); a wrong `D` is an error.
    #[cfg(feature = "burn")]
    pub fn to_tensors<const D: usize>(&self, device: &Device) -> Result<TensorBatch<D>> {
        let rank = 3 + self.spatial_shape.len();
        if D != rank {
            return Err(DataError::Shape {
                what: "tensor rank of a batch".into(),
                expected: format!("{rank} ([batch, frames, *space, channel])"),
                got: D.to_string(),
            });
        }
        let shape = |frames: usize| {
            let mut s = vec![self.size, frames];
            s.extend(&self.spatial_shape);
            s.push(self.channels);
            s
        };
        let f64s = |v: &[f64], cols: usize| {
            Tensor::<2>::from_data(
                TensorData::new(
                    v.iter().map(|&x| x as f32).collect::<Vec<_>>(),
                    [self.size, cols],
                ),
                device,
            )
        };
        Ok(TensorBatch {
            input: Tensor::from_data(
                TensorData::new(self.input.clone(), shape(self.history)),
                device,
            ),
            target: Tensor::from_data(
                TensorData::new(self.target.clone(), shape(self.horizon)),
                device,
            ),
            input_times: f64s(&self.input_times, self.history),
            target_times: f64s(&self.target_times, self.horizon),
            params: f64s(&self.params, self.params.len() / self.size.max(1)),
        })
    }
}

/// A batch as burn tensors (times and parameters in f32).
#[cfg(feature = "burn")]
#[derive(Debug, Clone)]
pub struct TensorBatch<const D: usize> {
    /// `[B, history, *S, C]`.
    pub input: Tensor<D>,
    /// `[B, horizon, *S, C]`.
    pub target: Tensor<D>,
    /// `[B, history]`.
    pub input_times: Tensor<2>,
    /// `[B, horizon]`.
    pub target_times: Tensor<2>,
    /// `[B, P]`.
    pub params: Tensor<2>,
}

/// Which samples make up one batch.
#[derive(Debug, Clone, PartialEq)]
struct BatchPlan {
    index: usize,
    dataset: usize,
    /// `(trajectory, frame indices of the window)` per sample.
    samples: Vec<(usize, Vec<usize>)>,
}

/// Per-dataset sampling state of the planner.
#[derive(Debug, Clone)]
struct DatasetCursor {
    windows: Vec<(usize, usize)>,
    order: Vec<usize>,
    at: usize,
    epoch: u64,
}

/// The deterministic batch planner: mixture choice, epoch shuffles and random gaps.
#[derive(Debug, Clone)]
struct Planner {
    seed: u64,
    weights: Vec<f64>,
    rng: ChaCha8Rng,
    cursors: Vec<DatasetCursor>,
    specs: Vec<(WindowSpec, FrameSpacing)>,
    batch_size: usize,
    next: usize,
}

impl Planner {
    fn new(datasets: &[DatasetSpec], config: &LoaderConfig) -> Result<Self> {
        let mut cursors = Vec::new();
        for (d, ds) in datasets.iter().enumerate() {
            let starts = ds.starts()?;
            let n = ds.source.len();
            if let Some(&bad) = ds.indices.iter().find(|&&i| i >= n) {
                return Err(DataError::Index {
                    what: format!(
                        "dataset {d} ({}): trajectory",
                        ds.source.location().display()
                    ),
                    index: bad,
                    len: n,
                });
            }
            let windows: Vec<(usize, usize)> = ds
                .indices
                .iter()
                .flat_map(|&t| starts.iter().map(move |&s| (t, s)))
                .collect();
            if windows.is_empty() {
                return Err(DataError::Config {
                    what: format!("dataset {d} ({})", ds.source.location().display()),
                    message: "no trajectories selected".into(),
                });
            }
            cursors.push(DatasetCursor {
                order: Vec::new(),
                at: windows.len(),
                epoch: 0,
                windows,
            });
        }
        let weights: Vec<f64> = datasets.iter().map(|d| d.weight).collect();
        if weights.iter().any(|w| !(w.is_finite() && *w >= 0.0))
            || weights.iter().sum::<f64>() <= 0.0
        {
            return Err(DataError::Config {
                what: "mixture weights".into(),
                message: format!(
                    "{weights:?}: need finite, non-negative weights with a positive sum"
                ),
            });
        }
        Ok(Self {
            seed: config.seed,
            weights,
            rng: ChaCha8Rng::seed_from_u64(config.seed),
            cursors,
            specs: datasets.iter().map(|d| (d.window, d.spacing)).collect(),
            batch_size: config.batch_size,
            next: 0,
        })
    }

    fn next_plan(&mut self) -> BatchPlan {
        let total: f64 = self.weights.iter().sum();
        let mut pick = self.rng.random::<f64>() * total;
        let mut dataset = self.weights.len() - 1;
        for (d, w) in self.weights.iter().enumerate() {
            if pick < *w {
                dataset = d;
                break;
            }
            pick -= w;
        }
        let (window, spacing) = self.specs[dataset];
        let span = window.span();
        let mut samples = Vec::with_capacity(self.batch_size);
        for _ in 0..self.batch_size {
            let c = &mut self.cursors[dataset];
            if c.at >= c.order.len() {
                // A new epoch over this dataset's windows, shuffled by (seed, dataset, epoch).
                c.order = (0..c.windows.len()).collect();
                let mut erng = ChaCha8Rng::seed_from_u64(
                    self.seed
                        ^ (dataset as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
                        ^ c.epoch.wrapping_mul(0xD1B5_4A32_D192_ED03),
                );
                c.order.shuffle(&mut erng);
                c.at = 0;
                c.epoch += 1;
            }
            let (traj, start) = c.windows[c.order[c.at]];
            c.at += 1;
            let mut frames = Vec::with_capacity(span);
            frames.push(start);
            for _ in 1..span {
                let gap = match spacing {
                    FrameSpacing::Regular { every } => every,
                    FrameSpacing::Random { max_gap } => self.rng.random_range(1..=max_gap),
                };
                frames.push(frames.last().expect("one frame pushed") + gap);
            }
            samples.push((traj, frames));
        }
        let plan = BatchPlan {
            index: self.next,
            dataset,
            samples,
        };
        self.next += 1;
        plan
    }
}

fn assemble(plan: &BatchPlan, ds: &DatasetSpec) -> Result<Batch> {
    let meta = ds.source.meta();
    let fl = meta.frame_len();
    let (h, f) = (ds.window.history, ds.window.horizon);
    let b = plan.samples.len();
    let mut batch = Batch {
        index: plan.index,
        dataset: plan.dataset,
        size: b,
        spatial_shape: meta.spatial_shape.clone(),
        channels: meta.channel_names.len(),
        history: h,
        horizon: f,
        input: Vec::with_capacity(b * h * fl),
        target: Vec::with_capacity(b * f * fl),
        input_times: Vec::with_capacity(b * h),
        target_times: Vec::with_capacity(b * f),
        params: Vec::with_capacity(b * meta.param_names.len()),
        origin: Vec::with_capacity(b),
    };
    for (traj, frames) in &plan.samples {
        let first = frames[0];
        let last = *frames.last().expect("windows have frames");
        let rec = ds.source.read_frames(*traj, first, last - first + 1)?;
        for (k, &fr) in frames.iter().enumerate() {
            let at = fr - first;
            let (fields, times) = if k < h {
                (&mut batch.input, &mut batch.input_times)
            } else {
                (&mut batch.target, &mut batch.target_times)
            };
            fields.extend_from_slice(&rec.fields[at * fl..(at + 1) * fl]);
            times.push(rec.times[at]);
        }
        batch.params.extend_from_slice(&rec.params);
        batch.origin.push((*traj, first));
    }
    if let Some(stats) = &ds.normalise {
        stats.normalise(&mut batch.input);
        stats.normalise(&mut batch.target);
    }
    Ok(batch)
}

/// Batches from one or several datasets, prepared on background threads.
///
/// ```
/// use std::sync::Arc;
/// use physfm_data::*;
/// let meta = CollectionMeta {
///     format_version: FORMAT_VERSION, name: "ramp".into(), channel_names: vec!["u".into()],
///     param_names: vec!["a".into()], axis_names: vec!["x".into()], spatial_shape: vec![2],
///     domain_lengths: vec![1.0], boundary: vec![physfm_data::AxisBoundary::PERIODIC], frames: 4,
///     trajectories: 2, generator: "doc".into(), seed: 0, provenance: serde_json::Value::Null,
/// };
/// let records = (0..2).map(|i| TrajectoryRecord {
///     fields: (0..8).map(|k| (10 * i + k) as f32).collect(),
///     times: vec![0.0, 0.1, 0.2, 0.3],
///     params: vec![i as f64],
/// }).collect();
/// let data = InMemoryCollection { meta, coordinates: vec![vec![0.0, 0.5]], records };
/// let spec = DatasetSpec::new(Arc::new(data), WindowSpec { history: 1, horizon: 1, stride: 1 });
/// let config = LoaderConfig { batch_size: 3, batches: 2, ..LoaderConfig::default() };
/// let batches: Vec<Batch> = Loader::new(vec![spec], config)?.collect::<Result<_>>()?;
/// assert_eq!(batches.len(), 2);
/// assert_eq!(batches[0].input.len(), 3 * 2);
/// // Every window of the 6 (2 trajectories x 3 starts) appears once in the first epoch.
/// let mut seen: Vec<_> = batches.iter().flat_map(|b| b.origin.clone()).collect();
/// seen.sort();
/// assert_eq!(seen, vec![(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]);
/// # Ok::<(), DataError>(())
/// ```
pub struct Loader {
    receivers: Vec<Receiver<Result<Batch>>>,
    handles: Vec<JoinHandle<()>>,
    stop: Arc<AtomicBool>,
    next: usize,
    end: usize,
    failed: bool,
}

impl std::fmt::Debug for Loader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loader")
            .field("workers", &self.receivers.len())
            .field("next", &self.next)
            .field("end", &self.end)
            .finish()
    }
}

impl Loader {
    /// Starts the worker threads. Settings are checked before any thread starts.
    pub fn new(datasets: Vec<DatasetSpec>, config: LoaderConfig) -> Result<Self> {
        if datasets.is_empty() {
            return Err(DataError::Config {
                what: "loader".into(),
                message: "no datasets".into(),
            });
        }
        if config.batch_size == 0 || config.workers == 0 || config.prefetch == 0 {
            return Err(DataError::Config {
                what: "loader".into(),
                message: format!(
                    "batch_size ({}), workers ({}) and prefetch ({}) must be at least 1",
                    config.batch_size, config.workers, config.prefetch
                ),
            });
        }
        let mut datasets = datasets;
        for d in &mut datasets {
            if d.indices.is_empty() {
                d.indices = (0..d.source.len()).collect();
            }
            if let Some(s) = &d.normalise
                && s.channels() != d.source.meta().channel_names.len()
            {
                return Err(DataError::Shape {
                    what: format!(
                        "normalisation statistics of {}",
                        d.source.location().display()
                    ),
                    expected: format!("{} channels", d.source.meta().channel_names.len()),
                    got: format!("{} channels", s.channels()),
                });
            }
        }
        let planner = Planner::new(&datasets, &config)?;
        let datasets = Arc::new(datasets);
        let stop = Arc::new(AtomicBool::new(false));
        let mut receivers = Vec::new();
        let mut handles = Vec::new();
        for w in 0..config.workers {
            let (tx, rx) = sync_channel(config.prefetch);
            let datasets = datasets.clone();
            let stop = stop.clone();
            let mut planner = planner.clone();
            handles.push(
                std::thread::Builder::new()
                    .name(format!("physfm-loader-{w}"))
                    .spawn(move || worker(w, config, &mut planner, &datasets, &tx, &stop))
                    .map_err(|e| DataError::Loader(format!("cannot start a worker thread: {e}")))?,
            );
            receivers.push(rx);
        }
        Ok(Self {
            receivers,
            handles,
            stop,
            next: config.skip,
            end: config.batches,
            failed: false,
        })
    }
}

fn worker(
    w: usize,
    config: LoaderConfig,
    planner: &mut Planner,
    datasets: &[DatasetSpec],
    tx: &SyncSender<Result<Batch>>,
    stop: &AtomicBool,
) {
    for k in 0..config.batches {
        // Every worker replays the whole plan (cheap: no reading) and builds its share.
        let plan = planner.next_plan();
        if k < config.skip || k % config.workers != w {
            continue;
        }
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let batch = assemble(&plan, &datasets[plan.dataset]);
        let failed = batch.is_err();
        if tx.send(batch).is_err() || failed {
            return;
        }
    }
}

impl Iterator for Loader {
    type Item = Result<Batch>;

    fn next(&mut self) -> Option<Result<Batch>> {
        if self.failed || self.next >= self.end {
            return None;
        }
        let w = self.next % self.receivers.len();
        self.next += 1;
        match self.receivers[w].recv() {
            Ok(Ok(b)) => Some(Ok(b)),
            Ok(Err(e)) => {
                self.failed = true;
                Some(Err(e))
            }
            Err(_) => {
                self.failed = true;
                Some(Err(DataError::Loader(format!(
                    "worker {w} stopped without sending batch {} (it panicked?)",
                    self.next - 1
                ))))
            }
        }
    }
}

impl Drop for Loader {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Unblock workers waiting on a full channel, then wait for them.
        self.receivers.clear();
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CollectionMeta, FORMAT_VERSION, InMemoryCollection, TrajectoryRecord};
    use proptest::prelude::*;

    fn source(frames: usize) -> Arc<dyn TrajectorySource> {
        let meta = CollectionMeta {
            format_version: FORMAT_VERSION,
            name: "w".into(),
            channel_names: vec!["u".into()],
            param_names: vec![],
            axis_names: vec![],
            spatial_shape: vec![],
            domain_lengths: vec![],
            boundary: vec![],
            frames,
            trajectories: 2,
            generator: "t".into(),
            seed: 0,
            provenance: serde_json::Value::Null,
        };
        let records = (0..2)
            .map(|i| TrajectoryRecord {
                fields: (0..frames).map(|t| (100 * i + t) as f32).collect(),
                times: (0..frames).map(|t| t as f64).collect(),
                params: vec![],
            })
            .collect();
        Arc::new(InMemoryCollection {
            meta,
            coordinates: vec![],
            records,
        })
    }

    proptest! {
        #[test]
        fn windows_with_spacing_stay_inside_and_carry_their_frames(
            frames in 1usize..40, h in 1usize..4, f in 1usize..4, stride in 1usize..4,
            gap in 1usize..4, random in any::<bool>(), seed in any::<u64>(),
        ) {
            let spacing = if random { FrameSpacing::Random { max_gap: gap } } else { FrameSpacing::Regular { every: gap } };
            let mut spec = DatasetSpec::new(source(frames), WindowSpec { history: h, horizon: f, stride });
            spec.spacing = spacing;
            let extent = (h + f - 1) * gap + 1;
            match spec.starts() {
                Ok(starts) => {
                    prop_assert!(extent <= frames);
                    prop_assert_eq!(starts.len(), (frames - extent) / stride + 1);
                    let config = LoaderConfig { batch_size: 3, batches: 4, seed, ..LoaderConfig::default() };
                    for b in Loader::new(vec![spec], config).unwrap() {
                        let b = b.unwrap();
                        for s in 0..b.size {
                            let mut t: Vec<f64> = b.input_times[s * h..(s + 1) * h].to_vec();
                            t.extend(&b.target_times[s * f..(s + 1) * f]);
                            prop_assert!(t.windows(2).all(|w| w[1] > w[0] && w[1] - w[0] <= gap as f64));
                            prop_assert!(*t.last().unwrap() < frames as f64);
                            let traj = b.origin[s].0;
                            prop_assert_eq!(b.input[s * h], (100 * traj) as f32 + t[0] as f32);
                        }
                    }
                }
                Err(e) => {
                    prop_assert!(extent > frames);
                    let msg = e.to_string();
                    prop_assert!(msg.contains(&format!("at most {frames} frames")), "{}", msg);
                }
            }
        }
    }
}
