//! `cargo xtask report <run-dir>`: evaluates a run's model on its test splits, runs the
//! protocols (error against the PDE parameter with the training range apart, error at
//! coarser resolutions), and writes `report.md`, `metrics.json` and PNG figures into the
//! run directory. `cargo xtask report --compare A B` puts two reported runs side by side.
//! `cargo xtask quickstart` ends with the same report.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use burn::tensor::Device;
use indicatif::{ProgressBar, ProgressStyle};
use physfm_data::{InMemoryCollection, TrajectoryCollection};
use physfm_eval::{
    LinePlot, ParameterProtocol, ResolutionPoint, Series, SpaceTimeField, StepperEvaluation,
    evaluate, line_plot, resolution_protocol, rollouts, space_time_panels, summarise_parameter,
    time_to_threshold,
};
use physfm_models::Stepper1d;
use physfm_train::TrainReport;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::spec::{QuickstartSpec, Role};
use crate::workspace::write_atomic;

/// Writes a run's report, or compares two reported runs.
#[derive(Debug, clap::Args)]
pub(crate) struct Report {
    /// Run directory made by `cargo xtask quickstart` (config.toml, run.json, data/, model/),
    /// `cargo xtask pretrain` or `cargo xtask coda`.
    #[arg(required_unless_present = "compare")]
    run: Option<PathBuf>,
    /// Compare two reported runs side by side (their metrics.json) instead.
    #[arg(long, num_args = 2, value_names = ["A", "B"], conflicts_with = "run")]
    compare: Option<Vec<PathBuf>>,
    /// Output directory of a comparison (default: `A/compare`).
    #[arg(long)]
    out: Option<PathBuf>,
    /// nRMSE level of the time-to-threshold (steps until the rollout error passes it).
    #[arg(long, default_value_t = 0.1)]
    threshold: f64,
    /// Coarsening factors of the resolution protocol (every k-th grid point kept).
    #[arg(long, value_delimiter = ',', default_value = "2,4")]
    factors: Vec<usize>,
}

impl Report {
    pub(crate) fn run(self) -> anyhow::Result<()> {
        if let Some(runs) = &self.compare {
            let (a, b) = (&runs[0], &runs[1]);
            let out = self.out.clone().unwrap_or_else(|| a.join("compare"));
            compare_runs(a, b, &out)?;
            println!("  comparison  {}", out.join("compare.md").display());
            return Ok(());
        }
        let run = self.run.as_ref().expect("clap requires it");
        if physfm_eval::write_other_report(run)? {
            println!("  report      {}", run.join("report.md").display());
            println!("  metrics     {}", run.join("metrics.json").display());
            return Ok(());
        }
        let options = ReportOptions {
            threshold: self.threshold,
            factors: self.factors.clone(),
        };
        let m = write_report(run, &options)?;
        for r in &m.splits {
            println!(
                "  {:<17} one-step nRMSE {:.4}  rollout nRMSE {:.4}",
                r.name, r.evaluation.one_step_nrmse, r.evaluation.rollout_nrmse
            );
        }
        println!("  report      {}", run.join("report.md").display());
        println!("  metrics     {}", run.join("metrics.json").display());
        Ok(())
    }
}

/// Settings of a report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct ReportOptions {
    /// nRMSE level of the time-to-threshold.
    pub(crate) threshold: f64,
    /// Coarsening factors of the resolution protocol.
    pub(crate) factors: Vec<usize>,
}

impl Default for ReportOptions {
    fn default() -> Self {
        Self {
            threshold: 0.1,
            factors: vec![2, 4],
        }
    }
}

/// What the training run recorded (`run.json`, written by `cargo xtask quickstart`).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct RunInfo {
    /// The command that made the run.
    pub(crate) command: String,
    /// Trainable parameters of the model.
    pub(crate) parameters: usize,
    /// The training report.
    pub(crate) train: TrainReport,
    /// Seconds spent generating data.
    pub(crate) generate_s: f64,
    /// Seconds spent training.
    pub(crate) train_s: f64,
}

#[derive(Debug, Serialize)]
pub(crate) struct SplitResult {
    pub(crate) name: String,
    role: Role,
    pub(crate) nu_min: f64,
    pub(crate) nu_max: f64,
    trajectories: usize,
    /// Rollout steps until the mean nRMSE first exceeds the threshold (`None`: never).
    steps_to_threshold: Option<usize>,
    pub(crate) evaluation: StepperEvaluation,
}

#[derive(Debug, Serialize)]
struct Timings {
    generate_s: f64,
    train_s: f64,
    evaluate_s: f64,
    report_s: f64,
}

#[derive(Debug, Serialize)]
pub(crate) struct RunMetrics {
    command: String,
    spec: QuickstartSpec,
    parameters: usize,
    options: ReportOptions,
    train: TrainReport,
    pub(crate) splits: Vec<SplitResult>,
    /// Error against nu over every test split, interpolation and extrapolation apart.
    parameter_protocol: ParameterProtocol,
    /// The resolution protocol on `resolution_split`.
    resolution_split: String,
    resolution: Vec<ResolutionPoint>,
    timings: Timings,
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path, what: &str) -> anyhow::Result<T> {
    let text = std::fs::read_to_string(path).with_context(|| {
        format!(
            "cannot read {}: is {what} a run directory? `report` reads {}",
            path.display(),
            physfm_eval::RUN_KINDS
        )
    })?;
    serde_json::from_str(&text).with_context(|| format!("{} is not valid", path.display()))
}

/// Evaluates the run in `run` and writes its report, metrics and figures there.
pub(crate) fn write_report(run: &Path, options: &ReportOptions) -> anyhow::Result<RunMetrics> {
    if options.factors.contains(&0) {
        bail!("--factors: a coarsening factor must be at least 1");
    }
    let config = run.join("config.toml");
    let text = std::fs::read_to_string(&config).with_context(|| {
        format!(
            "cannot read {}: is {} a run directory made by `cargo xtask quickstart`?",
            config.display(),
            run.display()
        )
    })?;
    let spec = QuickstartSpec::from_toml(&text, &config.display().to_string())?;
    let info: RunInfo = read_json(&run.join("run.json"), &run.display().to_string())?;
    let data: Vec<InMemoryCollection> = spec
        .data
        .splits
        .iter()
        .map(|s| {
            let p = run.join("data").join(format!("{}.zarr", s.name));
            TrajectoryCollection::open(&p)
                .and_then(|c| InMemoryCollection::load(&c))
                .with_context(|| format!("split `{}`", s.name))
        })
        .collect::<anyhow::Result<_>>()?;
    let device = Device::flex();
    let model = Stepper1d::load(&run.join("model"), &device)?;

    let t = Instant::now();
    let bar = ProgressBar::new(data.len() as u64 + 1);
    bar.set_style(
        ProgressStyle::with_template("{prefix:>8} [{bar:30}] {pos}/{len} {msg}")
            .expect("static")
            .progress_chars("=> "),
    );
    bar.set_prefix("evaluate");
    let mut splits = Vec::new();
    for (s, d) in spec.data.splits.iter().zip(&data) {
        bar.set_message(s.name.clone());
        let evaluation = evaluate(&model, d, &device)?;
        splits.push(SplitResult {
            name: s.name.clone(),
            role: s.role,
            nu_min: s.nu.min,
            nu_max: s.nu.max,
            trajectories: s.trajectories,
            steps_to_threshold: time_to_threshold(&evaluation.rollout_by_step, options.threshold),
            evaluation,
        });
        bar.inc(1);
    }
    let train = spec.train_split();
    let test_scores: Vec<_> = splits
        .iter()
        .filter(|r| r.role != Role::Train)
        .flat_map(|r| r.evaluation.trajectories.iter().cloned())
        .collect();
    let parameter_protocol =
        summarise_parameter(&test_scores, "nu", 0, (train.nu.min, train.nu.max));
    let res_index = spec
        .data
        .splits
        .iter()
        .position(|s| s.role == Role::Interpolation)
        .unwrap_or(0);
    let res_split = spec.data.splits[res_index].name.clone();
    bar.set_message(format!("resolution protocol on {res_split}"));
    // Factor 1 is the split's own evaluation, made above; only coarser grids are new work.
    let own = &splits[res_index].evaluation;
    let mut resolution = vec![ResolutionPoint {
        points: data[res_index].meta.spatial_shape[0],
        factor: 1,
        one_step_nrmse: own.one_step_nrmse,
        rollout_nrmse: own.rollout_nrmse,
        rollout_by_step: own.rollout_by_step.clone(),
    }];
    let coarser: Vec<usize> = options
        .factors
        .iter()
        .copied()
        .filter(|&f| f != 1)
        .collect();
    resolution.extend(resolution_protocol(
        &model,
        &data[res_index],
        &coarser,
        &device,
    )?);
    bar.inc(1);
    bar.finish_and_clear();
    let evaluate_s = t.elapsed().as_secs_f64();

    let t = Instant::now();
    std::fs::create_dir_all(run.join("figures"))?;
    let mut metrics = RunMetrics {
        command: info.command,
        spec,
        parameters: info.parameters,
        options: options.clone(),
        train: info.train,
        splits,
        parameter_protocol,
        resolution_split: res_split,
        resolution,
        timings: Timings {
            generate_s: info.generate_s,
            train_s: info.train_s,
            evaluate_s,
            report_s: 0.0,
        },
    };
    let figures = figures(&metrics, &data, &model, &device, &run.join("figures"))?;
    metrics.timings.report_s = t.elapsed().as_secs_f64();
    write_atomic(
        &run.join("metrics.json"),
        serde_json::to_string_pretty(&metrics)?.as_bytes(),
    )?;
    write_atomic(
        &run.join("report.md"),
        markdown(&metrics, &figures).as_bytes(),
    )?;
    Ok(metrics)
}

struct Figures {
    resolution: String,
    space_time: String,
    rollout: String,
    error_vs_nu: String,
    rollout_vs_nu: String,
    loss: String,
    example: String,
}

fn figures(
    m: &RunMetrics,
    data: &[InMemoryCollection],
    model: &Stepper1d,
    device: &Device,
    dir: &Path,
) -> anyhow::Result<Figures> {
    let (spec, results, report) = (&m.spec, &m.splits, &m.train);
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
    // The rollout starts from the model's history window of true frames.
    let mut pred = truth[..model.history() * n].to_vec();
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
        &LinePlot::log_y(
            "Rollout error against time".to_string(),
            "time t (each step 0.05)",
            "nRMSE",
            tests
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
        ),
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
            bands: Vec::new(),
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
            bands: Vec::new(),
            shade,
        },
        900,
        560,
    )?;
    line_plot(
        &dir.join("loss.png"),
        &LinePlot::log_y(
            "Training loss".to_string(),
            "step",
            "MSE of the normalised increment",
            vec![Series {
                name: "train".into(),
                points: report.losses.iter().map(|&(s, l)| (s as f64, l)).collect(),
                markers: false,
            }],
        ),
        900,
        500,
    )?;
    line_plot(
        &dir.join("resolution.png"),
        &LinePlot {
            title: format!(
                "Error against resolution (`{}`; trained at {} points)",
                m.resolution_split, fam.stored_resolution
            ),
            x_label: "grid points".into(),
            y_label: "nRMSE".into(),
            series: vec![
                Series {
                    name: "one-step".into(),
                    points: m
                        .resolution
                        .iter()
                        .map(|r| (r.points as f64, r.one_step_nrmse))
                        .collect(),
                    markers: true,
                },
                Series {
                    name: "rollout (mean over steps)".into(),
                    points: m
                        .resolution
                        .iter()
                        .map(|r| (r.points as f64, r.rollout_nrmse))
                        .collect(),
                    markers: true,
                },
            ],
            log_x: true,
            log_y: true,
            shade: None,
            bands: Vec::new(),
        },
        900,
        500,
    )?;
    Ok(Figures {
        resolution: "figures/resolution.png".into(),
        space_time: "figures/space_time.png".into(),
        rollout: "figures/rollout.png".into(),
        error_vs_nu: "figures/error_vs_nu.png".into(),
        rollout_vs_nu: "figures/rollout_error_vs_nu.png".into(),
        loss: "figures/loss.png".into(),
        example,
    })
}

fn markdown(m: &RunMetrics, f: &Figures) -> String {
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
        "| split | role | nu range | trajectories | one-step | persistence | rollout (mean) | rollout (last step) | steps to nRMSE > {} |",
        m.options.threshold
    );
    let _ = writeln!(
        s,
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    for r in &m.splits {
        let e = &r.evaluation;
        let _ = writeln!(
            s,
            "| {} | {:?} | [{}, {}] | {} | {:.4} | {:.4} | {:.4} | {:.4} | {} |",
            r.name,
            r.role,
            r.nu_min,
            r.nu_max,
            r.trajectories,
            e.one_step_nrmse,
            e.persistence_nrmse,
            e.rollout_nrmse,
            e.rollout_by_step.last().copied().unwrap_or(f64::NAN),
            r.steps_to_threshold
                .map(|k| k.to_string())
                .unwrap_or_else(|| format!("never ({} steps)", e.rollout_by_step.len()))
        );
    }
    let _ = writeln!(
        s,
        "\nThe whole metric suite on the rollouts (frames 1 to {}, means over steps): PDEBench's definitions (`pdebench/models/metrics.py`, Fourier bands [0, 4), [4, 12), [12, ..)), The Well's VRMSE, neuraloperator's relative L2 and H1; per step in `metrics.json`.\n",
        fam.frames - 1
    );
    let _ = writeln!(
        s,
        "| split | RMSE | nRMSE | cRMSE | max error | bRMSE | fRMSE low | fRMSE mid | fRMSE high | VRMSE | rel. L2 | rel. H1 |"
    );
    let _ = writeln!(
        s,
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    for r in &m.splits {
        let q = &r.evaluation.rollout_suite;
        let _ = write!(s, "| {} |", r.name);
        for (name, g) in q.grids() {
            let v = g.mean();
            let _ = if name == "nrmse" || name.starts_with("rel") || name == "vrmse" {
                write!(s, " {v:.4} |")
            } else {
                write!(s, " {v:.3e} |")
            };
        }
        let _ = writeln!(s);
    }
    let p = &m.parameter_protocol;
    let _ = writeln!(
        s,
        "\n## Out of distribution: error against nu\n\nEvery test trajectory by where its nu lies relative to the training range [{}, {}] (interpolation inside, extrapolation below and above):\n",
        p.train_range.0, p.train_range.1
    );
    let _ = writeln!(
        s,
        "| region | trajectories | one-step (mean) | rollout (mean) | rollout (median) | rollout (max) |"
    );
    let _ = writeln!(s, "| --- | ---: | ---: | ---: | ---: | ---: |");
    for g in &p.regions {
        let _ = writeln!(
            s,
            "| {:?} | {} | {:.4} | {:.4} | {:.4} | {:.4} |",
            g.region,
            g.trajectories,
            g.one_step_mean,
            g.rollout_mean,
            g.rollout_median,
            g.rollout_max
        );
    }
    let _ = writeln!(
        s,
        "\n## Resolution\n\nThe model (trained at {} points) on `{}` with every k-th grid point kept:\n",
        fam.stored_resolution, m.resolution_split
    );
    let _ = writeln!(s, "| points | k | one-step | rollout (mean) |");
    let _ = writeln!(s, "| ---: | ---: | ---: | ---: |");
    for r in &m.resolution {
        let _ = writeln!(
            s,
            "| {} | {} | {:.4} | {:.4} |",
            r.points, r.factor, r.one_step_nrmse, r.rollout_nrmse
        );
    }
    let _ = writeln!(s, "\n![resolution]({})", f.resolution);
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
        "## Timings\n\n| phase | seconds |\n| --- | ---: |\n| generate | {:.1} |\n| train | {:.1} |\n| evaluate (with the protocols) | {:.1} |\n| figures | {:.1} |\n",
        t.generate_s, t.train_s, t.evaluate_s, t.report_s
    );
    let _ = writeln!(
        s,
        "## Files\n\n- `config.toml`: the spec this run used\n- `data/*.zarr`: the generated trajectories (Zarr v3)\n- `model/`: `config.json` (kind, configuration, normalisation), `model.safetensors` (weights) and `spec.toml` (the run's spec)\n- `run.json`: the command, the training report and its timings\n- `train_log.jsonl`: the training log\n- `metrics.json`: every number of this report (remade by `cargo xtask report <run-dir>`)"
    );
    s
}

/// One split's numbers read back from a run's `metrics.json`.
struct SplitNumbers {
    name: String,
    one_step: f64,
    rollout: f64,
    curve: Vec<f64>,
}

fn split_numbers(m: &Value, path: &Path) -> anyhow::Result<Vec<SplitNumbers>> {
    let bad = || anyhow::anyhow!("{} lacks the splits of a physfm report", path.display());
    let f = |v: &Value| v.as_f64().unwrap_or(f64::NAN);
    m["splits"]
        .as_array()
        .ok_or_else(bad)?
        .iter()
        .map(|s| {
            let e = &s["evaluation"];
            Ok(SplitNumbers {
                name: s["name"].as_str().ok_or_else(bad)?.to_string(),
                one_step: f(&e["one_step_nrmse"]),
                rollout: f(&e["rollout_nrmse"]),
                curve: e["rollout_by_step"]
                    .as_array()
                    .ok_or_else(bad)?
                    .iter()
                    .map(f)
                    .collect(),
            })
        })
        .collect()
}

/// Writes `out/compare.md` (+ figures and `compare.json`): runs `a` and `b` side by side.
pub(crate) fn compare_runs(a: &Path, b: &Path, out: &Path) -> anyhow::Result<()> {
    let (pa, pb) = (a.join("metrics.json"), b.join("metrics.json"));
    let ma: Value = read_json(&pa, &a.display().to_string())?;
    let mb: Value = read_json(&pb, &b.display().to_string())?;
    let (sa, sb) = (split_numbers(&ma, &pa)?, split_numbers(&mb, &pb)?);
    let pairs: Vec<(&SplitNumbers, &SplitNumbers)> = sa
        .iter()
        .filter_map(|x| sb.iter().find(|y| y.name == x.name).map(|y| (x, y)))
        .collect();
    if pairs.is_empty() {
        bail!(
            "{} and {} have no split name in common; nothing to compare",
            a.display(),
            b.display()
        );
    }
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let (la, lb) = (
        format!("A ({})", a.display()),
        format!("B ({})", b.display()),
    );
    let dt = |m: &Value| {
        let fam = &m["spec"]["data"]["family"];
        let frames = fam["frames"].as_f64().unwrap_or(2.0);
        fam["t_end"].as_f64().unwrap_or(1.0) / (frames - 1.0)
    };
    let (dta, dtb) = (dt(&ma), dt(&mb));
    let mut series = Vec::new();
    for (x, y) in &pairs {
        for (label, s, dt) in [(&la, x, dta), (&lb, y, dtb)] {
            series.push(Series {
                name: format!("{} {label}", s.name),
                points: s
                    .curve
                    .iter()
                    .enumerate()
                    .map(|(k, v)| ((k + 1) as f64 * dt, *v))
                    .collect(),
                markers: std::ptr::eq(label, &lb),
            });
        }
    }
    line_plot(
        &out.join("rollout_compare.png"),
        &LinePlot::log_y(
            "Rollout error against time: A lines, B markers".to_string(),
            "time t",
            "nRMSE",
            series,
        ),
        1000,
        600,
    )?;
    let mut s = String::new();
    let _ = writeln!(s, "# physfm runs side by side\n");
    let _ = writeln!(
        s,
        "Made by `cargo xtask report --compare {} {}` from their `metrics.json`.\n",
        a.display(),
        b.display()
    );
    let _ = writeln!(s, "| | A | B |\n| --- | --- | --- |");
    let _ = writeln!(s, "| run | `{}` | `{}` |", a.display(), b.display());
    for (what, key) in [("command", "command"), ("parameters", "parameters")] {
        let _ = writeln!(s, "| {what} | {} | {} |", ma[key], mb[key]);
    }
    let _ = writeln!(
        s,
        "| training seconds | {:.1} | {:.1} |",
        ma["timings"]["train_s"].as_f64().unwrap_or(f64::NAN),
        mb["timings"]["train_s"].as_f64().unwrap_or(f64::NAN)
    );
    let _ = writeln!(
        s,
        "\n## nRMSE per split\n\n| split | one-step A | one-step B | B / A | rollout A | rollout B | B / A |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    let mut rows = Vec::new();
    for (x, y) in &pairs {
        let _ = writeln!(
            s,
            "| {} | {:.4} | {:.4} | {:.2} | {:.4} | {:.4} | {:.2} |",
            x.name,
            x.one_step,
            y.one_step,
            y.one_step / x.one_step,
            x.rollout,
            y.rollout,
            y.rollout / x.rollout
        );
        rows.push(serde_json::json!({
            "split": x.name,
            "one_step": [x.one_step, y.one_step],
            "rollout": [x.rollout, y.rollout],
        }));
    }
    let regions = |m: &Value| m["parameter_protocol"]["regions"].as_array().cloned();
    if let (Some(ra), Some(rb)) = (regions(&ma), regions(&mb)) {
        let _ = writeln!(
            s,
            "\n## Rollout nRMSE by region of nu\n\n| region | A | B | B / A |\n| --- | ---: | ---: | ---: |"
        );
        for x in &ra {
            if let Some(y) = rb.iter().find(|y| y["region"] == x["region"]) {
                let (u, v) = (
                    x["rollout_mean"].as_f64().unwrap_or(f64::NAN),
                    y["rollout_mean"].as_f64().unwrap_or(f64::NAN),
                );
                let _ = writeln!(
                    s,
                    "| {} | {u:.4} | {v:.4} | {:.2} |",
                    x["region"].as_str().unwrap_or("?"),
                    v / u
                );
            }
        }
    }
    let _ = writeln!(s, "\n![rollout](rollout_compare.png)");
    write_atomic(&out.join("compare.md"), s.as_bytes())?;
    write_atomic(
        &out.join("compare.json"),
        serde_json::to_string_pretty(&serde_json::json!({
            "a": a, "b": b, "splits": rows,
        }))?
        .as_bytes(),
    )?;
    Ok(())
}
