//! A short training run on a tiny Burgers problem: the loss must fall by at least 10x.

use burn::tensor::Device;
use physfm_data::{CollectionMeta, FORMAT_VERSION, InMemoryCollection, TrajectoryRecord};
use physfm_models::{FnoConfig, Stepper1d, StepperConfig};
use physfm_pde::{Burgers1dConfig, SumOfSines};
use physfm_train::{PairDataset, TrainConfig, TrainError, TrainOptions, train_stepper};

fn tiny_burgers() -> InMemoryCollection {
    let family = Burgers1dConfig {
        resolution: 128,
        stored_resolution: 32,
        length: 1.0,
        t_end: 0.5,
        frames: 11,
        initial: SumOfSines {
            waves: 1,
            max_wavenumber: 1,
            amplitude: 1.0,
        },
    };
    let records = [0.02, 0.05, 0.1, 0.2]
        .iter()
        .enumerate()
        .map(|(i, &nu)| {
            let t = family.generate(nu, i as u64).unwrap();
            TrajectoryRecord {
                fields: t.values.iter().map(|&v| v as f32).collect(),
                times: t.times,
                params: vec![nu],
            }
        })
        .collect();
    InMemoryCollection {
        meta: CollectionMeta {
            format_version: FORMAT_VERSION,
            name: "burgers1d".into(),
            channel_names: vec!["u".into()],
            param_names: vec!["nu".into()],
            axis_names: vec!["x".into()],
            spatial_shape: vec![32],
            domain_lengths: vec![1.0],
            boundary: vec!["periodic".into()],
            frames: 11,
            trajectories: 4,
            generator: "test".into(),
            seed: 0,
            provenance: serde_json::Value::Null,
        },
        coordinates: vec![family.stored_coordinates()],
        records,
    }
}

fn config(steps: usize, lr: f64) -> TrainConfig {
    TrainConfig {
        steps,
        batch_size: 8,
        learning_rate: lr,
        weight_decay: 0.0,
        warmup_steps: 10,
        min_lr_ratio: 0.05,
        grad_clip_norm: 1.0,
        seed: 1,
        log_every: 20,
    }
}

#[test]
fn loss_falls_tenfold_on_a_tiny_problem() {
    let data = tiny_burgers();
    let pairs = PairDataset::from_collection(&data, 1).unwrap();
    assert_eq!(pairs.len(), 40);
    let device = Device::flex().autodiff();
    device.seed(5);
    let model = Stepper1d::new(
        StepperConfig {
            fno: FnoConfig::new(2, 1, &[8], 16),
            residual: true,
        },
        pairs.normalization(vec![true]).unwrap(),
        &device,
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log.jsonl");
    let (_, report) = train_stepper(
        model,
        &pairs,
        &config(300, 3e-3),
        &device,
        &TrainOptions {
            progress: false,
            log_path: Some(log.clone()),
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
fn a_diverging_run_stops_with_a_clear_error() {
    let data = tiny_burgers();
    let pairs = PairDataset::from_collection(&data, 1).unwrap();
    let device = Device::flex().autodiff();
    let mut model = Stepper1d::new(
        StepperConfig {
            fno: FnoConfig::new(2, 1, &[8], 8),
            residual: true,
        },
        pairs.normalization(vec![true]).unwrap(),
        &device,
    )
    .unwrap();
    // A non-finite normalisation constant poisons the forward pass from the first step.
    model.norm.delta_std = vec![f32::MIN_POSITIVE / 1e30];
    let e = train_stepper(
        model,
        &pairs,
        &config(5, 1e-3),
        &device,
        &TrainOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(e, TrainError::NonFinite { step: 0, .. }), "{e}");
    assert!(e.to_string().contains("step 0"));
}
