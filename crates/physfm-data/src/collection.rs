//! The native trajectory collection: a Zarr v3 group.
//!
//! Layout (documented in `docs/dataset-format.md`):
//!
//! | node | shape | dtype | chunks | content |
//! | --- | --- | --- | --- | --- |
//! | `/` (group) | | | | attribute `physfm`: [`CollectionMeta`] plus `complete` |
//! | `/fields` | `[N, T, *S, C]` | f32 | one shard per trajectory, inner chunks of a few frames | the fields, channel last; fill NaN |
//! | `/time` | `[N, T]` | f64 | one trajectory | physical save times |
//! | `/params` | `[N, P]` | f64 | one trajectory | parameter values, named in the metadata |
//! | `/coords/<axis>` | `[S_i]` | f64 | whole | grid coordinates per spatial axis |
//! | `/stats` (group, optional) | | | | attribute `stats`: per-channel normalisation statistics |
//! | `/splits` (group, optional) | | | | attribute `splits`: named, reproducible train/test splits |
//!
//! Each trajectory's fields are one Zarr shard whose inner chunks hold a few frames each
//! (zstd-compressed), so a window of frames is read by decoding only the inner chunks it
//! touches. A collection is marked `complete` only by [`TrajectoryCollection::finalize`];
//! [`TrajectoryCollection::open`] refuses one without the mark, so a crashed writer never
//! leaves a collection that looks whole. Group metadata (`zarr.json` of `/`, `/stats` and
//! `/splits`) is replaced atomically: written to a temporary file, then renamed.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use zarrs::array::codec::ZstdCodec;
use zarrs::array::{
    Array, ArrayBuilder, ArrayShardedExt, ArrayShardedReadableExt, ArrayShardedReadableExtCache,
    CodecOptions, data_type,
};
use zarrs::filesystem::FilesystemStore;
use zarrs::group::{Group, GroupBuilder};
use zarrs_storage::ReadableStorageTraits;

use crate::http::HttpStore;
use crate::split::Splits;
use crate::stats::ChannelStats;
use crate::{DataError, Result};

/// Largest number of values in one trajectory (`frames x points x channels`): 2^33, 32 GiB
/// of f32.
pub const MAX_TRAJECTORY_VALUES: usize = 1 << 33;

/// Version of the on-disk layout written by this crate.
pub const FORMAT_VERSION: u32 = 1;

/// The boundary of one stored axis, as [`CollectionMeta::boundary`] records it: stored by
/// name, so the metadata reads as it always has.
///
/// ```
/// use physfm_data::AxisBoundary;
/// use physfm_pde::Boundary;
/// let b: AxisBoundary = "periodic".parse()?;
/// assert_eq!(b, AxisBoundary::Condition(Boundary::Periodic));
/// assert!(b.is_periodic());
/// assert_eq!("parameter:bc".parse::<AxisBoundary>()?.to_string(), "parameter:bc");
/// assert!("sideways".parse::<AxisBoundary>().is_err());
/// # Ok::<(), physfm_data::DataError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum AxisBoundary {
    /// A condition physfm's solvers impose (`periodic`, `dirichlet`, `neumann`, `wall`).
    Condition(physfm_pde::Boundary),
    /// Open (outflow) boundaries, as some PDEBench and Well files have (`open`).
    Open,
    /// Chosen per trajectory by the parameter named (`parameter:<name>`).
    Parameter(String),
    /// Not recorded by the source (`unknown`).
    Unknown,
}

impl AxisBoundary {
    /// Periodic: the boundary of most generated and benchmark collections.
    pub const PERIODIC: Self = Self::Condition(physfm_pde::Boundary::Periodic);

    /// Whether the axis is periodic.
    pub fn is_periodic(&self) -> bool {
        *self == Self::Condition(physfm_pde::Boundary::Periodic)
    }
}

impl From<physfm_pde::Boundary> for AxisBoundary {
    fn from(b: physfm_pde::Boundary) -> Self {
        Self::Condition(b)
    }
}

impl std::fmt::Display for AxisBoundary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Condition(b) => f.write_str(b.as_str()),
            Self::Open => f.write_str("open"),
            Self::Parameter(p) => write!(f, "parameter:{p}"),
            Self::Unknown => f.write_str("unknown"),
        }
    }
}

impl std::str::FromStr for AxisBoundary {
    type Err = DataError;

    fn from_str(name: &str) -> Result<Self> {
        use physfm_pde::Boundary;
        Ok(match name {
            "periodic" => Self::Condition(Boundary::Periodic),
            "dirichlet" => Self::Condition(Boundary::Dirichlet),
            "neumann" => Self::Condition(Boundary::Neumann),
            "wall" => Self::Condition(Boundary::Wall),
            "open" => Self::Open,
            "unknown" => Self::Unknown,
            other => match other.strip_prefix("parameter:") {
                Some(p) if !p.is_empty() => Self::Parameter(p.into()),
                _ => {
                    return Err(DataError::Config {
                        what: format!("boundary `{name}`"),
                        message: "expected periodic, dirichlet, neumann, wall, open, unknown \
                                  or parameter:<name>"
                            .into(),
                    });
                }
            },
        })
    }
}

impl TryFrom<String> for AxisBoundary {
    type Error = DataError;

    fn try_from(name: String) -> Result<Self> {
        name.parse()
    }
}

impl From<AxisBoundary> for String {
    fn from(b: AxisBoundary) -> Self {
        b.to_string()
    }
}

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
    /// Boundary condition per axis, stored by name (`periodic`, ...; see [`AxisBoundary`]).
    pub boundary: Vec<AxisBoundary>,
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
    /// Parses the root attribute `physfm` (the `complete` flag is read separately and
    /// ignored here). Unknown keys, missing keys and inconsistent values are errors that name
    /// the store.
    pub fn from_attribute(path: &Path, value: &serde_json::Value) -> Result<Self> {
        let mut value = value.clone();
        if let Some(o) = value.as_object_mut() {
            o.remove("complete");
        }
        let meta: CollectionMeta =
            serde_json::from_value(value).map_err(|e| DataError::Metadata {
                path: path.to_path_buf(),
                message: format!("root attribute `physfm`: {e}"),
            })?;
        meta.validate(path)?;
        Ok(meta)
    }

    /// Checks the metadata for consistency (one entry per axis, positive sizes, a known
    /// format version).
    pub fn validate(&self, path: &Path) -> Result<()> {
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
        // One trajectory is read into memory whole at most: refuse sizes no machine holds
        // (a corrupt header), before anything allocates them.
        let values = self
            .spatial_shape
            .iter()
            .chain([&self.frames, &self.channel_names.len()])
            .try_fold(1usize, |a, &b| a.checked_mul(b));
        if values.is_none_or(|v| v > MAX_TRAJECTORY_VALUES) {
            return bad(format!(
                "a trajectory of {} frames x {:?} x {} channels exceeds {MAX_TRAJECTORY_VALUES} values (32 GiB): corrupt metadata?",
                self.frames,
                self.spatial_shape,
                self.channel_names.len()
            ));
        }
        if let Some(l) = self
            .domain_lengths
            .iter()
            .find(|l| !(l.is_finite() && **l > 0.0))
        {
            return bad(format!("domain length {l} is not a positive finite number"));
        }
        for (what, names) in [
            ("channel", &self.channel_names),
            ("parameter", &self.param_names),
            ("axis", &self.axis_names),
        ] {
            for (i, n) in names.iter().enumerate() {
                if n.is_empty() || n.contains('/') {
                    return bad(format!("{what} name {n:?} is empty or contains '/'"));
                }
                if names[..i].contains(n) {
                    return bad(format!("{what} name {n:?} appears twice"));
                }
            }
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

/// Times and parameters per trajectory index, read once.
type SmallCache = std::sync::Mutex<std::collections::HashMap<usize, (Vec<f64>, Vec<f64>)>>;

/// How a new collection is chunked and compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteOptions {
    /// Frames per inner chunk of a trajectory's shard; `None` picks about 32 KiB of
    /// uncompressed data per inner chunk.
    pub frames_per_chunk: Option<usize>,
    /// zstd compression level (1 to 22), or 0 for no compression (larger files, cheaper
    /// reads).
    pub zstd_level: i32,
}

impl Default for WriteOptions {
    fn default() -> Self {
        Self {
            frames_per_chunk: None,
            zstd_level: 3,
        }
    }
}

impl WriteOptions {
    /// Frames per inner chunk for frames of `frame_len` f32 values in trajectories of `frames`.
    pub fn chunk_frames(&self, frame_len: usize, frames: usize) -> usize {
        let target = self
            .frames_per_chunk
            .unwrap_or_else(|| (32 * 1024 / (4 * frame_len.max(1))).max(1));
        target.clamp(1, frames.max(1))
    }
}

/// A collection of PDE trajectories in a Zarr v3 store: on the file system
/// ([`FilesystemStore`], the default, readable and writable) or served over HTTP
/// ([`HttpStore`], read only).
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
///     boundary: vec![physfm_data::AxisBoundary::PERIODIC],
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
pub struct TrajectoryCollection<S: ?Sized = FilesystemStore> {
    path: PathBuf,
    store: Arc<S>,
    meta: CollectionMeta,
    coordinates: Vec<Vec<f64>>,
    fields: Array<S>,
    time: Array<S>,
    params: Array<S>,
    /// Shard indexes already read (a window read then costs one partial read per inner
    /// chunk); cleared on every write.
    shard_cache: ArrayShardedReadableExtCache,
    /// Times and parameters of trajectories already read, filled lazily; cleared on writes.
    small: SmallCache,
}

impl<S: ?Sized> std::fmt::Debug for TrajectoryCollection<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrajectoryCollection")
            .field("path", &self.path)
            .field("meta", &self.meta)
            .finish()
    }
}

impl TrajectoryCollection<FilesystemStore> {
    /// Creates an empty collection at `path` (which must not exist) for `meta.trajectories`
    /// trajectories; `coordinates` holds one coordinate vector per spatial axis.
    pub fn create(path: &Path, meta: CollectionMeta, coordinates: &[Vec<f64>]) -> Result<Self> {
        Self::create_with(path, meta, coordinates, WriteOptions::default())
    }

    /// [`create`](Self::create) with explicit chunking and compression.
    pub fn create_with(
        path: &Path,
        meta: CollectionMeta,
        coordinates: &[Vec<f64>],
        options: WriteOptions,
    ) -> Result<Self> {
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
        if !(0..=22).contains(&options.zstd_level) {
            return Err(DataError::Metadata {
                path: path.to_path_buf(),
                message: format!("zstd level {} is outside 0..=22", options.zstd_level),
            });
        }
        let sp: &Path = path;
        std::fs::create_dir_all(path).map_err(|e| se(sp, e))?;
        let store = Arc::new(FilesystemStore::new(path).map_err(|e| se(sp, e))?);
        write_root(path, &meta, false)?;

        let n = meta.trajectories as u64;
        let t = meta.frames as u64;
        let tc = options.chunk_frames(meta.frame_len(), meta.frames) as u64;
        let mut fshape = vec![n, t];
        fshape.extend(meta.spatial_shape.iter().map(|&s| s as u64));
        fshape.push(meta.channel_names.len() as u64);
        // One shard per trajectory, padded in time to a whole number of inner chunks (a
        // chunk may extend past the array's edge in Zarr v3).
        let mut shard = fshape.clone();
        shard[0] = 1;
        shard[1] = t.div_ceil(tc) * tc;
        let mut inner = shard.clone();
        inner[1] = tc;
        let mut dims: Vec<String> = vec!["trajectory".into(), "time".into()];
        dims.extend(meta.axis_names.iter().cloned());
        dims.push("channel".into());
        let mut fattrs = serde_json::Map::new();
        fattrs.insert(
            "channel_names".into(),
            serde_json::json!(meta.channel_names),
        );
        let fields = ArrayBuilder::new(fshape, shard, data_type::float32(), f32::NAN)
            .subchunk_shape(inner)
            .bytes_to_bytes_codecs(if options.zstd_level == 0 {
                vec![]
            } else {
                vec![Arc::new(ZstdCodec::new(options.zstd_level, false))]
            })
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
            shard_cache: ArrayShardedReadableExtCache::new(&fields),
            small: Default::default(),
            fields,
            time,
            params,
        })
    }

    /// Opens a complete collection on the file system.
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
        Self::open_store(store, path)
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
        self.shard_cache.clear();
        self.small.lock().expect("cache lock").remove(&index);
        // Times and parameters first, fields last: a trajectory whose field shard exists has
        // all three, so an interrupted writer never leaves one that looks written.
        self.time
            .store_chunk(&[index as u64, 0], times)
            .map_err(|e| self.chunk_error("time", index, e))?;
        let p: Vec<f64> = if params.is_empty() {
            vec![0.0]
        } else {
            params.to_vec()
        };
        self.params
            .store_chunk(&[index as u64, 0], p.as_slice())
            .map_err(|e| self.chunk_error("params", index, e))?;
        // The shard spans a whole number of inner chunks; pad the frames past the end with
        // the fill value.
        let chunk = self.field_chunk(index);
        let shard_frames =
            self.fields.chunk_shape(&chunk).map_err(|e| se(sp, e))?[1].get() as usize;
        let shard: std::borrow::Cow<[f32]> = if shard_frames == m.frames {
            fields.into()
        } else {
            let mut padded = Vec::with_capacity(shard_frames * m.frame_len());
            padded.extend_from_slice(fields);
            padded.resize(shard_frames * m.frame_len(), f32::NAN);
            padded.into()
        };
        self.fields
            .store_chunk(&chunk, &*shard)
            .map_err(|e| self.chunk_error("fields", index, e))?;
        Ok(())
    }

    /// Adds `count` empty trajectory slots at the end and marks the collection incomplete
    /// until [`finalize`](Self::finalize); returns the new indices, to fill with
    /// [`write_trajectory`](Self::write_trajectory).
    ///
    /// Crash safety: the root is first marked incomplete, then the arrays are resized, then
    /// the metadata records the new count, each step an atomic file replacement. An
    /// interruption leaves an incomplete collection that [`open_any`](Self::open_any)
    /// reopens with every trajectory written so far.
    pub fn grow(&mut self, count: usize) -> Result<std::ops::Range<usize>> {
        let old = self.meta.trajectories;
        let new = old + count;
        write_root(&self.path, &self.meta, false)?;
        for (name, array) in [
            ("fields", &mut self.fields),
            ("time", &mut self.time),
            ("params", &mut self.params),
        ] {
            let mut shape = array.shape().to_vec();
            shape[0] = new as u64;
            array.set_shape(shape).map_err(|e| se(&self.path, e))?;
            let json =
                serde_json::to_vec_pretty(array.metadata()).map_err(|e| se(&self.path, e))?;
            write_atomically(&self.path.join(name).join("zarr.json"), &json)?;
        }
        self.meta.trajectories = new;
        write_root(&self.path, &self.meta, false)?;
        self.shard_cache.clear();
        Ok(old..new)
    }

    /// Appends one trajectory (see [`grow`](Self::grow)) and marks the collection complete
    /// again; returns its index.
    pub fn append(&mut self, fields: &[f32], times: &[f64], params: &[f64]) -> Result<usize> {
        let i = self.grow(1)?.start;
        self.write_trajectory(i, fields, times, params)?;
        self.finalize()?;
        Ok(i)
    }

    /// Whether trajectory `index` has been written (its field shard exists).
    pub fn has_trajectory(&self, index: usize) -> Result<bool> {
        self.check_index(index)?;
        let key = self.fields.chunk_key(&self.field_chunk(index));
        Ok(self.path.join(key.as_str()).is_file())
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
        write_root(&self.path, &self.meta, true)
    }

    /// Stores per-channel statistics as the attribute `stats` of the group `/stats`
    /// (replacing earlier ones atomically).
    pub fn write_stats(&self, stats: &ChannelStats) -> Result<()> {
        if stats.channels() != self.meta.channel_names.len() {
            return Err(DataError::Shape {
                what: format!("{}: statistics channels", self.path.display()),
                expected: self.meta.channel_names.len().to_string(),
                got: stats.channels().to_string(),
            });
        }
        let value = serde_json::to_value(stats).map_err(|e| se(&self.path, e))?;
        write_group_attribute(&self.path, "stats", value)
    }

    /// Stores named splits as the attribute `splits` of the group `/splits` (replacing
    /// earlier ones atomically). Every index must be a trajectory of this collection.
    pub fn write_splits(&self, splits: &Splits) -> Result<()> {
        splits.check(self.len(), &self.path)?;
        let value = serde_json::to_value(splits).map_err(|e| se(&self.path, e))?;
        write_group_attribute(&self.path, "splits", value)
    }
}

impl TrajectoryCollection<HttpStore> {
    /// Opens a complete collection served over HTTP(S) at `url` (the URL of the store root,
    /// the folder that holds the root `zarr.json`).
    pub fn open_url(url: &str) -> Result<Self> {
        let store = Arc::new(HttpStore::new(url)?);
        let c = Self::open_store(store, Path::new(url))?;
        if !c.is_complete()? {
            return Err(DataError::Incomplete {
                path: PathBuf::from(url),
            });
        }
        Ok(c)
    }
}

impl<S: ?Sized + ReadableStorageTraits + 'static> TrajectoryCollection<S> {
    /// Opens the collection in `store`; `location` names it in errors.
    pub fn open_store(store: Arc<S>, location: &Path) -> Result<Self> {
        let path = location;
        let group = Group::open(store.clone(), "/").map_err(|e| se(path, e))?;
        let meta_value =
            group
                .attributes()
                .get("physfm")
                .cloned()
                .ok_or_else(|| DataError::Metadata {
                    path: path.to_path_buf(),
                    message: "root attribute `physfm` is missing".into(),
                })?;
        let mut meta = CollectionMeta::from_attribute(path, &meta_value)?;
        let complete = meta_value
            .get("complete")
            .and_then(serde_json::Value::as_bool)
            .unwrap_or(false);
        let open = |name: &str| {
            Array::open(store.clone(), name).map_err(|e| DataError::MissingArray {
                path: path.to_path_buf(),
                array: name.trim_start_matches('/').into(),
                message: e.to_string(),
            })
        };
        let fields = open("/fields")?;
        let time = open("/time")?;
        let params = open("/params")?;
        // An incomplete collection whose three arrays agree on more trajectories than the
        // metadata says was interrupted while growing (`grow` resizes the arrays before the
        // metadata): adopt the arrays' count, so that no written trajectory is lost.
        let n_arrays = [fields.shape(), time.shape(), params.shape()].map(|s| s.first().copied());
        if !complete
            && let [Some(a), Some(b), Some(c)] = n_arrays
            && a == b
            && b == c
            && a > meta.trajectories as u64
        {
            meta.trajectories = a as usize;
        }
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
                        "array `{name}` has dtype {}, expected {}",
                        a.data_type(),
                        want
                    ),
                });
            }
        }
        let mut coordinates = Vec::new();
        for (axis, &n) in meta.axis_names.iter().zip(&meta.spatial_shape) {
            let name = format!("/coords/{axis}");
            let a = open(&name)?;
            check_shape(path, &name[1..], a.shape(), &[n as u64])?;
            let c: Vec<f64> = a
                .retrieve_chunk::<Vec<f64>>(&[0])
                .map_err(|e| DataError::Chunk {
                    path: path.to_path_buf(),
                    array: name[1..].to_string(),
                    index: 0,
                    message: e.to_string(),
                })?;
            coordinates.push(c);
        }
        Ok(Self {
            path: path.to_path_buf(),
            store,
            meta,
            coordinates,
            shard_cache: ArrayShardedReadableExtCache::new(&fields),
            small: Default::default(),
            fields,
            time,
            params,
        })
    }

    /// The collection's metadata.
    pub fn meta(&self) -> &CollectionMeta {
        &self.meta
    }

    /// The store root (a path, or the URL of a remote store).
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

    /// Frames per inner chunk of the field shards (what one window read decodes at least).
    pub fn frames_per_chunk(&self) -> usize {
        self.fields
            .subchunk_shape()
            .map(|s| s[1].get() as usize)
            .unwrap_or(self.meta.frames)
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

    /// Reads trajectory `index` whole.
    pub fn read_trajectory(&self, index: usize) -> Result<TrajectoryRecord> {
        self.read_frames(index, 0, self.meta.frames)
    }

    /// Reads frames `start..start + len` of trajectory `index` (fields, their times, and the
    /// trajectory's parameters), decoding only the inner chunks that hold those frames.
    pub fn read_frames(&self, index: usize, start: usize, len: usize) -> Result<TrajectoryRecord> {
        self.check_index(index)?;
        let m = &self.meta;
        if len == 0 || start + len > m.frames {
            return Err(DataError::Shape {
                what: format!(
                    "{}: frame window of trajectory {index}",
                    self.path.display()
                ),
                expected: format!("within 0..{}", m.frames),
                got: format!("{start}..{}", start + len),
            });
        }
        let i = index as u64;
        let mut subset = vec![i..i + 1, start as u64..(start + len) as u64];
        subset.extend(m.spatial_shape.iter().map(|&s| 0..s as u64));
        subset.push(0..m.channel_names.len() as u64);
        let fields: Vec<f32> = self
            .fields
            .retrieve_array_subset_sharded_opt::<Vec<f32>>(
                &self.shard_cache,
                &subset.as_slice(),
                &CodecOptions::default(),
            )
            .map_err(|e| self.chunk_error("fields", index, e))?;
        self.ensure_read_finite(index, "fields", &fields)?;
        let (all_times, params) = self.times_and_params(index)?;
        let times = all_times[start..start + len].to_vec();
        Ok(TrajectoryRecord {
            fields,
            times,
            params,
        })
    }

    /// The parameters of trajectory `index`, without reading its fields.
    pub fn read_params(&self, index: usize) -> Result<Vec<f64>> {
        Ok(self.times_and_params(index)?.1)
    }

    /// The save times of trajectory `index`, without reading its fields.
    pub fn read_times(&self, index: usize) -> Result<Vec<f64>> {
        Ok(self.times_and_params(index)?.0)
    }

    /// Times and parameters of trajectory `index`, read once and kept.
    fn times_and_params(&self, index: usize) -> Result<(Vec<f64>, Vec<f64>)> {
        self.check_index(index)?;
        if let Some(v) = self.small.lock().expect("cache lock").get(&index) {
            return Ok(v.clone());
        }
        let i = index as u64;
        let times: Vec<f64> = self
            .time
            .retrieve_array_subset::<Vec<f64>>(&[i..i + 1, 0..self.meta.frames as u64])
            .map_err(|e| self.chunk_error("time", index, e))?;
        self.ensure_read_finite(index, "time", &times)?;
        let p = self.meta.param_names.len().max(1) as u64;
        let mut params: Vec<f64> = self
            .params
            .retrieve_array_subset::<Vec<f64>>(&[i..i + 1, 0..p])
            .map_err(|e| self.chunk_error("params", index, e))?;
        params.truncate(self.meta.param_names.len());
        self.ensure_read_finite(index, "params", &params)?;
        let v = (times, params);
        self.small
            .lock()
            .expect("cache lock")
            .insert(index, v.clone());
        Ok(v)
    }

    /// The stored per-channel statistics, if [`write_stats`](TrajectoryCollection::write_stats)
    /// stored any.
    pub fn read_stats(&self) -> Result<Option<ChannelStats>> {
        let Some(value) = self.group_attribute("stats")? else {
            return Ok(None);
        };
        let stats: ChannelStats =
            serde_json::from_value(value).map_err(|e| DataError::Metadata {
                path: self.path.clone(),
                message: format!("/stats attribute `stats`: {e}"),
            })?;
        if stats.channels() != self.meta.channel_names.len() {
            return Err(DataError::Metadata {
                path: self.path.clone(),
                message: format!(
                    "/stats holds {} channels but the collection has {}",
                    stats.channels(),
                    self.meta.channel_names.len()
                ),
            });
        }
        Ok(Some(stats))
    }

    /// The stored splits, if [`write_splits`](TrajectoryCollection::write_splits) stored any.
    pub fn read_splits(&self) -> Result<Option<Splits>> {
        let Some(value) = self.group_attribute("splits")? else {
            return Ok(None);
        };
        let splits: Splits = serde_json::from_value(value).map_err(|e| DataError::Metadata {
            path: self.path.clone(),
            message: format!("/splits attribute `splits`: {e}"),
        })?;
        splits.check(self.len(), &self.path)?;
        Ok(Some(splits))
    }

    /// The attribute `name` of the optional group `/name`; `None` when the group is absent.
    fn group_attribute(&self, name: &str) -> Result<Option<serde_json::Value>> {
        let meta_key = zarrs_storage::StoreKey::new(format!("{name}/zarr.json"))
            .map_err(|e| se(&self.path, e))?;
        if self
            .store
            .size_key(&meta_key)
            .map_err(|e| se(&self.path, e))?
            .is_none()
        {
            return Ok(None);
        }
        let g =
            Group::open(self.store.clone(), &format!("/{name}")).map_err(|e| se(&self.path, e))?;
        g.attributes()
            .get(name)
            .cloned()
            .map(Some)
            .ok_or_else(|| DataError::Metadata {
                path: self.path.clone(),
                message: format!("group /{name} has no attribute `{name}`"),
            })
    }

    fn field_chunk(&self, index: usize) -> Vec<u64> {
        let mut chunk = vec![index as u64, 0];
        chunk.extend(std::iter::repeat_n(0u64, self.meta.spatial_shape.len() + 1));
        chunk
    }

    fn chunk_error(&self, array: &str, index: usize, e: impl std::fmt::Display) -> DataError {
        DataError::Chunk {
            path: self.path.clone(),
            array: array.into(),
            index,
            message: e.to_string(),
        }
    }

    /// Refuses NaN and infinite values on read. A chunk that was never written reads as the
    /// NaN fill value: that case is reported as [`DataError::MissingChunk`].
    fn ensure_read_finite<T: Copy + Into<f64>>(
        &self,
        index: usize,
        array: &str,
        values: &[T],
    ) -> Result<()> {
        let Err(non_finite) = self.ensure_finite(index, array, values) else {
            return Ok(());
        };
        let (a, chunk) = match array {
            "fields" => (&self.fields, self.field_chunk(index)),
            "time" => (&self.time, vec![index as u64, 0]),
            _ => (&self.params, vec![index as u64, 0]),
        };
        let key = a.chunk_key(&chunk);
        let exists = self
            .store
            .size_key(&key)
            .map_err(|e| se(&self.path, e))?
            .is_some();
        Err(if exists {
            non_finite
        } else {
            DataError::MissingChunk {
                path: self.path.clone(),
                array: array.into(),
                index,
                key: key.as_str().into(),
            }
        })
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

/// [`write_atomic`] with the store's error.
pub(crate) fn write_atomically(path: &Path, value: &[u8]) -> Result<()> {
    write_atomic(path, value).map_err(|e| se(path, e))
}

/// Writes `bytes` to `path` atomically: a temporary file in the same folder (created if
/// needed), synced, then renamed over the target, so a crash leaves either the old or the new
/// content and never a torn file. The one atomic write of physfm.
///
/// ```
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("sub").join("report.json");
/// physfm_data::write_atomic(&path, b"{}")?;
/// physfm_data::write_atomic(&path, b"{\"a\": 1}")?;
/// assert_eq!(std::fs::read(&path)?, b"{\"a\": 1}");
/// assert_eq!(std::fs::read_dir(path.parent().unwrap())?.count(), 1);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

fn group_json(attributes: serde_json::Map<String, serde_json::Value>) -> Vec<u8> {
    let doc = serde_json::json!({
        "zarr_format": 3,
        "node_type": "group",
        "attributes": attributes,
    });
    serde_json::to_vec_pretty(&doc).expect("JSON values serialise")
}

fn write_root(root: &Path, meta: &CollectionMeta, complete: bool) -> Result<()> {
    let mut value = serde_json::to_value(meta).map_err(|e| se(root, e))?;
    value
        .as_object_mut()
        .expect("a struct serialises to an object")
        .insert("complete".into(), serde_json::Value::Bool(complete));
    let mut attrs = serde_json::Map::new();
    attrs.insert("physfm".into(), value);
    write_atomically(&root.join("zarr.json"), &group_json(attrs))
}

fn write_group_attribute(root: &Path, name: &str, value: serde_json::Value) -> Result<()> {
    let mut attrs = serde_json::Map::new();
    attrs.insert(name.into(), value);
    write_atomically(&root.join(name).join("zarr.json"), &group_json(attrs))
}

fn se(path: &Path, e: impl std::error::Error + Send + Sync + 'static) -> DataError {
    DataError::StoreAccess {
        path: path.to_path_buf(),
        source: Box::new(e),
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
