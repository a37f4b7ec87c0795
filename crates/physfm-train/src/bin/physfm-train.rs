//! `physfm-train`: trains a 1D stepper on a physfm collection from a TOML spec, with atomic
//! checkpoints; `--resume` continues a run that was stopped or killed.
//!
//! ```text
//! physfm-train --spec run.toml --train data/train.zarr [--valid data/valid.zarr] --out runs/a [--resume]
//! ```

use std::process::ExitCode;

use clap::Parser;
use physfm_train::RunArgs;

/// Train a 1D stepper (FNO) on a physfm collection.
#[derive(Debug, Parser)]
#[command(name = "physfm-train", version)]
struct Cli {
    #[command(flatten)]
    run: RunArgs,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

fn main() -> ExitCode {
    // Training steps free and reallocate the same large buffers: keep them in the process
    // instead of re-faulting them at every step (docs/performance.md).
    physfm_spectral::cpu::retain_freed_memory();
    let cli = Cli::parse();
    match cli.run.run(!cli.quiet) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
