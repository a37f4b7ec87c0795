//! Each FNO variant overfits a tiny batch on the CPU default backend: the loss falls by 100x.

use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Device, Distribution, Tensor};
use physfm_models::{Factorization, FnoConfig, NormKind, SkipKind};

/// The device's random generator is shared by the test threads: tests that seed it and draw
/// from it run one at a time so that each sees the draws of its own seed.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn overfit<const D: usize>(config: FnoConfig, shape: [usize; D], steps: usize) -> (f64, f64) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let device = Device::flex().autodiff();
    device.seed(11);
    let mut model = config.init(&device);
    let x = Tensor::<D>::random(shape, Distribution::Normal(0.0, 1.0), &device);
    let mut out_shape = shape;
    out_shape[1] = config.out_channels;
    let y = Tensor::<D>::random(out_shape, Distribution::Normal(0.0, 1.0), &device);
    let mut optim = AdamConfig::new().init();
    let (mut first, mut last) = (f64::NAN, f64::NAN);
    for step in 0..steps {
        let loss = (model.forward(x.clone()) - y.clone()).square().mean();
        let v = loss.clone().into_scalar::<f32>() as f64;
        if step == 0 {
            first = v;
        }
        last = v;
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(3e-3, model, grads);
    }
    (first, last)
}

#[test]
fn fno_2d_with_group_norm_and_padding_overfits() {
    let mut c = FnoConfig::new(2, 1, &[8, 8], 16);
    c.norm = NormKind::Group;
    c.domain_padding = 0.125;
    let (first, last) = overfit(c, [2, 2, 8, 8], 300);
    assert!(last < first / 100.0, "loss {first} -> {last}");
}

#[test]
fn fno_1d_and_3d_overfit() {
    let mut c = FnoConfig::new(1, 1, &[16], 16);
    c.fno_skip = SkipKind::SoftGating;
    let (first, last) = overfit(c, [2, 1, 16], 300);
    assert!(last < first / 100.0, "1D loss {first} -> {last}");
    let mut c = FnoConfig::new(1, 1, &[4, 4, 4], 16);
    c.norm = NormKind::Instance;
    let (first, last) = overfit(c, [1, 1, 4, 4, 4], 300);
    assert!(last < first / 100.0, "3D loss {first} -> {last}");
}

#[test]
fn tfno_with_tucker_and_cp_weights_overfits() {
    for kind in [Factorization::Tucker, Factorization::Cp] {
        let mut c = FnoConfig::new(1, 1, &[8, 8], 16);
        c.factorization = kind;
        c.rank = 0.2;
        let (first, last) = overfit(c, [2, 1, 8, 8], 300);
        assert!(last < first / 100.0, "{kind:?} loss {first} -> {last}");
    }
}
