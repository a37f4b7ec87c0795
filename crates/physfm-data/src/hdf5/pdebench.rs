//! PDEBench's three HDF5 layouts.

use std::path::{Path, PathBuf};

use ::hdf5 as h5;
use h5::SliceOrIndex as S;

use super::{
    domain_length, ensure_finite, err, float_dataset, open_file, params_from_file_name, read_coord,
    read_f32,
};
use physfm_pde::Boundary;

use crate::{AxisBoundary, CollectionMeta, DataError, FORMAT_VERSION, Result};

const AXES: [&str; 3] = ["x", "y", "z"];

/// Longest spatial axis accepted (2^26 points); longer ones come from corrupt headers.
const MAX_AXIS: usize = 1 << 26;

/// Metadata shared by the PDEBench readers.
fn meta_for(
    path: &Path,
    layout: &str,
    channels: Vec<String>,
    coords: &[Vec<f64>],
    (frames, trajectories): (usize, usize),
    boundary: AxisBoundary,
    params: &[(String, f64)],
) -> Result<CollectionMeta> {
    let meta = CollectionMeta {
        format_version: FORMAT_VERSION,
        name: path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "pdebench".into()),
        channel_names: channels,
        param_names: params.iter().map(|(n, _)| n.clone()).collect(),
        axis_names: AXES[..coords.len()].iter().map(|s| s.to_string()).collect(),
        spatial_shape: coords.iter().map(Vec::len).collect(),
        domain_lengths: coords.iter().map(|c| domain_length(c)).collect(),
        boundary: vec![boundary; coords.len()],
        frames,
        trajectories,
        generator: "PDEBench (read by physfm-data)".into(),
        seed: 0,
        provenance: serde_json::json!({
            "source_file": path.display().to_string(),
            "layout": layout,
            "parameters_from": "file name",
        }),
    };
    meta.validate(path)?;
    Ok(meta)
}

/// The boundary condition a PDEBench file name states, if any.
fn boundary_from_name(path: &Path, default: AxisBoundary) -> AxisBoundary {
    let name = path.to_string_lossy().to_ascii_lowercase();
    if name.contains("periodic") {
        Boundary::Periodic.into()
    } else if name.contains("trans") {
        AxisBoundary::Open
    } else {
        default
    }
}

/// Save times from a `t-coordinate` dataset, which PDEBench stores with `T` or `T + 1`
/// entries (the 1D files hold one more time than frames; the first `T` are the frame times).
fn frame_times(path: &Path, group: &h5::Group, name: &str, frames: usize) -> Result<Vec<f64>> {
    if !group.link_exists(name) {
        return Ok((0..frames).map(|k| k as f64).collect());
    }
    let t = read_coord(path, group, name)?;
    if t.len() != frames && t.len() != frames + 1 {
        return Err(err(
            path,
            name,
            format!(
                "{} times for {frames} frames (expected {frames} or {})",
                t.len(),
                frames + 1
            ),
        ));
    }
    Ok(t[..frames].to_vec())
}

fn spatial_coords(
    path: &Path,
    group: &h5::Group,
    names: &[String],
    shape: &[usize],
) -> Result<Vec<Vec<f64>>> {
    names
        .iter()
        .zip(shape)
        .map(|(name, &n)| {
            if n > MAX_AXIS {
                return Err(err(
                    path,
                    name,
                    format!("an axis of {n} points: corrupt file?"),
                ));
            }
            let c = if group.link_exists(name) {
                read_coord(path, group, name)?
            } else {
                (0..n).map(|i| (i as f64 + 0.5) / n as f64).collect()
            };
            if c.len() != n {
                return Err(err(
                    path,
                    name,
                    format!("{} coordinates for an axis of {n} points", c.len()),
                ));
            }
            Ok(c)
        })
        .collect()
}

/// PDEBench's 1D layout: a dataset `tensor` `[N, T, *S]` (1 to 3 spatial axes), with
/// `x-coordinate` (`y-`, `z-`) and `t-coordinate`.
#[derive(Debug)]
pub struct PdebenchSingleTensor {
    path: PathBuf,
    tensor: h5::Dataset,
    meta: CollectionMeta,
    coords: Vec<Vec<f64>>,
    times: Vec<f64>,
    params: Vec<f64>,
}

impl PdebenchSingleTensor {
    /// Opens `path` and checks its layout.
    pub fn open(path: &Path) -> Result<Self> {
        let file = open_file(path)?;
        let tensor = float_dataset(path, &file, "tensor", None)?;
        let shape = tensor.shape();
        if !(3..=5).contains(&shape.len()) {
            return Err(err(
                path,
                "/tensor",
                format!("shape {shape:?}: expected [N, T, X(, Y(, Z))]"),
            ));
        }
        let (n, t, space) = (shape[0], shape[1], &shape[2..]);
        let names: Vec<String> = AXES[..space.len()]
            .iter()
            .map(|a| format!("{a}-coordinate"))
            .collect();
        let coords = spatial_coords(path, &file, &names, space)?;
        let times = frame_times(path, &file, "t-coordinate", t)?;
        let p = params_from_file_name(path);
        let meta = meta_for(
            path,
            "pdebench-single-tensor",
            vec!["u".into()],
            &coords,
            (t, n),
            boundary_from_name(path, Boundary::Periodic.into()),
            &p,
        )?;
        Ok(Self {
            path: path.to_path_buf(),
            tensor,
            meta,
            coords,
            times,
            params: p.iter().map(|(_, v)| *v).collect(),
        })
    }
}

impl PdebenchSingleTensor {
    fn frame_times(&self, _index: usize) -> Result<Vec<f64>> {
        Ok(self.times.clone())
    }

    fn frame_fields(&self, index: usize, start: usize, len: usize) -> Result<Vec<f32>> {
        let mut slab = vec![S::from(index), S::from(start..start + len)];
        slab.extend(self.meta.spatial_shape.iter().map(|_| S::from(..)));
        let fields = read_f32(&self.path, &self.tensor, slab)?;
        ensure_finite(&self.path, "tensor", index, &fields)?;
        Ok(fields)
    }
}

hdf5_source!(PdebenchSingleTensor);

/// PDEBench's per-sample layout: groups `0000`, `0001`, ... each holding `data`
/// `[T, *S, C]` and `grid/x` (`grid/y`, `grid/z`) and `grid/t`.
#[derive(Debug)]
pub struct PdebenchPerSample {
    path: PathBuf,
    file: h5::File,
    groups: Vec<String>,
    meta: CollectionMeta,
    coords: Vec<Vec<f64>>,
    params: Vec<f64>,
}

impl PdebenchPerSample {
    /// Opens `path` and checks that every sample has the same shape.
    pub fn open(path: &Path) -> Result<Self> {
        let file = open_file(path)?;
        let mut groups = file.member_names().map_err(|e| err(path, "/", e))?;
        groups.sort();
        let first = groups
            .first()
            .ok_or_else(|| err(path, "/", "no sample groups"))?
            .clone();
        let g0 = file.group(&first).map_err(|e| err(path, &first, e))?;
        let d0 = float_dataset(path, &g0, "data", None)?;
        let shape = d0.shape();
        if !(3..=5).contains(&shape.len()) {
            return Err(err(
                path,
                &format!("{first}/data"),
                format!("shape {shape:?}: expected [T, X(, Y(, Z)), C]"),
            ));
        }
        for name in &groups {
            let g = file.group(name).map_err(|e| err(path, name, e))?;
            let d = float_dataset(path, &g, "data", Some(shape.len()))?;
            if d.shape() != shape {
                return Err(DataError::Shape {
                    what: format!("{}: {name}/data", path.display()),
                    expected: format!("{shape:?} (the shape of {first}/data)"),
                    got: format!("{:?}", d.shape()),
                });
            }
        }
        let (t, space, c) = (shape[0], &shape[1..shape.len() - 1], shape[shape.len() - 1]);
        let grid = g0
            .group("grid")
            .map_err(|e| err(path, &format!("{first}/grid"), e))?;
        let names: Vec<String> = AXES[..space.len()].iter().map(|s| s.to_string()).collect();
        let coords = spatial_coords(path, &grid, &names, space)?;
        let lower = path.to_string_lossy().to_ascii_lowercase();
        let channels: Vec<String> = if lower.contains("diff-react") && c == 2 {
            vec!["u".into(), "v".into()]
        } else if lower.contains("rdb") && c == 1 {
            vec!["h".into()]
        } else {
            (0..c).map(|k| format!("c{k}")).collect()
        };
        let boundary = if lower.contains("diff-react") {
            Boundary::Neumann.into()
        } else if lower.contains("rdb") {
            Boundary::Wall.into()
        } else {
            AxisBoundary::Unknown
        };
        let p = params_from_file_name(path);
        let meta = meta_for(
            path,
            "pdebench-per-sample",
            channels,
            &coords,
            (t, groups.len()),
            boundary,
            &p,
        )?;
        Ok(Self {
            path: path.to_path_buf(),
            file,
            groups,
            meta,
            coords,
            params: p.iter().map(|(_, v)| *v).collect(),
        })
    }

    fn group(&self, index: usize) -> Result<h5::Group> {
        let name = &self.groups[index];
        self.file.group(name).map_err(|e| err(&self.path, name, e))
    }
}

impl PdebenchPerSample {
    fn frame_times(&self, index: usize) -> Result<Vec<f64>> {
        let g = self.group(index)?;
        let grid = g
            .group("grid")
            .map_err(|e| err(&self.path, &format!("{}/grid", self.groups[index]), e))?;
        frame_times(&self.path, &grid, "t", self.meta.frames)
    }

    fn frame_fields(&self, index: usize, start: usize, len: usize) -> Result<Vec<f32>> {
        let m = &self.meta;
        let g = self.group(index)?;
        let data = float_dataset(&self.path, &g, "data", Some(m.spatial_shape.len() + 2))?;
        let mut slab = vec![S::from(start..start + len)];
        slab.extend(m.spatial_shape.iter().map(|_| S::from(..)));
        slab.push(S::from(..));
        let fields = read_f32(&self.path, &data, slab)?;
        let array = format!("{}/data", self.groups[index]);
        ensure_finite(&self.path, &array, index, &fields)?;
        Ok(fields)
    }
}

hdf5_source!(PdebenchPerSample);

/// PDEBench's compressible-flow layout: datasets `density`, `pressure`, `Vx` (`Vy`, `Vz`),
/// each `[N, T, *S]`, with `x-coordinate` (...) and `t-coordinate`.
#[derive(Debug)]
pub struct PdebenchCfd {
    path: PathBuf,
    fields: Vec<h5::Dataset>,
    meta: CollectionMeta,
    coords: Vec<Vec<f64>>,
    times: Vec<f64>,
    params: Vec<f64>,
}

impl PdebenchCfd {
    /// Opens `path` and checks that the fields agree in shape.
    pub fn open(path: &Path) -> Result<Self> {
        let file = open_file(path)?;
        let names: Vec<&str> = ["density", "pressure", "Vx", "Vy", "Vz"]
            .into_iter()
            .filter(|n| file.link_exists(n))
            .collect();
        if names.is_empty() {
            return Err(err(
                path,
                "/",
                "no CFD field (density, pressure, Vx, Vy, Vz)",
            ));
        }
        let fields: Vec<h5::Dataset> = names
            .iter()
            .map(|n| float_dataset(path, &file, n, None))
            .collect::<Result<_>>()?;
        let shape = fields[0].shape();
        if !(3..=5).contains(&shape.len()) {
            return Err(err(
                path,
                names[0],
                format!("shape {shape:?}: expected [N, T, X(, Y(, Z))]"),
            ));
        }
        for (n, f) in names.iter().zip(&fields) {
            if f.shape() != shape {
                return Err(DataError::Shape {
                    what: format!("{}: dataset {n}", path.display()),
                    expected: format!("{shape:?} (the shape of {})", names[0]),
                    got: format!("{:?}", f.shape()),
                });
            }
        }
        let (n, t, space) = (shape[0], shape[1], &shape[2..]);
        let velocity = names.iter().filter(|n| n.starts_with('V')).count();
        if velocity != 0 && velocity != space.len() {
            return Err(err(
                path,
                "/",
                format!(
                    "{velocity} velocity components for {} spatial axes",
                    space.len()
                ),
            ));
        }
        let cnames: Vec<String> = AXES[..space.len()]
            .iter()
            .map(|a| format!("{a}-coordinate"))
            .collect();
        let coords = spatial_coords(path, &file, &cnames, space)?;
        let times = frame_times(path, &file, "t-coordinate", t)?;
        let p = params_from_file_name(path);
        let meta = meta_for(
            path,
            "pdebench-cfd",
            names.iter().map(|s| s.to_string()).collect(),
            &coords,
            (t, n),
            boundary_from_name(path, AxisBoundary::Unknown),
            &p,
        )?;
        Ok(Self {
            path: path.to_path_buf(),
            fields,
            meta,
            coords,
            times,
            params: p.iter().map(|(_, v)| *v).collect(),
        })
    }
}

impl PdebenchCfd {
    fn frame_times(&self, _index: usize) -> Result<Vec<f64>> {
        Ok(self.times.clone())
    }

    fn frame_fields(&self, index: usize, start: usize, len: usize) -> Result<Vec<f32>> {
        let m = &self.meta;
        let c = self.fields.len();
        let points = len * m.spatial_shape.iter().product::<usize>();
        let mut fields = vec![0f32; points * c];
        for (k, ds) in self.fields.iter().enumerate() {
            let mut slab = vec![S::from(index), S::from(start..start + len)];
            slab.extend(m.spatial_shape.iter().map(|_| S::from(..)));
            let v = read_f32(&self.path, ds, slab)?;
            ensure_finite(&self.path, &m.channel_names[k], index, &v)?;
            for (p, x) in v.into_iter().enumerate() {
                fields[p * c + k] = x;
            }
        }
        Ok(fields)
    }
}

hdf5_source!(PdebenchCfd);
