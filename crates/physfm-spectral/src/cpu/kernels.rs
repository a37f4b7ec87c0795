//! The CPU spectral convolution on host slices: truncated analysis (real FFT or dense DFT on the
//! last axis, dense complex DFT on the others, only kept modes computed), complex channel
//! mixing per mode, and the pruned synthesis back to the grid; plus the adjoints that make up
//! the backward pass.

use num_complex::Complex;
use rayon::prelude::*;

use super::matmul::{Mat, MatMut, matmul};
use super::plan::{LastAxisKernel, Plan, Real, Scale};

/// Rows handed to one rayon task by the row-wise kernels.
const ROWS_PER_TASK: usize = 64;

fn zero<T: Real>() -> Complex<T> {
    Complex::new(T::of(0.0), T::of(0.0))
}

/// Truncated forward transform of `fibers` real grids `[fibers, N_1..N_d]` to their kept modes
/// `[fibers, M_1..M_{d-1}, K]`.
pub(crate) fn analysis<T: Real>(
    plan: &Plan<T>,
    x: &[T],
    fibers: usize,
    scale: Scale,
) -> Vec<Complex<T>> {
    let d = plan.dims.len();
    let (n, k) = (plan.last.n, plan.last.k);
    let rows = fibers * plan.dims[..d - 1].iter().product::<usize>();
    debug_assert_eq!(x.len(), rows * n);
    let mut out = vec![zero::<T>(); rows * k];
    match &plan.last.method {
        LastAxisKernel::Dense { analysis, .. } => {
            let real: &mut [T] = bytemuck::cast_slice_mut(&mut out);
            matmul(
                MatMut::rows(real, rows, 2 * k),
                Mat::rows(x, rows, n),
                Mat::rows(&analysis[scale as usize], n, 2 * k),
                false,
                true,
            );
        }
        LastAxisKernel::Fft { r2c, analysis, .. } => {
            let coef = &analysis[scale as usize];
            out.par_chunks_mut(k * ROWS_PER_TASK)
                .zip(x.par_chunks(n * ROWS_PER_TASK))
                .for_each(|(dst, src)| {
                    let mut input = r2c.make_input_vec();
                    let mut spec = r2c.make_output_vec();
                    let mut scratch = r2c.make_scratch_vec();
                    for (d, s) in dst.chunks_mut(k).zip(src.chunks(n)) {
                        input.copy_from_slice(s);
                        r2c.process_with_scratch(&mut input, &mut spec, &mut scratch)
                            .expect("real FFT buffers sized by their own plan");
                        for ((o, z), c) in d.iter_mut().zip(&spec).zip(coef) {
                            *o = *z * *c;
                        }
                    }
                });
        }
    }
    // The other axes, last to first, each on the already truncated data.
    let mut cur = out;
    for a in (0..d - 1).rev() {
        let axis = &plan.axes[a];
        let outer = fibers * plan.dims[..a].iter().product::<usize>();
        let inner = plan.modes[a + 1..].iter().product::<usize>();
        let mut next = vec![zero::<T>(); outer * axis.m * inner];
        let f = Mat::rows(&axis.forward, axis.m, axis.n);
        along_axis(&mut next, &cur, outer, axis.m, axis.n, inner, f);
        cur = next;
    }
    cur
}

/// `dst[o] = op · src[o]` for each of `outer` blocks, `op` being `[rows_out, rows_in]` and each
/// block `[rows_in, inner]` in, `[rows_out, inner]` out.
fn along_axis<T: Real>(
    dst: &mut [Complex<T>],
    src: &[Complex<T>],
    outer: usize,
    rows_out: usize,
    rows_in: usize,
    inner: usize,
    op: Mat<'_, Complex<T>>,
) {
    let one = |d: &mut [Complex<T>], s: &[Complex<T>], parallel: bool| {
        T::complex_matmul(
            MatMut::rows(d, rows_out, inner),
            op,
            Mat::rows(s, rows_in, inner),
            false,
            parallel,
        )
    };
    if outer >= 2 * rayon::current_num_threads() {
        dst.par_chunks_mut(rows_out * inner)
            .zip(src.par_chunks(rows_in * inner))
            .for_each(|(d, s)| one(d, s, false));
    } else {
        for (d, s) in dst
            .chunks_mut(rows_out * inner)
            .zip(src.chunks(rows_in * inner))
        {
            one(d, s, true);
        }
    }
}

/// Pruned inverse transform of kept modes `[fibers, M_1..M_{d-1}, K]` to real grids
/// `[fibers, N_1..N_d]`: only the kept modes are ever transformed.
pub(crate) fn synthesis<T: Real>(
    plan: &Plan<T>,
    spec: &[Complex<T>],
    fibers: usize,
    scale: Scale,
) -> Vec<T> {
    let d = plan.dims.len();
    let (n, k) = (plan.last.n, plan.last.k);
    // The other axes first, each only on the kept columns of the later ones; the input is read
    // in place until the first of them writes its own buffer.
    let mut expanded: Option<Vec<Complex<T>>> = None;
    for a in 0..d - 1 {
        let axis = &plan.axes[a];
        let outer = fibers * plan.dims[..a].iter().product::<usize>();
        let inner = plan.modes[a + 1..].iter().product::<usize>();
        let mut next = vec![zero::<T>(); outer * axis.n * inner];
        let g = Mat::rows(&axis.inverse, axis.n, axis.m);
        let src = expanded.as_deref().unwrap_or(spec);
        along_axis(&mut next, src, outer, axis.n, axis.m, inner, g);
        expanded = Some(next);
    }
    let cur = expanded.as_deref().unwrap_or(spec);
    let rows = fibers * plan.dims[..d - 1].iter().product::<usize>();
    let mut y = super::planes::zeroed_in_parallel::<T>(rows * n);
    match &plan.last.method {
        LastAxisKernel::Dense { synthesis, .. } => {
            let real: &[T] = bytemuck::cast_slice(cur);
            matmul(
                MatMut::rows(&mut y, rows, n),
                Mat::rows(real, rows, 2 * k),
                Mat::rows(&synthesis[scale as usize], 2 * k, n),
                false,
                true,
            );
        }
        LastAxisKernel::Fft { c2r, synthesis, .. } => {
            let coef = &synthesis[scale as usize];
            let nyquist = (n % 2 == 0 && k > n / 2).then_some(n / 2);
            y.par_chunks_mut(n * ROWS_PER_TASK)
                .zip(cur.par_chunks(k * ROWS_PER_TASK))
                .for_each(|(dst, src)| {
                    let mut full = c2r.make_input_vec();
                    let mut scratch = c2r.make_scratch_vec();
                    for (d, s) in dst.chunks_mut(n).zip(src.chunks(k)) {
                        for (q, z) in full.iter_mut().enumerate() {
                            *z = if q < k { s[q] * coef[q] } else { zero() };
                        }
                        // irfft drops these imaginary parts; realfft wants them zero.
                        full[0].im = T::of(0.0);
                        if let Some(q) = nyquist {
                            full[q].im = T::of(0.0);
                        }
                        c2r.process_with_scratch(&mut full, d, &mut scratch)
                            .expect("real FFT buffers sized by their own plan");
                    }
                });
        }
    }
    y
}

/// The shared shape of the three per-mode channel contractions: output row `r` (of `rows`, each
/// `modes` long) is `sum_s lhs[l(r, s), :] * rhs[m(r, s), :]` over `s < terms`, the factors
/// conjugated on request.
#[allow(clippy::too_many_arguments)]
fn contract_modes<T: Real>(
    lhs: &[Complex<T>],
    rhs: &[Complex<T>],
    rows: usize,
    terms: usize,
    modes: usize,
    (conj_lhs, conj_rhs): (bool, bool),
    index: impl Fn(usize, usize) -> (usize, usize) + Sync,
) -> Vec<Complex<T>> {
    let mut out = vec![zero::<T>(); rows * modes];
    out.par_chunks_mut(modes).enumerate().for_each(|(r, row)| {
        for s in 0..terms {
            let (l, m) = index(r, s);
            let ls = &lhs[l * modes..][..modes];
            let rs = &rhs[m * modes..][..modes];
            for ((o, a), b) in row.iter_mut().zip(ls).zip(rs) {
                let a = if conj_lhs { a.conj() } else { *a };
                let b = if conj_rhs { b.conj() } else { *b };
                *o = *o + a * b;
            }
        }
    });
    out
}

/// `y[b, o, :] = sum_i x[b, i, :] * w[i, o, :]` per mode.
pub(crate) fn mix<T: Real>(
    x: &[Complex<T>],
    w: &[Complex<T>],
    batch: usize,
    ci: usize,
    co: usize,
    modes: usize,
) -> Vec<Complex<T>> {
    contract_modes(x, w, batch * co, ci, modes, (false, false), |r, i| {
        let (b, o) = (r / co, r % co);
        (b * ci + i, i * co + o)
    })
}

/// Adjoint of [`mix`] in its input: `gx[b, i, :] = sum_o gy[b, o, :] * conj(w[i, o, :])`.
pub(crate) fn mix_adjoint_input<T: Real>(
    gy: &[Complex<T>],
    w: &[Complex<T>],
    batch: usize,
    ci: usize,
    co: usize,
    modes: usize,
) -> Vec<Complex<T>> {
    contract_modes(gy, w, batch * ci, co, modes, (false, true), |r, o| {
        let (b, i) = (r / ci, r % ci);
        (b * co + o, i * co + o)
    })
}

/// Adjoint of [`mix`] in its weights: `gw[i, o, :] = sum_b conj(x[b, i, :]) * gy[b, o, :]`.
pub(crate) fn mix_adjoint_weight<T: Real>(
    x: &[Complex<T>],
    gy: &[Complex<T>],
    batch: usize,
    ci: usize,
    co: usize,
    modes: usize,
) -> Vec<Complex<T>> {
    contract_modes(x, gy, ci * co, batch, modes, (true, false), |r, b| {
        let (i, o) = (r / co, r % co);
        (b * ci + i, b * co + o)
    })
}
