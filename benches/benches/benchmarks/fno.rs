//! FNO-1D forward and training step at neuraloperator's reference configuration
//! (batch 32 x 1 x 1024, width 64, 16 modes, 4 layers), as timed for PyTorch in
//! `../shared/REFERENCES.md` (95 ms forward, 316 ms train step on 2 threads).

use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Device, Distribution, Tensor};
use criterion::{Criterion, Throughput, criterion_group};
use physfm_models::Fno1dConfig;

fn fno(c: &mut Criterion) {
    let mut g = c.benchmark_group("flex_fno1d");
    g.sample_size(10);
    g.throughput(Throughput::Elements(32 * 1024));
    let device = Device::flex();
    let model = Fno1dConfig::new(1, 1, 16, 64).init(&device);
    let x = Tensor::<3>::random([32, 1, 1024], Distribution::Normal(0.0, 1.0), &device);
    g.bench_function("forward_b32_n1024_w64_m16", |b| {
        b.iter(|| model.forward(x.clone()).into_data())
    });

    let ad = Device::flex().autodiff();
    let mut model = Some(Fno1dConfig::new(1, 1, 16, 64).init(&ad));
    let mut optim = AdamConfig::new().init();
    let x = Tensor::<3>::random([32, 1, 1024], Distribution::Normal(0.0, 1.0), &ad);
    let y = Tensor::<3>::random([32, 1, 1024], Distribution::Normal(0.0, 1.0), &ad);
    g.bench_function("train_step_b32_n1024_w64_m16", |b| {
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
    g.finish();
}

criterion_group!(benches, fno);
