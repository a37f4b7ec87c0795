//! `cargo xtask metrics --pred P.npy --target T.npy [--json]`: every metric of the suite
//! (PDEBench's, The Well's VRMSE, neuraloperator's relative L2 and H1) for two arrays laid
//! out `[batch, time, *space, channel]`, per channel and per time step.

use std::path::PathBuf;

use anyhow::{Context, bail};
use physfm_data::read_npy;
use physfm_eval::{MetricOptions, MetricSuite, metric_suite, time_to_threshold};
use serde_json::{Map, Value, json};

/// Computes the metric suite for a prediction and a target stored as `.npy` arrays.
#[derive(Debug, clap::Args)]
pub(crate) struct Metrics {
    /// Prediction, `[batch, time, *space, channel]` (float32 or float64 .npy).
    #[arg(long)]
    pred: PathBuf,
    /// Target, same shape as the prediction.
    #[arg(long)]
    target: PathBuf,
    /// Print everything (grids per channel and time included) as JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Domain length of each spatial axis, comma-separated (default 1 each): scales the
    /// Fourier errors and sets the finite-difference spacing of H1.
    #[arg(long, value_delimiter = ',')]
    lengths: Option<Vec<f64>>,
    /// Spatial axes (0-based, comma-separated) that are not periodic: H1 uses one-sided
    /// differences at their ends.
    #[arg(long, value_delimiter = ',')]
    non_periodic: Vec<usize>,
    /// nRMSE level for the time-to-threshold of the rollout curve.
    #[arg(long, default_value_t = 0.1)]
    threshold: f64,
}

impl Metrics {
    pub(crate) fn run(self) -> anyhow::Result<()> {
        let pred = read_npy(&self.pred)?;
        let target = read_npy(&self.target)?;
        if pred.shape != target.shape {
            bail!(
                "the prediction {} has shape {:?} but the target {} has shape {:?}",
                self.pred.display(),
                pred.shape,
                self.target.display(),
                target.shape
            );
        }
        let dims = &pred.shape;
        if dims.len() < 4 || dims.len() > 6 {
            bail!(
                "arrays of shape {dims:?}: expected [batch, time, *space, channel] with 1 to 3 \
                 spatial axes (4 to 6 axes)"
            );
        }
        let ndim = dims.len() - 3;
        let mut options = MetricOptions::unit(ndim);
        if let Some(l) = &self.lengths {
            if l.len() != ndim {
                bail!(
                    "--lengths has {} values; the arrays have {ndim} spatial axes",
                    l.len()
                );
            }
            options = options.with_lengths(l);
        }
        for &a in &self.non_periodic {
            if a >= ndim {
                bail!("--non-periodic {a}: the arrays have {ndim} spatial axes (0..{ndim})");
            }
            options.periodic[a] = false;
        }
        let suite = metric_suite(&pred.data, &target.data, dims, &options)
            .with_context(|| format!("metrics of {}", self.pred.display()))?;
        let curve = suite.nrmse.per_time();
        let ttt = time_to_threshold(&curve, self.threshold);
        if self.json {
            println!(
                "{}",
                serde_json::to_string_pretty(&to_json(
                    &suite,
                    dims,
                    &options,
                    self.threshold,
                    ttt
                ))?
            );
        } else {
            print_table(&suite, dims, &options);
            if curve.len() > 1 {
                println!("\nnRMSE by time step (rollout curve):");
                for (t, v) in curve.iter().enumerate() {
                    println!("  {t:>4}  {v:.6e}");
                }
            }
            match ttt {
                Some(t) => println!(
                    "time to threshold: nRMSE first exceeds {} at step {t}",
                    self.threshold
                ),
                None => println!(
                    "time to threshold: nRMSE stays at or below {} for all {} steps",
                    self.threshold,
                    curve.len()
                ),
            }
        }
        Ok(())
    }
}

fn to_json(
    suite: &MetricSuite,
    dims: &[usize],
    options: &MetricOptions,
    level: f64,
    ttt: Option<usize>,
) -> Value {
    let (mut summary, mut per_channel, mut per_time) = (Map::new(), Map::new(), Map::new());
    for (name, g) in suite.grids() {
        summary.insert(name.into(), json!(g.mean()));
        per_channel.insert(name.into(), json!(g.per_channel()));
        per_time.insert(name.into(), json!(g.per_time()));
    }
    json!({
        "dims": dims,
        "options": options,
        "summary": summary,
        "per_channel": per_channel,
        "per_time": per_time,
        "grids": suite,
        "time_to_threshold": {"metric": "nrmse", "level": level, "steps": ttt},
    })
}

fn print_table(suite: &MetricSuite, dims: &[usize], options: &MetricOptions) {
    println!(
        "shape {dims:?} (batch, time, space.., channel); lengths {:?}; periodic {:?}",
        options.lengths, options.periodic
    );
    let channels = dims[dims.len() - 1];
    print!("{:<11} {:>12}", "metric", "mean");
    for c in 0..channels {
        print!(" {:>12}", format!("channel {c}"));
    }
    println!();
    for (name, g) in suite.grids() {
        print!("{name:<11} {:>12.6e}", g.mean());
        if g.channels == channels {
            for v in g.per_channel() {
                print!(" {v:>12.6e}");
            }
        } else {
            print!("  (channels merged, as PDEBench does in 3D)");
        }
        println!();
    }
}

/// `cargo xtask parity metrics`.
#[derive(Debug, clap::Args)]
pub(crate) struct MetricsParity {
    /// Python interpreter used to create the virtual environment.
    #[arg(long, default_value = "python3")]
    python: String,
}

impl MetricsParity {
    pub(crate) fn run(self) -> anyhow::Result<()> {
        let root = crate::workspace::workspace_root();
        let parity = root.join("xtask").join("parity");
        crate::venv::ensure_venv(&self.python, &parity.join("requirements-torch.txt"))?;
        let py = crate::venv::ensure_venv_with(
            &self.python,
            &parity.join("requirements-metrics.txt"),
            &["--no-deps", "--ignore-requires-python"],
        )?;
        let fixture = root.join("crates/physfm-eval/tests/fixtures/metric_reference.json");
        let inputs = tempfile::tempdir()?;
        let s = std::process::Command::new(&py)
            .arg(parity.join("metrics.py"))
            .arg("--fixture")
            .arg(&fixture)
            .arg("--inputs")
            .arg(inputs.path())
            .status()?;
        if !s.success() {
            bail!("metrics.py failed");
        }
        // physfm on the arrays numpy wrote (through physfm's .npy reader).
        let doc: Value = serde_json::from_slice(&std::fs::read(&fixture)?)?;
        let mut worst: std::collections::BTreeMap<&str, f64> = Default::default();
        for case in doc["cases"].as_array().context("fixture cases")? {
            let name = case["name"].as_str().context("case name")?;
            let pred = read_npy(&inputs.path().join(format!("{name}_pred.npy")))?;
            let target = read_npy(&inputs.path().join(format!("{name}_target.npy")))?;
            let lengths: Vec<f64> = serde_json::from_value(case["lengths"].clone())?;
            let periodic: Vec<bool> = serde_json::from_value(case["periodic"].clone())?;
            let options = MetricOptions::unit(lengths.len())
                .with_lengths(&lengths)
                .with_periodic(&periodic);
            let suite = metric_suite(&pred.data, &target.data, &pred.shape, &options)?;
            for note in case["pdebench_calls"].as_object().into_iter().flatten() {
                if note.1 != "ok" {
                    println!("{name}: PDEBench metric_func({}) raised {}", note.0, note.1);
                }
            }
            for (metric, grid) in suite.grids() {
                let Some(reference) = case["reference"].get(metric) else {
                    println!("{name}: {metric} has no reference (PDEBench could not compute it)");
                    continue;
                };
                let reference: Vec<Option<f64>> = serde_json::from_value(reference.clone())?;
                let w = worst.entry(metric).or_default();
                for (o, r) in grid.values.iter().zip(&reference) {
                    let d = match r {
                        None if o.is_nan() => 0.0,
                        None => f64::INFINITY,
                        Some(r) => (o - r).abs() / r.abs().max(1e-12),
                    };
                    *w = w.max(d);
                }
            }
        }
        println!("\nlargest relative difference physfm vs reference, over every case:");
        for (metric, w) in &worst {
            println!("  {metric:<11} {w:.2e}");
        }
        let overall = worst.values().copied().fold(0.0, f64::max);
        println!("  overall     {overall:.2e}");
        let s = std::process::Command::new(env!("CARGO"))
            .current_dir(&root)
            .args(["test", "-p", "physfm-eval", "--test", "metric_reference"])
            .status()?;
        if !s.success() || overall > 1e-9 {
            bail!("physfm's metrics differ from the reference libraries");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use physfm_data::write_npy;

    fn args(dir: &std::path::Path, target_shape: &[usize]) -> Metrics {
        let (pred, target) = (dir.join("p.npy"), dir.join("t.npy"));
        write_npy(
            &pred,
            &[1, 2, 4, 1],
            &[1.0, 2.0, 3.0, 4.0, 0.0, 1.0, 0.0, 1.0],
        )
        .unwrap();
        let n: usize = target_shape.iter().product();
        write_npy(&target, target_shape, &vec![1.0; n]).unwrap();
        Metrics {
            pred,
            target,
            json: true,
            lengths: None,
            non_periodic: vec![],
            threshold: 0.1,
        }
    }

    #[test]
    fn runs_on_npy_files_and_names_what_is_wrong() {
        let dir = tempfile::tempdir().unwrap();
        args(dir.path(), &[1, 2, 4, 1]).run().unwrap();
        let e = args(dir.path(), &[1, 2, 2, 2])
            .run()
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("[1, 2, 4, 1]") && e.contains("[1, 2, 2, 2]"),
            "{e}"
        );
        let mut a = args(dir.path(), &[1, 2, 4, 1]);
        a.lengths = Some(vec![1.0, 2.0]);
        let e = a.run().unwrap_err().to_string();
        assert!(e.contains("--lengths has 2 values"), "{e}");
        let mut a = args(dir.path(), &[1, 2, 4, 1]);
        a.non_periodic = vec![1];
        assert!(
            a.run()
                .unwrap_err()
                .to_string()
                .contains("--non-periodic 1")
        );
    }

    #[test]
    fn json_holds_summary_curves_and_time_to_threshold() {
        let target = [1.0f32, 1.0, 1.0, 1.0, 1.0, 1.0];
        let pred = [1.0f32, 1.0, 1.0, 2.0, 2.0, 2.0];
        let dims = [1, 2, 3, 1];
        let options = MetricOptions::unit(1);
        let suite = metric_suite(&pred, &target, &dims, &options).unwrap();
        let curve = suite.nrmse.per_time();
        let v = to_json(&suite, &dims, &options, 0.5, time_to_threshold(&curve, 0.5));
        assert_eq!(v["per_time"]["nrmse"], json!([0.0, 1.0]));
        assert_eq!(v["summary"]["rmse"], json!(0.5));
        assert_eq!(v["time_to_threshold"]["steps"], json!(1));
        assert_eq!(v["grids"]["rmse"]["values"], json!([0.0, 1.0]));
    }
}
