//! FNO forward and training step (MSE, Adam) at neuraloperator's two reference
//! configurations of `benches/fno_configs.json` (the list `cargo xtask bench fno --vs-torch`
//! times with neuraloperator's `FNO` on PyTorch in the same run).

use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Device, Distribution, Tensor};
use criterion::{Criterion, Throughput, criterion_group};
use physfm_models::FnoConfig;
use serde::Deserialize;

#[derive(Deserialize)]
struct Config {
    name: String,
    batch: usize,
    in_channels: usize,
    out_channels: usize,
    dims: Vec<usize>,
    n_modes: Vec<usize>,
    width: usize,
}

fn bench_config<const D: usize>(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    c: &Config,
) {
    let shape = |ch: usize| -> [usize; D] {
        let mut s = [0; D];
        s[0] = c.batch;
        s[1] = ch;
        s[2..].copy_from_slice(&c.dims);
        s
    };
    let config = FnoConfig::new(c.in_channels, c.out_channels, &c.n_modes, c.width);
    let device = Device::flex();
    let model = config.init(&device);
    let x = Tensor::<D>::random(
        shape(c.in_channels),
        Distribution::Normal(0.0, 1.0),
        &device,
    );
    g.bench_function(format!("forward_{}", c.name), |b| {
        b.iter(|| model.forward(x.clone()).into_data())
    });

    let ad = Device::flex().autodiff();
    let mut model = Some(config.init(&ad));
    let mut optim = AdamConfig::new().init();
    let x = Tensor::<D>::random(shape(c.in_channels), Distribution::Normal(0.0, 1.0), &ad);
    let y = Tensor::<D>::random(shape(c.out_channels), Distribution::Normal(0.0, 1.0), &ad);
    g.bench_function(format!("train_step_{}", c.name), |b| {
        b.iter(|| {
            let m = model.take().expect("model is put back every iteration");
            let loss = (m.forward(x.clone()) - y.clone()).square().mean();
            let grads = GradientsParams::from_grads(loss.backward(), &m);
            let m = optim.step(1e-3, m, grads);
            let probe = m.num_params();
            model = Some(m);
            probe
        })
    });
}

fn fno(c: &mut Criterion) {
    // As physfm's binaries run (docs/performance.md).
    physfm_spectral::cpu::retain_freed_memory();
    let configs: Vec<Config> =
        serde_json::from_str(include_str!("../../fno_configs.json")).expect("fno_configs.json");
    let mut g = c.benchmark_group("fno");
    g.sample_size(10);
    for cfg in &configs {
        let points: usize = cfg.dims.iter().product();
        g.throughput(Throughput::Elements((cfg.batch * points) as u64));
        match cfg.dims.len() {
            1 => bench_config::<3>(&mut g, cfg),
            2 => bench_config::<4>(&mut g, cfg),
            _ => bench_config::<5>(&mut g, cfg),
        }
    }
    g.finish();
}

criterion_group!(benches, fno);
