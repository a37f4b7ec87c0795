//! The workspace's paths and the file writes and reads every command shares.

use std::path::{Path, PathBuf};

use anyhow::Context;

/// The workspace's root directory (where `datasets/`, `data/` and `runs/` live).
pub(crate) fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask sits in the workspace")
        .to_path_buf()
}

/// [`physfm_data::write_atomic`] with a message naming the file.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    physfm_data::write_atomic(path, bytes)
        .with_context(|| format!("cannot write {}", path.display()))
}
