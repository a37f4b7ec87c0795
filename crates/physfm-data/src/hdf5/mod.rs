//! Readers for the HDF5 layouts of PDEBench and The Well (feature `hdf5`, which needs the
//! system HDF5 library: Debian's `libhdf5-dev`).
//!
//! [`open`] detects the layout of a file and returns a [`TrajectorySource`] that reads one
//! trajectory (or a window of frames) at a time with HDF5 hyperslab selections, so files far
//! larger than memory can be converted or sampled directly:
//!
//! | layout | detected by | read as |
//! | --- | --- | --- |
//! | PDEBench 1D single tensor | a root dataset `tensor` `[N, T, X]`, `x-coordinate`, `t-coordinate` | one channel `u`; parameters from the file name (`Nu0.01`, `Beta0.4`, `Rho1.0`, ...) |
//! | PDEBench per-sample groups | root groups `0000`, `0001`, ... each with `data` `[T, *S, C]` and `grid/{x,y,t}` | `C` channels |
//! | PDEBench CFD | root datasets `density`, `pressure`, `Vx`(, `Vy`, `Vz`) `[N, T, *S]` | channels `density, pressure, Vx, Vy, Vz` (those present); `Eta`, `Zeta`, `M` parameters from the file name |
//! | The Well | groups `t0_fields`, `t1_fields`, `t2_fields`, `dimensions`, `boundary_conditions` | scalar fields as one channel each, vector fields as `name_x, name_y, ...`, tensor fields as `name_xx, name_xy, ...`; parameters from the root attributes named in `simulation_parameters` |
//!
//! Every reader checks ranks, dtypes (floating point only) and shapes against one another
//! when the file is opened, and refuses non-finite values when it reads; errors name the file
//! and the HDF5 object.

/// Implements [`TrajectorySource`] for a reader with fields `path`, `meta`, `coords` and
/// `params` (one parameter vector for the whole file) and two methods called with an index
/// and window already checked: `frame_times(index)` (all `T` save times) and
/// `frame_fields(index, start, len)` (the window's fields, checked for NaN).
macro_rules! hdf5_source {
    ($reader:ty) => {
        impl $crate::source::TrajectorySource for $reader {
            fn meta(&self) -> &$crate::CollectionMeta {
                &self.meta
            }

            fn coordinates(&self) -> &[Vec<f64>] {
                &self.coords
            }

            fn location(&self) -> &std::path::Path {
                &self.path
            }

            fn read_params(&self, index: usize) -> $crate::Result<Vec<f64>> {
                let t = self.meta.frames;
                super::check_window(&self.path, index, self.meta.trajectories, 0, t, t)?;
                Ok(self.params.clone())
            }

            fn read_times(&self, index: usize) -> $crate::Result<Vec<f64>> {
                let t = self.meta.frames;
                super::check_window(&self.path, index, self.meta.trajectories, 0, t, t)?;
                self.frame_times(index)
            }

            fn read_frames(
                &self,
                index: usize,
                start: usize,
                len: usize,
            ) -> $crate::Result<$crate::TrajectoryRecord> {
                let m = &self.meta;
                super::check_window(&self.path, index, m.trajectories, start, len, m.frames)?;
                let fields = self.frame_fields(index, start, len)?;
                let times = self.frame_times(index)?;
                Ok($crate::TrajectoryRecord {
                    fields,
                    times: times[start..start + len].to_vec(),
                    params: self.params.clone(),
                })
            }
        }
    };
}

mod pdebench;
mod well;

use std::path::{Path, PathBuf};

use ::hdf5 as h5;

pub use pdebench::{PdebenchCfd, PdebenchPerSample, PdebenchSingleTensor};
pub use well::TheWell;

use crate::source::TrajectorySource;
use crate::{DataError, Result};

/// The HDF5 layouts this module reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// PDEBench's 1D files: one dataset `tensor`.
    PdebenchSingleTensor,
    /// PDEBench's 2D diffusion-reaction and shallow-water files: one group per sample.
    PdebenchPerSample,
    /// PDEBench's compressible-flow (CFD) files: one dataset per field.
    PdebenchCfd,
    /// The Well's schema.
    TheWell,
}

impl Layout {
    /// A short name, as `data inspect` prints it.
    pub fn name(self) -> &'static str {
        match self {
            Layout::PdebenchSingleTensor => "PDEBench HDF5, single-tensor layout",
            Layout::PdebenchPerSample => "PDEBench HDF5, per-sample groups",
            Layout::PdebenchCfd => "PDEBench HDF5, multi-field CFD layout",
            Layout::TheWell => "The Well HDF5",
        }
    }
}

/// Detects the layout of the HDF5 file at `path`.
pub fn detect(path: &Path) -> Result<Layout> {
    let file = open_file(path)?;
    let names = file.member_names().map_err(|e| err(path, "/", e))?;
    let has = |n: &str| names.iter().any(|m| m == n);
    if has("t0_fields") || has("t1_fields") || has("t2_fields") {
        Ok(Layout::TheWell)
    } else if has("tensor") {
        Ok(Layout::PdebenchSingleTensor)
    } else if has("density") || has("Vx") {
        Ok(Layout::PdebenchCfd)
    } else if !names.is_empty() && names.iter().all(|n| n.chars().all(|c| c.is_ascii_digit())) {
        Ok(Layout::PdebenchPerSample)
    } else {
        Err(DataError::Hdf5 {
            path: path.to_path_buf(),
            object: "/".into(),
            message: format!(
                "not a PDEBench or The Well layout (root members: {:?})",
                names.iter().take(12).collect::<Vec<_>>()
            ),
        })
    }
}

/// Opens the HDF5 file at `path` with the reader for its layout.
pub fn open(path: &Path) -> Result<(Box<dyn TrajectorySource>, Layout)> {
    let layout = detect(path)?;
    let source: Box<dyn TrajectorySource> = match layout {
        Layout::PdebenchSingleTensor => Box::new(PdebenchSingleTensor::open(path)?),
        Layout::PdebenchPerSample => Box::new(PdebenchPerSample::open(path)?),
        Layout::PdebenchCfd => Box::new(PdebenchCfd::open(path)?),
        Layout::TheWell => Box::new(TheWell::open(path)?),
    };
    Ok((source, layout))
}

pub(crate) fn err(path: &Path, object: &str, e: impl std::fmt::Display) -> DataError {
    DataError::Hdf5 {
        path: path.to_path_buf(),
        object: object.into(),
        message: e.to_string(),
    }
}

pub(crate) fn open_file(path: &Path) -> Result<h5::File> {
    if !path.is_file() {
        return Err(err(path, "/", "no such file"));
    }
    h5::File::open(path).map_err(|e| err(path, "/", format!("cannot open: {e}")))
}

/// A floating-point dataset, checked for rank.
pub(crate) fn float_dataset(
    path: &Path,
    group: &h5::Group,
    name: &str,
    rank: Option<usize>,
) -> Result<h5::Dataset> {
    let object = format!("{}/{name}", group.name().trim_end_matches('/'));
    let ds = group
        .dataset(name)
        .map_err(|e| err(path, &object, format!("missing dataset: {e}")))?;
    let dtype = ds
        .dtype()
        .and_then(|t| t.to_descriptor())
        .map_err(|e| err(path, &object, e))?;
    if !matches!(dtype, h5::types::TypeDescriptor::Float(_)) {
        return Err(err(
            path,
            &object,
            format!("dtype {dtype:?}, expected a floating-point type"),
        ));
    }
    if let Some(r) = rank
        && ds.ndim() != r
    {
        return Err(err(
            path,
            &object,
            format!(
                "rank {} (shape {:?}), expected rank {r}",
                ds.ndim(),
                ds.shape()
            ),
        ));
    }
    Ok(ds)
}

/// Reads a hyperslab of a floating-point dataset as f32, in C order.
pub(crate) fn read_f32(
    path: &Path,
    ds: &h5::Dataset,
    slab: Vec<h5::SliceOrIndex>,
) -> Result<Vec<f32>> {
    let a = ds
        .read_slice::<f32, _, ndarray::IxDyn>(h5::Hyperslab::from(slab))
        .map_err(|e| err(path, &ds.name(), e))?;
    Ok(a.iter().copied().collect())
}

/// Reads a whole 1D coordinate dataset as f64.
pub(crate) fn read_coord(path: &Path, group: &h5::Group, name: &str) -> Result<Vec<f64>> {
    let ds = float_dataset(path, group, name, Some(1))?;
    read_small(path, &ds)
}

/// Largest coordinate or time array read whole (2^26 values); larger ones come from
/// corrupt headers.
pub(crate) const MAX_SMALL: usize = 1 << 26;

/// Reads a small floating-point dataset whole, refusing implausible sizes before
/// allocating.
pub(crate) fn read_small(path: &Path, ds: &h5::Dataset) -> Result<Vec<f64>> {
    if ds.size() > MAX_SMALL {
        return Err(err(
            path,
            &ds.name(),
            format!(
                "{} values (shape {:?}) for a coordinate array: corrupt file?",
                ds.size(),
                ds.shape()
            ),
        ));
    }
    ds.read_raw::<f64>().map_err(|e| err(path, &ds.name(), e))
}

/// Domain length of an axis from its cell-centred (or nodal periodic) coordinates:
/// `n * dx` with `dx` the mean spacing; 1 for a single point.
pub(crate) fn domain_length(c: &[f64]) -> f64 {
    if c.len() < 2 {
        return 1.0;
    }
    (c[c.len() - 1] - c[0]) / (c.len() - 1) as f64 * c.len() as f64
}

/// Parameters encoded in a PDEBench file name: tokens such as `Nu0.01`, `Beta0.4`, `Rho1.0`,
/// `Eta0.01`, `M0.1`, between `_` separators, give `(nu, 0.01)` and so on.
pub(crate) fn params_from_file_name(path: &Path) -> Vec<(String, f64)> {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut out: Vec<(String, f64)> = Vec::new();
    for token in stem.split('_') {
        let split = token
            .char_indices()
            .find(|(_, c)| c.is_ascii_digit() || *c == '.' || *c == '-')
            .map(|(i, _)| i);
        let Some(i) = split else { continue };
        if i == 0 {
            continue;
        }
        let (name, value) = token.split_at(i);
        if !name.chars().all(|c| c.is_ascii_alphabetic()) {
            continue;
        }
        if let Ok(v) = value.parse::<f64>()
            && v.is_finite()
            && !out.iter().any(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            out.push((name.to_ascii_lowercase(), v));
        }
    }
    out
}

/// Checks `values` for NaN and infinities.
pub(crate) fn ensure_finite(path: &Path, array: &str, index: usize, values: &[f32]) -> Result<()> {
    if values.iter().all(|v| v.is_finite()) {
        Ok(())
    } else {
        Err(DataError::NonFinite {
            path: PathBuf::from(path),
            array: array.into(),
            index,
        })
    }
}

/// Checks a frame window against the number of frames.
pub(crate) fn check_window(
    path: &Path,
    index: usize,
    n: usize,
    start: usize,
    len: usize,
    frames: usize,
) -> Result<()> {
    if index >= n {
        return Err(DataError::Index {
            what: format!("{}: trajectory", path.display()),
            index,
            len: n,
        });
    }
    if len == 0 || start + len > frames {
        return Err(DataError::Shape {
            what: format!("{}: frame window of trajectory {index}", path.display()),
            expected: format!("within 0..{frames}"),
            got: format!("{start}..{}", start + len),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_name_parameters() {
        let p = params_from_file_name(Path::new("/d/1D_Burgers_Sols_Nu0.001.hdf5"));
        assert_eq!(p, vec![("nu".to_string(), 0.001)]);
        let p = params_from_file_name(Path::new("ReacDiff_Nu0.5_Rho10.0.hdf5"));
        assert_eq!(p, vec![("nu".into(), 0.5), ("rho".into(), 10.0)]);
        let p = params_from_file_name(Path::new(
            "2D_CFD_Rand_M0.1_Eta1e-08_Zeta1e-08_periodic_512_Train.hdf5",
        ));
        assert_eq!(
            p,
            vec![
                ("m".into(), 0.1),
                ("eta".into(), 1e-8),
                ("zeta".into(), 1e-8)
            ]
        );
        assert!(params_from_file_name(Path::new("2D_diff-react_NA_NA.h5")).is_empty());
    }

    #[test]
    fn domain_lengths() {
        let x: Vec<f64> = (0..4).map(|i| (i as f64 + 0.5) / 4.0).collect();
        assert!((domain_length(&x) - 1.0).abs() < 1e-15);
    }
}
