//! physfm's spectral convolution against neuraloperator 2.0's `SpectralConv` on the same
//! inputs and weights. The fixture was written by `cargo xtask parity spectral` (neuralop in a
//! virtual environment); this test needs no Python.

use burn::tensor::{Device, Tensor, TensorData};
use physfm_spectral::spectral_conv;
use serde::Deserialize;

use crate::common;
use common::rel_err;

#[derive(Deserialize)]
struct Case {
    dims: Vec<usize>,
    n_modes: Vec<usize>,
    batch: usize,
    in_channels: usize,
    out_channels: usize,
    x: Vec<f32>,
    weight: Vec<f32>,
    bias: Vec<f32>,
    y: Vec<f64>,
}

#[derive(Deserialize)]
struct Fixture {
    cases: Vec<Case>,
}

fn run<const D: usize, const W: usize>(c: &Case) -> Vec<f32> {
    let device = Device::flex();
    let mut xs = vec![c.batch, c.in_channels];
    xs.extend(&c.dims);
    let mut ws = vec![c.in_channels, c.out_channels];
    ws.extend(&c.n_modes);
    ws[W - 2] = c.n_modes[c.n_modes.len() - 1] / 2 + 1;
    ws.push(2);
    let x = Tensor::<D>::from_data(TensorData::new(c.x.clone(), xs), &device);
    let w = Tensor::<W>::from_data(TensorData::new(c.weight.clone(), ws), &device);
    let mut bs = [1usize; D];
    bs[1] = c.out_channels;
    let b = Tensor::<1>::from_data(TensorData::new(c.bias.clone(), [c.out_channels]), &device);
    (spectral_conv(x, w) + b.reshape(bs))
        .into_data()
        .try_to_vec::<f32>()
        .unwrap()
}

#[test]
fn matches_neuraloperator_spectral_conv_in_1d_2d_and_3d() {
    let text = include_str!("../fixtures/neuralop_spectral_conv.json");
    let fixture: Fixture = serde_json::from_str(text).unwrap();
    assert!(fixture.cases.len() >= 5);
    for c in &fixture.cases {
        let y = match c.dims.len() {
            1 => run::<3, 4>(c),
            2 => run::<4, 5>(c),
            3 => run::<5, 6>(c),
            d => panic!("{d}D case"),
        };
        let y: Vec<f64> = y.into_iter().map(f64::from).collect();
        let rel = rel_err(&y, &c.y);
        assert!(
            rel < 1e-5,
            "dims {:?} n_modes {:?}: relative difference to neuralop {rel:e}",
            c.dims,
            c.n_modes
        );
    }
}
