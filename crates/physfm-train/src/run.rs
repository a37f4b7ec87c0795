//! A training run described by a TOML spec over collections on disk: the unit that the
//! `physfm-train` binary and `cargo xtask train` execute, checkpointed and resumable.
//!
//! A run directory holds `spec.toml` (the spec it was started with), `checkpoints/` (`last`
//! and `best`), `train_log.jsonl`, and at the end `model/` (the final model, loadable with
//! [`Stepper1d::load`]), `best_model/` (if validated) and `report.json`.

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use physfm_data::{InMemoryCollection, TrajectoryCollection};
use physfm_models::{FnoConfig, Stepper1d, StepperConfig};
use serde::{Deserialize, Serialize};

use crate::checkpoint::write_atomic;
use crate::{
    Result, TrainConfig, TrainError, TrainOptions, TrainReport, WindowDataset,
    load_checkpoint_weights, train_windows,
};

/// The network of a 1D stepper run; channels come from the data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepperSpec {
    /// Fourier modes kept.
    pub n_modes: usize,
    /// Hidden width.
    pub width: usize,
    /// Fourier blocks. Default 4.
    #[serde(default = "default_layers")]
    pub n_layers: usize,
    /// Predict the increment. Default true.
    #[serde(default = "default_true")]
    pub residual: bool,
    /// Input frames per step (the history window, stacked on the channel axis). Default 1.
    #[serde(default = "default_history")]
    pub history: usize,
    /// Log-transform each parameter before standardising it (one flag per parameter; empty:
    /// none). Default empty.
    #[serde(default)]
    pub param_log: Vec<bool>,
}

fn default_layers() -> usize {
    4
}
fn default_history() -> usize {
    1
}
fn default_true() -> bool {
    true
}

/// A whole run: seed, network, training.
///
/// ```
/// let spec: physfm_train::RunSpec = toml::from_str(r#"
///     seed = 3
///     [model]
///     n_modes = 8
///     width = 16
///     history = 2
///     param_log = [true]
///     [train]
///     steps = 200
///     batch_size = 8
///     learning_rate = 3e-3
///     checkpoint_every = 50
/// "#)?;
/// assert_eq!(spec.model.n_layers, 4);
/// assert_eq!(spec.model.history, 2);
/// # Ok::<(), toml::de::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunSpec {
    /// Seed of the initialisation (the batch seed is `train.seed`).
    #[serde(default)]
    pub seed: u64,
    /// The network.
    pub model: StepperSpec,
    /// The optimisation.
    pub train: TrainConfig,
}

impl RunSpec {
    /// Reads and checks a spec; errors name the file and the key.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(crate::error::file_error(path))?;
        let spec: Self = toml::from_str(&text).map_err(crate::error::file_error(path))?;
        spec.train.validate("train")?;
        Ok(spec)
    }
}

/// The command-line arguments of a run (`physfm-train`, `cargo xtask train`).
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// Run spec (TOML: seed, [model], [train]); see `physfm_train::RunSpec`.
    #[arg(long)]
    pub spec: PathBuf,
    /// Training collection (physfm Zarr store).
    #[arg(long)]
    pub train: PathBuf,
    /// Validation collection: keeps the best checkpoint by one-step loss.
    #[arg(long)]
    pub valid: Option<PathBuf>,
    /// Run directory (spec.toml, checkpoints/, train_log.jsonl, model/, report.json).
    #[arg(long)]
    pub out: PathBuf,
    /// Continue from the run directory's last checkpoint.
    #[arg(long)]
    pub resume: bool,
}

impl RunArgs {
    /// Loads the spec, runs it and prints a summary.
    pub fn run(&self, progress: bool) -> Result<TrainReport> {
        let spec = RunSpec::load(&self.spec)?;
        let paths = RunPaths {
            train: self.train.clone(),
            valid: self.valid.clone(),
            out: self.out.clone(),
        };
        let (_, report) = train_run(&spec, &paths, &Device::flex(), self.resume, progress)?;
        if let Some(step) = report.resumed_from {
            println!("resumed from step {step}");
        }
        println!(
            "{} steps in {:.1} s; loss {:.3e} -> {:.3e}",
            spec.train.steps, report.seconds, report.initial_loss, report.final_loss
        );
        if let Some((step, v)) = report.best {
            println!(
                "best validation loss {v:.3e} at step {step}: {}",
                self.out.join("best_model").display()
            );
        }
        println!("model: {}", self.out.join("model").display());
        println!("log:   {}", self.out.join("train_log.jsonl").display());
        Ok(report)
    }
}

/// Where a run reads and writes.
#[derive(Debug, Clone)]
pub struct RunPaths {
    /// Training collection (a physfm Zarr store).
    pub train: PathBuf,
    /// Validation collection, optional.
    pub valid: Option<PathBuf>,
    /// Run directory.
    pub out: PathBuf,
}

fn load_collection(path: &Path) -> Result<InMemoryCollection> {
    let c = TrajectoryCollection::open(path)?;
    Ok(InMemoryCollection::load(&c)?)
}

/// Runs (or, with `resume`, continues) the training run `spec` on the collections of `paths`,
/// on `device` (with autodiff; plain or autodiff, as given), and returns the final model and
/// the report. A fresh run refuses a directory that already holds checkpoints; a resumed one
/// refuses a spec that differs from the one it started with.
pub fn train_run(
    spec: &RunSpec,
    paths: &RunPaths,
    device: &Device,
    resume: bool,
    progress: bool,
) -> Result<(Stepper1d, TrainReport)> {
    spec.train.validate("train")?;
    let out = &paths.out;
    std::fs::create_dir_all(out).map_err(crate::error::file_error(out))?;
    let spec_path = out.join("spec.toml");
    let text = toml::to_string_pretty(spec).expect("plain data serialises");
    if resume && spec_path.exists() {
        let before = RunSpec::load(&spec_path)?;
        if before != *spec {
            return Err(TrainError::Config {
                key: "spec".into(),
                value: spec_path.display().to_string(),
                reason: "the run was started with a different spec; resume with the same one"
                    .into(),
            });
        }
    } else {
        write_atomic(&spec_path, text.as_bytes())?;
    }
    let horizon = spec.train.objective.horizon();
    let history = spec.model.history;
    let data = WindowDataset::with_history(&load_collection(&paths.train)?, history, horizon, 1)?;
    let valid = match &paths.valid {
        Some(p) => Some(WindowDataset::with_history(
            &load_collection(p)?,
            history,
            1,
            1,
        )?),
        None => None,
    };
    let param_log = if spec.model.param_log.is_empty() {
        vec![false; data.n_params]
    } else {
        spec.model.param_log.clone()
    };
    let norm = data.normalization(param_log)?;
    let device = device.clone().inner().autodiff();
    device.seed(spec.seed);
    let mut fno = FnoConfig::new(
        history * data.channels + data.n_params,
        data.channels,
        &[spec.model.n_modes],
        spec.model.width,
    );
    fno.n_layers = spec.model.n_layers;
    let model = Stepper1d::new(
        StepperConfig {
            history,
            ..StepperConfig::new(fno, spec.model.residual)
        },
        norm,
        &device,
    )?;
    let checkpoints = out.join("checkpoints");
    let options = TrainOptions {
        progress,
        log_path: Some(out.join("train_log.jsonl")),
        checkpoint_dir: Some(checkpoints.clone()),
        resume,
        ..TrainOptions::default()
    };
    let (model, report) =
        train_windows(model, &data, valid.as_ref(), &spec.train, &device, &options)?;
    model.save(&out.join("model"))?;
    physfm_models::write_spec(&out.join("model"), &text)?;
    if report.best.is_some() {
        let best = load_checkpoint_weights(model.clone(), &checkpoints, "best")?;
        best.save(&out.join("best_model"))?;
        physfm_models::write_spec(&out.join("best_model"), &text)?;
    }
    write_atomic(
        &out.join("report.json"),
        serde_json::to_string_pretty(&report)
            .expect("plain data serialises")
            .as_bytes(),
    )?;
    Ok((model, report))
}
