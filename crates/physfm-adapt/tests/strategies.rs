//! Each adaptation strategy changes only what it says it trains: frozen weights are bit for
//! bit those of the pretrained network, on the FNO stepper and the multi-physics EPD alike;
//! and adapting to a new viscosity lowers the error there.

#[path = "../../physfm-train/tests/common/mod.rs"]
mod common;

use std::collections::BTreeMap;

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::{Device, Tensor};
use physfm_adapt::{
    Adapted, Environment, MetaConfig, Prior, STRATEGIES, Strategy, adapt, count_params, meta_train,
    split_environments,
};
use physfm_models::{
    DatasetSpec, Dynamics, EpdConfig, FnoConfig, Stepper1d, StepperConfig, Surrogate, under,
};
use physfm_train::{
    LossKind, TrainConfig, TrainOptions, WindowDataset, train_windows, validation_loss,
};

/// Every float parameter's effective values by path.
#[derive(Default)]
struct Weights {
    path: Vec<String>,
    values: BTreeMap<String, Vec<f32>>,
}

impl ModuleVisitor for Weights {
    fn enter_module(&mut self, name: &str, _container: &str) {
        self.path.push(name.to_string());
    }
    fn exit_module(&mut self, _name: &str, _container: &str) {
        self.path.pop();
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.values.insert(
            self.path.join("."),
            param.val().into_data().try_to_vec::<f32>().unwrap(),
        );
    }
}

fn weights<M: Module>(m: &M) -> BTreeMap<String, Vec<f32>> {
    let mut w = Weights::default();
    m.visit(&mut w);
    w.values
}

/// The device's generator is shared by the threads of the test harness: the tests take turns,
/// so that each sees the same draws on every run.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn pretrained(device: &Device) -> (Stepper1d, WindowDataset) {
    let data = common::tiny_burgers(&[0.05, 0.1, 0.2], 1);
    let pairs = WindowDataset::pairs(&data, 1).unwrap();
    device.seed(4);
    let mut fno = FnoConfig::new(2, 1, &[8], 12);
    fno.n_layers = 2;
    let model = Stepper1d::new(
        StepperConfig::new(fno, true),
        pairs.normalization(vec![true]).unwrap(),
        device,
    )
    .unwrap();
    let cfg = TrainConfig {
        log_every: 50,
        ..TrainConfig::new(150, 8, 3e-3)
    };
    let (model, _) =
        train_windows(model, &pairs, None, &cfg, device, &TrainOptions::default()).unwrap();
    (model, pairs)
}

fn copy(m: &Stepper1d) -> Stepper1d {
    Stepper1d {
        config: m.config.clone(),
        norm: m.norm.clone(),
        net: m.net.clone(),
    }
}

#[test]
fn each_strategy_changes_only_what_it_trains() {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let device = Device::flex().autodiff();
    let (model, _) = pretrained(&device);
    let before = weights(&model.net);
    let paths: Vec<&String> = before.keys().collect();
    assert!(
        paths.iter().any(|p| p.starts_with("blocks.0.spectral")),
        "{paths:?}"
    );
    assert!(
        paths.iter().any(|p| p.starts_with("projection.")),
        "{paths:?}"
    );
    let target = WindowDataset::pairs(&common::tiny_burgers(&[0.01], 1), 1).unwrap();
    for name in ["full", "head", "heads", "lora", "scratch"] {
        let s: Strategy = name.parse().unwrap();
        let budget = TrainConfig {
            log_every: 10,
            weight_decay: 1e-2,
            ..TrainConfig::new(20, 4, s.learning_rate())
        };
        let (adapted, report) = adapt(
            copy(&model),
            s,
            &[],
            &target,
            None,
            &budget,
            &MetaConfig::default(),
            &device,
            &TrainOptions::default(),
        )
        .unwrap();
        let after = weights(&adapted.into_model().unwrap().net);
        assert_eq!(
            after.keys().collect::<Vec<_>>(),
            paths,
            "{name}: the finished network has the pretrained layout"
        );
        let trained = |p: &str| match name {
            "full" | "scratch" => true,
            "head" => p.starts_with("projection."),
            "heads" => p.starts_with("projection.") || p.starts_with("lifting."),
            // LoRA adapts the blocks' matrices and spectral weights, not their biases, norms
            // or (one-dimensional) soft gates.
            "lora" => {
                p.starts_with("blocks.")
                    && p.ends_with("weight")
                    && !p.contains("norm")
                    && !p.contains("SoftGating")
            }
            _ => unreachable!(),
        };
        for p in &paths {
            if trained(p) {
                assert_ne!(before[*p], after[*p], "{name}: `{p}` should have changed");
            } else {
                assert_eq!(before[*p], after[*p], "{name}: `{p}` must stay frozen");
            }
        }
        let all = count_params(&model.net).total;
        match name {
            "full" | "scratch" => assert_eq!(report.trainable_params, all),
            _ => assert!(report.trainable_params < all / 2, "{name}: {report:?}"),
        }
        assert_eq!(report.strategy, s.to_string());
    }
}

#[test]
fn adapting_to_a_new_viscosity_lowers_the_error_there() {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let device = Device::flex().autodiff();
    let (model, _) = pretrained(&device);
    // Two trajectories at a viscosity 5x below the pretraining range; tested on a third.
    let shots = WindowDataset::pairs(&common::tiny_burgers(&[0.01, 0.01], 2), 1).unwrap();
    let test = WindowDataset::pairs(&common::tiny_burgers(&[0.01, 0.01, 0.01], 2), 1).unwrap();
    let before = validation_loss(&model, &test, 0, LossKind::Mse, &device);
    // The head alone cannot undo what the blocks compute, so it is held to less.
    for (name, factor) in [("full", 0.8), ("head", 0.95), ("lora", 0.8)] {
        let s: Strategy = name.parse().unwrap();
        let budget = TrainConfig {
            log_every: 50,
            ..TrainConfig::new(100, 8, s.learning_rate())
        };
        let (adapted, _) = adapt(
            copy(&model),
            s,
            &[],
            &shots,
            None,
            &budget,
            &MetaConfig::default(),
            &device,
            &TrainOptions::default(),
        )
        .unwrap();
        let after = validation_loss(
            &adapted.into_model().unwrap(),
            &test,
            0,
            LossKind::Mse,
            &device,
        );
        assert!(
            after < factor * before,
            "{name}: one-step loss {before:.3e} -> {after:.3e}"
        );
    }
}

#[test]
fn leads_adapts_a_new_environment_with_a_new_residual_alone() {
    use physfm_adapt::{LeadsConfig, adapt_leads, train_leads};
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let device = Device::flex().autodiff();
    let (model, _) = pretrained(&device);
    let data = common::tiny_burgers(&[0.05, 0.1, 0.2, 0.05, 0.1, 0.2], 1);
    let envs = split_environments(&data);
    assert_eq!(envs.len(), 3);
    assert_eq!(envs[0].0, vec![0.05]);
    assert_eq!(envs[0].1.records.len(), 2);
    let windows: Vec<WindowDataset> = envs
        .iter()
        .map(|(_, c)| WindowDataset::pairs(c, 1).unwrap())
        .collect();
    // Residuals smaller than the shared model.
    let mut fno = FnoConfig::new(2, 1, &[6], 6);
    fno.n_layers = 1;
    let residual =
        Stepper1d::new(StepperConfig::new(fno, true), model.norm.clone(), &device).unwrap();
    let cfg = LeadsConfig { penalty: 1e-2 };
    let train = TrainConfig {
        log_every: 20,
        ..TrainConfig::new(60, 8, 1e-3)
    };
    let (leads, report) = train_leads(
        copy(&model),
        &residual,
        &cfg,
        &Environment::regimes(&windows),
        &train,
        &device,
        &TrainOptions::default(),
    )
    .unwrap();
    assert_eq!(leads.residuals.len(), 3);
    assert_eq!(
        report.group_losses.len(),
        3,
        "{:?}",
        report.group_losses.keys()
    );

    // A new environment, 5x below the range, from two trajectories.
    let new = WindowDataset::pairs(&common::tiny_burgers(&[0.01, 0.01], 2), 1).unwrap();
    let test = WindowDataset::pairs(&common::tiny_burgers(&[0.01, 0.01, 0.01], 2), 1).unwrap();
    let shared_alone = one_step(&leads.shared, &test, &device);
    let before_shared = weights(&leads.shared);
    let before_old: Vec<_> = leads.residuals.iter().map(weights).collect();
    let adapt = TrainConfig {
        log_every: 50,
        ..TrainConfig::new(300, 8, 3e-3)
    };
    let (adapted, _) = adapt_leads(
        leads,
        &residual,
        &cfg,
        &new,
        0,
        &[],
        &adapt,
        &device,
        &TrainOptions::default(),
    )
    .unwrap();
    assert_eq!((adapted.leads.residuals.len(), adapted.env), (4, 3));
    assert_eq!(
        weights(&adapted.leads.shared),
        before_shared,
        "the shared network is frozen"
    );
    for (i, w) in before_old.iter().enumerate() {
        assert_eq!(
            &weights(&adapted.leads.residuals[i]),
            w,
            "residual {i} is frozen"
        );
    }
    let after = one_step(&adapted, &test, &device);
    assert!(
        after < 0.7 * shared_alone,
        "new environment: shared alone {shared_alone:.3e}, with its residual {after:.3e}"
    );
}

#[test]
fn reptile_meta_trains_an_initialisation_over_environments() {
    use physfm_adapt::{ReptileConfig, ReptileRun, reptile, reptile_with};
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let device = Device::flex().autodiff();
    let (model, _) = pretrained(&device);
    let envs: Vec<WindowDataset> = split_environments(&common::tiny_burgers(
        &[0.005, 0.01, 0.02, 0.005, 0.01, 0.02],
        2,
    ))
    .iter()
    .map(|(_, c)| WindowDataset::pairs(c, 1).unwrap())
    .collect();
    let regimes = Environment::regimes(&envs);
    let mean_loss = |m: &Stepper1d| {
        envs.iter()
            .map(|w| validation_loss(m, w, 0, LossKind::Mse, &device))
            .sum::<f64>()
            / envs.len() as f64
    };
    let cfg = ReptileConfig {
        meta_steps: 40,
        meta_lr: 0.5,
        inner_steps: 5,
        inner_lr: 1e-3,
        batch_size: 8,
        loss: LossKind::Mse,
        seed: 0,
    };
    // eps = 0 leaves the initialisation bit for bit as it was.
    let (same, _) = reptile(
        copy(&model),
        &regimes,
        &ReptileConfig {
            meta_lr: 0.0,
            meta_steps: 2,
            ..cfg.clone()
        },
        &device,
    )
    .unwrap();
    assert_eq!(weights(&same.net), weights(&model.net));
    let before = mean_loss(&model);
    let (meta, report) = reptile(copy(&model), &regimes, &cfg, &device).unwrap();
    assert_eq!(report.losses.len(), 4);
    // Stopped after 20 meta-steps with a checkpoint and resumed, it ends where the
    // uninterrupted run does, bit for bit.
    let dir = tempfile::tempdir().unwrap();
    let run = ReptileRun {
        checkpoint_dir: Some(dir.path().join("checkpoints")),
        checkpoint_every: 10,
        resume: false,
        stop_at: Some(20),
    };
    let (half, half_report) = reptile_with(copy(&model), &regimes, &cfg, &device, &run).unwrap();
    assert_eq!(half_report.losses, report.losses[..2]);
    assert_ne!(weights(&half.net), weights(&meta.net));
    let again = reptile_with(copy(&model), &regimes, &cfg, &device, &run)
        .unwrap_err()
        .to_string();
    assert!(again.contains("reptile.resume"), "{again}");
    let resume = ReptileRun {
        resume: true,
        stop_at: None,
        ..run.clone()
    };
    let other = ReptileConfig {
        inner_lr: 2e-3,
        ..cfg.clone()
    };
    let refused = reptile_with(copy(&model), &regimes, &other, &device, &resume)
        .unwrap_err()
        .to_string();
    assert!(refused.contains("reptile.config"), "{refused}");
    let (resumed, resumed_report) =
        reptile_with(copy(&model), &regimes, &cfg, &device, &resume).unwrap();
    assert_eq!(resumed_report.resumed_from, Some(20));
    assert_eq!(resumed_report.losses, report.losses);
    assert_eq!(weights(&resumed.net), weights(&meta.net));
    let after = mean_loss(&meta);
    assert!(
        after < 0.8 * before,
        "mean one-step loss over the environments {before:.3e} -> {after:.3e}"
    );
    let bad = reptile(
        copy(&model),
        &regimes,
        &ReptileConfig {
            meta_lr: 1.5,
            ..cfg
        },
        &device,
    )
    .unwrap_err()
    .to_string();
    assert!(bad.contains("reptile.meta_lr"), "{bad}");
}

/// The one-step MSE (in the model's training space) of `model` over every window of `test`.
fn one_step<M: Dynamics>(model: &M, test: &WindowDataset, device: &Device) -> f32 {
    let all: Vec<usize> = (0..test.len()).collect();
    physfm_train::unroll_loss(
        model,
        test.batch(&all, device),
        &test.spatial_shape,
        0,
        physfm_train::Objective::OneStep,
        LossKind::Mse,
        &test.geometry,
    )
    .into_scalar::<f32>()
}

/// The collection without its parameters: environments differ only in what the model does
/// not see, as in CoDA's setting.
fn unlabelled(c: &physfm_data::InMemoryCollection) -> physfm_data::InMemoryCollection {
    let mut c = c.clone();
    c.meta.param_names.clear();
    for r in &mut c.records {
        r.params.clear();
    }
    c
}

#[test]
fn a_coda_context_fitted_on_a_new_environment_lowers_its_error() {
    use physfm_adapt::{CodaConfig, adapt_coda, train_coda};
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let device = Device::flex().autodiff();
    device.seed(11);
    let envs: Vec<WindowDataset> = split_environments(&common::tiny_burgers(
        &[0.005, 0.02, 0.08, 0.005, 0.02, 0.08],
        2,
    ))
    .iter()
    .map(|(_, c)| WindowDataset::pairs(&unlabelled(c), 1).unwrap())
    .collect();
    let pooled = WindowDataset::pairs(
        &unlabelled(&common::tiny_burgers(&[0.005, 0.02, 0.08], 2)),
        1,
    )
    .unwrap();
    let mut fno = FnoConfig::new(1, 1, &[8], 12);
    fno.n_layers = 2;
    let model = Stepper1d::new(
        StepperConfig::new(fno, true),
        pooled.normalization(vec![]).unwrap(),
        &device,
    )
    .unwrap();
    let cfg = CodaConfig {
        context_dim: 2,
        lambda_xi: 1e-4,
        lambda_w: 1e-6,
    };
    let train = TrainConfig {
        log_every: 50,
        weight_decay: 0.0,
        ..TrainConfig::new(400, 8, 3e-3)
    };
    let (coda, report) = train_coda(
        copy(&model),
        &cfg,
        &Environment::regimes(&envs),
        &train,
        &device,
        &TrainOptions::default(),
    )
    .unwrap();
    assert_eq!(report.group_losses.len(), 3);

    // A new environment between the training ones, from one trajectory.
    let new = WindowDataset::pairs(&unlabelled(&common::tiny_burgers(&[0.04], 2)), 1).unwrap();
    let test =
        WindowDataset::pairs(&unlabelled(&common::tiny_burgers(&[0.04, 0.04], 3)), 1).unwrap();
    let error = |net: &Stepper1d| one_step(net, &test, &device);
    let zero = burn::tensor::Tensor::<2>::zeros([1, 2], &device);
    let before = error(&coda.network(zero));
    let frozen = (weights(&coda.base), coda.contexts.val().into_data());
    let adapt = TrainConfig {
        log_every: 50,
        weight_decay: 0.0,
        ..TrainConfig::new(150, 8, 3e-2)
    };
    let (adapted, _) = adapt_coda(
        coda,
        &cfg,
        &new,
        0,
        &[],
        &adapt,
        &device,
        &TrainOptions::default(),
    )
    .unwrap();
    assert_eq!(weights(&adapted.coda.base), frozen.0, "theta_c is frozen");
    assert_eq!(
        adapted.coda.contexts.val().into_data(),
        frozen.1,
        "training contexts are frozen"
    );
    let after = error(&adapted.coda.network(adapted.context.val()));
    assert!(
        after < 0.85 * before,
        "new environment: context 0 {before:.3e}, fitted context {after:.3e}"
    );
}

/// A stepper that predicts persistence exactly: its network's output is scaled to nothing.
fn persistence(device: &Device) -> Stepper1d {
    let norm = physfm_models::Normalization {
        field_mean: vec![0.0],
        field_std: vec![1.0],
        delta_mean: vec![0.0],
        delta_std: vec![f32::MIN_POSITIVE],
        param_names: vec![],
        param_log: vec![],
        param_mean: vec![],
        param_std: vec![],
    };
    let cfg = StepperConfig::new(FnoConfig::new(1, 1, &[4], 4), true);
    Stepper1d::new(cfg, norm, device).unwrap()
}

/// Trajectories of `u(t+1) = u(t)^2 / 2` from `u(0) = 1 + 0.5 sin(2 pi (x + phase))`.
fn squaring(phases: &[f64]) -> physfm_data::InMemoryCollection {
    let n = 32;
    let mut c = unlabelled(&common::tiny_burgers(&vec![0.1; phases.len()], 1));
    c.meta.frames = 4;
    for (r, &ph) in c.records.iter_mut().zip(phases) {
        let mut u: Vec<f32> = (0..n)
            .map(|j| {
                (1.0 + 0.5 * (std::f64::consts::TAU * (j as f64 / n as f64 + ph)).sin()) as f32
            })
            .collect();
        r.fields.clear();
        for _ in 0..4 {
            r.fields.extend_from_slice(&u);
            u = u.iter().map(|v| v * v / 2.0).collect();
        }
        r.times = vec![0.0, 1.0, 2.0, 3.0];
    }
    c
}

#[test]
fn in_context_demonstrations_correct_a_frozen_model_without_training() {
    use physfm_adapt::{Demonstrations, IclConfig};
    let device = Device::flex();
    let model = persistence(&device);
    let demos = WindowDataset::pairs(&squaring(&[0.0, 0.37]), 1).unwrap();
    let query = WindowDataset::pairs(&squaring(&[0.71]), 1).unwrap();
    let all: Vec<usize> = (0..query.len()).collect();
    let b = query.batch(&all, &device);
    let [q, _, c, n] = b.ys.dims();
    let truth = b.ys.clone().narrow(1, 0, 1).reshape([q, c, n]);
    let rel = |p: Tensor<3>| {
        let e = (p - truth.clone()).square().sum().into_scalar::<f32>();
        (e / truth.clone().square().sum().into_scalar::<f32>()).sqrt()
    };
    let alone = rel(model.step(b.x.clone(), &b.params));
    // The gate keeps the model's value where the neighbours disagree, so it corrects less.
    for (gate, factor) in [(true, 0.4), (false, 0.2)] {
        let icl = Demonstrations::new(
            &model,
            &demos,
            0,
            2,
            &IclConfig {
                neighbours: 20.0,
                gate,
            },
            &device,
        )
        .unwrap();
        assert_eq!(icl.neighbours(), 28);
        let with = rel(icl.correct(model.step(b.x.clone(), &b.params)));
        assert!(
            with < factor * alone,
            "gate {gate}: relative error alone {alone:.3e}, with demonstrations {with:.3e}"
        );
    }
    let empty = WindowDataset::pairs(&squaring(&[0.0]), 1).unwrap();
    assert!(Demonstrations::new(&model, &empty, 0, 0, &IclConfig::default(), &device).is_err());
}

/// `split` of the CoDA Lotka-Volterra preset, with at most `per_env` trajectories per
/// environment and the environments whose `(beta, delta)` are in `keep`.
fn lotka_volterra(
    split: &str,
    per_env: usize,
    keep: &[[f64; 2]],
) -> physfm_data::InMemoryCollection {
    use physfm_data::{CollectionMeta, FORMAT_VERSION, InMemoryCollection, TrajectoryRecord};
    let text = include_str!("../../../datasets/coda_lotka_volterra.toml");
    let preset = physfm_pde::Preset::from_toml(text, "coda_lotka_volterra.toml").unwrap();
    let family = preset.family.family();
    let names: Vec<String> = family.parameters().iter().map(|p| p.name.clone()).collect();
    let (b, d) = (
        names.iter().position(|n| n == "beta").unwrap(),
        names.iter().position(|n| n == "delta").unwrap(),
    );
    let mut count = BTreeMap::new();
    let records: Vec<TrajectoryRecord> = preset
        .plan(split)
        .unwrap()
        .into_iter()
        .filter(|t| keep.contains(&[t.params[b], t.params[d]]))
        .filter(|t| {
            let n = count.entry(t.environment).or_insert(0);
            *n += 1;
            *n <= per_env
        })
        .map(|t| {
            let traj = family
                .generate(&t.params, t.seed, &preset.time.times(t.seed))
                .unwrap();
            TrajectoryRecord {
                fields: traj.values.iter().map(|&v| v as f32).collect(),
                times: traj.times,
                params: t.params,
            }
        })
        .collect();
    InMemoryCollection {
        meta: CollectionMeta {
            format_version: FORMAT_VERSION,
            name: family.name().into(),
            channel_names: family.channels(),
            param_names: names,
            axis_names: vec![],
            spatial_shape: vec![],
            domain_lengths: vec![],
            boundary: vec![],
            frames: preset.time.frames,
            trajectories: records.len(),
            generator: "test".into(),
            seed: preset.seed,
            provenance: serde_json::Value::Null,
        },
        coordinates: vec![],
        records,
    }
}

/// CoDA's own setting end to end on a cut-down Lotka-Volterra (three training environments,
/// two new ones, no spatial axis): adapting a new context from one trajectory lowers the new
/// environments' rollout error below the meta-trained model's with a zero context; a network
/// that does not fit the data is refused by name.
#[test]
fn the_coda_protocol_adapts_new_lotka_volterra_environments() {
    use physfm_adapt::{CodaConfig, CodaData, CodaSetup, coda_protocol};
    use physfm_train::Objective;
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let device = Device::flex().autodiff();
    device.seed(11);
    let train_envs = [[0.5, 0.5], [1.0, 1.0], [0.5, 1.0]];
    let new_envs = [[0.625, 0.625], [1.125, 1.125]];
    let train = lotka_volterra("train", 4, &train_envs);
    let train_test = lotka_volterra("train_test", 3, &train_envs);
    let adapt = lotka_volterra("adapt", 1, &new_envs);
    let adapt_test = lotka_volterra("adapt_test", 3, &new_envs);
    assert_eq!((train.records.len(), adapt.records.len()), (12, 2));
    let mut model = FnoConfig::new(2, 2, &[1], 32);
    model.n_layers = 2;
    model.positional_embedding = false;
    let setup = CodaSetup {
        model,
        coda: CodaConfig {
            context_dim: 2,
            lambda_xi: 1e-4,
            lambda_w: 1e-6,
        },
        train: TrainConfig {
            objective: Objective::Rollout { steps: 2 },
            log_every: 100,
            ..TrainConfig::new(600, 16, 3e-3)
        },
        adapt: TrainConfig {
            objective: Objective::Rollout { steps: 2 },
            weight_decay: 0.0,
            log_every: 100,
            ..TrainConfig::new(150, 16, 2e-2)
        },
    };
    let data = CodaData {
        train: &train,
        train_test: &train_test,
        adapt: &adapt,
        adapt_test: &adapt_test,
    };
    let out = coda_protocol(data, &setup, &device, &TrainOptions::default()).unwrap();
    assert_eq!((out.in_domain.len(), out.adaptation.len()), (3, 2));
    assert!(out.in_domain_mse.is_finite() && out.adaptation_mse.is_finite());
    assert!(
        out.adaptation_mse < 0.7 * out.adaptation_mse_before,
        "adapted {} vs zero context {}",
        out.adaptation_mse,
        out.adaptation_mse_before
    );
    assert!(out.train_report.final_loss < 0.2 * out.train_report.initial_loss);

    let mut bad = setup.clone();
    bad.model.out_channels = 1;
    let err = coda_protocol(data, &bad, &device, &TrainOptions::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("model.in_channels/out_channels"), "{err}");
}

// Every strategy on every kind of model through the one `Surrogate` interface: a tiny FNO
// stepper and a tiny multi-physics Encode-Process-Decode model, a few steps each.

/// Whether `strategy` trains the weight at `path` of `model` (by the model's parts), for
/// the strategies that adapt the model's own weights.
fn trains<M: Surrogate>(model: &M, strategy: Strategy, path: &str) -> bool {
    let parts = model.parts();
    let any = |v: &[String]| v.iter().any(|p| under(path, p));
    match strategy {
        Strategy::Full | Strategy::Scratch | Strategy::Reptile => true,
        Strategy::Head => any(&parts.decoder),
        Strategy::Heads => any(&parts.encoder) || any(&parts.decoder),
        // LoRA moves the processor's matrices and spectral weights (rank >= 2).
        Strategy::Lora { .. } => {
            any(&parts.processor)
                && path.ends_with("weight")
                && !path.contains("norm")
                && !path.contains("SoftGating")
        }
        Strategy::Coda | Strategy::Leads | Strategy::InContext => false,
    }
}

/// Runs every strategy on `model` for a few steps (meta-training first over `envs` where the
/// strategy needs it) and checks what moved, what stayed, and that the adapted model steps.
fn check_every_strategy<M: Surrogate>(
    model: M,
    data: &WindowDataset,
    envs: &[WindowDataset],
    device: &Device,
) {
    let before = weights(&model);
    let total = count_params(&model).total;
    let meta = MetaConfig::default();
    let all: Vec<usize> = (0..data.len()).collect();
    for name in STRATEGIES {
        let s: Strategy = name.parse().unwrap();
        let budget = TrainConfig {
            log_every: 3,
            warmup_steps: 0,
            ..TrainConfig::new(6, 4, 1e-2)
        };
        let kind = model.kind();
        let (prior, meta_report) = meta_train(
            model.clone(),
            s,
            &Environment::regimes(envs),
            &budget,
            &meta,
            device,
            &TrainOptions::default(),
        )
        .unwrap();
        assert_eq!(meta_report.steps > 0, s.meta_trained(), "{kind} {s}");
        let prior_shared = weights(prior.model());
        let (adapted, report) = adapt(
            prior.clone(),
            s,
            &[],
            data,
            None,
            &budget,
            &meta,
            device,
            &TrainOptions::default(),
        )
        .unwrap();
        assert_eq!(report.strategy, s.to_string());
        // Every adapted model steps like any other.
        let b = data.batch(&all, device);
        let l = physfm_train::unroll_loss(
            &adapted.valid(),
            b,
            &data.spatial_shape,
            0,
            physfm_train::Objective::Rollout { steps: 1 },
            LossKind::Mse,
            &data.geometry,
        )
        .into_scalar::<f32>();
        assert!(l.is_finite(), "{kind} {s}: {l}");
        match (s, adapted) {
            (Strategy::Coda, Adapted::Model(m)) => {
                // Only the new context trained: context_dim values.
                assert_eq!(report.trainable_params, meta.coda.context_dim, "{kind} {s}");
                assert_eq!(
                    weights(&m).keys().collect::<Vec<_>>(),
                    before.keys().collect::<Vec<_>>()
                );
                let Prior::Coda { coda, .. } = prior else {
                    panic!("{kind} {s}: a CoDA prior")
                };
                assert_eq!(
                    coda.contexts.val().dims(),
                    [envs.len(), meta.coda.context_dim]
                );
            }
            (Strategy::Leads, Adapted::Leads(l)) => {
                assert_eq!(
                    weights(&l.leads.shared),
                    prior_shared,
                    "{kind} {s}: shared frozen"
                );
                assert_eq!(
                    (l.leads.residuals.len(), l.env),
                    (envs.len() + 1, envs.len())
                );
                assert_eq!(
                    report.trainable_params, total,
                    "{kind} {s}: one residual trains"
                );
            }
            (Strategy::InContext, Adapted::InContext(m)) => {
                assert_eq!(weights(&m.model), before, "{kind} {s}: no weight moves");
                assert_eq!(report.trainable_params, 0);
            }
            (s, Adapted::Model(adapted)) => {
                assert!(report.train.final_loss.is_finite(), "{kind} {s}");
                let after = weights(&adapted);
                assert_eq!(
                    after.keys().collect::<Vec<_>>(),
                    before.keys().collect::<Vec<_>>(),
                    "{kind} {s}: the finished model has the pretrained layout"
                );
                let mut moved = 0;
                for (p, b) in &prior_shared {
                    if trains(&model, s, p) {
                        moved += usize::from(after[p] != *b);
                    } else {
                        assert_eq!(after[p], *b, "{kind} {s}: `{p}` must stay frozen");
                    }
                }
                assert!(moved > 0, "{kind} {s}: nothing trained");
                match s {
                    Strategy::Full | Strategy::Scratch | Strategy::Reptile => {
                        assert_eq!(report.trainable_params, total)
                    }
                    _ => assert!(
                        report.trainable_params < total,
                        "{kind} {s}: {} of {total}",
                        report.trainable_params
                    ),
                }
                if s == Strategy::Reptile {
                    assert_ne!(
                        prior_shared, before,
                        "{kind}: meta-training moved the weights"
                    );
                }
            }
            (s, other) => panic!("{kind} {s}: unexpected adapted model {other:?}"),
        }
    }
}

/// Two environments (viscosities) of the tiny Burgers data, and the adaptation windows.
fn tiny_environments() -> (WindowDataset, Vec<WindowDataset>) {
    let data = WindowDataset::pairs(&common::tiny_burgers(&[0.02, 0.05], 1), 1).unwrap();
    let envs = split_environments(&common::tiny_burgers(&[0.01, 0.1, 0.01, 0.1], 1))
        .iter()
        .map(|(_, c)| WindowDataset::pairs(c, 1).unwrap())
        .collect();
    (data, envs)
}

#[test]
fn every_strategy_adapts_a_tiny_fno() {
    let device = Device::flex().autodiff();
    device.seed(7);
    let (data, envs) = tiny_environments();
    let mut fno = FnoConfig::new(2, 1, &[6], 8);
    fno.n_layers = 2;
    let model = Stepper1d::new(
        StepperConfig::new(fno, true),
        data.normalization(vec![true]).unwrap(),
        &device,
    )
    .unwrap();
    check_every_strategy(model, &data, &envs, &device);
}

#[test]
fn every_strategy_adapts_a_tiny_multi_physics_model() {
    let device = Device::flex().autodiff();
    device.seed(8);
    let (data, envs) = tiny_environments();
    let spec = DatasetSpec {
        name: "burgers".into(),
        channels: 1,
        params: 1,
        periodic: vec![true],
    };
    let mut cfg = EpdConfig::new(vec![spec], &[16], 8, &[6], 8);
    cfg.cond_dim = 8;
    let model = cfg.init(&device);
    check_every_strategy(model, &data, &envs, &device);
}
