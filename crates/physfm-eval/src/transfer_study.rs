//! The transfer study: a pretrained Encode-Process-Decode model adapted to a held-out family
//! with every strategy, for every K trajectories and several random K-subsets, under one
//! budget ([`transfer_study`]); its tables ([`transfer_table`]).

use std::fmt::Write as _;

use burn::tensor::Device;
use physfm_adapt::{Environment, MetaConfig, Prior, Strategy, meta_train};
use physfm_models::EncodeProcessDecode;
use physfm_train::TrainOptions;
use serde::Serialize;

use crate::{
    EvalError, Presets, PretrainSpec, Result, TransferScore, adaptation_budget, random_subset,
    rollout_errors, transfer_protocol,
};

/// What a transfer study runs.
#[derive(Debug, Clone)]
pub struct TransferStudy {
    /// The held-out preset: K trajectories of its `train` split adapt, its `test_interp`
    /// split measures.
    pub target: String,
    /// Trajectory counts K.
    pub shots: Vec<usize>,
    /// The strategies; `coda`, `leads` and `reptile` meta-train first over the pretraining
    /// datasets (for `meta_steps` steps; with 0, `leads` adapts the plain model and `coda`
    /// and `reptile` are refused).
    pub strategies: Vec<Strategy>,
    /// Optimiser steps per adaptation (the same for every strategy and K).
    pub steps: usize,
    /// Peak learning rate of every adaptation and of meta-training.
    pub learning_rate: f64,
    /// Random K-subsets per K (seeds `0..repeats`; subset 0 is the first K).
    pub repeats: usize,
    /// Meta-training steps.
    pub meta_steps: usize,
    /// Settings of the meta-trained strategies and in-context adaptation.
    pub meta: MetaConfig,
    /// The pretrained head the target starts from, when the target is another regime of a
    /// pretraining dataset's family (same channels and parameters); `None`: new heads. With
    /// a head, the study also scores the pretrained model as it is (strategy `zero-shot`,
    /// K = 0).
    pub head: Option<String>,
}

/// One adaptation of a transfer study.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TransferPoint {
    /// Strategy name.
    pub strategy: String,
    /// Target trajectories K.
    pub shots: usize,
    /// Which random K-subset.
    pub repeat: usize,
    /// One-step relative L2 on the target's `test_interp` split.
    pub one_step_rel_l2: f64,
    /// Rollout relative L2.
    pub rollout_rel_l2: f64,
    /// Adaptation seconds.
    pub seconds: f64,
}

/// Runs `study` from `pretrained` (made by `spec`; its datasets are the meta-training
/// environments) on the target's collections in `presets`, on `device`; `on_point` sees
/// each point as it is measured. Returns the points and the test collection's trajectory
/// and frame counts.
///
/// # Errors
/// [`EvalError::Invalid`] when the target was a pretraining dataset or K exceeds its train
/// split; the data, training and adaptation errors.
pub fn transfer_study(
    study: &TransferStudy,
    pretrained: &EncodeProcessDecode,
    spec: &PretrainSpec,
    presets: &Presets,
    device: &Device,
    on_point: &mut dyn FnMut(&TransferPoint),
) -> Result<(Vec<TransferPoint>, (usize, usize))> {
    if spec.datasets.iter().any(|d| d.preset == study.target) {
        return Err(EvalError::Invalid(format!(
            "{} was a pretraining dataset; transfer is to a held-out family",
            study.target
        )));
    }
    let pool = presets.collection(&study.target, "train", spec.frame_stride, 0)?;
    let test = presets.collection(&study.target, "test_interp", spec.frame_stride, 0)?;
    if let Some(&k) = study
        .shots
        .iter()
        .find(|&&k| k == 0 || k > pool.records.len())
    {
        return Err(EvalError::Invalid(format!(
            "{k} shots: the train split of {} has {} trajectories",
            study.target,
            pool.records.len()
        )));
    }
    let ad = device.clone().inner().autodiff();
    // Each strategy's prior: the pretrained model, or its meta-training over the
    // pretraining datasets.
    // The pretraining windows, read once if some strategy meta-trains.
    let meta_trains = |s: Strategy| s.meta_trained() && study.meta_steps > 0;
    let windows = if study.strategies.iter().any(|&s| meta_trains(s)) {
        spec.datasets
            .iter()
            .map(|d| spec.training_pairs(presets, d))
            .collect::<Result<Vec<_>>>()?
    } else {
        Vec::new()
    };
    let mut priors = Vec::with_capacity(study.strategies.len());
    for &strategy in &study.strategies {
        if !meta_trains(strategy) {
            priors.push(Prior::Model(pretrained.clone()));
            continue;
        }
        let budget = adaptation_budget(&spec.train, study.meta_steps, study.learning_rate, 0);
        let (prior, _) = meta_train(
            pretrained.clone(),
            strategy,
            &Environment::physics(&windows),
            &budget,
            &study.meta,
            &ad,
            &TrainOptions::default(),
        )?;
        priors.push(prior);
    }
    let names: Vec<&str> = pretrained
        .config
        .datasets
        .iter()
        .map(|d| d.name.as_str())
        .collect();
    if let Some(h) = &study.head
        && !names.contains(&h.as_str())
    {
        return Err(EvalError::Invalid(format!(
            "no pretrained head named {h} (heads: {})",
            names.join(", ")
        )));
    }
    let head = study.head.as_deref().unwrap_or(&study.target);
    let target_cfg = spec.model.config(vec![spec.dataset_spec(head, &pool.meta)]);
    let mut points = Vec::new();
    if study.head.is_some() {
        let t = std::time::Instant::now();
        let moved = pretrained.transfer(&target_cfg, &device.clone().inner())?;
        let (one_step_rel_l2, rollout_rel_l2) =
            rollout_errors(&moved, 0, &test, spec.params, &device.clone().inner())?;
        let p = TransferPoint {
            strategy: "zero-shot".into(),
            shots: 0,
            repeat: 0,
            one_step_rel_l2,
            rollout_rel_l2,
            seconds: t.elapsed().as_secs_f64(),
        };
        on_point(&p);
        points.push(p);
    }
    for &k in &study.shots {
        for repeat in 0..study.repeats {
            let w = spec.pairs(&random_subset(&pool, k, repeat as u64)?)?;
            let budget =
                adaptation_budget(&spec.train, study.steps, study.learning_rate, repeat as u64);
            for (strategy, prior) in study.strategies.iter().zip(&priors) {
                let TransferScore {
                    one_step_rel_l2,
                    rollout_rel_l2,
                    seconds,
                } = transfer_protocol(
                    Some(prior),
                    &target_cfg,
                    &w,
                    &test,
                    *strategy,
                    &budget,
                    &study.meta,
                    spec.params,
                    device,
                )?;
                let p = TransferPoint {
                    strategy: strategy.to_string(),
                    shots: k,
                    repeat,
                    one_step_rel_l2,
                    rollout_rel_l2,
                    seconds,
                };
                on_point(&p);
                points.push(p);
            }
        }
    }
    Ok((points, (test.records.len(), test.meta.frames)))
}

/// Mean, min and max over the repeats of strategy `s` at K = `k` of `f`.
pub fn transfer_mean(
    points: &[TransferPoint],
    s: &str,
    k: usize,
    f: impl Fn(&TransferPoint) -> f64,
) -> (f64, f64, f64) {
    let v: Vec<f64> = points
        .iter()
        .filter(|p| p.strategy == s && p.shots == k)
        .map(f)
        .collect();
    let m = v.iter().sum::<f64>() / v.len().max(1) as f64;
    let lo = v.iter().cloned().fold(f64::INFINITY, f64::min);
    let hi = v.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    (m, lo, hi)
}

/// Markdown tables of a study's rollout and one-step errors: one row per K, one column per
/// strategy, mean [min, max] over the subsets.
pub fn transfer_table(
    study: &TransferStudy,
    points: &[TransferPoint],
    (test_trajectories, test_frames): (usize, usize),
) -> String {
    let mut md = String::new();
    let _ = writeln!(
        md,
        "# Transfer to {} ({test_trajectories} test trajectories, {test_frames} frames; {} steps, lr {}, {} subset(s) per K)\n",
        study.target, study.steps, study.learning_rate, study.repeats
    );
    if let Some(z) = points.iter().find(|p| p.strategy == "zero-shot") {
        let _ = writeln!(
            md,
            "Zero-shot (the pretrained model with head {}, no target data): rollout {:.4}, one-step {:.4}.\n",
            study.head.as_deref().unwrap_or("?"),
            z.rollout_rel_l2,
            z.one_step_rel_l2
        );
    }
    for (what, f) in [
        (
            "Rollout relative L2 error",
            (|p: &TransferPoint| p.rollout_rel_l2) as fn(&TransferPoint) -> f64,
        ),
        ("One-step relative L2 error", |p: &TransferPoint| {
            p.one_step_rel_l2
        }),
    ] {
        let _ = writeln!(md, "## {what} (mean [min, max] over subsets)\n");
        let _ = write!(md, "| K |");
        for s in &study.strategies {
            let _ = write!(md, " {s} |");
        }
        let _ = writeln!(md, "\n|---|{}", "---|".repeat(study.strategies.len()));
        for &k in &study.shots {
            let _ = write!(md, "| {k} |");
            for s in &study.strategies {
                let (m, lo, hi) = transfer_mean(points, &s.to_string(), k, f);
                if study.repeats > 1 {
                    let _ = write!(md, " {m:.4} [{lo:.4}, {hi:.4}] |");
                } else {
                    let _ = write!(md, " {m:.4} |");
                }
            }
            let _ = writeln!(md);
        }
        let _ = writeln!(md);
    }
    md
}
