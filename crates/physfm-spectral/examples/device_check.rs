//! The spectral convolution on one device, checked and timed: the script a GPU machine runs.
//!
//! ```text
//! cargo run --release -p physfm-spectral --features cuda --example device_check -- \
//!     --device cuda --shapes benches/spectral_shapes.json [--torch torch.json] \
//!     [--json out.json] [--repeats 50]
//! ```
//!
//! 1. **Accuracy.** Forward pass, input gradient and weight gradient on the device against
//!    the f64 oracle ([`physfm_spectral::reference`]) at small shapes with odd, prime and
//!    non-power-of-two sizes (1D to 3D), and against the CPU path (itself tested against the
//!    oracle) at every reference shape. Relative error must stay below 1e-5 (f32); the exit
//!    status is 1 otherwise.
//! 2. **Speed.** Median wall time of the forward pass and of forward + backward (input and
//!    weight gradients, the device synchronised after each call) at the reference shapes, the
//!    lower of two medians (10 warm-up calls each). With
//!    `--torch`, the figures of `xtask/parity/spectral.py bench ... --device cuda` (neuraloperator's
//!    `SpectralConv` on PyTorch, timed the same way) are printed alongside with the ratio
//!    physfm/PyTorch.
//!
//! `--device` is `cpu` (always built), `wgpu` (feature `wgpu`) or `cuda` (feature `cuda`).

use std::time::Instant;

use burn::tensor::{DType, Device, Distribution, Tensor};
use physfm_spectral::reference::{self, BenchShape, Shapes};
use physfm_spectral::spectral_conv;
use rand::{RngExt, SeedableRng};
use serde_json::{Value, json};

#[path = "../tests/common/mod.rs"]
mod common;
use common::rel_err;

struct Args {
    device: String,
    shapes: String,
    torch: Option<String>,
    json: Option<String>,
    repeats: usize,
}

fn args() -> Result<Args, String> {
    let mut a = Args {
        device: "cpu".into(),
        shapes: "benches/spectral_shapes.json".into(),
        torch: None,
        json: None,
        repeats: 50,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--device" => a.device = value()?,
            "--shapes" => a.shapes = value()?,
            "--torch" => a.torch = Some(value()?),
            "--json" => a.json = Some(value()?),
            "--repeats" => a.repeats = value()?.parse().map_err(|e| format!("--repeats: {e}"))?,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(a)
}

fn device(name: &str) -> Result<Device, String> {
    match name {
        "cpu" => Ok(Device::flex()),
        #[cfg(feature = "wgpu")]
        "wgpu" => Ok(Device::wgpu(burn::tensor::DeviceKind::DefaultDevice)),
        #[cfg(feature = "cuda")]
        "cuda" => Ok(Device::cuda(0)),
        other => Err(format!(
            "device {other} is unknown or not built in (cpu; wgpu and cuda with their features)"
        )),
    }
}

fn shape_of(s: &Shapes, channels: usize, grid: &[usize]) -> Vec<usize> {
    let mut v = vec![s.batch, channels];
    v.extend(grid);
    v
}

fn weight_shape(s: &Shapes) -> Vec<usize> {
    let mut v = vec![s.in_channels, s.out_channels];
    v.extend(&s.modes);
    v.push(2);
    v
}

/// Output, input gradient and weight gradient of `sum(g * spectral_conv(x, w))` in f32.
fn grads(device: &Device, (x, w, g): (&[f64], &[f64], &[f64]), s: &Shapes) -> [Vec<f64>; 3] {
    common::run(device, DType::F32, x, w, g, s)
}

/// Median milliseconds of the forward pass and of forward + backward.
fn time_rank<const D: usize, const W: usize>(
    device: &Device,
    s: &Shapes,
    repeats: usize,
) -> (f64, f64) {
    let normal = Distribution::Normal(0.0, 1.0);
    let xs: [usize; D] = shape_of(s, s.in_channels, &s.dims).try_into().unwrap();
    let ws: [usize; W] = weight_shape(s).try_into().unwrap();
    let median = |f: &mut dyn FnMut()| {
        for _ in 0..10 {
            f();
        }
        let mut t: Vec<f64> = (0..repeats)
            .map(|_| {
                let t0 = Instant::now();
                f();
                t0.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        t.sort_by(f64::total_cmp);
        t[t.len() / 2]
    };
    let x = Tensor::<D>::random(xs, normal, device);
    let w = Tensor::<W>::random(ws, normal, device);
    let bias = Tensor::<1>::random([s.out_channels], normal, device);
    let with_bias = |y: Tensor<D>| {
        let mut shape = [1usize; D];
        shape[1] = s.out_channels;
        y + bias.clone().reshape(shape)
    };
    let forward = median(&mut || {
        let _y = with_bias(spectral_conv(x.clone(), w.clone()));
        device.sync().expect("device sync");
    });
    let ad = device.clone().autodiff();
    let xa = Tensor::<D>::random(xs, normal, &ad).require_grad();
    let wa = Tensor::<W>::random(ws, normal, &ad).require_grad();
    let ba = Tensor::<1>::random([s.out_channels], normal, &ad).require_grad();
    let backward = median(&mut || {
        let mut shape = [1usize; D];
        shape[1] = s.out_channels;
        let y = spectral_conv(xa.clone(), wa.clone()) + ba.clone().reshape(shape);
        let g = y.sum().backward();
        let _ = (xa.grad(&g), wa.grad(&g), ba.grad(&g));
        ad.sync().expect("device sync");
    });
    (forward, backward)
}

fn time(device: &Device, s: &Shapes, repeats: usize) -> (f64, f64) {
    match s.dims.len() {
        1 => time_rank::<3, 4>(device, s, repeats),
        2 => time_rank::<4, 5>(device, s, repeats),
        3 => time_rank::<5, 6>(device, s, repeats),
        d => panic!("no {d}D spectral convolution"),
    }
}

/// Small shapes the f64 oracle can afford (its input gradient costs points^2 x modes):
/// odd, prime and non-power-of-two sizes.
fn oracle_shapes() -> Vec<Shapes> {
    [
        (vec![17], vec![5]),
        (vec![97], vec![13]),
        (vec![1000], vec![16]),
        (vec![13, 10], vec![6, 4]),
        (vec![17, 23], vec![12, 7]),
        (vec![7, 6, 9], vec![3, 4, 3]),
        (vec![9, 8, 10], vec![4, 4, 3]),
    ]
    .into_iter()
    .map(|(dims, modes)| Shapes {
        batch: 2,
        in_channels: 3,
        out_channels: 2,
        dims,
        modes,
    })
    .collect()
}

fn random(rng: &mut rand_chacha::ChaCha8Rng, n: usize) -> Vec<f64> {
    (0..n).map(|_| rng.random_range(-1.0..1.0)).collect()
}

fn inputs(rng: &mut rand_chacha::ChaCha8Rng, s: &Shapes) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let np: usize = s.dims.iter().product();
    let nq: usize = s.modes.iter().product();
    (
        random(rng, s.batch * s.in_channels * np),
        random(rng, s.in_channels * s.out_channels * nq * 2),
        random(rng, s.batch * s.out_channels * np),
    )
}

const TOLERANCE: f64 = 1e-5;
const WHAT: [&str; 3] = ["output", "input gradient", "weight gradient"];

fn main() {
    let args = match args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("device_check: {e}");
            std::process::exit(2);
        }
    };
    let dev = device(&args.device).unwrap_or_else(|e| {
        eprintln!("device_check: {e}");
        std::process::exit(2);
    });
    #[cfg(any(feature = "wgpu", feature = "cuda"))]
    if let Some(id) = dev.identity() {
        println!("device {}: {} ({})", args.device, id.name, id.fingerprint);
    }
    let ad = dev.clone().autodiff();
    let cpu = Device::flex().autodiff();
    let reference_shapes: Vec<BenchShape> = serde_json::from_str(
        &std::fs::read_to_string(&args.shapes)
            .unwrap_or_else(|e| panic!("reading {}: {e}", args.shapes)),
    )
    .unwrap_or_else(|e| panic!("parsing {}: {e}", args.shapes));
    let torch: Option<Value> = args.torch.as_ref().map(|p| {
        serde_json::from_str(
            &std::fs::read_to_string(p).unwrap_or_else(|e| panic!("reading {p}: {e}")),
        )
        .unwrap_or_else(|e| panic!("parsing {p}: {e}"))
    });

    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(20261129);
    let mut accuracy = Vec::new();
    let mut worst = 0.0f64;
    println!("accuracy on {} (relative error, f32):", args.device);
    let mut check = |label: String, got: &[Vec<f64>; 3], want: &[Vec<f64>; 3], against: &str| {
        let errs: Vec<f64> = (0..3).map(|i| rel_err(&got[i], &want[i])).collect();
        println!(
            "  {label:<34} vs {against:<4} output {:.2e}  input grad {:.2e}  weight grad {:.2e}",
            errs[0], errs[1], errs[2]
        );
        for (e, w) in errs.iter().zip(WHAT) {
            if e.is_nan() || *e >= TOLERANCE {
                eprintln!("  FAIL: {label} {w} relative error {e:e} >= {TOLERANCE:e}");
            }
        }
        // A NaN error stays NaN (f64::max would drop it).
        worst = errs.iter().fold(worst, |m, &e| {
            if m.is_nan() || e.is_nan() {
                f64::NAN
            } else {
                m.max(e)
            }
        });
        accuracy.push(json!({"shape": label, "against": against,
            "output": errs[0], "input_gradient": errs[1], "weight_gradient": errs[2]}));
    };
    for s in oracle_shapes() {
        let (x, w, g) = inputs(&mut rng, &s);
        let got = grads(&ad, (&x, &w, &g), &s);
        let y = reference::spectral_conv(&x, &w, &[], &s);
        let (gx, gw) = reference::spectral_conv_grads(&x, &w, &g, &s);
        let label = format!("{:?} modes {:?}", s.dims, s.modes);
        check(label, &got, &[y, gx, gw], "f64");
    }
    for r in &reference_shapes {
        let s = r.shapes();
        let (x, w, g) = inputs(&mut rng, &s);
        let got = grads(&ad, (&x, &w, &g), &s);
        let want = grads(&cpu, (&x, &w, &g), &s);
        check(r.name.clone(), &got, &want, "cpu");
    }
    println!(
        "\nspeed on {} (median of {} calls, ms):",
        args.device, args.repeats
    );
    let mut speed = Vec::new();
    for r in &reference_shapes {
        let theirs = torch.as_ref().and_then(|t| {
            t["results"]
                .as_array()?
                .iter()
                .find(|row| row["name"] == r.name.as_str())
                .cloned()
        });
        // The lower of two medians: a GPU's clocks ramp up under load.
        let (fwd, fwd_bwd) = (0..2)
            .map(|_| time(&dev, &r.shapes(), args.repeats))
            .fold((f64::INFINITY, f64::INFINITY), |a, b| {
                (a.0.min(b.0), a.1.min(b.1))
            });
        let mut row = json!({"name": r.name, "forward_ms": fwd, "forward_backward_ms": fwd_bwd});
        let label = &r.name;
        match &theirs {
            Some(t) => {
                let (tf, tb) = (
                    t["forward_ms"].as_f64().unwrap_or(f64::NAN),
                    t["forward_backward_ms"].as_f64().unwrap_or(f64::NAN),
                );
                println!(
                    "  {label:<28} fwd {fwd:8.3} (torch {tf:8.3}, ratio {:5.2})   fwd+bwd {fwd_bwd:8.3} (torch {tb:8.3}, ratio {:5.2})",
                    fwd / tf,
                    fwd_bwd / tb
                );
                row["torch_forward_ms"] = json!(tf);
                row["torch_forward_backward_ms"] = json!(tb);
                row["ratio_forward"] = json!(fwd / tf);
                row["ratio_forward_backward"] = json!(fwd_bwd / tb);
            }
            None => println!("  {label:<28} fwd {fwd:8.3}   fwd+bwd {fwd_bwd:8.3}"),
        }
        speed.push(row);
    }
    if let Some(path) = &args.json {
        let doc = json!({
            "device": args.device,
            "repeats": args.repeats,
            "tolerance": TOLERANCE,
            "worst_relative_error": worst,
            "accuracy": accuracy,
            "speed": speed,
            "torch": torch.as_ref().map(|t| json!({"version": t["torch"], "device": t["device"]})),
        });
        std::fs::write(path, serde_json::to_string_pretty(&doc).unwrap())
            .unwrap_or_else(|e| panic!("writing {path}: {e}"));
        println!("\nwrote {path}");
    }
    if worst.is_nan() || worst >= TOLERANCE {
        eprintln!("device_check: worst relative error {worst:e} >= {TOLERANCE:e}");
        std::process::exit(1);
    }
    println!("all relative errors below {TOLERANCE:e} (worst {worst:.2e})");
}
