//! The CPU spectral convolution on host slices: truncated analysis (real FFT or dense DFT on the
//! last axis, dense complex DFT on the others, only kept modes computed), complex channel
//! mixing per mode, and the pruned synthesis back to the grid; plus the adjoints that make up
//! the backward pass.

use num_complex::Complex;
use rayon::prelude::*;

use super::matmul::{Mat, MatMut, matmul, matmul_add};
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
    let rows = fibers * plan.dims[..plan.dims.len() - 1].iter().product::<usize>();
    let mut y = super::planes::zeroed_in_parallel::<T>(rows * plan.last.n);
    synthesis_into(plan, spec, fibers, scale, &mut y, false);
    y
}

/// [`synthesis`] added to `dst` (of the synthesis' size) instead of returned.
pub(crate) fn synthesis_add<T: Real>(
    plan: &Plan<T>,
    spec: &[Complex<T>],
    fibers: usize,
    scale: Scale,
    dst: &mut [T],
) {
    synthesis_into(plan, spec, fibers, scale, dst, true);
}

fn synthesis_into<T: Real>(
    plan: &Plan<T>,
    spec: &[Complex<T>],
    fibers: usize,
    scale: Scale,
    y: &mut [T],
    accumulate: bool,
) {
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
    assert_eq!(y.len(), rows * n, "synthesis: output of the wrong size");
    match &plan.last.method {
        LastAxisKernel::Dense { synthesis, .. } => {
            let real: &[T] = bytemuck::cast_slice(cur);
            let (dst, lhs) = (MatMut::rows(y, rows, n), Mat::rows(real, rows, 2 * k));
            let rhs = Mat::rows(&synthesis[scale as usize], 2 * k, n);
            if accumulate {
                matmul_add(dst, lhs, rhs, true);
            } else {
                matmul(dst, lhs, rhs, false, true);
            }
        }
        LastAxisKernel::Fft { c2r, synthesis, .. } => {
            let coef = &synthesis[scale as usize];
            let nyquist = (n % 2 == 0 && k > n / 2).then_some(n / 2);
            y.par_chunks_mut(n * ROWS_PER_TASK)
                .zip(cur.par_chunks(k * ROWS_PER_TASK))
                .for_each(|(dst, src)| {
                    let mut full = c2r.make_input_vec();
                    let mut scratch = c2r.make_scratch_vec();
                    let mut row = accumulate.then(|| c2r.make_output_vec());
                    for (d, s) in dst.chunks_mut(n).zip(src.chunks(k)) {
                        for (q, z) in full.iter_mut().enumerate() {
                            *z = if q < k { s[q] * coef[q] } else { zero() };
                        }
                        // irfft drops these imaginary parts; realfft wants them zero.
                        full[0].im = T::of(0.0);
                        if let Some(q) = nyquist {
                            full[q].im = T::of(0.0);
                        }
                        let out = row.as_deref_mut().unwrap_or(&mut *d);
                        c2r.process_with_scratch(&mut full, out, &mut scratch)
                            .expect("real FFT buffers sized by their own plan");
                        if let Some(r) = &row {
                            d.iter_mut().zip(r).for_each(|(a, &b)| *a = *a + b);
                        }
                    }
                });
        }
    }
}

/// One complex matrix product per mode `k` over arrays laid out `[.., .., modes]` (mode
/// fastest): `dst_k = op(lhs_k) · rhs_k`, each factor read at offset `k` with the given
/// `(row stride, column stride)` in units of whole modes rows, `op` conjugating the left factor
/// on request. `dims` are `(rows, inner, cols)` of the product.
#[allow(clippy::too_many_arguments)]
fn per_mode<T: Real>(
    dst: &mut [Complex<T>],
    dst_strides: (usize, usize),
    lhs: &[Complex<T>],
    lhs_strides: (usize, usize),
    rhs: &[Complex<T>],
    rhs_strides: (usize, usize),
    (rows, inner, cols): (usize, usize, usize),
    modes: usize,
    conj_lhs: bool,
) {
    fn view<T>(
        data: &[T],
        k: usize,
        r: usize,
        c: usize,
        (rs, cs): (usize, usize),
        m: usize,
    ) -> Mat<'_, T> {
        Mat {
            data: &data[k.min(data.len())..],
            rows: r,
            cols: c,
            row_stride: rs * m,
            col_stride: cs * m,
        }
    }
    // The products are small (channels x channels): one per rayon task, each into its own
    // contiguous block, then interleaved into `dst`'s mode-fastest layout.
    let block = rows * cols;
    let mut tmp = vec![zero::<T>(); modes * block];
    tmp.par_chunks_mut(block.max(1))
        .enumerate()
        .for_each(|(k, d)| {
            let l = view(lhs, k, rows, inner, lhs_strides, modes);
            let r = view(rhs, k, inner, cols, rhs_strides, modes);
            T::complex_matmul(MatMut::rows(d, rows, cols), l, r, conj_lhs, false);
        });
    let (rs, cs) = dst_strides;
    for (k, d) in tmp.chunks(block.max(1)).enumerate() {
        for r in 0..rows {
            for c in 0..cols {
                dst[(r * rs + c * cs) * modes + k] = d[r * cols + c];
            }
        }
    }
}

/// `y[b, o, :] = sum_i x[b, i, :] * w[i, o, :]` per mode: per mode `k`, `Y_k = X_k W_k` with
/// `X_k` `[batch, ci]`, `W_k` `[ci, co]`.
pub(crate) fn mix<T: Real>(
    x: &[Complex<T>],
    w: &[Complex<T>],
    batch: usize,
    ci: usize,
    co: usize,
    modes: usize,
) -> Vec<Complex<T>> {
    let mut y = vec![zero::<T>(); batch * co * modes];
    per_mode(
        &mut y,
        (co, 1),
        x,
        (ci, 1),
        w,
        (co, 1),
        (batch, ci, co),
        modes,
        false,
    );
    y
}

/// Adjoint of [`mix`] in its input: `gx[b, i, :] = sum_o gy[b, o, :] * conj(w[i, o, :])`, per
/// mode `GX_k^T = conj(W_k) GY_k^T`.
pub(crate) fn mix_adjoint_input<T: Real>(
    gy: &[Complex<T>],
    w: &[Complex<T>],
    batch: usize,
    ci: usize,
    co: usize,
    modes: usize,
) -> Vec<Complex<T>> {
    let mut gx = vec![zero::<T>(); batch * ci * modes];
    per_mode(
        &mut gx,
        (1, ci),
        w,
        (co, 1),
        gy,
        (1, co),
        (ci, co, batch),
        modes,
        true,
    );
    gx
}

/// Adjoint of [`mix`] in its weights: `gw[i, o, :] = sum_b conj(x[b, i, :]) * gy[b, o, :]`, per
/// mode `GW_k = conj(X_k)^T GY_k`.
pub(crate) fn mix_adjoint_weight<T: Real>(
    x: &[Complex<T>],
    gy: &[Complex<T>],
    batch: usize,
    ci: usize,
    co: usize,
    modes: usize,
) -> Vec<Complex<T>> {
    let mut gw = vec![zero::<T>(); ci * co * modes];
    per_mode(
        &mut gw,
        (co, 1),
        x,
        (1, ci),
        gy,
        (co, 1),
        (ci, batch, co),
        modes,
        true,
    );
    gw
}
