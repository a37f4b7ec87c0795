//! The Well's HDF5 schema.

use std::path::{Path, PathBuf};

use ::hdf5 as h5;
use h5::SliceOrIndex as S;
use h5::types::{VarLenAscii, VarLenUnicode};

use super::{domain_length, ensure_finite, err, float_dataset, open_file, read_f32, read_small};
use crate::{AxisBoundary, CollectionMeta, DataError, FORMAT_VERSION, Result};

/// One field of a The Well file and how its dataset is laid out.
#[derive(Debug)]
struct Field {
    ds: h5::Dataset,
    /// 0, 1 or 2: scalar, vector, tensor.
    order: usize,
    sample_varying: bool,
    time_varying: bool,
}

/// A file in The Well's schema: `t0_fields`, `t1_fields`, `t2_fields` (scalar `[B, T, *S]`,
/// vector `[B, T, *S, D]` and tensor `[B, T, *S, D, D]` fields, each with `sample_varying`
/// and `time_varying` attributes; a field that does not vary along an axis lacks it and is
/// repeated), `dimensions` (`time`, the axes named by its `spatial_dims` attribute),
/// `boundary_conditions` (one group per condition with `bc_type` and `associated_dims`),
/// and the parameters named by the root attribute `simulation_parameters`.
#[derive(Debug)]
pub struct TheWell {
    path: PathBuf,
    fields: Vec<Field>,
    meta: CollectionMeta,
    coords: Vec<Vec<f64>>,
    /// `[T]` shared, or `[B, T]`.
    times: Vec<f64>,
    times_per_sample: bool,
    params: Vec<f64>,
}

fn attr_string(path: &Path, loc: &h5::Location, name: &str) -> Result<String> {
    let object = format!("{}@{name}", loc.name());
    let a = loc
        .attr(name)
        .map_err(|e| err(path, &object, format!("missing attribute: {e}")))?;
    if let Ok(s) = a.read_scalar::<VarLenUnicode>() {
        return Ok(s.as_str().to_string());
    }
    a.read_scalar::<VarLenAscii>()
        .map(|s| s.as_str().to_string())
        .map_err(|e| err(path, &object, format!("not a string: {e}")))
}

fn attr_strings(path: &Path, loc: &h5::Location, name: &str) -> Result<Vec<String>> {
    let object = format!("{}@{name}", loc.name());
    let a = loc
        .attr(name)
        .map_err(|e| err(path, &object, format!("missing attribute: {e}")))?;
    if a.is_scalar() {
        return Ok(vec![attr_string(path, loc, name)?]);
    }
    if let Ok(v) = a.read_raw::<VarLenUnicode>() {
        return Ok(v.iter().map(|s| s.as_str().to_string()).collect());
    }
    a.read_raw::<VarLenAscii>()
        .map(|v| v.iter().map(|s| s.as_str().to_string()).collect())
        .map_err(|e| err(path, &object, format!("not a list of strings: {e}")))
}

fn attr_bool(path: &Path, loc: &h5::Location, name: &str, default: bool) -> Result<bool> {
    if !loc
        .attr_names()
        .map_err(|e| err(path, &loc.name(), e))?
        .iter()
        .any(|n| n == name)
    {
        return Ok(default);
    }
    let object = format!("{}@{name}", loc.name());
    let a = loc.attr(name).map_err(|e| err(path, &object, e))?;
    a.read_scalar::<bool>()
        .or_else(|_| a.read_scalar::<i64>().map(|v| v != 0))
        .map_err(|e| err(path, &object, format!("not a boolean: {e}")))
}

impl TheWell {
    /// Opens `path` and checks the fields against the dimensions.
    pub fn open(path: &Path) -> Result<Self> {
        let file = open_file(path)?;
        let dims = file
            .group("dimensions")
            .map_err(|e| err(path, "dimensions", e))?;
        let axis_names = attr_strings(path, &dims, "spatial_dims")?;
        let d = axis_names.len();
        if !(1..=3).contains(&d) {
            return Err(err(
                path,
                "dimensions@spatial_dims",
                format!("{d} spatial axes, expected 1 to 3"),
            ));
        }
        let coords: Vec<Vec<f64>> = axis_names
            .iter()
            .map(|a| {
                let ds = float_dataset(path, &dims, a, Some(1))?;
                read_small(path, &ds)
            })
            .collect::<Result<_>>()?;
        let spatial: Vec<usize> = coords.iter().map(Vec::len).collect();
        let time_ds = float_dataset(path, &dims, "time", None)?;
        let times_per_sample = time_ds.ndim() == 2;
        if !(1..=2).contains(&time_ds.ndim()) {
            return Err(err(
                path,
                "dimensions/time",
                format!("shape {:?}: expected [T] or [B, T]", time_ds.shape()),
            ));
        }
        let times = read_small(path, &time_ds)?;
        let frames = *time_ds.shape().last().unwrap_or(&0);

        let mut fields = Vec::new();
        let mut channel_names = Vec::new();
        let mut samples: Option<usize> = None;
        for order in 0..3usize {
            let gname = format!("t{order}_fields");
            if !file.link_exists(&gname) {
                continue;
            }
            let g = file.group(&gname).map_err(|e| err(path, &gname, e))?;
            let names = if g
                .attr_names()
                .map_err(|e| err(path, &gname, e))?
                .iter()
                .any(|n| n == "field_names")
            {
                attr_strings(path, &g, "field_names")?
            } else {
                let mut n = g.member_names().map_err(|e| err(path, &gname, e))?;
                n.sort();
                n
            };
            for name in names {
                let object = format!("{gname}/{name}");
                let ds = float_dataset(path, &g, &name, None)?;
                let sample_varying = attr_bool(path, &ds, "sample_varying", true)?;
                let time_varying = attr_bool(path, &ds, "time_varying", true)?;
                let mut expected: Vec<Option<usize>> = Vec::new();
                if sample_varying {
                    expected.push(None);
                }
                if time_varying {
                    expected.push(Some(frames));
                }
                expected.extend(spatial.iter().map(|&s| Some(s)));
                expected.extend(std::iter::repeat_n(Some(d), order));
                let shape = ds.shape();
                let fits = shape.len() == expected.len()
                    && shape
                        .iter()
                        .zip(&expected)
                        .all(|(s, e)| e.is_none_or(|e| *s == e));
                if !fits {
                    return Err(DataError::Shape {
                        what: format!("{}: {object}", path.display()),
                        expected: format!(
                            "[{}{}{:?} + {order} x {d}] (sample_varying {sample_varying}, time_varying {time_varying})",
                            if sample_varying { "B, " } else { "" },
                            if time_varying {
                                format!("{frames}, ")
                            } else {
                                String::new()
                            },
                            spatial
                        ),
                        got: format!("{shape:?}"),
                    });
                }
                if sample_varying {
                    match samples {
                        None => samples = Some(shape[0]),
                        Some(b) if b != shape[0] => {
                            return Err(err(
                                path,
                                &object,
                                format!("{} samples, other fields have {b}", shape[0]),
                            ));
                        }
                        _ => {}
                    }
                }
                match order {
                    0 => channel_names.push(name.clone()),
                    1 => channel_names.extend(axis_names.iter().map(|a| format!("{name}_{a}"))),
                    _ => {
                        for a in &axis_names {
                            channel_names
                                .extend(axis_names.iter().map(|b| format!("{name}_{a}{b}")));
                        }
                    }
                }
                fields.push(Field {
                    ds,
                    order,
                    sample_varying,
                    time_varying,
                });
            }
        }
        if fields.is_empty() {
            return Err(err(
                path,
                "/",
                "no fields in t0_fields, t1_fields or t2_fields",
            ));
        }
        let trajectories = match (
            samples,
            file.attr("n_trajectories")
                .ok()
                .and_then(|a| a.read_scalar::<i64>().ok()),
        ) {
            (Some(b), Some(n)) if n as usize != b => {
                return Err(err(
                    path,
                    "@n_trajectories",
                    format!("says {n}, the fields hold {b}"),
                ));
            }
            (Some(b), _) => b,
            (None, Some(n)) => n as usize,
            (None, None) => 1,
        };
        if times_per_sample && time_ds.shape()[0] != trajectories {
            return Err(err(
                path,
                "dimensions/time",
                format!(
                    "shape {:?} for {trajectories} trajectories",
                    time_ds.shape()
                ),
            ));
        }

        let mut boundary = vec![AxisBoundary::Unknown; d];
        if file.link_exists("boundary_conditions") {
            let bcs = file
                .group("boundary_conditions")
                .map_err(|e| err(path, "boundary_conditions", e))?;
            for bc in bcs
                .member_names()
                .map_err(|e| err(path, "boundary_conditions", e))?
            {
                let g = bcs.group(&bc).map_err(|e| err(path, &bc, e))?;
                let kind: AxisBoundary = attr_string(path, &g, "bc_type")?
                    .to_ascii_lowercase()
                    .parse()
                    .map_err(|e| err(path, &bc, e))?;
                for a in attr_strings(path, &g, "associated_dims")? {
                    if let Some(k) = axis_names.iter().position(|n| *n == a) {
                        boundary[k] = kind.clone();
                    }
                }
            }
        }
        let param_names = if file
            .attr_names()
            .map_err(|e| err(path, "/", e))?
            .iter()
            .any(|n| n == "simulation_parameters")
        {
            attr_strings(path, &file, "simulation_parameters")?
        } else {
            Vec::new()
        };
        let params = param_names
            .iter()
            .map(|p| {
                file.attr(p)
                    .and_then(|a| a.read_scalar::<f64>())
                    .map_err(|e| err(path, &format!("@{p}"), format!("parameter value: {e}")))
            })
            .collect::<Result<Vec<f64>>>()?;
        let name = attr_string(path, &file, "dataset_name").unwrap_or_else(|_| {
            path.file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default()
        });
        let meta = CollectionMeta {
            format_version: FORMAT_VERSION,
            name,
            channel_names,
            param_names,
            axis_names,
            spatial_shape: spatial,
            domain_lengths: coords.iter().map(|c| domain_length(c)).collect(),
            boundary,
            frames,
            trajectories,
            generator: "The Well (read by physfm-data)".into(),
            seed: 0,
            provenance: serde_json::json!({
                "source_file": path.display().to_string(),
                "layout": "the-well",
            }),
        };
        meta.validate(path)?;
        Ok(Self {
            path: path.to_path_buf(),
            fields,
            meta,
            coords,
            times,
            times_per_sample,
            params,
        })
    }
}

impl TheWell {
    fn frame_times(&self, index: usize) -> Result<Vec<f64>> {
        let t = self.meta.frames;
        Ok(if self.times_per_sample {
            self.times[index * t..(index + 1) * t].to_vec()
        } else {
            self.times.clone()
        })
    }

    fn frame_fields(&self, index: usize, start: usize, len: usize) -> Result<Vec<f32>> {
        let m = &self.meta;
        let c = m.channel_names.len();
        let points: usize = m.spatial_shape.iter().product();
        let d = m.spatial_shape.len();
        let mut fields = vec![0f32; len * points * c];
        let mut channel = 0;
        for f in &self.fields {
            let mut slab = Vec::new();
            if f.sample_varying {
                slab.push(S::from(index));
            }
            if f.time_varying {
                slab.push(S::from(start..start + len));
            }
            slab.extend((0..d + f.order).map(|_| S::from(..)));
            let v = read_f32(&self.path, &f.ds, slab)?;
            ensure_finite(&self.path, &f.ds.name(), index, &v)?;
            let k = d.pow(f.order as u32);
            // v is [len or 1, points, k]; spread it into channels channel..channel + k.
            for fr in 0..len {
                let src = if f.time_varying { fr } else { 0 };
                for p in 0..points {
                    let from = (src * points + p) * k;
                    let to = (fr * points + p) * c + channel;
                    fields[to..to + k].copy_from_slice(&v[from..from + k]);
                }
            }
            channel += k;
        }
        Ok(fields)
    }
}

hdf5_source!(TheWell);
