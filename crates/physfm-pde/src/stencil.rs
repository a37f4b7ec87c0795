//! Finite-difference building blocks on uniform 2D grids: Laplacians with periodic,
//! zero-value and zero-flux boundaries, and a classical RK4 integrator with reused buffers.

// Index loops read as the formulas they implement in these numerical kernels.
#![allow(clippy::needless_range_loop)]

use crate::family::Boundary;

/// Ghost value across the boundary for a cell-centred grid: periodic wraps, Dirichlet
/// (zero on the face) mirrors with a sign change, Neumann (zero flux) mirrors.
#[inline]
fn neighbour(
    u: &[f64],
    n: usize,
    i: isize,
    j: usize,
    stride_i: usize,
    stride_j: usize,
    bc: Boundary,
) -> f64 {
    let _ = n;
    if i >= 0 && (i as usize) < n {
        return u[i as usize * stride_i + j * stride_j];
    }
    match bc {
        Boundary::Periodic => {
            let w = i.rem_euclid(n as isize) as usize;
            u[w * stride_i + j * stride_j]
        }
        Boundary::Dirichlet => {
            let m = if i < 0 { 0 } else { n - 1 };
            -u[m * stride_i + j * stride_j]
        }
        Boundary::Neumann | Boundary::Wall => {
            let m = if i < 0 { 0 } else { n - 1 };
            u[m * stride_i + j * stride_j]
        }
    }
}

/// Five-point Laplacian of the `n x n` row-major plane `u` with spacing `dx`, written to `out`
/// (cell-centred ghost values for non-periodic boundaries, the same condition on every side).
pub(crate) fn laplacian5(u: &[f64], n: usize, dx: f64, bc: Boundary, out: &mut [f64]) {
    let s = 1.0 / (dx * dx);
    for i in 0..n {
        for j in 0..n {
            let c = u[i * n + j];
            let (ii, jj) = (i as isize, j as isize);
            let north = neighbour(u, n, ii - 1, j, n, 1, bc);
            let south = neighbour(u, n, ii + 1, j, n, 1, bc);
            let west = neighbour(u, n, jj - 1, i, 1, n, bc);
            let east = neighbour(u, n, jj + 1, i, 1, n, bc);
            out[i * n + j] = (north + south + west + east - 4.0 * c) * s;
        }
    }
}

/// The isotropic nine-point Laplacian `(1/6)[1 4 1; 4 -20 4; 1 4 1] / dx^2` of the periodic
/// `n x n` plane `u` (the stencil of the LEADS/CoDA Gray-Scott data).
pub(crate) fn laplacian9_periodic(u: &[f64], n: usize, dx: f64, out: &mut [f64]) {
    let s = 1.0 / (6.0 * dx * dx);
    for i in 0..n {
        let (im, ip) = ((i + n - 1) % n, (i + 1) % n);
        for j in 0..n {
            let (jm, jp) = ((j + n - 1) % n, (j + 1) % n);
            let edges = u[im * n + j] + u[ip * n + j] + u[i * n + jm] + u[i * n + jp];
            let corners = u[im * n + jm] + u[im * n + jp] + u[ip * n + jm] + u[ip * n + jp];
            out[i * n + j] = (4.0 * edges + corners - 20.0 * u[i * n + j]) * s;
        }
    }
}

/// Classical fourth-order Runge-Kutta with its stage buffers.
pub(crate) struct Rk4 {
    k1: Vec<f64>,
    k2: Vec<f64>,
    k3: Vec<f64>,
    k4: Vec<f64>,
    tmp: Vec<f64>,
}

impl Rk4 {
    pub(crate) fn new(n: usize) -> Self {
        Self {
            k1: vec![0.0; n],
            k2: vec![0.0; n],
            k3: vec![0.0; n],
            k4: vec![0.0; n],
            tmp: vec![0.0; n],
        }
    }

    /// One step of length `dt`; `rhs(u, out)` writes `du/dt`.
    pub(crate) fn step<F: FnMut(&[f64], &mut [f64])>(
        &mut self,
        u: &mut [f64],
        dt: f64,
        rhs: &mut F,
    ) {
        rhs(u, &mut self.k1);
        for ((t, u), k) in self.tmp.iter_mut().zip(u.iter()).zip(&self.k1) {
            *t = u + 0.5 * dt * k;
        }
        rhs(&self.tmp, &mut self.k2);
        for ((t, u), k) in self.tmp.iter_mut().zip(u.iter()).zip(&self.k2) {
            *t = u + 0.5 * dt * k;
        }
        rhs(&self.tmp, &mut self.k3);
        for ((t, u), k) in self.tmp.iter_mut().zip(u.iter()).zip(&self.k3) {
            *t = u + dt * k;
        }
        rhs(&self.tmp, &mut self.k4);
        for i in 0..u.len() {
            u[i] += dt / 6.0 * (self.k1[i] + 2.0 * (self.k2[i] + self.k3[i]) + self.k4[i]);
        }
    }

    /// Advances by `span` in equal steps no longer than `max_dt`; returns the steps taken.
    pub(crate) fn advance<F: FnMut(&[f64], &mut [f64])>(
        &mut self,
        u: &mut [f64],
        span: f64,
        max_dt: f64,
        rhs: &mut F,
    ) -> usize {
        if span <= 0.0 {
            return 0;
        }
        let steps = ((span / max_dt) - 1e-9).ceil().max(1.0) as usize;
        let h = span / steps as f64;
        for _ in 0..steps {
            self.step(u, h, rhs);
        }
        steps
    }
}

/// Interleaves `c` planes of `p` points each into a `[p, c]` layout.
pub(crate) fn interleave(planes: &[f64], c: usize, out: &mut Vec<f64>) {
    let p = planes.len() / c;
    for i in 0..p {
        for k in 0..c {
            out.push(planes[k * p + i]);
        }
    }
}

/// Splits a `[p, c]` layout into `c` planes.
pub(crate) fn deinterleave(values: &[f64], c: usize) -> Vec<f64> {
    let p = values.len() / c;
    let mut out = vec![0.0; values.len()];
    for i in 0..p {
        for k in 0..c {
            out[k * p + i] = values[i * c + k];
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f64::consts::PI;

    #[test]
    fn laplacians_are_second_order_on_smooth_periodic_fields() {
        let err = |n: usize, nine: bool| {
            let dx = 1.0 / n as f64;
            let u: Vec<f64> = (0..n * n)
                .map(|p| {
                    ((2.0 * PI * (p / n) as f64 * dx).sin())
                        * (2.0 * PI * (p % n) as f64 * dx).cos()
                })
                .collect();
            let mut out = vec![0.0; n * n];
            if nine {
                laplacian9_periodic(&u, n, dx, &mut out);
            } else {
                laplacian5(&u, n, dx, Boundary::Periodic, &mut out);
            }
            out.iter()
                .zip(&u)
                .fold(0.0f64, |m, (l, u)| m.max((l + 8.0 * PI * PI * u).abs()))
        };
        for nine in [false, true] {
            let order = (err(16, nine) / err(32, nine)).log2();
            assert!(order > 1.9, "nine={nine}: order {order}");
        }
    }
}
