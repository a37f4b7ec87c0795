//! The protocols on a model whose errors are known in closed form: a stepper that predicts
//! persistence (`u(t + dt) = u(t)`), on trajectories `u_t(x) = (1 + a t) s(x)`. Its
//! one-step nRMSE at step `t -> t + 1` is `a / (1 + a (t + 1))` and its rollout nRMSE after
//! `k` steps `a k / (1 + a k)`, at any resolution.

use burn::tensor::Device;
use physfm_data::{CollectionMeta, FORMAT_VERSION, InMemoryCollection, TrajectoryRecord};
use physfm_eval::{Region, parameter_protocol, resolution_protocol, subsample};
use physfm_models::{FnoConfig, Normalization, Stepper1d, StepperConfig};

const FRAMES: usize = 4;
const N: usize = 16;

fn persistence(device: &Device) -> Stepper1d {
    let norm = Normalization {
        field_mean: vec![0.0],
        field_std: vec![1.0],
        delta_mean: vec![0.0],
        // The network's output is scaled by this before it is added: nothing survives.
        delta_std: vec![f32::MIN_POSITIVE],
        param_names: vec!["a".into()],
        param_log: vec![false],
        param_mean: vec![0.0],
        param_std: vec![1.0],
    };
    let cfg = StepperConfig::new(FnoConfig::new(2, 1, &[4], 8), true);
    Stepper1d::new(cfg, norm, device).unwrap()
}

fn collection(values: &[f64]) -> InMemoryCollection {
    let s: Vec<f64> = (0..N)
        .map(|j| 2.0 + (2.0 * std::f64::consts::PI * j as f64 / N as f64).sin())
        .collect();
    let records = values
        .iter()
        .map(|&a| TrajectoryRecord {
            fields: (0..FRAMES)
                .flat_map(|t| s.iter().map(move |v| ((1.0 + a * t as f64) * v) as f32))
                .collect(),
            times: (0..FRAMES).map(|t| t as f64).collect(),
            params: vec![a],
        })
        .collect();
    InMemoryCollection {
        meta: CollectionMeta {
            format_version: FORMAT_VERSION,
            name: "known".into(),
            channel_names: vec!["u".into()],
            param_names: vec!["a".into()],
            axis_names: vec!["x".into()],
            spatial_shape: vec![N],
            domain_lengths: vec![1.0],
            boundary: vec![physfm_data::AxisBoundary::PERIODIC],
            frames: FRAMES,
            trajectories: values.len(),
            generator: "test".into(),
            seed: 0,
            provenance: serde_json::Value::Null,
        },
        coordinates: vec![(0..N).map(|j| j as f64 / N as f64).collect()],
        records,
    }
}

fn one_step(a: f64) -> f64 {
    (0..FRAMES - 1)
        .map(|t| a / (1.0 + a * (t + 1) as f64))
        .sum::<f64>()
        / (FRAMES - 1) as f64
}

fn rollout(a: f64) -> f64 {
    (1..FRAMES)
        .map(|k| a * k as f64 / (1.0 + a * k as f64))
        .sum::<f64>()
        / (FRAMES - 1) as f64
}

#[test]
fn parameter_protocol_splits_interpolation_from_extrapolation() {
    let device = Device::flex();
    let model = persistence(&device);
    let values = [0.4, 0.05, 0.1, 0.2, 0.15];
    let p = parameter_protocol(&model, &collection(&values), "a", (0.1, 0.2), &device).unwrap();
    let sorted: Vec<f64> = p.points.iter().map(|q| q.value).collect();
    assert_eq!(sorted, vec![0.05, 0.1, 0.15, 0.2, 0.4]);
    for q in &p.points {
        assert!((q.one_step_nrmse - one_step(q.value)).abs() < 1e-6, "{q:?}");
        assert!((q.rollout_nrmse - rollout(q.value)).abs() < 1e-6, "{q:?}");
    }
    let below = p.region(Region::Below).unwrap();
    let inside = p.region(Region::Inside).unwrap();
    let above = p.region(Region::Above).unwrap();
    assert_eq!(
        (below.trajectories, inside.trajectories, above.trajectories),
        (1, 3, 1)
    );
    let mean_inside = (rollout(0.1) + rollout(0.15) + rollout(0.2)) / 3.0;
    assert!((inside.rollout_mean - mean_inside).abs() < 1e-6);
    assert!((inside.rollout_median - rollout(0.15)).abs() < 1e-6);
    assert!((inside.rollout_max - rollout(0.2)).abs() < 1e-6);
    assert!((above.one_step_mean - one_step(0.4)).abs() < 1e-6);

    let e = parameter_protocol(&model, &collection(&values), "nu", (0.1, 0.2), &device)
        .unwrap_err()
        .to_string();
    assert!(e.contains("no parameter `nu`"), "{e}");
}

#[test]
fn resolution_protocol_evaluates_on_coarser_grids() {
    let device = Device::flex();
    let model = persistence(&device);
    let data = collection(&[0.1, 0.3]);
    let r = resolution_protocol(&model, &data, &[1, 2, 4], &device).unwrap();
    assert_eq!(
        r.iter().map(|p| p.points).collect::<Vec<_>>(),
        vec![16, 8, 4]
    );
    let expect = (rollout(0.1) + rollout(0.3)) / 2.0;
    for p in &r {
        assert!((p.rollout_nrmse - expect).abs() < 1e-6, "{p:?}");
        assert_eq!(p.rollout_by_step.len(), FRAMES - 1);
    }
    let coarse = subsample(&data, 4).unwrap();
    assert_eq!(coarse.coordinates[0], vec![0.0, 0.25, 0.5, 0.75]);
    assert_eq!(coarse.records[0].fields.len(), FRAMES * 4);
    assert_eq!(coarse.records[0].fields[1], data.records[0].fields[4]);
    let e = subsample(&data, 3).unwrap_err().to_string();
    assert!(e.contains("16 points cannot be subsampled by 3"), "{e}");
}

#[test]
fn few_shot_protocol_adapts_each_strategy_at_each_shot_count() {
    use physfm_eval::{FewShotData, few_shot_protocol};
    use physfm_train::{TrainConfig, WindowDataset};
    let device = Device::flex().autodiff();
    device.seed(1);
    let pool = collection(&[0.3, 0.35, 0.4]);
    let test = collection(&[0.32, 0.38]);
    let norm = WindowDataset::pairs(&pool, 1)
        .unwrap()
        .normalization(vec![false])
        .unwrap();
    let model = Stepper1d::new(
        StepperConfig::new(FnoConfig::new(2, 1, &[4], 8), true),
        norm,
        &device,
    )
    .unwrap();
    let strategies = vec![
        physfm_eval::Arm::new(physfm_adapt::Strategy::Head, 1e-3),
        physfm_eval::Arm::new(physfm_adapt::Strategy::Scratch, 3e-3),
    ];
    let meta = physfm_adapt::MetaConfig::default();
    let budget = TrainConfig {
        log_every: 5,
        ..TrainConfig::new(10, 4, 1e-3)
    };
    let mut seen = Vec::new();
    let data = FewShotData {
        pool: &pool,
        test: &test,
    };
    let r = few_shot_protocol(
        &model,
        &strategies,
        data,
        &[1, 3],
        &budget,
        &meta,
        &device,
        &mut |p: &physfm_eval::FewShotPoint| seen.push((p.strategy.clone(), p.shots)),
    )
    .unwrap();
    let order = [("head", 1), ("head", 3), ("scratch", 1), ("scratch", 3)];
    assert_eq!(
        seen,
        order.map(|(s, k)| (s.to_string(), k)).to_vec(),
        "points are reported as they are measured"
    );
    assert_eq!(r.points.len(), 4);
    assert_eq!(
        (r.zero_shot.shots, r.zero_shot.strategy.as_str()),
        (0, "pretrained")
    );
    for p in &r.points {
        assert!(
            p.one_step_nrmse.is_finite() && p.rollout_nrmse.is_finite(),
            "{p:?}"
        );
        assert!(p.final_loss.is_finite());
    }
    let total = burn::module::Module::num_params(&model.net);
    assert!(r.points[0].trainable_params < total / 2);
    assert_eq!(r.points[2].trainable_params, total);
    // More shots than the pool holds is refused by name.
    let e = few_shot_protocol(
        &model,
        &strategies,
        data,
        &[4],
        &budget,
        &meta,
        &device,
        &mut |_| {},
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("4 shots") && e.contains("holds 3"), "{e}");
}

/// In-context adaptation inside the few-shot protocol: the demonstrations correct the frozen
/// persistence model's steps, so its one-step and rollout errors on the test trajectories fall
/// below the closed-form persistence errors, with no training.
#[test]
fn in_context_adaptation_corrects_a_frozen_model_with_demonstrations() {
    use physfm_adapt::{MetaConfig, Strategy};
    use physfm_eval::{Arm, FewShotData, few_shot_protocol};
    let device = Device::flex().autodiff();
    let model = persistence(&device);
    let pool = collection(&[0.3, 0.35, 0.4]);
    let test = collection(&[0.32, 0.38]);
    let data = FewShotData {
        pool: &pool,
        test: &test,
    };
    let meta = MetaConfig {
        icl: physfm_adapt::IclConfig {
            neighbours: 20.0,
            gate: false,
        },
        ..MetaConfig::default()
    };
    let arms = [Arm::new(Strategy::InContext, 1e-3)];
    let budget = physfm_train::TrainConfig::new(1, 1, 1e-3);
    let run = |shots: &[usize]| {
        few_shot_protocol(
            &model,
            &arms,
            data,
            shots,
            &budget,
            &meta,
            &device,
            &mut |_| {},
        )
        .map_err(|e| e.to_string())
    };
    let points = run(&[1, 3]).unwrap().points;
    assert_eq!(points.len(), 2);
    let (one, roll) = (
        (one_step(0.32) + one_step(0.38)) / 2.0,
        (rollout(0.32) + rollout(0.38)) / 2.0,
    );
    for p in &points {
        assert_eq!(p.strategy, "in-context");
        assert_eq!(p.trainable_params, 0);
        assert!(p.one_step_nrmse < 0.8 * one, "{p:?} vs persistence {one}");
        assert!(p.rollout_nrmse < 0.8 * roll, "{p:?} vs persistence {roll}");
    }
    // Three demonstrations (0.068 here) correct better than one (0.133).
    assert!(points[1].one_step_nrmse < points[0].one_step_nrmse);
    let e = run(&[0]).unwrap_err();
    assert!(e.contains("0 shots"), "{e}");
}

/// An Encode-Process-Decode model whose decoder outputs zero: a persistence model.
fn epd_persistence(
    device: &Device,
) -> (physfm_models::EpdConfig, physfm_models::EncodeProcessDecode) {
    use burn::module::Param;
    use burn::tensor::Tensor;
    let spec = physfm_models::DatasetSpec {
        name: "known".into(),
        channels: 1,
        params: 1,
        periodic: vec![true],
    };
    let cfg = physfm_models::EpdConfig::new(vec![spec], &[8], 4, &[4], 4);
    let mut model = cfg.init(device);
    let last = &mut model.heads[0].decoder.second;
    last.weight = Param::from_tensor(Tensor::zeros(last.weight.dims(), device));
    last.bias = Some(Param::from_tensor(Tensor::zeros([1], device)));
    (cfg, model)
}

#[test]
fn rollout_errors_of_a_persistence_model_are_the_closed_form() {
    use physfm_eval::{ParamTransform, rollout_errors};
    let device = Device::flex();
    let (_cfg, model) = epd_persistence(&device);
    let values = [0.05, 0.2];
    let (one, roll) = rollout_errors(
        &model,
        0,
        &collection(&values),
        ParamTransform::Log,
        &device,
    )
    .unwrap();
    // Per trajectory u_t = (1 + a t) s: the one-step error of frame t+1 is a |s|, the
    // rollout error (a (t+1)) |s|, against the truth's (1 + a (t+1)) |s|.
    let rel = |a: f64, err: &dyn Fn(usize) -> f64| {
        let num: f64 = (0..FRAMES - 1).map(|t| err(t).powi(2)).sum();
        let den: f64 = (0..FRAMES - 1)
            .map(|t| (1.0 + a * (t + 1) as f64).powi(2))
            .sum();
        (num / den).sqrt()
    };
    let expect_one = values.iter().map(|&a| rel(a, &|_| a)).sum::<f64>() / 2.0;
    let expect_roll = values
        .iter()
        .map(|&a| rel(a, &|t| a * (t + 1) as f64))
        .sum::<f64>()
        / 2.0;
    assert!((one - expect_one).abs() < 1e-6, "{one} vs {expect_one}");
    assert!((roll - expect_roll).abs() < 1e-6, "{roll} vs {expect_roll}");
    // nRMSE normalises each frame by its own norm: a / (1 + a (t+1)) one step ahead and
    // a (t+1) / (1 + a (t+1)) after t+1 steps, averaged over frames and trajectories.
    let s = physfm_eval::rollout_scores(
        &model,
        0,
        &collection(&values),
        ParamTransform::Log,
        &device,
    )
    .unwrap();
    assert_eq!((s.one_step_rel_l2, s.rollout_rel_l2), (one, roll));
    // The rollout error alone (what training validates on) is the same number.
    let alone = physfm_eval::rollout_rel_l2(
        &model,
        0,
        &collection(&values),
        ParamTransform::Log,
        &device,
    )
    .unwrap();
    assert_eq!(alone, roll);
    let mean = |f: &dyn Fn(f64, f64) -> f64| {
        values
            .iter()
            .flat_map(|&a| (1..FRAMES).map(move |t| (a, t as f64)))
            .map(|(a, t)| f(a, t))
            .sum::<f64>()
            / (values.len() * (FRAMES - 1)) as f64
    };
    let nrmse_one = mean(&|a, t| a / (1.0 + a * t));
    let nrmse_roll = mean(&|a, t| a * t / (1.0 + a * t));
    assert!(
        (s.one_step_nrmse - nrmse_one).abs() < 1e-6,
        "{s:?} vs {nrmse_one}"
    );
    assert!(
        (s.rollout_nrmse - nrmse_roll).abs() < 1e-6,
        "{s:?} vs {nrmse_roll}"
    );
}

#[test]
fn transfer_protocol_runs_every_strategy_and_subsets_are_reproducible() {
    use physfm_adapt::Strategy;
    use physfm_eval::{ParamTransform, adaptation_budget, random_subset, transfer_protocol};
    use physfm_train::{TrainConfig, WindowDataset};
    let device = Device::flex();
    let (cfg, model) = epd_persistence(&device);
    let pool = collection(&[0.05, 0.1, 0.15, 0.2, 0.25]);
    let a = random_subset(&pool, 3, 4).unwrap();
    let b = random_subset(&pool, 3, 4).unwrap();
    let params = |c: &InMemoryCollection| c.records.iter().map(|r| r.params[0]).collect::<Vec<_>>();
    assert_eq!(params(&a), params(&b));
    assert_eq!(
        params(&random_subset(&pool, 2, 0).unwrap()),
        vec![0.05, 0.1]
    );
    assert!(random_subset(&pool, 6, 0).is_err());
    let mut w = WindowDataset::pairs(&a, 1).unwrap();
    for p in &mut w.params {
        *p = ParamTransform::Log.apply(*p);
    }
    let budget = adaptation_budget(&TrainConfig::new(10, 4, 1e-3), 5, 1e-3, 0);
    assert_eq!((budget.steps, budget.checkpoint_every), (5, 0));
    let test = collection(&[0.12]);
    let meta = physfm_adapt::MetaConfig::default();
    let prior = physfm_adapt::Prior::Model(model);
    let run = |pre, s| {
        transfer_protocol(
            pre,
            &cfg,
            &w,
            &test,
            s,
            &budget,
            &meta,
            ParamTransform::Log,
            &device,
        )
        .map_err(|e| e.to_string())
    };
    for s in [
        Strategy::Full,
        Strategy::Heads,
        Strategy::Lora { rank: 2 },
        Strategy::Leads,
        Strategy::InContext,
        Strategy::Scratch,
    ] {
        let score = run(Some(&prior), s).unwrap();
        assert!(
            score.rollout_rel_l2.is_finite() && score.one_step_rel_l2 > 0.0,
            "{s}"
        );
    }
    // Full needs a pretrained model; CoDA adapts only what its meta-training made.
    let e = run(None, Strategy::Full).unwrap_err();
    assert!(e.contains("needs a pretrained model"), "{e}");
    let e = run(Some(&prior), Strategy::Coda).unwrap_err();
    assert!(e.contains("meta_train"), "{e}");
}

/// Every float parameter of a module by path: its shape and effective values.
fn epd_weights<M: burn::module::Module>(
    m: &M,
) -> std::collections::BTreeMap<String, (Vec<usize>, Vec<f32>)> {
    use burn::module::{ModuleVisitor, Param};
    use burn::tensor::Tensor;
    #[derive(Default)]
    struct W {
        path: Vec<String>,
        out: std::collections::BTreeMap<String, (Vec<usize>, Vec<f32>)>,
    }
    impl ModuleVisitor for W {
        fn enter_module(&mut self, name: &str, _container: &str) {
            self.path.push(name.to_string());
        }
        fn exit_module(&mut self, _name: &str, _container: &str) {
            self.path.pop();
        }
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let t = param.val();
            self.out.insert(
                self.path.join("."),
                (
                    t.dims().to_vec(),
                    t.into_data().try_to_vec::<f32>().unwrap(),
                ),
            );
        }
    }
    let mut w = W::default();
    m.visit(&mut w);
    w.out
}

/// The singular-value-free rank of a `rows x cols` matrix: Gaussian elimination with full
/// pivoting, counting pivots above `tol` times the largest entry.
fn numeric_rank(m: &[f64], rows: usize, cols: usize, tol: f64) -> usize {
    let mut a = m.to_vec();
    let scale = a.iter().fold(0.0f64, |s, v| s.max(v.abs()));
    if scale == 0.0 {
        return 0;
    }
    let mut rank = 0;
    let (mut rs, mut cs): (Vec<usize>, Vec<usize>) = ((0..rows).collect(), (0..cols).collect());
    while !rs.is_empty() && !cs.is_empty() {
        let (mut best, mut at) = (0.0, (0, 0));
        for (i, &r) in rs.iter().enumerate() {
            for (j, &c) in cs.iter().enumerate() {
                if a[r * cols + c].abs() > best {
                    best = a[r * cols + c].abs();
                    at = (i, j);
                }
            }
        }
        if best <= tol * scale {
            break;
        }
        let (pr, pc) = (rs.remove(at.0), cs.remove(at.1));
        for &r in &rs {
            let f = a[r * cols + pc] / a[pr * cols + pc];
            for &c in &cs {
                a[r * cols + c] -= f * a[pr * cols + c];
            }
        }
        rank += 1;
    }
    rank
}

#[test]
fn lora_transfer_changes_the_processor_by_low_rank_updates_alone() {
    use burn::module::Module;
    use physfm_adapt::Strategy;
    use physfm_eval::{ParamTransform, adaptation_budget, transfer_train};
    use physfm_train::{TrainConfig, WindowDataset};
    let device = Device::flex();
    let (cfg, model) = epd_persistence(&device);
    let mut w = WindowDataset::pairs(&collection(&[0.1, 0.2, 0.3]), 1).unwrap();
    for p in &mut w.params {
        *p = ParamTransform::Log.apply(*p);
    }
    let budget = adaptation_budget(&TrainConfig::new(10, 3, 1e-2), 6, 1e-2, 0);
    let before = epd_weights(&model);
    let (lora, report) = transfer_train(
        Some(&physfm_adapt::Prior::Model(model)),
        &cfg,
        &w,
        None,
        Strategy::Lora { rank: 1 },
        &budget,
        &physfm_adapt::MetaConfig::default(),
        &Device::flex(),
    )
    .unwrap();
    assert!(report.final_loss.is_finite());
    let after = epd_weights(&lora.into_model().unwrap().valid());
    // The adapters are merged: the same parameters as the pretrained model, no more.
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        after.keys().collect::<Vec<_>>()
    );
    let mut updated = 0;
    for (path, (dims, old)) in &before {
        let new = &after[path].1;
        if path.starts_with("heads") {
            continue; // a new encoder/decoder for the target dataset, trained in full
        }
        if !path.starts_with("processor") || dims.len() < 2 {
            // Time embedding, FiLM, and the processor's biases and norms: frozen.
            assert!(old == new, "{path} changed");
            continue;
        }
        let delta: Vec<f64> = new.iter().zip(old).map(|(a, b)| (a - b) as f64).collect();
        let cols = delta.len() / dims[0];
        let rank = numeric_rank(&delta, dims[0], cols, 1e-3);
        assert!(rank <= 1, "{path}: the update has rank {rank}");
        updated += rank;
    }
    assert!(updated > 0, "LoRA updated none of the processor's weights");
}
