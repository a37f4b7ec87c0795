//! `cargo xtask test`: what CI runs.

use std::process::Command;

use anyhow::{Context, bail};

/// Checks the tools the tests need, then runs `cargo fmt --check`, `cargo clippy -D
/// warnings` and `cargo test --workspace`.
#[derive(Debug, clap::Args)]
pub(crate) struct Test {
    /// Skip the formatting and lint checks (tests only).
    #[arg(long)]
    tests_only: bool,
}

impl Test {
    pub(crate) fn run(self) -> anyhow::Result<()> {
        // The default build and its tests need nothing beyond cargo: no system library, no
        // Python. Say so, so a failing run is not blamed on a missing package.
        println!(
            "xtask test: the default feature set needs only cargo; no system packages to check"
        );
        let steps: Vec<(&str, Vec<&str>)> = if self.tests_only {
            vec![("test", vec!["test", "--workspace"])]
        } else {
            vec![
                ("fmt", vec!["fmt", "--all", "--", "--check"]),
                (
                    "clippy",
                    vec![
                        "clippy",
                        "--workspace",
                        "--all-targets",
                        "--",
                        "-D",
                        "warnings",
                    ],
                ),
                ("test", vec!["test", "--workspace"]),
            ]
        };
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        if !self.tests_only {
            for (tool, component) in [("fmt", "rustfmt"), ("clippy", "clippy")] {
                ensure_component(&cargo, tool, component)?;
            }
        }
        for (name, args) in steps {
            println!("xtask test: cargo {}", args.join(" "));
            let status = Command::new(&cargo)
                .args(&args)
                .status()
                .with_context(|| format!("could not start `cargo {name}`"))?;
            if !status.success() {
                bail!("`cargo {}` failed ({status})", args.join(" "));
            }
        }
        println!("xtask test: all checks passed");
        Ok(())
    }
}

/// Checks that `cargo <tool>` runs; if not, installs its rustup component, or says how to.
fn ensure_component(cargo: &str, tool: &str, component: &str) -> anyhow::Result<()> {
    let works = |c: &str| {
        Command::new(c)
            .args([tool, "--version"])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    };
    if works(cargo) {
        return Ok(());
    }
    println!(
        "xtask test: `cargo {tool}` is missing; installing the rustup component `{component}`"
    );
    let installed = Command::new("rustup")
        .args(["component", "add", component])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !installed || !works(cargo) {
        bail!(
            "`cargo {tool}` is not available and `rustup component add {component}` did not provide it"
        );
    }
    Ok(())
}
