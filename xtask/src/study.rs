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
    /// One seed, K in {2, 8}, at most 32 trajectories per family, 1000 pretraining and 200
    /// adaptation steps.
    #[arg(long)]
    quick: bool,
    /// Folder of the dataset presets the spec names (default: the workspace's `datasets`).
    #[arg(long)]
    presets: Option<PathBuf>,
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
            &self
                .presets
                .unwrap_or_else(|| workspace_root().join("datasets")),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// `study foundation --quick` on the tiny fixtures of physfm-eval's tests: one seed, K in
    /// {2, 8}, budgets never raised above the spec's, and the report and results written.
    #[test]
    fn the_quick_study_runs_end_to_end() {
        let fixtures = workspace_root().join("crates/physfm-eval/tests/fixtures/foundation");
        let dir = tempfile::tempdir().unwrap();
        let presets = dir.path().join("presets");
        std::fs::create_dir_all(&presets).unwrap();
        for f in ["tiny_corpus.toml", "tiny_burgers.toml"] {
            std::fs::copy(fixtures.join(f), presets.join(f)).unwrap();
        }
        for f in ["corpus.toml", "study.toml"] {
            std::fs::copy(fixtures.join(f), dir.path().join(f)).unwrap();
        }
        let out = dir.path().join("out");
        let study = |quick| Foundation {
            spec: dir.path().join("study.toml"),
            out: out.clone(),
            quick,
            presets: Some(presets.clone()),
        };
        study(true).run().unwrap();
        let text = std::fs::read_to_string(out.join("results.json")).unwrap();
        let r: physfm_eval::FoundationResults = serde_json::from_str(&text).unwrap();
        assert_eq!((r.spec.seeds, r.spec.shots.clone()), (1, vec![2, 8]));
        assert!(r.spec.scratch_shots.is_empty());
        assert_eq!((r.spec.steps, r.spec.pretrain_steps), (2, Some(2)));
        assert_eq!(r.spec.corpus_trajectories, Some(2));
        // Scratch and full at K = 2 and 8 with two rates each, zero-shot once.
        assert_eq!(r.units.len(), 9);
        assert!(out.join("report.md").exists() && out.join("error_vs_k.png").exists());
        // The full study's units differ (another list of K, same settings): it extends the
        // quick one's folder rather than being refused.
        study(false).run().unwrap();
        let text = std::fs::read_to_string(out.join("results.json")).unwrap();
        let r: physfm_eval::FoundationResults = serde_json::from_str(&text).unwrap();
        assert_eq!(r.units.len(), 1 + 2 * (2 + 1));
    }
}
