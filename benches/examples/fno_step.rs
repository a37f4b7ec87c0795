//! Runs the reference FNO training step (or forward pass) in a loop, for profilers:
//! `cargo run --release -p physfm-benches --example fno_step -- <1d|2d> <steps> [forward]`,
//! then e.g. `perf record -g target/release/examples/fno_step 1d 20`. Prints the median step
//! time.

use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Device, Distribution, Tensor};
use physfm_models::FnoConfig;

fn run<const D: usize>(config: &FnoConfig, shape: [usize; D], steps: usize, forward_only: bool) {
    let ad = Device::flex().autodiff();
    let mut model = config.init(&ad);
    let mut optim = AdamConfig::new().init();
    let x = Tensor::<D>::random(shape, Distribution::Normal(0.0, 1.0), &ad);
    let y = Tensor::<D>::random(shape, Distribution::Normal(0.0, 1.0), &ad);
    let mut times = Vec::with_capacity(steps);
    for _ in 0..steps {
        let t = std::time::Instant::now();
        if forward_only {
            let m = model.valid();
            let _ = m.forward(x.clone().inner()).into_data();
        } else {
            let loss = (model.forward(x.clone()) - y.clone()).square().mean();
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(1e-3, model, grads);
            let _ = model.num_params();
        }
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    println!(
        "median {:.1} ms over {steps} steps (min {:.1})",
        times[steps / 2],
        times[0]
    );
}

fn main() {
    // As physfm's binaries run (docs/performance.md); `PHYSFM_DEFAULT_MALLOC=1` leaves glibc's
    // defaults, to measure what it buys.
    if std::env::var_os("PHYSFM_DEFAULT_MALLOC").is_none() {
        physfm_spectral::cpu::retain_freed_memory();
    }
    let args: Vec<String> = std::env::args().collect();
    let steps: usize = args.get(2).map(|s| s.parse().expect("steps")).unwrap_or(10);
    let forward_only = args.get(3).is_some_and(|a| a == "forward");
    match args.get(1).map(String::as_str) {
        Some("2d") => run::<4>(
            &FnoConfig::new(1, 1, &[12, 12], 32),
            [16, 1, 64, 64],
            steps,
            forward_only,
        ),
        _ => run::<3>(
            &FnoConfig::new(1, 1, &[16], 64),
            [32, 1, 1024],
            steps,
            forward_only,
        ),
    }
}
