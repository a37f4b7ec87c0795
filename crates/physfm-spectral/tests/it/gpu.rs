//! The cubecl kernels (feature `wgpu`) against the f64 oracle and the CPU path: forward and
//! both gradients, 1D to 3D, odd and prime sizes. Runs on any wgpu adapter, including Mesa's
//! software Vulkan (`mesa-vulkan-drivers`) on a machine without a GPU, which is how
//! `cargo xtask test` runs it.
#![cfg(feature = "wgpu")]

use burn::tensor::{DType, Device, DeviceKind};
use physfm_spectral::reference::{self, Shapes};
use rand::{RngExt, SeedableRng};

use crate::common;
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

#[test]
fn channel_linear_on_wgpu_matches_the_cpu_kernel_with_every_gradient() {
    use burn::tensor::{Tensor, TensorData};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
    let mut random = |n: usize| {
        (0..n)
            .map(|_| rng.random_range(-1.0f32..1.0))
            .collect::<Vec<f32>>()
    };
    let (x, w, b, r, p) = (
        random(3 * 4 * 19),
        random(5 * 4),
        random(5),
        random(3 * 5 * 19),
        random(3 * 5 * 19),
    );
    let run = |device: &Device| {
        let t3 = |v: &Vec<f32>, s: [usize; 3]| {
            Tensor::<3>::from_data(TensorData::new(v.clone(), s), device).require_grad()
        };
        let xt = t3(&x, [3, 4, 19]);
        let rt = t3(&r, [3, 5, 19]);
        let wt = Tensor::<2>::from_data(TensorData::new(w.clone(), [5, 4]), device).require_grad();
        let bt = Tensor::<1>::from_data(TensorData::new(b.clone(), [5]), device).require_grad();
        let y = physfm_spectral::channel_linear(
            xt.clone(),
            wt.clone(),
            Some(bt.clone()),
            Some(rt.clone()),
            true,
        );
        let grads = (y.clone() * t3(&p, [3, 5, 19])).sum().backward();
        let flat = |d: TensorData| d.convert::<f32>().try_to_vec::<f32>().unwrap();
        vec![
            flat(y.into_data()),
            flat(xt.grad(&grads).unwrap().into_data()),
            flat(wt.grad(&grads).unwrap().into_data()),
            flat(bt.grad(&grads).unwrap().into_data()),
            flat(rt.grad(&grads).unwrap().into_data()),
        ]
    };
    let on_cpu = run(&Device::flex().autodiff());
    let on_gpu = run(&Device::wgpu(DeviceKind::DefaultDevice).autodiff());
    for (what, (c, g)) in ["output", "dx", "dw", "db", "dr"]
        .iter()
        .zip(on_cpu.iter().zip(&on_gpu))
    {
        let c64: Vec<f64> = c.iter().map(|&v| v as f64).collect();
        let g64: Vec<f64> = g.iter().map(|&v| v as f64).collect();
        let e = rel_err(&g64, &c64);
        assert!(
            e < 1e-5,
            "channel_linear {what}: wgpu and CPU differ by {e:e}"
        );
    }
}
