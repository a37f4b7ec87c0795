//! The U-Net: shapes on any grid, parameter counts of the documented architecture,
//! conditioning per sample, overfitting a tiny batch, and a bit-exact save/load.

use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Device, Distribution, Tensor, TensorData};
use physfm_models::{UNet, UNetConfig};

/// The device's random generator is shared by the test threads: tests that seed it and draw
/// from it run one at a time so that each sees the draws of its own seed.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn small(dims: usize, cond: usize) -> UNetConfig {
    let mut c = UNetConfig::new(2, 1, dims);
    c.hidden = 8;
    c.channel_mults = vec![1, 2];
    c.blocks_per_level = 1;
    c.norm_groups = 4;
    c.cond_dims = cond;
    c
}

/// The parameter count of the architecture in the module documentation, level by level.
fn expected_params(c: &UNetConfig) -> usize {
    let k = if c.dims == 1 { 3 } else { 9 };
    let conv = |i: usize, o: usize| i * o * k + o;
    let norm = |ch: usize| 2 * ch;
    let emb = 4 * c.hidden;
    let block = |i: usize, o: usize| {
        norm(i)
            + conv(i, o)
            + if c.cond_dims > 0 {
                emb * 2 * o + 2 * o
            } else {
                0
            }
            + norm(o)
            + conv(o, o)
            + if i != o { i * o + o } else { 0 }
    };
    let h = c.hidden;
    let chans: Vec<usize> = c.channel_mults.iter().map(|m| h * m).collect();
    let mut total = conv(c.in_channels, h) + norm(h) + conv(h, c.out_channels);
    if c.cond_dims > 0 {
        total += c.cond_dims * emb + emb + emb * emb + emb;
    }
    let (mut ch, mut skips) = (h, vec![h]);
    for (i, &o) in chans.iter().enumerate() {
        for _ in 0..c.blocks_per_level {
            total += block(ch, o);
            ch = o;
            skips.push(ch);
        }
        if i + 1 < chans.len() {
            total += conv(ch, ch); // strided
            skips.push(ch);
        }
    }
    total += 2 * block(ch, ch);
    for (i, &o) in chans.iter().enumerate().rev() {
        for _ in 0..=c.blocks_per_level {
            total += block(ch + skips.pop().unwrap(), o);
            ch = o;
        }
        if i > 0 {
            let kt = if c.dims == 1 { 4 } else { 16 };
            total += ch * ch * kt + ch; // transposed
        }
    }
    total
}

#[test]
fn parameter_counts_follow_the_documented_architecture() {
    let device = Device::flex();
    for cfg in [small(1, 0), small(2, 3), UNetConfig::new(1, 1, 1), {
        let mut c = UNetConfig::new(2, 2, 2);
        c.cond_dims = 2;
        c
    }] {
        assert_eq!(
            cfg.init(&device).num_params(),
            expected_params(&cfg),
            "{cfg:?}"
        );
    }
    // PDEArena's Unetmod-64 shape (2 in, 2 out, 2D, conditioned on one scalar) for scale.
    let mut c = UNetConfig::new(2, 2, 2);
    c.cond_dims = 1;
    assert_eq!(c.init(&device).num_params(), expected_params(&c));
    let n = c.init(&device).num_params();
    println!("Unetmod-64 shape: {n} parameters");
    assert!(n > 10_000_000);
}

#[test]
fn any_grid_size_keeps_its_shape_and_conditioning_acts_per_sample() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let device = Device::flex();
    device.seed(3);
    let u1 = small(1, 0).init(&device);
    for n in [5, 16, 33] {
        let y = u1.forward(Tensor::<3>::ones([2, 2, n], &device), None);
        assert_eq!(y.dims(), [2, 1, n]);
    }
    let u2 = small(2, 2).init(&device);
    let x = Tensor::<4>::random([2, 2, 11, 6], Distribution::Normal(0.0, 1.0), &device);
    let c = Tensor::<2>::from_data(
        TensorData::new(vec![0.1f32, 1.0, 0.1, 1.0], [2, 2]),
        &device,
    );
    let a = u2
        .forward(x.clone(), Some(c))
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
    assert_eq!(a.len(), 2 * 11 * 6);
    // Both samples equal input but sample 1 gets another conditioning: only it changes.
    let c2 = Tensor::<2>::from_data(
        TensorData::new(vec![0.1f32, 1.0, 0.5, -1.0], [2, 2]),
        &device,
    );
    let b = u2
        .forward(x, Some(c2))
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
    let n = 11 * 6;
    assert_eq!(a[..n], b[..n]);
    let diff: f32 = a[n..].iter().zip(&b[n..]).map(|(p, q)| (p - q).abs()).sum();
    assert!(diff > 1e-3, "conditioning had no effect ({diff})");
}

#[test]
fn invalid_configurations_name_the_key() {
    let mut c = small(2, 0);
    c.norm_groups = 3;
    let e = c.validate("unet").unwrap_err().to_string();
    assert!(e.contains("unet.norm_groups"), "{e}");
    let mut c = small(3, 0);
    c.dims = 3;
    assert!(
        c.validate("unet")
            .unwrap_err()
            .to_string()
            .contains("unet.dims")
    );
}

#[test]
fn a_unet_overfits_a_tiny_batch() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let device = Device::flex().autodiff();
    device.seed(5);
    let cfg = small(2, 1);
    let mut model: UNet = cfg.init(&device);
    let x = Tensor::<4>::random([2, 2, 8, 8], Distribution::Normal(0.0, 1.0), &device);
    let y = Tensor::<4>::random([2, 1, 8, 8], Distribution::Normal(0.0, 1.0), &device);
    let c = Tensor::<2>::from_data(TensorData::new(vec![0.2f32, 0.7], [2, 1]), &device);
    let mut optim = AdamConfig::new().init();
    let (mut first, mut last) = (f64::NAN, f64::NAN);
    for step in 0..300 {
        let loss = (model.forward(x.clone(), Some(c.clone())) - y.clone())
            .square()
            .mean();
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
    device.seed(9);
    let cfg = small(1, 2);
    let model = cfg.init(&device);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("unet.bpk");
    model.clone().save_file(&path).unwrap();
    let loaded = cfg.init(&device).try_load_file(&path).unwrap();
    let x = Tensor::<3>::random([2, 2, 20], Distribution::Normal(0.0, 1.0), &device);
    let c = Tensor::<2>::ones([2, 2], &device);
    assert_eq!(
        model.forward(x.clone(), Some(c.clone())).into_data(),
        loaded.forward(x, Some(c)).into_data()
    );
}
