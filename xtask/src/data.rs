//! `cargo xtask data`: convert, inspect, split and benchmark trajectory stores.
//!
//! HDF5 inputs (PDEBench, The Well) need physfm-data's `hdf5` feature and the system HDF5
//! library. A plain `cargo xtask` is built without it; given an HDF5 file, it checks for the
//! library and runs itself again as `cargo run -p xtask --features hdf5 -- ...`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use indicatif::ProgressBar;
use physfm_data::{
    ChannelStats, CollectionMeta, DatasetSpec, FORMAT_VERSION, HttpStore, Interval, Loader,
    LoaderConfig, SplitRule, Splits, TrajectoryCollection, TrajectorySource, WindowSpec,
    WriteOptions, compute_stats, copy_to_collection, inspect,
};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;

use crate::venv::ensure_venv;
use crate::workspace::workspace_root;

/// Convert, inspect, split and benchmark trajectory stores.
#[derive(Debug, clap::Args)]
pub(crate) struct Data {
    #[command(subcommand)]
    what: DataWhat,
}

#[derive(Debug, clap::Subcommand)]
enum DataWhat {
    /// Convert a PDEBench or The Well HDF5 file (layout detected) into a native collection.
    Convert(Convert),
    /// Summarise a native store (path or http(s) URL) or an HDF5 file.
    Inspect(Inspect),
    /// Compute per-channel statistics of a native store in one pass and store them in it.
    Stats(StatsCmd),
    /// Compute a reproducible split of a native store and store it in it.
    Split(SplitCmd),
    /// Loader throughput for 1D and 2D windows, next to zarr-python and h5py on the same data.
    Bench(Bench),
}

#[derive(Debug, clap::Args)]
struct Convert {
    /// The HDF5 file.
    input: PathBuf,
    /// The collection to create (must not exist).
    output: PathBuf,
    /// Frames per inner chunk (default: about 256 KiB per chunk).
    #[arg(long)]
    frames_per_chunk: Option<usize>,
    /// zstd level (0: no compression).
    #[arg(long, default_value_t = 3)]
    zstd_level: i32,
    /// Do not compute and store per-channel statistics.
    #[arg(long)]
    no_stats: bool,
}

#[derive(Debug, clap::Args)]
struct Inspect {
    /// A native store (directory or http(s) URL) or an HDF5 file.
    path: String,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
    /// Compute per-channel statistics when none are stored (one pass over the data).
    #[arg(long)]
    stats: bool,
}

#[derive(Debug, clap::Args)]
struct StatsCmd {
    /// A native store.
    store: PathBuf,
    /// Only over this split set (e.g. `train`), as stored by `data split`.
    #[arg(long)]
    set: Option<String>,
}

#[derive(Debug, clap::Args)]
struct SplitCmd {
    /// A native store.
    store: PathBuf,
    /// Random split by trajectory: `name=fraction`, repeatable (e.g. `--random train=0.8
    /// --random test=0.2`).
    #[arg(long = "random")]
    random: Vec<String>,
    /// Training range of a parameter, `name=lo:hi` (repeatable); trajectories outside go to
    /// `test_extrap`.
    #[arg(long = "train-range")]
    train_range: Vec<String>,
    /// A box held out for interpolation, `name=lo:hi[,name=lo:hi]` or `name=value`
    /// (repeatable); its trajectories go to `test_interp`.
    #[arg(long = "hold-out")]
    hold_out: Vec<String>,
    /// Seed of a random split.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

#[derive(Debug, clap::Args)]
struct Bench {
    /// Smaller data and fewer samples (a smoke run).
    #[arg(long)]
    quick: bool,
    /// Also time zarr-python and h5py on the same windows (in a virtual environment).
    #[arg(long)]
    vs_python: bool,
    /// Write every figure as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Python interpreter used to create the virtual environment.
    #[arg(long, default_value = "python3")]
    python: String,
}

impl Data {
    pub(crate) fn run(self) -> anyhow::Result<()> {
        match self.what {
            DataWhat::Convert(c) => c.run(),
            DataWhat::Inspect(c) => c.run(),
            DataWhat::Stats(c) => c.run(),
            DataWhat::Split(c) => c.run(),
            DataWhat::Bench(c) => c.run(),
        }
    }
}

/// Whether `path` names an HDF5 file (by its signature, or by extension when absent).
fn is_hdf5(path: &Path) -> bool {
    use std::io::Read;
    let mut sig = [0u8; 8];
    match std::fs::File::open(path).and_then(|mut f| f.read_exact(&mut sig)) {
        Ok(()) => sig == *b"\x89HDF\r\n\x1a\n",
        Err(_) => matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("h5" | "hdf5" | "hdf")
        ),
    }
}

/// Runs this command again from a build with the `hdf5` feature (never returns on success).
#[cfg(not(feature = "hdf5"))]
fn rerun_with_hdf5() -> anyhow::Result<()> {
    let found = Command::new("pkg-config")
        .args(["--exists", "hdf5"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !found {
        bail!(
            "reading HDF5 needs the system HDF5 library, which pkg-config does not find: \
             install it (Debian/Ubuntu: `apt-get install libhdf5-dev pkg-config`) and run again"
        );
    }
    eprintln!("xtask: HDF5 input; running again with `--features hdf5` ...");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let args: Vec<String> = std::env::args().skip(1).collect();
    let status = Command::new(cargo)
        .args([
            "run",
            "--quiet",
            "--package",
            "xtask",
            "--bin",
            "xtask",
            "--features",
            "hdf5",
            "--",
        ])
        .args(&args)
        .current_dir(workspace_root())
        .status()
        .context("running cargo")?;
    std::process::exit(status.code().unwrap_or(1));
}

/// Opens any source: a native store (directory or URL) or an HDF5 file.
fn open_source(
    path: &str,
) -> anyhow::Result<(Box<dyn TrajectorySource>, String, Option<ChannelStats>)> {
    if path.starts_with("http://") || path.starts_with("https://") {
        let c = TrajectoryCollection::<HttpStore>::open_url(path)?;
        let stats = c.read_stats()?;
        return Ok((Box::new(c), "physfm native Zarr v3 (HTTP)".into(), stats));
    }
    let p = Path::new(path);
    if p.is_dir() {
        let c = TrajectoryCollection::open_any(p)?;
        let format = if c.is_complete()? {
            "physfm native Zarr v3"
        } else {
            "physfm native Zarr v3, INCOMPLETE (its writer did not finish)"
        };
        let stats = c.read_stats()?;
        return Ok((Box::new(c), format.into(), stats));
    }
    if !p.exists() {
        bail!("{path}: no such file or directory");
    }
    if !is_hdf5(p) {
        bail!("{path}: neither a Zarr store directory nor an HDF5 file");
    }
    #[cfg(feature = "hdf5")]
    {
        let (source, layout) = physfm_data::hdf5::open(p)?;
        Ok((source, layout.name().into(), None))
    }
    #[cfg(not(feature = "hdf5"))]
    {
        rerun_with_hdf5()?;
        unreachable!("rerun_with_hdf5 exits")
    }
}

/// A progress bar over `len` trajectories, labelled `what`.
pub(crate) fn bar(len: usize, what: &str) -> ProgressBar {
    physfm_data::trajectory_bar(len, what)
}

impl Convert {
    fn run(self) -> anyhow::Result<()> {
        let input = self.input.to_string_lossy().into_owned();
        let (source, format, _) = open_source(&input)?;
        println!("{input}: {format}");
        let t0 = Instant::now();
        let b = bar(source.len(), "convert");
        let coll = copy_to_collection(
            source.as_ref(),
            &self.output,
            WriteOptions {
                frames_per_chunk: self.frames_per_chunk,
                zstd_level: self.zstd_level,
            },
            &|| b.inc(1),
        )
        .with_context(|| format!("converting {input} into {}", self.output.display()))?;
        b.finish_and_clear();
        if !self.no_stats {
            let b = bar(coll.len(), "stats");
            let stats = compute_stats(&coll, None, &|| b.inc(1))?;
            b.finish_and_clear();
            coll.write_stats(&stats)?;
        }
        println!(
            "wrote {} ({} trajectories, {} frames per inner chunk) in {:.1} s",
            self.output.display(),
            coll.len(),
            coll.frames_per_chunk(),
            t0.elapsed().as_secs_f64()
        );
        Ok(())
    }
}

impl Inspect {
    fn run(self) -> anyhow::Result<()> {
        let p = Path::new(&self.path);
        if p.is_dir() && !p.join("zarr.json").is_file() {
            // A folder of collections (e.g. the splits `generate` writes): list them.
            let list = physfm_data::list_collections(p)?;
            if list.is_empty() {
                bail!("{}: no Zarr collections in this folder", p.display());
            }
            if self.json {
                let v: Vec<_> = list
                    .iter()
                    .map(|(path, m, complete)| json!({"path": path, "meta": m, "complete": complete}))
                    .collect();
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                for (path, m, complete) in &list {
                    println!(
                        "{:<40} {:<16} {} trajectories x {} frames, {:?} x {} channels{}",
                        path.display(),
                        m.name,
                        m.trajectories,
                        m.frames,
                        m.spatial_shape,
                        m.channel_names.len(),
                        if *complete { "" } else { "  (INCOMPLETE)" }
                    );
                }
            }
            return Ok(());
        }
        let (source, format, mut stats) = open_source(&self.path)?;
        if stats.is_none() && self.stats {
            let b = if self.json {
                ProgressBar::hidden()
            } else {
                bar(source.len(), "stats")
            };
            stats = Some(compute_stats(source.as_ref(), None, &|| b.inc(1))?);
            b.finish_and_clear();
        }
        let summary = inspect(source.as_ref(), &format, stats)?;
        if self.json {
            println!("{}", serde_json::to_string_pretty(&summary)?);
        } else {
            print!("{summary}");
        }
        Ok(())
    }
}

impl StatsCmd {
    fn run(self) -> anyhow::Result<()> {
        let coll = TrajectoryCollection::open(&self.store)?;
        let indices = match &self.set {
            Some(name) => {
                let splits = coll
                    .read_splits()?
                    .with_context(|| format!("{} has no stored split", self.store.display()))?;
                Some(splits.set(name)?.to_vec())
            }
            None => None,
        };
        let b = bar(indices.as_ref().map_or(coll.len(), Vec::len), "stats");
        let stats = compute_stats(&coll, indices.as_deref(), &|| b.inc(1))?;
        b.finish_and_clear();
        coll.write_stats(&stats)?;
        for c in &stats.channel {
            println!(
                "{:<10} mean {:.6e}  std {:.6e}  min {:.6e}  max {:.6e}",
                c.name, c.mean, c.std, c.min, c.max
            );
        }
        println!("stored in {}/stats", self.store.display());
        Ok(())
    }
}

fn parse_interval(s: &str) -> anyhow::Result<(String, Interval)> {
    let (name, range) = s
        .split_once('=')
        .with_context(|| format!("{s:?}: expected name=lo:hi or name=value"))?;
    let num = |v: &str| {
        v.trim()
            .parse::<f64>()
            .with_context(|| format!("{s:?}: {v:?} is not a number"))
    };
    let iv = match range.split_once(':') {
        Some((lo, hi)) => [num(lo)?, num(hi)?],
        None => {
            let v = num(range)?;
            [v, v]
        }
    };
    Ok((name.trim().to_string(), iv))
}

impl SplitCmd {
    fn run(self) -> anyhow::Result<()> {
        let coll = TrajectoryCollection::open(&self.store)?;
        let by_param = !self.train_range.is_empty() || !self.hold_out.is_empty();
        let rule = match (self.random.is_empty(), by_param) {
            (false, false) => SplitRule::Random {
                parts: self
                    .random
                    .iter()
                    .map(|p| {
                        let (n, f) = p
                            .split_once('=')
                            .with_context(|| format!("--random {p:?}: expected name=fraction"))?;
                        Ok((
                            n.to_string(),
                            f.parse::<f64>()
                                .with_context(|| format!("--random {p:?}"))?,
                        ))
                    })
                    .collect::<anyhow::Result<_>>()?,
            },
            (true, true) => SplitRule::ByParameter {
                train_range: self
                    .train_range
                    .iter()
                    .map(|s| parse_interval(s))
                    .collect::<anyhow::Result<_>>()?,
                held_out: self
                    .hold_out
                    .iter()
                    .map(|b| {
                        b.split(',')
                            .map(parse_interval)
                            .collect::<anyhow::Result<_>>()
                    })
                    .collect::<anyhow::Result<_>>()?,
            },
            (true, false) => bail!("give --random parts, or --train-range / --hold-out"),
            (false, true) => bail!("--random cannot be combined with --train-range / --hold-out"),
        };
        let splits = Splits::from_source(rule, self.seed, &coll)?;
        coll.write_splits(&splits)?;
        for (name, idx) in &splits.sets {
            println!("{name:<12} {} trajectories", idx.len());
        }
        println!("stored in {}/splits", self.store.display());
        Ok(())
    }
}

/// A synthetic collection for the benchmark: smooth random fields plus noise, so that the
/// compression ratio resembles simulation output rather than zeros.
fn bench_collection(
    path: &Path,
    shape: &[usize],
    trajectories: usize,
    frames: usize,
    zstd_level: i32,
) -> anyhow::Result<()> {
    if TrajectoryCollection::open(path).is_ok() {
        return Ok(());
    }
    if path.exists() {
        std::fs::remove_dir_all(path)?;
    }
    let axes = ["x", "y"];
    let meta = CollectionMeta {
        format_version: FORMAT_VERSION,
        name: format!("bench{}d", shape.len()),
        channel_names: vec!["u".into()],
        param_names: vec!["nu".into()],
        axis_names: axes[..shape.len()].iter().map(|s| s.to_string()).collect(),
        spatial_shape: shape.to_vec(),
        domain_lengths: vec![1.0; shape.len()],
        boundary: vec![physfm_data::AxisBoundary::PERIODIC; shape.len()],
        frames,
        trajectories,
        generator: "xtask data bench".into(),
        seed: 0,
        provenance: json!({}),
    };
    let coords: Vec<Vec<f64>> = shape
        .iter()
        .map(|&n| (0..n).map(|i| i as f64 / n as f64).collect())
        .collect();
    let options = WriteOptions {
        frames_per_chunk: None,
        zstd_level,
    };
    let coll = TrajectoryCollection::create_with(path, meta, &coords, options)?;
    let points: usize = shape.iter().product();
    let b = bar(trajectories, "prepare");
    for i in 0..trajectories {
        let mut rng = ChaCha8Rng::seed_from_u64(i as u64);
        let (k1, k2, ph) = (
            rng.random_range(1..6) as f32,
            rng.random_range(1..6) as f32,
            rng.random::<f32>() * std::f32::consts::TAU,
        );
        let mut f = Vec::with_capacity(frames * points);
        for t in 0..frames {
            let decay = (-0.01 * t as f32).exp();
            for p in 0..points {
                let x = (p % shape[0]) as f32 / shape[0] as f32;
                let y = (p / shape[0]) as f32 / shape.get(1).copied().unwrap_or(1) as f32;
                let v = decay
                    * ((std::f32::consts::TAU * k1 * x + ph + 0.05 * t as f32).sin()
                        + 0.5 * (std::f32::consts::TAU * k2 * y).cos());
                f.push(v + 1e-3 * (rng.random::<f32>() - 0.5));
            }
        }
        let times: Vec<f64> = (0..frames).map(|t| 0.01 * t as f64).collect();
        coll.write_trajectory(i, &f, &times, &[i as f64])?;
        b.inc(1);
    }
    b.finish_and_clear();
    coll.finalize()?;
    Ok(())
}

/// Loader throughput: `(samples per second, MB per second)` over `batches` batches.
fn time_loader(
    src: Arc<dyn TrajectorySource>,
    batch: usize,
    batches: usize,
) -> anyhow::Result<(f64, f64)> {
    let spec = DatasetSpec::new(
        src,
        WindowSpec {
            history: 1,
            horizon: 1,
            stride: 1,
        },
    );
    let config = LoaderConfig {
        batch_size: batch,
        batches,
        seed: 1,
        workers: 1,
        prefetch: 4,
        skip: 0,
    };
    let t0 = Instant::now();
    let mut bytes = 0usize;
    let mut samples = 0usize;
    for b in Loader::new(vec![spec], config)? {
        let b = b?;
        bytes += b.field_bytes();
        samples += b.size;
    }
    let s = t0.elapsed().as_secs_f64();
    Ok((samples as f64 / s, bytes as f64 / s / 1e6))
}

/// The windows physfm's loader draws, for the Python readers to read the same ones.
fn window_list(src: &dyn TrajectorySource, count: usize, seed: u64) -> Vec<(usize, usize)> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..count)
        .map(|_| {
            (
                rng.random_range(0..src.len()),
                rng.random_range(0..src.meta().frames - 1),
            )
        })
        .collect()
}

/// Single-threaded window reads: samples per second.
fn time_reads(src: &dyn TrajectorySource, windows: &[(usize, usize)]) -> anyhow::Result<f64> {
    let t0 = Instant::now();
    for &(i, s) in windows {
        std::hint::black_box(src.read_frames(i, s, 2)?);
    }
    Ok(windows.len() as f64 / t0.elapsed().as_secs_f64())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

impl Bench {
    fn run(self) -> anyhow::Result<()> {
        let root = workspace_root();
        let dir = root.join("runs").join("bench").join("data");
        std::fs::create_dir_all(&dir)?;
        // (name, shape, trajectories, frames, zstd level): PDEBench-like 1D Burgers and 2D
        // 64x64 data, compressed (the default) and uncompressed (as PDEBench ships HDF5).
        let (n1, t1, n2, t2) = if self.quick {
            (8, 41, 8, 21)
        } else {
            (64, 201, 32, 101)
        };
        let cases: Vec<(&str, Vec<usize>, usize, usize, i32)> = vec![
            ("1d", vec![1024], n1, t1, 3),
            ("1d-raw", vec![1024], n1, t1, 0),
            ("2d", vec![64, 64], n2, t2, 3),
            ("2d-raw", vec![64, 64], n2, t2, 0),
        ];
        let (batch, batches, reads, repeats) = if self.quick {
            (16, 20, 200, 3)
        } else {
            (16, 200, 2000, 5)
        };
        // The reference FNO2d training step (batch 16, 64x64) takes 423 ms in PyTorch on this
        // machine (../shared/REFERENCES.md): it consumes 16 / 0.423 samples per second.
        let consumed = 16.0 / 0.423;
        let mut report = serde_json::Map::new();
        let py = if self.vs_python {
            Some(ensure_venv(
                &self.python,
                &root.join("xtask/parity/requirements-data.txt"),
            )?)
        } else {
            None
        };
        println!(
            "{:<4} {:>18} {:>12} {:>20} {:>18} {:>18}",
            "case",
            "loader samples/s",
            "loader MB/s",
            "physfm reads/s (1T)",
            "zarr-python /s",
            "h5py /s"
        );
        for (name, shape, n, frames, level) in &cases {
            let path = dir.join(format!("{name}.zarr"));
            bench_collection(&path, shape, *n, *frames, *level)?;
            let src: Arc<dyn TrajectorySource> = Arc::new(TrajectoryCollection::open(&path)?);
            let mut rates = Vec::new();
            let mut mbs = Vec::new();
            for _ in 0..repeats {
                let (r, m) = time_loader(src.clone(), batch, batches)?;
                rates.push(r);
                mbs.push(m);
            }
            let windows = window_list(src.as_ref(), reads, 7);
            let ours = median(
                (0..repeats)
                    .map(|_| time_reads(src.as_ref(), &windows))
                    .collect::<anyhow::Result<_>>()?,
            );
            let (rate, mb) = (median(rates), median(mbs));
            let mut entry = json!({
                "shape": shape, "trajectories": n, "frames": frames, "batch": batch, "zstd_level": level,
                "loader_samples_per_s": rate, "loader_mb_per_s": mb,
                "physfm_reads_per_s": ours, "repeats": repeats,
            });
            let (mut zarr_rate, mut h5_rate) = (f64::NAN, f64::NAN);
            if let Some(py) = &py {
                let wfile = dir.join(format!("{name}-windows.json"));
                std::fs::write(&wfile, serde_json::to_vec(&windows)?)?;
                let out = Command::new(py)
                    .arg(root.join("xtask/parity/data_bench.py"))
                    .arg(&path)
                    .arg(&wfile)
                    .arg(dir.join(format!("{name}.h5")))
                    .arg(repeats.to_string())
                    .output()
                    .context("running data_bench.py")?;
                if !out.status.success() {
                    bail!(
                        "data_bench.py failed:\n{}",
                        String::from_utf8_lossy(&out.stderr)
                    );
                }
                let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
                zarr_rate = v["zarr_reads_per_s"].as_f64().unwrap_or(f64::NAN);
                h5_rate = v["h5py_reads_per_s"].as_f64().unwrap_or(f64::NAN);
                entry["zarr_python_reads_per_s"] = json!(zarr_rate);
                entry["h5py_reads_per_s"] = json!(h5_rate);
                entry["ratio_physfm_over_zarr_python"] = json!(ours / zarr_rate);
                entry["ratio_physfm_over_h5py"] = json!(ours / h5_rate);
                entry["python_versions"] = v["versions"].clone();
            }
            println!(
                "{name:<6} {rate:>18.0} {mb:>12.1} {ours:>20.0} {:>18} {:>18}",
                if zarr_rate.is_nan() {
                    "-".into()
                } else {
                    format!("{zarr_rate:.0} ({:.1}x)", ours / zarr_rate)
                },
                if h5_rate.is_nan() {
                    "-".into()
                } else {
                    format!("{h5_rate:.0} ({:.1}x)", ours / h5_rate)
                },
            );
            if *name == "2d" {
                let factor = rate / consumed;
                println!(
                    "2d: the loader (1 background thread) delivers {factor:.0}x the {consumed:.1} samples/s the reference FNO2d training step consumes (goal: 20x) -> {}",
                    if factor >= 20.0 { "met" } else { "NOT met" }
                );
                entry["fno2d_consumption_samples_per_s"] = json!(consumed);
                entry["loader_over_consumption"] = json!(factor);
            }
            report.insert(name.to_string(), entry);
        }
        println!(
            "(medians of {repeats} runs; reads/s: single-threaded reads of the same {reads} random 2-frame windows)"
        );
        if let Some(p) = &self.json {
            std::fs::write(
                p,
                serde_json::to_vec_pretty(&serde_json::Value::Object(report))?,
            )?;
            println!("wrote {}", p.display());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_parse_and_bad_ones_are_named() {
        assert_eq!(
            parse_interval("nu=0.1:0.2").unwrap(),
            ("nu".into(), [0.1, 0.2])
        );
        assert_eq!(
            parse_interval("beta=4").unwrap(),
            ("beta".into(), [4.0, 4.0])
        );
        let e = parse_interval("nu=a:1").unwrap_err().to_string();
        assert!(e.contains("\"a\" is not a number"), "{e}");
        assert!(parse_interval("nu").is_err());
    }

    #[test]
    fn hdf5_files_are_recognised_by_signature() {
        let fixture = workspace_root().join("crates/physfm-data/tests/fixtures/nan.h5");
        assert!(is_hdf5(&fixture));
        let not = workspace_root().join("crates/physfm-data/tests/fixtures/expected.json");
        assert!(!is_hdf5(&not));
    }

    #[cfg(feature = "hdf5")]
    #[test]
    fn convert_inspect_split_and_stats_end_to_end() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("well.zarr");
        let input =
            workspace_root().join("crates/physfm-data/tests/fixtures/the_well_shear_flow.hdf5");
        Convert {
            input: input.clone(),
            output: out.clone(),
            frames_per_chunk: Some(3),
            zstd_level: 5,
            no_stats: false,
        }
        .run()
        .unwrap();
        let coll = TrajectoryCollection::open(&out).unwrap();
        assert_eq!(coll.frames_per_chunk(), 3);
        let stats = coll
            .read_stats()
            .unwrap()
            .expect("convert stores statistics");
        assert_eq!(stats.channels(), 8);
        // Converting again refuses to overwrite.
        let again = Convert {
            input,
            output: out.clone(),
            frames_per_chunk: None,
            zstd_level: 3,
            no_stats: true,
        }
        .run();
        assert!(format!("{:#}", again.unwrap_err()).contains("exists already"));
        SplitCmd {
            store: out.clone(),
            random: vec!["train=1".into(), "test=1".into()],
            train_range: vec![],
            hold_out: vec![],
            seed: 3,
        }
        .run()
        .unwrap();
        let splits = coll.read_splits().unwrap().unwrap();
        assert_eq!(splits.sets["train"].len() + splits.sets["test"].len(), 2);
        StatsCmd {
            store: out.clone(),
            set: Some("train".into()),
        }
        .run()
        .unwrap();
        assert_eq!(coll.read_stats().unwrap().unwrap().trajectories, 1);
        let (src, format, stats) = open_source(out.to_str().unwrap()).unwrap();
        assert_eq!(format, "physfm native Zarr v3");
        let s = inspect(src.as_ref(), &format, stats).unwrap();
        let j = serde_json::to_value(&s).unwrap();
        assert_eq!(j["meta"]["channel_names"][2], "velocity_x");
        assert_eq!(j["params"][0]["name"], "Reynolds");
        assert_eq!(j["stats"]["trajectories"], 1);
        assert!(s.to_string().contains("boundary wall"));
    }
}

/// `cargo xtask parity data`: zarr-python reads what physfm writes.
#[derive(Debug, clap::Args)]
pub(crate) struct DataParity {
    /// Output directory (default runs/parity/data).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Python interpreter used to create the virtual environment.
    #[arg(long, default_value = "python3")]
    python: String,
}

impl DataParity {
    pub(crate) fn run(self) -> anyhow::Result<()> {
        let root = workspace_root();
        let out = self.out.unwrap_or_else(|| root.join("runs/parity/data"));
        if out.exists() {
            std::fs::remove_dir_all(&out)?;
        }
        let converted = out.join("converted");
        std::fs::create_dir_all(&converted)?;
        // A native store with known values, irregular times, statistics and a split.
        let native = out.join("native.zarr");
        let (n, t, shape, c) = (5usize, 7usize, [12usize, 10], 2usize);
        let meta = CollectionMeta {
            format_version: FORMAT_VERSION,
            name: "parity".into(),
            channel_names: vec!["u".into(), "v".into()],
            param_names: vec!["nu".into()],
            axis_names: vec!["x".into(), "y".into()],
            spatial_shape: shape.to_vec(),
            domain_lengths: vec![1.0, 2.0],
            boundary: vec![physfm_data::AxisBoundary::PERIODIC, "wall".parse().unwrap()],
            frames: t,
            trajectories: n,
            generator: "xtask parity data".into(),
            seed: 0,
            provenance: json!({}),
        };
        let coords: Vec<Vec<f64>> = shape
            .iter()
            .map(|&m| (0..m).map(|i| i as f64).collect())
            .collect();
        let coll = TrajectoryCollection::create_with(
            &native,
            meta,
            &coords,
            WriteOptions {
                frames_per_chunk: Some(3),
                zstd_level: 3,
            },
        )?;
        let fl = shape.iter().product::<usize>() * c;
        for i in 0..n {
            let f: Vec<f32> = (0..t)
                .flat_map(|tt| (0..fl).map(move |k| (i * 1_000_000 + tt * 1000 + k) as f32))
                .collect();
            let times: Vec<f64> = (0..t)
                .map(|tt| 0.25 * tt as f64 + 0.01 * i as f64)
                .collect();
            coll.write_trajectory(i, &f, &times, &[0.1 * i as f64])?;
        }
        coll.finalize()?;
        coll.write_stats(&compute_stats(&coll, None, &|| {})?)?;
        coll.write_splits(&Splits::from_source(
            SplitRule::Random {
                parts: vec![("train".into(), 0.6), ("test".into(), 0.4)],
            },
            1,
            &coll,
        )?)?;
        // The HDF5 fixtures, converted by the CLI (which brings in the hdf5 feature).
        let fixtures = root.join("crates/physfm-data/tests/fixtures");
        let exe = std::env::current_exe()?;
        let mut names: Vec<String> = std::fs::read_dir(&fixtures)?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| {
                (n.ends_with(".h5") || n.ends_with(".hdf5"))
                    && !n.starts_with("bad_")
                    && n != "nan.h5"
            })
            .collect();
        names.sort();
        for name in &names {
            let status = Command::new(&exe)
                .args(["data", "convert"])
                .arg(fixtures.join(name))
                .arg(converted.join(format!("{name}.zarr")))
                .status()?;
            if !status.success() {
                bail!("converting {name} failed");
            }
        }
        let py = ensure_venv(
            &self.python,
            &root.join("xtask/parity/requirements-data.txt"),
        )?;
        let output = Command::new(py)
            .arg(root.join("xtask/parity/data_parity.py"))
            .arg(&native)
            .arg(&fixtures)
            .arg(&converted)
            .output()?;
        if !output.status.success() {
            bail!(
                "data_parity.py failed:\n{}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        let v: serde_json::Value = serde_json::from_slice(&output.stdout)?;
        std::fs::write(out.join("parity.json"), serde_json::to_vec_pretty(&v)?)?;
        let nat = &v["native"];
        println!(
            "zarr-python {} reads physfm's stores:",
            v["versions"]["zarr"].as_str().unwrap_or("?")
        );
        println!(
            "  native.zarr   shape {} shards {} inner chunks {}: fields max |diff| {}, time {}, params {}, stats mean rel. diff {:.1e}, splits {}, window == slice: {}",
            nat["shape"],
            nat["shards"],
            nat["inner_chunks"],
            nat["fields_max_abs_diff"],
            nat["time_max_abs_diff"],
            nat["params_max_abs_diff"],
            nat["stats_mean_max_rel_diff"].as_f64().unwrap_or(f64::NAN),
            nat["splits"],
            nat["window_equals_slice"]
        );
        let mut worst: f64 = nat["fields_max_abs_diff"].as_f64().unwrap_or(f64::INFINITY);
        worst = worst.max(nat["time_max_abs_diff"].as_f64().unwrap_or(f64::INFINITY));
        for name in &names {
            let e = &v[name.as_str()];
            let d = e["fields_max_abs_diff"].as_f64().unwrap_or(f64::INFINITY);
            worst = worst.max(d);
            println!("  {name:<58} shape {} vs h5py: max |diff| {d}", e["shape"]);
        }
        println!(
            "largest difference: {worst} (written to {})",
            out.join("parity.json").display()
        );
        if worst != 0.0 || nat["window_equals_slice"] != json!(true) {
            bail!("zarr-python does not read the values physfm wrote");
        }
        Ok(())
    }
}
