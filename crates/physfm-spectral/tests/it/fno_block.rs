//! The fused FNO block against the same block composed of the crate's own ops
//! (`spectral_conv`, `channel_linear`, `gelu`) and burn's, in f64 so that the two must agree to
//! rounding: the output and every gradient, in 1D, 2D and 3D, with and without the final
//! activation and the spectral bias, for one sample (products split over the pool) and several.

use crate::common;

use burn::tensor::{DType, Device, Tensor, TensorData};
use common::{gap, values};
use physfm_spectral::cpu::{LastAxisMethod, force_last_axis_method};
use physfm_spectral::{FnoBlockWeights, channel_linear, fno_block, gelu, spectral_conv};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A tensor of `shape` with uniform values in [-1, 1), in f64, tracked for gradients on an
/// autodiff device.
fn draw<const D: usize>(rng: &mut ChaCha8Rng, shape: [usize; D], device: &Device) -> Tensor<D> {
    let n = shape.iter().product();
    let v: Vec<f64> = (0..n).map(|_| rng.random_range(-1.0..1.0)).collect();
    let t = Tensor::<D>::from_data(TensorData::new(v, shape), (device, DType::F64));
    if device.is_autodiff() {
        t.require_grad()
    } else {
        t
    }
}

/// The block by its definition: `z = act(spectral(x) + b_s + W_skip x)`,
/// `out = act(W_2 gelu(W_1 z + b_1) + b_2 + g x)`.
fn composed<const D: usize, const W: usize>(
    x: Tensor<D>,
    w: &FnoBlockWeights<W>,
    activate: bool,
) -> Tensor<D> {
    let shape = x.dims();
    let (b, c) = (shape[0], shape[1]);
    let n: usize = shape[2..].iter().product();
    let act = |t: Tensor<3>| if activate { gelu(t) } else { t };
    let s = spectral_conv(x.clone(), w.spectral.clone()).reshape([b, c, n]);
    let x3 = x.reshape([b, c, n]);
    let mut pre1 = s + w.skip.clone().unsqueeze::<3>().matmul(x3.clone());
    if let Some(bias) = &w.spectral_bias {
        pre1 = pre1 + bias.clone().reshape([1, c, 1]);
    }
    let z = act(pre1);
    let h = channel_linear(
        z,
        w.mlp_first.clone(),
        Some(w.mlp_first_bias.clone()),
        None,
        true,
    );
    let gated = x3 * w.gate.clone().reshape([1, c, 1]);
    let out = w.mlp_second.clone().unsqueeze::<3>().matmul(h)
        + w.mlp_second_bias.clone().reshape([1, c, 1])
        + gated;
    act(out).reshape(shape)
}

fn check<const D: usize, const W: usize>(
    shape: [usize; D],
    modes: [usize; W],
    hidden: usize,
    seed: u64,
) {
    let device = Device::flex().autodiff();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let c = shape[1];
    for (activate, with_bias) in [(true, true), (false, true), (true, false)] {
        let weights = FnoBlockWeights {
            spectral: draw(&mut rng, modes, &device),
            spectral_bias: with_bias.then(|| draw(&mut rng, [c], &device)),
            skip: draw(&mut rng, [c, c], &device),
            mlp_first: draw(&mut rng, [hidden, c], &device),
            mlp_first_bias: draw(&mut rng, [hidden], &device),
            mlp_second: draw(&mut rng, [c, hidden], &device),
            mlp_second_bias: draw(&mut rng, [c], &device),
            gate: draw(&mut rng, [c], &device),
        };
        let x = draw(&mut rng, shape, &device);
        let probe = draw(&mut rng, shape, &device).detach();
        let what = format!("shape {shape:?} activate {activate} bias {with_bias}");
        // The fused block with each last-axis method forced (its backward adds the spectral
        // path's input gradient into the pointwise paths' in both), then the composed block.
        let mut outs = Vec::new();
        for fused in [Some(LastAxisMethod::Dense), Some(LastAxisMethod::Fft), None] {
            let y = match fused {
                Some(method) => {
                    force_last_axis_method(Some(method));
                    fno_block(x.clone(), weights.clone(), activate)
                }
                None => {
                    force_last_axis_method(None);
                    composed(x.clone(), &weights, activate)
                }
            };
            let grads = (y.clone() * probe.clone()).sum().backward();
            let g1 = |t: &Tensor<1>| values(t.grad(&grads).unwrap());
            let g2 = |t: &Tensor<2>| values(t.grad(&grads).unwrap());
            let mut all = vec![
                values(y.inner()),
                values(x.grad(&grads).unwrap()),
                values(weights.spectral.grad(&grads).unwrap()),
                g2(&weights.skip),
                g2(&weights.mlp_first),
                g1(&weights.mlp_first_bias),
                g2(&weights.mlp_second),
                g1(&weights.mlp_second_bias),
                g1(&weights.gate),
            ];
            if let Some(b) = &weights.spectral_bias {
                all.push(g1(b));
            }
            outs.push(all);
        }
        force_last_axis_method(None);
        let names = [
            "output", "x", "spectral", "skip", "w1", "b1", "w2", "b2", "gate", "bias",
        ];
        for (fused, method) in outs[..2].iter().zip(["dense", "FFT"]) {
            for (k, (a, b)) in fused.iter().zip(&outs[2]).enumerate() {
                let g = gap(a, b);
                assert!(
                    g < 1e-11,
                    "{what} ({method}): {} differs by {g:e}",
                    names[k]
                );
            }
        }
    }
}

#[test]
fn fused_block_matches_its_definition_in_1d() {
    // [c, c, K, 2] with K = modes / 2 + 1 kept on the real-FFT axis.
    check([3, 4, 20], [4, 4, 4, 2], 3, 1);
    check([1, 3, 17], [3, 3, 5, 2], 2, 2);
}

#[test]
fn fused_block_matches_its_definition_in_2d_and_3d() {
    check([2, 3, 9, 8], [3, 3, 4, 3, 2], 2, 3);
    check([2, 2, 5, 4, 6], [2, 2, 4, 2, 3, 2], 3, 4);
}

#[test]
#[should_panic(expected = "first MLP bias has the wrong shape")]
fn a_mis_shaped_weight_is_named() {
    let device = Device::flex();
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let weights = FnoBlockWeights {
        spectral: draw(&mut rng, [2, 2, 3, 2], &device),
        spectral_bias: None,
        skip: draw(&mut rng, [2, 2], &device),
        mlp_first: draw(&mut rng, [3, 2], &device),
        mlp_first_bias: draw(&mut rng, [2], &device),
        mlp_second: draw(&mut rng, [2, 3], &device),
        mlp_second_bias: draw(&mut rng, [2], &device),
        gate: draw(&mut rng, [2], &device),
    };
    fno_block(draw(&mut rng, [1, 2, 8], &device), weights, true);
}
