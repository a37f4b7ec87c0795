//! History windows: training, rollouts and evaluation of a stepper that sees several frames,
//! on travelling waves `u(x, t) = sin(2 pi k (x - c t) + phi)` of either direction.

use burn::module::Module;
use burn::tensor::Device;
use burn::tensor::Tensor;
use physfm_data::{CollectionMeta, FORMAT_VERSION, InMemoryCollection, TrajectoryRecord};
use physfm_eval::{evaluate, rollouts};
use physfm_models::{Conditioning, Dynamics, FnoConfig, Stepper1d, StepperConfig};
use physfm_train::{Objective, TrainConfig, TrainOptions, WindowDataset, train_windows};

const N: usize = 32;
const FRAMES: usize = 8;

fn collection(name: &str, trajectories: usize, seed: u64, frames: usize) -> InMemoryCollection {
    use std::f64::consts::PI;
    let records = (0..trajectories)
        .map(|i| {
            // A small deterministic generator: direction alternates, phase and wavenumber vary.
            let h = (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ seed;
            let phase = (h % 1000) as f64 / 1000.0 * 2.0 * PI;
            let k = 1.0 + ((h >> 10) % 2) as f64;
            let c = if i % 2 == 0 { 0.04 } else { -0.04 };
            TrajectoryRecord {
                fields: (0..frames)
                    .flat_map(|t| {
                        (0..N).map(move |j| {
                            let x = j as f64 / N as f64;
                            (2.0 * PI * k * (x - c * t as f64) + phase).sin() as f32
                        })
                    })
                    .collect(),
                times: (0..frames).map(|t| t as f64).collect(),
                params: vec![],
            }
        })
        .collect();
    InMemoryCollection {
        meta: CollectionMeta {
            format_version: FORMAT_VERSION,
            name: name.into(),
            channel_names: vec!["u".into()],
            param_names: vec![],
            axis_names: vec!["x".into()],
            spatial_shape: vec![N],
            domain_lengths: vec![1.0],
            boundary: vec![physfm_data::AxisBoundary::PERIODIC],
            frames,
            trajectories,
            generator: "test".into(),
            seed,
            provenance: serde_json::Value::Null,
        },
        coordinates: vec![(0..N).map(|j| j as f64 / N as f64).collect()],
        records,
    }
}

fn trained(history: usize, objective: Objective, data: &InMemoryCollection) -> Stepper1d {
    let device = Device::flex().autodiff();
    device.seed(11);
    let windows = WindowDataset::with_history(data, history, objective.horizon(), 1).unwrap();
    assert_eq!(windows.history, history);
    let mut fno = FnoConfig::new(history, 1, &[8], 16);
    fno.n_layers = 2;
    let model = Stepper1d::new(
        StepperConfig {
            history,
            ..StepperConfig::new(fno, true)
        },
        windows.normalization(vec![]).unwrap(),
        &device,
    )
    .unwrap();
    let mut config = TrainConfig::new(300, 16, 3e-3);
    config.objective = objective;
    config.seed = 2;
    let (model, _) = train_windows(
        model,
        &windows,
        None,
        &config,
        &device,
        &TrainOptions::default(),
    )
    .unwrap();
    Stepper1d {
        config: model.config,
        norm: model.norm,
        net: model.net.valid(),
    }
}

#[test]
fn rollout_training_slides_the_window_over_predictions() {
    let train = collection("waves", 24, 1, FRAMES);
    let test = collection("waves", 8, 99, FRAMES);
    let device = Device::flex();
    let model = trained(2, Objective::Rollout { steps: 3 }, &train);
    let e = evaluate(&model, &test, &device).unwrap();
    assert!(
        e.rollout_nrmse < 0.5 * e.persistence_nrmse,
        "rollout {:.3e}, persistence {:.3e}",
        e.rollout_nrmse,
        e.persistence_nrmse
    );
}

/// Linear extrapolation over a window of `history` frames: `2 u(t) - u(t - 1)`.
struct Extrapolate {
    history: usize,
}

impl Dynamics for Extrapolate {
    fn history(&self) -> usize {
        self.history
    }

    fn forward_raw(&self, frames: Tensor<4>, _space: &[usize], _cond: &Conditioning) -> Tensor<3> {
        let [b, h, c, n] = frames.dims();
        let prev = frames.clone().narrow(1, h - 2, 1).reshape([b, c, n]);
        let last = frames.narrow(1, h - 1, 1).reshape([b, c, n]);
        last * 2.0 - prev
    }
}

/// Linear extrapolation `2 u(t) - u(t - 1)` is exact on `u_t = t`: the rollout of a two-frame
/// surrogate must return frames 2, 3, ... exactly, and score zero error.
#[test]
fn windowed_rollouts_start_from_true_frames_and_slide() {
    let frames = 6;
    let mut data = collection("ramp", 2, 0, frames);
    for r in &mut data.records {
        for (t, frame) in r.fields.chunks_mut(N).enumerate() {
            frame.iter_mut().for_each(|v| *v = 1.0 + t as f32);
        }
    }
    let extrapolate = Extrapolate { history: 2 };
    let device = Device::flex();
    let rolls = rollouts(&extrapolate, &data, &device).unwrap();
    assert_eq!(rolls.len(), 2);
    let expect: Vec<f32> = (2..frames).flat_map(|t| [1.0 + t as f32; N]).collect();
    assert_eq!(rolls[0], expect);
    let e = evaluate(&extrapolate, &data, &device).unwrap();
    assert_eq!(e.one_step_nrmse, 0.0);
    assert_eq!(e.rollout_nrmse, 0.0);
    assert!(e.persistence_nrmse > 0.0);
    // A history as long as the trajectory leaves nothing to predict: refused by name.
    let err = evaluate(&Extrapolate { history: frames }, &data, &device).unwrap_err();
    assert!(err.to_string().contains("ramp"), "{err}");
}

#[test]
fn a_model_and_windows_of_different_history_are_refused() {
    let data = collection("waves", 2, 1, FRAMES);
    let device = Device::flex().autodiff();
    let windows = WindowDataset::pairs(&data, 1).unwrap();
    let model = Stepper1d::new(
        StepperConfig {
            history: 2,
            ..StepperConfig::new(FnoConfig::new(2, 1, &[4], 8), true)
        },
        windows.normalization(vec![]).unwrap(),
        &device,
    )
    .unwrap();
    let e = train_windows(
        model,
        &windows,
        None,
        &TrainConfig::new(1, 1, 1e-3),
        &device,
        &TrainOptions::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("model.history") && e.contains("takes 2 input frame(s); the windows hold 1"),
        "{e}"
    );
    let e = WindowDataset::with_history(&data, FRAMES, 1, 1)
        .unwrap_err()
        .to_string();
    assert!(e.contains("history") && e.contains("waves"), "{e}");
}
