//! Row sums and sums over groups in a fixed order: vectorised partial sums whose result does
//! not depend on thread scheduling (the linear, block and MLP ops' bias and gain gradients).

/// What the sums need of an element type (`f32` and `f64`).
pub(crate) trait Summable:
    Copy + Default + std::ops::AddAssign + std::ops::Mul<Output = Self>
{
}

impl<T: Copy + Default + std::ops::AddAssign + std::ops::Mul<Output = T>> Summable for T {}

/// `acc[r] += sum(rows[r])` for each row of `n` values, with independent partial sums so that
/// the loop vectorises (a single running sum is one dependent add per value).
pub(crate) fn add_row_sums<T: Summable>(acc: &mut [T], rows: &[T], n: usize) {
    for (a, row) in acc.iter_mut().zip(rows.chunks(n)) {
        *a += lane_sum(row, |v, _| v, row);
    }
}

/// `acc[r] += sum(a[r] * b[r])` for each pair of rows of `n` values.
pub(crate) fn add_row_dots<T: Summable>(acc: &mut [T], a: &[T], b: &[T], n: usize) {
    for ((s, ra), rb) in acc.iter_mut().zip(a.chunks(n)).zip(b.chunks(n)) {
        *s += lane_sum(ra, |u, v| u * v, rb);
    }
}

/// `sum(f(a[i], b[i]))` over 16 independent lanes, then the lanes in order.
#[inline(always)]
fn lane_sum<T: Summable>(a: &[T], f: impl Fn(T, T) -> T, b: &[T]) -> T {
    const LANES: usize = 16;
    let mut lanes = [T::default(); LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (xa, xb) in ca.zip(cb) {
        for l in 0..LANES {
            lanes[l] += f(xa[l], xb[l]);
        }
    }
    let mut total = T::default();
    for (&u, &v) in ra.iter().zip(rb) {
        total += f(u, v);
    }
    for l in lanes {
        total += l;
    }
    total
}

/// The sums over groups of per-group partial sums (each group's accumulators of `sizes`
/// values), added in group order so that the result does not depend on scheduling.
pub(crate) fn sum_in_order<T: Summable>(partials: &[Vec<Vec<T>>], sizes: &[usize]) -> Vec<Vec<T>> {
    let mut totals: Vec<Vec<T>> = sizes.iter().map(|&l| vec![T::default(); l]).collect();
    for part in partials {
        for (t, p) in totals.iter_mut().zip(part) {
            for (a, &v) in t.iter_mut().zip(p) {
                *a += v;
            }
        }
    }
    totals
}
