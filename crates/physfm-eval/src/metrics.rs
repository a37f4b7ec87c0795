//! Error metrics with PDEBench's definitions, on arrays laid out
//! `[batch, time, *space, channel]` (channel last).

use crate::{EvalError, Result};

/// Shape bookkeeping of a `[batch, time, *space, channel]` array.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricShape {
    /// Samples.
    pub batch: usize,
    /// Time steps.
    pub time: usize,
    /// Product of the spatial sizes.
    pub space: usize,
    /// Channels.
    pub channels: usize,
}

impl MetricShape {
    /// From a full shape `[batch, time, *space, channel]` (at least 3 axes; 0D data has no
    /// spatial axes).
    pub fn from_dims(dims: &[usize]) -> Result<Self> {
        if dims.len() < 3 {
            return Err(EvalError::Shape {
                what: "metric input".into(),
                expected: "[batch, time, *space, channel]".into(),
                got: format!("{dims:?}"),
            });
        }
        Ok(Self {
            batch: dims[0],
            time: dims[1],
            space: dims[2..dims.len() - 1].iter().product(),
            channels: dims[dims.len() - 1],
        })
    }

    fn len(&self) -> usize {
        self.batch * self.time * self.space * self.channels
    }
}

/// Per `(sample, time, channel)` RMSE over space and RMS of the target over space.
fn spatial_rms(pred: &[f32], target: &[f32], s: MetricShape) -> Result<(Vec<f64>, Vec<f64>)> {
    for (what, a) in [("prediction", pred), ("target", target)] {
        if a.len() != s.len() {
            return Err(EvalError::Shape {
                what: what.into(),
                expected: format!("{} values ({s:?})", s.len()),
                got: a.len().to_string(),
            });
        }
    }
    let groups = s.batch * s.time;
    let mut err = vec![0.0; groups * s.channels];
    let mut nrm = vec![0.0; groups * s.channels];
    for g in 0..groups {
        let base = g * s.space * s.channels;
        for x in 0..s.space {
            for c in 0..s.channels {
                let i = base + x * s.channels + c;
                let (p, t) = (pred[i] as f64, target[i] as f64);
                err[g * s.channels + c] += (p - t) * (p - t);
                nrm[g * s.channels + c] += t * t;
            }
        }
    }
    let n = s.space as f64;
    Ok((
        err.iter().map(|e| (e / n).sqrt()).collect(),
        nrm.iter().map(|e| (e / n).sqrt()).collect(),
    ))
}

/// PDEBench's nRMSE per `[time, channel]`: for each sample, time and channel the RMSE over
/// space divided by the target's RMS over space, then averaged over samples.
pub fn nrmse_per_time_channel(pred: &[f32], target: &[f32], dims: &[usize]) -> Result<Vec<f64>> {
    let s = MetricShape::from_dims(dims)?;
    let (err, nrm) = spatial_rms(pred, target, s)?;
    let k = s.time * s.channels;
    let mut out = vec![0.0; k];
    for (e, n) in err.chunks(k).zip(nrm.chunks(k)) {
        for ((o, e), n) in out.iter_mut().zip(e).zip(n) {
            *o += e / n / s.batch as f64;
        }
    }
    Ok(out)
}

/// nRMSE as one number: [`nrmse_per_time_channel`] averaged over time and channels.
///
/// ```
/// // One sample, one step, two points, one channel: error [0, 1], target [1, 1].
/// let v = physfm_eval::nrmse(&[1.0, 2.0], &[1.0, 1.0], &[1, 1, 2, 1])?;
/// assert!((v - (0.5f64).sqrt()).abs() < 1e-12);
/// # Ok::<(), physfm_eval::EvalError>(())
/// ```
pub fn nrmse(pred: &[f32], target: &[f32], dims: &[usize]) -> Result<f64> {
    let v = nrmse_per_time_channel(pred, target, dims)?;
    Ok(v.iter().sum::<f64>() / v.len() as f64)
}

/// nRMSE of each sample (averaged over its time steps and channels).
pub fn nrmse_per_sample(pred: &[f32], target: &[f32], dims: &[usize]) -> Result<Vec<f64>> {
    let s = MetricShape::from_dims(dims)?;
    let (err, nrm) = spatial_rms(pred, target, s)?;
    let k = s.time * s.channels;
    Ok((0..s.batch)
        .map(|b| (0..k).map(|j| err[b * k + j] / nrm[b * k + j]).sum::<f64>() / k as f64)
        .collect())
}

/// PDEBench's RMSE: RMSE over space per sample, time and channel, averaged over all of them.
pub fn rmse(pred: &[f32], target: &[f32], dims: &[usize]) -> Result<f64> {
    let s = MetricShape::from_dims(dims)?;
    let (err, _) = spatial_rms(pred, target, s)?;
    Ok(err.iter().sum::<f64>() / err.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nrmse_matches_a_hand_computed_value() {
        // Two samples, one time step, three points, one channel.
        // Sample 0: pred [1, 2, 3], target [1, 1, 1]: RMSE sqrt((0+1+4)/3), RMS 1.
        // Sample 1: pred [0, 0, 0], target [2, 0, 0]: RMSE sqrt(4/3), RMS sqrt(4/3) -> 1.
        let pred = [1.0, 2.0, 3.0, 0.0, 0.0, 0.0];
        let target = [1.0, 1.0, 1.0, 2.0, 0.0, 0.0];
        let expect = ((5.0f64 / 3.0).sqrt() + 1.0) / 2.0;
        let v = nrmse(&pred, &target, &[2, 1, 3, 1]).unwrap();
        assert!((v - expect).abs() < 1e-12, "{v} vs {expect}");
        let per = nrmse_per_sample(&pred, &target, &[2, 1, 3, 1]).unwrap();
        assert!((per[0] - (5.0f64 / 3.0).sqrt()).abs() < 1e-12 && (per[1] - 1.0).abs() < 1e-12);
        let r = rmse(&pred, &target, &[2, 1, 3, 1]).unwrap();
        assert!((r - ((5.0f64 / 3.0).sqrt() + (4.0f64 / 3.0).sqrt()) / 2.0).abs() < 1e-12);
    }

    #[test]
    fn channels_are_normalised_separately() {
        // One sample, one step, two points, two channels (channel last): c0 = [1, 1], c1 = [100, 100].
        let target = [1.0, 100.0, 1.0, 100.0];
        let pred = [1.1, 100.0, 1.1, 110.0];
        let v = nrmse_per_time_channel(&pred, &target, &[1, 1, 2, 2]).unwrap();
        assert!((v[0] - 0.1).abs() < 1e-6, "{v:?}");
        assert!((v[1] - (50.0f64).sqrt() / 100.0).abs() < 1e-6, "{v:?}");
    }

    #[test]
    fn wrong_lengths_are_errors() {
        let e = nrmse(&[1.0; 5], &[1.0; 6], &[2, 1, 3, 1])
            .unwrap_err()
            .to_string();
        assert!(e.contains("prediction") && e.contains("6 values"), "{e}");
        assert!(nrmse(&[1.0; 2], &[1.0; 2], &[2, 1]).is_err());
    }
}
