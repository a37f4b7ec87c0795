//! Multi-physics pretraining: a 1-channel Burgers dataset at 32 points and a 2-channel wave
//! dataset at 24 points train one Encode-Process-Decode model; both datasets' losses fall
//! and are logged by name; a dataset that does not fit the model is refused by name.

use crate::common;

use burn::tensor::Device;
use physfm_data::{CollectionMeta, FORMAT_VERSION, InMemoryCollection, TrajectoryRecord};
use physfm_models::{DatasetSpec, EpdConfig, InputNorm};
use physfm_train::{
    LossKind, PhysicsData, TrainConfig, TrainOptions, WindowDataset, train_surrogate,
};

/// The device's generator is shared by the tests of this binary, which run on parallel
/// threads: the seeded test's weights are only its own if no other test draws meanwhile.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Two travelling waves moving apart at speed `c`, one decaying: 6 frames, dt = 0.05.
fn waves(speeds: &[f64]) -> InMemoryCollection {
    let n = 24;
    let records = speeds
        .iter()
        .map(|&c| {
            let mut fields = Vec::new();
            for t in 0..6 {
                let t = t as f64 * 0.05;
                for j in 0..n {
                    let x = j as f64 / n as f64;
                    let tau = std::f64::consts::TAU;
                    fields.push(((tau * (x - c * t)).sin()) as f32);
                    fields.push(((tau * (2.0 * x + c * t)).cos() * (-t).exp()) as f32);
                }
            }
            TrajectoryRecord {
                fields,
                times: (0..6).map(|t| t as f64 * 0.05).collect(),
                params: vec![c],
            }
        })
        .collect();
    InMemoryCollection {
        meta: CollectionMeta {
            format_version: FORMAT_VERSION,
            name: "waves".into(),
            channel_names: vec!["a".into(), "b".into()],
            param_names: vec!["c".into()],
            axis_names: vec!["x".into()],
            spatial_shape: vec![n],
            domain_lengths: vec![1.0],
            boundary: vec![physfm_data::AxisBoundary::PERIODIC],
            frames: 6,
            trajectories: speeds.len(),
            generator: "test".into(),
            seed: 0,
            provenance: serde_json::Value::Null,
        },
        coordinates: vec![(0..n).map(|j| j as f64 / n as f64).collect()],
        records,
    }
}

fn config() -> EpdConfig {
    let mut c = EpdConfig::new(
        vec![
            DatasetSpec {
                name: "burgers".into(),
                channels: 1,
                params: 1,
                periodic: vec![true],
            },
            DatasetSpec {
                name: "waves".into(),
                channels: 2,
                params: 1,
                periodic: vec![true],
            },
        ],
        &[32],
        12,
        &[8],
        16,
    );
    c.processor.fno_mut().unwrap().n_layers = 2;
    c.input_norm = InputNorm::PerSample;
    c
}

#[test]
fn two_physics_train_one_processor_and_both_losses_fall() {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let device = Device::flex().autodiff();
    device.seed(7);
    let cfg = config();
    let data = vec![
        PhysicsData {
            windows: WindowDataset::pairs(&common::tiny_burgers(&[0.02, 0.05, 0.1], 1), 1).unwrap(),
            weight: 1.0,
        },
        PhysicsData {
            windows: WindowDataset::pairs(&waves(&[0.5, 1.0, 1.5]), 1).unwrap(),
            weight: 1.0,
        },
    ];
    let train = TrainConfig {
        loss: LossKind::RelL2,
        log_every: 50,
        warmup_steps: 10,
        ..TrainConfig::new(400, 8, 3e-3)
    };
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log.jsonl");
    let (_, report) = train_surrogate(
        cfg.init(&device),
        &data,
        None,
        &train,
        &device,
        &TrainOptions {
            log_path: Some(log.clone()),
            ..TrainOptions::default()
        },
    )
    .unwrap();
    for name in ["burgers", "waves"] {
        let curve = &report.group_losses[name];
        let (first, last) = (curve[0].1, curve[curve.len() - 1].1);
        assert!(last * 2.0 < first, "{name}: {first:.3e} -> {last:.3e}");
    }
    let text = std::fs::read_to_string(&log).unwrap();
    let last: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert!(
        last["loss_burgers"].is_f64() && last["loss_waves"].is_f64(),
        "{last}"
    );
}

#[test]
fn a_dataset_that_does_not_fit_the_model_is_named() {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let device = Device::flex().autodiff();
    let cfg = config();
    // Swapped: the 2-channel data where the 1-channel dataset belongs.
    let data = vec![
        PhysicsData {
            windows: WindowDataset::pairs(&waves(&[0.5]), 1).unwrap(),
            weight: 1.0,
        },
        PhysicsData {
            windows: WindowDataset::pairs(&common::tiny_burgers(&[0.02], 1), 1).unwrap(),
            weight: 1.0,
        },
    ];
    let e = train_surrogate(
        cfg.init(&device),
        &data,
        None,
        &TrainConfig::new(5, 2, 1e-3),
        &device,
        &TrainOptions::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("data[0] (burgers)") && e.contains("2 channels"),
        "{e}"
    );
}

/// The two datasets of [`config`] as a stream of loader batches.
fn stream() -> physfm_train::Stream {
    use std::sync::Arc;
    let window = physfm_data::WindowSpec {
        history: 1,
        horizon: 1,
        stride: 1,
    };
    let burgers = Arc::new(common::tiny_burgers(&[0.02, 0.05, 0.1], 2));
    let waves = Arc::new(waves(&[0.5, 1.0, 1.5]));
    physfm_train::Stream::new(vec![
        physfm_data::DatasetSpec::new(burgers, window),
        physfm_data::DatasetSpec::new(waves, window),
    ])
}

#[test]
fn streamed_pretraining_reads_through_the_loader_and_lowers_both_losses() {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let device = Device::flex().autodiff();
    let cfg = config();
    let train = TrainConfig {
        loss: LossKind::RelL2,
        log_every: 50,
        warmup_steps: 10,
        ..TrainConfig::new(400, 8, 3e-3)
    };
    let (_, report) = physfm_train::train_streaming(
        cfg.init(&device),
        &stream(),
        &train,
        &device,
        &TrainOptions::default(),
    )
    .unwrap();
    for name in ["burgers", "waves"] {
        let curve = &report.group_losses[name];
        let (first, last) = (curve[0].1, curve[curve.len() - 1].1);
        assert!(last * 2.0 < first, "{name}: {first:.3e} -> {last:.3e}");
    }
}

#[test]
fn a_loader_batch_is_the_same_windows_as_in_memory() {
    use physfm_data::{Loader, LoaderConfig};
    let device = Device::flex();
    let s = stream();
    let loader = Loader::new(
        s.datasets.clone(),
        LoaderConfig {
            batch_size: 5,
            batches: 6,
            seed: 3,
            ..LoaderConfig::default()
        },
    )
    .unwrap();
    let memory = [
        WindowDataset::pairs(&common::tiny_burgers(&[0.02, 0.05, 0.1], 2), 1).unwrap(),
        WindowDataset::pairs(&waves(&[0.5, 1.0, 1.5]), 1).unwrap(),
    ];
    let mut seen = [false; 2];
    for batch in loader {
        let batch = batch.unwrap();
        let w = &memory[batch.dataset];
        seen[batch.dataset] = true;
        // Pairs are numbered trajectory by trajectory, one per start frame.
        let per = s.datasets[batch.dataset].source.meta().frames - 1;
        let idx: Vec<usize> = batch.origin.iter().map(|&(t, f)| t * per + f).collect();
        let (a, b) = (
            physfm_train::window_batch(&batch, &device),
            w.batch(&idx, &device),
        );
        let v = |t: burn::tensor::TensorData| t.try_to_vec::<f32>().unwrap();
        assert_eq!(v(a.x.into_data()), v(b.x.into_data()));
        assert_eq!(v(a.ys.into_data()), v(b.ys.into_data()));
        assert_eq!((a.params, a.dt), (b.params, b.dt));
    }
    assert_eq!(seen, [true, true]);
}

#[test]
fn a_stream_that_does_not_fit_the_model_is_named() {
    let device = Device::flex().autodiff();
    let mut s = stream();
    s.datasets.swap(0, 1);
    let e = physfm_train::train_streaming(
        config().init(&device),
        &s,
        &TrainConfig::new(5, 2, 1e-3),
        &device,
        &TrainOptions::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("stream.datasets[0] (burgers)") && e.contains("2 channels"),
        "{e}"
    );
}
