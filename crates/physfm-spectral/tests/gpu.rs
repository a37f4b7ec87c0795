//! The cubecl kernels (feature `wgpu`) against the f64 oracle and the CPU path: forward and
//! both gradients, 1D to 3D, odd and prime sizes. Runs on any wgpu adapter, including Mesa's
//! software Vulkan (`mesa-vulkan-drivers`) on a machine without a GPU, which is how
//! `cargo xtask test` runs it.
#![cfg(feature = "wgpu")]

use burn::tensor::{DType, Device, DeviceKind};
use physfm_spectral::reference::{self, Shapes};
use rand::{RngExt, SeedableRng};

mod common;
use common::rel_err;

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
        let run_on = |device: &Device| common::run(device, DType::F32, &x, &w, &g, &s);
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

#[test]
fn gelu_on_wgpu_matches_the_cpu_kernel_with_its_exact_derivative() {
    use burn::tensor::{Tensor, TensorData};
    let values: Vec<f32> = (0..2001).map(|i| -6.0 + 12.0 * i as f32 / 2000.0).collect();
    let run = |device: &Device| {
        let x =
            Tensor::<1>::from_data(TensorData::new(values.clone(), [2001]), device).require_grad();
        let y = physfm_spectral::gelu(x.clone());
        let grads = (y.clone() * y.clone()).sum().backward();
        let g = x.grad(&grads).unwrap().into_data().convert::<f32>();
        (y.into_data().convert::<f32>(), g)
    };
    let (yc, gc) = run(&Device::flex().autodiff());
    let (yg, gg) = run(&Device::wgpu(DeviceKind::DefaultDevice).autodiff());
    let (yc, gc) = (
        yc.try_to_vec::<f32>().unwrap(),
        gc.try_to_vec::<f32>().unwrap(),
    );
    let (yg, gg) = (
        yg.try_to_vec::<f32>().unwrap(),
        gg.try_to_vec::<f32>().unwrap(),
    );
    for i in 0..values.len() {
        assert!(
            (yc[i] - yg[i]).abs() < 2e-6 * (1.0 + yc[i].abs()),
            "gelu({})",
            values[i]
        );
        assert!(
            (gc[i] - gg[i]).abs() < 1e-5 * (1.0 + gc[i].abs()),
            "gelu'({})",
            values[i]
        );
    }
}
