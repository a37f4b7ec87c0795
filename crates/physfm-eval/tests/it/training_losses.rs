//! The training losses of physfm-train and the evaluation metrics of physfm-eval agree on
//! what relative L2 and H1 mean: on one sample of one channel (where the training loss's
//! merge over channels and the metric's per-channel split coincide), in 1D and 2D, periodic
//! or not.

use burn::tensor::{Device, Tensor, TensorData};
use physfm_eval::{MetricOptions, metric_suite};
use physfm_train::{LossGeometry, LossKind, loss};

/// Deterministic smooth-plus-rough values.
fn field(n: usize, phase: f32) -> Vec<f32> {
    (0..n)
        .map(|i| {
            let x = i as f32 * 0.37 + phase;
            x.sin() + 0.3 * (3.1 * x).cos() + 0.05 * ((i * 7919 % 13) as f32 - 6.0) / 6.0
        })
        .collect()
}

fn check<const D: usize>(space: &[usize], lengths: &[f64], periodic: &[bool]) {
    let n: usize = space.iter().product();
    let (y, p) = (field(n, 0.0), field(n, 0.2));
    let mut shape = [1usize; D];
    shape[2..].copy_from_slice(space);
    let device = Device::flex();
    let t = |v: &Vec<f32>| Tensor::<D>::from_data(TensorData::new(v.clone(), shape), &device);
    let geometry = LossGeometry {
        lengths: lengths.to_vec(),
        periodic: periodic.to_vec(),
    };
    let mut dims = vec![1, 1];
    dims.extend_from_slice(space);
    dims.push(1);
    let m = metric_suite(
        &p,
        &y,
        &dims,
        &MetricOptions::unit(space.len())
            .with_lengths(lengths)
            .with_periodic(periodic),
    )
    .unwrap();
    for (kind, metric) in [
        (LossKind::RelL2, m.rel_l2.at(0, 0)),
        (LossKind::H1, m.rel_h1.at(0, 0)),
    ] {
        let l: f32 = loss(kind, t(&p), t(&y), &geometry).into_scalar();
        assert!(
            (l as f64 - metric).abs() <= 2e-5 * metric,
            "{kind:?} on {space:?} periodic {periodic:?}: training {l} vs metric {metric}"
        );
    }
}

#[test]
fn relative_l2_and_h1_match_the_metric_suite() {
    check::<3>(&[40], &[1.0], &[true]);
    check::<3>(&[37], &[2.5], &[false]);
    check::<4>(&[12, 10], &[1.0, 2.0], &[true, false]);
    check::<4>(&[9, 11], &[3.0, 1.0], &[false, true]);
}
