//! `cargo xtask generate <preset>`: writes each split of a dataset preset as a Zarr
//! trajectory collection, in parallel over trajectories, resuming after an interruption.

use std::path::PathBuf;

use anyhow::{Context, bail};
pub(crate) use physfm_data::generate_split;
use physfm_pde::Preset;

use crate::workspace::workspace_root;

/// Generate a dataset from a preset under `datasets/` (or a preset file).
#[derive(Debug, clap::Args)]
pub(crate) struct Generate {
    /// Preset name (`datasets/<name>.toml`) or path to a preset file; omit with --list.
    preset: Option<String>,
    /// Output directory (default `data/<preset name>`); one `<split>.zarr` per split.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Trajectories per environment, replacing each split's count (in a mixture: each part's).
    #[arg(long)]
    trajectories: Option<usize>,
    /// Stored points per spatial axis (the solver grid keeps its ratio to it).
    #[arg(long)]
    resolution: Option<usize>,
    /// Only these splits (repeatable); all by default.
    #[arg(long = "split")]
    splits: Vec<String>,
    /// List the presets and exit.
    #[arg(long)]
    list: bool,
}

/// Finds a preset by name under `datasets/`, or reads it from a path.
pub(crate) fn load_preset(name: &str) -> anyhow::Result<(Preset, PathBuf)> {
    let direct = PathBuf::from(name);
    let path = if direct.is_file() {
        direct
    } else {
        let p = workspace_root()
            .join("datasets")
            .join(format!("{name}.toml"));
        if !p.is_file() {
            bail!(
                "no preset `{name}`: neither a file nor datasets/{name}.toml (run `cargo xtask generate --list`)"
            );
        }
        p
    };
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let preset = Preset::from_toml(&text, &path.display().to_string())?;
    Ok((preset, path))
}

/// Every preset under `datasets/` that parses as one (the quickstart spec does not).
pub(crate) fn list_presets() -> anyhow::Result<Vec<(String, Preset)>> {
    let mut out = Vec::new();
    let dir = workspace_root().join("datasets");
    let mut entries: Vec<_> = std::fs::read_dir(&dir)?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .collect();
    entries.sort();
    for p in entries {
        if p.extension().is_some_and(|e| e == "toml") {
            let text = std::fs::read_to_string(&p)?;
            if let Ok(preset) = Preset::from_toml(&text, &p.display().to_string()) {
                let stem = p
                    .file_stem()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .to_string();
                out.push((stem, preset));
            }
        }
    }
    Ok(out)
}

impl Generate {
    pub(crate) fn run(self) -> anyhow::Result<()> {
        if self.list {
            for (name, p) in list_presets()? {
                let splits: Vec<String> = p
                    .splits
                    .keys()
                    .map(|s| format!("{s} ({})", p.plan(s).map(|v| v.len()).unwrap_or(0)))
                    .collect();
                println!(
                    "{name:<32} {:<24} {}",
                    p.family.family().name(),
                    p.description
                );
                println!("{:<32} splits: {}", "", splits.join(", "));
            }
            return Ok(());
        }
        let Some(name) = self.preset.as_deref() else {
            bail!("name a preset (see `cargo xtask generate --list`)");
        };
        let (mut preset, source) = load_preset(name)?;
        if let Some(n) = self.trajectories {
            if n == 0 {
                bail!("--trajectories must be at least 1");
            }
            for s in preset.splits.values_mut() {
                s.set_trajectories(n);
            }
        }
        if let Some(r) = self.resolution {
            preset.family.set_resolution(r);
        }
        preset.validate().with_context(|| {
            format!(
                "preset {} with the command-line overrides",
                source.display()
            )
        })?;
        let splits: Vec<String> = if self.splits.is_empty() {
            preset.splits.keys().cloned().collect()
        } else {
            for s in &self.splits {
                if !preset.splits.contains_key(s) {
                    bail!(
                        "preset `{}` has no split `{s}` (splits: {})",
                        preset.name,
                        preset.splits.keys().cloned().collect::<Vec<_>>().join(", ")
                    );
                }
            }
            self.splits.clone()
        };
        let out = self
            .out
            .clone()
            .unwrap_or_else(|| workspace_root().join("data").join(&preset.name));
        println!(
            "{}: {} ({})",
            preset.name,
            preset.description,
            preset.family.family().equation()
        );
        let mut reports = Vec::new();
        for split in &splits {
            let path = out.join(format!("{split}.zarr"));
            let r = generate_split(&preset, split, &path, true)?;
            println!(
                "{:<14} {:>6} trajectories ({} generated now) in {:>7.1} s -> {}",
                r.split,
                r.trajectories,
                r.generated,
                r.seconds,
                r.path.display()
            );
            reports.push(r);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use physfm_data::TrajectoryCollection;
    use std::path::Path;

    const PRESET: &str = r#"
        name = "resume-test"
        description = "small Gray-Scott set"
        seed = 3
        [family]
        kind = "gray_scott2d"
        resolution = 16
        length = 16.0
        [time]
        t_end = 20.0
        frames = 4
        irregular = true
        [splits.train]
        trajectories = 3
        params.F = { values = [0.03, 0.039] }
    "#;

    fn read_all(path: &Path) -> Vec<(Vec<f32>, Vec<f64>, Vec<f64>)> {
        let c = TrajectoryCollection::open(path).unwrap();
        (0..c.len())
            .map(|i| {
                let r = c.read_trajectory(i).unwrap();
                (r.fields, r.times, r.params)
            })
            .collect()
    }

    #[test]
    fn an_interrupted_generation_resumes_to_the_same_collection() {
        let preset = Preset::from_toml(PRESET, "test").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let whole = dir.path().join("whole.zarr");
        let r = generate_split(&preset, "train", &whole, false).unwrap();
        assert_eq!((r.trajectories, r.generated), (6, 6));
        let reference = read_all(&whole);
        // Irregular times differ between trajectories.
        assert_ne!(reference[0].1, reference[1].1);

        // An interrupted run: a copy of the finished store with trajectory 2 lost, trajectory
        // 4 cut mid-write, and the completion mark not yet set.
        let cut = dir.path().join("cut.zarr");
        copy_dir(&whole, &cut);
        let c = TrajectoryCollection::open(&cut).unwrap();
        let chunk = |i: usize| cut.join("fields").join("c").join(i.to_string());
        let lost = chunk(2);
        assert!(lost.exists(), "chunk layout changed: {}", lost.display());
        std::fs::remove_dir_all(&lost).unwrap();
        let partial = find_file(&chunk(4));
        let bytes = std::fs::read(&partial).unwrap();
        std::fs::write(&partial, &bytes[..bytes.len() / 2]).unwrap();
        drop(c);
        let meta = serde_json::from_slice::<serde_json::Value>(
            &std::fs::read(cut.join("zarr.json")).unwrap(),
        )
        .unwrap();
        let mut meta = meta;
        meta["attributes"]["physfm"]["complete"] = serde_json::Value::Bool(false);
        std::fs::write(cut.join("zarr.json"), serde_json::to_vec(&meta).unwrap()).unwrap();
        assert!(
            TrajectoryCollection::open(&cut).is_err(),
            "an incomplete collection must not open"
        );

        let r = generate_split(&preset, "train", &cut, false).unwrap();
        assert_eq!(
            r.generated, 2,
            "only the lost and the cut trajectories are redone"
        );
        assert_eq!(read_all(&cut), reference);
        // A finished collection is left alone.
        assert_eq!(
            generate_split(&preset, "train", &cut, false)
                .unwrap()
                .generated,
            0
        );
        // A different preset refuses to touch it.
        let mut other = preset.clone();
        other.seed = 4;
        let e = generate_split(&other, "train", &cut, false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("different preset"), "{e}");
    }

    fn copy_dir(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            let target = to.join(e.file_name());
            if e.file_type().unwrap().is_dir() {
                copy_dir(&e.path(), &target);
            } else {
                std::fs::copy(e.path(), target).unwrap();
            }
        }
    }

    fn find_file(p: &Path) -> PathBuf {
        if p.is_file() {
            return p.to_path_buf();
        }
        let mut entries: Vec<_> = std::fs::read_dir(p)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        find_file(&entries[0])
    }

    #[test]
    fn every_shipped_preset_parses_and_plans() {
        let dir = workspace_root().join("datasets");
        let mut n = 0;
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|e| e == "toml")
                && p.file_name().is_some_and(|f| f != "quickstart.toml")
            {
                let (preset, _) = load_preset(p.to_str().unwrap()).unwrap();
                for s in preset.splits.keys() {
                    assert!(!preset.plan(s).unwrap().is_empty());
                }
                n += 1;
            }
        }
        assert!(n >= 12, "only {n} presets found");
    }
}
