//! The native trajectory collection: a Zarr v3 group.
//!
//! Layout (documented in `docs/dataset-format.md`):
//!
//! | node | shape | dtype | chunks | content |
//! | --- | --- | --- | --- | --- |
//! | `/` (group) | | | | attribute `physfm`: [`CollectionMeta`] plus `complete` |
//! | `/fields` | `[N, T, *S, C]` | f32 | one trajectory | the fields, channel last; fill NaN |
//! | `/time` | `[N, T]` | f64 | one trajectory | physical save times |
//! | `/params` | `[N, P]` | f64 | one trajectory | parameter values, named in the metadata |
//! | `/coords/<axis>` | `[S_i]` | f64 | whole | grid coordinates per spatial axis |
//!
//! Field chunks are zstd-compressed. A collection is marked `complete` only by
//! [`TrajectoryCollection::finalize`]; [`TrajectoryCollection::open`] refuses one without the
//! mark, so a crashed writer never leaves a collection that looks whole.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use zarrs::array::codec::ZstdCodec;
use zarrs::array::{Array, ArrayBuilder, data_type};
use zarrs::filesystem::FilesystemStore;
use zarrs::group::{Group, GroupBuilder};

use crate::{DataError, Result};

/// Version of the on-disk layout written by this crate.
pub const FORMAT_VERSION: u32 = 1;

/// Description of a collection, stored as the root group's `physfm` attribute.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollectionMeta {
    /// Layout version ([`FORMAT_VERSION`]).
    pub format_version: u32,
    /// Dataset name, e.g. `burgers1d`.
    pub name: String,
    /// Name of each channel, in channel order.
    pub channel_names: Vec<String>,
    /// Name of each per-trajectory parameter, in `params` column order.
    pub param_names: Vec<String>,
    /// Names of the spatial axes, e.g. `["x"]`.
    pub axis_names: Vec<String>,
    /// Points per spatial axis.
    pub spatial_shape: Vec<usize>,
    /// Domain length per spatial axis.
    pub domain_lengths: Vec<f64>,
    /// Boundary condition per axis, e.g. `periodic`.
    pub boundary: Vec<String>,
    /// Saved frames per trajectory.
    pub frames: usize,
    /// Number of trajectories.
    pub trajectories: usize,
    /// What made the data (generator name and version).
    pub generator: String,
    /// Seed of the generator.
    pub seed: u64,
    /// Free-form provenance: the generator's configuration.
    #[serde(default)]
    pub provenance: serde_json::Value,
}

impl CollectionMeta {
    fn validate(&self, path: &Path) -> Result<()> {
        let bad = |m: String| {
            Err(DataError::Metadata {
                path: path.to_path_buf(),
                message: m,
            })
        };
        if self.format_version != FORMAT_VERSION {
            return bad(format!(
                "format_version {} (this build reads {FORMAT_VERSION})",
                self.format_version
            ));
        }
        if self.channel_names.is_empty() {
            return bad("channel_names is empty".into());
        }
        let d = self.spatial_shape.len();
        if self.axis_names.len() != d || self.domain_lengths.len() != d || self.boundary.len() != d
        {
            return bad(format!(
                "axis_names, domain_lengths and boundary must have one entry per spatial axis ({d})"
            ));
        }
        if self.frames == 0 || self.trajectories == 0 || self.spatial_shape.contains(&0) {
            return bad("frames, trajectories and every spatial size must be positive".into());
        }
        Ok(())
    }

    /// Values per frame (`prod(spatial_shape) * channels`).
    pub fn frame_len(&self) -> usize {
        self.spatial_shape.iter().product::<usize>() * self.channel_names.len()
    }
}

/// One trajectory as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct TrajectoryRecord {
    /// Fields laid out `[T, *S, C]`.
    pub fields: Vec<f32>,
    /// Save times, `[T]`.
    pub times: Vec<f64>,
    /// Parameter values, `[P]`.
    pub params: Vec<f64>,
}

/// A collection of PDE trajectories in a Zarr v3 store on the file system.
///
/// ```
/// use physfm_data::{CollectionMeta, TrajectoryCollection, FORMAT_VERSION};
/// let dir = tempfile::tempdir()?;
/// let meta = CollectionMeta {
///     format_version: FORMAT_VERSION,
///     name: "demo".into(),
///     channel_names: vec!["u".into()],
///     param_names: vec!["nu".into()],
///     axis_names: vec!["x".into()],
///     spatial_shape: vec![4],
///     domain_lengths: vec![1.0],
///     boundary: vec!["periodic".into()],
///     frames: 2,
///     trajectories: 1,
///     generator: "doc".into(),
///     seed: 0,
///     provenance: serde_json::Value::Null,
/// };
/// let path = dir.path().join("demo.zarr");
/// let c = TrajectoryCollection::create(&path, meta, &[vec![0.0, 0.25, 0.5, 0.75]])?;
/// c.write_trajectory(0, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0], &[0.0, 0.1], &[0.01])?;
/// c.finalize()?;
/// let c = TrajectoryCollection::open(&path)?;
/// assert_eq!(c.read_trajectory(0)?.fields[7], 8.0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct TrajectoryCollection {
    path: PathBuf,
    store: Arc<FilesystemStore>,
    meta: CollectionMeta,
    coordinates: Vec<Vec<f64>>,
    fields: Array<FilesystemStore>,
    time: Array<FilesystemStore>,
    params: Array<FilesystemStore>,
}

impl std::fmt::Debug for TrajectoryCollection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrajectoryCollection")
            .field("path", &self.path)
            .field("meta", &self.meta)
            .finish()
    }
}

impl TrajectoryCollection {
    /// Creates an empty collection at `path` (which must not exist) for `meta.trajectories`
    /// trajectories; `coordinates` holds one coordinate vector per spatial axis.
    pub fn create(path: &Path, meta: CollectionMeta, coordinates: &[Vec<f64>]) -> Result<Self> {
        meta.validate(path)?;
        if path.exists() {
            return Err(DataError::Exists {
                path: path.to_path_buf(),
            });
        }
        if coordinates.len() != meta.spatial_shape.len()
            || coordinates
                .iter()
                .zip(&meta.spatial_shape)
                .any(|(c, &n)| c.len() != n)
        {
            return Err(DataError::Shape {
                what: "coordinates".into(),
                expected: format!("{:?}", meta.spatial_shape),
                got: format!("{:?}", coordinates.iter().map(Vec::len).collect::<Vec<_>>()),
            });
        }
        let sp: &Path = path;
        std::fs::create_dir_all(path).map_err(|e| se(sp, e))?;
        let store = Arc::new(FilesystemStore::new(path).map_err(|e| se(sp, e))?);
        write_root(&store, &meta, false).map_err(|e| se(sp, e))?;

        let n = meta.trajectories as u64;
        let t = meta.frames as u64;
        let mut fshape = vec![n, t];
        fshape.extend(meta.spatial_shape.iter().map(|&s| s as u64));
        fshape.push(meta.channel_names.len() as u64);
        let mut fchunk = fshape.clone();
        fchunk[0] = 1;
        let mut dims: Vec<String> = vec!["trajectory".into(), "time".into()];
        dims.extend(meta.axis_names.iter().cloned());
        dims.push("channel".into());
        let mut fattrs = serde_json::Map::new();
        fattrs.insert(
            "channel_names".into(),
            serde_json::json!(meta.channel_names),
        );
        let fields = ArrayBuilder::new(fshape, fchunk, data_type::float32(), f32::NAN)
            .bytes_to_bytes_codecs(vec![Arc::new(ZstdCodec::new(3, false))])
            .dimension_names(Some(dims))
            .attributes(fattrs)
            .build(store.clone(), "/fields")
            .map_err(|e| se(sp, e))?;
        fields.store_metadata().map_err(|e| se(sp, e))?;
        let time = ArrayBuilder::new(vec![n, t], vec![1, t], data_type::float64(), f64::NAN)
            .dimension_names(Some(["trajectory", "time"]))
            .build(store.clone(), "/time")
            .map_err(|e| se(sp, e))?;
        time.store_metadata().map_err(|e| se(sp, e))?;
        let p = meta.param_names.len().max(1) as u64;
        let mut pattrs = serde_json::Map::new();
        pattrs.insert("param_names".into(), serde_json::json!(meta.param_names));
        let params = ArrayBuilder::new(vec![n, p], vec![1, p], data_type::float64(), f64::NAN)
            .dimension_names(Some(["trajectory", "param"]))
            .attributes(pattrs)
            .build(store.clone(), "/params")
            .map_err(|e| se(sp, e))?;
        params.store_metadata().map_err(|e| se(sp, e))?;
        GroupBuilder::new()
            .build(store.clone(), "/coords")
            .map_err(|e| se(sp, e))?
            .store_metadata()
            .map_err(|e| se(sp, e))?;
        for (axis, c) in meta.axis_names.iter().zip(coordinates) {
            let a = ArrayBuilder::new(
                vec![c.len() as u64],
                vec![c.len() as u64],
                data_type::float64(),
                0.0f64,
            )
            .dimension_names(Some([axis.as_str()]))
            .build(store.clone(), &format!("/coords/{axis}"))
            .map_err(|e| se(sp, e))?;
            a.store_metadata().map_err(|e| se(sp, e))?;
            a.store_chunk(&[0], c.as_slice()).map_err(|e| se(sp, e))?;
        }
        Ok(Self {
            path: path.to_path_buf(),
            store,
            meta,
            coordinates: coordinates.to_vec(),
            fields,
            time,
            params,
        })
    }

    /// Opens a complete collection.
    pub fn open(path: &Path) -> Result<Self> {
        let c = Self::open_any(path)?;
        if !c.is_complete()? {
            return Err(DataError::Incomplete {
                path: path.to_path_buf(),
            });
        }
        Ok(c)
    }

    /// Opens a collection whether or not its writer finished (for resuming a write).
    pub fn open_any(path: &Path) -> Result<Self> {
        let sp: &Path = path;
        if !path.join("zarr.json").is_file() {
            return Err(DataError::Store {
                path: path.to_path_buf(),
                message: "no zarr.json: not a Zarr v3 store".into(),
            });
        }
        let store = Arc::new(FilesystemStore::new(path).map_err(|e| se(sp, e))?);
        let group = Group::open(store.clone(), "/").map_err(|e| se(sp, e))?;
        let meta_value =
            group
                .attributes()
                .get("physfm")
                .cloned()
                .ok_or_else(|| DataError::Metadata {
                    path: path.to_path_buf(),
                    message: "root attribute `physfm` is missing".into(),
                })?;
        let mut meta_obj = meta_value;
        if let Some(o) = meta_obj.as_object_mut() {
            o.remove("complete");
        }
        let meta: CollectionMeta =
            serde_json::from_value(meta_obj).map_err(|e| DataError::Metadata {
                path: path.to_path_buf(),
                message: format!("root attribute `physfm`: {e}"),
            })?;
        meta.validate(path)?;
        let open = |name: &str| Array::open(store.clone(), name).map_err(|e| se(sp, e));
        let fields = open("/fields")?;
        let time = open("/time")?;
        let params = open("/params")?;
        let mut expected = vec![meta.trajectories as u64, meta.frames as u64];
        expected.extend(meta.spatial_shape.iter().map(|&s| s as u64));
        expected.push(meta.channel_names.len() as u64);
        check_shape(path, "fields", fields.shape(), &expected)?;
        check_shape(path, "time", time.shape(), &expected[..2])?;
        check_shape(
            path,
            "params",
            params.shape(),
            &[expected[0], meta.param_names.len().max(1) as u64],
        )?;
        for (name, a) in [("fields", &fields), ("time", &time), ("params", &params)] {
            let want = if name == "fields" {
                data_type::float32()
            } else {
                data_type::float64()
            };
            if a.data_type() != &want {
                return Err(DataError::Metadata {
                    path: path.to_path_buf(),
                    message: format!(
                        "array `{name}` has dtype {:?}, expected {:?}",
                        a.data_type(),
                        want
                    ),
                });
            }
        }
        let mut coordinates = Vec::new();
        for (axis, &n) in meta.axis_names.iter().zip(&meta.spatial_shape) {
            let a = open(&format!("/coords/{axis}"))?;
            check_shape(path, &format!("coords/{axis}"), a.shape(), &[n as u64])?;
            let c: Vec<f64> = a.retrieve_chunk::<Vec<f64>>(&[0]).map_err(|e| se(sp, e))?;
            coordinates.push(c);
        }
        Ok(Self {
            path: path.to_path_buf(),
            store,
            meta,
            coordinates,
            fields,
            time,
            params,
        })
    }

    /// The collection's metadata.
    pub fn meta(&self) -> &CollectionMeta {
        &self.meta
    }

    /// The store root.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Grid coordinates per spatial axis.
    pub fn coordinates(&self) -> &[Vec<f64>] {
        &self.coordinates
    }

    /// Number of trajectories.
    pub fn len(&self) -> usize {
        self.meta.trajectories
    }

    /// Whether the collection holds no trajectories (never true for a valid one).
    pub fn is_empty(&self) -> bool {
        self.meta.trajectories == 0
    }

    /// Whether the writer marked the collection complete.
    pub fn is_complete(&self) -> Result<bool> {
        let group = Group::open(self.store.clone(), "/").map_err(|e| se(&self.path, e))?;
        Ok(group
            .attributes()
            .get("physfm")
            .and_then(|m| m.get("complete"))
            .and_then(serde_json::Value::as_bool)
            .unwrap_or(false))
    }

    /// Writes trajectory `index`: `fields` laid out `[T, *S, C]`, `times` `[T]`, `params` `[P]`.
    /// Non-finite values are refused, so a collection never stores a blown-up solution.
    pub fn write_trajectory(
        &self,
        index: usize,
        fields: &[f32],
        times: &[f64],
        params: &[f64],
    ) -> Result<()> {
        self.check_index(index)?;
        let m = &self.meta;
        let expect = |what: &str, want: usize, got: usize| {
            if want != got {
                Err(DataError::Shape {
                    what: what.into(),
                    expected: want.to_string(),
                    got: got.to_string(),
                })
            } else {
                Ok(())
            }
        };
        expect("fields length", m.frames * m.frame_len(), fields.len())?;
        expect("times length", m.frames, times.len())?;
        expect("params length", m.param_names.len(), params.len())?;
        self.ensure_finite(index, "fields", fields)?;
        self.ensure_finite(index, "time", times)?;
        self.ensure_finite(index, "params", params)?;
        let sp: &Path = &self.path;
        let mut chunk = vec![index as u64, 0];
        chunk.extend(std::iter::repeat_n(0u64, m.spatial_shape.len() + 1));
        // Times and parameters first, fields last: a trajectory whose field chunk exists has
        // all three, so an interrupted writer never leaves one that looks written.
        self.time
            .store_chunk(&[index as u64, 0], times)
            .map_err(|e| se(sp, e))?;
        let p: Vec<f64> = if params.is_empty() {
            vec![0.0]
        } else {
            params.to_vec()
        };
        self.params
            .store_chunk(&[index as u64, 0], p.as_slice())
            .map_err(|e| se(sp, e))?;
        self.fields
            .store_chunk(&chunk, fields)
            .map_err(|e| se(sp, e))?;
        Ok(())
    }

    /// Whether trajectory `index` has been written (its field chunk exists).
    pub fn has_trajectory(&self, index: usize) -> Result<bool> {
        self.check_index(index)?;
        let mut chunk = vec![index as u64, 0];
        chunk.extend(std::iter::repeat_n(0u64, self.meta.spatial_shape.len() + 1));
        let key = self.fields.chunk_key(&chunk);
        Ok(self.path.join(key.as_str()).is_file())
    }

    /// Reads trajectory `index` whole.
    pub fn read_trajectory(&self, index: usize) -> Result<TrajectoryRecord> {
        self.read_frames(index, 0, self.meta.frames)
    }

    /// Reads frames `start..start + len` of trajectory `index` (fields, their times, and the
    /// trajectory's parameters), decoding only that trajectory's chunk.
    pub fn read_frames(&self, index: usize, start: usize, len: usize) -> Result<TrajectoryRecord> {
        self.check_index(index)?;
        let m = &self.meta;
        if len == 0 || start + len > m.frames {
            return Err(DataError::Shape {
                what: format!("frame window of trajectory {index}"),
                expected: format!("within 0..{}", m.frames),
                got: format!("{start}..{}", start + len),
            });
        }
        let sp: &Path = &self.path;
        let i = index as u64;
        let mut subset = vec![i..i + 1, start as u64..(start + len) as u64];
        subset.extend(m.spatial_shape.iter().map(|&s| 0..s as u64));
        subset.push(0..m.channel_names.len() as u64);
        let fields: Vec<f32> = self
            .fields
            .retrieve_array_subset::<Vec<f32>>(&subset.as_slice())
            .map_err(|e| se(sp, e))?;
        let times: Vec<f64> = self
            .time
            .retrieve_array_subset::<Vec<f64>>(&[i..i + 1, start as u64..(start + len) as u64])
            .map_err(|e| se(sp, e))?;
        let p = m.param_names.len().max(1) as u64;
        let mut params: Vec<f64> = self
            .params
            .retrieve_array_subset::<Vec<f64>>(&[i..i + 1, 0..p])
            .map_err(|e| se(sp, e))?;
        params.truncate(m.param_names.len());
        self.ensure_finite(index, "fields", &fields)?;
        self.ensure_finite(index, "time", &times)?;
        self.ensure_finite(index, "params", &params)?;
        Ok(TrajectoryRecord {
            fields,
            times,
            params,
        })
    }

    /// Marks the collection complete after checking that every trajectory was written.
    pub fn finalize(&self) -> Result<()> {
        for i in 0..self.len() {
            if !self.has_trajectory(i)? {
                return Err(DataError::Metadata {
                    path: self.path.clone(),
                    message: format!("cannot finalize: trajectory {i} was never written"),
                });
            }
        }
        write_root(&self.store, &self.meta, true).map_err(|e| se(&self.path, e))
    }

    /// Refuses NaN and infinite values: `array` of trajectory `index` is named in the error.
    fn ensure_finite<T: Copy + Into<f64>>(
        &self,
        index: usize,
        array: &str,
        values: &[T],
    ) -> Result<()> {
        if values.iter().any(|&v| !v.into().is_finite()) {
            return Err(DataError::NonFinite {
                path: self.path.clone(),
                array: array.into(),
                index,
            });
        }
        Ok(())
    }

    fn check_index(&self, index: usize) -> Result<()> {
        if index >= self.meta.trajectories {
            return Err(DataError::Index {
                what: format!("{}: trajectory", self.path.display()),
                index,
                len: self.meta.trajectories,
            });
        }
        Ok(())
    }
}

fn write_root(
    store: &Arc<FilesystemStore>,
    meta: &CollectionMeta,
    complete: bool,
) -> std::result::Result<(), String> {
    let mut value = serde_json::to_value(meta).map_err(|e| e.to_string())?;
    value
        .as_object_mut()
        .expect("a struct serialises to an object")
        .insert("complete".into(), serde_json::Value::Bool(complete));
    let mut attrs = serde_json::Map::new();
    attrs.insert("physfm".into(), value);
    GroupBuilder::new()
        .attributes(attrs)
        .build(store.clone(), "/")
        .map_err(|e| e.to_string())?
        .store_metadata()
        .map_err(|e| e.to_string())
}

fn se(path: &Path, e: impl std::fmt::Display) -> DataError {
    DataError::Store {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

fn check_shape(path: &Path, array: &str, got: &[u64], expected: &[u64]) -> Result<()> {
    if got != expected {
        return Err(DataError::Shape {
            what: format!("{}: array `{array}` shape", path.display()),
            expected: format!("{expected:?}"),
            got: format!("{got:?}"),
        });
    }
    Ok(())
}
