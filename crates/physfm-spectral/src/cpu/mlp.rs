//! The two-layer channel MLP on the CPU, fused: `y = W_2 gelu(W_1 x + b_1) + b_2` over the
//! channel axis of `x` `[batch, in, n]` (an FNO's lifting and projection).
//!
//! The hidden layer is the widest tensor of an FNO (twice the width by default) and is used
//! only inside the MLP, so it never leaves the cache: each sample runs in tiles of columns, and
//! a tile's hidden values live in small per-thread buffers. Nothing is saved for the backward
//! pass but `x`: it computes the tile's hidden values again (one product with `W_1`, cheap
//! next to moving a `[batch, hidden, n]` buffer to memory and back) and then every gradient of
//! the tile. Composed of two fused linear layers, the same MLP writes the hidden
//! pre-activation and activation in the forward pass and two more hidden-sized gradients in the
//! backward pass, four passes over memory of the step's largest buffers.

use super::block::{fill_bias, mul_in_place, transposed};
use super::linear::{LinearScalar, over_groups};
use super::matmul::{Mat, MatMut, matmul, matmul_add};
use super::planes::{FreshPlane, FreshPlanes, planes_or_none};
use super::sums::{add_row_sums, sum_in_order};

/// Sizes of one MLP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MlpShape {
    /// Samples.
    pub(crate) batch: usize,
    /// Input channels.
    pub(crate) cin: usize,
    /// Hidden channels.
    pub(crate) hidden: usize,
    /// Output channels.
    pub(crate) cout: usize,
    /// Grid points per channel.
    pub(crate) n: usize,
}

/// The MLP's weights, row-major.
#[derive(Clone, Copy)]
pub(crate) struct MlpWeights<'a, T> {
    /// First layer `[hidden, in]`.
    pub(crate) w1: &'a [T],
    /// Its bias `[hidden]`.
    pub(crate) b1: &'a [T],
    /// Second layer `[out, hidden]`.
    pub(crate) w2: &'a [T],
    /// Its bias `[out]`.
    pub(crate) b2: &'a [T],
}

impl<T> MlpWeights<'_, T> {
    fn check(&self, s: MlpShape) {
        let sizes = [
            ("first weight", self.w1.len(), s.hidden * s.cin),
            ("first bias", self.b1.len(), s.hidden),
            ("second weight", self.w2.len(), s.cout * s.hidden),
            ("second bias", self.b2.len(), s.cout),
        ];
        for (what, got, want) in sizes {
            assert_eq!(
                got, want,
                "channel_mlp: {what} has {got} values, expected {want}"
            );
        }
    }
}

/// Hidden values per tile: 32k (128 KB in f32), so that a tile's three hidden-sized buffers
/// stay in a core's L2 cache.
const TILE_VALUES: usize = 1 << 15;

/// Columns per tile for `hidden` channels and `n` points: a multiple of 16 (whole vectors),
/// at least 64, at most `n`.
fn tile_columns(hidden: usize, n: usize) -> usize {
    (TILE_VALUES / hidden.max(1) / 16 * 16).max(64).min(n)
}

/// Columns `j0..j0 + cols` of a row-major `rows x n` plane.
fn columns<T>(plane: &[T], rows: usize, n: usize, j0: usize, cols: usize) -> Mat<'_, T> {
    Mat {
        data: &plane[j0..],
        rows,
        cols,
        row_stride: n,
        col_stride: 1,
    }
}

/// The same columns, transposed (`cols x rows`).
fn columns_transposed<T>(plane: &[T], rows: usize, n: usize, j0: usize, cols: usize) -> Mat<'_, T> {
    Mat {
        data: &plane[j0..],
        rows: cols,
        cols: rows,
        row_stride: 1,
        col_stride: n,
    }
}

/// `pre = W_1 x[:, j0..j0 + cols] + b_1` (`hidden x cols`, row-major).
fn hidden_tile<T: LinearScalar>(
    w: MlpWeights<'_, T>,
    xb: &[T],
    s: MlpShape,
    (j0, cols): (usize, usize),
    pre: &mut [T],
    parallel: bool,
) {
    fill_bias(pre, w.b1, cols);
    matmul_add(
        MatMut::rows(pre, s.hidden, cols),
        Mat::rows(w.w1, s.hidden, s.cin),
        columns(xb, s.cin, s.n, j0, cols),
        parallel,
    );
}

/// The tiles of a row of `n` points: `(first column, columns)`.
fn tiles(n: usize, cols: usize) -> impl Iterator<Item = (usize, usize)> {
    (0..n)
        .step_by(cols.max(1))
        .map(move |j0| (j0, cols.min(n - j0)))
}

/// The forward pass: `x` `[batch, in, n]` to `[batch, out, n]`.
pub(crate) fn forward<T: LinearScalar>(x: &[T], w: MlpWeights<'_, T>, s: MlpShape) -> Vec<T> {
    w.check(s);
    let (plane_in, plane_out) = (s.cin * s.n, s.cout * s.n);
    assert_eq!(x.len(), s.batch * plane_in, "channel_mlp: input size");
    let cols = tile_columns(s.hidden, s.n);
    let mut out = FreshPlanes::<T>::new(s.batch * plane_out, plane_out);
    over_groups(out.planes(), |group, parallel| {
        let mut pre = vec![T::default(); s.hidden * cols];
        let mut hid = vec![T::default(); s.hidden * cols];
        for (b, plane) in group {
            let yb = plane.zeroed();
            fill_bias(yb, w.b2, s.n);
            let xb = &x[b * plane_in..][..plane_in];
            for (j0, c) in tiles(s.n, cols) {
                let (pre, hid) = (&mut pre[..s.hidden * c], &mut hid[..s.hidden * c]);
                hidden_tile(w, xb, s, (j0, c), pre, parallel);
                T::gelu(pre, hid);
                matmul_add(
                    MatMut {
                        data: &mut yb[j0..],
                        rows: s.cout,
                        cols: c,
                        row_stride: s.n,
                        col_stride: 1,
                    },
                    Mat::rows(w.w2, s.cout, s.hidden),
                    Mat::rows(hid, s.hidden, c),
                    parallel,
                );
            }
        }
    });
    out.into_vec()
}

/// Gradients of `sum(grad * forward(x))`.
pub(crate) struct MlpGrads<T> {
    /// `[batch, in, n]`, when asked for.
    pub(crate) x: Option<Vec<T>>,
    /// `[hidden, in]`.
    pub(crate) w1: Vec<T>,
    /// `[hidden]`.
    pub(crate) b1: Vec<T>,
    /// `[out, hidden]`.
    pub(crate) w2: Vec<T>,
    /// `[out]`.
    pub(crate) b2: Vec<T>,
}

/// The backward pass from `x` and the output's gradient `grad` `[batch, out, n]`; the input's
/// gradient only with `need_x`.
pub(crate) fn backward<T: LinearScalar>(
    x: &[T],
    w: MlpWeights<'_, T>,
    grad: &[T],
    need_x: bool,
    s: MlpShape,
) -> MlpGrads<T> {
    w.check(s);
    let (plane_in, plane_out) = (s.cin * s.n, s.cout * s.n);
    assert_eq!(
        x.len(),
        s.batch * plane_in,
        "channel_mlp_backward: input size"
    );
    assert_eq!(
        grad.len(),
        s.batch * plane_out,
        "channel_mlp_backward: gradient size"
    );
    let cols = tile_columns(s.hidden, s.n);
    let mut dx = need_x.then(|| FreshPlanes::<T>::new(s.batch * plane_in, plane_in));
    let items = planes_or_none(dx.as_mut(), s.batch);
    // Per group of samples: the weight gradients summed over its samples, in this order:
    // w1, b1, w2, b2.
    let sizes = [s.hidden * s.cin, s.hidden, s.cout * s.hidden, s.cout];
    let partials = over_groups(items, |group, parallel| {
        let mut acc: Vec<Vec<T>> = sizes.iter().map(|&l| vec![T::default(); l]).collect();
        let mut pre = vec![T::default(); s.hidden * cols];
        let mut hid = vec![T::default(); s.hidden * cols];
        let mut dh = vec![T::default(); s.hidden * cols];
        for (b, dx_plane) in group {
            let mut dxb = dx_plane.map(FreshPlane::zeroed);
            let xb = &x[b * plane_in..][..plane_in];
            let gb = &grad[b * plane_out..][..plane_out];
            let [a_w1, a_b1, a_w2, a_b2] = &mut acc[..] else {
                unreachable!("four accumulators")
            };
            for (j0, c) in tiles(s.n, cols) {
                let len = s.hidden * c;
                let (pre, hid, dh) = (&mut pre[..len], &mut hid[..len], &mut dh[..len]);
                hidden_tile(w, xb, s, (j0, c), pre, parallel);
                // hid = gelu(pre), and pre's buffer now holds gelu'(pre).
                T::gelu_and_slope(pre, hid);
                let g = columns(gb, s.cout, s.n, j0, c);
                matmul_add(
                    MatMut::rows(a_w2, s.cout, s.hidden),
                    g,
                    transposed(hid, s.hidden, c),
                    parallel,
                );
                for (r, acc) in a_b2.iter_mut().enumerate() {
                    add_row_sums(std::slice::from_mut(acc), &gb[r * s.n + j0..][..c], c);
                }
                matmul(
                    MatMut::rows(&mut *dh, s.hidden, c),
                    transposed(w.w2, s.cout, s.hidden),
                    g,
                    false,
                    parallel,
                );
                mul_in_place(dh, pre);
                add_row_sums(a_b1, dh, c);
                matmul_add(
                    MatMut::rows(a_w1, s.hidden, s.cin),
                    Mat::rows(dh, s.hidden, c),
                    columns_transposed(xb, s.cin, s.n, j0, c),
                    parallel,
                );
                if let Some(dxb) = dxb.as_deref_mut() {
                    matmul(
                        MatMut {
                            data: &mut dxb[j0..],
                            rows: s.cin,
                            cols: c,
                            row_stride: s.n,
                            col_stride: 1,
                        },
                        transposed(w.w1, s.hidden, s.cin),
                        Mat::rows(dh, s.hidden, c),
                        false,
                        parallel,
                    );
                }
            }
        }
        acc
    });
    let [w1, b1, w2, b2]: [Vec<T>; 4] = sum_in_order(&partials, &sizes)
        .try_into()
        .unwrap_or_else(|_| unreachable!("four gradients"));
    MlpGrads {
        x: dx.map(FreshPlanes::into_vec),
        w1,
        b1,
        w2,
        b2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiles_cover_the_row_once() {
        assert_eq!(tile_columns(128, 1024), 256);
        assert_eq!(tile_columns(64, 100), 100);
        assert_eq!(tile_columns(4096, 1000), 64);
        let t: Vec<_> = tiles(600, 256).collect();
        assert_eq!(t, vec![(0, 256), (256, 256), (512, 88)]);
        assert_eq!(tiles(0, 64).count(), 0);
    }
}
