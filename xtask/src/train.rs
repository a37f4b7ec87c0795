//! `cargo xtask train`: a checkpointed, resumable training run of a 1D stepper on physfm
//! collections, described by a TOML spec (the same run as the `physfm-train` binary).

use physfm_train::RunArgs;

/// Train a 1D stepper (FNO) on a collection from a spec; `--resume` continues a stopped or
/// killed run from its last checkpoint.
#[derive(Debug, clap::Args)]
pub(crate) struct Train {
    #[command(flatten)]
    run: RunArgs,
}

impl Train {
    pub(crate) fn run(self) -> anyhow::Result<()> {
        self.run.run(true)?;
        Ok(())
    }
}
