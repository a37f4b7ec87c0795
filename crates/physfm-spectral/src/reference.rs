//! The f64 oracle: a naive DFT implementation of the 1D spectral convolution, written from the
//! definition (real FFT, keep modes, complex channel mixing, inverse real FFT with the
//! conventions of `numpy.fft.irfft`). Every fast path is tested against it.

use std::f64::consts::PI;

/// Naive spectral convolution.
///
/// - `x`: `[batch, in_channels, n]`
/// - `weight`: `[in_channels, out_channels, modes, 2]` (real, imaginary)
/// - `bias`: `[out_channels]` or empty
///
/// Returns `[batch, out_channels, n]`. Forward DFT normalised by `1/n` (fft norm "forward").
#[allow(clippy::too_many_arguments)]
pub fn spectral_conv1d(
    x: &[f64],
    batch: usize,
    in_channels: usize,
    n: usize,
    weight: &[f64],
    out_channels: usize,
    modes: usize,
    bias: &[f64],
) -> Vec<f64> {
    assert!(
        modes <= n / 2 + 1,
        "modes {modes} exceed the {} real-FFT coefficients of length {n}",
        n / 2 + 1
    );
    let mut y = vec![0.0; batch * out_channels * n];
    for b in 0..batch {
        // Forward DFT of each input channel, kept modes only.
        let mut xh = vec![(0.0, 0.0); in_channels * modes];
        for i in 0..in_channels {
            let row = &x[(b * in_channels + i) * n..(b * in_channels + i + 1) * n];
            for k in 0..modes {
                let (mut re, mut im) = (0.0, 0.0);
                for (j, v) in row.iter().enumerate() {
                    let a = -2.0 * PI * k as f64 * j as f64 / n as f64;
                    re += v * a.cos();
                    im += v * a.sin();
                }
                xh[i * modes + k] = (re / n as f64, im / n as f64);
            }
        }
        for o in 0..out_channels {
            // Mix channels per mode.
            let mut spec = vec![(0.0f64, 0.0f64); n];
            for k in 0..modes {
                let (mut re, mut im) = (0.0, 0.0);
                for i in 0..in_channels {
                    let (xr, xi) = xh[i * modes + k];
                    let w = ((i * out_channels + o) * modes + k) * 2;
                    let (wr, wi) = (weight[w], weight[w + 1]);
                    re += xr * wr - xi * wi;
                    im += xr * wi + xi * wr;
                }
                spec[k] = (re, im);
            }
            // Hermitian spectrum as irfft builds it: imaginary parts of DC and Nyquist dropped.
            spec[0].1 = 0.0;
            if n.is_multiple_of(2) && modes > n / 2 {
                spec[n / 2].1 = 0.0;
            }
            for k in 1..modes {
                if 2 * k != n {
                    spec[n - k] = (spec[k].0, -spec[k].1);
                }
            }
            let out = &mut y[(b * out_channels + o) * n..(b * out_channels + o + 1) * n];
            for (j, v) in out.iter_mut().enumerate() {
                let mut s = 0.0;
                for (k, &(re, im)) in spec.iter().enumerate() {
                    let a = 2.0 * PI * k as f64 * j as f64 / n as f64;
                    s += re * a.cos() - im * a.sin();
                }
                *v = s + bias.get(o).copied().unwrap_or(0.0);
            }
        }
    }
    y
}
