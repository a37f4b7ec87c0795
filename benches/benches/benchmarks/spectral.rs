//! Spectral convolution, forward and forward + backward, at the reference shapes of
//! `benches/spectral_shapes.json` (the same list `cargo xtask bench spectral --vs-torch` times
//! with neuraloperator), and the last-axis method crossover (dense truncated DFT against real
//! FFT) that `physfm_spectral::cpu::last_axis_method` is tuned on.

use burn::tensor::{Device, Distribution, Tensor};
use criterion::{Criterion, Throughput, criterion_group};
use physfm_spectral::cpu::{LastAxisMethod, force_last_axis_method};
use physfm_spectral::reference::BenchShape as Shape;
use physfm_spectral::{SpectralConv1dConfig, SpectralConv2dConfig, SpectralConv3dConfig};

/// Runs `$body` with `$x` a random input of `s`'s shape and `$fwd` the layer's forward pass,
/// for the layer of `s`'s dimension.
macro_rules! with_layer {
    ($s:expr, $device:expr, |$fwd:ident, $x:ident| $body:block) => {{
        let s = $s;
        let d = s.dims.len();
        let shape_x = |b: usize| {
            let mut v = vec![b, s.in_channels];
            v.extend(&s.dims);
            v
        };
        match d {
            1 => {
                let layer = SpectralConv1dConfig::new(s.in_channels, s.out_channels, s.n_modes[0])
                    .init($device);
                let $x = Tensor::<3>::random(
                    <[usize; 3]>::try_from(shape_x(s.batch)).unwrap(),
                    Distribution::Normal(0.0, 1.0),
                    $device,
                );
                let $fwd = move |x: &Tensor<3>| layer.forward(x.clone());
                $body
            }
            2 => {
                let layer = SpectralConv2dConfig::new(
                    s.in_channels,
                    s.out_channels,
                    [s.n_modes[0], s.n_modes[1]],
                )
                .init($device);
                let $x = Tensor::<4>::random(
                    <[usize; 4]>::try_from(shape_x(s.batch)).unwrap(),
                    Distribution::Normal(0.0, 1.0),
                    $device,
                );
                let $fwd = move |x: &Tensor<4>| layer.forward(x.clone());
                $body
            }
            _ => {
                let layer = SpectralConv3dConfig::new(
                    s.in_channels,
                    s.out_channels,
                    [s.n_modes[0], s.n_modes[1], s.n_modes[2]],
                )
                .init($device);
                let $x = Tensor::<5>::random(
                    <[usize; 5]>::try_from(shape_x(s.batch)).unwrap(),
                    Distribution::Normal(0.0, 1.0),
                    $device,
                );
                let $fwd = move |x: &Tensor<5>| layer.forward(x.clone());
                $body
            }
        }
    }};
}

fn spectral(c: &mut Criterion) {
    let shapes: Vec<Shape> =
        serde_json::from_str(include_str!("../../spectral_shapes.json")).expect("shape list");
    let mut g = c.benchmark_group("spectral_conv");
    g.sample_size(10);
    for s in &shapes {
        let points: usize = s.dims.iter().product();
        g.throughput(Throughput::Elements(
            (s.batch * s.in_channels * points) as u64,
        ));
        let device = Device::flex();
        with_layer!(s, &device, |forward, x| {
            g.bench_function(format!("forward_{}", s.name), |b| b.iter(|| forward(&x)));
        });
        let ad = Device::flex().autodiff();
        with_layer!(s, &ad, |forward, x| {
            let x = x.require_grad();
            g.bench_function(format!("forward_backward_{}", s.name), |b| {
                b.iter(|| {
                    let grads = forward(&x).sum().backward();
                    x.grad(&grads)
                })
            });
        });
    }
    g.finish();

    // The crossover between the dense truncated DFT and the real FFT on the last axis:
    // 1D forward, batch 8 x 32 channels, at two lengths and growing mode counts.
    let mut g = c.benchmark_group("spectral_last_axis");
    g.sample_size(10);
    let device = Device::flex();
    for n in [64usize, 1024] {
        for k in [5usize, 9, 17, 33] {
            if k > n / 2 + 1 {
                continue;
            }
            let layer = SpectralConv1dConfig::new(32, 32, 2 * (k - 1)).init(&device);
            let x = Tensor::<3>::random([8, 32, n], Distribution::Normal(0.0, 1.0), &device);
            for m in [LastAxisMethod::Dense, LastAxisMethod::Fft] {
                g.bench_function(format!("{m:?}_n{n}_k{k}").to_lowercase(), |b| {
                    force_last_axis_method(Some(m));
                    b.iter(|| layer.forward(x.clone()));
                    force_last_axis_method(None);
                });
            }
        }
    }
    g.finish();
}

criterion_group!(benches, spectral);
