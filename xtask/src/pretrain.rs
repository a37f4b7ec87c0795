//! `cargo xtask pretrain` and `cargo xtask transfer`: multi-physics pretraining of the
//! Encode-Process-Decode model on several dataset presets, then transfer to a held-out
//! family from K trajectories, against training the same model from scratch on them.
//!
//! Data: each preset's collections under data/<preset>/ (generated if missing), every
//! `frame_stride`-th stored frame, at most `max_trajectories` per dataset. PDE parameters
//! enter the model as their natural logarithm (the presets' parameters are positive;
//! others are refused by name).

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::{Context, bail};
use burn::module::Module;
use burn::tensor::Device;
use physfm_adapt::{MetaConfig, Prior, Strategy};
use physfm_eval::{
    LinePlot, Presets, PretrainOptions, PretrainOutcome, PretrainSpec, Series, TransferScore,
    TransferStudy, adaptation_budget, line_plot, pretrain, random_subset, transfer_mean,
    transfer_protocol, transfer_study, transfer_table,
};
use physfm_models::EncodeProcessDecode;
use physfm_train::WindowDataset;
use serde::Serialize;

use crate::workspace::{workspace_root, write_atomic};

/// Pretrain the Encode-Process-Decode model on several presets.
#[derive(Debug, clap::Args)]
pub(crate) struct Pretrain {
    /// The run's spec (TOML: frame_stride, max_trajectories, [[datasets]], [model], [train]).
    #[arg(long)]
    spec: PathBuf,
    /// Output directory (model/, checkpoints/, train.jsonl, report.json).
    #[arg(long)]
    out: PathBuf,
    /// Continue from the last checkpoint in OUT.
    #[arg(long)]
    resume: bool,
    /// Where the presets' collections are (generated there if missing); default data/.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Do not train: evaluate the model already in OUT/model on every dataset's
    /// test_interp split and rewrite OUT/evaluation.json.
    #[arg(long, conflicts_with = "resume")]
    evaluate_only: bool,
    /// Stream the training windows from the stores through the loader (memory bounded by
    /// its prefetch) instead of reading the training collections into memory.
    #[arg(long)]
    stream: bool,
}

/// The workspace's presets, with their collections under `data` (default data/).
pub(crate) fn presets(data: &Option<PathBuf>) -> Presets {
    Presets {
        presets: workspace_root().join("datasets"),
        data: data
            .clone()
            .unwrap_or_else(|| workspace_root().join("data")),
    }
}

impl Pretrain {
    pub(crate) fn run(self) -> anyhow::Result<()> {
        let (spec, text): (PretrainSpec, String) = crate::spec::read_spec(&self.spec)?;
        self.run_spec(&spec, &text)?;
        Ok(())
    }

    /// Pretrains (or, with `evaluate_only`, loads) the model of `spec` (whose TOML is
    /// `text`) into OUT, evaluates it on every dataset and prints what it did.
    fn run_spec(&self, spec: &PretrainSpec, text: &str) -> anyhow::Result<PretrainOutcome> {
        let options = PretrainOptions {
            resume: self.resume,
            evaluate_only: self.evaluate_only,
            stream: self.stream,
            progress: true,
        };
        let out = pretrain(
            spec,
            text,
            &presets(&self.data),
            &self.out,
            &Device::flex(),
            &options,
        )
        .with_context(|| format!("pretraining {}", self.spec.display()))?;
        for d in &out.datasets {
            println!(
                "{}: {} trajectories, {} frames, {} one-step windows, {:?} grid, {} channel(s), {} parameter(s)",
                d.spec.name,
                d.trajectories,
                d.frames,
                d.windows,
                d.grid,
                d.spec.channels,
                d.spec.params
            );
        }
        for e in &out.evaluation {
            println!(
                "{}: test_interp one-step rel. L2 {:.4}, rollout ({} steps) {:.4}",
                e.dataset, e.one_step_rel_l2, e.steps, e.rollout_rel_l2
            );
        }
        if let Some(r) = &out.train {
            println!(
                "pretrained {} parameters in {:.0} s ({:.1} steps/s); model in {}",
                out.model.num_params(),
                r.seconds,
                r.steps_per_second,
                self.out.join("model").display()
            );
        }
        Ok(out)
    }
}

/// Transfer a pretrained Encode-Process-Decode model to a held-out family.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct Transfer {
    /// A `cargo xtask pretrain` output directory.
    #[arg(long)]
    pretrained: PathBuf,
    /// The held-out preset: K trajectories of its train split adapt, its test_interp split
    /// measures.
    #[arg(long)]
    target: String,
    /// Trajectory counts K.
    #[arg(long, value_delimiter = ',', default_value = "1,2,4,8,16")]
    shots: Vec<usize>,
    /// Strategies: `full` (new encoder/decoder, every weight trained), `heads` (new
    /// encoder/decoder only; processor, time embedding and FiLM frozen), `lora` or
    /// `lora-r<N>` (new encoder/decoder and rank-4 or rank-N updates of the processor's
    /// weights; the rest frozen), `leads` (a new residual model beside the frozen one),
    /// `in-context` (new encoder/decoder trained, then demonstrations correct each step),
    /// `coda` and `reptile` (meta-trained first over the pretraining datasets, for
    /// --meta-steps steps), `scratch` (the same model freshly initialised, every weight
    /// trained).
    #[arg(long, value_delimiter = ',', default_value = "full,heads,lora,scratch")]
    strategy: Vec<Strategy>,
    /// Optimiser steps per run (the same budget for every strategy and K).
    #[arg(long, default_value_t = 500)]
    steps: usize,
    /// Peak learning rate.
    #[arg(long, default_value_t = 1e-3)]
    learning_rate: f64,
    /// Random K-subsets of the train split per K (seeds 0..repeats); the table gives their
    /// mean and range.
    #[arg(long, default_value_t = 1)]
    repeats: usize,
    /// Optimiser steps of the meta-training of `coda`, `leads` and `reptile` over the
    /// pretraining datasets (0: `leads` adapts the plain pretrained model).
    #[arg(long, default_value_t = 500)]
    meta_steps: usize,
    /// Start the target from this pretrained dataset's head (the target is another regime
    /// of that dataset's family, with the same channels and parameters), and also score the
    /// pretrained model as it is (`zero-shot`); default: new heads.
    #[arg(long)]
    head: Option<String>,
    /// Output directory (default runs/transfer/<target>).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Where the presets' collections are (generated there if missing); default data/.
    #[arg(long)]
    data: Option<PathBuf>,
}

impl Transfer {
    pub(crate) fn run(self) -> anyhow::Result<()> {
        let device = Device::flex();
        let spec_text = std::fs::read_to_string(self.pretrained.join("spec.toml"))
            .with_context(|| format!("{} is not a pretrain run", self.pretrained.display()))?;
        let spec: PretrainSpec = toml::from_str(&spec_text)?;
        let pre = EncodeProcessDecode::load(&self.pretrained.join("model"), &device)?;
        let study = TransferStudy {
            target: self.target.clone(),
            shots: self.shots.clone(),
            strategies: self.strategy.clone(),
            steps: self.steps,
            learning_rate: self.learning_rate,
            repeats: self.repeats,
            meta_steps: self.meta_steps,
            meta: MetaConfig::default(),
            head: self.head.clone(),
        };
        let out = self
            .out
            .clone()
            .unwrap_or_else(|| workspace_root().join("runs/transfer").join(&self.target));
        std::fs::create_dir_all(&out)?;
        let (points, test) = transfer_study(
            &study,
            &pre,
            &spec,
            &presets(&self.data),
            &device,
            &mut |p| {
                println!(
                    "K = {:2} (subset {}) {:8}: one-step rel. L2 {:.4}, rollout {:.4} ({:.0} s)",
                    p.shots, p.repeat, p.strategy, p.one_step_rel_l2, p.rollout_rel_l2, p.seconds
                )
            },
        )?;
        let md = transfer_table(&study, &points, test);
        write_atomic(&out.join("transfer.md"), md.as_bytes())?;
        write_atomic(
            &out.join("transfer.json"),
            serde_json::to_string_pretty(&serde_json::json!({
                "pretrained": self.pretrained,
                "target": self.target,
                "steps": self.steps,
                "learning_rate": self.learning_rate,
                "meta_steps": self.meta_steps,
                "points": points,
            }))?
            .as_bytes(),
        )?;
        let series = self
            .strategy
            .iter()
            .map(|s| Series {
                name: s.to_string(),
                points: self
                    .shots
                    .iter()
                    .map(|&k| {
                        let (m, _, _) =
                            transfer_mean(&points, &s.to_string(), k, |p| p.rollout_rel_l2);
                        (k as f64, m)
                    })
                    .collect(),
                markers: false,
            })
            .collect();
        line_plot(
            &out.join("transfer.png"),
            &LinePlot::log_log(
                format!(
                    "Transfer to {} after multi-physics pretraining",
                    self.target
                ),
                "target trajectories K",
                "rollout relative L2 error on test_interp",
                series,
            ),
            900,
            560,
        )?;
        println!("{md}\nwrote {}", out.display());
        Ok(())
    }
}

/// Downstream error against the amount of pretraining data (Subramanian et al. 2023): the
/// base spec pretrained on its first F datasets with at most N trajectories each, for every
/// F and N, each then transferred (`full`) to the held-out target from K trajectories,
/// against training from scratch on the same K.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct Scaling {
    /// The base pretraining spec (its datasets in the order families are added).
    #[arg(long)]
    spec: PathBuf,
    /// The held-out target preset.
    #[arg(long)]
    target: String,
    /// Numbers of pretraining families F (the spec's first F datasets).
    #[arg(long, value_delimiter = ',', default_value = "1,2,4")]
    families: Vec<usize>,
    /// Trajectories per pretraining dataset N.
    #[arg(long, value_delimiter = ',', default_value = "16,64")]
    trajectories: Vec<usize>,
    /// Target trajectories K for the transfer.
    #[arg(long, default_value_t = 4)]
    shots: usize,
    /// Optimiser steps of each pretraining run.
    #[arg(long, default_value_t = 1000)]
    pretrain_steps: usize,
    /// Optimiser steps of each transfer (and of scratch).
    #[arg(long, default_value_t = 300)]
    steps: usize,
    /// Peak learning rate of the transfers.
    #[arg(long, default_value_t = 1e-3)]
    learning_rate: f64,
    /// Random K-subsets per point.
    #[arg(long, default_value_t = 2)]
    repeats: usize,
    /// Output directory (default runs/scaling/<target>); each pretraining run in
    /// OUT/f<F>_n<N>, reused when its spec is unchanged.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Where the presets' collections are (generated there if missing); default data/.
    #[arg(long)]
    data: Option<PathBuf>,
}

#[derive(Debug, Clone, Serialize)]
struct ScalingPoint {
    families: usize,
    trajectories_per_family: usize,
    pretraining_trajectories: usize,
    rollout_rel_l2: Vec<f64>,
    one_step_rel_l2: Vec<f64>,
}

impl Scaling {
    pub(crate) fn run(self) -> anyhow::Result<()> {
        let (base, _): (PretrainSpec, String) = crate::spec::read_spec(&self.spec)?;
        if let Some(&f) = self
            .families
            .iter()
            .find(|&&f| f == 0 || f > base.datasets.len())
        {
            bail!(
                "--families {f}: the spec has {} datasets",
                base.datasets.len()
            );
        }
        if base.datasets.iter().any(|d| d.preset == self.target) {
            bail!(
                "{} is a pretraining dataset of the spec; the target must be held out",
                self.target
            );
        }
        let out = self
            .out
            .clone()
            .unwrap_or_else(|| workspace_root().join("runs/scaling").join(&self.target));
        std::fs::create_dir_all(&out)?;
        let presets = presets(&self.data);
        let pool = presets.collection(&self.target, "train", base.frame_stride, 0)?;
        let test = presets.collection(&self.target, "test_interp", base.frame_stride, 0)?;
        if self.shots == 0 || self.shots > pool.records.len() {
            bail!(
                "--shots {}: the train split has {} trajectories",
                self.shots,
                pool.records.len()
            );
        }
        let target_cfg = base
            .model
            .config(vec![base.dataset_spec(&self.target, &pool.meta)]);
        let shots: Vec<WindowDataset> = (0..self.repeats)
            .map(|r| Ok(base.pairs(&random_subset(&pool, self.shots, r as u64)?)?))
            .collect::<anyhow::Result<_>>()?;
        let budget = |seed| adaptation_budget(&base.train, self.steps, self.learning_rate, seed);
        // The transfers train on the CPU backend, as the pretraining runs do.
        let device = Device::flex();
        let mut scratch = Vec::new();
        for (r, w) in shots.iter().enumerate() {
            let roll = transfer_protocol(
                None,
                &target_cfg,
                w,
                &test,
                Strategy::Scratch,
                &budget(r as u64),
                &MetaConfig::default(),
                base.params,
                &device,
            )?
            .rollout_rel_l2;
            println!(
                "scratch, K = {} (subset {r}): rollout rel. L2 {roll:.4}",
                self.shots
            );
            scratch.push(roll);
        }
        let mut points = Vec::new();
        for &f in &self.families {
            for &n in &self.trajectories {
                let mut spec = base.clone();
                spec.datasets.truncate(f);
                spec.max_trajectories = n;
                spec.train.steps = self.pretrain_steps;
                let spec_text = toml::to_string(&spec)?;
                let dir = out.join(format!("f{f}_n{n}"));
                let reuse = physfm_models::is_model_dir(&dir.join("model"))
                    && std::fs::read_to_string(dir.join("spec.toml"))
                        .ok()
                        .as_deref()
                        == Some(spec_text.as_str());
                println!(
                    "pretraining on {f} famil{} x {n} trajectories{}",
                    if f == 1 { "y" } else { "ies" },
                    if reuse {
                        " (reusing the saved model)"
                    } else {
                        ""
                    }
                );
                if dir.exists() && !reuse {
                    std::fs::remove_dir_all(&dir)?;
                }
                let run = Pretrain {
                    spec: self.spec.clone(),
                    out: dir.clone(),
                    resume: false,
                    data: self.data.clone(),
                    evaluate_only: reuse,
                    stream: false,
                };
                let outcome = run.run_spec(&spec, &spec_text)?;
                let (pre, total) = (outcome.model.clone(), outcome.trajectories());
                let (mut rolls, mut ones) = (Vec::new(), Vec::new());
                for (r, w) in shots.iter().enumerate() {
                    let TransferScore {
                        one_step_rel_l2: one,
                        rollout_rel_l2: roll,
                        ..
                    } = transfer_protocol(
                        Some(&Prior::Model(pre.clone())),
                        &target_cfg,
                        w,
                        &test,
                        Strategy::Full,
                        &budget(r as u64),
                        &MetaConfig::default(),
                        base.params,
                        &device,
                    )?;
                    println!(
                        "  transfer, K = {} (subset {r}): rollout rel. L2 {roll:.4}",
                        self.shots
                    );
                    rolls.push(roll);
                    ones.push(one);
                }
                points.push(ScalingPoint {
                    families: f,
                    trajectories_per_family: n,
                    pretraining_trajectories: total,
                    rollout_rel_l2: rolls,
                    one_step_rel_l2: ones,
                });
            }
        }
        let avg = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
        let mut md = String::new();
        let _ = writeln!(
            md,
            "# Transfer to {} against pretraining data\n\nRollout relative L2 error on test_interp after \
             transfer (`full`, {} steps, lr {}) from K = {} trajectories, mean over {} subset(s); \
             pretraining {} steps per run. From scratch on the same K: {:.4}.\n",
            self.target,
            self.steps,
            self.learning_rate,
            self.shots,
            self.repeats,
            self.pretrain_steps,
            avg(&scratch)
        );
        let _ = write!(md, "| families \\ trajectories per family |");
        for n in &self.trajectories {
            let _ = write!(md, " {n} |");
        }
        let _ = writeln!(md, "\n|---|{}", "---|".repeat(self.trajectories.len()));
        for &f in &self.families {
            let _ = write!(md, "| {f} |");
            for &n in &self.trajectories {
                let p = points
                    .iter()
                    .find(|p| p.families == f && p.trajectories_per_family == n)
                    .expect("every point ran");
                let _ = write!(md, " {:.4} |", avg(&p.rollout_rel_l2));
            }
            let _ = writeln!(md);
        }
        write_atomic(&out.join("scaling.md"), md.as_bytes())?;
        write_atomic(
            &out.join("scaling.json"),
            serde_json::to_string_pretty(&serde_json::json!({
                "target": self.target,
                "shots": self.shots,
                "steps": self.steps,
                "pretrain_steps": self.pretrain_steps,
                "scratch_rollout_rel_l2": scratch,
                "points": points,
            }))?
            .as_bytes(),
        )?;
        let mut series: Vec<Series> = self
            .families
            .iter()
            .map(|&f| Series {
                name: format!("{f} pretraining famil{}", if f == 1 { "y" } else { "ies" }),
                points: points
                    .iter()
                    .filter(|p| p.families == f)
                    .map(|p| (p.pretraining_trajectories as f64, avg(&p.rollout_rel_l2)))
                    .collect(),
                markers: false,
            })
            .collect();
        let xs: Vec<f64> = points
            .iter()
            .map(|p| p.pretraining_trajectories as f64)
            .collect();
        let (lo, hi) = xs
            .iter()
            .fold((f64::INFINITY, 0.0f64), |(a, b), &x| (a.min(x), b.max(x)));
        series.push(Series {
            name: format!("scratch on K = {}", self.shots),
            points: vec![(lo, avg(&scratch)), (hi, avg(&scratch))],
            markers: false,
        });
        line_plot(
            &out.join("scaling.png"),
            &LinePlot::log_log(
                format!("Transfer to {} against pretraining data", self.target),
                "pretraining trajectories (families x trajectories per family)",
                "rollout relative L2 error on test_interp",
                series,
            ),
            900,
            560,
        )?;
        println!("{md}\nwrote {}", out.display());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subsampling_keeps_every_kth_frame_and_subsets_are_reproducible() {
        let dir = tempfile::tempdir().unwrap();
        let presets = presets(&Some(dir.path().to_path_buf()));
        let full = presets
            .collection("physfm_kdv1d", "test_interp", 1, 0)
            .unwrap();
        let sub = presets
            .collection("physfm_kdv1d", "test_interp", 5, 3)
            .unwrap();
        assert_eq!((full.meta.frames, sub.meta.frames), (101, 21));
        assert_eq!(sub.records.len(), 3);
        let per = 256;
        let (a, b) = (&full.records[2], &sub.records[2]);
        assert_eq!(b.times[4], a.times[20]);
        assert_eq!(b.fields[4 * per..5 * per], a.fields[20 * per..21 * per]);
        let first = random_subset(&full, 4, 0).unwrap();
        assert_eq!(first.records[3].params, full.records[3].params);
        let x = random_subset(&full, 4, 7).unwrap();
        let y = random_subset(&full, 4, 7).unwrap();
        assert_eq!(
            x.records.iter().map(|r| r.params[0]).collect::<Vec<_>>(),
            y.records.iter().map(|r| r.params[0]).collect::<Vec<_>>()
        );
        assert_ne!(
            x.records.iter().map(|r| r.params[0]).collect::<Vec<_>>(),
            first
                .records
                .iter()
                .map(|r| r.params[0])
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn pretraining_then_transfer_writes_a_model_and_a_table() {
        let dir = tempfile::tempdir().unwrap();
        let spec = dir.path().join("spec.toml");
        std::fs::write(
            &spec,
            "frame_stride = 10\nmax_trajectories = 4\n[[datasets]]\npreset = \"physfm_kdv1d\"\n\
             [model]\nlatent_grid = [32]\nlatent_channels = 4\ninput_norm = \"per-sample\"\n\
             [model.processor]\nin_channels = 4\nout_channels = 4\nn_modes = [8]\nwidth = 8\nn_layers = 2\n\
             [train]\nsteps = 4\nbatch_size = 4\nlearning_rate = 1e-3\nloss = \"rel-l2\"\nlog_every = 2\ncheckpoint_every = 2\n",
        )
        .unwrap();
        let run = dir.path().join("run");
        let pretrain = |evaluate_only| Pretrain {
            spec: spec.clone(),
            out: run.clone(),
            resume: false,
            data: Some(dir.path().join("data")),
            evaluate_only,
            stream: false,
        };
        // Streamed through the loader: the same data, another draw of batches.
        let streamed = dir.path().join("streamed");
        Pretrain {
            out: streamed.clone(),
            stream: true,
            ..pretrain(false)
        }
        .run()
        .unwrap();
        let report: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(streamed.join("report.json")).unwrap())
                .unwrap();
        assert!(report["final_loss"].as_f64().unwrap().is_finite());
        assert!(streamed.join("model/model.safetensors").exists());
        pretrain(false).run().unwrap();
        let first = std::fs::read_to_string(run.join("evaluation.json")).unwrap();
        std::fs::remove_file(run.join("evaluation.json")).unwrap();
        // Re-evaluating the saved model gives the same numbers.
        pretrain(true).run().unwrap();
        assert_eq!(
            std::fs::read_to_string(run.join("evaluation.json")).unwrap(),
            first
        );
        let report: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(run.join("report.json")).unwrap())
                .unwrap();
        assert_eq!(report["evaluation"].as_array().unwrap().len(), 1);
        // `report` reads a pretraining run: table, metrics and the loss curves.
        assert!(physfm_eval::write_other_report(&run).unwrap());
        let md = std::fs::read_to_string(run.join("report.md")).unwrap();
        assert!(md.contains("| physfm_kdv1d |"), "{md}");
        let png = std::fs::read(run.join("training.png")).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        assert_eq!(
            (&png[16..20], &png[20..24]),
            (&900u32.to_be_bytes()[..], &560u32.to_be_bytes()[..])
        );
        let metrics: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(run.join("metrics.json")).unwrap())
                .unwrap();
        assert_eq!(metrics["evaluation"][0]["dataset"], "physfm_kdv1d");
        let t = Transfer {
            pretrained: run.clone(),
            target: "physfm_kuramoto_sivashinsky1d".into(),
            shots: vec![1, 2],
            strategy: vec![
                Strategy::Full,
                Strategy::Heads,
                Strategy::Lora { rank: 2 },
                Strategy::Coda,
                Strategy::InContext,
                Strategy::Scratch,
            ],
            steps: 3,
            learning_rate: 1e-3,
            repeats: 1,
            meta_steps: 2,
            head: None,
            out: Some(dir.path().join("transfer")),
            data: Some(dir.path().join("data")),
        };
        t.clone().run().unwrap();
        let md = std::fs::read_to_string(dir.path().join("transfer/transfer.md")).unwrap();
        assert!(
            md.contains("| 2 |") && md.contains("scratch") && md.contains("lora-r2"),
            "{md}"
        );
        let json: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.path().join("transfer/transfer.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(json["points"].as_array().unwrap().len(), 12);
        assert!(md.contains("coda") && md.contains("in-context"), "{md}");
        assert!(dir.path().join("transfer/transfer.png").exists());
        // The pretraining family is refused as a target; a bad strategy is named.
        let bad = Transfer {
            target: "physfm_kdv1d".into(),
            ..t
        };
        let e = bad.clone().run().unwrap_err().to_string();
        assert!(e.contains("held-out"), "{e}");
        let e = "lorax".parse::<Strategy>().unwrap_err().to_string();
        assert!(e.contains("`lorax`") && e.contains("heads"), "{e}");
    }

    #[test]
    fn scaling_pretrains_per_point_reuses_finished_runs_and_reports() {
        let dir = tempfile::tempdir().unwrap();
        let spec = dir.path().join("spec.toml");
        std::fs::write(
            &spec,
            "frame_stride = 10\nmax_trajectories = 4\n[[datasets]]\npreset = \"physfm_kdv1d\"\n\
             [[datasets]]\npreset = \"physfm_kuramoto_sivashinsky1d\"\n\
             [model]\nlatent_grid = [32]\nlatent_channels = 4\ninput_norm = \"per-sample\"\n\
             [model.processor]\nin_channels = 4\nout_channels = 4\nn_modes = [8]\nwidth = 8\nn_layers = 2\n\
             [train]\nsteps = 4\nbatch_size = 4\nlearning_rate = 1e-3\nloss = \"rel-l2\"\nlog_every = 2\ncheckpoint_every = 2\n",
        )
        .unwrap();
        let cmd = Scaling {
            spec,
            target: "physfm_advection1d".into(),
            families: vec![1, 2],
            trajectories: vec![2, 3],
            shots: 1,
            pretrain_steps: 3,
            steps: 2,
            learning_rate: 1e-3,
            repeats: 1,
            out: Some(dir.path().join("scaling")),
            data: Some(dir.path().join("data")),
        };
        cmd.clone().run().unwrap();
        let json: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.path().join("scaling/scaling.json")).unwrap(),
        )
        .unwrap();
        let points = json["points"].as_array().unwrap();
        assert_eq!(points.len(), 4);
        assert_eq!(points[3]["pretraining_trajectories"], 6);
        let weights = dir.path().join("scaling/f2_n3/model/model.safetensors");
        let before = std::fs::metadata(&weights).unwrap().modified().unwrap();
        cmd.clone().run().unwrap();
        assert_eq!(
            std::fs::metadata(&weights).unwrap().modified().unwrap(),
            before
        );
        let md = std::fs::read_to_string(dir.path().join("scaling/scaling.md")).unwrap();
        assert!(md.contains("| 2 |") && md.contains("From scratch"), "{md}");
        let mut bad = cmd;
        bad.families = vec![3];
        let e = bad.run().unwrap_err().to_string();
        assert!(e.contains("--families 3"), "{e}");
    }
}
