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
/// HDF5 library, and the cubecl kernels of the spectral convolution on wgpu, which need a
/// Vulkan driver (Mesa's software one on a machine without a GPU).
const FEATURES: &str = "physfm-data/hdf5,xtask/hdf5,physfm-spectral/wgpu";

impl Test {
    pub(crate) fn run(self) -> anyhow::Result<()> {
        // The default build needs nothing beyond cargo. The tests also cover the optional
        // HDF5 readers, which link the system HDF5 library, and the cubecl kernels, which run
        // through wgpu on a Vulkan driver: check for both, install them where we may
        // (Debian/Ubuntu as root or with sudo), or say what to install.
        ensure_hdf5()?;
        ensure_vulkan()?;
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
            // The code compiled only without the `hdf5` feature (xtask re-running itself with
            // it). The GPU features stay on (xtask's `ci` feature, as CI builds xtask): with
            // them off, burn and cubecl would be checked a second time for nothing, since no
            // code is compiled only without them.
            steps.push(vec![
                "clippy",
                "-p",
                "xtask",
                "-p",
                "physfm-data",
                "--all-targets",
                "--features",
                "xtask/ci",
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
        // Mesa's Vulkan driver complains on every device open when the XDG runtime directory
        // is unset (as in CI containers); give it a private one.
        let xdg = match std::env::var_os("XDG_RUNTIME_DIR") {
            Some(dir) => std::path::PathBuf::from(dir),
            None => {
                let dir = std::env::temp_dir().join("physfm-xdg-runtime");
                std::fs::create_dir_all(&dir)?;
                #[cfg(unix)]
                {
                    use std::os::unix::fs::PermissionsExt;
                    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
                }
                dir
            }
        };
        for args in steps {
            println!("xtask test: cargo {}", args.join(" "));
            let status = Command::new(&cargo)
                .env("XDG_RUNTIME_DIR", &xdg)
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
    ensure_system_packages(
        "the system HDF5 library (for physfm-data's `hdf5` feature)",
        &["libhdf5-dev", "pkg-config"],
        hdf5_found,
    )
}

/// Whether a Vulkan loader and at least one Vulkan driver (on a machine without a GPU, Mesa's
/// software rasteriser lavapipe) are installed.
fn vulkan_found() -> bool {
    let loader = [
        "/usr/lib/x86_64-linux-gnu",
        "/usr/lib/aarch64-linux-gnu",
        "/usr/lib64",
        "/usr/lib",
    ]
    .iter()
    .any(|d| std::path::Path::new(d).join("libvulkan.so.1").exists());
    let driver = ["/usr/share/vulkan/icd.d", "/etc/vulkan/icd.d"]
        .iter()
        .any(|d| std::fs::read_dir(d).is_ok_and(|mut entries| entries.next().is_some()));
    loader && driver
}

/// Makes sure a Vulkan driver is there for the cubecl kernels' tests (wgpu): Mesa's
/// `mesa-vulkan-drivers` on a machine without a GPU.
fn ensure_vulkan() -> anyhow::Result<()> {
    ensure_system_packages(
        "a Vulkan driver (for physfm-spectral's cubecl kernels through wgpu)",
        &["mesa-vulkan-drivers", "libvulkan1"],
        vulkan_found,
    )
}

/// Checks for a system dependency with `found`; if missing, installs `packages` with apt-get
/// where we may (root or passwordless sudo), or says what to install.
fn ensure_system_packages(
    what: &str,
    packages: &[&str],
    found: fn() -> bool,
) -> anyhow::Result<()> {
    if found() {
        println!("xtask test: found {what}");
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
        println!(
            "xtask test: installing {} with apt-get ...",
            packages.join(" ")
        );
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
        let mut install = vec!["install", "-y", "-qq", "--no-install-recommends"];
        install.extend(packages);
        let ok = run(&["update", "-qq"])? && run(&install)?;
        if ok && found() {
            return Ok(());
        }
    }
    bail!(
        "the tests need {what}, which is not installed; install it (Debian/Ubuntu: \
         `apt-get install {}`) and run again",
        packages.join(" ")
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
