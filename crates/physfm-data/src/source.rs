//! One reading interface over every kind of trajectory store: native Zarr collections (local
//! or over HTTP), collections held in memory, and the PDEBench and The Well HDF5 readers.

use std::path::Path;

use zarrs_storage::ReadableStorageTraits;

use crate::{
    CollectionMeta, DataError, InMemoryCollection, Result, TrajectoryCollection, TrajectoryRecord,
};

/// Something that holds trajectories described by a [`CollectionMeta`] and can read frames of
/// one of them without reading the rest.
pub trait TrajectorySource: Send + Sync {
    /// Metadata of the trajectories.
    fn meta(&self) -> &CollectionMeta;

    /// Grid coordinates per spatial axis.
    fn coordinates(&self) -> &[Vec<f64>];

    /// Where the data lives (a path or URL), for messages.
    fn location(&self) -> &Path;

    /// Frames `start..start + len` of trajectory `index`, with their times and the
    /// trajectory's parameters.
    fn read_frames(&self, index: usize, start: usize, len: usize) -> Result<TrajectoryRecord>;

    /// The parameters of trajectory `index` (without reading its fields where the store
    /// allows).
    fn read_params(&self, index: usize) -> Result<Vec<f64>> {
        Ok(self.read_frames(index, 0, 1)?.params)
    }

    /// The save times of trajectory `index` (without reading its fields where the store
    /// allows).
    fn read_times(&self, index: usize) -> Result<Vec<f64>> {
        Ok(self.read_trajectory(index)?.times)
    }

    /// Trajectory `index`, whole.
    fn read_trajectory(&self, index: usize) -> Result<TrajectoryRecord> {
        self.read_frames(index, 0, self.meta().frames)
    }

    /// Number of trajectories.
    fn len(&self) -> usize {
        self.meta().trajectories
    }

    /// Whether there are none.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<S: ?Sized + ReadableStorageTraits + 'static> TrajectorySource for TrajectoryCollection<S> {
    fn meta(&self) -> &CollectionMeta {
        TrajectoryCollection::meta(self)
    }

    fn coordinates(&self) -> &[Vec<f64>] {
        TrajectoryCollection::coordinates(self)
    }

    fn location(&self) -> &Path {
        self.path()
    }

    fn read_frames(&self, index: usize, start: usize, len: usize) -> Result<TrajectoryRecord> {
        TrajectoryCollection::read_frames(self, index, start, len)
    }

    fn read_params(&self, index: usize) -> Result<Vec<f64>> {
        TrajectoryCollection::read_params(self, index)
    }

    fn read_times(&self, index: usize) -> Result<Vec<f64>> {
        TrajectoryCollection::read_times(self, index)
    }
}

impl TrajectorySource for InMemoryCollection {
    fn meta(&self) -> &CollectionMeta {
        &self.meta
    }

    fn coordinates(&self) -> &[Vec<f64>] {
        &self.coordinates
    }

    fn location(&self) -> &Path {
        Path::new("<memory>")
    }

    fn read_frames(&self, index: usize, start: usize, len: usize) -> Result<TrajectoryRecord> {
        let rec = self.records.get(index).ok_or_else(|| DataError::Index {
            what: format!("in-memory collection `{}`: trajectory", self.meta.name),
            index,
            len: self.records.len(),
        })?;
        if len == 0 || start + len > self.meta.frames {
            return Err(DataError::Shape {
                what: format!("frame window of trajectory {index}"),
                expected: format!("within 0..{}", self.meta.frames),
                got: format!("{start}..{}", start + len),
            });
        }
        let fl = self.meta.frame_len();
        Ok(TrajectoryRecord {
            fields: rec.fields[start * fl..(start + len) * fl].to_vec(),
            times: rec.times[start..start + len].to_vec(),
            params: rec.params.clone(),
        })
    }
}

/// Copies every trajectory of `source` into a new native collection at `out` (refusing an
/// existing path), marks it complete and returns it. `progress` is called once per
/// trajectory written. The metadata is the source's, with `generator` recording the copy.
pub fn copy_to_collection(
    source: &dyn TrajectorySource,
    out: &Path,
    options: crate::WriteOptions,
    progress: &dyn Fn(),
) -> Result<TrajectoryCollection> {
    let coll = TrajectoryCollection::create_with(
        out,
        source.meta().clone(),
        source.coordinates(),
        options,
    )?;
    for i in 0..source.len() {
        let rec = source.read_trajectory(i)?;
        coll.write_trajectory(i, &rec.fields, &rec.times, &rec.params)?;
        progress();
    }
    coll.finalize()?;
    Ok(coll)
}

/// The native collections directly inside `dir` (e.g. the splits `cargo xtask generate`
/// writes), sorted by name, with whether each is complete. Entries that are not Zarr
/// stores are skipped; a store that cannot be opened is an error naming it.
pub fn list_collections(dir: &Path) -> Result<Vec<(std::path::PathBuf, CollectionMeta, bool)>> {
    let entries = std::fs::read_dir(dir).map_err(|e| DataError::StoreAccess {
        path: dir.to_path_buf(),
        source: Box::new(e),
    })?;
    let mut paths: Vec<std::path::PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("zarr.json").is_file())
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let c = TrajectoryCollection::open_any(&p)?;
            let complete = c.is_complete()?;
            Ok((p, c.meta().clone(), complete))
        })
        .collect()
}
