//! The f64 oracle: the spectral convolution and its gradients written as plain sums over grid
//! points and modes, straight from the definition, sharing nothing with the fast paths. Every
//! fast path (CPU, cubecl) is tested against it.
//!
//! With `x` `[batch, in, N_1..N_d]` and weights `W` `[in, out, M_1..M_{d-1}, K, 2]`, and
//! writing `f(w)` for the frequency of a mode (`w_a - M_a / 2` on the first `d - 1` axes,
//! `w_d` on the last), the layer computes
//!
//! ```text
//! X[b, i, w]   = 1/(N_1..N_d) * sum_n x[b, i, n] exp(-2 pi i f(w) . n / N)
//! Y[b, o, w]   = sum_i X[b, i, w] W[i, o, w]
//! y[b, o, n]   = sum_w c(w_d) Re(Y[b, o, w] exp(2 pi i f(w) . n / N)) + bias[o]
//! ```
//!
//! with `c = 1` for the zero and (even `N_d`) Nyquist frequencies of the last axis and `c = 2`
//! otherwise: exactly `irfftn` of the zero-filled half spectrum.

use std::f64::consts::PI;

/// Shapes of one call: input `[batch, in, dims..]`, weights `[in, out, modes.., 2]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shapes {
    /// Batch size.
    pub batch: usize,
    /// Input channels.
    pub in_channels: usize,
    /// Output channels.
    pub out_channels: usize,
    /// Grid sizes `N_1..N_d`.
    pub dims: Vec<usize>,
    /// Kept modes `M_1..M_{d-1}, K`.
    pub modes: Vec<usize>,
}

/// One entry of the reference shape list (`benches/spectral_shapes.json`, shared by the
/// criterion benches, `cargo xtask bench spectral` and `examples/device_check.rs`), with modes
/// counted as neuraloperator counts them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BenchShape {
    /// Name of the shape in tables and JSON.
    pub name: String,
    /// Batch size.
    pub batch: usize,
    /// Input channels.
    pub in_channels: usize,
    /// Output channels.
    pub out_channels: usize,
    /// Grid sizes.
    pub dims: Vec<usize>,
    /// Modes per axis as neuraloperator counts them (the last axis keeps `n / 2 + 1`).
    pub n_modes: Vec<usize>,
}

impl BenchShape {
    /// The shapes of one call: the kept modes per axis.
    pub fn shapes(&self) -> Shapes {
        let mut modes = self.n_modes.clone();
        if let Some(last) = modes.last_mut() {
            *last = *last / 2 + 1;
        }
        Shapes {
            batch: self.batch,
            in_channels: self.in_channels,
            out_channels: self.out_channels,
            dims: self.dims.clone(),
            modes,
        }
    }
}

impl Shapes {
    fn points(&self) -> usize {
        self.dims.iter().product()
    }
    fn mode_count(&self) -> usize {
        self.modes.iter().product()
    }
    /// Multi-index of flat position `p` in row-major `sizes`.
    fn unravel(mut p: usize, sizes: &[usize]) -> Vec<usize> {
        let mut idx = vec![0; sizes.len()];
        for a in (0..sizes.len()).rev() {
            idx[a] = p % sizes[a];
            p /= sizes[a];
        }
        idx
    }
    /// Frequencies of flat mode `q`.
    fn freqs(&self, q: usize) -> Vec<i64> {
        let w = Self::unravel(q, &self.modes);
        let d = self.dims.len();
        (0..d)
            .map(|a| {
                if a + 1 == d {
                    w[a] as i64
                } else {
                    w[a] as i64 - (self.modes[a] / 2) as i64
                }
            })
            .collect()
    }
    /// `2 pi f . n / N` for flat mode `q` and flat point `p`.
    fn phase(&self, q: usize, p: usize) -> f64 {
        let f = self.freqs(q);
        let n = Self::unravel(p, &self.dims);
        f.iter()
            .zip(&n)
            .zip(&self.dims)
            .map(|((&f, &n), &size)| {
                2.0 * PI * (f * n as i64).rem_euclid(size as i64) as f64 / size as f64
            })
            .sum()
    }
    /// Hermitian weight of flat mode `q`.
    fn weight_c(&self, q: usize) -> f64 {
        let d = self.dims.len();
        let k = Self::unravel(q, &self.modes)[d - 1];
        if k == 0 || 2 * k == self.dims[d - 1] {
            1.0
        } else {
            2.0
        }
    }
}

/// `cos` and `sin` of every `(mode, point)` phase, `[modes, points]`.
struct Phases {
    cos: Vec<f64>,
    sin: Vec<f64>,
    c: Vec<f64>,
}

impl Phases {
    fn new(s: &Shapes) -> Self {
        let (np, nq) = (s.points(), s.mode_count());
        let mut cos = Vec::with_capacity(nq * np);
        let mut sin = Vec::with_capacity(nq * np);
        for q in 0..nq {
            for p in 0..np {
                let t = s.phase(q, p);
                cos.push(t.cos());
                sin.push(t.sin());
            }
        }
        let c = (0..nq).map(|q| s.weight_c(q)).collect();
        Self { cos, sin, c }
    }
}

/// Kept spectrum `X[b, i, q]` as `(re, im)`.
fn spectrum(x: &[f64], s: &Shapes, t: &Phases) -> Vec<(f64, f64)> {
    let (np, nq) = (s.points(), s.mode_count());
    let mut out = vec![(0.0, 0.0); s.batch * s.in_channels * nq];
    for bi in 0..s.batch * s.in_channels {
        for q in 0..nq {
            let (mut re, mut im) = (0.0, 0.0);
            for p in 0..np {
                re += x[bi * np + p] * t.cos[q * np + p];
                im -= x[bi * np + p] * t.sin[q * np + p];
            }
            out[bi * nq + q] = (re / np as f64, im / np as f64);
        }
    }
    out
}

/// The forward pass. `bias` may be empty.
pub fn spectral_conv(x: &[f64], weight: &[f64], bias: &[f64], s: &Shapes) -> Vec<f64> {
    let (np, nq) = (s.points(), s.mode_count());
    let (ci, co) = (s.in_channels, s.out_channels);
    let t = Phases::new(s);
    let xh = spectrum(x, s, &t);
    let mut y = vec![0.0; s.batch * co * np];
    for b in 0..s.batch {
        for o in 0..co {
            for q in 0..nq {
                let (mut re, mut im) = (0.0, 0.0);
                for i in 0..ci {
                    let (xr, xi) = xh[(b * ci + i) * nq + q];
                    let w = ((i * co + o) * nq + q) * 2;
                    re += xr * weight[w] - xi * weight[w + 1];
                    im += xr * weight[w + 1] + xi * weight[w];
                }
                let c = t.c[q];
                for p in 0..np {
                    let (cs, sn) = (t.cos[q * np + p], t.sin[q * np + p]);
                    y[(b * co + o) * np + p] += c * (re * cs - im * sn);
                }
            }
            if let Some(v) = bias.get(o) {
                for p in 0..np {
                    y[(b * co + o) * np + p] += v;
                }
            }
        }
    }
    y
}

/// Gradients of `sum(grad * spectral_conv(x, weight))` with respect to `x` and `weight`, from
/// the partial derivatives of the definition above:
///
/// ```text
/// dy[b,o,n] / dx[b,i,m]   = sum_w c Re(W[i,o,w] exp(2 pi i f(w) . (n - m) / N)) / (N_1..N_d)
/// dy[b,o,n] / dRe W[i,o,w] = c Re(X[b,i,w] e(w, n)),  dy / dIm W = -c Im(X[b,i,w] e(w, n))
/// ```
pub fn spectral_conv_grads(
    x: &[f64],
    weight: &[f64],
    grad: &[f64],
    s: &Shapes,
) -> (Vec<f64>, Vec<f64>) {
    let (np, nq) = (s.points(), s.mode_count());
    let (ci, co) = (s.in_channels, s.out_channels);
    let t = Phases::new(s);
    // The kernel dy/dx depends on (i, o, n, m) only.
    let mut gx = vec![0.0; s.batch * ci * np];
    for i in 0..ci {
        for o in 0..co {
            for n in 0..np {
                for m in 0..np {
                    let mut k = 0.0;
                    for q in 0..nq {
                        let w = ((i * co + o) * nq + q) * 2;
                        let (cn, sn) = (t.cos[q * np + n], t.sin[q * np + n]);
                        let (cm, sm) = (t.cos[q * np + m], t.sin[q * np + m]);
                        // cos and sin of (phase(n) - phase(m))
                        let (cd, sd) = (cn * cm + sn * sm, sn * cm - cn * sm);
                        k += t.c[q] * (weight[w] * cd - weight[w + 1] * sd);
                    }
                    k /= np as f64;
                    for b in 0..s.batch {
                        gx[(b * ci + i) * np + m] += grad[(b * co + o) * np + n] * k;
                    }
                }
            }
        }
    }
    let xh = spectrum(x, s, &t);
    let mut gw = vec![0.0; ci * co * nq * 2];
    for i in 0..ci {
        for o in 0..co {
            for q in 0..nq {
                let c = t.c[q];
                let (mut gr, mut gi) = (0.0, 0.0);
                for b in 0..s.batch {
                    let (xr, xi) = xh[(b * ci + i) * nq + q];
                    for n in 0..np {
                        let (cs, sn) = (t.cos[q * np + n], t.sin[q * np + n]);
                        let g = grad[(b * co + o) * np + n];
                        // X e^{it} = (xr cos - xi sin) + i (xr sin + xi cos)
                        gr += g * c * (xr * cs - xi * sn);
                        gi -= g * c * (xr * sn + xi * cs);
                    }
                }
                let w = ((i * co + o) * nq + q) * 2;
                gw[w] = gr;
                gw[w + 1] = gi;
            }
        }
    }
    (gx, gw)
}
