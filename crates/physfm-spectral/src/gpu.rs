//! cubecl kernels for burn's cubecl backends (features `wgpu`, `cuda`): the truncated
//! transforms as direct sums over one axis at a time against small bases that are uploaded
//! once per device and kept there, and the per-mode channel contraction. Only kept modes are
//! ever computed or stored: the full spectrum never exists in device memory. Tested against the
//! CPU path and the f64 oracle on Mesa's software Vulkan; checked and timed on an H200 through
//! Vulkan by `examples/device_check.rs` (docs/performance.md).
#![allow(unsafe_code)]

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use burn::tensor::DType;
use burn_cubecl::cubecl;
use burn_cubecl::cubecl::prelude::*;
use burn_cubecl::cubecl::server::Handle;
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::tensor::CubeTensor;
use num_complex::Complex;

use crate::cpu::LastAxisMethod;
use crate::cpu::plan::{LastAxisKernel, Plan, Scale};
use crate::geometry::Geometry;

/// `out[r, q] = sum_j x[r, j] * basis[j, q]`, `basis` and `out` complex (interleaved pairs).
#[cube(launch)]
fn last_axis_analysis(x: &[f32], basis: &[f32], out: &mut [f32], rows: usize, n: usize, k: usize) {
    let idx = ABSOLUTE_POS;
    if idx < rows * k {
        let r = idx / k;
        let q = idx % k;
        let mut re = f32::new(0.0);
        let mut im = f32::new(0.0);
        for j in 0..n {
            let v = x[r * n + j];
            re += v * basis[(j * k + q) * 2];
            im += v * basis[(j * k + q) * 2 + 1];
        }
        out[idx * 2] = re;
        out[idx * 2 + 1] = im;
    }
}

/// `y[r, j] = sum_q Re X[r, q] * basis[2q, j] + Im X[r, q] * basis[2q + 1, j]`.
#[cube(launch)]
fn last_axis_synthesis(
    spec: &[f32],
    basis: &[f32],
    y: &mut [f32],
    rows: usize,
    n: usize,
    k: usize,
) {
    let idx = ABSOLUTE_POS;
    if idx < rows * n {
        let r = idx / n;
        let j = idx % n;
        let mut acc = f32::new(0.0);
        for q in 0..k {
            acc += spec[(r * k + q) * 2] * basis[(2 * q) * n + j]
                + spec[(r * k + q) * 2 + 1] * basis[(2 * q + 1) * n + j];
        }
        y[idx] = acc;
    }
}

/// `out[o, j, i] = sum_l op[j, l] * inp[o, l, i]`, all complex.
#[cube(launch)]
fn along_axis(
    inp: &[f32],
    op: &[f32],
    out: &mut [f32],
    outer: usize,
    rows_out: usize,
    rows_in: usize,
    inner: usize,
) {
    let idx = ABSOLUTE_POS;
    if idx < outer * rows_out * inner {
        let i = idx % inner;
        let j = (idx / inner) % rows_out;
        let o = idx / (inner * rows_out);
        let mut re = f32::new(0.0);
        let mut im = f32::new(0.0);
        for l in 0..rows_in {
            let a_re = op[(j * rows_in + l) * 2];
            let a_im = op[(j * rows_in + l) * 2 + 1];
            let b = ((o * rows_in + l) * inner + i) * 2;
            let b_re = inp[b];
            let b_im = inp[b + 1];
            re += a_re * b_re - a_im * b_im;
            im += a_re * b_im + a_im * b_re;
        }
        out[idx * 2] = re;
        out[idx * 2 + 1] = im;
    }
}

/// `out[u, v, q] = sum_s lhs[u * lu + s * ls, q] * rhs[s * rs + v * rv, q]`, complex, each
/// factor conjugated when its flag is 1.
#[cube(launch)]
#[allow(clippy::too_many_arguments)]
fn contract_modes(
    lhs: &[f32],
    rhs: &[f32],
    out: &mut [f32],
    u_count: usize,
    v_count: usize,
    terms: usize,
    modes: usize,
    strides: &[u32],
) {
    let idx = ABSOLUTE_POS;
    if idx < u_count * v_count * modes {
        let q = idx % modes;
        let v = (idx / modes) % v_count;
        let u = idx / (modes * v_count);
        let lu = strides[0] as usize;
        let ls = strides[1] as usize;
        let rs = strides[2] as usize;
        let rv = strides[3] as usize;
        let conj_l = f32::cast_from(strides[4]);
        let conj_r = f32::cast_from(strides[5]);
        let sign_l = f32::new(1.0) - f32::new(2.0) * conj_l;
        let sign_r = f32::new(1.0) - f32::new(2.0) * conj_r;
        let mut re = f32::new(0.0);
        let mut im = f32::new(0.0);
        for s in 0..terms {
            let a = ((u * lu + s * ls) * modes + q) * 2;
            let b = ((s * rs + v * rv) * modes + q) * 2;
            let a_re = lhs[a];
            let a_im = lhs[a + 1] * sign_l;
            let b_re = rhs[b];
            let b_im = rhs[b + 1] * sign_r;
            re += a_re * b_re - a_im * b_im;
            im += a_re * b_im + a_im * b_re;
        }
        out[idx * 2] = re;
        out[idx * 2 + 1] = im;
    }
}

/// A buffer of `len` f32 on the device of `like`.
struct Buf {
    handle: Handle,
    len: usize,
}

impl Buf {
    fn arg(&self) -> BufferArg {
        // SAFETY: `len` is the number of f32 the handle was created with.
        unsafe { BufferArg::from_raw_parts(self.handle.clone(), self.len) }
    }
}

/// Constant data the kernels read: a plan's basis (known by its address: plans live for the
/// process, see `Plan::get_with`) or a contraction's strides.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Constant {
    Basis { address: usize, len: usize },
    Strides([u32; 6]),
}

/// The device copy of `data`, uploaded on first use per device and kept for the process like
/// the plans it comes from, so that a call uploads nothing.
fn resident(like: &CubeTensor, what: Constant, data: &[u8], len: usize) -> Buf {
    static RESIDENT: LazyLock<Mutex<HashMap<(String, Constant), Handle>>> =
        LazyLock::new(Default::default);
    let key = (format!("{:?}", like.device), what);
    let mut map = RESIDENT.lock().unwrap_or_else(|p| p.into_inner());
    let handle = map
        .entry(key)
        .or_insert_with(|| like.client.create_from_slice(data))
        .clone();
    Buf { handle, len }
}

/// A plan's basis on the device of `like`.
fn basis(like: &CubeTensor, data: &[f32]) -> Buf {
    let what = Constant::Basis {
        address: data.as_ptr() as usize,
        len: data.len(),
    };
    resident(like, what, f32::as_bytes(data), data.len())
}

fn empty(t: &CubeTensor, len: usize) -> Buf {
    Buf {
        handle: t.client.empty(len.max(1) * size_of::<f32>()),
        len,
    }
}

/// One thread per output element, 256 per cube, cubes spread over two grid dimensions when
/// one would exceed the 65535 limit (the kernels index by `ABSOLUTE_POS` and guard the tail).
fn launch_dims(threads: usize) -> (CubeCount, CubeDim) {
    let dim = CubeDim::new_1d(256);
    let count = threads.div_ceil(256).max(1);
    let (x, y) = if count > 65535 {
        (65535u32, count.div_ceil(65535) as u32)
    } else {
        (count as u32, 1)
    };
    (CubeCount::Static(x, y, 1), dim)
}

fn input(t: CubeTensor) -> (CubeTensor, Buf) {
    assert_eq!(
        t.dtype,
        DType::F32,
        "spectral_conv: the cubecl kernels take f32, got {:?}",
        t.dtype
    );
    let t = into_contiguous(t);
    let len = t.meta.shape().num_elements();
    let buf = Buf {
        handle: t.handle.clone(),
        len,
    };
    (t, buf)
}

fn complex_as_f32(v: &[Complex<f32>]) -> &[f32] {
    bytemuck::cast_slice(v)
}

/// Non-last axis `a` of `fibers` grids whose later axes are already in kept modes: to its kept
/// frequencies (`forward`) or from them back to its points.
fn transform_axis(
    like: &CubeTensor,
    plan: &Plan<f32>,
    cur: &Buf,
    fibers: usize,
    a: usize,
    forward: bool,
) -> Buf {
    let axis = &plan.axes[a];
    let outer = fibers * plan.dims[..a].iter().product::<usize>();
    let inner = plan.modes[a + 1..].iter().product::<usize>();
    let (op, rows_out, rows_in) = if forward {
        (&axis.forward, axis.m, axis.n)
    } else {
        (&axis.inverse, axis.n, axis.m)
    };
    let op = basis(like, complex_as_f32(op));
    let next = empty(like, outer * rows_out * inner * 2);
    let (count, dim) = launch_dims(outer * rows_out * inner);
    along_axis::launch(
        &like.client,
        count,
        dim,
        cur.arg(),
        op.arg(),
        next.arg(),
        outer,
        rows_out,
        rows_in,
        inner,
    );
    next
}

/// The truncated forward transform of `fibers` real grids (see the CPU `analysis`): the last
/// axis first, then the others.
fn analysis(like: &CubeTensor, plan: &Plan<f32>, x: &Buf, fibers: usize, scale: Scale) -> Buf {
    let d = plan.dims.len();
    let (n, k) = (plan.last.n, plan.last.k);
    let rows = fibers * plan.dims[..d - 1].iter().product::<usize>();
    let LastAxisKernel::Dense { analysis, .. } = &plan.last.method else {
        unreachable!("the GPU path builds dense plans")
    };
    let b = basis(like, &analysis[scale as usize]);
    let mut cur = empty(like, rows * k * 2);
    let (count, dim) = launch_dims(rows * k);
    last_axis_analysis::launch(
        &like.client,
        count,
        dim,
        x.arg(),
        b.arg(),
        cur.arg(),
        rows,
        n,
        k,
    );
    for a in (0..d - 1).rev() {
        cur = transform_axis(like, plan, &cur, fibers, a, true);
    }
    cur
}

/// The pruned inverse transform of kept modes to real grids (see the CPU `synthesis`): the
/// other axes first, then the last.
fn synthesis(like: &CubeTensor, plan: &Plan<f32>, spec: Buf, fibers: usize, scale: Scale) -> Buf {
    let d = plan.dims.len();
    let (n, k) = (plan.last.n, plan.last.k);
    let mut cur = spec;
    for a in 0..d - 1 {
        cur = transform_axis(like, plan, &cur, fibers, a, false);
    }
    let rows = fibers * plan.dims[..d - 1].iter().product::<usize>();
    let LastAxisKernel::Dense { synthesis, .. } = &plan.last.method else {
        unreachable!("the GPU path builds dense plans")
    };
    let b = basis(like, &synthesis[scale as usize]);
    let y = empty(like, rows * n);
    let (count, dim) = launch_dims(rows * n);
    last_axis_synthesis::launch(
        &like.client,
        count,
        dim,
        cur.arg(),
        b.arg(),
        y.arg(),
        rows,
        n,
        k,
    );
    y
}

/// `out[u, v, :] = sum_s lhs[u lu + s ls, :] * rhs[s rs + v rv, :]` (see the CPU mixing).
#[allow(clippy::too_many_arguments)]
fn contract(
    like: &CubeTensor,
    lhs: &Buf,
    rhs: &Buf,
    (u, v, terms, modes): (usize, usize, usize, usize),
    strides: [u32; 4],
    conj: (bool, bool),
) -> Buf {
    let s = [
        strides[0],
        strides[1],
        strides[2],
        strides[3],
        conj.0 as u32,
        conj.1 as u32,
    ];
    let sbuf = resident(like, Constant::Strides(s), u32::as_bytes(&s), 6);
    // SAFETY: six u32 were uploaded.
    let sarg = unsafe { BufferArg::from_raw_parts(sbuf.handle, 6) };
    let out = empty(like, u * v * modes * 2);
    let (count, dim) = launch_dims(u * v * modes);
    contract_modes::launch(
        &like.client,
        count,
        dim,
        lhs.arg(),
        rhs.arg(),
        out.arg(),
        u,
        v,
        terms,
        modes,
        sarg,
    );
    out
}

fn tensor(like: &CubeTensor, buf: Buf, shape: Vec<usize>) -> CubeTensor {
    CubeTensor::new_contiguous(
        like.client.clone(),
        like.device.clone(),
        shape.into(),
        buf.handle,
        DType::F32,
    )
}

/// Forward pass on a cubecl device.
pub(crate) fn forward(x: CubeTensor, w: CubeTensor) -> CubeTensor {
    let g = Geometry::new(x.meta.shape(), w.meta.shape());
    let (x, xb) = input(x);
    let (_w, wb) = input(w);
    let plan = Plan::<f32>::get_with(&g.dims, &g.modes, LastAxisMethod::Dense);
    let (b, ci, co, m) = (g.batch, g.in_channels, g.out_channels, g.total_modes());
    let xh = analysis(&x, &plan, &xb, b * ci, Scale::Forward);
    let yh = contract(
        &x,
        &xh,
        &wb,
        (b, co, ci, m),
        [ci as u32, 1, co as u32, 1],
        (false, false),
    );
    let y = synthesis(&x, &plan, yh, b * co, Scale::Forward);
    tensor(&x, y, g.output_shape())
}

/// Backward pass on a cubecl device; a gradient not asked for comes back as zeros.
pub(crate) fn backward(
    x: CubeTensor,
    w: CubeTensor,
    grad: CubeTensor,
    need_x: bool,
    need_w: bool,
) -> (CubeTensor, CubeTensor) {
    let g = Geometry::new(x.meta.shape(), w.meta.shape());
    let (x, xb) = input(x);
    let (w, wb) = input(w);
    let (_grad, gb) = input(grad);
    let plan = Plan::<f32>::get_with(&g.dims, &g.modes, LastAxisMethod::Dense);
    let (b, ci, co, m) = (g.batch, g.in_channels, g.out_channels, g.total_modes());
    let x_shape = x.meta.shape().to_vec();
    let w_shape = w.meta.shape().to_vec();
    let gy = analysis(&x, &plan, &gb, b * co, Scale::Adjoint);
    let zeros = |shape: &[usize]| {
        burn_cubecl::ops::numeric::zeros(x.device.clone(), shape.to_vec().into(), DType::F32)
    };
    let gw = if need_w {
        let xh = analysis(&x, &plan, &xb, b * ci, Scale::Forward);
        // gw[i, o] = sum_b conj(x[b, i]) gy[b, o]
        let gw = contract(
            &x,
            &xh,
            &gy,
            (ci, co, b, m),
            [1, ci as u32, co as u32, 1],
            (true, false),
        );
        tensor(&x, gw, w_shape)
    } else {
        zeros(&w_shape)
    };
    let gx = if need_x {
        // gx[b, i] = sum_o gy[b, o] conj(w[i, o])
        let gxh = contract(
            &x,
            &gy,
            &wb,
            (b, ci, co, m),
            [co as u32, 1, 1, co as u32],
            (false, true),
        );
        tensor(
            &x,
            synthesis(&x, &plan, gxh, b * ci, Scale::Adjoint),
            x_shape,
        )
    } else {
        zeros(&x_shape)
    };
    (gx, gw)
}
