//! A safe, bounds-checked front for the `gemm` crate's strided matrix product: the one place in
//! physfm-spectral that needs `unsafe`.
#![allow(unsafe_code)]

use num_complex::Complex;

/// Element types `gemm` multiplies: `f32`, `f64` and their complex forms (gemm dispatches on
/// the type and panics on any other; the implementations below are the only ones).
pub(crate) trait GemmScalar: Copy + Send + Sync + 'static {
    /// The multiplicative identity.
    const ONE: Self;
}

impl GemmScalar for f32 {
    const ONE: Self = 1.0;
}
impl GemmScalar for f64 {
    const ONE: Self = 1.0;
}
impl GemmScalar for Complex<f32> {
    const ONE: Self = Complex::new(1.0, 0.0);
}
impl GemmScalar for Complex<f64> {
    const ONE: Self = Complex::new(1.0, 0.0);
}

/// A `rows x cols` matrix read from `data` at `r * row_stride + c * col_stride`.
#[derive(Clone, Copy)]
pub(crate) struct Mat<'a, T> {
    pub(crate) data: &'a [T],
    pub(crate) rows: usize,
    pub(crate) cols: usize,
    pub(crate) row_stride: usize,
    pub(crate) col_stride: usize,
}

/// A `rows x cols` matrix written into `data` at `r * row_stride + c * col_stride`.
pub(crate) struct MatMut<'a, T> {
    pub(crate) data: &'a mut [T],
    pub(crate) rows: usize,
    pub(crate) cols: usize,
    pub(crate) row_stride: usize,
    pub(crate) col_stride: usize,
}

impl<'a, T> Mat<'a, T> {
    /// A row-major matrix.
    pub(crate) fn rows(data: &'a [T], rows: usize, cols: usize) -> Self {
        Self {
            data,
            rows,
            cols,
            row_stride: cols,
            col_stride: 1,
        }
    }
}

impl<'a, T> MatMut<'a, T> {
    /// A row-major matrix.
    pub(crate) fn rows(data: &'a mut [T], rows: usize, cols: usize) -> Self {
        Self {
            data,
            rows,
            cols,
            row_stride: cols,
            col_stride: 1,
        }
    }
}

/// Last index touched plus one.
fn extent(rows: usize, cols: usize, rs: usize, cs: usize) -> usize {
    if rows == 0 || cols == 0 {
        0
    } else {
        (rows - 1) * rs + (cols - 1) * cs + 1
    }
}

/// `dst = lhs · rhs` (or `conj(lhs) · rhs` with `conj_lhs`), overwriting `dst`; `threads > 1`
/// lets `gemm` split the product over rayon's pool.
///
/// # Panics
/// If the shapes disagree or a matrix reaches past the end of its slice.
pub(crate) fn matmul<T: GemmScalar>(
    dst: MatMut<'_, T>,
    lhs: Mat<'_, T>,
    rhs: Mat<'_, T>,
    conj_lhs: bool,
    parallel: bool,
) {
    product(dst, lhs, rhs, conj_lhs, parallel, false)
}

/// `dst += lhs · rhs`; `threads > 1` as in [`matmul`].
///
/// # Panics
/// As [`matmul`].
pub(crate) fn matmul_add<T: GemmScalar>(
    dst: MatMut<'_, T>,
    lhs: Mat<'_, T>,
    rhs: Mat<'_, T>,
    parallel: bool,
) {
    product(dst, lhs, rhs, false, parallel, true)
}

fn product<T: GemmScalar>(
    dst: MatMut<'_, T>,
    lhs: Mat<'_, T>,
    rhs: Mat<'_, T>,
    conj_lhs: bool,
    parallel: bool,
    accumulate: bool,
) {
    assert_eq!(lhs.cols, rhs.rows, "matmul: inner dimensions differ");
    assert_eq!(dst.rows, lhs.rows, "matmul: row counts differ");
    assert_eq!(dst.cols, rhs.cols, "matmul: column counts differ");
    assert!(extent(dst.rows, dst.cols, dst.row_stride, dst.col_stride) <= dst.data.len());
    assert!(extent(lhs.rows, lhs.cols, lhs.row_stride, lhs.col_stride) <= lhs.data.len());
    assert!(extent(rhs.rows, rhs.cols, rhs.row_stride, rhs.col_stride) <= rhs.data.len());
    if dst.rows == 0 || dst.cols == 0 {
        return;
    }
    if lhs.cols == 0 {
        // An empty inner dimension: the product is zero, but gemm would not write it.
        panic!("matmul: empty inner dimension");
    }
    // gemm computes `dst = alpha dst + beta lhs rhs`, reading `dst` only with `read_dst`.
    let parallelism = if parallel {
        gemm::Parallelism::Rayon(0)
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: every index gemm touches, `r * rs + c * cs` for `r < rows` and `c < cols`, lies
    // below the extents checked above, strides are non-negative, and `dst` is an exclusive
    // borrow that does not alias `lhs` or `rhs` (which are shared borrows).
    unsafe {
        gemm::gemm(
            dst.rows,
            dst.cols,
            lhs.cols,
            dst.data.as_mut_ptr(),
            dst.col_stride as isize,
            dst.row_stride as isize,
            accumulate,
            lhs.data.as_ptr(),
            lhs.col_stride as isize,
            lhs.row_stride as isize,
            rhs.data.as_ptr(),
            rhs.col_stride as isize,
            rhs.row_stride as isize,
            T::ONE,
            T::ONE,
            false,
            conj_lhs,
            false,
            parallelism,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strided_products_match_a_naive_loop() {
        // lhs is read transposed from a row-major 3x2 buffer; rhs is 3x4 row-major.
        let l: Vec<f64> = (0..6).map(|v| v as f64 - 2.0).collect();
        let r: Vec<f64> = (0..12).map(|v| (v as f64) * 0.5).collect();
        let lhs = Mat {
            data: &l,
            rows: 2,
            cols: 3,
            row_stride: 1,
            col_stride: 2,
        };
        let mut d = vec![0.0; 8];
        matmul(
            MatMut::rows(&mut d, 2, 4),
            lhs,
            Mat::rows(&r, 3, 4),
            false,
            false,
        );
        for i in 0..2 {
            for j in 0..4 {
                let want: f64 = (0..3).map(|k| l[k * 2 + i] * r[k * 4 + j]).sum();
                assert_eq!(d[i * 4 + j], want);
            }
        }
    }

    #[test]
    fn accumulates_into_the_destination() {
        let l = [1.0f32, 2.0, 3.0, 4.0];
        let r = [1.0f32, 0.0, 0.0, 1.0];
        let mut d = [10.0f32, 20.0, 30.0, 40.0];
        matmul_add(
            MatMut::rows(&mut d, 2, 2),
            Mat::rows(&l, 2, 2),
            Mat::rows(&r, 2, 2),
            false,
        );
        assert_eq!(d, [11.0, 22.0, 33.0, 44.0]);
    }

    #[test]
    fn conjugates_the_left_factor_on_request() {
        let l = [Complex::new(1.0f32, 2.0)];
        let r = [Complex::new(3.0f32, -1.0)];
        let mut d = [Complex::new(0.0f32, 0.0)];
        matmul(
            MatMut::rows(&mut d, 1, 1),
            Mat::rows(&l, 1, 1),
            Mat::rows(&r, 1, 1),
            true,
            false,
        );
        assert_eq!(d[0], Complex::new(1.0, -2.0) * Complex::new(3.0, -1.0));
    }

    #[test]
    #[should_panic]
    fn refuses_a_matrix_past_its_slice() {
        let l = [1.0f32; 3];
        let mut d = [0.0f32; 4];
        matmul(
            MatMut::rows(&mut d, 2, 2),
            Mat::rows(&l, 2, 2),
            Mat::rows(&l, 2, 2),
            false,
            false,
        );
    }
}
