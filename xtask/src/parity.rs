//! `cargo xtask parity pde`: physfm's solutions against an independent Python solver
//! (py-pde, scipy) installed from PyPI in a virtual environment, on the same initial states,
//! grids and save times. Prints the relative L2 difference per family. Not part of the tests.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail};
use physfm_pde::{
    Advection1d, Burgers1d, Darcy2d, DiffusionReaction1d, DiffusionReaction2d, FamilyConfig,
    GrayScott2d, Kdv1d, KuramotoSivashinsky1d, LotkaVolterra, NavierStokes2d, ParamDomain,
    ShallowWater2d, Wave2d,
};
use serde_json::{Value, json};

use crate::venv::ensure_venv;
use crate::workspace::workspace_root;

/// Parity checks against reference Python libraries.
#[derive(Debug, clap::Args)]
pub(crate) struct Parity {
    #[command(subcommand)]
    what: ParityWhat,
}

#[derive(Debug, clap::Subcommand)]
enum ParityWhat {
    /// Compare every PDE family with py-pde / scipy on the same initial state.
    Pde(PdeParity),
    /// Read physfm's native stores (and HDF5 fixtures converted by `data convert`) with
    /// zarr-python and compare every value.
    Data(crate::data::DataParity),
    /// Run neuraloperator's SpectralConv on random inputs and weights, rewrite the committed
    /// fixture `crates/physfm-spectral/tests/fixtures/neuralop_spectral_conv.json`, and check
    /// physfm against it.
    Spectral(SpectralParity),
    /// Build neuraloperator FNOs and TFNOs (six configurations), save their checkpoints
    /// (`.pt`, and one as safetensors) and outputs as the committed fixtures under
    /// `crates/physfm-models/tests/fixtures/neuralop/`, and check physfm's import against
    /// them.
    Import(ImportParity),
    /// Compute the metric suite with PDEBench's, The Well's and neuraloperator's own code on
    /// generated arrays, rewrite the committed fixture
    /// `crates/physfm-eval/tests/fixtures/metric_reference.json`, and compare physfm with it.
    Metrics(crate::metrics::MetricsParity),
}

#[derive(Debug, clap::Args)]
struct ImportParity {
    /// Python interpreter used to create the virtual environment.
    #[arg(long, default_value = "python3")]
    python: String,
}

impl ImportParity {
    fn run(self) -> anyhow::Result<()> {
        let fixtures = workspace_root().join("crates/physfm-models/tests/fixtures/neuralop");
        fixture_then_test(
            &self.python,
            &["neuralop_import.py".as_ref(), fixtures.as_os_str()],
            ("physfm-models", "neuralop_import"),
            "physfm's import differs from neuraloperator",
        )?;
        println!("every converted neuraloperator checkpoint gives PyTorch's outputs");
        Ok(())
    }
}

/// Runs `script args..` (under xtask/parity/, in the torch virtual environment) to rewrite
/// a committed fixture, then the Rust test `(package, test)` that checks physfm against it.
fn fixture_then_test(
    python: &str,
    script_and_args: &[&std::ffi::OsStr],
    (package, test): (&str, &str),
    failure: &str,
) -> anyhow::Result<()> {
    let root = workspace_root();
    let parity = root.join("xtask").join("parity");
    let py = ensure_venv(python, &parity.join("requirements-torch.txt"))?;
    let (script, args) = script_and_args.split_first().expect("a script");
    let s = Command::new(&py)
        .arg(parity.join(script))
        .args(args)
        .status()?;
    if !s.success() {
        bail!("{} failed", script.to_string_lossy());
    }
    let s = Command::new(env!("CARGO"))
        .current_dir(&root)
        .args(["test", "-p", package, "--test", test, "--", "--nocapture"])
        .status()?;
    if !s.success() {
        bail!("{failure} (see the test output above)");
    }
    Ok(())
}

#[derive(Debug, clap::Args)]
struct SpectralParity {
    /// Python interpreter used to create the virtual environment.
    #[arg(long, default_value = "python3")]
    python: String,
}

impl SpectralParity {
    fn run(self) -> anyhow::Result<()> {
        let fixture = workspace_root()
            .join("crates/physfm-spectral/tests/fixtures")
            .join("neuralop_spectral_conv.json");
        fixture_then_test(
            &self.python,
            &[
                "spectral.py".as_ref(),
                "fixture".as_ref(),
                fixture.as_os_str(),
            ],
            ("physfm-spectral", "neuralop_parity"),
            "physfm differs from neuraloperator",
        )?;
        println!(
            "physfm's spectral convolution matches neuraloperator's SpectralConv on every fixture case"
        );
        Ok(())
    }
}

#[derive(Debug, clap::Args)]
struct PdeParity {
    /// Output directory for the cases, the Python results and the report.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Only these cases (repeatable), e.g. `burgers1d`, `wave2d_neumann`.
    #[arg(long = "case")]
    cases: Vec<String>,
    /// Python interpreter used to create the virtual environment.
    #[arg(long, default_value = "python3")]
    python: String,
}

impl Parity {
    pub(crate) fn run(self) -> anyhow::Result<()> {
        match self.what {
            ParityWhat::Pde(p) => p.run(),
            ParityWhat::Data(p) => p.run(),
            ParityWhat::Spectral(p) => p.run(),
            ParityWhat::Import(p) => p.run(),
            ParityWhat::Metrics(p) => p.run(),
        }
    }
}

/// One parity case: a family configuration, parameters, seed and save times.
struct Case {
    name: &'static str,
    family: FamilyConfig,
    params: Vec<f64>,
    times: Vec<f64>,
}

fn linspace(t_end: f64, frames: usize) -> Vec<f64> {
    (0..frames)
        .map(|i| t_end * i as f64 / (frames - 1) as f64)
        .collect()
}

fn cases() -> Vec<Case> {
    use FamilyConfig as F;
    vec![
        Case {
            name: "advection1d",
            family: F::Advection1d(Advection1d {
                resolution: 512,
                stored_resolution: 512,
                ..Default::default()
            }),
            params: vec![0.4],
            times: linspace(1.0, 6),
        },
        Case {
            name: "burgers1d",
            family: F::Burgers1d(Burgers1d {
                resolution: 256,
                stored_resolution: 256,
                ..Default::default()
            }),
            params: vec![0.05],
            times: linspace(0.5, 6),
        },
        Case {
            name: "diffusion_reaction1d",
            family: F::DiffusionReaction1d(DiffusionReaction1d {
                resolution: 128,
                stored_resolution: 128,
                ..Default::default()
            }),
            params: vec![0.01, 5.0],
            times: linspace(0.5, 6),
        },
        Case {
            name: "kuramoto_sivashinsky1d",
            family: F::KuramotoSivashinsky1d(KuramotoSivashinsky1d {
                resolution: 256,
                stored_resolution: 256,
                ..Default::default()
            }),
            params: vec![64.0],
            times: linspace(5.0, 6),
        },
        Case {
            name: "kdv1d",
            family: F::Kdv1d(Kdv1d {
                resolution: 256,
                stored_resolution: 256,
                ..Default::default()
            }),
            params: vec![1.0],
            times: linspace(2.0, 6),
        },
        Case {
            name: "navier_stokes2d",
            family: F::NavierStokes2d(NavierStokes2d {
                resolution: 32,
                stored_resolution: 32,
                ..Default::default()
            }),
            params: vec![1e-3, 1.0],
            times: linspace(1.0, 6),
        },
        Case {
            name: "gray_scott2d",
            family: F::GrayScott2d(GrayScott2d::default()),
            params: vec![0.03, 0.058, 0.2097, 0.105],
            times: linspace(100.0, 6),
        },
        Case {
            name: "diffusion_reaction2d",
            family: F::DiffusionReaction2d(DiffusionReaction2d {
                resolution: 32,
                noise: 0.5,
            }),
            params: vec![1e-3, 5e-3, 5e-3],
            times: linspace(1.0, 6),
        },
        Case {
            name: "shallow_water2d",
            family: F::ShallowWater2d(ShallowWater2d {
                resolution: 64,
                ..Default::default()
            }),
            params: vec![0.5, 2.0],
            times: linspace(0.5, 6),
        },
        Case {
            name: "darcy2d",
            family: F::Darcy2d(Darcy2d {
                resolution: 65,
                ..Default::default()
            }),
            params: vec![1.0],
            times: vec![0.0],
        },
        Case {
            name: "wave2d_dirichlet",
            family: F::Wave2d(Wave2d { resolution: 64 }),
            params: vec![1.0, 0.0],
            times: linspace(0.5, 6),
        },
        Case {
            name: "wave2d_neumann",
            family: F::Wave2d(Wave2d { resolution: 64 }),
            params: vec![1.0, 1.0],
            times: linspace(0.5, 6),
        },
        Case {
            name: "lotka_volterra",
            family: F::LotkaVolterra(LotkaVolterra::default()),
            params: vec![0.5, 0.75, 0.5, 1.0],
            times: linspace(10.0, 21),
        },
    ]
}

/// Writes the case file; returns physfm's solution and its wall time.
fn write_case(case: &Case, dir: &Path) -> anyhow::Result<(Vec<f64>, f64)> {
    let f = case.family.family();
    let spec = f.parameters();
    let mut params = serde_json::Map::new();
    for (p, v) in spec.iter().zip(&case.params) {
        let value = match &p.domain {
            ParamDomain::Choice(options) => json!(options[*v as usize]),
            ParamDomain::Range(_) => json!(v),
        };
        params.insert(p.name.clone(), value);
    }
    if let FamilyConfig::ShallowWater2d(s) = &case.family {
        params.insert("g".into(), json!(s.g));
    }
    let seed = 11;
    let initial = f.initial_state(&case.params, seed)?;
    let start = Instant::now();
    let solution = f.solve_from(&case.params, &initial, &case.times)?;
    let seconds = start.elapsed().as_secs_f64();
    let axes: Vec<Value> = f
        .solver_axes()
        .iter()
        .map(|a| {
            let (lower, length) = match &case.family {
                // The stored axis of KS is x / L; the physical domain is [0, L).
                FamilyConfig::KuramotoSivashinsky1d(_) => (0.0, case.params[0]),
                _ => (a.lower, a.length),
            };
            let boundary = match &case.family {
                FamilyConfig::Wave2d(_) => if case.params[1] == 0.0 { "dirichlet" } else { "neumann" },
                _ => a.boundary.as_str(),
            };
            json!({
                "name": a.name,
                "lower": lower,
                "length": length,
                "boundary": boundary,
                "coords": a.coords.iter().map(|c| lower + (c - a.lower) / a.length * length).collect::<Vec<f64>>(),
            })
        })
        .collect();
    let doc = json!({
        "family": f.name(),
        "params": params,
        "axes": axes,
        "channels": f.channels(),
        "times": case.times,
        "initial": initial,
        "physfm": solution.values,
    });
    std::fs::write(
        dir.join(format!("{}.json", case.name)),
        serde_json::to_vec(&doc)?,
    )?;
    Ok((solution.values, seconds))
}

/// Relative L2 difference per channel over every frame after the first (the first is the
/// shared initial state), the largest over the channels; and the same for the worst frame.
fn rel_l2(ours: &[f64], theirs: &[f64], frames: usize, channels: usize) -> (f64, f64) {
    let per = ours.len() / frames.max(1);
    let first = usize::from(frames > 1);
    let norm = |t0: usize, t1: usize, c: usize| {
        let (mut num, mut den) = (0.0, 0.0);
        for t in t0..t1 {
            for i in (t * per + c..(t + 1) * per).step_by(channels) {
                num += (ours[i] - theirs[i]).powi(2);
                den += theirs[i] * theirs[i];
            }
        }
        (num / f64::max(den, 1e-300)).sqrt()
    };
    let total = (0..channels)
        .map(|c| norm(first, frames, c))
        .fold(0.0, f64::max);
    let worst = (first..frames)
        .flat_map(|t| (0..channels).map(move |c| (t, c)))
        .map(|(t, c)| norm(t, t + 1, c))
        .fold(0.0, f64::max);
    (total, worst)
}

impl PdeParity {
    fn run(self) -> anyhow::Result<()> {
        let root = workspace_root();
        let out = self
            .out
            .clone()
            .unwrap_or_else(|| root.join("runs").join("parity").join("pde"));
        let case_dir = out.join("cases");
        let result_dir = out.join("results");
        for d in [&case_dir, &result_dir] {
            if d.exists() {
                std::fs::remove_dir_all(d)?;
            }
            std::fs::create_dir_all(d)?;
        }
        let all = cases();
        for c in &self.cases {
            if !all.iter().any(|k| k.name == c) {
                bail!(
                    "unknown case `{c}` (cases: {})",
                    all.iter().map(|k| k.name).collect::<Vec<_>>().join(", ")
                );
            }
        }
        let selected: Vec<&Case> = all
            .iter()
            .filter(|c| self.cases.is_empty() || self.cases.iter().any(|n| n == c.name))
            .collect();
        let mut ours = BTreeMap::new();
        for c in &selected {
            let (values, secs) =
                write_case(c, &case_dir).with_context(|| format!("physfm on case {}", c.name))?;
            ours.insert(c.name, (values, secs));
        }
        let parity = root.join("xtask").join("parity");
        let py = ensure_venv(&self.python, &parity.join("requirements-pde.txt"))?;
        let status = Command::new(&py)
            .arg(parity.join("pde_parity.py"))
            .arg("--cases")
            .arg(&case_dir)
            .arg("--out")
            .arg(&result_dir)
            .status()?;
        if !status.success() {
            bail!("pde_parity.py failed");
        }
        let mut table = String::new();
        writeln!(
            table,
            "| case | independent solver | relative L2, worst channel (frames after t0) | worst frame and channel | physfm s | Python s |"
        )?;
        writeln!(table, "| --- | --- | ---: | ---: | ---: | ---: |")?;
        let mut summary = Vec::new();
        for c in &selected {
            let path = result_dir.join(format!("{}.result.json", c.name));
            let (values, secs) = &ours[c.name];
            let row = match std::fs::read(&path)
                .ok()
                .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            {
                None => format!("| {} | no result file | - | - | {secs:.3} | - |", c.name),
                Some(r) => {
                    if let Some(reason) = r.get("skipped").and_then(Value::as_str) {
                        format!("| {} | skipped: {reason} | - | - | {secs:.3} | - |", c.name)
                    } else if let Some(err) = r.get("error").and_then(Value::as_str) {
                        format!(
                            "| {} | error: {} | - | - | {secs:.3} | - |",
                            c.name,
                            err.lines().next().unwrap_or("")
                        )
                    } else {
                        let theirs: Vec<f64> = r["solution"]
                            .as_array()
                            .map(|a| a.iter().filter_map(Value::as_f64).collect())
                            .unwrap_or_default();
                        if theirs.len() != values.len() {
                            format!(
                                "| {} | result has {} values, expected {} | - | - | {secs:.3} | - |",
                                c.name,
                                theirs.len(),
                                values.len()
                            )
                        } else {
                            let channels = c.family.family().channels().len();
                            let (l2, worst) = rel_l2(values, &theirs, c.times.len(), channels);
                            let solver = r["solver"].as_str().unwrap_or("?");
                            let wall = r["wall_s"].as_f64().unwrap_or(f64::NAN);
                            summary.push(json!({"case": c.name, "solver": solver, "rel_l2": l2, "worst_frame_rel_l2": worst, "physfm_s": secs, "python_s": wall}));
                            format!(
                                "| {} | {solver} | {l2:.2e} | {worst:.2e} | {secs:.3} | {wall:.2} |",
                                c.name
                            )
                        }
                    }
                }
            };
            writeln!(table, "{row}")?;
        }
        println!("\n{table}");
        let report = format!(
            "# PDE parity: physfm against independent Python solvers\n\nCommand: `cargo xtask parity pde`\n\nSame initial state, grid and save times; the difference includes both discretisations' errors.\n\n{table}"
        );
        std::fs::write(out.join("report.md"), report)?;
        std::fs::write(
            out.join("summary.json"),
            serde_json::to_vec_pretty(&summary)?,
        )?;
        println!("report: {}", out.join("report.md").display());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_l2_skips_the_shared_initial_frame() {
        let ours = [1.0, 1.0, 1.0, 2.0];
        let theirs = [5.0, 5.0, 1.0, 1.0];
        let (total, worst) = rel_l2(&ours, &theirs, 2, 1);
        assert!((total - (1.0f64 / 2.0).sqrt()).abs() < 1e-12);
        assert_eq!(total, worst);
        // Two channels: the second differs by 100 %, the first not at all.
        let (total, _) = rel_l2(&[0.0, 0.0, 1.0, 2.0], &[9.0, 9.0, 1.0, 1.0], 2, 2);
        assert!((total - 1.0).abs() < 1e-12);
    }

    #[test]
    fn every_case_writes_a_consistent_file() {
        let dir = tempfile::tempdir().unwrap();
        for c in cases()
            .iter()
            .filter(|c| c.name == "wave2d_neumann" || c.name == "lotka_volterra")
        {
            let (values, _) = write_case(c, dir.path()).unwrap();
            let doc: Value = serde_json::from_slice(
                &std::fs::read(dir.path().join(format!("{}.json", c.name))).unwrap(),
            )
            .unwrap();
            assert_eq!(doc["physfm"].as_array().unwrap().len(), values.len());
            assert_eq!(doc["times"].as_array().unwrap().len(), c.times.len());
        }
        let doc: Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("wave2d_neumann.json")).unwrap())
                .unwrap();
        assert_eq!(doc["params"]["bc"], "neumann");
        assert_eq!(doc["axes"][0]["boundary"], "neumann");
    }
}
