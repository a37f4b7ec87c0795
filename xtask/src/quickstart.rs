//! `cargo xtask quickstart`: the first end-to-end pipeline. Parametric 1D Burgers data →
//! Zarr → FNO training → evaluation inside and outside the training range → report.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use burn::tensor::Device;
use indicatif::{ProgressBar, ProgressStyle};
use physfm_data::{CollectionMeta, FORMAT_VERSION, InMemoryCollection, TrajectoryCollection};
use physfm_models::{Stepper1d, StepperConfig};
use physfm_pde::{ParamRange, derive_seed};
use physfm_train::{TrainOptions, WindowDataset, train_windows};
use rayon::prelude::*;

use crate::report::{ReportOptions, RunInfo, write_report};
use crate::spec::{QuickstartSpec, Role};
use crate::workspace::{workspace_root, write_atomic};

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

/// Stratified draw of trajectory `i` of `n` in `range`: one value per equal-probability stratum.
fn stratified(range: &ParamRange, i: usize, n: usize, seed: u64) -> f64 {
    let u = (seed >> 11) as f64 / (1u64 << 53) as f64;
    range.at((i as f64 + u) / n as f64)
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
        let pairs = WindowDataset::pairs(&data[train_index], 1)?;
        let norm = pairs.normalization(vec![true])?;
        let model = Stepper1d::new(
            StepperConfig::new(spec.model.fno(), spec.model.residual),
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
            checkpoint_dir: Some(out.join("checkpoints")),
            ..TrainOptions::default()
        };
        let (model, report) = train_windows(model, &pairs, None, &train_cfg, &device, &options)?;
        let train_s = t.elapsed().as_secs_f64();
        println!(
            "  trained {} steps in {train_s:.1} s ({:.1} steps/s); loss {:.3e} -> {:.3e}",
            train_cfg.steps, report.steps_per_second, report.initial_loss, report.final_loss
        );
        model.save(&out.join("model"))?;
        physfm_models::write_spec(&out.join("model"), &text)?;

        let info = RunInfo {
            command,
            parameters,
            train: report,
            generate_s,
            train_s,
        };
        write_atomic(
            &out.join("run.json"),
            serde_json::to_string_pretty(&info)?.as_bytes(),
        )?;

        // 4-5. Evaluate, run the protocols and write the report (as `cargo xtask report`).
        let metrics = write_report(&out, &ReportOptions::default())?;
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
        println!("  total {:.1} s", total.elapsed().as_secs_f64());
        Ok(())
    }
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
            boundary: vec![physfm_data::AxisBoundary::PERIODIC],
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
            "run.json",
            "train_log.jsonl",
            "model/config.json",
            "model/model.safetensors",
            "model/spec.toml",
        ] {
            assert!(out.join(f).is_file(), "{f} missing");
        }
        for f in [
            "space_time",
            "rollout",
            "error_vs_nu",
            "rollout_error_vs_nu",
            "loss",
            "resolution",
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
            let grid = e["rollout_suite"]["nrmse"]["values"].as_array().unwrap();
            let suite = grid.iter().map(|v| v.as_f64().unwrap()).sum::<f64>() / grid.len() as f64;
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
        // PNG header: width and height of the resolution figure.
        let png = std::fs::read(out.join("figures/resolution.png")).unwrap();
        let size = |o: usize| u32::from_be_bytes(png[o..o + 4].try_into().unwrap());
        assert_eq!((size(16), size(20)), (900, 500));
        // The protocols: every test trajectory placed by nu; three resolutions.
        let p = &m["parameter_protocol"];
        assert_eq!(p["points"].as_array().unwrap().len(), 6);
        let regions: Vec<&str> = p["regions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["region"].as_str().unwrap())
            .collect();
        assert!(
            regions.contains(&"inside") && regions.contains(&"above"),
            "{regions:?}"
        );
        let points: Vec<u64> = m["resolution"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["points"].as_u64().unwrap())
            .collect();
        assert_eq!(points, vec![32, 16, 8]);
        assert!(report.contains("## Out of distribution") && report.contains("| 16 | 2 |"));
        // `report` remakes the same numbers from the run directory alone.
        crate::report::write_report(&out, &crate::report::ReportOptions::default()).unwrap();
        let again: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("metrics.json")).unwrap())
                .unwrap();
        assert_eq!(again["splits"], m["splits"]);
        assert_eq!(again["resolution"], m["resolution"]);
        // A run compared with itself: every ratio is 1.
        let cmp = dir.path().join("cmp");
        crate::report::compare_runs(&out, &out, &cmp).unwrap();
        let md = std::fs::read_to_string(cmp.join("compare.md")).unwrap();
        assert!(
            md.contains("| test_interp |") && md.contains("| 1.00 |"),
            "{md}"
        );
        assert!(cmp.join("rollout_compare.png").is_file());
        let e = crate::report::compare_runs(&out, dir.path(), &cmp).unwrap_err();
        assert!(e.to_string().contains("metrics.json"), "{e}");
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
