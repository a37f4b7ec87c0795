//! Repository hygiene, checked as tests (run by `cargo xtask test` through `cargo test`).

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    fn root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap()
            .to_path_buf()
    }

    fn members() -> Vec<PathBuf> {
        let manifest: toml::Table =
            toml::from_str(&std::fs::read_to_string(root().join("Cargo.toml")).unwrap()).unwrap();
        manifest["workspace"]["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| root().join(m.as_str().unwrap()))
            .collect()
    }

    #[test]
    fn every_member_uses_workspace_lints_and_workspace_versions() {
        for dir in members() {
            let text = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
            let manifest: toml::Table = toml::from_str(&text).unwrap();
            assert_eq!(
                manifest["lints"]["workspace"].as_bool(),
                Some(true),
                "{}: [lints] workspace = true",
                dir.display()
            );
            for section in ["dependencies", "dev-dependencies"] {
                if let Some(deps) = manifest.get(section).and_then(|d| d.as_table()) {
                    for (name, spec) in deps {
                        let inherits = spec
                            .as_table()
                            .and_then(|t| t.get("workspace"))
                            .and_then(|w| w.as_bool())
                            == Some(true);
                        assert!(
                            inherits,
                            "{}: [{section}] {name} must come from [workspace.dependencies]",
                            dir.display()
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn workspace_dependencies_are_pinned_exactly() {
        let manifest: toml::Table =
            toml::from_str(&std::fs::read_to_string(root().join("Cargo.toml")).unwrap()).unwrap();
        for (name, spec) in manifest["workspace"]["dependencies"].as_table().unwrap() {
            let version = match spec {
                toml::Value::String(v) => Some(v.as_str()),
                toml::Value::Table(t) if t.contains_key("path") => None,
                toml::Value::Table(t) => t.get("version").and_then(|v| v.as_str()),
                _ => None,
            };
            if let Some(v) = version {
                assert!(
                    v.starts_with('='),
                    "workspace dependency {name} = {v:?} is not an exact pin"
                );
            }
        }
    }

    #[test]
    fn every_library_crate_opens_with_a_titled_doc_and_an_example() {
        for dir in members() {
            let lib = dir.join("src/lib.rs");
            if !lib.exists() || dir.ends_with("benches") {
                continue;
            }
            let text = std::fs::read_to_string(&lib).unwrap();
            assert!(
                text.starts_with("//! # "),
                "{}: crate docs must open with a title",
                lib.display()
            );
            let docs: String = text
                .lines()
                .take_while(|l| l.starts_with("//!"))
                .collect::<Vec<_>>()
                .join("\n");
            assert!(
                docs.contains("//! ```"),
                "{}: crate docs need an example",
                lib.display()
            );
        }
    }

    #[test]
    fn generated_outputs_are_ignored() {
        let ignore = std::fs::read_to_string(root().join(".gitignore")).unwrap();
        for entry in ["/target", "/runs", "*.zarr"] {
            assert!(
                ignore.lines().any(|l| l.trim() == entry),
                ".gitignore lacks {entry}"
            );
        }
    }
}
