//! The fused channel MLP against the same MLP composed of two `channel_linear` layers, in f64
//! so that the two must agree to rounding: the output and every gradient, for one sample
//! (products split over the pool) and several, with a row of points that takes several
//! column tiles and one that takes one, and with the input untracked (no input gradient).

use crate::common;

use burn::tensor::{DType, Device, Tensor, TensorData};
use common::{gap, values};
use physfm_spectral::{channel_linear, channel_mlp};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn draw<const D: usize>(rng: &mut ChaCha8Rng, shape: [usize; D], track: bool) -> Tensor<D> {
    let n = shape.iter().product();
    let v: Vec<f64> = (0..n).map(|_| rng.random_range(-1.0..1.0)).collect();
    let device = Device::flex().autodiff();
    let t = Tensor::<D>::from_data(TensorData::new(v, shape), (&device, DType::F64));
    if track { t.require_grad() } else { t }
}

fn check(batch: usize, cin: usize, hidden: usize, cout: usize, n: usize, track_x: bool) {
    let mut rng = ChaCha8Rng::seed_from_u64((batch * 1000 + hidden * 10 + n) as u64);
    let x = draw(&mut rng, [batch, cin, n], track_x);
    let w1 = draw(&mut rng, [hidden, cin], true);
    let b1 = draw(&mut rng, [hidden], true);
    let w2 = draw(&mut rng, [cout, hidden], true);
    let b2 = draw(&mut rng, [cout], true);
    let target = draw(&mut rng, [batch, cout, n], false);
    let run = |fused: bool| {
        let y = if fused {
            channel_mlp(x.clone(), w1.clone(), b1.clone(), w2.clone(), b2.clone())
        } else {
            let h = channel_linear(x.clone(), w1.clone(), Some(b1.clone()), None, true);
            channel_linear(h, w2.clone(), Some(b2.clone()), None, false)
        };
        let g = (y.clone() - target.clone()).square().sum().backward();
        let mut out = vec![
            values(y),
            values(w1.grad(&g).unwrap()),
            values(b1.grad(&g).unwrap()),
            values(w2.grad(&g).unwrap()),
            values(b2.grad(&g).unwrap()),
        ];
        match x.grad(&g) {
            Some(gx) => out.push(values(gx)),
            None => assert!(!track_x, "the tracked input gets a gradient"),
        }
        out
    };
    let (fused, composed) = (run(true), run(false));
    assert_eq!(fused.len(), composed.len());
    let names = ["output", "w1", "b1", "w2", "b2", "x"];
    for ((a, b), name) in fused.iter().zip(&composed).zip(names) {
        let g = gap(a, b);
        assert!(
            g < 1e-11,
            "{name} differs by {g:e} (batch {batch}, hidden {hidden}, n {n})"
        );
    }
}

#[test]
fn the_fused_mlp_matches_two_linear_layers() {
    // 128 hidden channels: columns in tiles of 256, so 600 points take three (the last short).
    check(5, 2, 128, 3, 600, true);
    check(1, 4, 128, 1, 600, true);
    // A row that fits one tile.
    check(3, 3, 5, 2, 7, true);
    // The input untracked: its gradient is not computed, the weights' still are.
    check(2, 2, 128, 2, 300, false);
}

#[test]
#[should_panic(expected = "channel_mlp: second bias has the wrong shape")]
fn a_bias_of_the_wrong_size_is_refused() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    channel_mlp(
        draw(&mut rng, [2, 3, 8], false),
        draw(&mut rng, [4, 3], false),
        draw(&mut rng, [4], false),
        draw(&mut rng, [2, 4], false),
        draw(&mut rng, [3], false),
    );
}
