//! `cargo xtask bench {spectral,fno} [--vs-torch] [--json FILE]`: physfm's criterion
//! benchmarks of the spectral convolution (forward, forward+backward) or of the FNO
//! (forward, training step) at the reference shapes, and neuraloperator's `SpectralConv` or
//! `FNO` on PyTorch (CPU, same thread count) at the same shapes in the same run, with the
//! ratio.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, bail};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::venv::ensure_venv;
use crate::workspace::workspace_root;

/// Benchmarks with a side-by-side comparison against the reference Python library.
#[derive(Debug, clap::Args)]
pub(crate) struct Bench {
    #[command(subcommand)]
    what: BenchWhat,
}

#[derive(Debug, clap::Subcommand)]
enum BenchWhat {
    /// Spectral convolution forward and forward+backward at `benches/spectral_shapes.json`.
    Spectral(SideBySide),
    /// FNO forward and training step (MSE, Adam) at `benches/fno_configs.json`.
    Fno(SideBySide),
    /// Multi-physics pretraining streamed from a generated corpus on disk against the
    /// in-memory path: peak memory and steps per second.
    Streaming(crate::bench_streaming::StreamingBench),
}

#[derive(Debug, clap::Args)]
struct SideBySide {
    /// Also time neuraloperator's SpectralConv on PyTorch (CPU) and print physfm/PyTorch.
    #[arg(long)]
    vs_torch: bool,
    /// Write every figure as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Timed repetitions per PyTorch measurement (median reported).
    #[arg(long, default_value_t = 20)]
    repeats: usize,
    /// Python interpreter used to create the virtual environment.
    #[arg(long, default_value = "python3")]
    python: String,
}

impl Bench {
    pub(crate) fn run(self) -> anyhow::Result<()> {
        match self.what {
            BenchWhat::Spectral(b) => b.run(&SPECTRAL),
            BenchWhat::Fno(b) => b.run(&FNO),
            BenchWhat::Streaming(b) => b.run(),
        }
    }
}

#[derive(Deserialize)]
struct Shape {
    name: String,
    dims: Vec<usize>,
}

/// What one side-by-side benchmark measures.
struct Suite {
    /// `spectral` or `fno`.
    name: &'static str,
    /// The shape list under `benches/`.
    shapes: &'static str,
    /// Criterion group.
    group: &'static str,
    /// The two measured operations (criterion ids are `<op>_<shape>`, the Python keys
    /// `<op>_ms`) and their table labels.
    ops: [(&'static str, &'static str); 2],
    /// Timing script under `xtask/parity/` and its arguments before the shape list.
    script: &'static str,
    script_args: &'static [&'static str],
    /// What runs on the PyTorch side.
    torch_label: &'static str,
}

const SPECTRAL: Suite = Suite {
    name: "spectral",
    shapes: "spectral_shapes.json",
    group: "spectral_conv",
    ops: [("forward", "fwd"), ("forward_backward", "fwd+bwd")],
    script: "spectral.py",
    script_args: &["bench"],
    torch_label: "neuraloperator SpectralConv",
};

const FNO: Suite = Suite {
    name: "fno",
    shapes: "fno_configs.json",
    group: "fno",
    ops: [("forward", "fwd"), ("train_step", "train step")],
    script: "fno.py",
    script_args: &[],
    torch_label: "neuraloperator FNO",
};

/// Criterion's median estimate of one benchmark, in milliseconds.
fn criterion_median_ms(group: &str, id: &str) -> anyhow::Result<f64> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    let path = target
        .join("criterion")
        .join(group)
        .join(id)
        .join("new")
        .join("estimates.json");
    let v: Value = serde_json::from_str(
        &std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?,
    )
    .with_context(|| format!("parsing {}", path.display()))?;
    let ns = v["median"]["point_estimate"]
        .as_f64()
        .with_context(|| format!("{}: no median estimate", path.display()))?;
    Ok(ns / 1e6)
}

impl SideBySide {
    fn run(self, suite: &Suite) -> anyhow::Result<()> {
        let root = workspace_root();
        let shapes_file = root.join("benches").join(suite.shapes);
        let shapes: Vec<Shape> = serde_json::from_str(&std::fs::read_to_string(&shapes_file)?)
            .with_context(|| format!("parsing {}", shapes_file.display()))?;
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        println!("physfm: criterion benches (rayon on {threads} threads) ...");
        let s = Command::new(env!("CARGO"))
            .current_dir(&root)
            .args([
                "bench",
                "-p",
                "physfm-benches",
                "--bench",
                "bench_main",
                "--",
                &format!("{}/", suite.group),
            ])
            .status()
            .context("running cargo bench")?;
        if !s.success() {
            bail!("cargo bench failed");
        }
        let torch: Option<Value> = if self.vs_torch {
            let py = ensure_venv(
                &self.python,
                &root
                    .join("xtask")
                    .join("parity")
                    .join("requirements-torch.txt"),
            )?;
            let out = tempfile_path(&format!("torch_{}.json", suite.name));
            println!("PyTorch: {} ...", suite.torch_label);
            let s = Command::new(&py)
                .arg(root.join("xtask").join("parity").join(suite.script))
                .args(suite.script_args)
                .arg(&shapes_file)
                .arg(&out)
                .args(["--repeats", &self.repeats.to_string()])
                .status()
                .context("running the PyTorch timing script")?;
            if !s.success() {
                bail!("the PyTorch timing script failed");
            }
            Some(serde_json::from_str(&std::fs::read_to_string(&out)?)?)
        } else {
            None
        };
        let torch_ms = |name: &str, what: &str| -> Option<f64> {
            torch.as_ref()?["results"]
                .as_array()?
                .iter()
                .find(|r| r["name"] == name)?[format!("{what}_ms")]
            .as_f64()
        };
        println!();
        let [(op_a, label_a), (op_b, label_b)] = suite.ops;
        println!(
            "| shape | physfm {label_a} (ms) | PyTorch {label_a} (ms) | ratio | physfm {label_b} (ms) | PyTorch {label_b} (ms) | ratio | physfm {label_b} per point (ns) |"
        );
        println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
        let mut rows = Vec::new();
        for s in &shapes {
            let f = criterion_median_ms(suite.group, &format!("{op_a}_{}", s.name))?;
            let fb = criterion_median_ms(suite.group, &format!("{op_b}_{}", s.name))?;
            let (tf, tfb) = (torch_ms(&s.name, op_a), torch_ms(&s.name, op_b));
            let points: usize = s.dims.iter().product();
            let per_point = fb * 1e6 / points as f64;
            let fmt = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.2}"));
            let ratio = |a: f64, b: Option<f64>| b.map_or("-".into(), |b| format!("{:.2}", a / b));
            println!(
                "| {} | {f:.2} | {} | {} | {fb:.2} | {} | {} | {per_point:.0} |",
                s.name,
                fmt(tf),
                ratio(f, tf),
                fmt(tfb),
                ratio(fb, tfb)
            );
            rows.push(json!({
                "shape": s.name,
                format!("physfm_{op_a}_ms"): f,
                format!("physfm_{op_b}_ms"): fb,
                format!("torch_{op_a}_ms"): tf,
                format!("torch_{op_b}_ms"): tfb,
                format!("{op_a}_ratio"): tf.map(|t| f / t),
                format!("{op_b}_ratio"): tfb.map(|t| fb / t),
                format!("physfm_{op_b}_ns_per_point"): per_point,
            }));
        }
        if let Some(t) = &torch {
            println!(
                "\nPyTorch {} on {} threads; physfm (rayon) on {threads}. Medians; ratio = physfm / PyTorch.",
                t["torch"].as_str().unwrap_or("?"),
                t["threads"]
            );
        }
        if let Some(path) = self.json {
            let doc = json!({
                "command": format!("cargo xtask bench {}", suite.name),
                "threads": threads,
                "torch": torch.as_ref().map(|t| json!({"version": t["torch"], "threads": t["threads"]})),
                "results": rows,
            });
            std::fs::write(&path, serde_json::to_string_pretty(&doc)?)
                .with_context(|| format!("writing {}", path.display()))?;
            println!("wrote {}", path.display());
        }
        Ok(())
    }
}

/// A path in the system temporary directory, unique to this process.
fn tempfile_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("physfm-{}-{name}", std::process::id()))
}
