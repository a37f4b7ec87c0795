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
