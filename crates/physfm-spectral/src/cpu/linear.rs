//! The fused pointwise linear layer on the CPU: `y = act(W x + b + r)` over the channel axis
//! of `[batch, in, n]`, and its backward pass, one sample at a time so that each sample's
//! planes stay in cache between the matrix product and the element-wise work.
//!
//! Samples are spread over rayon's pool in contiguous groups when there are at least as many as
//! threads; with fewer, they run in turn and each matrix product is split over the pool
//! instead. The weight and bias gradients are summed per group and then over groups in order,
//! so that results do not depend on scheduling.

use rayon::prelude::*;

use super::matmul::{GemmScalar, Mat, MatMut, matmul, matmul_add};
use super::planes::{FreshPlane, FreshPlanes, OutPlane, planes_or_none};

/// Element types of the fused layer: `f32` (vectorised GELU) and `f64`.
pub(crate) trait LinearScalar:
    GemmScalar
    + bytemuck::Pod
    + Default
    + std::ops::AddAssign
    + std::ops::Add<Output = Self>
    + std::ops::Mul<Output = Self>
{
    /// `out = gelu(x)`.
    fn gelu(x: &[Self], out: &mut [Self]);
    /// `out = g * gelu'(x)`.
    fn gelu_grad(x: &[Self], g: &[Self], out: &mut [Self]);
    /// `g *= gelu'(x)`.
    fn gelu_grad_in_place(x: &[Self], g: &mut [Self]);
    /// `value = gelu(x)` and `x = gelu'(x)` (the slope written over the pre-activation), for a
    /// backward pass that needs both: one evaluation of `erf` instead of two.
    fn gelu_and_slope(x: &mut [Self], value: &mut [Self]);
}

impl LinearScalar for f32 {
    fn gelu(x: &[f32], out: &mut [f32]) {
        crate::pointwise::gelu_into_f32(x, out)
    }
    fn gelu_grad(x: &[f32], g: &[f32], out: &mut [f32]) {
        crate::pointwise::gelu_grad_into_f32(x, g, out)
    }
    fn gelu_grad_in_place(x: &[f32], g: &mut [f32]) {
        crate::pointwise::gelu_grad_in_place_f32(x, g)
    }
    fn gelu_and_slope(x: &mut [f32], value: &mut [f32]) {
        crate::pointwise::gelu_and_slope_f32(x, value)
    }
}

impl LinearScalar for f64 {
    fn gelu(x: &[f64], out: &mut [f64]) {
        for (o, &v) in out.iter_mut().zip(x) {
            *o = crate::pointwise::gelu_f64_scalar(v);
        }
    }
    fn gelu_grad(x: &[f64], g: &[f64], out: &mut [f64]) {
        for ((o, &v), &gv) in out.iter_mut().zip(x).zip(g) {
            *o = crate::pointwise::gelu_grad_f64_scalar(v, gv);
        }
    }
    fn gelu_grad_in_place(x: &[f64], g: &mut [f64]) {
        for (gv, &v) in g.iter_mut().zip(x) {
            *gv = crate::pointwise::gelu_grad_f64_scalar(v, *gv);
        }
    }
    fn gelu_and_slope(x: &mut [f64], value: &mut [f64]) {
        for (v, o) in x.iter_mut().zip(value.iter_mut()) {
            *o = crate::pointwise::gelu_f64_scalar(*v);
            *v = crate::pointwise::gelu_grad_f64_scalar(*v, 1.0);
        }
    }
}

/// Sizes of one fused linear layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LinearShape {
    /// Samples.
    pub(crate) batch: usize,
    /// Input channels.
    pub(crate) cin: usize,
    /// Output channels.
    pub(crate) cout: usize,
    /// Points per channel.
    pub(crate) n: usize,
}

/// Where the forward pass forms the pre-activation `W x + b + r`.
pub(crate) enum Start<'a, T> {
    /// In a new buffer, starting from the residual when there is one.
    New(Option<&'a [T]>),
    /// In the residual's own buffer (its owner gave it up), overwritten.
    Residual(&'a mut [T]),
}

/// What the forward pass returns.
pub(crate) struct LinearOutput<T> {
    /// The pre-activation, unless it was formed in the residual's buffer.
    pub(crate) pre: Option<Vec<T>>,
    /// The activation, with GELU.
    pub(crate) out: Option<Vec<T>>,
}

/// The gradient flowing into the backward pass.
pub(crate) enum Upstream<'a, T> {
    /// Read only.
    Read(&'a [T]),
    /// Overwritten, with GELU, by the gradient with respect to the pre-activation.
    InPlace(&'a mut [T]),
}

/// Runs `f` over the samples in contiguous groups, one group per rayon thread at most (so
/// sums over a group's samples, and then over groups in order, do not depend on scheduling),
/// and returns each group's result in order. `f` gets `(sample index, item)` pairs and whether
/// its matrix products should split over the pool (when there are fewer samples than threads).
pub(crate) fn over_groups<I: Send, R: Send>(
    items: Vec<I>,
    f: impl Fn(Vec<(usize, I)>, bool) -> R + Sync + Send,
) -> Vec<R> {
    let threads = rayon::current_num_threads().max(1);
    let per = items.len().div_ceil(threads).max(1);
    let split = items.len() < threads;
    let mut groups: Vec<Vec<(usize, I)>> = Vec::new();
    for (b, it) in items.into_iter().enumerate() {
        if b % per == 0 {
            groups.push(Vec::with_capacity(per));
        }
        groups
            .last_mut()
            .expect("a group was just pushed")
            .push((b, it));
    }
    groups.into_par_iter().map(|g| f(g, split)).collect()
}

/// `act(W x + b + r)`: `x` `[batch, cin, n]`, `w` `[cout, cin]`, `bias` `[cout]`, the
/// residual (in `start`) `[batch, cout, n]`.
pub(crate) fn forward<T: LinearScalar>(
    x: &[T],
    w: &[T],
    bias: Option<&[T]>,
    start: Start<'_, T>,
    gelu: bool,
    s: LinearShape,
) -> LinearOutput<T> {
    let (plane_in, plane_out) = (s.cin * s.n, s.cout * s.n);
    let len = s.batch * plane_out;
    assert_eq!(x.len(), s.batch * plane_in, "channel_linear: input size");
    assert_eq!(w.len(), s.cout * s.cin, "channel_linear: weight size");
    assert!(
        bias.is_none_or(|b| b.len() == s.cout),
        "channel_linear: bias size"
    );
    let mut fresh = match start {
        Start::New(_) => Some(FreshPlanes::<T>::new(len, plane_out)),
        Start::Residual(_) => None,
    };
    let (pre, copy_from, has_residual): (Vec<OutPlane<'_, T>>, _, _) = match start {
        Start::New(r) => (
            fresh
                .as_mut()
                .expect("made above for a new buffer")
                .planes()
                .into_iter()
                .map(OutPlane::Fresh)
                .collect(),
            r,
            r.is_some(),
        ),
        Start::Residual(buf) => {
            assert_eq!(buf.len(), len, "channel_linear: residual size");
            (
                buf.chunks_mut(plane_out).map(OutPlane::Given).collect(),
                None,
                true,
            )
        }
    };
    assert!(
        copy_from.is_none_or(|r| r.len() == len),
        "channel_linear: residual size"
    );
    let mut out = gelu.then(|| FreshPlanes::<T>::new(len, plane_out));
    let outs = planes_or_none(out.as_mut(), s.batch);
    let items: Vec<_> = pre.into_iter().zip(outs).collect();
    over_groups(items, |group, parallel| {
        for (b, (pre_b, out_b)) in group {
            let pre_b = pre_b.take();
            if let Some(r) = copy_from {
                pre_b.copy_from_slice(&r[b * plane_out..][..plane_out]);
            }
            if let Some(bias) = bias {
                for (row, &bo) in pre_b.chunks_mut(s.n).zip(bias) {
                    if has_residual {
                        row.iter_mut().for_each(|v| *v += bo);
                    } else {
                        row.fill(bo);
                    }
                }
            }
            let dst = MatMut::rows(&mut *pre_b, s.cout, s.n);
            let lhs = Mat::rows(w, s.cout, s.cin);
            let rhs = Mat::rows(&x[b * plane_in..][..plane_in], s.cin, s.n);
            if has_residual || bias.is_some() {
                matmul_add(dst, lhs, rhs, parallel);
            } else {
                matmul(dst, lhs, rhs, false, parallel);
            }
            if let Some(out_b) = out_b {
                T::gelu(pre_b, out_b.zeroed());
            }
        }
    });
    LinearOutput {
        pre: fresh.map(FreshPlanes::into_vec),
        out: out.map(FreshPlanes::into_vec),
    }
}

/// Gradients of `sum(grad * act(W x + b + r))`.
pub(crate) struct LinearGrads<T> {
    /// With respect to the pre-activation (and so to `b`'s broadcast and `r`); `None` without
    /// GELU, where it is `grad` itself, and when it was written over `grad`.
    pub(crate) pre: Option<Vec<T>>,
    /// With respect to `x`, when asked for.
    pub(crate) x: Option<Vec<T>>,
    /// With respect to `W`, when asked for.
    pub(crate) w: Option<Vec<T>>,
    /// With respect to `b`, when asked for.
    pub(crate) bias: Option<Vec<T>>,
}

/// The backward pass of [`forward`]: `pre` is the pre-activation it returned (with GELU).
#[allow(clippy::too_many_arguments)]
pub(crate) fn backward<T: LinearScalar>(
    x: &[T],
    w: &[T],
    pre: Option<&[T]>,
    grad: Upstream<'_, T>,
    s: LinearShape,
    need_x: bool,
    need_w: bool,
    need_bias: bool,
) -> LinearGrads<T> {
    let (plane_in, plane_out) = (s.cin * s.n, s.cout * s.n);
    let len = s.batch * plane_out;
    assert_eq!(
        x.len(),
        s.batch * plane_in,
        "channel_linear_backward: input size"
    );
    let grad_len = match &grad {
        Upstream::Read(g) => g.len(),
        Upstream::InPlace(g) => g.len(),
    };
    assert_eq!(grad_len, len, "channel_linear_backward: gradient size");
    assert!(
        pre.is_none_or(|p| p.len() == len),
        "channel_linear_backward: pre-activation size"
    );
    // The gradient per sample, as the sample's loop reads or rewrites it.
    enum Plane<'a, T> {
        Read(&'a [T]),
        Into {
            src: &'a [T],
            dst: FreshPlane<'a, T>,
        },
        InPlace(&'a mut [T]),
    }
    let mut dpre = match (&grad, pre) {
        (Upstream::Read(_), Some(_)) => Some(FreshPlanes::<T>::new(len, plane_out)),
        _ => None,
    };
    let grad_planes: Vec<Plane<'_, T>> = match (grad, pre, dpre.as_mut()) {
        (Upstream::Read(g), Some(_), Some(d)) => g
            .chunks(plane_out)
            .zip(d.planes())
            .map(|(src, dst)| Plane::Into { src, dst })
            .collect(),
        (Upstream::InPlace(g), Some(_), _) => g.chunks_mut(plane_out).map(Plane::InPlace).collect(),
        (Upstream::Read(g), _, _) => g.chunks(plane_out).map(Plane::Read).collect(),
        (Upstream::InPlace(g), None, _) => g.chunks(plane_out).map(Plane::Read).collect(),
    };
    let mut dx = need_x.then(|| FreshPlanes::<T>::new(s.batch * plane_in, plane_in));
    let dx_planes = planes_or_none(dx.as_mut(), s.batch);
    let items: Vec<_> = grad_planes.into_iter().zip(dx_planes).collect();
    let wt = Mat {
        data: w,
        rows: s.cin,
        cols: s.cout,
        row_stride: 1,
        col_stride: s.cin,
    };
    // Per group of samples: the weight and bias gradients summed over its samples.
    let partials = over_groups(items, |group, parallel| {
        let mut gw = vec![T::default(); if need_w { s.cout * s.cin } else { 0 }];
        let mut gb = vec![T::default(); if need_bias { s.cout } else { 0 }];
        for (b, (plane, dx_b)) in group {
            let pre_b = || {
                &pre.expect("a rewritten plane has a pre-activation")[b * plane_out..][..plane_out]
            };
            let g: &[T] = match plane {
                Plane::Read(g) => g,
                Plane::Into { src, dst } => {
                    let dst = dst.zeroed();
                    T::gelu_grad(pre_b(), src, dst);
                    dst
                }
                Plane::InPlace(g) => {
                    T::gelu_grad_in_place(pre_b(), g);
                    g
                }
            };
            if let Some(dx_b) = dx_b {
                matmul(
                    MatMut::rows(dx_b.zeroed(), s.cin, s.n),
                    wt,
                    Mat::rows(g, s.cout, s.n),
                    false,
                    parallel,
                );
            }
            if need_w {
                let xt = Mat {
                    data: &x[b * plane_in..][..plane_in],
                    rows: s.n,
                    cols: s.cin,
                    row_stride: 1,
                    col_stride: s.n,
                };
                matmul_add(
                    MatMut::rows(&mut gw, s.cout, s.cin),
                    Mat::rows(g, s.cout, s.n),
                    xt,
                    parallel,
                );
            }
            if need_bias {
                super::sums::add_row_sums(&mut gb, g, s.n);
            }
        }
        vec![gw, gb]
    });
    let sizes = [
        if need_w { s.cout * s.cin } else { 0 },
        if need_bias { s.cout } else { 0 },
    ];
    let [gw, gb]: [Vec<T>; 2] = super::sums::sum_in_order(&partials, &sizes)
        .try_into()
        .unwrap_or_else(|_| unreachable!("two gradients"));
    LinearGrads {
        w: need_w.then_some(gw),
        bias: need_bias.then_some(gb),
        pre: dpre.map(FreshPlanes::into_vec),
        x: dx.map(FreshPlanes::into_vec),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `act(W x + b + r)` by its definition, in f64.
    fn naive(x: &[f64], w: &[f64], b: &[f64], r: &[f64], gelu: bool, s: LinearShape) -> Vec<f64> {
        let mut y = vec![0.0; s.batch * s.cout * s.n];
        for bi in 0..s.batch {
            for o in 0..s.cout {
                for p in 0..s.n {
                    let mut v = b[o] + r[(bi * s.cout + o) * s.n + p];
                    for i in 0..s.cin {
                        v += w[o * s.cin + i] * x[(bi * s.cin + i) * s.n + p];
                    }
                    y[(bi * s.cout + o) * s.n + p] = if gelu {
                        crate::pointwise::gelu_f64_scalar(v)
                    } else {
                        v
                    };
                }
            }
        }
        y
    }

    fn values(len: usize, seed: u64) -> Vec<f64> {
        (0..len)
            .map(|i| (((i as u64 * 2_654_435_761 + seed * 97) % 1000) as f64 / 500.0) - 1.0)
            .collect()
    }

    #[test]
    fn forward_and_gradients_match_the_definition() {
        // Odd sizes; batch 1 (products split over the pool) and 5 (samples spread over it).
        for batch in [1, 5] {
            let s = LinearShape {
                batch,
                cin: 3,
                cout: 4,
                n: 7,
            };
            let x = values(batch * 3 * 7, 1);
            let w = values(12, 2);
            let b = values(4, 3);
            let r = values(batch * 4 * 7, 4);
            let g = values(batch * 4 * 7, 5);
            for gelu in [false, true] {
                let y = forward(&x, &w, Some(&b), Start::New(Some(&r)), gelu, s);
                let want = naive(&x, &w, &b, &r, gelu, s);
                let out = y.out.as_ref().or(y.pre.as_ref()).unwrap();
                for (a, e) in out.iter().zip(&want) {
                    assert!((a - e).abs() < 1e-12, "forward {a} vs {e}");
                }
                // Formed in the residual's buffer: the same values.
                let mut in_place = r.clone();
                let y2 = forward(&x, &w, Some(&b), Start::Residual(&mut in_place), gelu, s);
                assert!(y2.pre.is_none());
                assert_eq!(y2.out.as_ref().unwrap_or(&in_place), out);
                let pre = gelu.then(|| y.pre.as_deref().unwrap());
                let grads = backward(&x, &w, pre, Upstream::Read(&g), s, true, true, true);
                // Written over the upstream gradient: the same gradients.
                let mut g2 = g.clone();
                let grads2 = backward(&x, &w, pre, Upstream::InPlace(&mut g2), s, true, true, true);
                assert!(grads2.pre.is_none());
                assert_eq!(grads2.x, grads.x);
                assert_eq!(grads2.w, grads.w);
                assert_eq!(grads2.bias, grads.bias);
                assert_eq!(&g2, grads.pre.as_ref().unwrap_or(&g));
                let loss = |x: &[f64], w: &[f64], b: &[f64], r: &[f64]| -> f64 {
                    naive(x, w, b, r, gelu, s)
                        .iter()
                        .zip(&g)
                        .map(|(y, g)| y * g)
                        .sum()
                };
                let h = 1e-6;
                let fd = |v: &[f64], k: usize, f: &dyn Fn(&[f64]) -> f64| {
                    let (mut p, mut m) = (v.to_vec(), v.to_vec());
                    p[k] += h;
                    m[k] -= h;
                    (f(&p) - f(&m)) / (2.0 * h)
                };
                let gx = grads.x.as_ref().unwrap();
                for k in [0, 5, x.len() - 1] {
                    let e = fd(&x, k, &|v| loss(v, &w, &b, &r));
                    assert!((gx[k] - e).abs() < 1e-6, "dx[{k}] {} vs {e}", gx[k]);
                }
                let gw = grads.w.as_ref().unwrap();
                for (k, got) in gw.iter().enumerate() {
                    let e = fd(&w, k, &|v| loss(&x, v, &b, &r));
                    assert!((got - e).abs() < 1e-6, "dw[{k}] {got} vs {e}");
                }
                let gb = grads.bias.as_ref().unwrap();
                for (k, got) in gb.iter().enumerate() {
                    let e = fd(&b, k, &|v| loss(&x, &w, v, &r));
                    assert!((got - e).abs() < 1e-6, "db[{k}] {got} vs {e}");
                }
                let dr: &[f64] = grads.pre.as_deref().unwrap_or(&g);
                for k in [0, 9, r.len() - 1] {
                    let e = fd(&r, k, &|v| loss(&x, &w, &b, v));
                    assert!((dr[k] - e).abs() < 1e-6, "dr[{k}] {} vs {e}", dr[k]);
                }
            }
        }
    }

    #[test]
    fn gradients_not_asked_for_are_not_computed() {
        let s = LinearShape {
            batch: 2,
            cin: 2,
            cout: 2,
            n: 3,
        };
        let x = values(12, 1);
        let w = values(4, 2);
        let g = values(12, 3);
        let y = forward(&x, &w, None, Start::New(None), false, s);
        let want = naive(&x, &w, &[0.0; 2], &[0.0; 12], false, s);
        assert_eq!(y.pre.unwrap(), want);
        assert!(y.out.is_none());
        let grads = backward(&x, &w, None, Upstream::Read(&g), s, false, true, false);
        assert!(grads.x.is_none() && grads.bias.is_none() && grads.pre.is_none());
        assert_eq!(grads.w.unwrap().len(), 4);
    }
}
