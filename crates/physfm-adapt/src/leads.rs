//! LEADS (Yin et al., NeurIPS 2021): the dynamics of environment `e` are `f + g_e`, one
//! network `f` shared by all environments plus a residual network `g_e` per environment
//! whose output is penalised, so that `f` learns what the environments share and each `g_e`
//! only what sets its environment apart. A new environment is adapted to by training a new
//! `g` alone, with `f` frozen.
//!
//! Built for any [`Surrogate`]: `f` and every `g_e` are models of the same type, added in the
//! model's training space ([`Dynamics::forward_raw`]); `f`'s transforms map targets into that
//! space and the sum back to the next frame.

use std::cell::RefCell;

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use physfm_models::{Conditioning, Dynamics, Surrogate};
use physfm_train::{
    ChaCha8Rng, GroupLoss, TrainConfig, TrainOptions, TrainReport, WindowDataset, fit,
};
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::environment::{check_environments, environment_loss};
use crate::{Environment, Result};

/// The shared model and one residual model per environment.
#[derive(Module, Debug)]
pub struct Leads<M: Module> {
    /// `f`, shared by every environment.
    pub shared: M,
    /// `g_e`, one per environment, in environment order.
    pub residuals: Vec<M>,
}

/// How LEADS trains.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeadsConfig {
    /// Weight of the penalty: the mean square of `g_e`'s output on the batch's first step.
    pub penalty: f64,
}

impl Default for LeadsConfig {
    /// A penalty of 1e-2.
    fn default() -> Self {
        Self { penalty: 1e-2 }
    }
}

/// Environment `env` of a [`Leads`] as one model: `f + g_env` in `f`'s training space.
/// It remembers `g_env`'s first output (the penalty's argument).
#[derive(Debug)]
pub struct LeadsView<'a, M> {
    shared: &'a M,
    residual: &'a M,
    first: RefCell<Option<Tensor<3>>>,
}

impl<M: Dynamics> Dynamics for LeadsView<'_, M> {
    fn history(&self) -> usize {
        self.shared.history()
    }

    fn forward_raw(&self, frames: Tensor<4>, space: &[usize], cond: &Conditioning) -> Tensor<3> {
        let g = self.residual.forward_raw(frames.clone(), space, cond);
        self.first.borrow_mut().get_or_insert_with(|| g.clone());
        self.shared.forward_raw(frames, space, cond) + g
    }

    fn target(&self, frames: &Tensor<4>, next: Tensor<3>) -> Tensor<3> {
        self.shared.target(frames, next)
    }

    fn decode(&self, frames: &Tensor<4>, raw: Tensor<3>) -> Tensor<3> {
        self.shared.decode(frames, raw)
    }
}

impl<M: Module + Dynamics> Leads<M> {
    /// Environment `env`'s model, `f + g_env`.
    ///
    /// # Panics
    /// If there is no residual `env`.
    pub fn environment(&self, env: usize) -> LeadsView<'_, M> {
        LeadsView {
            shared: &self.shared,
            residual: &self.residuals[env],
            first: RefCell::new(None),
        }
    }

    /// The loss of environment `env` on a batch of `data`'s windows: `train`'s objective
    /// plus `penalty` times the mean square of `g_env`'s first output.
    pub fn loss(
        &self,
        env: usize,
        data: &Environment<'_>,
        train: &TrainConfig,
        penalty: f64,
        rng: &mut ChaCha8Rng,
        device: &Device,
    ) -> Tensor<1> {
        let view = self.environment(env);
        let task = environment_loss(&view, data, train, rng, device);
        match view.first.into_inner() {
            Some(g) if penalty > 0.0 => task + g.square().mean() * penalty,
            _ => task,
        }
    }

    /// The same model with `f(m)` for the shared model and every residual (a new physics'
    /// heads added, say).
    pub fn map<E>(
        self,
        f: impl Fn(M) -> std::result::Result<M, E>,
    ) -> std::result::Result<Self, E> {
        Ok(Self {
            shared: f(self.shared)?,
            residuals: self
                .residuals
                .into_iter()
                .map(f)
                .collect::<std::result::Result<_, E>>()?,
        })
    }
}

/// A [`Leads`] model fixed on one environment: what [`adapt_leads`] returns, and a
/// [`Dynamics`] that rollouts and evaluation take like any model.
#[derive(Module, Debug)]
pub struct LeadsEnvironment<M: Module> {
    /// The shared model and every residual.
    pub leads: Leads<M>,
    /// The environment it steps.
    #[module(skip)]
    pub env: usize,
}

impl<M: Module + Dynamics> Dynamics for LeadsEnvironment<M> {
    fn history(&self) -> usize {
        self.leads.shared.history()
    }

    fn forward_raw(&self, frames: Tensor<4>, space: &[usize], cond: &Conditioning) -> Tensor<3> {
        self.leads
            .environment(self.env)
            .forward_raw(frames, space, cond)
    }

    fn target(&self, frames: &Tensor<4>, next: Tensor<3>) -> Tensor<3> {
        self.leads.shared.target(frames, next)
    }

    fn decode(&self, frames: &Tensor<4>, raw: Tensor<3>) -> Tensor<3> {
        self.leads.shared.decode(frames, raw)
    }
}

fn check(config: &LeadsConfig) -> Result<()> {
    if !(config.penalty.is_finite() && config.penalty >= 0.0) {
        return Err(crate::error::config_error(
            "leads.penalty",
            config.penalty.to_string(),
            "must be non-negative",
        ));
    }
    Ok(())
}

/// Trains `f` (starting from `model`, pretrained or fresh) and one residual per environment
/// jointly; each residual starts as `residual.fresh(device)` (pass `model` for residuals of
/// the model's own size, or a smaller model of the same type). Each step draws an
/// environment uniformly, then a batch of its windows. The log holds each environment's loss.
pub fn train_leads<M: Surrogate>(
    model: M,
    residual: &M,
    config: &LeadsConfig,
    environments: &[Environment<'_>],
    train: &TrainConfig,
    device: &Device,
    options: &TrainOptions,
) -> Result<(Leads<M>, TrainReport)> {
    check(config)?;
    check_environments("environments", environments, model.history())?;
    let net = Leads {
        shared: model,
        residuals: environments
            .iter()
            .map(|_| residual.fresh(device))
            .collect(),
    };
    let mut options = options.clone();
    if options.groups.is_empty() {
        options.groups = (0..environments.len()).map(|i| format!("env{i}")).collect();
    }
    let batch_loss = |m: &Leads<M>, rng: &mut ChaCha8Rng| {
        let e = (rng.next_u64() % environments.len() as u64) as usize;
        let l = m.loss(e, &environments[e], train, config.penalty, rng, device);
        Ok(GroupLoss { loss: l, group: e })
    };
    Ok(fit(net, train, &options, batch_loss, None)?)
}

/// Adapts to a new environment (the model's dataset `dataset`, windows `windows`): appends
/// `residual.fresh(device)` and trains it alone; the shared model and the other residuals
/// stay frozen (bit for bit), except the shared model's weights under `fresh` (a new
/// physics' heads), which train too. The new environment's index is the last.
#[allow(clippy::too_many_arguments)]
pub fn adapt_leads<M: Surrogate>(
    leads: Leads<M>,
    residual: &M,
    config: &LeadsConfig,
    windows: &WindowDataset,
    dataset: usize,
    fresh: &[String],
    train: &TrainConfig,
    device: &Device,
    options: &TrainOptions,
) -> Result<(LeadsEnvironment<M>, TrainReport)> {
    check(config)?;
    let data = Environment { windows, dataset };
    check_environments(
        "windows",
        std::slice::from_ref(&data),
        leads.shared.history(),
    )?;
    let Leads { shared, residuals } = leads;
    let mut residuals: Vec<M> = residuals.into_iter().map(|r| r.freeze()).collect();
    residuals.push(residual.fresh(device).unfreeze());
    let env = residuals.len() - 1;
    let trained: Vec<String> = std::iter::once(format!("residuals.{env}"))
        .chain(fresh.iter().map(|f| format!("shared.{f}")))
        .collect();
    let net = crate::strategy::freeze_outside(Leads { shared, residuals }, &trained);
    let batch_loss = |m: &Leads<M>, rng: &mut ChaCha8Rng| {
        Ok(m.loss(env, &data, train, config.penalty, rng, device))
    };
    let (leads, report) = fit(net, train, options, batch_loss, None)?;
    Ok((LeadsEnvironment { leads, env }, report))
}
