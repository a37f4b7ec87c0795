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

/// Features the tests turn on: the HDF5 readers (PDEBench, The Well), which need the system
/// HDF5 library.
const FEATURES: &str = "physfm-data/hdf5,xtask/hdf5";

impl Test {
    pub(crate) fn run(self) -> anyhow::Result<()> {
        // The default build needs nothing beyond cargo. The tests also cover the optional
        // HDF5 readers, which link the system HDF5 library: check for it, install it where
        // we may (Debian/Ubuntu as root or with sudo), or say what to install.
        ensure_hdf5()?;
        let mut steps: Vec<Vec<&str>> = Vec::new();
        if !self.tests_only {
            steps.push(vec!["fmt", "--all", "--", "--check"]);
            steps.push(vec![
                "clippy",
                "--workspace",
                "--all-targets",
                "--features",
                FEATURES,
                "--",
                "-D",
                "warnings",
            ]);
            // The code compiled only without the feature (xtask re-running itself with it).
            steps.push(vec![
                "clippy",
                "-p",
                "xtask",
                "-p",
                "physfm-data",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ]);
        }
        steps.push(vec!["test", "--workspace", "--features", FEATURES]);
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        if !self.tests_only {
            for (tool, component) in [("fmt", "rustfmt"), ("clippy", "clippy")] {
                ensure_component(&cargo, tool, component)?;
            }
        }
        for args in steps {
            println!("xtask test: cargo {}", args.join(" "));
            let status = Command::new(&cargo)
                .args(&args)
                .status()
                .with_context(|| format!("could not start `cargo {}`", args[0]))?;
            if !status.success() {
                bail!("`cargo {}` failed ({status})", args.join(" "));
            }
        }
        println!("xtask test: all checks passed");
        Ok(())
    }
}

/// Whether pkg-config finds the HDF5 library.
fn hdf5_found() -> bool {
    Command::new("pkg-config")
        .args(["--exists", "hdf5"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Makes sure the system HDF5 library (Debian's `libhdf5-dev`) and pkg-config are there.
fn ensure_hdf5() -> anyhow::Result<()> {
    if hdf5_found() {
        println!("xtask test: system HDF5 library found (for the `hdf5` feature's tests)");
        return Ok(());
    }
    let root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
    let apt = Command::new("apt-get").arg("--version").output().is_ok();
    let sudo = !root
        && Command::new("sudo")
            .args(["-n", "true"])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
    if apt && (root || sudo) {
        println!("xtask test: installing libhdf5-dev and pkg-config with apt-get ...");
        let run = |args: &[&str]| -> anyhow::Result<bool> {
            let mut c = if root {
                Command::new("apt-get")
            } else {
                let mut c = Command::new("sudo");
                c.args(["-n", "apt-get"]);
                c
            };
            Ok(c.args(args)
                .env("DEBIAN_FRONTEND", "noninteractive")
                .status()
                .context("running apt-get")?
                .success())
        };
        // Unmet dependencies without a fresh package list: update first.
        let ok = run(&["update", "-qq"])?
            && run(&[
                "install",
                "-y",
                "-qq",
                "--no-install-recommends",
                "libhdf5-dev",
                "pkg-config",
            ])?;
        if ok && hdf5_found() {
            return Ok(());
        }
    }
    bail!(
        "the tests need the system HDF5 library (for physfm-data's `hdf5` feature), and \
         pkg-config does not find it; install it (Debian/Ubuntu: `apt-get install \
         libhdf5-dev pkg-config`) and run again"
    )
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
