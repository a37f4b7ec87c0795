//! The cubecl kernels (feature `wgpu`) against the f64 oracle and the CPU path: forward and
//! both gradients, 1D to 3D, odd and prime sizes. Runs on any wgpu adapter, including Mesa's
//! software Vulkan (`mesa-vulkan-drivers`) on a machine without a GPU, which is how
//! `cargo xtask test` runs it.
#![cfg(feature = "wgpu")]

use burn::tensor::{Device, DeviceKind, Tensor, TensorData};
use physfm_spectral::reference::{self, Shapes};
use physfm_spectral::spectral_conv;
use rand::{RngExt, SeedableRng};

fn rel_err(a: &[f64], b: &[f64]) -> f64 {
    let num: f64 = a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum();
    let den: f64 = b.iter().map(|y| y * y).sum();
    (num / den.max(1e-300)).sqrt()
}

fn run<const D: usize, const W: usize>(
    device: &Device,
    x: &[f64],
    w: &[f64],
    g: &[f64],
    s: &Shapes,
) -> [Vec<f64>; 3] {
    let mut xs = vec![s.batch, s.in_channels];
    xs.extend(&s.dims);
    let mut ws = vec![s.in_channels, s.out_channels];
    ws.extend(&s.modes);
    ws.push(2);
    let mut ys = vec![s.batch, s.out_channels];
    ys.extend(&s.dims);
    let f32s = |v: &[f64]| v.iter().map(|&a| a as f32).collect::<Vec<_>>();
    let xt = Tensor::<D>::from_data(TensorData::new(f32s(x), xs), device).require_grad();
    let wt = Tensor::<W>::from_data(TensorData::new(f32s(w), ws), device).require_grad();
    let gt = Tensor::<D>::from_data(TensorData::new(f32s(g), ys), device);
    let y = spectral_conv(xt.clone(), wt.clone());
    let grads = (y.clone() * gt).sum().backward();
    let host = |d: TensorData| {
        d.try_to_vec::<f32>()
            .unwrap()
            .into_iter()
            .map(f64::from)
            .collect::<Vec<_>>()
    };
    [
        host(y.into_data()),
        host(xt.grad(&grads).unwrap().into_data()),
        host(wt.grad(&grads).unwrap().into_data()),
    ]
}

#[test]
fn cubecl_kernels_match_the_f64_reference_and_the_cpu_path() {
    let gpu = Device::wgpu(DeviceKind::DefaultDevice).autodiff();
    let cpu = Device::flex().autodiff();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    for (dims, modes) in [
        (vec![17], vec![5]),
        (vec![94], vec![9]),
        (vec![13, 10], vec![6, 4]),
        (vec![7, 6, 9], vec![3, 4, 3]),
    ] {
        let s = Shapes {
            batch: 2,
            in_channels: 3,
            out_channels: 2,
            dims,
            modes,
        };
        let np: usize = s.dims.iter().product();
        let nq: usize = s.modes.iter().product();
        let mut random = |n: usize| {
            (0..n)
                .map(|_| rng.random_range(-1.0..1.0))
                .collect::<Vec<f64>>()
        };
        let x = random(2 * 3 * np);
        let w = random(3 * 2 * nq * 2);
        let g = random(2 * 2 * np);
        let run_on = |device: &Device| match s.dims.len() {
            1 => run::<3, 4>(device, &x, &w, &g, &s),
            2 => run::<4, 5>(device, &x, &w, &g, &s),
            _ => run::<5, 6>(device, &x, &w, &g, &s),
        };
        let on_gpu = run_on(&gpu);
        let on_cpu = run_on(&cpu);
        let y_ref = reference::spectral_conv(&x, &w, &[], &s);
        let (gx_ref, gw_ref) = reference::spectral_conv_grads(&x, &w, &g, &s);
        for (i, (what, want)) in [
            ("output", &y_ref),
            ("input gradient", &gx_ref),
            ("weight gradient", &gw_ref),
        ]
        .into_iter()
        .enumerate()
        {
            let e = rel_err(&on_gpu[i], want);
            assert!(e < 1e-5, "{s:?}: cubecl {what} relative error {e:e}");
            let e = rel_err(&on_gpu[i], &on_cpu[i]);
            assert!(e < 1e-5, "{s:?}: cubecl and CPU {what} differ by {e:e}");
        }
    }
}
