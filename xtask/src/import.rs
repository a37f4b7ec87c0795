//! `cargo xtask import neuralop CHECKPOINT OUT [--config fno.toml]`: converts a checkpoint of
//! another library into a physfm model directory that `cargo xtask predict` and the Rust API
//! (`Fno::load`) run.

use std::path::PathBuf;

use anyhow::{Context, bail};
use burn::module::Module;
use burn::tensor::Device;
use physfm_models::{FnoConfig, import_neuralop_fno};

/// Convert a checkpoint of another library into a physfm model directory.
#[derive(Debug, clap::Args)]
pub(crate) struct Import {
    #[command(subcommand)]
    what: ImportWhat,
}

#[derive(Debug, clap::Subcommand)]
enum ImportWhat {
    /// A neuraloperator FNO: its state dict as `torch.save` writes it (neuraloperator keeps
    /// its constructor arguments in it), or a safetensors file with `--config`.
    Neuralop(NeuralopImport),
}

#[derive(Debug, clap::Args)]
struct NeuralopImport {
    /// The checkpoint (`.pt`/`.pth` state dict, or `.safetensors` with complex weights as
    /// `torch.view_as_real`).
    checkpoint: PathBuf,
    /// The model directory to write (`config.json`, `model.safetensors`).
    out: PathBuf,
    /// physfm's FNO configuration (TOML, see `FnoConfig`), instead of the one read from
    /// the checkpoint; required for safetensors.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Replace a model already in OUT.
    #[arg(long)]
    force: bool,
}

impl Import {
    pub(crate) fn run(self) -> anyhow::Result<()> {
        match self.what {
            ImportWhat::Neuralop(cmd) => cmd.run(),
        }
    }
}

impl NeuralopImport {
    fn run(self) -> anyhow::Result<()> {
        if physfm_models::is_model_dir(&self.out) && !self.force {
            bail!(
                "{} already holds a model; pass --force to replace it",
                self.out.display()
            );
        }
        let config = match &self.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?;
                Some(
                    toml::from_str::<FnoConfig>(&text)
                        .with_context(|| format!("{}: not an FNO configuration", path.display()))?,
                )
            }
            None => None,
        };
        let device = Device::flex();
        let (config, fno) = import_neuralop_fno(&self.checkpoint, config, &device)?;
        fno.save(&config, &self.out)?;
        println!(
            "converted {} -> {}: {}D FNO, modes {:?}, width {}, {} layers, {} -> {} channels, \
             {} parameters",
            self.checkpoint.display(),
            self.out.display(),
            config.n_modes.len(),
            config.n_modes,
            config.width,
            config.n_layers,
            config.in_channels,
            config.out_channels,
            fno.num_params()
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> PathBuf {
        crate::workspace::workspace_root()
            .join("crates/physfm-models/tests/fixtures/neuralop")
            .join(name)
    }

    #[test]
    fn converts_a_checkpoint_and_refuses_to_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("model");
        let cmd = |force| NeuralopImport {
            checkpoint: fixture("fno1d_default.pt"),
            out: out.clone(),
            config: None,
            force,
        };
        cmd(false).run().unwrap();
        let (config, _) = physfm_models::Fno::load(&out, &Device::flex()).unwrap();
        assert_eq!((config.n_modes, config.width), (vec![8], 8));
        let e = cmd(false).run().unwrap_err().to_string();
        assert!(e.contains("--force"), "{e}");
        cmd(true).run().unwrap();
        // safetensors needs a configuration, read from TOML.
        let toml_path = dir.path().join("fno.toml");
        std::fs::write(
            &toml_path,
            "in_channels = 1\nout_channels = 2\nn_modes = [6, 6]\nwidth = 8\nn_layers = 2\n\
             norm = \"group\"\nfno_skip = \"soft-gating\"\nchannel_mlp_skip = \"linear\"\n\
             domain_padding = 0.25\nlifting_ratio = 1.5\nprojection_ratio = 4.0\n\
             channel_mlp_expansion = 0.25\n",
        )
        .unwrap();
        NeuralopImport {
            checkpoint: fixture("fno2d_options.safetensors"),
            out: dir.path().join("st"),
            config: Some(toml_path.clone()),
            force: false,
        }
        .run()
        .unwrap();
        std::fs::write(
            &toml_path,
            "in_channels = 1\nout_channels = 2\nn_modes = [6, 6]\nwdth = 8\n",
        )
        .unwrap();
        let e = NeuralopImport {
            checkpoint: fixture("fno2d_options.safetensors"),
            out: dir.path().join("st2"),
            config: Some(toml_path),
            force: false,
        }
        .run()
        .unwrap_err();
        assert!(format!("{e:#}").contains("wdth"), "{e:#}");
    }
}
