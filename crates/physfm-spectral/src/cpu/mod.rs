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

use num_complex::Complex;

pub use allocator::retain_freed_memory;
pub(crate) use plan::Real;
pub use plan::{LastAxisMethod, force_last_axis_method, last_axis_method};

use crate::geometry::Geometry;
use plan::{Plan, Scale};

/// Forward pass (without bias): `x` `[batch, in, N..]`, `w` `[in, out, M.., 2]`.
pub(crate) fn forward<T: Real>(x: &[T], w: &[T], g: &Geometry) -> Vec<T> {
    let plan = Plan::<T>::get(&g.dims, &g.modes);
    let modes = g.total_modes();
    let xh = kernels::analysis(&plan, x, g.batch * g.in_channels, Scale::Forward);
    let w: &[Complex<T>] = bytemuck::cast_slice(w);
    let yh = kernels::mix(&xh, w, g.batch, g.in_channels, g.out_channels, modes);
    kernels::synthesis(&plan, &yh, g.batch * g.out_channels, Scale::Forward)
}

/// Backward pass: the gradients with respect to `x` and `w` of `sum(grad * forward(x, w))`,
/// each computed only when asked for.
pub(crate) fn backward<T: Real>(
    x: &[T],
    w: &[T],
    grad: &[T],
    g: &Geometry,
    need_x: bool,
    need_w: bool,
) -> (Option<Vec<T>>, Option<Vec<T>>) {
    let plan = Plan::<T>::get(&g.dims, &g.modes);
    let modes = g.total_modes();
    let w: &[Complex<T>] = bytemuck::cast_slice(w);
    // Adjoint of the synthesis: the gradient in the output's kept modes.
    let gy = kernels::analysis(&plan, grad, g.batch * g.out_channels, Scale::Adjoint);
    let gw = need_w.then(|| {
        let xh = kernels::analysis(&plan, x, g.batch * g.in_channels, Scale::Forward);
        let gw =
            kernels::mix_adjoint_weight(&xh, &gy, g.batch, g.in_channels, g.out_channels, modes);
        bytemuck::cast_slice::<Complex<T>, T>(&gw).to_vec()
    });
    let gx = need_x.then(|| {
        let gxh = kernels::mix_adjoint_input(&gy, w, g.batch, g.in_channels, g.out_channels, modes);
        kernels::synthesis(&plan, &gxh, g.batch * g.in_channels, Scale::Adjoint)
    });
    (gx, gw)
}
