//! Atomic checkpoint slots in a run directory.
//!
//! A slot (`last`, `best`) is published by writing every file into `<slot>-<step>.tmp/`,
//! syncing them, renaming the directory to `<slot>-<step>/`, then replacing the pointer file
//! `<slot>.json` (written to a temporary name and renamed). A crash at any point leaves the
//! previous pointer and the directory it names intact; leftovers of an interrupted write are
//! removed by the next publish.

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{Result, TrainError};

/// The pointer file's content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Pointer {
    dir: String,
    step: usize,
}

/// The checkpoint directory of a run.
#[derive(Debug, Clone)]
pub struct Checkpoints {
    root: PathBuf,
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> TrainError + '_ {
    crate::error::file_error(path)
}

/// Flushes a file's data to disk.
fn sync_file(path: &Path) -> Result<()> {
    fs::File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(io(path))
}

/// [`physfm_data::write_atomic`] with training's error.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    physfm_data::write_atomic(path, bytes).map_err(io(path))
}

impl Checkpoints {
    /// Checkpoints under `root` (created on the first publish).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The directory holding the slots.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Publishes `slot` at `step`: `write` fills the fresh directory it is given; then the
    /// slot points to it and older directories of the slot are removed. Returns the new
    /// directory.
    pub fn publish(
        &self,
        slot: &str,
        step: usize,
        write: impl FnOnce(&Path) -> Result<()>,
    ) -> Result<PathBuf> {
        fs::create_dir_all(&self.root).map_err(io(&self.root))?;
        let name = format!("{slot}-{step:09}");
        let tmp = self.root.join(format!("{name}.tmp"));
        if tmp.exists() {
            fs::remove_dir_all(&tmp).map_err(io(&tmp))?;
        }
        fs::create_dir(&tmp).map_err(io(&tmp))?;
        write(&tmp)?;
        for entry in fs::read_dir(&tmp).map_err(io(&tmp))? {
            sync_file(&entry.map_err(io(&tmp))?.path())?;
        }
        let dir = self.root.join(&name);
        if dir.exists() {
            // A checkpoint of the same step from a run that died before moving its pointer.
            fs::remove_dir_all(&dir).map_err(io(&dir))?;
        }
        fs::rename(&tmp, &dir).map_err(io(&dir))?;
        let pointer = Pointer {
            dir: name.clone(),
            step,
        };
        write_atomic(
            &self.root.join(format!("{slot}.json")),
            serde_json::to_string(&pointer)
                .expect("plain data serialises")
                .as_bytes(),
        )?;
        self.remove_stale(slot, &name)?;
        Ok(dir)
    }

    /// The directory and step `slot` points to, if it was ever published.
    pub fn current(&self, slot: &str) -> Result<Option<(PathBuf, usize)>> {
        let path = self.root.join(format!("{slot}.json"));
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(&path)(e)),
        };
        let p: Pointer = serde_json::from_str(&text).map_err(|e| TrainError::Io {
            path: path.clone(),
            message: format!("not a checkpoint pointer: {e}"),
        })?;
        let dir = self.root.join(&p.dir);
        if !dir.is_dir() {
            return Err(TrainError::Io {
                path,
                message: format!("points to {}, which does not exist", dir.display()),
            });
        }
        Ok(Some((dir, p.step)))
    }

    /// Removes the directories of `slot` other than `keep`, finished or not.
    fn remove_stale(&self, slot: &str, keep: &str) -> Result<()> {
        let prefix = format!("{slot}-");
        for entry in fs::read_dir(&self.root).map_err(io(&self.root))? {
            let entry = entry.map_err(io(&self.root))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let ours = name.strip_prefix(&prefix).is_some_and(|rest| {
                rest.trim_end_matches(".tmp")
                    .bytes()
                    .all(|b| b.is_ascii_digit())
            });
            if ours && name != keep && entry.path().is_dir() {
                fs::remove_dir_all(entry.path()).map_err(io(&entry.path()))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_replaces_the_slot_and_removes_old_and_unfinished_directories() {
        let tmp = tempfile::tempdir().unwrap();
        let c = Checkpoints::new(tmp.path().join("ckpt"));
        assert_eq!(c.current("last").unwrap(), None);
        let a = c
            .publish("last", 10, |d| {
                fs::write(d.join("x"), b"10").unwrap();
                Ok(())
            })
            .unwrap();
        assert_eq!(c.current("last").unwrap(), Some((a.clone(), 10)));
        // A crash in the middle of a later write leaves an unfinished directory behind.
        fs::create_dir(c.root().join("last-000000020.tmp")).unwrap();
        assert_eq!(c.current("last").unwrap().unwrap().1, 10);
        let b = c
            .publish("last", 30, |d| {
                fs::write(d.join("x"), b"30").unwrap();
                Ok(())
            })
            .unwrap();
        assert_eq!(fs::read(b.join("x")).unwrap(), b"30");
        assert!(!a.exists());
        assert!(!c.root().join("last-000000020.tmp").exists());
        // Other slots are left alone.
        c.publish("best", 10, |_| Ok(())).unwrap();
        c.publish("last", 40, |_| Ok(())).unwrap();
        assert_eq!(c.current("best").unwrap().unwrap().1, 10);
    }

    #[test]
    fn a_failed_write_keeps_the_previous_checkpoint() {
        let tmp = tempfile::tempdir().unwrap();
        let c = Checkpoints::new(tmp.path());
        c.publish("last", 5, |_| Ok(())).unwrap();
        let e = c.publish("last", 6, |d| {
            Err(TrainError::Io {
                path: d.to_path_buf(),
                message: "disk full".into(),
            })
        });
        assert!(e.is_err());
        assert_eq!(c.current("last").unwrap().unwrap().1, 5);
    }

    #[test]
    fn a_corrupt_pointer_is_named() {
        let tmp = tempfile::tempdir().unwrap();
        fs::write(tmp.path().join("last.json"), "{").unwrap();
        let e = Checkpoints::new(tmp.path())
            .current("last")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("last.json") && e.contains("not a checkpoint pointer"),
            "{e}"
        );
    }
}
