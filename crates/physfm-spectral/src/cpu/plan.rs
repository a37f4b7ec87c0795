//! Transform plans: everything about one grid shape and mode count that can be computed once
//! (FFT plans, truncated DFT bases, scaling coefficients), cached per shape.

use std::cell::Cell;
use std::collections::HashMap;
use std::f64::consts::PI;
use std::sync::{Arc, LazyLock, Mutex};

use num_complex::Complex;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};

use super::matmul::{GemmScalar, Mat, MatMut, matmul};

/// The floating-point types the CPU path computes in.
pub(crate) trait Real:
    rustfft::FftNum + bytemuck::Pod + GemmScalar + burn::tensor::Element
{
    /// `dst = lhs · rhs` over complex numbers of this precision (see [`matmul`]).
    fn complex_matmul(
        dst: MatMut<'_, Complex<Self>>,
        lhs: Mat<'_, Complex<Self>>,
        rhs: Mat<'_, Complex<Self>>,
        conj_lhs: bool,
        parallel: bool,
    );
    /// Conversion from f64 (exact for f64, rounded for f32).
    fn of(v: f64) -> Self;
    /// The plan cache for this type.
    fn plans() -> &'static PlanCache<Self>;
}

/// Plans by `(grid sizes, kept modes, last-axis method)`.
pub(crate) type PlanCache<T> =
    Mutex<HashMap<(Vec<usize>, Vec<usize>, LastAxisMethod), Arc<Plan<T>>>>;

static PLANS_F32: LazyLock<PlanCache<f32>> = LazyLock::new(Default::default);
static PLANS_F64: LazyLock<PlanCache<f64>> = LazyLock::new(Default::default);

macro_rules! real {
    ($t:ty, $cache:ident) => {
        impl Real for $t {
            fn of(v: f64) -> Self {
                v as $t
            }
            fn plans() -> &'static PlanCache<Self> {
                &$cache
            }
            fn complex_matmul(
                dst: MatMut<'_, Complex<Self>>,
                lhs: Mat<'_, Complex<Self>>,
                rhs: Mat<'_, Complex<Self>>,
                conj_lhs: bool,
                parallel: bool,
            ) {
                matmul(dst, lhs, rhs, conj_lhs, parallel)
            }
        }
    };
}

real!(f32, PLANS_F32);
real!(f64, PLANS_F64);

/// How the CPU path evaluates the transform along the last (real-FFT) axis, the one that sees
/// the whole grid and costs most.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LastAxisMethod {
    /// The truncated DFT as one dense real matrix product against a cached `n x 2k` basis:
    /// `4 n k` flops per row, at matrix-product speed. Wins for few modes.
    Dense,
    /// A real FFT of the whole row (RustFFT through `realfft`, planned once per length), of
    /// which the kept modes are used; the inverse fills the kept modes and zeroes the rest.
    Fft,
}

thread_local! {
    /// The method forced on this thread, if any.
    static FORCED: Cell<Option<LastAxisMethod>> = const { Cell::new(None) };
}

/// Forces the last-axis method for later calls made from this thread, or restores the
/// per-shape choice with `None`. Meant for benchmarks and tests that compare the two paths;
/// both give the same results to rounding.
pub fn force_last_axis_method(method: Option<LastAxisMethod>) {
    FORCED.with(|f| f.set(method));
}

/// The method the CPU path uses for a last axis keeping `k` modes, whatever its length: dense
/// while `k <= 16`, FFT above.
///
/// The dense product costs `4 n k` flops per row at matrix-product speed; the FFT costs about
/// `2.5 n log2 n` flops per row at a lower rate, plus copying. Measured (1D forward, batch
/// 8 x 32 channels, `cargo bench -p physfm-benches --bench bench_main -- spectral_last_axis`,
/// table in docs/performance.md), the two tie at `k = 17` at both 64 and 1024 points, dense
/// is 1.2-1.9x faster below and the FFT 1.2-1.7x faster at `k = 33`. The usual FNO settings
/// fall on the dense side (16 modes keep 9, 12 keep 7).
pub fn last_axis_method(k: usize) -> LastAxisMethod {
    if let Some(m) = FORCED.with(Cell::get) {
        return m;
    }
    if k <= 16 {
        LastAxisMethod::Dense
    } else {
        LastAxisMethod::Fft
    }
}

/// The Hermitian weight of real-FFT bin `k` of a length-`n` transform: 1 for the zero and
/// Nyquist frequencies, 2 for the others (each stands for itself and its mirror).
pub(crate) fn hermitian_weight(n: usize, k: usize) -> f64 {
    if k == 0 || 2 * k == n { 1.0 } else { 2.0 }
}

/// The frequency of weight index `w` along a non-last axis keeping `m` modes, as neuraloperator
/// lays them out after its `fftshift`: `w - m / 2`, i.e. `-m/2 ..= (m - 1) / 2`.
pub(crate) fn centred_frequency(w: usize, m: usize) -> i64 {
    w as i64 - (m / 2) as i64
}

/// `exp(sign * 2 pi i * f * j / n)` with the product reduced mod `n` first, so long grids keep
/// exact angles.
fn twiddle(sign: f64, f: i64, j: usize, n: usize) -> Complex<f64> {
    let r = (f * j as i64).rem_euclid(n as i64);
    let a = sign * 2.0 * PI * r as f64 / n as f64;
    Complex::new(a.cos(), a.sin())
}

/// The last axis: real input of `n` points, `k` kept non-negative frequencies.
pub(crate) struct LastAxis<T> {
    pub(crate) n: usize,
    pub(crate) k: usize,
    pub(crate) method: LastAxisKernel<T>,
}

/// The precomputed operands of one last-axis method.
pub(crate) enum LastAxisKernel<T> {
    /// Bases for the four scalings (see [`Scale`]): analysis `[n, 2k]` with columns `(re, im)`
    /// interleaved per mode, synthesis `[2k, n]`.
    Dense {
        analysis: [Vec<T>; 2],
        synthesis: [Vec<T>; 2],
    },
    /// Real FFT plans and the per-mode factors applied before the inverse (`w_k / c_k`).
    Fft {
        r2c: Arc<dyn RealToComplex<T>>,
        c2r: Arc<dyn ComplexToReal<T>>,
        analysis: [Vec<T>; 2],
        synthesis: [Vec<T>; 2],
    },
}

/// Which scaling a transform applies; index into the plan's operand pairs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scale {
    /// The forward pass: analysis normalised by the number of grid points (fft norm
    /// "forward"); synthesis as `irfftn` (Hermitian weights, no normalisation).
    Forward = 0,
    /// The adjoints used by the backward pass: analysis with Hermitian weights (adjoint of the
    /// synthesis), synthesis normalised with unit weights (adjoint of the analysis).
    Adjoint = 1,
}

/// A non-last axis: complex transform of `n` points keeping `m` centred frequencies.
pub(crate) struct ComplexAxis<T> {
    pub(crate) n: usize,
    pub(crate) m: usize,
    /// `[m, n]`: `exp(-2 pi i f_w j / n)`.
    pub(crate) forward: Vec<Complex<T>>,
    /// `[n, m]`: `exp(+2 pi i f_w j / n)`.
    pub(crate) inverse: Vec<Complex<T>>,
}

/// Everything one spectral convolution shape needs.
pub(crate) struct Plan<T> {
    /// Grid sizes `N_1 .. N_d`.
    pub(crate) dims: Vec<usize>,
    /// Kept modes `M_1 .. M_{d-1}, K`.
    pub(crate) modes: Vec<usize>,
    /// The non-last axes, in order.
    pub(crate) axes: Vec<ComplexAxis<T>>,
    /// The last axis.
    pub(crate) last: LastAxis<T>,
}

impl<T: Real> Plan<T> {
    /// The cached plan for a grid and mode count (built on first use).
    pub(crate) fn get(dims: &[usize], modes: &[usize]) -> Arc<Plan<T>> {
        let k = *modes.last().expect("at least one mode count");
        Self::get_with(dims, modes, last_axis_method(k))
    }

    /// The cached plan for a grid and mode count with the given last-axis method.
    pub(crate) fn get_with(
        dims: &[usize],
        modes: &[usize],
        method: LastAxisMethod,
    ) -> Arc<Plan<T>> {
        let key = (dims.to_vec(), modes.to_vec(), method);
        if let Some(p) = T::plans()
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
        {
            return p.clone();
        }
        let plan = Arc::new(Self::build(dims, modes, method));
        T::plans()
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(key)
            .or_insert(plan)
            .clone()
    }

    fn build(dims: &[usize], modes: &[usize], method: LastAxisMethod) -> Self {
        let d = dims.len();
        let total: usize = dims.iter().product();
        let axes = (0..d - 1)
            .map(|a| {
                let (n, m) = (dims[a], modes[a]);
                let mut forward = Vec::with_capacity(m * n);
                for w in 0..m {
                    let f = centred_frequency(w, m);
                    for j in 0..n {
                        let z = twiddle(-1.0, f, j, n);
                        forward.push(Complex::new(T::of(z.re), T::of(z.im)));
                    }
                }
                let mut inverse = Vec::with_capacity(n * m);
                for j in 0..n {
                    for w in 0..m {
                        let z = twiddle(1.0, centred_frequency(w, m), j, n);
                        inverse.push(Complex::new(T::of(z.re), T::of(z.im)));
                    }
                }
                ComplexAxis {
                    n,
                    m,
                    forward,
                    inverse,
                }
            })
            .collect();
        let (n, k) = (dims[d - 1], modes[d - 1]);
        let inv_total = 1.0 / total as f64;
        // Per-mode factors for the two scalings of each direction.
        let ana = |s: Scale, q: usize| match s {
            Scale::Forward => inv_total,
            Scale::Adjoint => hermitian_weight(n, q),
        };
        let syn = |s: Scale, q: usize| match s {
            Scale::Forward => hermitian_weight(n, q),
            Scale::Adjoint => inv_total,
        };
        let scales = [Scale::Forward, Scale::Adjoint];
        let kernel = match method {
            LastAxisMethod::Dense => {
                let analysis = scales.map(|s| {
                    let mut b = vec![T::of(0.0); n * 2 * k];
                    for j in 0..n {
                        for q in 0..k {
                            let z = twiddle(-1.0, q as i64, j, n) * ana(s, q);
                            b[j * 2 * k + 2 * q] = T::of(z.re);
                            b[j * 2 * k + 2 * q + 1] = T::of(z.im);
                        }
                    }
                    b
                });
                let synthesis = scales.map(|s| {
                    let mut b = vec![T::of(0.0); 2 * k * n];
                    for q in 0..k {
                        for j in 0..n {
                            // Re(X e^{i t}) = Re X cos t - Im X sin t.
                            let z = twiddle(1.0, q as i64, j, n) * syn(s, q);
                            b[2 * q * n + j] = T::of(z.re);
                            b[(2 * q + 1) * n + j] = T::of(-z.im);
                        }
                    }
                    b
                });
                LastAxisKernel::Dense {
                    analysis,
                    synthesis,
                }
            }
            LastAxisMethod::Fft => {
                let mut planner = RealFftPlanner::<T>::new();
                LastAxisKernel::Fft {
                    r2c: planner.plan_fft_forward(n),
                    c2r: planner.plan_fft_inverse(n),
                    analysis: scales.map(|s| (0..k).map(|q| T::of(ana(s, q))).collect()),
                    synthesis: scales.map(|s| {
                        (0..k)
                            .map(|q| T::of(syn(s, q) / hermitian_weight(n, q)))
                            .collect()
                    }),
                }
            }
        };
        Plan {
            dims: dims.to_vec(),
            modes: modes.to_vec(),
            axes,
            last: LastAxis {
                n,
                k,
                method: kernel,
            },
        }
    }
}
