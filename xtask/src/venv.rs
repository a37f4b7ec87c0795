//! The Python virtual environment of the parity checks and the side-by-side benchmarks
//! (`xtask/.venv`), created once and kept in step with the pinned requirements.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

use crate::workspace::workspace_root;

/// Creates (once) the virtual environment with the pinned requirements; returns its Python.
pub(crate) fn ensure_venv(python: &str, requirements: &Path) -> anyhow::Result<PathBuf> {
    ensure_venv_with(python, requirements, &[])
}

/// [`ensure_venv`] with extra `pip install` flags for this requirements file (e.g.
/// `--no-deps` for packages whose declared pins conflict with the others).
pub(crate) fn ensure_venv_with(
    python: &str,
    requirements: &Path,
    pip_flags: &[&str],
) -> anyhow::Result<PathBuf> {
    let venv = workspace_root().join("xtask").join(".venv");
    let py = venv.join("bin").join("python");
    if !py.is_file() {
        println!("creating {} ...", venv.display());
        let s = Command::new(python)
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .with_context(|| format!("running {python}"))?;
        if !s.success() {
            bail!("`{python} -m venv` failed");
        }
    }
    let wanted = std::fs::read_to_string(requirements)?;
    let stamp = venv.join(format!(
        ".installed-{}",
        requirements
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
    ));
    if std::fs::read_to_string(&stamp).ok().as_deref() != Some(wanted.as_str()) {
        println!(
            "installing {} into the virtual environment ...",
            requirements.display()
        );
        let s = Command::new(&py)
            .args(["-m", "pip", "install", "--quiet"])
            .args(pip_flags)
            .arg("-r")
            .arg(requirements)
            .status()?;
        if !s.success() {
            bail!("pip install -r {} failed", requirements.display());
        }
        std::fs::write(&stamp, wanted)?;
    }
    Ok(py)
}
