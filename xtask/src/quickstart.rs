//! `cargo xtask quickstart`: the first end-to-end pipeline. Parametric 1D Burgers data →
//! Zarr → FNO training → evaluation inside and outside the training range → report.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use burn::tensor::Device;
use indicatif::{ProgressBar, ProgressStyle};
use physfm_data::{CollectionMeta, FORMAT_VERSION, InMemoryCollection, TrajectoryCollection};
use physfm_eval::{
    LinePlot, Series, SpaceTimeField, StepperEvaluation, evaluate_stepper, line_plot, rollouts,
    space_time_panels,
};
use physfm_models::{Stepper1d, StepperConfig};
use physfm_pde::ParamRange;
use physfm_train::{PairDataset, TrainOptions, TrainReport, train_stepper};
use rayon::prelude::*;
use serde::Serialize;

use crate::spec::{QuickstartSpec, Role};

/// Runs the quickstart pipeline.
#[derive(Debug, clap::Args)]
pub(crate) struct Quickstart {
    /// Experiment spec (TOML).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Output directory (refused if it exists, unless --force).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Replace an existing output directory.
    #[arg(long)]
    force: bool,
    /// Override the number of training steps (for a fast smoke run).
    #[arg(long)]
    steps: Option<usize>,
}

pub(crate) fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask sits in the workspace")
        .to_path_buf()
}

/// SplitMix64: independent, reproducible seeds per (split, trajectory).
fn derive_seed(seed: u64, a: u64, b: u64) -> u64 {
    let mut z =
        seed ^ a.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ b.wrapping_mul(0xD1B5_4A32_D192_ED03);
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Stratified draw of trajectory `i` of `n` in `range`: one value per equal-probability stratum.
fn stratified(range: &ParamRange, i: usize, n: usize, seed: u64) -> f64 {
    let u = (seed >> 11) as f64 / (1u64 << 53) as f64;
    range.at((i as f64 + u) / n as f64)
}

#[derive(Debug, Serialize)]
struct SplitResult {
    name: String,
    role: Role,
    nu_min: f64,
    nu_max: f64,
    trajectories: usize,
    evaluation: StepperEvaluation,
}

#[derive(Debug, Serialize)]
struct Timings {
    generate_s: f64,
    train_s: f64,
    evaluate_s: f64,
    report_s: f64,
    total_s: f64,
}

#[derive(Debug, Serialize)]
struct Metrics {
    command: String,
    spec: QuickstartSpec,
    parameters: usize,
    train: TrainReport,
    splits: Vec<SplitResult>,
    timings: Timings,
}

impl Quickstart {
    pub(crate) fn run(self) -> anyhow::Result<()> {
        let total = Instant::now();
        let root = workspace_root();
        let config = self
            .config
            .clone()
            .unwrap_or_else(|| root.join("datasets/quickstart.toml"));
        let out = self
            .out
            .clone()
            .unwrap_or_else(|| root.join("runs/quickstart"));
        let text = std::fs::read_to_string(&config)
            .with_context(|| format!("cannot read {}", config.display()))?;
        let mut spec = QuickstartSpec::from_toml(&text, &config.display().to_string())?;
        if let Some(steps) = self.steps {
            spec.train.steps = steps;
            spec.validate().context("--steps")?;
        }
        if out.exists() {
            if !self.force {
                bail!(
                    "{} exists already; pass --force to replace it, or --out to choose another directory",
                    out.display()
                );
            }
            std::fs::remove_dir_all(&out)
                .with_context(|| format!("cannot remove {}", out.display()))?;
        }
        std::fs::create_dir_all(out.join("figures"))
            .with_context(|| format!("cannot create {}", out.display()))?;
        std::fs::write(out.join("config.toml"), &text)?;
        let command = format!(
            "cargo xtask quickstart{}",
            self.steps
                .map(|s| format!(" --steps {s}"))
                .unwrap_or_default()
        );
        println!(
            "physfm quickstart: parametric 1D Burgers, FNO, CPU ({} threads)",
            rayon::current_num_threads()
        );
        println!("  spec   {}", config.display());
        println!("  output {}", out.display());

        // 1-2. Generate and store.
        let t = Instant::now();
        let stores = generate(&spec, &out.join("data"))?;
        let generate_s = t.elapsed().as_secs_f64();
        println!(
            "  generated {} trajectories in {generate_s:.1} s",
            spec.data
                .splits
                .iter()
                .map(|s| s.trajectories)
                .sum::<usize>()
        );

        // Read back from the stores: training sees exactly what was written.
        let data: Vec<InMemoryCollection> = stores
            .iter()
            .map(|p| TrajectoryCollection::open(p).and_then(|c| InMemoryCollection::load(&c)))
            .collect::<Result<_, _>>()?;
        let train_index = spec
            .data
            .splits
            .iter()
            .position(|s| s.role == Role::Train)
            .expect("validated");

        // 3. Train.
        let t = Instant::now();
        let device = Device::flex().autodiff();
        device.seed(spec.seed);
        let pairs = PairDataset::from_collection(&data[train_index], 1)?;
        let norm = pairs.normalization(vec![true])?;
        let model = Stepper1d::new(
            StepperConfig {
                fno: spec.model.fno(),
                residual: spec.model.residual,
            },
            norm,
            &device,
        )?;
        let parameters = burn::module::Module::num_params(&model.net);
        println!(
            "  training FNO-1D ({parameters} parameters) on {} one-step pairs",
            pairs.len()
        );
        let mut train_cfg = spec.train.clone();
        train_cfg.seed = derive_seed(spec.seed, 100, 0);
        let options = TrainOptions {
            progress: true,
            log_path: Some(out.join("train_log.jsonl")),
        };
        let (model, report) = train_stepper(model, &pairs, &train_cfg, &device, &options)?;
        let train_s = t.elapsed().as_secs_f64();
        println!(
            "  trained {} steps in {train_s:.1} s ({:.1} steps/s); loss {:.3e} -> {:.3e}",
            train_cfg.steps, report.steps_per_second, report.initial_loss, report.final_loss
        );
        model.save(&out.join("model"))?;

        // 4. Evaluate (no gradients needed).
        let t = Instant::now();
        let eval_device = device.clone().inner();
        let model = Stepper1d {
            net: burn::module::Module::valid(&model.net),
            ..model
        };
        let bar = ProgressBar::new(data.len() as u64);
        bar.set_style(
            ProgressStyle::with_template("{prefix:>8} [{bar:30}] {pos}/{len} splits {msg}")
                .expect("static")
                .progress_chars("=> "),
        );
        bar.set_prefix("evaluate");
        let mut results = Vec::new();
        for (s, d) in spec.data.splits.iter().zip(&data) {
            bar.set_message(s.name.clone());
            let evaluation = evaluate_stepper(&model, d, &eval_device)?;
            results.push(SplitResult {
                name: s.name.clone(),
                role: s.role,
                nu_min: s.nu.min,
                nu_max: s.nu.max,
                trajectories: s.trajectories,
                evaluation,
            });
            bar.inc(1);
        }
        bar.finish_and_clear();
        let evaluate_s = t.elapsed().as_secs_f64();

        // 5. Report.
        let t = Instant::now();
        let figures = figures(
            &spec,
            &data,
            &results,
            &report,
            &model,
            &eval_device,
            &out.join("figures"),
        )?;
        let report_s = t.elapsed().as_secs_f64();
        let timings = Timings {
            generate_s,
            train_s,
            evaluate_s,
            report_s,
            total_s: total.elapsed().as_secs_f64(),
        };
        let metrics = Metrics {
            command: command.clone(),
            spec: spec.clone(),
            parameters,
            train: report,
            splits: results,
            timings,
        };
        write_atomic(
            &out.join("metrics.json"),
            serde_json::to_string_pretty(&metrics)?.as_bytes(),
        )?;
        write_atomic(
            &out.join("report.md"),
            markdown(&metrics, &figures).as_bytes(),
        )?;

        println!();
        for r in &metrics.splits {
            println!(
                "  {:<17} nu in [{:.3}, {:.3}]  one-step nRMSE {:.4}  (persistence {:.4})  rollout nRMSE {:.4}",
                r.name,
                r.nu_min,
                r.nu_max,
                r.evaluation.one_step_nrmse,
                r.evaluation.persistence_nrmse,
                r.evaluation.rollout_nrmse
            );
        }
        println!();
        println!("  report      {}", out.join("report.md").display());
        println!("  metrics     {}", out.join("metrics.json").display());
        println!("  figures     {}", out.join("figures").display());
        println!("  model       {}", out.join("model").display());
        println!("  data        {}", out.join("data").display());
        println!("  training log {}", out.join("train_log.jsonl").display());
        println!("  total {:.1} s", metrics.timings.total_s);
        Ok(())
    }
}

fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// Generates every split into `dir/<name>.zarr`, in parallel over trajectories.
fn generate(spec: &QuickstartSpec, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let fam = &spec.data.family;
    let total: usize = spec.data.splits.iter().map(|s| s.trajectories).sum();
    let bar = ProgressBar::new(total as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix:>8} [{bar:30}] {pos}/{len} trajectories {per_sec} ETA {eta} {msg}",
        )
        .expect("static")
        .progress_chars("=> "),
    );
    bar.set_prefix("generate");
    let mut paths = Vec::new();
    for (si, split) in spec.data.splits.iter().enumerate() {
        bar.set_message(split.name.clone());
        let path = dir.join(format!("{}.zarr", split.name));
        let meta = CollectionMeta {
            format_version: FORMAT_VERSION,
            name: "burgers1d".into(),
            channel_names: vec!["u".into()],
            param_names: vec!["nu".into()],
            axis_names: vec!["x".into()],
            spatial_shape: vec![fam.stored_resolution],
            domain_lengths: vec![fam.length],
            boundary: vec!["periodic".into()],
            frames: fam.frames,
            trajectories: split.trajectories,
            generator: format!(
                "physfm-pde {} burgers1d (ETDRK4 pseudo-spectral)",
                env!("CARGO_PKG_VERSION")
            ),
            seed: spec.seed,
            provenance: serde_json::json!({ "family": fam, "split": split }),
        };
        let store = TrajectoryCollection::create(&path, meta, &[fam.stored_coordinates()])?;
        (0..split.trajectories)
            .into_par_iter()
            .try_for_each(|i| -> anyhow::Result<()> {
                let seed = derive_seed(spec.seed, si as u64 + 1, i as u64);
                let nu = stratified(&split.nu, i, split.trajectories, seed);
                let traj = fam
                    .generate(nu, derive_seed(seed, 7, 7))
                    .with_context(|| format!("split `{}` trajectory {i}", split.name))?;
                let fields: Vec<f32> = traj.values.iter().map(|&v| v as f32).collect();
                store.write_trajectory(i, &fields, &traj.times, &[nu])?;
                bar.inc(1);
                Ok(())
            })?;
        store.finalize()?;
        paths.push(path);
    }
    bar.finish_and_clear();
    Ok(paths)
}

struct Figures {
    space_time: String,
    rollout: String,
    error_vs_nu: String,
    rollout_vs_nu: String,
    loss: String,
    example: String,
}

fn figures(
    spec: &QuickstartSpec,
    data: &[InMemoryCollection],
    results: &[SplitResult],
    report: &TrainReport,
    model: &Stepper1d,
    device: &Device,
    dir: &Path,
) -> anyhow::Result<Figures> {
    let fam = &spec.data.family;
    let train = spec.train_split();
    let shade = Some((
        train.nu.min,
        train.nu.max,
        format!("training range [{}, {}]", train.nu.min, train.nu.max),
    ));
    let dt = fam.t_end / (fam.frames - 1) as f64;

    // Space-time panels for the interpolation trajectory of median rollout error.
    let (pick_split, _) = spec
        .data
        .splits
        .iter()
        .enumerate()
        .find(|(_, s)| s.role == Role::Interpolation)
        .unwrap_or((0, &spec.data.splits[0]));
    let scores = &results[pick_split].evaluation.trajectories;
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].rollout_nrmse.total_cmp(&scores[b].rollout_nrmse));
    let pick = order[order.len() / 2];
    let d = &data[pick_split];
    let truth = &d.records[pick].fields;
    let one = InMemoryCollection {
        records: vec![d.records[pick].clone()],
        ..d.clone()
    };
    let roll = rollouts(model, &one, device)?.remove(0);
    let n = fam.stored_resolution;
    let mut pred = truth[..n].to_vec();
    pred.extend_from_slice(&roll);
    let err: Vec<f32> = pred.iter().zip(truth).map(|(p, t)| (p - t).abs()).collect();
    let nu = d.records[pick].params[0];
    let example = format!(
        "`{}` trajectory {pick}, nu = {nu:.4} (median rollout error of its split)",
        spec.data.splits[pick_split].name
    );
    space_time_panels(
        &dir.join("space_time.png"),
        &[
            SpaceTimeField {
                title: "true u(x, t)",
                values: truth,
            },
            SpaceTimeField {
                title: "predicted (rollout from t = 0)",
                values: &pred,
            },
            SpaceTimeField {
                title: "|error|",
                values: &err,
            },
        ],
        &d.coordinates[0],
        &d.records[pick].times,
        &format!("Burgers, nu = {nu:.4}: autoregressive FNO rollout"),
    )?;

    let tests: Vec<&SplitResult> = results.iter().filter(|r| r.role != Role::Train).collect();
    line_plot(
        &dir.join("rollout.png"),
        &LinePlot {
            title: "Rollout error against time".into(),
            x_label: "time t (each step 0.05)".into(),
            y_label: "nRMSE".into(),
            series: tests
                .iter()
                .map(|r| Series {
                    name: format!("{} (nu in [{}, {}])", r.name, r.nu_min, r.nu_max),
                    points: r
                        .evaluation
                        .rollout_by_step
                        .iter()
                        .enumerate()
                        .map(|(k, v)| ((k + 1) as f64 * dt, *v))
                        .collect(),
                    markers: false,
                })
                .collect(),
            log_x: false,
            log_y: true,
            shade: None,
        },
        900,
        560,
    )?;
    let per_nu = |f: fn(&physfm_eval::TrajectoryScore) -> f64| -> Vec<Series> {
        results
            .iter()
            .map(|r| Series {
                name: r.name.clone(),
                points: r
                    .evaluation
                    .trajectories
                    .iter()
                    .map(|s| (s.params[0], f(s)))
                    .collect(),
                markers: true,
            })
            .collect()
    };
    line_plot(
        &dir.join("error_vs_nu.png"),
        &LinePlot {
            title: "One-step error against viscosity".into(),
            x_label: "viscosity nu".into(),
            y_label: "one-step nRMSE".into(),
            series: per_nu(|s| s.one_step_nrmse),
            log_x: true,
            log_y: true,
            shade: shade.clone(),
        },
        900,
        560,
    )?;
    line_plot(
        &dir.join("rollout_error_vs_nu.png"),
        &LinePlot {
            title: format!(
                "Rollout error against viscosity (mean over {} steps)",
                fam.frames - 1
            ),
            x_label: "viscosity nu".into(),
            y_label: "rollout nRMSE".into(),
            series: per_nu(|s| s.rollout_nrmse),
            log_x: true,
            log_y: true,
            shade,
        },
        900,
        560,
    )?;
    line_plot(
        &dir.join("loss.png"),
        &LinePlot {
            title: "Training loss".into(),
            x_label: "step".into(),
            y_label: "MSE of the normalised increment".into(),
            series: vec![Series {
                name: "train".into(),
                points: report.losses.iter().map(|&(s, l)| (s as f64, l)).collect(),
                markers: false,
            }],
            log_x: false,
            log_y: true,
            shade: None,
        },
        900,
        500,
    )?;
    Ok(Figures {
        space_time: "figures/space_time.png".into(),
        rollout: "figures/rollout.png".into(),
        error_vs_nu: "figures/error_vs_nu.png".into(),
        rollout_vs_nu: "figures/rollout_error_vs_nu.png".into(),
        loss: "figures/loss.png".into(),
        example,
    })
}

fn markdown(m: &Metrics, f: &Figures) -> String {
    let fam = &m.spec.data.family;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# physfm quickstart: parametric 1D Burgers with an FNO\n"
    );
    let _ = writeln!(
        s,
        "Made by `{}`; every number below is in `metrics.json`.\n",
        m.command
    );
    let _ = writeln!(
        s,
        "**Data.** `u_t + (u^2/2)_x = (nu/pi) u_xx` on [0, {}), periodic, t in [0, {}], solved by ETDRK4 pseudo-spectral at {} points and stored at {} points, {} frames (dt = {:.3}). Initial conditions: sums of {} sines with wavenumbers up to {}.\n",
        fam.length,
        fam.t_end,
        fam.resolution,
        fam.stored_resolution,
        fam.frames,
        fam.t_end / (fam.frames - 1) as f64,
        fam.initial.waves,
        fam.initial.max_wavenumber
    );
    let _ = writeln!(
        s,
        "**Model.** FNO-1D, {} parameters: {} modes (neuraloperator count), width {}, {} layers, inputs u and standardised log(nu), {}.\n",
        m.parameters,
        m.spec.model.n_modes,
        m.spec.model.width,
        m.spec.model.n_layers,
        if m.spec.model.residual {
            "predicting the increment u(t+dt) - u(t)"
        } else {
            "predicting u(t+dt)"
        }
    );
    let _ = writeln!(
        s,
        "**Training.** {} AdamW steps, batch {}, peak learning rate {}, in {:.1} s ({:.1} steps/s); loss {:.3e} at the first step, {:.3e} over the last {} steps.\n",
        m.spec.train.steps,
        m.spec.train.batch_size,
        m.spec.train.learning_rate,
        m.train.seconds,
        m.train.steps_per_second,
        m.train.initial_loss,
        m.train.final_loss,
        m.spec.train.log_every
    );
    let _ = writeln!(s, "## Errors (nRMSE, PDEBench's definition)\n");
    let _ = writeln!(
        s,
        "One-step: from each true frame to the next, averaged over steps and trajectories. Persistence: the trivial prediction u(t+dt) = u(t), for scale. Rollout: autoregressive from t = 0 over all {} steps, averaged over steps.\n",
        fam.frames - 1
    );
    let _ = writeln!(
        s,
        "| split | role | nu range | trajectories | one-step | persistence | rollout (mean) | rollout (last step) |"
    );
    let _ = writeln!(s, "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |");
    for r in &m.splits {
        let e = &r.evaluation;
        let _ = writeln!(
            s,
            "| {} | {:?} | [{}, {}] | {} | {:.4} | {:.4} | {:.4} | {:.4} |",
            r.name,
            r.role,
            r.nu_min,
            r.nu_max,
            r.trajectories,
            e.one_step_nrmse,
            e.persistence_nrmse,
            e.rollout_nrmse,
            e.rollout_by_step.last().copied().unwrap_or(f64::NAN)
        );
    }
    let _ = writeln!(
        s,
        "\nPDEBench's whole suite on the rollouts (frames 1 to {}; `pdebench/models/metrics.py` definitions, Fourier bands [0, 4), [4, 12), [12, ..)):\n",
        fam.frames - 1
    );
    let _ = writeln!(
        s,
        "| split | RMSE | nRMSE | cRMSE | bRMSE | max error | fRMSE low | fRMSE mid | fRMSE high |"
    );
    let _ = writeln!(
        s,
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    for r in &m.splits {
        let p = &r.evaluation.rollout_suite;
        let _ = writeln!(
            s,
            "| {} | {:.3e} | {:.4} | {:.3e} | {:.3e} | {:.3e} | {:.3e} | {:.3e} | {:.3e} |",
            r.name,
            p.rmse,
            p.nrmse,
            p.crmse,
            p.brmse,
            p.max_error,
            p.frmse[0],
            p.frmse[1],
            p.frmse[2]
        );
    }
    let _ = writeln!(s, "\n## Figures\n");
    let _ = writeln!(
        s,
        "Predicted against true space-time field, {}:\n\n![space-time]({})\n",
        f.example, f.space_time
    );
    let _ = writeln!(
        s,
        "Rollout error against time for each test split:\n\n![rollout]({})\n",
        f.rollout
    );
    let _ = writeln!(
        s,
        "Error against viscosity, one dot per trajectory, training range shaded:\n\n![one-step error vs nu]({})\n\n![rollout error vs nu]({})\n",
        f.error_vs_nu, f.rollout_vs_nu
    );
    let _ = writeln!(s, "Training loss:\n\n![loss]({})\n", f.loss);
    let t = &m.timings;
    let _ = writeln!(
        s,
        "## Timings\n\n| phase | seconds |\n| --- | ---: |\n| generate | {:.1} |\n| train | {:.1} |\n| evaluate | {:.1} |\n| report | {:.1} |\n| total | {:.1} |\n",
        t.generate_s, t.train_s, t.evaluate_s, t.report_s, t.total_s
    );
    let _ = writeln!(
        s,
        "## Files\n\n- `config.toml`: the spec this run used\n- `data/*.zarr`: the generated trajectories (Zarr v3)\n- `model/`: `model.json` (config, normalisation) and `weights.bpk`\n- `train_log.jsonl`: the training log\n- `metrics.json`: every number of this report"
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn existing_output_is_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("keep.txt"), "precious").unwrap();
        let cmd = Quickstart {
            config: None,
            out: Some(dir.path().to_path_buf()),
            force: false,
            steps: None,
        };
        let e = format!("{:#}", cmd.run().unwrap_err());
        assert!(e.contains("exists already") && e.contains("--force"), "{e}");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("keep.txt")).unwrap(),
            "precious"
        );
    }

    /// The whole pipeline on a tiny spec: every promised output exists and holds sane numbers.
    #[test]
    fn tiny_pipeline_writes_report_metrics_figures_and_model() {
        let dir = tempfile::tempdir().unwrap();
        let spec = r#"
seed = 3
[data.family]
resolution = 128
stored_resolution = 32
t_end = 0.2
frames = 5
[[data.splits]]
name = "train"
role = "train"
nu = { min = 0.02, max = 0.1 }
trajectories = 6
[[data.splits]]
name = "test_interp"
role = "interpolation"
nu = { min = 0.02, max = 0.1 }
trajectories = 3
[[data.splits]]
name = "test_extrap"
role = "extrapolation"
nu = { min = 0.1, max = 0.2 }
trajectories = 3
[model]
n_modes = 8
width = 8
n_layers = 2
residual = true
[train]
steps = 20
batch_size = 8
learning_rate = 1e-3
"#;
        let config = dir.path().join("tiny.toml");
        std::fs::write(&config, spec).unwrap();
        let out = dir.path().join("run");
        Quickstart {
            config: Some(config),
            out: Some(out.clone()),
            force: false,
            steps: None,
        }
        .run()
        .unwrap();
        for f in [
            "report.md",
            "metrics.json",
            "config.toml",
            "train_log.jsonl",
            "model/model.json",
            "model/weights.bpk",
        ] {
            assert!(out.join(f).is_file(), "{f} missing");
        }
        for f in [
            "space_time",
            "rollout",
            "error_vs_nu",
            "rollout_error_vs_nu",
            "loss",
        ] {
            let png = std::fs::read(out.join(format!("figures/{f}.png"))).unwrap();
            assert_eq!(&png[..4], b"\x89PNG", "{f}");
        }
        let m: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("metrics.json")).unwrap())
                .unwrap();
        let splits = m["splits"].as_array().unwrap();
        assert_eq!(splits.len(), 3);
        for s in splits {
            let e = &s["evaluation"];
            assert!(e["one_step_nrmse"].as_f64().unwrap().is_finite());
            assert_eq!(e["rollout_by_step"].as_array().unwrap().len(), 4);
            // Two independent computations of the rollout nRMSE agree.
            let suite = e["rollout_suite"]["nrmse"].as_f64().unwrap();
            let mean = e["rollout_nrmse"].as_f64().unwrap();
            assert!(
                (suite - mean).abs() <= 1e-9 * mean.max(1.0),
                "{suite} vs {mean}"
            );
        }
        let report = std::fs::read_to_string(out.join("report.md")).unwrap();
        assert!(
            report.contains("| test_extrap | Extrapolation | [0.1, 0.2] | 3 |"),
            "{report}"
        );
        // The stores are complete collections that read back.
        let c = TrajectoryCollection::open(&out.join("data/test_interp.zarr")).unwrap();
        assert_eq!(c.len(), 3);
        // A second run into the same directory is refused.
        let again = Quickstart {
            config: Some(dir.path().join("tiny.toml")),
            out: Some(out),
            force: false,
            steps: None,
        }
        .run();
        assert!(again.is_err());
    }

    #[test]
    fn seeds_are_distinct_and_stratified_draws_cover_the_range() {
        let mut seen = std::collections::HashSet::new();
        for a in 0..4 {
            for b in 0..100 {
                assert!(seen.insert(derive_seed(1, a, b)));
            }
        }
        let r = ParamRange {
            min: 0.05,
            max: 0.5,
            scale: physfm_pde::Scale::Log,
        };
        let v: Vec<f64> = (0..10)
            .map(|i| stratified(&r, i, 10, derive_seed(3, 0, i as u64)))
            .collect();
        for (i, x) in v.iter().enumerate() {
            assert!(*x >= r.at(i as f64 / 10.0) && *x <= r.at((i + 1) as f64 / 10.0));
        }
    }
}
