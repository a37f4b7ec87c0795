//! Shapes of one spectral convolution call, checked once for every implementation.

/// The shapes of `spectral_conv(x, weight)`: `x` is `[batch, in, N_1..N_d]`, `weight` is
/// `[in, out, M_1..M_{d-1}, K, 2]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Geometry {
    pub(crate) batch: usize,
    pub(crate) in_channels: usize,
    pub(crate) out_channels: usize,
    /// Grid sizes `N_1..N_d`.
    pub(crate) dims: Vec<usize>,
    /// Kept modes `M_1..M_{d-1}, K`.
    pub(crate) modes: Vec<usize>,
}

impl Geometry {
    /// Checks the shapes and describes them.
    ///
    /// # Panics
    /// With a message naming the mismatch: ranks, channel counts, or a grid too coarse for the
    /// kept modes.
    pub(crate) fn new(x: &[usize], w: &[usize]) -> Self {
        let d = x.len().saturating_sub(2);
        assert!(
            (1..=3).contains(&d),
            "spectral_conv: input must be [batch, channels, N_1..N_d] with d in 1..=3, got shape {x:?}"
        );
        assert!(
            w.len() == d + 3 && w[d + 2] == 2,
            "spectral_conv: a {d}D input needs weights [in, out, M_1..M_{d}, 2] (complex as real pairs), got shape {w:?}"
        );
        assert_eq!(
            x[1], w[0],
            "spectral_conv: input has {} channels, the weights take {}",
            x[1], w[0]
        );
        let dims = x[2..].to_vec();
        let modes = w[2..d + 2].to_vec();
        for a in 0..d - 1 {
            assert!(
                modes[a] >= 1 && dims[a] >= modes[a],
                "spectral_conv: axis {a} has {} points, fewer than the {} modes the weights keep",
                dims[a],
                modes[a]
            );
        }
        let (n, k) = (dims[d - 1], modes[d - 1]);
        assert!(
            k >= 1 && n / 2 + 1 >= k,
            "spectral_conv: the last axis has {n} points, which hold {} real-FFT modes; the weights keep {k}",
            n / 2 + 1
        );
        Self {
            batch: x[0],
            in_channels: x[1],
            out_channels: w[1],
            dims,
            modes,
        }
    }

    /// Output shape `[batch, out, N_1..N_d]`.
    pub(crate) fn output_shape(&self) -> Vec<usize> {
        let mut s = vec![self.batch, self.out_channels];
        s.extend(&self.dims);
        s
    }

    /// Kept modes in all.
    pub(crate) fn total_modes(&self) -> usize {
        self.modes.iter().product()
    }
}
