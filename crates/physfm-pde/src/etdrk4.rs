//! Exponential time differencing RK4 (Cox and Matthews 2002) for diagonal linear operators.
//!
//! `v_t = L v + N(v)` with `L` diagonal (complex, so dispersion works too). The coefficients
//! come from the contour-integral method of Kassam and Trefethen (2005), which stays accurate
//! where `h L` is near zero. One integrator works for every spectral family, in any dimension:
//! the state is the flattened spectrum and the family supplies `N`.

// Index loops read as the formulas they implement in these numerical kernels.
#![allow(clippy::needless_range_loop)]

use rustfft::num_complex::Complex64;

/// ETDRK4 coefficients of one step length.
pub(crate) struct Etdrk4Coefficients {
    pub(crate) h: f64,
    e: Vec<Complex64>,
    e2: Vec<Complex64>,
    q: Vec<Complex64>,
    f1: Vec<Complex64>,
    f2: Vec<Complex64>,
    f3: Vec<Complex64>,
}

impl Etdrk4Coefficients {
    /// Coefficients for the diagonal operator `lin` and step `h`.
    pub(crate) fn new(lin: &[Complex64], h: f64) -> Self {
        // Points on a circle of radius 1 around each h*L: a full circle, since L may be complex.
        const M: usize = 32;
        let roots: Vec<Complex64> = (0..M)
            .map(|j| {
                let theta = std::f64::consts::PI * 2.0 * (j as f64 + 0.5) / M as f64;
                Complex64::from_polar(1.0, theta)
            })
            .collect();
        let n = lin.len();
        let zero = Complex64::new(0.0, 0.0);
        let mut c = Self {
            h,
            e: vec![zero; n],
            e2: vec![zero; n],
            q: vec![zero; n],
            f1: vec![zero; n],
            f2: vec![zero; n],
            f3: vec![zero; n],
        };
        let real = lin.iter().all(|l| l.im == 0.0);
        let m = M as f64;
        for (i, &l) in lin.iter().enumerate() {
            let z = l * h;
            c.e[i] = z.exp();
            c.e2[i] = (z / 2.0).exp();
            let (mut q, mut f1, mut f2, mut f3) = (zero, zero, zero, zero);
            for r in &roots {
                let w = z + r;
                let ew = w.exp();
                let ew2 = (w / 2.0).exp();
                q += (ew2 - 1.0) / w;
                let w3 = w * w * w;
                f1 += (-4.0 - w + ew * (4.0 - 3.0 * w + w * w)) / w3;
                f2 += (2.0 + w + ew * (w - 2.0)) / w3;
                f3 += (-4.0 - 3.0 * w - w * w + ew * (4.0 - w)) / w3;
            }
            c.q[i] = q * h / m;
            c.f1[i] = f1 * h / m;
            c.f2[i] = f2 * h / m;
            c.f3[i] = f3 * h / m;
            if real {
                for v in [&mut c.q[i], &mut c.f1[i], &mut c.f2[i], &mut c.f3[i]] {
                    v.im = 0.0;
                }
            }
        }
        c
    }
}

/// An ETDRK4 integrator: the linear symbol, the coefficients of the last step length used, and
/// the stage buffers. Nothing is allocated per step.
pub(crate) struct Etdrk4 {
    lin: Vec<Complex64>,
    /// The coefficient sets of the last few step lengths, most recent first.
    coeffs: Vec<Etdrk4Coefficients>,
    nv: Vec<Complex64>,
    na: Vec<Complex64>,
    nb: Vec<Complex64>,
    nc: Vec<Complex64>,
    a: Vec<Complex64>,
    b: Vec<Complex64>,
    c: Vec<Complex64>,
}

impl Etdrk4 {
    pub(crate) fn new(lin: Vec<Complex64>) -> Self {
        let n = lin.len();
        let z = vec![Complex64::new(0.0, 0.0); n];
        Self {
            lin,
            coeffs: Vec::new(),
            nv: z.clone(),
            na: z.clone(),
            nb: z.clone(),
            nc: z.clone(),
            a: z.clone(),
            b: z.clone(),
            c: z,
        }
    }

    /// The exact linear propagator `exp(span L)` applied to `v` (for `N = 0`).
    pub(crate) fn propagate_linear(&self, v: &mut [Complex64], span: f64) {
        for (x, l) in v.iter_mut().zip(&self.lin) {
            *x *= (l * span).exp();
        }
    }

    /// Advances `v` by `span` in equal steps no longer than `max_dt`; `nonlinear(v, out)`
    /// writes `N(v)`. Returns the number of steps taken.
    pub(crate) fn advance<F>(
        &mut self,
        v: &mut [Complex64],
        span: f64,
        max_dt: f64,
        nonlinear: &mut F,
    ) -> usize
    where
        F: FnMut(&[Complex64], &mut [Complex64]),
    {
        if span <= 0.0 {
            return 0;
        }
        let steps = ((span / max_dt) - 1e-9).ceil().max(1.0) as usize;
        let h = span / steps as f64;
        match self
            .coeffs
            .iter()
            .position(|c| (c.h - h).abs() <= 1e-12 * h)
        {
            Some(0) => {}
            Some(i) => {
                let c = self.coeffs.remove(i);
                self.coeffs.insert(0, c);
            }
            None => {
                self.coeffs.insert(0, Etdrk4Coefficients::new(&self.lin, h));
                self.coeffs.truncate(4);
            }
        }
        let co = &self.coeffs[0];
        let n = v.len();
        for _ in 0..steps {
            nonlinear(v, &mut self.nv);
            for i in 0..n {
                self.a[i] = co.e2[i] * v[i] + co.q[i] * self.nv[i];
            }
            nonlinear(&self.a, &mut self.na);
            for i in 0..n {
                self.b[i] = co.e2[i] * v[i] + co.q[i] * self.na[i];
            }
            nonlinear(&self.b, &mut self.nb);
            for i in 0..n {
                self.c[i] = co.e2[i] * self.a[i] + co.q[i] * (2.0 * self.nb[i] - self.nv[i]);
            }
            nonlinear(&self.c, &mut self.nc);
            for i in 0..n {
                v[i] = co.e[i] * v[i]
                    + co.f1[i] * self.nv[i]
                    + 2.0 * co.f2[i] * (self.na[i] + self.nb[i])
                    + co.f3[i] * self.nc[i];
            }
        }
        steps
    }
}

/// How an [`Etdrk4`] integration chooses its step between two save times.
pub(crate) enum StepRule<'a> {
    /// A fixed largest step (convergence studies).
    Fixed(f64),
    /// The CFL bound of the current state, re-evaluated every `chunk` steps and rounded down
    /// to `cap / 2^j` (so that cached coefficients are reused as the bound moves). `bound`
    /// returns NaN for a non-finite state.
    Adaptive {
        cap: f64,
        chunk: usize,
        bound: &'a mut dyn FnMut(&[Complex64]) -> f64,
    },
}

impl Etdrk4 {
    /// Advances `v` from `*t` to `target` (updating `*t`) with steps chosen by `rule`.
    /// Returns the steps taken, or the time at which the state stopped being finite.
    pub(crate) fn advance_to<F>(
        &mut self,
        v: &mut [Complex64],
        t: &mut f64,
        target: f64,
        rule: &mut StepRule<'_>,
        nonlinear: &mut F,
    ) -> std::result::Result<usize, f64>
    where
        F: FnMut(&[Complex64], &mut [Complex64]),
    {
        let mut steps = 0;
        while target - *t > 1e-12 * target.max(1.0) {
            let rem = target - *t;
            let (dt, span) = match rule {
                StepRule::Fixed(dt) => (*dt, rem),
                StepRule::Adaptive { cap, chunk, bound } => {
                    let b = bound(v);
                    if b.is_nan() {
                        return Err(*t);
                    }
                    let dt = quantised_step(*cap, b);
                    let whole = rem <= *chunk as f64 * dt * (1.0 + 1e-9);
                    (dt, if whole { rem } else { *chunk as f64 * dt })
                }
            };
            steps += self.advance(v, span, dt, nonlinear);
            *t = if span == rem { target } else { *t + span };
            if v.iter().any(|z| !(z.re.is_finite() && z.im.is_finite())) {
                return Err(*t);
            }
        }
        Ok(steps)
    }
}

/// The largest step `cap / 2^j` not above `bound` (a power of two when `cap` is infinite).
pub(crate) fn quantised_step(cap: f64, bound: f64) -> f64 {
    if bound >= cap {
        return cap;
    }
    if !cap.is_finite() {
        return 2f64.powf(bound.log2().floor());
    }
    let j = (cap / bound).log2().ceil();
    cap / 2f64.powf(j)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coefficients_match_their_limits_and_closed_forms() {
        let h = 0.1;
        let c = Etdrk4Coefficients::new(&[Complex64::new(0.0, 0.0), Complex64::new(-50.0, 0.0)], h);
        assert!((c.q[0].re - h / 2.0).abs() < 1e-13);
        for f in [c.f1[0], c.f2[0], c.f3[0]] {
            assert!((f.re - h / 6.0).abs() < 1e-13, "{f}");
        }
        let z: f64 = -5.0;
        let ez = z.exp();
        let f1 = h * (-4.0 - z + ez * (4.0 - 3.0 * z + z * z)) / z.powi(3);
        let q = h * ((z / 2.0).exp() - 1.0) / z;
        assert!((c.f1[1].re - f1).abs() < 1e-13 && (c.q[1].re - q).abs() < 1e-13);
    }

    #[test]
    fn complex_coefficients_match_the_closed_form() {
        let h = 0.2;
        let l = Complex64::new(-3.0, 7.0);
        let c = Etdrk4Coefficients::new(&[l], h);
        let z = l * h;
        let f2 = (2.0 + z + z.exp() * (z - 2.0)) / (z * z * z) * h;
        assert!((c.f2[0] - f2).norm() < 1e-12, "{} vs {f2}", c.f2[0]);
    }

    #[test]
    fn integrates_a_riccati_equation_at_fourth_order() {
        // v' = -v - v^2, v(0) = 1 has the solution v(t) = 1 / (2 e^t - 1).
        let lin = vec![Complex64::new(-1.0, 0.0)];
        let exact = 1.0 / (2.0 * 1f64.exp() - 1.0);
        let errs: Vec<f64> = [0.05, 0.025, 0.0125]
            .iter()
            .map(|&dt| {
                let mut s = Etdrk4::new(lin.clone());
                let mut v = vec![Complex64::new(1.0, 0.0)];
                s.advance(&mut v, 1.0, dt, &mut |v, out| out[0] = -v[0] * v[0]);
                (v[0].re - exact).abs()
            })
            .collect();
        for w in errs.windows(2) {
            let order = (w[0] / w[1]).log2();
            assert!(order > 3.7, "order {order:.2} from {errs:?}");
        }
    }
}
