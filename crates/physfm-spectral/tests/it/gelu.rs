//! The fused exact GELU: its erf against a double-precision one, its values against the
//! definition, its derivative against finite differences, in f32 and f64, on contiguous and
//! strided tensors.

use burn::tensor::{DType, Device, Tensor, TensorData};
use physfm_spectral::{erf_f32, gelu};

/// erf in double precision by its Taylor series (|x| < 2, where its cancellation costs
/// under 1e-15) and the continued fraction of erfc (beyond), independent of the crate's own.
fn erf_ref(x: f64) -> f64 {
    let a = x.abs();
    let r = if a < 2.0 {
        let (mut term, mut sum, mut n) = (a, a, 0.0);
        while term.abs() > 1e-18 {
            n += 1.0;
            term *= -a * a / n;
            sum += term / (2.0 * n + 1.0);
        }
        sum * 2.0 / std::f64::consts::PI.sqrt()
    } else {
        let mut f = a;
        for k in (1..80).rev() {
            f = a + k as f64 / 2.0 / f;
        }
        1.0 - (-a * a).exp() / std::f64::consts::PI.sqrt() / f
    };
    r.copysign(x)
}

fn gelu_ref(x: f64) -> f64 {
    0.5 * x * (1.0 + erf_ref(x / std::f64::consts::SQRT_2))
}

#[test]
fn erf_reference_matches_tabulated_values() {
    for (x, e) in [
        (0.5, 0.520_499_877_813_046_5),
        (1.0, 0.842_700_792_949_714_9),
        (2.0, 0.995_322_265_018_952_7),
        (3.5, 0.999_999_256_901_627_7),
    ] {
        assert!(
            (erf_ref(x) - e).abs() < 1e-14,
            "erf({x}) = {} vs {e}",
            erf_ref(x)
        );
        assert!((erf_ref(-x) + e).abs() < 1e-14);
    }
}

#[test]
fn the_f32_erf_is_accurate_to_a_few_units_in_the_last_place() {
    let mut worst = (0.0f64, 0.0f64);
    for i in -60_000..=60_000 {
        let x = i as f64 * 1e-4;
        let err = (erf_f32(x as f32) as f64 - erf_ref(x as f32 as f64)).abs();
        if err > worst.0 {
            worst = (err, x);
        }
    }
    // 4e-7: a few f32 units in the last place of values near 1 (one is 1.2e-7 there).
    assert!(
        worst.0 < 4e-7,
        "max |erf_f32 - erf| = {:e} at x = {}",
        worst.0,
        worst.1
    );
    println!(
        "max |erf_f32 - erf| = {:.2e} at x = {:.4}",
        worst.0, worst.1
    );
}

/// Points in [-7, 7] that f32 holds exactly.
fn values(n: usize) -> Vec<f64> {
    (0..n)
        .map(|i| (-7.0 + 14.0 * i as f64 / (n - 1) as f64) as f32 as f64)
        .collect()
}

fn f64_tensor<const D: usize>(v: &[f64], shape: [usize; D], device: &Device) -> Tensor<D> {
    let t = Tensor::<D>::from_data(
        TensorData::new(v.iter().map(|&x| x as f32).collect::<Vec<_>>(), shape),
        device,
    );
    t.cast(DType::F64)
}

#[test]
fn gelu_matches_its_definition_in_f32_and_f64() {
    let device = Device::flex();
    let xs = values(4001);
    let x32 = Tensor::<1>::from_data(
        TensorData::new(xs.iter().map(|&v| v as f32).collect::<Vec<_>>(), [xs.len()]),
        &device,
    );
    let y32 = gelu(x32).into_data().try_to_vec::<f32>().unwrap();
    let x64 = f64_tensor(&xs, [xs.len()], &device);
    assert_eq!(x64.dtype(), DType::F64);
    let y64 = gelu(x64).into_data().try_to_vec::<f64>().unwrap();
    for (i, &x) in xs.iter().enumerate() {
        let e = gelu_ref(x);
        assert!(
            (y32[i] as f64 - e).abs() < 1e-6 * (1.0 + x.abs()),
            "f32 gelu({x})"
        );
        assert!(
            (y64[i] - gelu_ref(x)).abs() < 1e-13 * (1.0 + x.abs()),
            "f64 gelu({x})"
        );
    }
}

#[test]
fn the_derivative_matches_finite_differences_and_strided_inputs_work() {
    let device = Device::flex().autodiff();
    let xs = values(1401);
    let x = f64_tensor(&xs, [1401, 1], &device).detach().require_grad();
    let wv: Vec<f64> = (0..1401).map(|i| 1.0 + (i % 7) as f64).collect();
    let w = f64_tensor(&wv, [1401, 1], &device);
    let grads = (gelu(x.clone()) * w.clone()).sum().backward();
    let g = x
        .grad(&grads)
        .unwrap()
        .into_data()
        .try_to_vec::<f64>()
        .unwrap();
    let h = 1e-5;
    for (i, &v) in xs.iter().enumerate() {
        let fd = (gelu_ref(v + h) - gelu_ref(v - h)) / (2.0 * h) * (1.0 + (i % 7) as f64);
        assert!(
            (g[i] - fd).abs() < 1e-8 * (1.0 + fd.abs()),
            "d gelu at {v}: {} vs {fd}",
            g[i]
        );
    }
    // f32, on a transposed (strided) view: the same numbers as on the contiguous tensor.
    let device = Device::flex();
    let a: Vec<f32> = (0..12).map(|i| i as f32 * 0.7 - 4.0).collect();
    let t = Tensor::<2>::from_data(TensorData::new(a.clone(), [3, 4]), &device);
    let y = gelu(t.clone().transpose())
        .transpose()
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
    let z = gelu(t).into_data().try_to_vec::<f32>().unwrap();
    assert_eq!(y, z);
}

#[test]
fn the_f32_exp_is_accurate_to_a_few_units_in_the_last_place() {
    let mut worst = 0.0f64;
    // Inside the clamp [-87, 88].
    for i in -86_999..=87_999 {
        let x = (i as f64 * 1e-3) as f32;
        let want = (x as f64).exp();
        let rel = ((physfm_spectral::exp_f32(x) as f64 - want) / want).abs();
        worst = worst.max(rel);
    }
    assert!(worst < 3e-7, "worst relative error {worst:e}");
    // Clamped outside the range of normal results, never infinite or NaN.
    assert!(physfm_spectral::exp_f32(200.0).is_finite());
    assert!(physfm_spectral::exp_f32(-200.0) >= 0.0);
}
