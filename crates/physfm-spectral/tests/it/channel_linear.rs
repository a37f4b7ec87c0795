//! The fused channel-linear op against the same layer composed from burn's ops: values and
//! every gradient, with and without bias, residual and GELU, for one sample (products split
//! over the pool) and several (samples spread over it).

use burn::tensor::{Device, Distribution, Tensor};
use physfm_spectral::{channel_linear, gelu};

/// `a` within 2e-5 of `b`, relative to the larger of `b`'s largest value and `terms`, the
/// size of the values summed into each entry (a weight or bias gradient sums `batch x n`
/// products of order one, and can come out far smaller than they are).
fn close(a: Tensor<3>, b: Tensor<3>, terms: f32, what: &str) {
    let (a, b) = (
        a.into_data().try_to_vec::<f32>().unwrap(),
        b.into_data().try_to_vec::<f32>().unwrap(),
    );
    assert_eq!(a.len(), b.len(), "{what}: sizes");
    let scale = b.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(terms);
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        assert!(
            (x - y).abs() <= 2e-5 * scale,
            "{what}[{i}]: fused {x} vs composed {y}"
        );
    }
}

#[test]
fn fused_layer_matches_burns_composition_with_gradients() {
    let device = Device::flex().autodiff();
    // Small odd sizes, larger ones, a single output channel.
    for (batch, ci, co, n) in [(1, 5, 7, 37), (6, 5, 7, 37), (6, 9, 13, 150), (2, 3, 1, 64)] {
        for (with_bias, with_residual, act) in [
            (false, false, false),
            (true, false, false),
            (false, true, true),
            (true, true, true),
            (true, false, true),
        ] {
            let what =
                format!("batch {batch} bias {with_bias} residual {with_residual} gelu {act}");
            let normal = Distribution::Normal(0.0, 1.0);
            let x = Tensor::<3>::random([batch, ci, n], normal, &device).require_grad();
            let w = Tensor::<2>::random([co, ci], normal, &device).require_grad();
            let b = Tensor::<1>::random([co], normal, &device).require_grad();
            let r = Tensor::<3>::random([batch, co, n], normal, &device).require_grad();
            let probe = Tensor::<3>::random([batch, co, n], normal, &device);

            // A residual held elsewhere is read; a fresh one (an op's output nobody else
            // holds) is written over in place. Both must give the same values and gradients.
            let residual = if n == 37 { r.clone() } else { r.clone() * 1.0 };
            let fused = channel_linear(
                x.clone(),
                w.clone(),
                with_bias.then(|| b.clone()),
                with_residual.then_some(residual),
                act,
            );
            let mut composed = w.clone().unsqueeze::<3>().matmul(x.clone());
            if with_bias {
                composed = composed + b.clone().reshape([1, co, 1]);
            }
            if with_residual {
                composed = composed + r.clone();
            }
            if act {
                composed = gelu(composed);
            }
            close(
                fused.clone(),
                composed.clone(),
                1e-3,
                &format!("{what}: values"),
            );

            let gf = (fused * probe.clone()).sum().backward();
            let gc = (composed * probe).sum().backward();
            close(
                x.grad(&gf).unwrap(),
                x.grad(&gc).unwrap(),
                1e-3,
                &format!("{what}: dx"),
            );
            close(
                w.grad(&gf).unwrap().unsqueeze(),
                w.grad(&gc).unwrap().unsqueeze(),
                1.0,
                &format!("{what}: dw"),
            );
            if with_bias {
                close(
                    b.grad(&gf).unwrap().unsqueeze(),
                    b.grad(&gc).unwrap().unsqueeze(),
                    1.0,
                    &format!("{what}: db"),
                );
            } else {
                assert!(
                    b.grad(&gf).is_none(),
                    "{what}: an absent bias got a gradient"
                );
            }
            if with_residual {
                close(
                    r.grad(&gf).unwrap(),
                    r.grad(&gc).unwrap(),
                    1e-3,
                    &format!("{what}: dr"),
                );
            } else {
                assert!(
                    r.grad(&gf).is_none(),
                    "{what}: an absent residual got a gradient"
                );
            }
        }
    }
}

#[test]
fn f64_tensors_are_computed_in_double_precision() {
    let device = Device::flex();
    let f64s = burn::tensor::DType::F64;
    let x = Tensor::<3>::from_data(
        burn::tensor::TensorData::new(vec![1.0f32 / 3.0, 2.0 / 7.0], [1, 1, 2]),
        &device,
    )
    .cast(f64s);
    let w = Tensor::<2>::from_data(burn::tensor::TensorData::new(vec![3.0f32], [1, 1]), &device)
        .cast(f64s);
    assert_eq!(x.dtype(), f64s);
    let y = channel_linear(x, w, None, None, false)
        .into_data()
        .try_to_vec::<f64>()
        .unwrap();
    // The inputs went through f32 on their way in; the product is formed in f64 (in f32,
    // 3 * (1/3 as f32) rounds to exactly 1).
    let (x0, x1) = ((1.0f32 / 3.0) as f64, (2.0f32 / 7.0) as f64);
    assert!((y[0] - 3.0 * x0).abs() < 1e-15 && y[0] != 1.0, "{y:?}");
    assert!((y[1] - 3.0 * x1).abs() < 1e-15, "{y:?}");
}

#[test]
#[should_panic(expected = "input has 4 channels, weight takes 5")]
fn mismatched_channels_are_named() {
    let device = Device::flex();
    let x = Tensor::<3>::zeros([1, 4, 3], &device);
    let w = Tensor::<2>::zeros([2, 5], &device);
    let _ = channel_linear(x, w, None, None, false);
}
