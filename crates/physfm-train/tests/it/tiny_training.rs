//! Short training runs on a tiny Burgers problem: the loss falls, each objective trains,
//! validation keeps the best checkpoint, and the NaN guard stops a run and keeps the last
//! good checkpoint.

use crate::common;
use burn::tensor::Device;

use physfm_data::InMemoryCollection;
use physfm_models::{FnoConfig, Stepper1d, StepperConfig};
use physfm_train::{
    LossKind, Objective, TrainConfig, TrainError, TrainOptions, WindowDataset, fit, train_windows,
    train_windows_with, validation_loss,
};

fn tiny_burgers() -> InMemoryCollection {
    common::tiny_burgers(&[0.02, 0.05, 0.1, 0.2], 1)
}

fn config(steps: usize, lr: f64) -> TrainConfig {
    TrainConfig {
        weight_decay: 0.0,
        warmup_steps: 10,
        min_lr_ratio: 0.05,
        seed: 1,
        log_every: 20,
        ..TrainConfig::new(steps, 8, lr)
    }
}

fn model(windows: &WindowDataset, width: usize, device: &Device) -> Stepper1d {
    Stepper1d::new(
        StepperConfig::new(FnoConfig::new(2, 1, &[8], width), true),
        windows.normalization(vec![true]).unwrap(),
        device,
    )
    .unwrap()
}

#[test]
fn loss_falls_tenfold_on_a_tiny_problem() {
    let data = tiny_burgers();
    let pairs = WindowDataset::pairs(&data, 1).unwrap();
    assert_eq!(pairs.len(), 40);
    let device = Device::flex().autodiff();
    device.seed(5);
    let model = model(&pairs, 16, &device);
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log.jsonl");
    let (_, report) = train_windows(
        model,
        &pairs,
        None,
        &config(300, 3e-3),
        &device,
        &TrainOptions {
            log_path: Some(log.clone()),
            ..TrainOptions::default()
        },
    )
    .unwrap();
    let first = report.losses.first().unwrap().1;
    assert!(
        report.final_loss * 10.0 < first,
        "loss {first:.3e} -> {:.3e}",
        report.final_loss
    );
    // One JSON line per logged step, each with the fields a reader needs.
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 15);
    assert_eq!(lines[14]["step"], 300);
    assert!(lines[14]["loss"].as_f64().unwrap() > 0.0);
}

#[test]
fn rollout_and_pushforward_objectives_train_with_every_loss() {
    let data = tiny_burgers();
    let windows = WindowDataset::from_collection(&data, 3, 1).unwrap();
    assert_eq!((windows.len(), windows.horizon), (32, 3));
    let device = Device::flex().autodiff();
    // Relative losses are about the square root of squared ones (a 2x fall is MSE's 4x); the
    // pushforward loss keeps the error of the model's own unrolled input, so it falls less.
    for (objective, kind, factor) in [
        (Objective::Rollout { steps: 3 }, LossKind::RelL2, 2.0),
        (Objective::Pushforward { steps: 3 }, LossKind::H1, 1.5),
        (Objective::OneStep, LossKind::Mse, 4.0),
    ] {
        device.seed(2);
        let cfg = TrainConfig {
            objective,
            loss: kind,
            ..config(200, 3e-3)
        };
        let (_, report) = train_windows(
            model(&windows, 8, &device),
            &windows,
            None,
            &cfg,
            &device,
            &TrainOptions::default(),
        )
        .unwrap();
        let first = report.losses.first().unwrap().1;
        assert!(
            report.final_loss * factor < first,
            "{objective:?} / {kind:?}: loss {first:.3e} -> {:.3e}",
            report.final_loss
        );
    }
    // An objective longer than the windows is refused by name.
    let e = train_windows(
        model(&windows, 8, &device),
        &windows,
        None,
        &TrainConfig {
            objective: Objective::Rollout { steps: 4 },
            ..config(5, 1e-3)
        },
        &device,
        &TrainOptions::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("train.objective") && e.contains("3"), "{e}");
}

#[test]
fn validation_keeps_the_best_checkpoint() {
    let data = tiny_burgers();
    let pairs = WindowDataset::pairs(&data, 1).unwrap();
    let device = Device::flex().autodiff();
    device.seed(9);
    let dir = tempfile::tempdir().unwrap();
    let cfg = TrainConfig {
        validate_every: 20,
        checkpoint_every: 40,
        ..config(100, 3e-3)
    };
    let (trained, report) = train_windows(
        model(&pairs, 8, &device),
        &pairs,
        Some(&pairs),
        &cfg,
        &device,
        &TrainOptions {
            checkpoint_dir: Some(dir.path().to_path_buf()),
            ..TrainOptions::default()
        },
    )
    .unwrap();
    assert_eq!(report.validation.len(), 5);
    let (best_step, best) = report.best.unwrap();
    let min = report
        .validation
        .iter()
        .map(|v| v.1)
        .fold(f64::INFINITY, f64::min);
    assert_eq!(best, min);
    // The kept weights give the recorded validation loss.
    let reloaded =
        physfm_train::load_checkpoint_weights(trained.clone(), dir.path(), "best").unwrap();
    let again = validation_loss(&reloaded, &pairs, 0, LossKind::Mse, &device);
    assert!(
        (again - best).abs() <= 1e-6 * best,
        "best at step {best_step}: {best} vs reloaded {again}"
    );
    let ck = physfm_train::Checkpoints::new(dir.path());
    assert_eq!(ck.current("last").unwrap().unwrap().1, 100);
    assert_eq!(ck.current("best").unwrap().unwrap().1, best_step);
}

/// Early stopping on a scripted validation score: the run validates before its first step,
/// stops after `patience` validations without improvement and returns the best weights.
#[test]
fn early_stopping_returns_the_best_validated_weights() {
    let data = tiny_burgers();
    let pairs = WindowDataset::pairs(&data, 1).unwrap();
    let device = Device::flex().autodiff();
    let cfg = TrainConfig {
        validate_every: 20,
        patience: 2,
        ..config(200, 3e-3)
    };
    // Best at step `best` of the script; each call also records the true loss of the
    // weights it saw, to identify the weights returned.
    for (script, best_step, stop) in [
        (vec![5.0, 3.0, 4.0, 4.0, 1.0], 20, 60),
        (vec![1.0, 2.0, 3.0], 0, 40),
    ] {
        device.seed(9);
        let start = model(&pairs, 8, &device);
        let mut seen = Vec::new();
        let mut score = |m: &Stepper1d| {
            seen.push(validation_loss(m, &pairs, 0, LossKind::Mse, &device));
            Ok(script[seen.len() - 1])
        };
        let (trained, report) = train_windows_with(
            start,
            &pairs,
            Some(&mut score),
            &cfg,
            &device,
            &TrainOptions::default(),
        )
        .unwrap();
        assert_eq!(report.stopped_at, Some(stop));
        assert_eq!(report.best.unwrap().0, best_step);
        assert_eq!(report.validation.len(), stop / 20 + 1);
        let returned = validation_loss(&trained, &pairs, 0, LossKind::Mse, &device);
        let kept = seen[best_step / 20];
        assert!(
            (returned - kept).abs() <= 1e-6 * kept,
            "returned {returned}, best validated {kept}"
        );
        // The weights moved after the best step, so returning the last ones would differ.
        assert!((seen[seen.len() - 1] - kept).abs() > 1e-6 * kept);
    }
    // Patience without periodic validation is refused by name.
    let bad = TrainConfig {
        patience: 2,
        ..config(10, 1e-3)
    };
    let e = bad.validate("train").unwrap_err();
    assert!(e.to_string().contains("train.patience"), "{e}");
}

#[test]
fn a_diverging_run_stops_with_a_clear_error() {
    let data = tiny_burgers();
    let pairs = WindowDataset::pairs(&data, 1).unwrap();
    let device = Device::flex().autodiff();
    let mut model = model(&pairs, 8, &device);
    // A non-finite normalisation constant poisons the forward pass from the first step.
    model.norm.delta_std = vec![f32::MIN_POSITIVE / 1e30];
    let e = train_windows(
        model,
        &pairs,
        None,
        &config(5, 1e-3),
        &device,
        &TrainOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(e, TrainError::NonFinite { step: 1, .. }), "{e}");
    assert!(e.to_string().contains("step 1"));
}

#[test]
fn a_nan_loss_stops_the_run_and_keeps_the_last_good_checkpoint() {
    let device = Device::flex().autodiff();
    device.seed(0);
    let net = FnoConfig::new(1, 1, &[4], 4).init(&device);
    let x = burn::tensor::Tensor::<3>::ones([2, 1, 16], &device);
    let dir = tempfile::tempdir().unwrap();
    let cfg = TrainConfig {
        checkpoint_every: 5,
        log_every: 1,
        ..TrainConfig::new(20, 2, 1e-3)
    };
    let log = dir.path().join("log.jsonl");
    let mut calls = 0;
    let e = fit(
        net,
        &cfg,
        &TrainOptions {
            checkpoint_dir: Some(dir.path().join("ck")),
            log_path: Some(log.clone()),
            ..TrainOptions::default()
        },
        |net: &physfm_models::Fno, _rng: &mut physfm_train::ChaCha8Rng| {
            calls += 1;
            let l = net.forward(x.clone()).square().mean();
            // Step 8 goes wrong.
            Ok(if calls == 8 { l * f64::NAN } else { l })
        },
        None,
    )
    .unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, TrainError::NonFinite { step: 8, .. }), "{msg}");
    assert!(
        msg.contains("last good checkpoint") && msg.contains("last-000000005"),
        "{msg}"
    );
    let ck = physfm_train::Checkpoints::new(dir.path().join("ck"));
    assert_eq!(ck.current("last").unwrap().unwrap().1, 5);
    // Nothing was logged for the failed step.
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(text.lines().count(), 7);
}

#[test]
fn a_fresh_run_keeps_an_old_log_beside_its_own() {
    let device = Device::flex().autodiff();
    let net = FnoConfig::new(1, 1, &[4], 4).init(&device);
    let x = burn::tensor::Tensor::<3>::ones([2, 1, 16], &device);
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log.jsonl");
    let cfg = TrainConfig {
        log_every: 1,
        ..TrainConfig::new(3, 2, 1e-3)
    };
    let options = TrainOptions {
        log_path: Some(log.clone()),
        ..TrainOptions::default()
    };
    let run = |net| {
        fit(
            net,
            &cfg,
            &options,
            |n: &physfm_models::Fno, _: &mut physfm_train::ChaCha8Rng| {
                Ok(n.forward(x.clone()).square().mean())
            },
            None,
        )
        .unwrap()
    };
    let (net, _) = run(net);
    run(net);
    let lines = |p: &std::path::Path| std::fs::read_to_string(p).unwrap().lines().count();
    assert_eq!(lines(&log), 3);
    assert_eq!(lines(&dir.path().join("log.jsonl.previous")), 3);
}
