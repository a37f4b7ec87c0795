//! `cargo xtask train`: a checkpointed, resumable training run of a 1D stepper on physfm
//! collections, described by a TOML spec (the same run as the `physfm-train` binary), and
//! optionally the trained model's errors on held-out collections.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use burn::tensor::Device;
use physfm_data::{InMemoryCollection, TrajectoryCollection, TrajectorySource};
use physfm_eval::evaluate;
use physfm_models::Stepper1d;
use physfm_train::RunArgs;

use crate::workspace::write_atomic;

/// Train a 1D stepper (FNO) on a collection from a spec; `--resume` continues a stopped or
/// killed run from its last checkpoint.
#[derive(Debug, clap::Args)]
pub(crate) struct Train {
    #[command(flatten)]
    run: RunArgs,
    /// Collections to score the trained model on: one-step and rollout nRMSE (PDEBench's),
    /// rollouts from each trajectory's first `history` true frames. Printed, and written to
    /// `evaluation.json` and `evaluation.md` in the run directory.
    #[arg(long)]
    evaluate: Vec<PathBuf>,
    /// Drop this many leading frames of every evaluated trajectory, so that models of
    /// different histories can be scored from the same first predicted frame (a model of
    /// history 1 with `--skip-frames 1` predicts frames 2.. like one of history 2 without).
    #[arg(long, default_value_t = 0)]
    skip_frames: usize,
}

impl Train {
    pub(crate) fn run(self) -> anyhow::Result<()> {
        // Refuse unreadable evaluation collections before spending the training time.
        let sets = self
            .evaluate
            .iter()
            .map(|p| load(p, self.skip_frames))
            .collect::<anyhow::Result<Vec<_>>>()?;
        self.run.run(true)?;
        if sets.is_empty() {
            return Ok(());
        }
        let device = Device::flex();
        let dir = self.run.out.join("model");
        let model = Stepper1d::load(&dir, &device)
            .with_context(|| format!("reading the trained model {}", dir.display()))?;
        let mut md = format!(
            "# Evaluation of {}\n\nHistory {}; {} leading frame(s) of each trajectory skipped; \
             rollouts start from the first {} remaining true frame(s).\n\n\
             | collection | trajectories | one-step nRMSE | persistence one-step | rollout nRMSE | final-step nRMSE |\n\
             | --- | ---: | ---: | ---: | ---: | ---: |\n",
            dir.display(),
            model.history(),
            self.skip_frames,
            model.history()
        );
        let mut rows = Vec::new();
        for (path, data) in self.evaluate.iter().zip(&sets) {
            let e = evaluate(&model, data, &device)
                .with_context(|| format!("evaluating on {}", path.display()))?;
            let last = e.rollout_by_step.last().copied().unwrap_or(f64::NAN);
            let _ = writeln!(
                md,
                "| {} | {} | {:.4e} | {:.4e} | {:.4e} | {:.4e} |",
                path.display(),
                data.records.len(),
                e.one_step_nrmse,
                e.persistence_nrmse,
                e.rollout_nrmse,
                last
            );
            rows.push(serde_json::json!({
                "collection": path,
                "trajectories": data.records.len(),
                "skip_frames": self.skip_frames,
                "history": e.history,
                "one_step_nrmse": e.one_step_nrmse,
                "persistence_nrmse": e.persistence_nrmse,
                "rollout_nrmse": e.rollout_nrmse,
                "rollout_by_step": e.rollout_by_step,
            }));
        }
        write_atomic(
            &self.run.out.join("evaluation.json"),
            serde_json::to_string_pretty(&rows)?.as_bytes(),
        )?;
        write_atomic(&self.run.out.join("evaluation.md"), md.as_bytes())?;
        println!("\n{md}");
        Ok(())
    }
}

/// A collection in memory with its first `skip` frames dropped.
fn load(path: &Path, skip: usize) -> anyhow::Result<InMemoryCollection> {
    let c = TrajectoryCollection::open(path)
        .with_context(|| format!("--evaluate {}", path.display()))?;
    let mut data =
        InMemoryCollection::load(&c).with_context(|| format!("--evaluate {}", path.display()))?;
    if skip == 0 {
        return Ok(data);
    }
    let frames = data.meta.frames;
    if skip + 2 > frames {
        bail!(
            "--skip-frames {skip}: {} has {frames} frames per trajectory; at least two must remain",
            path.display()
        );
    }
    data.records = (0..data.records.len())
        .map(|i| data.read_frames(i, skip, frames - skip))
        .collect::<Result<_, _>>()?;
    data.meta.frames = frames - skip;
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use physfm_data::{CollectionMeta, FORMAT_VERSION, TrajectoryRecord};

    fn tiny(dir: &Path) -> PathBuf {
        let n = 16;
        let frames = 5;
        let records: Vec<TrajectoryRecord> = (0..3)
            .map(|i| TrajectoryRecord {
                fields: (0..frames * n)
                    .map(|k| ((k % n) as f32 * 0.4 + i as f32).sin() * (1.0 - 0.1 * (k / n) as f32))
                    .collect(),
                times: (0..frames).map(|t| t as f64 * 0.1).collect(),
                params: vec![0.1 * (i + 1) as f64],
            })
            .collect();
        let meta = CollectionMeta {
            format_version: FORMAT_VERSION,
            name: "tiny".into(),
            channel_names: vec!["u".into()],
            param_names: vec!["nu".into()],
            axis_names: vec!["x".into()],
            spatial_shape: vec![n],
            domain_lengths: vec![1.0],
            boundary: vec![physfm_data::AxisBoundary::PERIODIC],
            frames,
            trajectories: records.len(),
            generator: "test".into(),
            seed: 0,
            provenance: serde_json::Value::Null,
        };
        let path = dir.join("tiny.zarr");
        let coords: Vec<f64> = (0..n).map(|j| j as f64 / n as f64).collect();
        let c = TrajectoryCollection::create(&path, meta, &[coords]).unwrap();
        for (i, r) in records.iter().enumerate() {
            c.write_trajectory(i, &r.fields, &r.times, &r.params)
                .unwrap();
        }
        c.finalize().unwrap();
        path
    }

    #[test]
    fn train_then_evaluate_writes_the_scores_and_skips_frames() {
        let dir = tempfile::tempdir().unwrap();
        let data = tiny(dir.path());
        let spec = dir.path().join("spec.toml");
        std::fs::write(
            &spec,
            "seed = 1\n[model]\nn_modes = 4\nwidth = 8\nn_layers = 1\nhistory = 2\n\
             [train]\nsteps = 2\nbatch_size = 2\nlearning_rate = 1e-3\ncheckpoint_every = 2\n",
        )
        .unwrap();
        let out = dir.path().join("run");
        let t = Train {
            run: RunArgs {
                spec: spec.clone(),
                train: data.clone(),
                valid: None,
                out: out.clone(),
                resume: false,
            },
            evaluate: vec![data.clone()],
            skip_frames: 1,
        };
        t.run().unwrap();
        let rows: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("evaluation.json")).unwrap())
                .unwrap();
        // 5 frames, 1 skipped, history 2: the rollout predicts the last 2.
        assert_eq!(rows[0]["history"], 2);
        assert_eq!(rows[0]["rollout_by_step"].as_array().unwrap().len(), 2);
        assert!(rows[0]["one_step_nrmse"].as_f64().unwrap().is_finite());
        assert!(
            std::fs::read_to_string(out.join("evaluation.md"))
                .unwrap()
                .contains("| 3 |")
        );
        // Too many skipped frames are refused before training, by name.
        let e = load(&data, 4).unwrap_err().to_string();
        assert!(
            e.contains("--skip-frames 4") && e.contains("5 frames"),
            "{e}"
        );
    }
}
