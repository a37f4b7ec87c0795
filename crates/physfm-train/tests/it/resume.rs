//! A run killed with SIGKILL and resumed from its last checkpoint ends with the same loss
//! curve, validation curve and final weights as an uninterrupted run with the same seed.
//!
//! Both runs are separate processes of the `physfm-train` binary on the CPU backend.

#![cfg(unix)]

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::{Device, Tensor};
use physfm_data::TrajectoryCollection;
use physfm_models::Stepper1d;

const BIN: &str = env!("CARGO_BIN_EXE_physfm-train");

fn write_store(path: &Path, nus: &[f64]) {
    let data = common::tiny_burgers(nus, 2);
    let c = TrajectoryCollection::create(path, data.meta.clone(), &data.coordinates).unwrap();
    for (i, r) in data.records.iter().enumerate() {
        c.write_trajectory(i, &r.fields, &r.times, &r.params)
            .unwrap();
    }
    c.finalize().unwrap();
}

const SPEC: &str = r#"
seed = 3
[model]
n_modes = 6
width = 12
n_layers = 2
param_log = [true]
[train]
steps = 600
batch_size = 8
learning_rate = 3e-3
warmup_steps = 20
log_every = 10
checkpoint_every = 25
validate_every = 50
objective = { kind = "pushforward", steps = 2 }
input_noise = 0.01
seed = 11
"#;

fn command(dir: &Path, out: &Path) -> Command {
    let mut c = Command::new(BIN);
    c.arg("--spec")
        .arg(dir.join("spec.toml"))
        .arg("--train")
        .arg(dir.join("train.zarr"))
        .arg("--valid")
        .arg(dir.join("valid.zarr"))
        .arg("--out")
        .arg(out)
        .arg("--quiet")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    c
}

fn run_to_end(mut c: Command) {
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "physfm-train failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `(step, loss or valid_loss)` of every log line.
fn curve(run: &Path) -> Vec<(u64, String, f64)> {
    std::fs::read_to_string(run.join("train_log.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let key = if v.get("loss").is_some() {
                "loss"
            } else {
                "valid_loss"
            };
            (
                v["step"].as_u64().unwrap(),
                key.to_string(),
                v[key].as_f64().unwrap(),
            )
        })
        .collect()
}

struct Weights(Vec<Vec<f32>>);

impl ModuleVisitor for Weights {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.0
            .push(param.val().into_data().try_to_vec::<f32>().unwrap());
    }
}

fn weights(model_dir: PathBuf) -> Vec<Vec<f32>> {
    let m = Stepper1d::load(&model_dir, &Device::flex()).unwrap();
    let mut w = Weights(Vec::new());
    m.net.visit(&mut w);
    w.0
}

#[test]
fn a_run_killed_with_sigkill_resumes_to_the_same_weights_and_curves() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write_store(&dir.join("train.zarr"), &[0.01, 0.02, 0.05, 0.1]);
    write_store(&dir.join("valid.zarr"), &[0.03]);
    std::fs::write(dir.join("spec.toml"), SPEC).unwrap();

    let (a, b) = (dir.join("a"), dir.join("b"));
    run_to_end(command(dir, &a));

    // Kill b somewhere after its second checkpoint, mid-step.
    let mut child = command(dir, &b).spawn().unwrap();
    let pointer = b.join("checkpoints/last.json");
    let start = Instant::now();
    loop {
        let step = std::fs::read_to_string(&pointer)
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|v| v["step"].as_u64());
        if step.is_some_and(|s| s >= 50) {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before it could be killed"
        );
        assert!(start.elapsed() < Duration::from_secs(300), "no checkpoint");
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(37));
    // SIGKILL: no chance to clean up.
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success(), "killed run exited cleanly");
    assert!(
        !b.join("model").exists(),
        "the killed run must not have finished"
    );

    let mut resume = command(dir, &b);
    resume.arg("--resume");
    run_to_end(resume);

    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(b.join("report.json")).unwrap()).unwrap();
    let from = report["resumed_from"].as_u64().expect("b resumed");
    assert!((50..600).contains(&from), "resumed from {from}");

    let (ca, cb) = (curve(&a), curve(&b));
    assert_eq!(ca.len(), 60 + 12);
    assert_eq!(ca, cb, "loss and validation curves differ");
    assert_eq!(weights(a.join("model")), weights(b.join("model")));
    assert_eq!(weights(a.join("best_model")), weights(b.join("best_model")));
    let ra: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(a.join("report.json")).unwrap()).unwrap();
    assert_eq!(ra["losses"], report["losses"]);
    assert_eq!(ra["best"], report["best"]);
}

#[test]
fn resuming_with_a_different_spec_is_refused_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write_store(&dir.join("train.zarr"), &[0.01, 0.05]);
    write_store(&dir.join("valid.zarr"), &[0.03]);
    std::fs::write(
        dir.join("spec.toml"),
        SPEC.replace("steps = 600", "steps = 30"),
    )
    .unwrap();
    let out = dir.join("run");
    run_to_end(command(dir, &out));
    // A fresh start into a directory with checkpoints is refused.
    let again = command(dir, &out).output().unwrap();
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(
        !again.status.success() && err.contains("already holds a checkpoint"),
        "{err}"
    );
    // So is a resume with another learning rate.
    std::fs::write(
        dir.join("spec.toml"),
        SPEC.replace("steps = 600", "steps = 30")
            .replace("learning_rate = 3e-3", "learning_rate = 1e-3"),
    )
    .unwrap();
    let mut c = command(dir, &out);
    c.arg("--resume");
    let r = c.output().unwrap();
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(
        !r.status.success() && err.contains("different spec"),
        "{err}"
    );
}

#[test]
fn a_spec_that_is_not_toml_is_refused_naming_the_file_with_its_source() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, "steps = [").unwrap();
    let e = physfm_train::RunSpec::load(&path).unwrap_err();
    assert!(e.to_string().contains("bad.toml"), "{e}");
    // The parser's error is kept as the source, not flattened into the message alone.
    let source = std::error::Error::source(&e).expect("a source");
    assert!(source.is::<toml::de::Error>(), "{source}");
    let missing = physfm_train::RunSpec::load(&dir.path().join("none.toml")).unwrap_err();
    let source = std::error::Error::source(&missing).expect("a source");
    assert!(source.is::<std::io::Error>(), "{source}");
}
