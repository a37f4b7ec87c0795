//! The pointwise part of a whole FNO block on the CPU, fused: given the spectral convolution's
//! output `s` of the block input `x` `[batch, c, n]`,
//!
//! ```text
//! pre1 = s + b_s + W_skip x          z   = gelu(pre1)
//! pre2 = W_1 z + b_1                 h   = gelu(pre2)
//! pre3 = W_2 h + b_2 + g * x         out = gelu(pre3)
//! ```
//!
//! where the last block of a model (no `activate`) has `z = pre1` and `out = pre3`
//! (neuraloperator's block with its default linear FNO skip, a two-layer channel MLP and a
//! soft-gating skip around it, no normalisation). Each sample runs through all of it while its
//! planes are in cache; only the three pre-activations are kept for the backward pass, which
//! recomputes `z` and `h` from them and writes nothing per sample but the input's gradient
//! and the pre-activation gradient the spectral backward needs. Composed from separate ops
//! (one fused channel op per layer, burn's multiply for the gating, burn's adds where the
//! input's three gradients meet), the same block makes about twice as many passes over
//! `[batch, c, n]` buffers and as many fresh allocations.

use super::linear::{LinearScalar, over_groups};
use super::matmul::{Mat, MatMut, matmul, matmul_add};
use super::planes::{FreshPlanes, OutPlane, planes_or_none};
use super::sums::{add_row_dots, add_row_sums, sum_in_order};

/// Sizes of one fused block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BlockShape {
    /// Samples.
    pub(crate) batch: usize,
    /// Channels of the block (input and output).
    pub(crate) c: usize,
    /// Hidden channels of the channel MLP.
    pub(crate) h: usize,
    /// Grid points per channel.
    pub(crate) n: usize,
}

/// The block's pointwise weights, row-major.
#[derive(Clone, Copy)]
pub(crate) struct BlockWeights<'a, T> {
    /// Linear skip `[c, c]`.
    pub(crate) skip: &'a [T],
    /// The spectral convolution's bias `[c]`, if it has one.
    pub(crate) spectral_bias: Option<&'a [T]>,
    /// First MLP layer `[h, c]` and its bias `[h]`.
    pub(crate) w1: &'a [T],
    /// Bias of the first MLP layer.
    pub(crate) b1: &'a [T],
    /// Second MLP layer `[c, h]` and its bias `[c]`.
    pub(crate) w2: &'a [T],
    /// Bias of the second MLP layer.
    pub(crate) b2: &'a [T],
    /// Soft gating `[c]`.
    pub(crate) gate: &'a [T],
}

impl<T> BlockWeights<'_, T> {
    fn check(&self, s: BlockShape) {
        let sizes = [
            ("skip weight", self.skip.len(), s.c * s.c),
            ("first MLP weight", self.w1.len(), s.h * s.c),
            ("first MLP bias", self.b1.len(), s.h),
            ("second MLP weight", self.w2.len(), s.c * s.h),
            ("second MLP bias", self.b2.len(), s.c),
            ("gate", self.gate.len(), s.c),
        ];
        for (what, got, want) in sizes {
            assert_eq!(
                got, want,
                "fno_block: {what} has {got} values, expected {want}"
            );
        }
        if let Some(b) = self.spectral_bias {
            assert_eq!(b.len(), s.c, "fno_block: spectral bias size");
        }
    }
}

/// What the forward pass keeps for the backward pass.
pub(crate) struct BlockSaved<T> {
    /// `s + b_s + W_skip x`, `[batch, c, n]`.
    pub(crate) pre1: Vec<T>,
    /// `W_1 z + b_1`, `[batch, h, n]`.
    pub(crate) pre2: Vec<T>,
    /// `W_2 h + b_2 + g x`, `[batch, c, n]`, with the final GELU (without it, it is the output).
    pub(crate) pre3: Option<Vec<T>>,
}

/// `dst[r, :] = scale[r] * src[r, :] + shift[r]` (`shift` optional), rows of `n`.
fn scale_rows<T: LinearScalar>(
    dst: &mut [T],
    src: &[T],
    scale: &[T],
    shift: Option<&[T]>,
    n: usize,
) {
    for (r, (d, s)) in dst.chunks_mut(n).zip(src.chunks(n)).enumerate() {
        let (a, b) = (scale[r], shift.map_or(T::default(), |sh| sh[r]));
        for (o, &v) in d.iter_mut().zip(s) {
            *o = a * v + b;
        }
    }
}

/// `a *= b`, element by element.
pub(crate) fn mul_in_place<T: LinearScalar>(a: &mut [T], b: &[T]) {
    for (u, &v) in a.iter_mut().zip(b) {
        *u = *u * v;
    }
}

/// `dst[r, :] += bias[r]`, rows of `n`.
fn add_bias<T: LinearScalar>(dst: &mut [T], bias: &[T], n: usize) {
    for (row, &b) in dst.chunks_mut(n).zip(bias) {
        row.iter_mut().for_each(|v| *v += b);
    }
}

/// `dst[r, :] = bias[r]`, rows of `n`.
pub(crate) fn fill_bias<T: LinearScalar>(dst: &mut [T], bias: &[T], n: usize) {
    for (row, &b) in dst.chunks_mut(n).zip(bias) {
        row.fill(b);
    }
}

/// A row-major `rows x cols` matrix read transposed (`cols x rows`).
pub(crate) fn transposed<T>(data: &[T], rows: usize, cols: usize) -> Mat<'_, T> {
    Mat {
        data,
        rows: cols,
        cols: rows,
        row_stride: 1,
        col_stride: cols,
    }
}

/// The forward pass: `x` `[batch, c, n]`, `spectral` the spectral convolution's output without
/// bias (same shape, taken over as `pre1`). Returns the output and what the backward pass
/// needs.
pub(crate) fn forward<T: LinearScalar>(
    x: &[T],
    spectral: Vec<T>,
    w: BlockWeights<'_, T>,
    activate: bool,
    s: BlockShape,
) -> (Vec<T>, BlockSaved<T>) {
    w.check(s);
    let (pc, ph) = (s.c * s.n, s.h * s.n);
    assert_eq!(x.len(), s.batch * pc, "fno_block: input size");
    assert_eq!(
        spectral.len(),
        s.batch * pc,
        "fno_block: spectral output size"
    );
    let mut pre1 = spectral;
    let mut pre2 = FreshPlanes::<T>::new(s.batch * ph, ph);
    let mut pre3 = FreshPlanes::<T>::new(s.batch * pc, pc);
    let mut out = activate.then(|| FreshPlanes::<T>::new(s.batch * pc, pc));
    let outs = planes_or_none(out.as_mut(), s.batch);
    let items: Vec<_> = pre1
        .chunks_mut(pc)
        .zip(pre2.planes())
        .zip(pre3.planes())
        .zip(outs)
        .collect();
    over_groups(items, |group, parallel| {
        let mut z = vec![T::default(); if activate { pc } else { 0 }];
        let mut hid = vec![T::default(); ph];
        for (b, (((p1, p2), p3), o)) in group {
            let (p2, p3) = (p2.zeroed(), p3.zeroed());
            let xb = &x[b * pc..][..pc];
            if let Some(bias) = w.spectral_bias {
                add_bias(p1, bias, s.n);
            }
            matmul_add(
                MatMut::rows(p1, s.c, s.n),
                Mat::rows(w.skip, s.c, s.c),
                Mat::rows(xb, s.c, s.n),
                parallel,
            );
            // The last block (no `activate`) skips the GELU on `z` as well as on the output.
            let zb: &[T] = if activate {
                T::gelu(p1, &mut z);
                &z
            } else {
                p1
            };
            fill_bias(p2, w.b1, s.n);
            matmul_add(
                MatMut::rows(p2, s.h, s.n),
                Mat::rows(w.w1, s.h, s.c),
                Mat::rows(zb, s.c, s.n),
                parallel,
            );
            T::gelu(p2, &mut hid);
            scale_rows(p3, xb, w.gate, Some(w.b2), s.n);
            matmul_add(
                MatMut::rows(p3, s.c, s.n),
                Mat::rows(w.w2, s.c, s.h),
                Mat::rows(&hid, s.h, s.n),
                parallel,
            );
            if let Some(o) = o {
                T::gelu(p3, o.zeroed());
            }
        }
    });
    let (pre2, pre3) = (pre2.into_vec(), pre3.into_vec());
    match out {
        Some(out) => (
            out.into_vec(),
            BlockSaved {
                pre1,
                pre2,
                pre3: Some(pre3),
            },
        ),
        None => (
            pre3,
            BlockSaved {
                pre1,
                pre2,
                pre3: None,
            },
        ),
    }
}

/// Gradients of `sum(grad * out)` with respect to the block's pointwise weights, and where
/// the input's pointwise share went (see [`backward`]).
pub(crate) struct BlockGrads<T> {
    /// `[batch, c, n]`, the input's gradient through the skip and the gating, when it was not
    /// written over `pre3` (the last block, which has none).
    pub(crate) x: Option<Vec<T>>,
    /// `[c, c]`.
    pub(crate) skip: Vec<T>,
    /// `[c]`.
    pub(crate) spectral_bias: Vec<T>,
    /// `[h, c]`.
    pub(crate) w1: Vec<T>,
    /// `[h]`.
    pub(crate) b1: Vec<T>,
    /// `[c, h]`.
    pub(crate) w2: Vec<T>,
    /// `[c]`.
    pub(crate) b2: Vec<T>,
    /// `[c]`.
    pub(crate) gate: Vec<T>,
}

/// The backward pass of [`forward`] on what it saved, whose buffers it writes over: `pre1`
/// becomes the gradient with respect to the spectral output (which the spectral backward
/// takes) and `pre3`, when there is one, the input's gradient through the skip and the gating
/// (the spectral path's share is the caller's to add); `pre2` ends up holding `gelu'(pre2)`.
pub(crate) fn backward<T: LinearScalar>(
    x: &[T],
    w: BlockWeights<'_, T>,
    pre1: &mut [T],
    pre2: &mut [T],
    pre3: Option<&mut [T]>,
    grad: &[T],
    s: BlockShape,
) -> BlockGrads<T> {
    w.check(s);
    let (pc, ph) = (s.c * s.n, s.h * s.n);
    assert_eq!(x.len(), s.batch * pc, "fno_block_backward: input size");
    assert_eq!(
        grad.len(),
        s.batch * pc,
        "fno_block_backward: gradient size"
    );
    assert_eq!(
        pre1.len(),
        s.batch * pc,
        "fno_block_backward: saved pre1 size"
    );
    assert_eq!(
        pre2.len(),
        s.batch * ph,
        "fno_block_backward: saved pre2 size"
    );
    let activate = pre3.is_some();
    // The input's pointwise gradient: over pre3, or (the last block) in new planes that their
    // tasks zero.
    let mut fresh = (!activate).then(|| FreshPlanes::<T>::new(s.batch * pc, pc));
    let dx: Vec<OutPlane<'_, T>> = match (pre3, fresh.as_mut()) {
        (Some(p), _) => {
            assert_eq!(p.len(), s.batch * pc, "fno_block_backward: saved pre3 size");
            p.chunks_mut(pc).map(OutPlane::Given).collect()
        }
        (None, Some(f)) => f.planes().into_iter().map(OutPlane::Fresh).collect(),
        (None, None) => unreachable!("made above without pre3"),
    };
    let items: Vec<_> = pre1
        .chunks_mut(pc)
        .zip(pre2.chunks_mut(ph))
        .zip(dx)
        .collect();
    // Per group of samples: the weight gradients summed over its samples, in this order:
    // skip, spectral bias, w1, b1, w2, b2, gate.
    let sizes = [s.c * s.c, s.c, s.h * s.c, s.h, s.c * s.h, s.c, s.c];
    let partials = over_groups(items, |group, parallel| {
        let mut acc: Vec<Vec<T>> = sizes.iter().map(|&l| vec![T::default(); l]).collect();
        let mut d3 = vec![T::default(); if activate { pc } else { 0 }];
        let mut hid = vec![T::default(); ph];
        let mut dh = vec![T::default(); ph];
        let mut z = vec![T::default(); if activate { pc } else { 0 }];
        for (b, ((p1, p2), dxb)) in group {
            let dxb = dxb.take();
            let xb = &x[b * pc..][..pc];
            let gb = &grad[b * pc..][..pc];
            // d pre3: through the final GELU, whose pre-activation is in `dxb` until it is
            // overwritten below.
            let d3: &[T] = if activate {
                T::gelu_grad(dxb, gb, &mut d3);
                &d3
            } else {
                gb
            };
            let [a_skip, a_bs, a_w1, a_b1, a_w2, a_b2, a_gate] = &mut acc[..] else {
                unreachable!("seven accumulators")
            };
            add_row_dots(a_gate, d3, xb, s.n);
            add_row_sums(a_b2, d3, s.n);
            // hid = gelu(pre2), and pre2's buffer now holds gelu'(pre2).
            T::gelu_and_slope(p2, &mut hid);
            matmul_add(
                MatMut::rows(a_w2, s.c, s.h),
                Mat::rows(d3, s.c, s.n),
                transposed(&hid, s.h, s.n),
                parallel,
            );
            matmul(
                MatMut::rows(&mut dh, s.h, s.n),
                transposed(w.w2, s.c, s.h),
                Mat::rows(d3, s.c, s.n),
                false,
                parallel,
            );
            mul_in_place(&mut dh, p2);
            add_row_sums(a_b1, &dh, s.n);
            // z is gelu(pre1), or pre1 itself in the last block; with the GELU, pre1's buffer
            // now holds gelu'(pre1).
            if activate {
                T::gelu_and_slope(p1, &mut z);
            }
            matmul_add(
                MatMut::rows(a_w1, s.h, s.c),
                Mat::rows(&dh, s.h, s.n),
                transposed(if activate { &z } else { p1 }, s.c, s.n),
                parallel,
            );
            // d z, then d pre1 written over pre1.
            if activate {
                matmul(
                    MatMut::rows(&mut z, s.c, s.n),
                    transposed(w.w1, s.h, s.c),
                    Mat::rows(&dh, s.h, s.n),
                    false,
                    parallel,
                );
                mul_in_place(p1, &z);
            } else {
                matmul(
                    MatMut::rows(p1, s.c, s.n),
                    transposed(w.w1, s.h, s.c),
                    Mat::rows(&dh, s.h, s.n),
                    false,
                    parallel,
                );
            }
            let d1: &[T] = p1;
            add_row_sums(a_bs, d1, s.n);
            matmul_add(
                MatMut::rows(a_skip, s.c, s.c),
                Mat::rows(d1, s.c, s.n),
                transposed(xb, s.c, s.n),
                parallel,
            );
            // d x (pointwise paths): g * d pre3 + W_skip^T d pre1.
            scale_rows(dxb, d3, w.gate, None, s.n);
            matmul_add(
                MatMut::rows(dxb, s.c, s.n),
                transposed(w.skip, s.c, s.c),
                Mat::rows(d1, s.c, s.n),
                parallel,
            );
        }
        acc
    });
    let mut it = sum_in_order(&partials, &sizes).into_iter();
    let mut next = || it.next().expect("seven gradients");
    BlockGrads {
        x: fresh.map(FreshPlanes::into_vec),
        skip: next(),
        spectral_bias: next(),
        w1: next(),
        b1: next(),
        w2: next(),
        b2: next(),
        gate: next(),
    }
}
