//! `cargo xtask study foundation`: the foundation study of physfm-eval, end to end.

use std::path::PathBuf;

use anyhow::Context;
use burn::tensor::Device;
use physfm_eval::{FoundationSpec, foundation_study};

use crate::workspace::workspace_root;

/// Studies that run many pipelines end to end.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum Study {
    /// Does pretraining on many physics make a new physics cheap to learn? Pretrain every
    /// corpus, adapt every arm for every K, seed and learning rate (chosen on `val`), report
    /// the accuracy and efficiency gains over scratch. Resumable: finished units are reused.
    Foundation(Foundation),
}

impl Study {
    pub(crate) fn run(self) -> anyhow::Result<()> {
        match self {
            Self::Foundation(f) => f.run(),
        }
    }
}

/// Arguments of `cargo xtask study foundation`.
#[derive(Debug, clap::Args)]
pub(crate) struct Foundation {
    /// The study spec (corpora, arms, K, seeds, learning rates, steps).
    #[arg(long, default_value = "specs/foundation_1d.toml")]
    spec: PathBuf,
    /// Output directory (pretraining runs, units, results.json, report.md, plots).
    #[arg(long, default_value = "runs/foundation")]
    out: PathBuf,
    /// One seed, K in {2, 8}, 32 trajectories per family, 1000 pretraining and at most 200
    /// adaptation steps.
    #[arg(long)]
    quick: bool,
}

impl Foundation {
    fn run(self) -> anyhow::Result<()> {
        let text = std::fs::read_to_string(&self.spec)
            .with_context(|| format!("reading {}", self.spec.display()))?;
        let mut spec: FoundationSpec =
            toml::from_str(&text).with_context(|| format!("{}", self.spec.display()))?;
        if self.quick {
            spec = spec.quick();
        }
        let dir = self.spec.parent().map(PathBuf::from).unwrap_or_default();
        let results = foundation_study(
            &spec,
            &dir,
            &workspace_root().join("datasets"),
            &self.out,
            &Device::flex(),
            true,
            &mut |u, reused| {
                if !reused {
                    let e = |s: &str| u.errors.get(s).map_or(f64::NAN, |e| e.rollout_rel_l2);
                    println!(
                        "{} K={} seed {} lr {:e}: rollout val {:.4}, test {:.4}{} ({:.0} s)",
                        u.arm,
                        u.shots,
                        u.seed,
                        u.learning_rate,
                        e("val"),
                        e("test_interp"),
                        if u.diverged { " DIVERGED" } else { "" },
                        u.seconds
                    );
                }
            },
        )
        .with_context(|| format!("the study {}", self.spec.display()))?;
        let md = std::fs::read_to_string(self.out.join("report.md"))?;
        println!("{md}");
        println!(
            "{} units; results in {}",
            results.units.len(),
            self.out.join("results.json").display()
        );
        Ok(())
    }
}
