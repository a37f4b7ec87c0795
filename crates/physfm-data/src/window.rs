//! Windows of consecutive frames: what a model sees (history) and what it must predict
//! (horizon).

use crate::{CollectionMeta, DataError, Result, TrajectoryCollection, TrajectoryRecord};

/// How windows are cut from a trajectory of `T` frames: `history` input frames followed by
/// `horizon` target frames, with window starts `stride` frames apart.
///
/// ```
/// use physfm_data::WindowSpec;
/// let w = WindowSpec { history: 1, horizon: 1, stride: 1 };
/// assert_eq!(w.starts(4)?, vec![0, 1, 2]);
/// let w = WindowSpec { history: 2, horizon: 3, stride: 2 };
/// assert_eq!(w.starts(9)?, vec![0, 2, 4]);
/// assert!(w.starts(4).is_err()); // window longer than the trajectory
/// # Ok::<(), physfm_data::DataError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowSpec {
    /// Input frames.
    pub history: usize,
    /// Target frames.
    pub horizon: usize,
    /// Distance between window starts.
    pub stride: usize,
}

impl WindowSpec {
    /// Frames one window spans.
    pub fn span(&self) -> usize {
        self.history + self.horizon
    }

    /// Window start indices in a trajectory of `frames` frames.
    pub fn starts(&self, frames: usize) -> Result<Vec<usize>> {
        self.starts_spaced(frames, 1)
    }

    /// Window start indices when the frames of a window are up to `step` stored frames
    /// apart: a window then covers `(span - 1) * step + 1` frames, which must fit.
    pub fn starts_spaced(&self, frames: usize, step: usize) -> Result<Vec<usize>> {
        if self.history == 0 || self.horizon == 0 || self.stride == 0 || step == 0 {
            return Err(DataError::Shape {
                what: "window spec".into(),
                expected: "history, horizon, stride and frame step >= 1".into(),
                got: format!("{self:?}, frame step {step}"),
            });
        }
        let extent = (self.span() - 1) * step + 1;
        if extent > frames {
            return Err(DataError::Shape {
                what: "window".into(),
                expected: format!("at most {frames} frames (the trajectory length)"),
                got: format!(
                    "{extent} frames (history {} + horizon {}, frames up to {step} apart)",
                    self.history, self.horizon
                ),
            });
        }
        Ok((0..=frames - extent).step_by(self.stride).collect())
    }
}

/// One window: input and target frames with their times and the trajectory's parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct TrajectoryWindow {
    /// Input frames, `[history, *S, C]`.
    pub input: Vec<f32>,
    /// Target frames, `[horizon, *S, C]`.
    pub target: Vec<f32>,
    /// Times of the input frames.
    pub input_times: Vec<f64>,
    /// Times of the target frames.
    pub target_times: Vec<f64>,
    /// Parameters of the trajectory.
    pub params: Vec<f64>,
}

/// Where a window starts: trajectory and frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowIndex {
    /// Trajectory index.
    pub trajectory: usize,
    /// First frame.
    pub start: usize,
}

/// A collection read whole into memory, for datasets that fit (the quickstart's do).
#[derive(Debug, Clone)]
pub struct InMemoryCollection {
    /// Metadata of the source collection.
    pub meta: CollectionMeta,
    /// Coordinates per spatial axis.
    pub coordinates: Vec<Vec<f64>>,
    /// Every trajectory.
    pub records: Vec<TrajectoryRecord>,
}

impl InMemoryCollection {
    /// Reads the first `count` trajectories (all, if there are fewer) of any source.
    pub fn read_first(source: &dyn crate::TrajectorySource, count: usize) -> Result<Self> {
        let n = count.min(source.len());
        let records = (0..n)
            .map(|i| source.read_trajectory(i))
            .collect::<Result<_>>()?;
        let mut meta = source.meta().clone();
        meta.trajectories = n;
        Ok(Self {
            meta,
            coordinates: source.coordinates().to_vec(),
            records,
        })
    }

    /// Reads every trajectory of `collection`.
    pub fn load(collection: &TrajectoryCollection) -> Result<Self> {
        let records = (0..collection.len())
            .map(|i| collection.read_trajectory(i))
            .collect::<Result<_>>()?;
        Ok(Self {
            meta: collection.meta().clone(),
            coordinates: collection.coordinates().to_vec(),
            records,
        })
    }

    /// Every window of `spec` over every trajectory.
    pub fn windows(&self, spec: &WindowSpec) -> Result<Vec<WindowIndex>> {
        let starts = spec.starts(self.meta.frames)?;
        Ok((0..self.records.len())
            .flat_map(|trajectory| {
                starts
                    .iter()
                    .map(move |&start| WindowIndex { trajectory, start })
            })
            .collect())
    }

    /// The window of `spec` at `at`.
    pub fn window(&self, spec: &WindowSpec, at: WindowIndex) -> Result<TrajectoryWindow> {
        let rec = self
            .records
            .get(at.trajectory)
            .ok_or_else(|| DataError::Index {
                what: "trajectory".into(),
                index: at.trajectory,
                len: self.records.len(),
            })?;
        if at.start + spec.span() > self.meta.frames {
            return Err(DataError::Shape {
                what: format!("window of trajectory {}", at.trajectory),
                expected: format!("frames within 0..{}", self.meta.frames),
                got: format!("{}..{}", at.start, at.start + spec.span()),
            });
        }
        let fl = self.meta.frame_len();
        let mid = at.start + spec.history;
        let end = mid + spec.horizon;
        Ok(TrajectoryWindow {
            input: rec.fields[at.start * fl..mid * fl].to_vec(),
            target: rec.fields[mid * fl..end * fl].to_vec(),
            input_times: rec.times[at.start..mid].to_vec(),
            target_times: rec.times[mid..end].to_vec(),
            params: rec.params.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn window_starts_stay_inside_the_trajectory(h in 1usize..5, f in 1usize..5, s in 1usize..4, t in 1usize..40) {
            let w = WindowSpec { history: h, horizon: f, stride: s };
            match w.starts(t) {
                Ok(starts) => {
                    prop_assert!(h + f <= t);
                    prop_assert_eq!(starts.len(), (t - h - f) / s + 1);
                    for st in starts { prop_assert!(st + h + f <= t); }
                }
                Err(_) => prop_assert!(h + f > t),
            }
        }
    }
}
