//! The CPU implementation (burn's `flex` backend): RustFFT or a dense truncated DFT along the
//! last axis, dense complex DFTs on the kept modes of the other axes, complex channel mixing per
//! mode, all on rayon's thread pool. See `docs/architecture.md` for how the pieces fit.

mod allocator;
pub(crate) mod block;
mod kernels;
pub(crate) mod linear;
mod matmul;
pub(crate) mod mlp;
pub(crate) mod plan;
mod planes;
mod sums;

use num_complex::Complex;

pub use allocator::retain_freed_memory;
pub(crate) use plan::Real;
pub use plan::{LastAxisMethod, force_last_axis_method, last_axis_method};

use crate::geometry::Geometry;
use plan::{Plan, Scale};

/// Forward pass (without bias): `x` `[batch, in, N..]`, `w` `[in, out, M.., 2]`.
pub(crate) fn forward<T: Real>(x: &[T], w: &[T], g: &Geometry) -> Vec<T> {
    forward_keeping_modes(x, w, g).0
}

/// [`forward`], and the input's kept modes it computed on the way (`[batch, in, modes]`
/// complex), which [`backward`] would otherwise compute again for the weight's gradient.
pub(crate) fn forward_keeping_modes<T: Real>(
    x: &[T],
    w: &[T],
    g: &Geometry,
) -> (Vec<T>, Vec<Complex<T>>) {
    let plan = Plan::<T>::get(&g.dims, &g.modes);
    let modes = g.total_modes();
    let xh = kernels::analysis(&plan, x, g.batch * g.in_channels, Scale::Forward);
    let w: &[Complex<T>] = bytemuck::cast_slice(w);
    let yh = kernels::mix(&xh, w, g.batch, g.in_channels, g.out_channels, modes);
    let y = kernels::synthesis(&plan, &yh, g.batch * g.out_channels, Scale::Forward);
    (y, xh)
}

/// What the backward pass does with the input's gradient.
pub(crate) enum InputGrad<'a, T> {
    /// Leaves it out.
    Skip,
    /// Returns it in a new buffer.
    New,
    /// Adds it to a buffer of the input's shape (where other paths' shares already are).
    AddTo(&'a mut [T]),
}

/// Backward pass: the gradients with respect to `x` and `w` of `sum(grad * forward(x, w))`,
/// the input's as `gx` says and the weight's with `need_w`. `x_modes` are the input's kept
/// modes from [`forward_keeping_modes`] as re/im pairs, if the caller kept them; otherwise they are computed
/// again from `x`.
pub(crate) fn backward<T: Real>(
    (x, x_modes): (&[T], Option<&[T]>),
    w: &[T],
    grad: &[T],
    g: &Geometry,
    gx: InputGrad<'_, T>,
    need_w: bool,
) -> (Option<Vec<T>>, Option<Vec<T>>) {
    let plan = Plan::<T>::get(&g.dims, &g.modes);
    let modes = g.total_modes();
    let w: &[Complex<T>] = bytemuck::cast_slice(w);
    // Adjoint of the synthesis: the gradient in the output's kept modes.
    let gy = kernels::analysis(&plan, grad, g.batch * g.out_channels, Scale::Adjoint);
    let gw = need_w.then(|| {
        let computed;
        let xh: &[Complex<T>] = match x_modes {
            Some(m) => {
                assert_eq!(
                    m.len(),
                    2 * g.batch * g.in_channels * modes,
                    "spectral backward: saved input modes of the wrong size"
                );
                bytemuck::cast_slice(m)
            }
            None => {
                computed = kernels::analysis(&plan, x, g.batch * g.in_channels, Scale::Forward);
                &computed
            }
        };
        let gw =
            kernels::mix_adjoint_weight(xh, &gy, g.batch, g.in_channels, g.out_channels, modes);
        bytemuck::cast_slice::<Complex<T>, T>(&gw).to_vec()
    });
    let input_modes =
        || kernels::mix_adjoint_input(&gy, w, g.batch, g.in_channels, g.out_channels, modes);
    let fibers = g.batch * g.in_channels;
    let gx = match gx {
        InputGrad::Skip => None,
        InputGrad::New => Some(kernels::synthesis(
            &plan,
            &input_modes(),
            fibers,
            Scale::Adjoint,
        )),
        InputGrad::AddTo(dst) => {
            kernels::synthesis_add(&plan, &input_modes(), fibers, Scale::Adjoint, dst);
            None
        }
    };
    (gx, gw)
}
