//! LEADS (Yin et al., NeurIPS 2021): the dynamics of environment `e` are `f + g_e`, one
//! network `f` shared by all environments plus a small residual network `g_e` per environment
//! whose output is penalised, so that `f` learns what the environments share and each `g_e`
//! only what sets its environment apart. A new environment is adapted to by training a new
//! `g` alone, with `f` frozen.

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use physfm_data::{CollectionMeta, InMemoryCollection};
use physfm_models::{Fno, FnoConfig, Stepper1d, StepperFrame};
use physfm_train::{
    ChaCha8Rng, GroupLoss, LossKind, TrainConfig, TrainOptions, TrainReport, WindowBatch,
    WindowDataset, fit, loss,
};
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::{AdaptError, Result};

/// The shared network and one residual network per environment, all in the stepper's
/// network space (normalised input to normalised target).
#[derive(Module, Debug)]
pub struct Leads {
    /// `f`, shared by every environment.
    pub shared: Fno,
    /// `g_e`, one per environment, in environment order.
    pub residuals: Vec<Fno>,
}

impl Leads {
    /// `f(x) + g_env(x)` and `g_env(x)`.
    pub fn forward(&self, env: usize, x: Tensor<3>) -> (Tensor<3>, Tensor<3>) {
        let g = self.residuals[env].forward(x.clone());
        (self.shared.forward(x) + g.clone(), g)
    }
}

/// How LEADS trains.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeadsConfig {
    /// Each environment's residual network (its channels must be the shared network's).
    pub residual: FnoConfig,
    /// Weight of the penalty: the mean square of `g_e`'s output on the batch.
    pub penalty: f64,
}

/// The collection split into environments: one per distinct parameter vector, in order of
/// first appearance, with that vector.
pub fn split_environments(data: &InMemoryCollection) -> Vec<(Vec<f64>, InMemoryCollection)> {
    let mut envs: Vec<(Vec<f64>, InMemoryCollection)> = Vec::new();
    for r in &data.records {
        match envs.iter_mut().find(|(p, _)| *p == r.params) {
            Some((_, c)) => {
                c.records.push(r.clone());
                c.meta.trajectories += 1;
            }
            None => envs.push((
                r.params.clone(),
                InMemoryCollection {
                    meta: CollectionMeta {
                        trajectories: 1,
                        ..data.meta.clone()
                    },
                    coordinates: data.coordinates.clone(),
                    records: vec![r.clone()],
                },
            )),
        }
    }
    envs
}

/// Refuses an empty list of environments or an environment without windows, naming `key`.
/// Refuses an empty environment list, an environment without windows, and windows of another
/// history than the model's `history` input frames.
pub(crate) fn check_environments(
    key: &str,
    environments: &[WindowDataset],
    history: usize,
) -> Result<()> {
    if environments.is_empty() || environments.iter().any(WindowDataset::is_empty) {
        return Err(crate::error::config_error(
            key,
            format!("{} environments", environments.len()),
            "every environment needs windows",
        ));
    }
    for env in environments {
        env.check_history(history)?;
    }
    Ok(())
}

/// The one-step loss of environment `env` on a batch (task loss plus the residual penalty).
pub fn leads_loss(
    model: &Leads,
    frame: StepperFrame<'_>,
    env: usize,
    batch: WindowBatch,
    kind: LossKind,
    penalty: f64,
    windows: &WindowDataset,
) -> Tensor<1> {
    let WindowBatch { x, ys, params, .. } = batch;
    let [b, _, c, n] = ys.dims();
    let y = ys.narrow(1, 0, 1).reshape([b, c, n]);
    let (out, g) = model.forward(env, frame.net_input(x.clone(), &params));
    let task = loss(kind, out, frame.net_target(x, y), &windows.geometry);
    if penalty > 0.0 {
        task + g.square().mean() * penalty
    } else {
        task
    }
}

fn check(leads: &LeadsConfig, frame: &StepperFrame<'_>) -> Result<()> {
    leads
        .residual
        .validate("leads.residual")
        .map_err(|e| AdaptError::Train(physfm_train::TrainError::Model(e)))?;
    let c = frame.norm.field_mean.len();
    let p = frame.norm.param_names.len();
    if leads.residual.in_channels != c + p || leads.residual.out_channels != c {
        return Err(crate::error::config_error(
            "leads.residual",
            format!(
                "in {} / out {}",
                leads.residual.in_channels, leads.residual.out_channels
            ),
            format!("the shared network takes {} in and gives {c} out", c + p),
        ));
    }
    if !(leads.penalty.is_finite() && leads.penalty >= 0.0) {
        return Err(crate::error::config_error(
            "leads.penalty",
            leads.penalty.to_string(),
            "must be non-negative",
        ));
    }
    Ok(())
}

/// Trains `f` (starting from `model.net`, pretrained or fresh) and one residual per
/// environment jointly: each step draws an environment uniformly, then a batch of its
/// windows. The log holds each environment's loss (`loss_env<i>`).
pub fn train_leads(
    model: &Stepper1d,
    config: &LeadsConfig,
    environments: &[WindowDataset],
    train: &TrainConfig,
    device: &Device,
    options: &TrainOptions,
) -> Result<(Leads, TrainReport)> {
    let frame = model.frame();
    check(config, &frame)?;
    check_environments("environments", environments, model.history())?;
    let net = Leads {
        shared: model.net.clone(),
        residuals: environments
            .iter()
            .map(|_| config.residual.init(device))
            .collect(),
    };
    let mut options = options.clone();
    if options.groups.is_empty() {
        options.groups = (0..environments.len()).map(|i| format!("env{i}")).collect();
    }
    let batch_loss = |m: &Leads, rng: &mut ChaCha8Rng| {
        let e = (rng.next_u64() % environments.len() as u64) as usize;
        let w = &environments[e];
        let l = leads_loss(
            m,
            frame,
            e,
            w.sample(train.batch_size, rng, device),
            train.loss,
            config.penalty,
            w,
        );
        Ok(GroupLoss { loss: l, group: e })
    };
    Ok(fit(net, train, &options, batch_loss, None)?)
}

/// Adapts to a new environment: appends a fresh residual network and trains it alone on
/// `windows`; the shared network and the other residuals stay frozen (bit for bit). The new
/// environment's index is the last.
pub fn adapt_leads(
    model: &Stepper1d,
    leads: Leads,
    config: &LeadsConfig,
    windows: &WindowDataset,
    train: &TrainConfig,
    device: &Device,
    options: &TrainOptions,
) -> Result<(Leads, TrainReport)> {
    let frame = model.frame();
    check(config, &frame)?;
    windows.check_history(model.history())?;
    let Leads {
        shared,
        mut residuals,
    } = leads;
    let mut frozen: Vec<Fno> = residuals.drain(..).map(|r| r.freeze()).collect();
    frozen.push(config.residual.init(device));
    let env = frozen.len() - 1;
    let net = Leads {
        shared: shared.freeze(),
        residuals: frozen,
    };
    let batch_loss = |m: &Leads, rng: &mut ChaCha8Rng| {
        Ok(leads_loss(
            m,
            frame,
            env,
            windows.sample(train.batch_size, rng, device),
            train.loss,
            config.penalty,
            windows,
        ))
    };
    Ok(fit(net, train, options, batch_loss, None)?)
}
