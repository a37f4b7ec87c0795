//! `SpectralConv1d`: the 1D Fourier layer, for any grid length.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use burn::module::{Module, Param};
use burn::tensor::{Device, Distribution, Tensor, TensorData};
use serde::{Deserialize, Serialize};

/// Configuration of a [`SpectralConv1d`].
///
/// `n_modes` follows neuraloperator's `SpectralConv`: it counts modes including negative
/// frequencies, and since the last (here the only) dimension uses a real FFT, the layer keeps
/// the `n_modes / 2 + 1` lowest non-negative frequencies. It is never changed behind the
/// user's back: [`SpectralConv1dConfig::kept_modes`] says what is kept, and the layer refuses
/// a grid too coarse to hold those modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpectralConv1dConfig {
    /// Input channels.
    pub in_channels: usize,
    /// Output channels.
    pub out_channels: usize,
    /// Modes, counted as neuraloperator counts them (negative frequencies included).
    pub n_modes: usize,
    /// Whether a per-output-channel bias is added (neuraloperator's default: yes).
    #[serde(default = "yes")]
    pub bias: bool,
}

fn yes() -> bool {
    true
}

impl SpectralConv1dConfig {
    /// A configuration with bias.
    pub fn new(in_channels: usize, out_channels: usize, n_modes: usize) -> Self {
        Self {
            in_channels,
            out_channels,
            n_modes,
            bias: true,
        }
    }

    /// Number of non-negative frequencies kept: `n_modes / 2 + 1`.
    pub fn kept_modes(&self) -> usize {
        self.n_modes / 2 + 1
    }

    /// Builds the layer with neuraloperator's initialisation: real and imaginary weight parts
    /// and the bias drawn from `N(0, sqrt(2 / (in + out)))`.
    pub fn init(&self, device: &Device) -> SpectralConv1d {
        let std = (2.0 / (self.in_channels + self.out_channels) as f64).sqrt();
        let weight = Tensor::<4>::random(
            [self.in_channels, self.out_channels, self.kept_modes(), 2],
            Distribution::Normal(0.0, std),
            device,
        );
        let bias = self.bias.then(|| {
            Param::from_tensor(Tensor::<1>::random(
                [self.out_channels],
                Distribution::Normal(0.0, std),
                device,
            ))
        });
        SpectralConv1d {
            weight: Param::from_tensor(weight),
            bias,
            modes: self.kept_modes(),
        }
    }
}

/// Spectral convolution in 1D: real DFT along the last axis (normalised by `1/n`, fft norm
/// "forward"), the `modes` lowest frequencies mixed across channels by complex weights, and
/// the inverse real DFT (as `numpy.fft.irfft`, the imaginary parts of the zero and Nyquist
/// frequencies dropped) back to the input length, plus a bias.
///
/// This implementation evaluates the truncated transforms as dense matrix products against a
/// cached DFT basis, so any length works (odd, prime, 85, 94, 1000) and burn's autodiff gives
/// the backward pass. For `modes << n` this costs `O(n * modes)` per channel, the same order
/// as the pruned FFT path.
///
/// ```
/// use burn::tensor::{Device, Tensor};
/// use physfm_spectral::SpectralConv1dConfig;
/// let device = Device::flex();
/// let layer = SpectralConv1dConfig::new(3, 5, 8).init(&device);
/// let y = layer.forward(Tensor::<3>::ones([2, 3, 85], &device));
/// assert_eq!(y.dims(), [2, 5, 85]);
/// ```
#[derive(Module, Debug)]
pub struct SpectralConv1d {
    /// Complex weights as real pairs: `[in_channels, out_channels, modes, 2]`.
    pub weight: Param<Tensor<4>>,
    /// Bias `[out_channels]`.
    pub bias: Option<Param<Tensor<1>>>,
    /// Kept non-negative frequencies.
    pub modes: usize,
}

impl SpectralConv1d {
    /// Applies the layer.
    ///
    /// # Shapes
    /// - input: `[batch, in_channels, n]`
    /// - output: `[batch, out_channels, n]`
    ///
    /// # Panics
    /// If `n / 2 + 1 < modes` (the grid cannot hold the kept modes) or the channel count
    /// differs from the weights'.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let [b, ci, n] = x.dims();
        let [wci, co, m, _] = self.weight.dims();
        assert_eq!(
            ci, wci,
            "SpectralConv1d: input has {ci} channels, the layer takes {wci}"
        );
        assert!(
            m <= n / 2 + 1,
            "SpectralConv1d: a grid of {n} points holds {} real-FFT modes, the layer keeps {m}",
            n / 2 + 1
        );
        let device = x.device();
        let basis = dft_basis(n, m);
        let fwd =
            Tensor::<2>::from_data(TensorData::new(basis.forward.clone(), [n, 2 * m]), &device);
        let inv =
            Tensor::<2>::from_data(TensorData::new(basis.inverse.clone(), [2 * m, n]), &device);

        // [b*ci, n] x [n, 2m] -> [b, ci, 2, m] -> [m, b, 2*ci] with layout [re | im].
        let xh = x
            .reshape([b * ci, n])
            .matmul(fwd)
            .reshape([b, ci, 2, m])
            .permute([3, 0, 2, 1])
            .reshape([m, b, 2 * ci]);

        // Complex product as one real product: [xr | xi] @ [[wr, wi], [-wi, wr]].
        let w = self.weight.val();
        let wr = w
            .clone()
            .slice([0..ci, 0..co, 0..m, 0..1])
            .reshape([ci, co, m])
            .permute([2, 0, 1]);
        let wi = w
            .slice([0..ci, 0..co, 0..m, 1..2])
            .reshape([ci, co, m])
            .permute([2, 0, 1]);
        let top = Tensor::cat(vec![wr.clone(), wi.clone()], 2);
        let bottom = Tensor::cat(vec![wi.neg(), wr], 2);
        let block = Tensor::cat(vec![top, bottom], 1); // [m, 2ci, 2co]
        let yh = xh.matmul(block); // [m, b, 2co]

        // [m, b, 2, co] -> [b, co, 2, m] -> [b*co, 2m] x [2m, n].
        let y = yh
            .reshape([m, b, 2, co])
            .permute([1, 3, 2, 0])
            .reshape([b * co, 2 * m])
            .matmul(inv)
            .reshape([b, co, n]);
        match &self.bias {
            Some(bias) => y + bias.val().reshape([1, co, 1]),
            None => y,
        }
    }
}

/// Truncated real-DFT bases of one length and mode count, as f32 host data.
struct DftBasis {
    /// `[n, 2m]`: `cos(2 pi k j / n) / n` then `-sin(2 pi k j / n) / n`.
    forward: Vec<f32>,
    /// `[2m, n]`: `c_k cos(2 pi k j / n)` then `-c_k sin(2 pi k j / n)`, `c_k` the Hermitian
    /// weight (1 for the zero and Nyquist frequencies, 2 otherwise).
    inverse: Vec<f32>,
}

/// DFT bases by `(length, modes)`.
type BasisCache = Mutex<HashMap<(usize, usize), Arc<DftBasis>>>;

static BASES: LazyLock<BasisCache> = LazyLock::new(Default::default);

fn dft_basis(n: usize, m: usize) -> Arc<DftBasis> {
    let mut cache = BASES.lock().unwrap_or_else(|p| p.into_inner());
    cache
        .entry((n, m))
        .or_insert_with(|| {
            let mut forward = vec![0.0f32; n * 2 * m];
            let mut inverse = vec![0.0f32; 2 * m * n];
            for j in 0..n {
                for k in 0..m {
                    // Reduce k*j mod n first so the angle stays exact for long grids.
                    let a = 2.0 * std::f64::consts::PI * ((k * j) % n) as f64 / n as f64;
                    let (s, c) = a.sin_cos();
                    forward[j * 2 * m + k] = (c / n as f64) as f32;
                    forward[j * 2 * m + m + k] = (-s / n as f64) as f32;
                    let ck = if k == 0 || 2 * k == n { 1.0 } else { 2.0 };
                    inverse[k * n + j] = (ck * c) as f32;
                    inverse[(m + k) * n + j] = (-ck * s) as f32;
                }
            }
            Arc::new(DftBasis { forward, inverse })
        })
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference;

    fn to_vec(t: Tensor<3>) -> Vec<f32> {
        t.into_data().try_to_vec::<f32>().unwrap()
    }

    fn check_against_reference(
        b: usize,
        ci: usize,
        co: usize,
        n: usize,
        n_modes: usize,
        seed: u64,
    ) {
        let device = Device::flex();
        device.seed(seed);
        let cfg = SpectralConv1dConfig::new(ci, co, n_modes);
        let mut layer = cfg.init(&device);
        let bias = Tensor::<1>::random([co], Distribution::Normal(0.0, 1.0), &device);
        layer.bias = Some(Param::from_tensor(bias));
        let x = Tensor::<3>::random([b, ci, n], Distribution::Normal(0.0, 1.0), &device);
        let y = to_vec(layer.forward(x.clone()));
        let xs: Vec<f64> = to_vec(x).iter().map(|&v| v as f64).collect();
        let w: Vec<f64> = layer
            .weight
            .val()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap()
            .iter()
            .map(|&v| v as f64)
            .collect();
        let bias: Vec<f64> = layer
            .bias
            .as_ref()
            .unwrap()
            .val()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap()
            .iter()
            .map(|&v| v as f64)
            .collect();
        let r = reference::spectral_conv1d(&xs, b, ci, n, &w, co, cfg.kept_modes(), &bias);
        let num: f64 = y.iter().zip(&r).map(|(a, b)| (*a as f64 - b).powi(2)).sum();
        let den: f64 = r.iter().map(|b| b * b).sum();
        let rel = (num / den).sqrt();
        assert!(rel < 1e-5, "n={n} modes={n_modes}: relative error {rel:e}");
    }

    #[test]
    fn matches_the_f64_reference_on_odd_prime_and_non_power_of_two_lengths() {
        for (i, &(n, modes)) in [(7, 6), (17, 16), (85, 24), (94, 16), (100, 100), (64, 16)]
            .iter()
            .enumerate()
        {
            check_against_reference(2, 3, 4, n, modes, i as u64);
        }
    }

    #[test]
    fn is_translation_equivariant() {
        let device = Device::flex();
        device.seed(3);
        let layer = SpectralConv1dConfig::new(2, 2, 10).init(&device);
        let x = Tensor::<3>::random([1, 2, 30], Distribution::Normal(0.0, 1.0), &device);
        let shift = |t: Tensor<3>, s: usize| {
            let n = t.dims()[2];
            Tensor::cat(
                vec![
                    t.clone().slice([0..1, 0..2, n - s..n]),
                    t.slice([0..1, 0..2, 0..n - s]),
                ],
                2,
            )
        };
        let a = to_vec(layer.forward(shift(x.clone(), 7)));
        let b = to_vec(shift(layer.forward(x), 7));
        for (u, v) in a.iter().zip(&b) {
            assert!((u - v).abs() < 1e-5, "{u} vs {v}");
        }
    }

    #[test]
    #[should_panic(expected = "holds 4 real-FFT modes")]
    fn refuses_a_grid_too_coarse_for_its_modes() {
        let device = Device::flex();
        let layer = SpectralConv1dConfig::new(1, 1, 16).init(&device);
        let _ = layer.forward(Tensor::<3>::ones([1, 1, 6], &device));
    }
}
