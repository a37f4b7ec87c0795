//! Model directories, the same for every model: `config.json` (what the model is: its `kind`,
//! its configuration and whatever else it needs, such as normalisation statistics) beside
//! `model.safetensors` (the weights, by burn's parameter paths), and `spec.toml` where a
//! training pipeline made the model (the spec of that run, [`write_spec`]). Every file is
//! written to a temporary name and renamed.
//!
//! Directories of earlier physfm versions (`model.json` beside burn's binary record
//! `weights.bpk`) still load; saving such a model again writes the current layout and removes
//! the old files.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::store::{ModuleSnapshot, SafetensorsStore};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{ModelError, Result};

/// The description file.
pub const CONFIG_FILE: &str = "config.json";
/// The weights file.
pub const WEIGHTS_FILE: &str = "model.safetensors";
/// The training spec that made the model, where a pipeline saved it.
pub const SPEC_FILE: &str = "spec.toml";
/// The description file of directories saved before physfm 0.2.
const OLD_CONFIG: &str = "model.json";
/// The weights file of directories saved before physfm 0.2 (burn's binary record).
const OLD_WEIGHTS: &str = "weights.bpk";

fn io_error(path: &Path) -> impl Fn(std::io::Error) -> ModelError + '_ {
    crate::error::file_error(path)
}

/// Writes `config.json` (from `description`) and `model.safetensors` (from `module`) into
/// `dir` (created if needed), each to a temporary name and then renamed, weights first, so
/// that a crash never leaves a half-written model and `config.json` names only complete
/// weights. Files of the old layout in `dir` are removed afterwards.
pub(crate) fn save<M: Module, T: Serialize>(dir: &Path, description: &T, module: &M) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(io_error(dir))?;
    let json = serde_json::to_string_pretty(description).expect("plain data serialises");
    let tmp = dir.join(format!("{CONFIG_FILE}.tmp"));
    std::fs::write(&tmp, json).map_err(io_error(&tmp))?;
    let wtmp = dir.join(format!("{WEIGHTS_FILE}.tmp"));
    let mut store = SafetensorsStore::from_file(&wtmp).overwrite(true);
    module
        .save_into(&mut store)
        .map_err(crate::error::file_error(&wtmp))?;
    std::fs::rename(&wtmp, dir.join(WEIGHTS_FILE)).map_err(io_error(dir))?;
    std::fs::rename(&tmp, dir.join(CONFIG_FILE)).map_err(io_error(dir))?;
    for old in [OLD_CONFIG, OLD_WEIGHTS] {
        let path = dir.join(old);
        if path.exists() {
            std::fs::remove_file(&path).map_err(io_error(&path))?;
        }
    }
    Ok(())
}

/// Writes the training spec `text` (TOML) that made the model in `dir` as `spec.toml`,
/// atomically.
pub fn write_spec(dir: &Path, text: &str) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(io_error(dir))?;
    let tmp = dir.join(format!("{SPEC_FILE}.tmp"));
    std::fs::write(&tmp, text).map_err(io_error(&tmp))?;
    std::fs::rename(&tmp, dir.join(SPEC_FILE)).map_err(io_error(dir))
}

/// The training spec saved in model directory `dir`, if a pipeline saved one.
pub fn read_spec(dir: &Path) -> Result<Option<String>> {
    let path = dir.join(SPEC_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error(&path)(e)),
    }
}

/// Whether `dir` holds a model directory (of the current or the old layout).
pub fn is_model_dir(dir: &Path) -> bool {
    dir.join(CONFIG_FILE).exists() || dir.join(OLD_CONFIG).exists()
}

/// The `kind` written in a model directory's description.
pub fn model_kind(dir: &Path) -> Result<String> {
    let (path, text) = read_json(dir)?;
    kind_of(&path, &text)
}

/// The `kind` field of a description's text (read from `path`).
fn kind_of(path: &Path, text: &str) -> Result<String> {
    #[derive(serde::Deserialize)]
    struct Kind {
        kind: String,
    }
    let k: Kind = serde_json::from_str(text).map_err(crate::error::file_error(path))?;
    Ok(k.kind)
}

/// The description's path and text: `config.json`, else an old directory's `model.json`.
fn read_json(dir: &Path) -> Result<(PathBuf, String)> {
    let path = [CONFIG_FILE, OLD_CONFIG]
        .iter()
        .map(|f| dir.join(f))
        .find(|p| p.exists())
        .ok_or_else(|| ModelError::Io {
            path: dir.join(CONFIG_FILE),
            message: format!(
                "not a model directory: neither {CONFIG_FILE} nor (from physfm before 0.2) \
                 {OLD_CONFIG} is there"
            ),
        })?;
    let text = std::fs::read_to_string(&path).map_err(io_error(&path))?;
    Ok((path, text))
}

/// Reads the description, checking its kind.
pub(crate) fn description<T: DeserializeOwned>(dir: &Path, kind: &str) -> Result<T> {
    let (path, text) = read_json(dir)?;
    let found = kind_of(&path, &text)?;
    if found != kind {
        return Err(ModelError::Io {
            path,
            message: format!("kind `{found}`, expected `{kind}`"),
        });
    }
    serde_json::from_str(&text).map_err(crate::error::file_error(&path))
}

/// Loads the weights into `module` (built from the description): `model.safetensors`, every
/// parameter by path with its shape checked (a missing or misshapen one is an error that
/// names it), else an old directory's `weights.bpk`.
pub(crate) fn weights<M: Module>(dir: &Path, mut module: M) -> Result<M> {
    let path = dir.join(WEIGHTS_FILE);
    if !path.exists() && dir.join(OLD_WEIGHTS).exists() {
        let old = dir.join(OLD_WEIGHTS);
        return module
            .try_load_file(&old)
            .map_err(crate::error::file_error(&old));
    }
    let mut store = SafetensorsStore::from_file(&path);
    let applied = module
        .load_from(&mut store)
        .map_err(crate::error::file_error(&path))?;
    if !applied.errors.is_empty() || !applied.unused.is_empty() {
        return Err(ModelError::Io {
            path,
            message: format!(
                "does not fit the model its {CONFIG_FILE} describes: {}{}",
                applied
                    .errors
                    .iter()
                    .map(|e| format!("{e:?}"))
                    .collect::<Vec<_>>()
                    .join("; "),
                if applied.unused.is_empty() {
                    String::new()
                } else {
                    format!(
                        " tensors the model has no place for: {}",
                        applied.unused.join(", ")
                    )
                }
            ),
        });
    }
    Ok(module)
}
