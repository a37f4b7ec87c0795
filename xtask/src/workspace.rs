//! The workspace's paths and the file writes and reads every command shares.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde_json::Value;

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

/// A JSON file, with an error naming it when it is missing or not JSON.
pub(crate) fn read_value(path: &Path) -> anyhow::Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not valid JSON", path.display()))
}
