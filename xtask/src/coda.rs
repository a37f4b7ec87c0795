//! `cargo xtask coda`: CoDA's own setting (Kirchmeyer et al., ICML 2022) on a `coda_*` preset:
//! meta-training on the training environments, adaptation of a new context to each new
//! environment from one trajectory, rollout MSE in and out of the training environments, next
//! to the paper's figures where the spec gives them.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;
use burn::tensor::Device;
use physfm_adapt::{CodaConfig, CodaData, CodaOutcome, CodaSetup, RolloutExample, coda_protocol};
use physfm_data::InMemoryCollection;
use physfm_eval::{SpaceTimeField, snapshot_panels};
use physfm_models::FnoConfig;
use physfm_train::{TrainConfig, TrainOptions};
use serde::{Deserialize, Serialize};

use crate::pretrain::presets;
use crate::workspace::write_atomic;

/// Meta-train CoDA on a preset's training environments, adapt to its new environments from
/// one trajectory each, and score both (`coda.md`, `coda.json` in OUT).
#[derive(Debug, clap::Args)]
pub(crate) struct Coda {
    /// The experiment: `specs/coda_lotka_volterra.toml`, `specs/coda_gray_scott.toml`,
    /// `specs/coda_navier_stokes.toml`.
    #[arg(long)]
    spec: PathBuf,
    /// Output directory (spec copy, meta-training log and checkpoints, results).
    #[arg(long)]
    out: PathBuf,
    /// Where the preset's collections are (generated there when missing). Default: data/.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Continue meta-training from OUT's last checkpoint.
    #[arg(long)]
    resume: bool,
}

/// The reference figures of one system, as the paper reports them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Paper {
    /// Where the numbers come from (paper, table, row).
    source: String,
    /// In-domain test MSE.
    in_domain_mse: f64,
    /// Adaptation test MSE.
    adaptation_mse: f64,
}

/// A `specs/coda_*.toml` file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CodaSpec {
    /// A preset with splits `train`, `train_test`, `adapt`, `adapt_test`.
    preset: String,
    model: FnoConfig,
    coda: CodaConfig,
    train: TrainConfig,
    adapt: TrainConfig,
    /// The paper's figures for this system, if it reports them.
    #[serde(default)]
    paper: Option<Paper>,
}

#[derive(Debug, Serialize)]
struct Results<'a> {
    spec: &'a CodaSpec,
    outcome: &'a CodaOutcome,
}

impl Coda {
    pub(crate) fn run(self) -> anyhow::Result<()> {
        let (spec, text): (CodaSpec, String) = crate::spec::read_spec(&self.spec)?;
        let presets = presets(&self.data);
        let load = |split: &str| -> anyhow::Result<_> {
            Ok(presets.collection(&spec.preset, split, 1, 0)?)
        };
        let (train, train_test, adapt, adapt_test) = (
            load("train")?,
            load("train_test")?,
            load("adapt")?,
            load("adapt_test")?,
        );
        println!(
            "{}: {} training and {} adaptation trajectories, {} frames, grid {:?}, channels {:?}",
            spec.preset,
            train.records.len(),
            adapt.records.len(),
            train.meta.frames,
            train.meta.spatial_shape,
            train.meta.channel_names
        );
        std::fs::create_dir_all(&self.out)?;
        write_atomic(&self.out.join("spec.toml"), text.as_bytes())?;
        let device = Device::flex();
        device.seed(spec.train.seed);
        let setup = CodaSetup {
            model: spec.model.clone(),
            coda: spec.coda.clone(),
            train: spec.train.clone(),
            adapt: spec.adapt.clone(),
        };
        let options = TrainOptions {
            groups: Vec::new(),
            progress: true,
            log_path: Some(self.out.join("train.jsonl")),
            checkpoint_dir: Some(self.out.join("checkpoints")),
            resume: self.resume,
        };
        let outcome = coda_protocol(
            CodaData {
                train: &train,
                train_test: &train_test,
                adapt: &adapt,
                adapt_test: &adapt_test,
            },
            &setup,
            &device.autodiff(),
            &options,
        )?;
        let mut md = table(&spec, &outcome, &train.meta.param_names);
        if adapt_test.meta.spatial_shape.len() == 2 {
            md.push_str("\nFirst held-out trajectory of each new environment after adaptation (first channel):\n\n");
            for (i, ex) in outcome.examples.iter().enumerate() {
                let name = format!("snapshots_env{i}.png");
                snapshots(&self.out.join(&name), &adapt_test, ex)?;
                let _ = writeln!(md, "![new environment {:?}]({name})", ex.params);
            }
        }
        print!("{md}");
        write_atomic(&self.out.join("coda.md"), md.as_bytes())?;
        write_atomic(
            &self.out.join("coda.json"),
            serde_json::to_string_pretty(&Results {
                spec: &spec,
                outcome: &outcome,
            })?
            .as_bytes(),
        )?;
        println!("wrote {}", self.out.join("coda.md").display());
        Ok(())
    }
}

/// True, predicted and error fields of `ex`'s trajectory (the first of `test` with its
/// parameters), first channel, at the middle and last frames: one row each.
fn snapshots(path: &Path, test: &InMemoryCollection, ex: &RolloutExample) -> anyhow::Result<()> {
    let m = &test.meta;
    let record = test
        .records
        .iter()
        .find(|r| r.params == ex.params)
        .context("no held-out trajectory of this environment")?;
    let (n, c, t) = (
        m.spatial_shape.iter().product::<usize>(),
        m.channel_names.len(),
        m.frames,
    );
    let fl = n * c;
    let channel = |frame: &[f32]| -> Vec<f32> { frame.iter().step_by(c).copied().collect() };
    let mut fields: Vec<(String, Vec<f32>)> = Vec::new();
    for k in [t / 2, t - 1] {
        let truth = channel(&record.fields[k * fl..(k + 1) * fl]);
        let pred = channel(&ex.predicted[(k - 1) * fl..k * fl]);
        let err: Vec<f32> = pred.iter().zip(&truth).map(|(p, q)| p - q).collect();
        let time = record.times[k];
        fields.push((format!("true, t = {time}"), truth));
        fields.push((format!("predicted, t = {time}"), pred));
        fields.push((format!("error, t = {time}"), err));
    }
    let panels: Vec<SpaceTimeField<'_>> = fields
        .iter()
        .map(|(title, values)| SpaceTimeField { title, values })
        .collect();
    snapshot_panels(
        path,
        &panels,
        &test.coordinates[0],
        &test.coordinates[1],
        3,
        &format!("{} {:?}", m.channel_names[0], ex.params),
    )?;
    Ok(())
}

/// The results as Markdown: the summary next to the paper, then every environment.
fn table(spec: &CodaSpec, o: &CodaOutcome, names: &[String]) -> String {
    let mut s = String::new();
    let r = &o.train_report;
    let _ = writeln!(
        s,
        "# CoDA on `{}`\n\nMeta-training: {} steps in {:.0} s (loss {:.3e} -> {:.3e}); \
         adaptation: {} steps per new environment, {:.0} s in all.\n",
        spec.preset,
        spec.train.steps,
        r.seconds,
        r.initial_loss,
        r.final_loss,
        spec.adapt.steps,
        o.adapt_seconds
    );
    let _ = writeln!(
        s,
        "| | in-domain MSE | adaptation MSE |\n| --- | --- | --- |\n\
         | physfm | {:.3e} | {:.3e} |\n\
         | physfm, meta-trained model with a zero context (no adaptation) | | {:.3e} |",
        o.in_domain_mse, o.adaptation_mse, o.adaptation_mse_before
    );
    if let Some(p) = &spec.paper {
        let _ = writeln!(
            s,
            "| CoDA paper ({}) | {:.3e} | {:.3e} |",
            p.source, p.in_domain_mse, p.adaptation_mse
        );
    }
    let _ = writeln!(
        s,
        "\nMSE of the autoregressive rollout from the first frame over every later frame, \
         point and channel, in the data's units, averaged over held-out trajectories, then \
         environments.\n"
    );
    let header = names.join(", ");
    let _ = writeln!(
        s,
        "| environment ({header}) | kind | trajectories | MSE | MSE, zero context | context |\n\
         | --- | --- | --- | --- | --- | --- |"
    );
    for (kind, scores) in [("training", &o.in_domain), ("new", &o.adaptation)] {
        for e in scores.iter() {
            let p: Vec<String> = e.params.iter().map(|v| format!("{v}")).collect();
            let c: Vec<String> = e.context.iter().map(|v| format!("{v:.3}")).collect();
            let _ = writeln!(
                s,
                "| {} | {kind} | {} | {:.3e} | {:.3e} | [{}] |",
                p.join(", "),
                e.trajectories,
                e.mse,
                e.mse_zero_context,
                c.join(", ")
            );
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `cargo xtask coda` on `spec` into `out`, with its data under `dir/data`.
    fn run_coda(spec: &Path, out: &Path, dir: &Path) -> anyhow::Result<()> {
        Coda {
            spec: spec.to_path_buf(),
            out: out.to_path_buf(),
            data: Some(dir.join("data")),
            resume: false,
        }
        .run()
    }

    /// The command end to end on the Lotka-Volterra preset with a token budget: it writes its
    /// table and JSON, `report` turns the run into a report, and an unknown spec key is named.
    #[test]
    fn coda_runs_the_setting_and_reports() {
        let dir = tempfile::tempdir().unwrap();
        let spec = dir.path().join("coda.toml");
        let text = "preset = \"coda_lotka_volterra\"\n\
            [model]\nin_channels = 2\nout_channels = 2\nn_modes = [1]\nwidth = 8\nn_layers = 1\n\
            positional_embedding = false\n\
            [coda]\ncontext_dim = 2\nlambda_xi = 1e-4\nlambda_w = 1e-6\n\
            [train]\nsteps = 4\nbatch_size = 4\nlearning_rate = 1e-3\nlog_every = 2\ncheckpoint_every = 2\n\
            [adapt]\nsteps = 2\nbatch_size = 4\nlearning_rate = 1e-2\nlog_every = 1\n\
            [paper]\nsource = \"test\"\nin_domain_mse = 1.0\nadaptation_mse = 2.0\n";
        std::fs::write(&spec, text).unwrap();
        let out = dir.path().join("run");
        run_coda(&spec, &out, dir.path()).unwrap();
        let md = std::fs::read_to_string(out.join("coda.md")).unwrap();
        assert!(
            md.contains("| CoDA paper (test) | 1.000e0 | 2.000e0 |"),
            "{md}"
        );
        assert_eq!(md.matches("| training |").count(), 9, "{md}");
        assert_eq!(md.matches("| new |").count(), 4, "{md}");
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("coda.json")).unwrap()).unwrap();
        assert!(
            json["outcome"]["adaptation_mse"]
                .as_f64()
                .unwrap()
                .is_finite()
        );
        assert!(physfm_eval::write_other_report(&out).unwrap());
        let report = std::fs::read_to_string(out.join("report.md")).unwrap();
        assert!(report.contains("training.png") && report.contains("| new |"));
        assert!(out.join("training.png").exists());

        std::fs::write(&spec, text.replace("lambda_w", "lambda_W")).unwrap();
        let e = run_coda(&spec, &dir.path().join("bad"), dir.path()).unwrap_err();
        assert!(format!("{e:#}").contains("lambda_W"), "{e:#}");
    }

    /// A 2D system (Gray-Scott, token budget): the report links one snapshot figure (true,
    /// predicted, error) per new environment.
    #[test]
    fn a_2d_coda_run_draws_snapshots_of_the_new_environments() {
        let dir = tempfile::tempdir().unwrap();
        let spec = dir.path().join("coda.toml");
        std::fs::write(
            &spec,
            "preset = \"coda_gray_scott\"\n\
             [model]\nin_channels = 2\nout_channels = 2\nn_modes = [4, 4]\nwidth = 4\nn_layers = 1\n\
             [coda]\ncontext_dim = 2\nlambda_xi = 1e-4\nlambda_w = 1e-6\n\
             [train]\nsteps = 2\nbatch_size = 2\nlearning_rate = 1e-3\nlog_every = 1\n\
             [adapt]\nsteps = 1\nbatch_size = 2\nlearning_rate = 1e-2\nlog_every = 1\n",
        )
        .unwrap();
        let out = dir.path().join("run");
        run_coda(&spec, &out, dir.path()).unwrap();
        let md = std::fs::read_to_string(out.join("coda.md")).unwrap();
        for i in 0..4 {
            let png = format!("snapshots_env{i}.png");
            assert!(md.contains(&png), "{md}");
            let bytes = std::fs::read(out.join(&png)).unwrap();
            assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        }
    }
}
