//! `cargo xtask bench streaming --corpus-gb G`: multi-physics pretraining that streams its
//! windows from a corpus on disk through physfm-data's loader, against the same training
//! from collections held in memory. Reports the streaming run's peak resident memory and
//! both runs' steps per second.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use burn::tensor::Device;
use physfm_data::{
    DatasetSpec as LoaderDataset, InMemoryCollection, TrajectoryCollection, TrajectorySource,
    WindowSpec, generate_split,
};
use physfm_models::{EpdConfig, InputNorm};
use physfm_pde::Preset;
use physfm_train::{
    LossKind, PhysicsData, Stream, TrainConfig, TrainOptions, WindowDataset, dataset_spec,
    train_streaming, train_surrogate,
};
use serde_json::json;

use crate::workspace::{workspace_root, write_atomic};

/// Pretraining streamed from a corpus of `--corpus-gb` GB against the in-memory path.
#[derive(Debug, clap::Args)]
pub(crate) struct StreamingBench {
    /// Size of the generated corpus in GB (10^9 bytes of field values), split evenly
    /// between the families; reused when it is there already.
    #[arg(long)]
    corpus_gb: f64,
    /// Optimiser steps of each run.
    #[arg(long, default_value_t = 200)]
    steps: usize,
    /// Windows per batch.
    #[arg(long, default_value_t = 16)]
    batch_size: usize,
    /// Loader threads of the streaming run.
    #[arg(long, default_value_t = 1)]
    workers: usize,
    /// Batches each loader thread may hold ready.
    #[arg(long, default_value_t = 2)]
    prefetch: usize,
    /// Trajectories per family held in memory for the in-memory run.
    #[arg(long, default_value_t = 64)]
    in_memory_trajectories: usize,
    /// Where the corpus is generated.
    #[arg(long)]
    corpus: Option<PathBuf>,
    /// Write the figures as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// The families of the corpus: cheap to solve, different channels and parameters.
const FAMILIES: [(&str, &str, &str); 2] = [
    (
        "advection1d",
        "params.beta = { min = 0.2, max = 2.0, scale = \"log\" }",
        "1.0",
    ),
    (
        "diffusion_reaction1d",
        "params.nu = { min = 0.5, max = 2.0, scale = \"log\" }\nparams.rho = { min = 1.0, max = 5.0, scale = \"log\" }",
        "1.0",
    ),
];

/// Points and frames of every trajectory of the corpus.
const POINTS: usize = 128;
const FRAMES: usize = 51;

fn preset(kind: &str, params: &str, t_end: &str, trajectories: usize) -> anyhow::Result<Preset> {
    let toml = format!(
        "name = \"bench_{kind}\"\ndescription = \"streaming benchmark corpus\"\nseed = 11\n\
         [family]\nkind = \"{kind}\"\nresolution = {POINTS}\nstored_resolution = {POINTS}\n\
         [time]\nt_end = {t_end}\nframes = {FRAMES}\n[splits.train]\ntrajectories = \
         {trajectories}\n{params}\n"
    );
    Ok(Preset::from_toml(&toml, kind)?)
}

/// The peak resident set size of this process in bytes (`VmHWM`), after
/// [`reset_peak_memory`] the peak since then.
fn peak_memory() -> anyhow::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")
        .context("peak memory is read from /proc/self/status (Linux)")?;
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmHWM in /proc/self/status")?;
    Ok(kb * 1024)
}

/// Resets the peak resident set size to the current one (Linux: `5` to `clear_refs`).
fn reset_peak_memory() -> anyhow::Result<()> {
    std::fs::write("/proc/self/clear_refs", "5")
        .context("resetting the peak memory needs /proc/self/clear_refs (Linux 4.0+)")
}

impl StreamingBench {
    pub(crate) fn run(self) -> anyhow::Result<()> {
        if !(self.corpus_gb.is_finite() && self.corpus_gb > 0.0) {
            bail!("--corpus-gb must be positive, got {}", self.corpus_gb);
        }
        let root = self
            .corpus
            .clone()
            .unwrap_or_else(|| workspace_root().join("data").join("bench_streaming"));
        let bytes_per_family = self.corpus_gb * 1e9 / FAMILIES.len() as f64;
        let mut paths = Vec::new();
        let start = Instant::now();
        for (kind, params, t_end) in FAMILIES {
            // Field bytes of one trajectory: points x frames x channels x 4.
            let probe = preset(kind, params, t_end, 1)?;
            let channels = probe.family.family().channels().len();
            let per = (POINTS * FRAMES * channels * 4) as f64;
            let n = ((bytes_per_family / per).ceil() as usize).max(1);
            let p = preset(kind, params, t_end, n)?;
            let path = root.join(format!("{kind}_{n}.zarr"));
            let r = generate_split(&p, "train", &path, true)?;
            println!(
                "corpus: {kind}, {n} trajectories ({:.2} GB, {} generated now) in {:.1} s",
                n as f64 * per / 1e9,
                r.generated,
                r.seconds
            );
            paths.push(path);
        }
        let generation = start.elapsed().as_secs_f64();
        let sources: Vec<Arc<dyn TrajectorySource>> = paths
            .iter()
            .map(|p| -> anyhow::Result<Arc<dyn TrajectorySource>> {
                Ok(Arc::new(TrajectoryCollection::open(p)?))
            })
            .collect::<anyhow::Result<_>>()?;
        let specs = sources.iter().map(|s| dataset_spec(s.meta())).collect();
        let mut config = EpdConfig::new(specs, &[64], 16, &[12], 24);
        config.input_norm = InputNorm::PerSample;
        let train = TrainConfig {
            loss: LossKind::RelL2,
            log_every: self.steps.max(1),
            checkpoint_every: 0,
            validate_every: 0,
            ..TrainConfig::new(self.steps, self.batch_size, 1e-3)
        };
        let device = Device::flex().autodiff();
        let options = TrainOptions {
            progress: true,
            ..TrainOptions::default()
        };

        // Streaming: memory bounded by the loader's prefetch, whatever the corpus.
        let window = WindowSpec {
            history: 1,
            horizon: 1,
            stride: 1,
        };
        let stream = Stream {
            datasets: sources
                .iter()
                .map(|s| LoaderDataset::new(s.clone(), window))
                .collect(),
            workers: self.workers,
            prefetch: self.prefetch,
            log_params: false,
        };
        physfm_spectral::cpu::retain_freed_memory();
        reset_peak_memory()?;
        let before = peak_memory()?;
        device.seed(train.seed);
        let (_, streamed) =
            train_streaming(config.init(&device), &stream, &train, &device, &options)?;
        let streaming_peak = peak_memory()?;

        // In memory: the first trajectories of each family, read whole, as windows.
        let mut data = Vec::new();
        for s in &sources {
            let c = InMemoryCollection::read_first(s.as_ref(), self.in_memory_trajectories)?;
            data.push(PhysicsData {
                windows: WindowDataset::pairs(&c, 1)?,
                weight: 1.0,
            });
        }
        device.seed(train.seed);
        let (_, in_memory) =
            train_surrogate(config.init(&device), &data, None, &train, &device, &options)?;

        let gb = |b: u64| b as f64 / 1e9;
        let ratio = streamed.steps_per_second / in_memory.steps_per_second;
        let out = json!({
            "command": format!(
                "cargo xtask bench streaming --corpus-gb {} --steps {} --batch-size {} --workers {} --prefetch {}",
                self.corpus_gb, self.steps, self.batch_size, self.workers, self.prefetch
            ),
            "corpus_gb": self.corpus_gb,
            "corpus": paths,
            "generation_seconds": generation,
            "steps": self.steps,
            "batch_size": self.batch_size,
            "streaming": {
                "steps_per_second": streamed.steps_per_second,
                "peak_rss_gb": gb(streaming_peak),
                "rss_at_start_gb": gb(before),
                "final_loss": streamed.final_loss,
            },
            "in_memory": {
                "trajectories_per_family": self.in_memory_trajectories,
                "steps_per_second": in_memory.steps_per_second,
                "final_loss": in_memory.final_loss,
            },
            "streaming_over_in_memory_speed": ratio,
            "peak_rss_over_corpus": gb(streaming_peak) / self.corpus_gb,
        });
        println!(
            "streaming: {:.2} steps/s, peak RSS {:.3} GB ({:.3} of the {} GB corpus); in memory: \
             {:.2} steps/s; streaming / in-memory speed {:.3}",
            streamed.steps_per_second,
            gb(streaming_peak),
            gb(streaming_peak) / self.corpus_gb,
            self.corpus_gb,
            in_memory.steps_per_second,
            ratio
        );
        if let Some(path) = &self.json {
            write_atomic(path, serde_json::to_string_pretty(&out)?.as_bytes())?;
            println!("wrote {}", path.display());
        }
        Ok(())
    }
}
