//! Per-channel normalisation statistics, computed in one streaming pass.
//!
//! Each trajectory is reduced to per-channel count, mean, sum of squared deviations, minimum
//! and maximum (Welford's update in f64), and the partial results are merged with Chan et
//! al.'s pairwise formula, so the result does not depend on how the trajectories were split
//! among threads beyond rounding, and only one trajectory per thread is in memory at a time.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::source::TrajectorySource;
use crate::{DataError, Result};

/// Running moments of one channel.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Moments {
    /// Values seen.
    pub count: u64,
    /// Their mean.
    pub mean: f64,
    /// Sum of squared deviations from the mean.
    pub m2: f64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
}

impl Default for Moments {
    fn default() -> Self {
        Self {
            count: 0,
            mean: 0.0,
            m2: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        }
    }
}

impl Moments {
    /// Adds one value (Welford).
    pub fn push(&mut self, x: f64) {
        self.count += 1;
        let d = x - self.mean;
        self.mean += d / self.count as f64;
        self.m2 += d * (x - self.mean);
        self.min = self.min.min(x);
        self.max = self.max.max(x);
    }

    /// Merges another set of moments into this one (Chan et al.).
    pub fn merge(&mut self, o: &Moments) {
        if o.count == 0 {
            return;
        }
        if self.count == 0 {
            *self = *o;
            return;
        }
        let n = (self.count + o.count) as f64;
        let d = o.mean - self.mean;
        self.mean += d * o.count as f64 / n;
        self.m2 += o.m2 + d * d * self.count as f64 * o.count as f64 / n;
        self.count += o.count;
        self.min = self.min.min(o.min);
        self.max = self.max.max(o.max);
    }

    /// Population standard deviation.
    pub fn std(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            (self.m2 / self.count as f64).sqrt()
        }
    }
}

/// Statistics of one channel, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelStat {
    /// Channel name.
    pub name: String,
    /// Values seen.
    pub count: u64,
    /// Mean.
    pub mean: f64,
    /// Population standard deviation.
    pub std: f64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
}

/// Per-channel statistics of a collection (or of a subset of its trajectories).
///
/// ```
/// use physfm_data::{ChannelStats, Moments};
/// let mut m = Moments::default();
/// for x in [1.0, 2.0, 3.0, 4.0] { m.push(x); }
/// let s = ChannelStats::from_moments(&["u".to_string()], &[m], 4);
/// assert_eq!(s.channel[0].mean, 2.5);
/// assert!((s.channel[0].std - 1.25f64.sqrt()).abs() < 1e-15);
/// let mut x = [1.0f32, 4.0];
/// s.normalise(&mut x);
/// assert!((x[0] as f64 - (1.0 - 2.5) / 1.25f64.sqrt()).abs() < 1e-6);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelStats {
    /// One entry per channel, in channel order.
    pub channel: Vec<ChannelStat>,
    /// Trajectories the statistics were computed over.
    pub trajectories: usize,
}

impl ChannelStats {
    /// Final statistics from accumulated moments.
    pub fn from_moments(names: &[String], moments: &[Moments], trajectories: usize) -> Self {
        Self {
            channel: names
                .iter()
                .zip(moments)
                .map(|(name, m)| ChannelStat {
                    name: name.clone(),
                    count: m.count,
                    mean: m.mean,
                    std: m.std(),
                    min: m.min,
                    max: m.max,
                })
                .collect(),
            trajectories,
        }
    }

    /// Number of channels.
    pub fn channels(&self) -> usize {
        self.channel.len()
    }

    /// Scales channel-last values in place to zero mean and unit standard deviation per
    /// channel (a channel with zero spread is only centred).
    pub fn normalise(&self, values: &mut [f32]) {
        let c = self.channel.len();
        let (mean, inv): (Vec<f32>, Vec<f32>) = self
            .channel
            .iter()
            .map(|s| {
                let inv = if s.std > 0.0 { 1.0 / s.std } else { 1.0 };
                (s.mean as f32, inv as f32)
            })
            .unzip();
        for (i, v) in values.iter_mut().enumerate() {
            let k = i % c;
            *v = (*v - mean[k]) * inv[k];
        }
    }

    /// Undoes [`normalise`](Self::normalise).
    pub fn denormalise(&self, values: &mut [f32]) {
        let c = self.channel.len();
        for (i, v) in values.iter_mut().enumerate() {
            let s = &self.channel[i % c];
            let scale = if s.std > 0.0 { s.std } else { 1.0 };
            *v = (*v as f64 * scale + s.mean) as f32;
        }
    }
}

/// Per-channel moments of channel-last `values` with `channels` channels.
pub fn channel_moments(values: &[f32], channels: usize) -> Vec<Moments> {
    let mut m = vec![Moments::default(); channels];
    for frame in values.chunks_exact(channels) {
        for (acc, &v) in m.iter_mut().zip(frame) {
            acc.push(v as f64);
        }
    }
    m
}

/// Computes per-channel statistics over the trajectories `indices` of `source` (all of them
/// when `None`) in one pass, reading one trajectory per worker thread at a time. `progress`
/// is called once per trajectory read.
pub fn compute_stats(
    source: &dyn TrajectorySource,
    indices: Option<&[usize]>,
    progress: &(dyn Fn() + Sync),
) -> Result<ChannelStats> {
    let meta = source.meta();
    let c = meta.channel_names.len();
    let all: Vec<usize>;
    let indices = match indices {
        Some(i) => i,
        None => {
            all = (0..source.len()).collect();
            &all
        }
    };
    if indices.is_empty() {
        return Err(DataError::Config {
            what: "statistics".into(),
            message: "no trajectories to compute them over".into(),
        });
    }
    let moments = indices
        .par_iter()
        .map(|&i| {
            let rec = source.read_trajectory(i)?;
            progress();
            Ok(channel_moments(&rec.fields, c))
        })
        .try_reduce(
            || vec![Moments::default(); c],
            |mut a, b| {
                for (x, y) in a.iter_mut().zip(&b) {
                    x.merge(y);
                }
                Ok(a)
            },
        )?;
    Ok(ChannelStats::from_moments(
        &meta.channel_names,
        &moments,
        indices.len(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn merged_moments_equal_one_pass(xs in proptest::collection::vec(-1e3f64..1e3, 1..200), cut in 0usize..200) {
            let cut = cut.min(xs.len());
            let mut whole = Moments::default();
            xs.iter().for_each(|&x| whole.push(x));
            let (mut a, mut b) = (Moments::default(), Moments::default());
            xs[..cut].iter().for_each(|&x| a.push(x));
            xs[cut..].iter().for_each(|&x| b.push(x));
            a.merge(&b);
            let n = xs.len() as f64;
            let mean = xs.iter().sum::<f64>() / n;
            let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
            prop_assert_eq!(a.count, whole.count);
            prop_assert!((a.mean - mean).abs() <= 1e-9 * (1.0 + mean.abs()));
            prop_assert!((a.std() - var.sqrt()).abs() <= 1e-7 * (1.0 + var.sqrt()));
            prop_assert_eq!(a.min, whole.min);
            prop_assert_eq!(a.max, whole.max);
        }
    }
}
