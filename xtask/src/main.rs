//! physfm's orchestrator: `cargo xtask <command>`.
//!
//! One binary, one enum of subcommands, one file per command.

mod adapt;
mod bench;
mod bench_streaming;
mod coda;
mod data;
mod generate;
mod hygiene;
mod import;
mod metrics;
mod parity;
mod predict;
mod pretrain;
mod quickstart;
mod report;
mod spec;
mod study;
mod test;
mod train;
mod venv;
mod workspace;

use clap::{Parser, Subcommand};

/// physfm's tasks.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", about = "physfm's pipelines and checks")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Generate parametric Burgers data, train an FNO, evaluate in and out of the training
    /// range, and write a report.
    Quickstart(quickstart::Quickstart),
    /// Generate a dataset from a preset under datasets/ into Zarr collections (resumable).
    Generate(generate::Generate),
    /// Convert, inspect, split and benchmark trajectory stores (native Zarr, PDEBench and
    /// The Well HDF5).
    Data(data::Data),
    /// Adapt a pretrained model to new dynamics from K trajectories; `--sweep` compares every
    /// strategy for K in 1..16 against training from scratch.
    Adapt(adapt::Adapt),
    /// CoDA's setting on a `coda_*` preset: meta-train on the training environments, adapt a
    /// new context to each new environment from one trajectory, score both.
    Coda(coda::Coda),
    /// Pretrain the Encode-Process-Decode model on several dataset presets at once.
    Pretrain(pretrain::Pretrain),
    /// Transfer a pretrained Encode-Process-Decode model to a held-out family from K
    /// trajectories, against training from scratch: table and plot of error against K.
    Transfer(pretrain::Transfer),
    /// Downstream transfer error against the amount of pretraining data (families and
    /// trajectories per family).
    Scaling(pretrain::Scaling),
    /// End-to-end studies (`study foundation`: pretraining on many physics against scratch
    /// on a held-out one, with learning-rate sweeps, seeds, gains and a report).
    #[command(subcommand)]
    Study(study::Study),
    /// Train a 1D stepper from a spec on collections, with checkpoints (`--resume` continues).
    Train(train::Train),
    /// Evaluate a run's model, run the protocols and write its report (or compare two runs).
    Report(report::Report),
    /// Run a saved model on a .npy array (one or several autoregressive steps).
    Predict(predict::Predict),
    /// Convert a checkpoint of another library (neuraloperator's FNO) into a physfm model.
    Import(import::Import),
    /// Every metric of the suite for a prediction and a target stored as .npy arrays.
    Metrics(metrics::Metrics),
    /// Compare physfm with reference Python libraries (in a virtual environment).
    Parity(parity::Parity),
    /// Benchmark physfm's kernels side by side with the reference Python library.
    Bench(bench::Bench),
    /// Check the tools the tests need, then run fmt, clippy and every test.
    Test(test::Test),
}

fn main() -> anyhow::Result<()> {
    // Training steps free and reallocate the same large buffers: keep them in the process
    // instead of re-faulting them at every step (docs/performance.md).
    physfm_spectral::cpu::retain_freed_memory();
    match Cli::parse().command {
        Command::Quickstart(cmd) => cmd.run(),
        Command::Test(cmd) => cmd.run(),
        Command::Generate(cmd) => cmd.run(),
        Command::Parity(cmd) => cmd.run(),
        Command::Data(cmd) => cmd.run(),
        Command::Bench(cmd) => cmd.run(),
        Command::Metrics(cmd) => cmd.run(),
        Command::Report(cmd) => cmd.run(),
        Command::Predict(cmd) => cmd.run(),
        Command::Import(cmd) => cmd.run(),
        Command::Pretrain(cmd) => cmd.run(),
        Command::Transfer(cmd) => cmd.run(),
        Command::Scaling(cmd) => cmd.run(),
        Command::Train(cmd) => cmd.run(),
        Command::Adapt(cmd) => cmd.run(),
        Command::Coda(cmd) => cmd.run(),
        Command::Study(cmd) => cmd.run(),
    }
}
