//! Helpers shared by the spectral convolution's test binaries.
#![allow(dead_code)]

use burn::tensor::{DType, Device, Tensor, TensorData};
use physfm_spectral::reference::Shapes;
use physfm_spectral::spectral_conv;

/// `||a - b|| / ||b||`.
pub(crate) fn rel_err(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    let num: f64 = a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum();
    let den: f64 = b.iter().map(|y| y * y).sum();
    (num / den.max(1e-300)).sqrt()
}

/// The tensor's values as f64.
pub(crate) fn values<const D: usize>(t: Tensor<D>) -> Vec<f64> {
    t.into_data().convert::<f64>().try_to_vec::<f64>().unwrap()
}

/// The largest difference relative to the larger operand's largest magnitude.
pub(crate) fn gap(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    let scale = a.iter().chain(b).fold(0.0f64, |m, v| m.max(v.abs()));
    let diff = a
        .iter()
        .zip(b)
        .fold(0.0f64, |m, (x, y)| m.max((x - y).abs()));
    diff / scale.max(f64::MIN_POSITIVE)
}

fn run_rank<const D: usize, const W: usize>(
    device: &Device,
    dtype: DType,
    x: &[f64],
    w: &[f64],
    g: &[f64],
    s: &Shapes,
) -> [Vec<f64>; 3] {
    let mut xs = vec![s.batch, s.in_channels];
    xs.extend(&s.dims);
    let mut ws = vec![s.in_channels, s.out_channels];
    ws.extend(&s.modes);
    ws.push(2);
    let mut ys = vec![s.batch, s.out_channels];
    ys.extend(&s.dims);
    let data = |v: &[f64], shape: Vec<usize>| TensorData::new(v.to_vec(), shape);
    let xt = Tensor::<D>::from_data(data(x, xs), (device, dtype)).require_grad();
    let wt = Tensor::<W>::from_data(data(w, ws), (device, dtype)).require_grad();
    let gt = Tensor::<D>::from_data(data(g, ys), (device, dtype));
    let y = spectral_conv(xt.clone(), wt.clone());
    let grads = (y.clone() * gt).sum().backward();
    let host = |d: TensorData| d.convert::<f64>().try_to_vec::<f64>().unwrap();
    [
        host(y.into_data()),
        host(xt.grad(&grads).expect("input gradient").into_data()),
        host(wt.grad(&grads).expect("weight gradient").into_data()),
    ]
}

/// Output, input gradient and weight gradient of `sum(g * spectral_conv(x, w))` on an autodiff
/// `device`, computed in `dtype`.
pub(crate) fn run(
    device: &Device,
    dtype: DType,
    x: &[f64],
    w: &[f64],
    g: &[f64],
    s: &Shapes,
) -> [Vec<f64>; 3] {
    match s.dims.len() {
        1 => run_rank::<3, 4>(device, dtype, x, w, g, s),
        2 => run_rank::<4, 5>(device, dtype, x, w, g, s),
        3 => run_rank::<5, 6>(device, dtype, x, w, g, s),
        d => panic!("no {d}D spectral convolution"),
    }
}
