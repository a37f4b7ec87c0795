//! The AViT: shapes on any grid, parameter counts of the documented architecture, the
//! time axis is attended, overfitting a tiny batch, and a bit-exact save/load.

use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Device, Distribution, Tensor};
use physfm_models::{AViT, AViTConfig};

/// The device's random generator is shared by the test threads: tests that seed it and draw
/// from it run one at a time so that each sees the draws of its own seed.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn small(dims: usize) -> AViTConfig {
    let mut c = AViTConfig::new(2, 1, dims);
    c.embed_dim = 16;
    c.heads = 2;
    c.blocks = 2;
    c.patch = vec![2, 2];
    c
}

fn expected_params(c: &AViTConfig) -> usize {
    let e = c.embed_dim;
    let area = |s: usize| if c.dims == 1 { s } else { s * s };
    let mut widths = vec![(e / 4).max(1); c.patch.len()];
    *widths.last_mut().unwrap() = e;
    let mut total = 0;
    let mut ch = c.in_channels;
    for (&s, &w) in c.patch.iter().zip(&widths) {
        total += ch * w * area(s) + w;
        ch = w;
    }
    for (i, &s) in c.patch.iter().enumerate().rev() {
        let out = if i == 0 {
            c.out_channels
        } else {
            widths[i - 1]
        };
        total += ch * out * area(s) + out;
        ch = out;
    }
    let attention = e * 3 * e + 3 * e + e * e + e + c.heads * 32;
    let norms = 3 * 2 * e;
    let mlp = e * 4 * e + 4 * e + 4 * e * e + e;
    total + c.blocks * (attention * 2 + norms + mlp)
}

#[test]
fn parameter_counts_follow_the_documented_architecture() {
    let device = Device::flex();
    for cfg in [small(1), small(2), AViTConfig::new(3, 3, 2)] {
        assert_eq!(
            cfg.init(&device).num_params(),
            expected_params(&cfg),
            "{cfg:?}"
        );
    }
}

#[test]
fn any_grid_keeps_its_shape_and_the_history_matters() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let device = Device::flex();
    device.seed(2);
    let m1 = small(1).init(&device);
    for n in [7, 16, 30] {
        let y: Tensor<3> = m1.forward(Tensor::<4>::ones([2, 3, 2, n], &device));
        assert_eq!(y.dims(), [2, 1, n]);
    }
    let m2 = small(2).init(&device);
    let x = Tensor::<5>::random([1, 3, 2, 9, 12], Distribution::Normal(0.0, 1.0), &device);
    let a: Tensor<4> = m2.forward(x.clone());
    assert_eq!(a.dims(), [1, 1, 9, 12]);
    // Changing only the oldest frame changes the prediction: time is attended.
    let older = x.clone().narrow(1, 0, 1) * 3.0;
    let x2 = Tensor::cat(vec![older, x.narrow(1, 1, 2)], 1);
    let b: Tensor<4> = m2.forward(x2);
    let diff = (a - b).abs().sum().into_scalar::<f32>();
    assert!(diff > 1e-3, "the oldest frame had no effect ({diff})");
}

#[test]
fn invalid_configurations_name_the_key() {
    let mut c = small(2);
    c.heads = 3;
    let e = c.validate("avit").unwrap_err().to_string();
    assert!(e.contains("avit.heads"), "{e}");
    c.heads = 2;
    c.patch = vec![];
    assert!(
        c.validate("avit")
            .unwrap_err()
            .to_string()
            .contains("avit.patch")
    );
}

#[test]
fn an_avit_overfits_a_tiny_batch() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let device = Device::flex().autodiff();
    device.seed(6);
    let mut cfg = small(2);
    cfg.embed_dim = 32;
    let mut model: AViT = cfg.init(&device);
    let x = Tensor::<5>::random([2, 2, 2, 8, 8], Distribution::Normal(0.0, 1.0), &device);
    let y = Tensor::<4>::random([2, 1, 8, 8], Distribution::Normal(0.0, 1.0), &device);
    let mut optim = AdamConfig::new().init();
    let (mut first, mut last) = (f64::NAN, f64::NAN);
    for step in 0..500 {
        let pred: Tensor<4> = model.forward(x.clone());
        let loss = (pred - y.clone()).square().mean();
        let v = loss.clone().into_scalar::<f32>() as f64;
        if step == 0 {
            first = v;
        }
        last = v;
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(3e-3, model, grads);
    }
    assert!(last < first / 100.0, "loss {first} -> {last}");
}

#[test]
fn weights_round_trip_bit_for_bit() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let device = Device::flex();
    device.seed(8);
    let cfg = small(1);
    let model = cfg.init(&device);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("avit.bpk");
    model.clone().save_file(&path).unwrap();
    let loaded = cfg.init(&device).try_load_file(&path).unwrap();
    let x = Tensor::<4>::random([2, 2, 2, 12], Distribution::Normal(0.0, 1.0), &device);
    let a: Tensor<3> = model.forward(x.clone());
    let b: Tensor<3> = loaded.forward(x);
    assert_eq!(a.into_data(), b.into_data());
}
