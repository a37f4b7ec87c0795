//! Model directories: `model.json` (what the model is: its `kind` and configuration) beside
//! `weights.bpk` (burn's binary record of the weights), both written atomically.

use std::path::{Path, PathBuf};

use burn::module::Module;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{ModelError, Result};

fn io_error(path: &Path) -> impl Fn(std::io::Error) -> ModelError + '_ {
    move |e| ModelError::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// Writes `model.json` (from `description`) and `weights.bpk` (from `module`) into `dir`
/// (created if needed), each to a temporary name and then renamed, weights first, so that a
/// crash never leaves a half-written model and `model.json` names only complete weights.
pub(crate) fn save<M: Module, T: Serialize>(dir: &Path, description: &T, module: &M) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(io_error(dir))?;
    let json = serde_json::to_string_pretty(description).expect("plain data serialises");
    let tmp = dir.join("model.json.tmp");
    std::fs::write(&tmp, json).map_err(io_error(&tmp))?;
    let wtmp = dir.join("weights.bpk.tmp");
    module
        .clone()
        .save_file(&wtmp)
        .map_err(|e| ModelError::Io {
            path: wtmp.clone(),
            message: e.to_string(),
        })?;
    std::fs::rename(&wtmp, dir.join("weights.bpk")).map_err(io_error(dir))?;
    std::fs::rename(&tmp, dir.join("model.json")).map_err(io_error(dir))?;
    Ok(())
}

/// The `kind` written in a model directory's `model.json`.
pub fn model_kind(dir: &Path) -> Result<String> {
    let (path, text) = read_json(dir)?;
    kind_of(&path, &text)
}

/// The `kind` field of `model.json`'s text (read from `path`).
fn kind_of(path: &Path, text: &str) -> Result<String> {
    #[derive(serde::Deserialize)]
    struct Kind {
        kind: String,
    }
    let k: Kind = serde_json::from_str(text).map_err(|e| ModelError::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    Ok(k.kind)
}

fn read_json(dir: &Path) -> Result<(PathBuf, String)> {
    let path = dir.join("model.json");
    let text = std::fs::read_to_string(&path).map_err(io_error(&path))?;
    Ok((path, text))
}

/// Reads `model.json`, checking its kind.
pub(crate) fn description<T: DeserializeOwned>(dir: &Path, kind: &str) -> Result<T> {
    let (path, text) = read_json(dir)?;
    let found = kind_of(&path, &text)?;
    if found != kind {
        return Err(ModelError::Io {
            path,
            message: format!("kind `{found}`, expected `{kind}`"),
        });
    }
    serde_json::from_str(&text).map_err(|e| ModelError::Io {
        path,
        message: e.to_string(),
    })
}

/// Loads `weights.bpk` into `module` (built from the description).
pub(crate) fn weights<M: Module>(dir: &Path, module: M) -> Result<M> {
    let path = dir.join("weights.bpk");
    module.try_load_file(&path).map_err(|e| ModelError::Io {
        path,
        message: e.to_string(),
    })
}
