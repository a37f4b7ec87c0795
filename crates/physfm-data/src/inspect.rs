//! A summary of any trajectory source: what `cargo xtask data inspect` prints.

use serde::Serialize;

use crate::source::TrajectorySource;
use crate::stats::ChannelStats;
use crate::{CollectionMeta, Result};

/// Range of one parameter over the trajectories.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ParamSummary {
    /// Parameter name.
    pub name: String,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    /// Number of distinct values.
    pub distinct: usize,
}

/// Time sampling of the trajectories.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimeSummary {
    /// Earliest save time.
    pub start: f64,
    /// Latest save time.
    pub end: f64,
    /// Smallest gap between consecutive frames.
    pub min_dt: f64,
    /// Largest gap between consecutive frames.
    pub max_dt: f64,
    /// Whether every trajectory is sampled at the same, evenly spaced times (relative
    /// tolerance 1e-6 of the gap).
    pub regular: bool,
    /// Whether every trajectory has the same times.
    pub shared: bool,
}

/// What a source holds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// Path or URL.
    pub location: String,
    /// The layout it was read as.
    pub format: String,
    /// The metadata.
    pub meta: CollectionMeta,
    /// Shape of the field data, `[N, T, *S, C]`.
    pub shape: Vec<usize>,
    /// Parameter ranges.
    pub params: Vec<ParamSummary>,
    /// Time sampling.
    pub time: TimeSummary,
    /// Per-channel statistics, when stored or computed.
    pub stats: Option<ChannelStats>,
}

/// Summarises `source` (read as `format`), reading every trajectory's parameters and times
/// but no fields; `stats` is reported as given.
pub fn inspect(
    source: &dyn TrajectorySource,
    format: &str,
    stats: Option<ChannelStats>,
) -> Result<Summary> {
    let meta = source.meta().clone();
    let n = source.len();
    let mut params: Vec<Vec<f64>> = vec![Vec::with_capacity(n); meta.param_names.len()];
    let (mut start, mut end) = (f64::INFINITY, f64::NEG_INFINITY);
    let (mut min_dt, mut max_dt) = (f64::INFINITY, f64::NEG_INFINITY);
    let mut regular = true;
    let mut first: Option<Vec<f64>> = None;
    let mut shared = true;
    for i in 0..n {
        for (col, v) in params.iter_mut().zip(source.read_params(i)?) {
            col.push(v);
        }
        let t = source.read_times(i)?;
        start = start.min(t[0]);
        end = end.max(*t.last().expect("frames >= 1"));
        let gaps: Vec<f64> = t.windows(2).map(|w| w[1] - w[0]).collect();
        if let (Some(lo), Some(hi)) = (
            gaps.iter().copied().reduce(f64::min),
            gaps.iter().copied().reduce(f64::max),
        ) {
            min_dt = min_dt.min(lo);
            max_dt = max_dt.max(hi);
            if hi - lo > 1e-6 * hi.abs() {
                regular = false;
            }
        }
        match &first {
            None => first = Some(t),
            Some(f) => shared &= *f == t,
        }
    }
    if !shared {
        regular = false;
    }
    if !min_dt.is_finite() {
        (min_dt, max_dt) = (0.0, 0.0);
    }
    let params = meta
        .param_names
        .iter()
        .zip(params)
        .map(|(name, mut v)| {
            v.sort_by(f64::total_cmp);
            let (min, max) = (v[0], v[v.len() - 1]);
            v.dedup();
            ParamSummary {
                name: name.clone(),
                min,
                max,
                distinct: v.len(),
            }
        })
        .collect();
    let mut shape = vec![n, meta.frames];
    shape.extend(&meta.spatial_shape);
    shape.push(meta.channel_names.len());
    Ok(Summary {
        location: source.location().display().to_string(),
        format: format.into(),
        meta,
        shape,
        params,
        time: TimeSummary {
            start,
            end,
            min_dt,
            max_dt,
            regular,
            shared,
        },
        stats,
    })
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let m = &self.meta;
        writeln!(f, "{} ({})", self.location, self.format)?;
        writeln!(f, "  dataset     {}", m.name)?;
        writeln!(
            f,
            "  fields      {:?} = [trajectory, time, {}channel]",
            self.shape,
            m.axis_names
                .iter()
                .map(|a| format!("{a}, "))
                .collect::<String>()
        )?;
        writeln!(f, "  channels    {}", m.channel_names.join(", "))?;
        for ((a, n), (l, b)) in m
            .axis_names
            .iter()
            .zip(&m.spatial_shape)
            .zip(m.domain_lengths.iter().zip(&m.boundary))
        {
            writeln!(f, "  axis {a:<6} {n} points, length {l}, boundary {b}")?;
        }
        let t = &self.time;
        writeln!(
            f,
            "  time        {} frames in [{}, {}], {} (dt {}{})",
            m.frames,
            t.start,
            t.end,
            if t.regular {
                "regular"
            } else if t.shared {
                "irregular, shared by all trajectories"
            } else {
                "irregular, per trajectory"
            },
            t.min_dt,
            if t.regular {
                String::new()
            } else {
                format!(" to {}", t.max_dt)
            }
        )?;
        if self.params.is_empty() {
            writeln!(f, "  parameters  none")?;
        }
        for p in &self.params {
            writeln!(
                f,
                "  parameter   {:<10} [{}, {}], {} distinct value{}",
                p.name,
                p.min,
                p.max,
                p.distinct,
                if p.distinct == 1 { "" } else { "s" }
            )?;
        }
        writeln!(f, "  generator   {} (seed {})", m.generator, m.seed)?;
        match &self.stats {
            None => writeln!(f, "  statistics  none stored (compute them with --stats)")?,
            Some(s) => {
                for c in &s.channel {
                    writeln!(
                        f,
                        "  stats {:<6} mean {:.6e}  std {:.6e}  min {:.6e}  max {:.6e}",
                        c.name, c.mean, c.std, c.min, c.max
                    )?;
                }
            }
        }
        Ok(())
    }
}
