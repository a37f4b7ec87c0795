//! Multi-physics pretraining of the Encode-Process-Decode model on dataset presets, as a
//! library function with a typed spec ([`PretrainSpec`]) and a device ([`pretrain`]); the
//! collections it reads ([`Presets::collection`]: every `frame_stride`-th stored frame, at
//! most `max_trajectories` per dataset, generated when missing). PDE parameters enter the
//! model as their natural logarithm (positive parameters spanning decades; a non-positive
//! one is refused by name). `cargo xtask pretrain`, `transfer` and `scaling` are these
//! functions over the workspace's presets.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use burn::module::Module;
use burn::tensor::Device;
use physfm_data::{
    CollectionMeta, DatasetSpec as LoaderDataset, FrameSpacing, InMemoryCollection,
    TrajectoryCollection, WindowSpec, generate_split, write_atomic,
};
use physfm_models::{
    DatasetSpec, EncodeProcessDecode, EpdConfig, InputNorm, ProcessorConfig, write_spec,
};
use physfm_pde::Preset;
use physfm_train::{
    PhysicsData, Stream, TrainConfig, TrainOptions, TrainReport, WindowDataset, dataset_spec,
    train_streaming, train_surrogate,
};
use serde::{Deserialize, Serialize};

use crate::{EvalError, ParamTransform, Result, rollout_errors};

fn default_split() -> String {
    "train".into()
}
fn default_weight() -> f64 {
    1.0
}
fn default_stride() -> usize {
    1
}
fn default_cond() -> usize {
    32
}

/// One pretraining dataset of a spec.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetEntry {
    /// Preset name (`<presets>/<preset>.toml`).
    pub preset: String,
    /// Split to train on (default `train`).
    #[serde(default = "default_split")]
    pub split: String,
    /// Relative sampling weight (default 1).
    #[serde(default = "default_weight")]
    pub weight: f64,
}

/// The shared part of the model (everything but the datasets, which come from the data).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// The latent grid every dataset is encoded onto.
    pub latent_grid: Vec<usize>,
    /// Channels of the latent state.
    pub latent_channels: usize,
    /// The shared processor (FNO or AViT keys).
    pub processor: ProcessorConfig,
    /// Size of the conditioning embedding (default 32).
    #[serde(default = "default_cond")]
    pub cond_dim: usize,
    /// Normalisation of each dataset's input (default none).
    #[serde(default)]
    pub input_norm: InputNorm,
}

impl ModelSpec {
    /// The model's configuration for `datasets`.
    pub fn config(&self, datasets: Vec<DatasetSpec>) -> EpdConfig {
        EpdConfig {
            datasets,
            latent_grid: self.latent_grid.clone(),
            latent_channels: self.latent_channels,
            processor: self.processor.clone(),
            cond_dim: self.cond_dim,
            environments: 0,
            context_dim: 8,
            input_norm: self.input_norm,
        }
    }
}

/// A pretraining run: which datasets, how they are cut, the model and the training.
///
/// ```
/// let spec: physfm_eval::PretrainSpec = toml::from_str(r#"
///     frame_stride = 10
///     max_trajectories = 4
///     [[datasets]]
///     preset = "physfm_kdv1d"
///     [model]
///     latent_grid = [32]
///     latent_channels = 4
///     [model.processor]
///     in_channels = 4
///     out_channels = 4
///     n_modes = [8]
///     width = 8
///     [train]
///     steps = 4
///     batch_size = 4
///     learning_rate = 1e-3
/// "#)?;
/// assert_eq!((spec.datasets[0].split.as_str(), spec.datasets[0].weight), ("train", 1.0));
/// assert!(toml::from_str::<physfm_eval::PretrainSpec>("frame_strid = 2").is_err());
/// # Ok::<(), toml::de::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PretrainSpec {
    /// Keep every `frame_stride`-th stored frame (default 1).
    #[serde(default = "default_stride")]
    pub frame_stride: usize,
    /// At most this many trajectories per dataset (0, the default: all).
    #[serde(default)]
    pub max_trajectories: usize,
    /// How the PDE parameters enter the model: `"log"` (the default; positive parameters
    /// spanning decades) or `"identity"` (coefficients that are 0 where a term is absent).
    #[serde(default)]
    pub params: ParamTransform,
    /// The datasets, each a model head.
    pub datasets: Vec<DatasetEntry>,
    /// The shared model.
    pub model: ModelSpec,
    /// The training run.
    pub train: TrainConfig,
}

impl PretrainSpec {
    /// The training collection of dataset `d`, as the spec cuts it.
    pub fn training_collection(
        &self,
        presets: &Presets,
        d: &DatasetEntry,
    ) -> Result<InMemoryCollection> {
        presets.collection(
            &d.preset,
            &d.split,
            self.frame_stride,
            self.max_trajectories,
        )
    }

    /// The one-step windows of `data` with parameters as this spec's model takes them.
    ///
    /// # Errors
    /// As [`ParamTransform::pairs`].
    pub fn pairs(&self, data: &InMemoryCollection) -> Result<WindowDataset> {
        self.params.pairs(data)
    }

    /// The model's description of a dataset `name` of a collection like `meta`: its
    /// parameter inputs as [`PretrainSpec::params`] feeds them.
    pub fn dataset_spec(&self, name: &str, meta: &CollectionMeta) -> DatasetSpec {
        let mut s = named_spec(name, meta);
        s.params = self.params.inputs(s.params);
        s
    }

    /// The one-step training windows of dataset `d` ([`PretrainSpec::training_collection`],
    /// then [`PretrainSpec::pairs`]); errors name the preset and split.
    ///
    /// # Errors
    /// The data errors; [`EvalError::Invalid`] as [`ParamTransform::pairs`].
    pub fn training_pairs(&self, presets: &Presets, d: &DatasetEntry) -> Result<WindowDataset> {
        self.pairs(&self.training_collection(presets, d)?)
            .map_err(|e| match e {
                EvalError::Invalid(m) => {
                    EvalError::Invalid(format!("{}/{}: {m}", d.preset, d.split))
                }
                e => e,
            })
    }
}

/// Where the dataset presets are (`<presets>/<name>.toml`) and where their collections are
/// kept (`<data>/<name>/<split>.zarr`, generated there when missing).
#[derive(Debug, Clone)]
pub struct Presets {
    /// The preset files' directory (the workspace's `datasets/`).
    pub presets: PathBuf,
    /// The collections' root (the workspace's `data/`).
    pub data: PathBuf,
}

impl Presets {
    /// Preset `name` (a file path, or a name under `presets`).
    ///
    /// # Errors
    /// [`EvalError::Invalid`] naming both places when neither holds it; the preset's own
    /// error when it does not parse.
    pub fn load(&self, name: &str) -> Result<Preset> {
        let direct = PathBuf::from(name);
        let path = if direct.is_file() {
            direct
        } else {
            self.presets.join(format!("{name}.toml"))
        };
        let text = std::fs::read_to_string(&path).map_err(|e| {
            EvalError::Invalid(format!(
                "no preset `{name}`: neither a file nor {} ({e})",
                path.display()
            ))
        })?;
        Ok(Preset::from_toml(&text, &path.display().to_string())?)
    }

    /// The store of `preset`'s `split`, `<data>/<preset>/<split>.zarr`, generated if missing.
    pub fn store(&self, preset: &str, split: &str) -> Result<PathBuf> {
        let path = self.data.join(preset).join(format!("{split}.zarr"));
        if !path.join("zarr.json").exists() {
            generate_split(&self.load(preset)?, split, &path, true)?;
        }
        Ok(path)
    }

    /// The collection of `preset`'s `split` (generated if missing), every `stride`-th frame,
    /// at most `max` trajectories (0: all).
    ///
    /// # Errors
    /// The data layer's errors; [`EvalError::Invalid`] naming the trajectory when a
    /// parameter is not positive (parameters enter the model as logarithms).
    pub fn collection(
        &self,
        preset: &str,
        split: &str,
        stride: usize,
        max: usize,
    ) -> Result<InMemoryCollection> {
        let c = TrajectoryCollection::open(&self.store(preset, split)?)?;
        let mut data = InMemoryCollection::load(&c)?;
        if max > 0 && data.records.len() > max {
            data.records.truncate(max);
            data.meta.trajectories = max;
        }
        keep_every_frame(&mut data, stride);
        Ok(data)
    }
}

/// Keeps every `stride`-th frame of every trajectory.
pub fn keep_every_frame(data: &mut InMemoryCollection, stride: usize) {
    if stride <= 1 {
        return;
    }
    let per: usize =
        data.meta.spatial_shape.iter().product::<usize>() * data.meta.channel_names.len();
    let keep: Vec<usize> = (0..data.meta.frames).step_by(stride).collect();
    for r in &mut data.records {
        r.fields = keep
            .iter()
            .flat_map(|&f| r.fields[f * per..(f + 1) * per].to_vec())
            .collect();
        r.times = keep.iter().map(|&f| r.times[f]).collect();
    }
    data.meta.frames = keep.len();
}

/// The model's dataset for a collection of `meta`, named after its preset.
pub fn named_spec(name: &str, meta: &CollectionMeta) -> DatasetSpec {
    DatasetSpec {
        name: name.to_string(),
        ..dataset_spec(meta)
    }
}

/// How [`pretrain`] runs.
#[derive(Debug, Clone, Copy, Default)]
pub struct PretrainOptions {
    /// Continue from the last checkpoint in the output directory.
    pub resume: bool,
    /// Do not train: load the model already in `<out>/model` (it must have the spec's
    /// configuration) and evaluate it.
    pub evaluate_only: bool,
    /// Show a progress bar.
    pub progress: bool,
    /// Stream the training windows from the stores through physfm-data's loader (memory
    /// bounded by its prefetch, whatever the corpus) instead of reading the training
    /// collections into memory. The evaluation's `test_interp` collections are read into
    /// memory either way.
    pub stream: bool,
}

/// One pretraining dataset as read.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DatasetSummary {
    /// The model's dataset.
    pub spec: DatasetSpec,
    /// Training trajectories.
    pub trajectories: usize,
    /// Frames per trajectory after the stride.
    pub frames: usize,
    /// One-step windows.
    pub windows: usize,
    /// Its grid.
    pub grid: Vec<usize>,
}

/// The errors of the pretrained model on one dataset's `test_interp` split.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DatasetScore {
    /// Dataset (preset) name.
    pub dataset: String,
    /// One-step relative L2 ([`rollout_errors`]).
    pub one_step_rel_l2: f64,
    /// Rollout relative L2.
    pub rollout_rel_l2: f64,
    /// Rollout steps.
    pub steps: usize,
}

/// What a pretraining run wrote in `<out>/report.json`.
#[derive(Debug, Clone, Serialize)]
pub struct PretrainReport {
    /// The spec.
    pub spec: PretrainSpec,
    /// The model's parameters.
    pub parameters: usize,
    /// Training seconds.
    pub seconds: f64,
    /// Optimiser steps per second.
    pub steps_per_second: f64,
    /// Loss of the first batch.
    pub initial_loss: f64,
    /// Mean loss of the last logging period.
    pub final_loss: f64,
    /// Per dataset: (name, one-step relative L2, rollout relative L2) on `test_interp`.
    pub evaluation: Vec<(String, f64, f64)>,
}

/// What [`pretrain`] made.
#[derive(Debug)]
pub struct PretrainOutcome {
    /// The model's configuration.
    pub config: EpdConfig,
    /// The pretrained model (plain, without autodiff).
    pub model: EncodeProcessDecode,
    /// The datasets as read.
    pub datasets: Vec<DatasetSummary>,
    /// The training run (none with `evaluate_only`).
    pub train: Option<TrainReport>,
    /// Each dataset's errors on its `test_interp` split.
    pub evaluation: Vec<DatasetScore>,
}

impl PretrainOutcome {
    /// Pretraining trajectories over every dataset.
    pub fn trajectories(&self) -> usize {
        self.datasets.iter().map(|d| d.trajectories).sum()
    }
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> EvalError + '_ {
    move |e| EvalError::Invalid(format!("{}: {e}", path.display()))
}

/// Pretrains one Encode-Process-Decode model (one head per dataset) on the spec's datasets,
/// or with `options.evaluate_only` loads the one in `<out>/model`, and evaluates it on every
/// dataset's `test_interp` split. `spec_text` is the spec's TOML, copied to `<out>/spec.toml`
/// and into the model directory. Training is [`train_surrogate`] on `device` with autodiff
/// (batches drawn per dataset by weight, per-dataset losses in `<out>/train.jsonl`, atomic
/// checkpoints in `<out>/checkpoints`, `options.resume`); the model is saved in `<out>/model`,
/// the report in `<out>/report.json` and the evaluation in `<out>/evaluation.json`.
///
/// # Errors
/// [`EvalError::Invalid`] for a spec without datasets or a saved model of another
/// configuration; the data, model and training errors, each naming what is at fault.
pub fn pretrain(
    spec: &PretrainSpec,
    spec_text: &str,
    presets: &Presets,
    out: &Path,
    device: &Device,
    options: &PretrainOptions,
) -> Result<PretrainOutcome> {
    if spec.datasets.is_empty() {
        return Err(EvalError::Invalid("the spec has no [[datasets]]".into()));
    }
    let device = device.clone().inner();
    let k = spec.frame_stride.max(1);
    let mut sources: Vec<Arc<TrajectoryCollection>> = Vec::with_capacity(spec.datasets.len());
    let mut specs = Vec::with_capacity(spec.datasets.len());
    let mut datasets = Vec::with_capacity(spec.datasets.len());
    let mut tests = Vec::with_capacity(spec.datasets.len());
    for d in &spec.datasets {
        let source = Arc::new(TrajectoryCollection::open(
            &presets.store(&d.preset, &d.split)?,
        )?);
        let meta = source.meta();
        let trajectories = match spec.max_trajectories {
            0 => source.len(),
            m => source.len().min(m),
        };
        let frames = meta.frames.div_ceil(k);
        let s = spec.dataset_spec(&d.preset, meta);
        datasets.push(DatasetSummary {
            spec: s.clone(),
            trajectories,
            frames,
            windows: trajectories * frames.saturating_sub(1),
            grid: meta.spatial_shape.clone(),
        });
        specs.push(s);
        sources.push(source);
        tests.push(presets.collection(&d.preset, "test_interp", spec.frame_stride, 0)?);
    }
    let config = spec.model.config(specs);
    config.validate()?;
    let model_dir = out.join("model");
    let (model, train) = if options.evaluate_only {
        let model = EncodeProcessDecode::load(&model_dir, &device)?;
        if model.config != config {
            return Err(EvalError::Invalid(format!(
                "{}: the saved model's configuration differs from the spec's",
                model_dir.display()
            )));
        }
        (model, None)
    } else {
        std::fs::create_dir_all(out).map_err(io(out))?;
        let spec_path = out.join("spec.toml");
        write_atomic(&spec_path, spec_text.as_bytes()).map_err(io(&spec_path))?;
        device.seed(spec.train.seed);
        let ad = device.clone().autodiff();
        let model = config.init(&ad);
        let train_options = TrainOptions {
            groups: config.datasets.iter().map(|d| d.name.clone()).collect(),
            progress: options.progress,
            log_path: Some(out.join("train.jsonl")),
            checkpoint_dir: Some(out.join("checkpoints")),
            resume: options.resume,
        };
        let (model, report) = if options.stream {
            if spec.params == ParamTransform::None {
                return Err(EvalError::Invalid(
                    "`params = \"none\"` trains in memory: the streamed path feeds every \
                     parameter"
                        .into(),
                ));
            }
            let mut loaders = Vec::with_capacity(sources.len());
            for ((d, source), summary) in spec.datasets.iter().zip(&sources).zip(&datasets) {
                let indices: Vec<usize> = (0..summary.trajectories).collect();
                if spec.params == ParamTransform::Log {
                    for &i in &indices {
                        spec.params.check_trajectory(
                            &format!("{}/{} trajectory {i}", d.preset, d.split),
                            &source.meta().param_names,
                            &source.read_params(i)?,
                        )?;
                    }
                }
                loaders.push(LoaderDataset {
                    source: source.clone(),
                    indices,
                    window: WindowSpec {
                        history: 1,
                        horizon: 1,
                        stride: k,
                    },
                    spacing: FrameSpacing::Regular { every: k },
                    weight: d.weight,
                    normalise: None,
                });
            }
            let stream = Stream {
                log_params: spec.params == ParamTransform::Log,
                ..Stream::new(loaders)
            };
            train_streaming(model, &stream, &spec.train, &ad, &train_options)?
        } else {
            let data = spec
                .datasets
                .iter()
                .map(|d| {
                    Ok(PhysicsData {
                        windows: spec.training_pairs(presets, d)?,
                        weight: d.weight,
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            train_surrogate(model, &data, None, &spec.train, &ad, &train_options)?
        };
        let model = model.valid();
        model.save(&model_dir)?;
        write_spec(&model_dir, spec_text)?;
        (model, Some(report))
    };
    let mut evaluation = Vec::with_capacity(tests.len());
    for (k, test) in tests.iter().enumerate() {
        let (one, roll) = rollout_errors(&model, k, test, spec.params, &device)?;
        evaluation.push(DatasetScore {
            dataset: config.datasets[k].name.clone(),
            one_step_rel_l2: one,
            rollout_rel_l2: roll,
            steps: test.meta.frames - 1,
        });
    }
    let triples: Vec<(String, f64, f64)> = evaluation
        .iter()
        .map(|e| (e.dataset.clone(), e.one_step_rel_l2, e.rollout_rel_l2))
        .collect();
    let path = out.join("evaluation.json");
    write_atomic(&path, to_json(&triples).as_bytes()).map_err(io(&path))?;
    if let Some(r) = &train {
        let report = PretrainReport {
            spec: spec.clone(),
            parameters: model.num_params(),
            seconds: r.seconds,
            steps_per_second: r.steps_per_second,
            initial_loss: r.initial_loss,
            final_loss: r.final_loss,
            evaluation: triples,
        };
        let path = out.join("report.json");
        write_atomic(&path, to_json(&report).as_bytes()).map_err(io(&path))?;
    }
    Ok(PretrainOutcome {
        config,
        model,
        datasets,
        train,
        evaluation,
    })
}

fn to_json<T: Serialize>(value: &T) -> String {
    serde_json::to_string_pretty(value).expect("plain data serialises")
}
