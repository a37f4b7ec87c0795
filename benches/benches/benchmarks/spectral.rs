//! Spectral convolution, forward and forward + backward, at the 1D reference shape.

use burn::tensor::{Device, Distribution, Tensor};
use criterion::{Criterion, Throughput, criterion_group};
use physfm_spectral::SpectralConv1dConfig;

fn spectral(c: &mut Criterion) {
    let mut g = c.benchmark_group("flex_spectral_conv1d");
    g.sample_size(10);
    for &(b, ch, n, modes) in &[
        (32usize, 64usize, 1024usize, 16usize),
        (32, 64, 1000, 16),
        (32, 64, 85, 16),
    ] {
        let device = Device::flex();
        let layer = SpectralConv1dConfig::new(ch, ch, modes).init(&device);
        let x = Tensor::<3>::random([b, ch, n], Distribution::Normal(0.0, 1.0), &device);
        g.throughput(Throughput::Elements((b * ch * n) as u64));
        g.bench_function(format!("forward_b{b}_c{ch}_n{n}_m{modes}"), |bench| {
            bench.iter(|| {
                let y = layer.forward(x.clone());
                y.into_data()
            })
        });
        let ad = Device::flex().autodiff();
        let layer = SpectralConv1dConfig::new(ch, ch, modes).init(&ad);
        let x = Tensor::<3>::random([b, ch, n], Distribution::Normal(0.0, 1.0), &ad).require_grad();
        g.bench_function(
            format!("forward_backward_b{b}_c{ch}_n{n}_m{modes}"),
            |bench| {
                bench.iter(|| {
                    let grads = layer.forward(x.clone()).sum().backward();
                    x.grad(&grads).map(|g| g.into_data())
                })
            },
        );
    }
    g.finish();
}

criterion_group!(benches, spectral);
