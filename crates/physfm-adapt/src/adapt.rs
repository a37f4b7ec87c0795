//! Adapting any pretrained surrogate with any [`Strategy`] under a budget: the meta-training
//! that makes a strategy's prior ([`meta_train`]), and the adaptation itself ([`adapt`]).

use std::time::Instant;

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use physfm_models::{Conditioning, Dynamics, Surrogate};
use physfm_train::{
    TrainConfig, TrainOptions, TrainReport, Validate, WindowDataset, train_windows_with,
};
use serde::{Deserialize, Serialize};

use crate::{
    Coda, CodaConfig, Demonstrations, Environment, IclConfig, InContext, Leads, LeadsConfig,
    LeadsEnvironment, ParamCount, ReptileConfig, Result, Strategy, adapt_coda, adapt_leads,
    count_params, reptile, train_coda, train_leads,
};

/// Settings of the strategies that meta-train and of in-context adaptation; every field
/// has a default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct MetaConfig {
    /// CoDA's context size and regularisation.
    pub coda: CodaConfig,
    /// LEADS's penalty.
    pub leads: LeadsConfig,
    /// Reptile's inner loop.
    pub reptile: ReptileSettings,
    /// In-context adaptation's neighbours and gate.
    pub icl: IclConfig,
}

/// Reptile's settings besides the budget: the budget's steps are spent `inner_steps` per
/// meta-step, at its learning rate, batch size, loss and seed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReptileSettings {
    /// AdamW steps on the drawn environment per meta-step.
    pub inner_steps: usize,
    /// Initial interpolation factor, in [0, 1], decaying linearly to zero.
    pub meta_lr: f64,
}

impl Default for ReptileSettings {
    /// Five inner steps, interpolation from 1.
    fn default() -> Self {
        Self {
            inner_steps: 5,
            meta_lr: 1.0,
        }
    }
}

/// A pretrained model as a strategy adapts it: a plain model, or what meta-training with
/// CoDA, LEADS or Reptile made of one.
#[derive(Debug, Clone)]
pub enum Prior<M: Surrogate> {
    /// A plain model (pretrained or not): what `full`, `head`, `heads`, `lora`,
    /// `in-context` and `scratch` adapt.
    Model(M),
    /// CoDA's shared weights, hypernetwork and training contexts.
    Coda {
        /// The meta-trained model.
        coda: Coda<M>,
        /// Its sizes and regularisation.
        config: CodaConfig,
    },
    /// LEADS's shared model and its training environments' residuals.
    Leads {
        /// The meta-trained models.
        leads: Leads<M>,
        /// Its penalty.
        config: LeadsConfig,
    },
    /// Reptile's meta-learned initialisation.
    Reptile(M),
}

impl<M: Surrogate> From<M> for Prior<M> {
    fn from(model: M) -> Self {
        Self::Model(model)
    }
}

impl<M: Surrogate> Prior<M> {
    /// The strategy that made it (`full` for a plain model).
    pub fn made_by(&self) -> Strategy {
        match self {
            Self::Model(_) => Strategy::Full,
            Self::Coda { .. } => Strategy::Coda,
            Self::Leads { .. } => Strategy::Leads,
            Self::Reptile(_) => Strategy::Reptile,
        }
    }

    /// The plain model it holds, borrowed (see [`Prior::into_model`]).
    pub fn model(&self) -> &M {
        match self {
            Self::Model(m) | Self::Reptile(m) => m,
            Self::Coda { coda, .. } => &coda.base,
            Self::Leads { leads, .. } => &leads.shared,
        }
    }

    /// The plain model it holds: CoDA's shared weights (the network of context zero),
    /// LEADS's shared model, Reptile's initialisation.
    pub fn into_model(self) -> M {
        match self {
            Self::Model(m) | Self::Reptile(m) => m,
            Self::Coda { coda, .. } => coda.base,
            Self::Leads { leads, .. } => leads.shared,
        }
    }

    /// The same prior with `f` applied to each model it holds (for a new physics, the
    /// transfer that adds its heads; `fresh` names the weights `f` initialises, which
    /// CoDA's hypernetwork then leaves alone).
    pub fn map<E>(
        self,
        f: impl Fn(M) -> std::result::Result<M, E>,
        fresh: &[String],
    ) -> std::result::Result<Self, E> {
        Ok(match self {
            Self::Model(m) => Self::Model(f(m)?),
            Self::Reptile(m) => Self::Reptile(f(m)?),
            Self::Coda { coda, config } => Self::Coda {
                coda: coda.map_base(f, fresh)?,
                config,
            },
            Self::Leads { leads, config } => Self::Leads {
                leads: leads.map(f)?,
                config,
            },
        })
    }
}

/// What meta-training did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetaReport {
    /// Strategy name.
    pub strategy: String,
    /// Optimiser steps taken (for Reptile: meta-steps times inner steps).
    pub steps: usize,
    /// `(step, loss)` at each logged step.
    pub losses: Vec<(usize, f64)>,
    /// Wall time in seconds.
    pub seconds: f64,
}

/// Makes `strategy`'s prior from `model` (pretrained or fresh) by meta-training over
/// `environments` under `budget` (steps, batch, learning rate, loss, seed; CoDA and LEADS
/// also its objective and schedule):
///
/// - `coda`: CoDA's `theta_c` (from `model`), hypernetwork and a context per environment
///   ([`train_coda`]);
/// - `leads`: the shared model (from `model`) and a residual model of the same architecture
///   per environment ([`train_leads`]);
/// - `reptile`: Reptile's initialisation from `model`, `budget.steps / inner_steps`
///   meta-steps ([`reptile`]);
/// - every other strategy: `model` as it is, with no training (their prior is the plain
///   pretrained model).
///
/// `device` must be an autodiff device.
pub fn meta_train<M: Surrogate>(
    model: M,
    strategy: Strategy,
    environments: &[Environment<'_>],
    budget: &TrainConfig,
    config: &MetaConfig,
    device: &Device,
    options: &TrainOptions,
) -> Result<(Prior<M>, MetaReport)> {
    let start = Instant::now();
    let report = |steps: usize, losses: Vec<(usize, f64)>| MetaReport {
        strategy: strategy.to_string(),
        steps,
        losses,
        seconds: start.elapsed().as_secs_f64(),
    };
    Ok(match strategy {
        Strategy::Coda => {
            let (coda, r) = train_coda(model, &config.coda, environments, budget, device, options)?;
            let prior = Prior::Coda {
                coda,
                config: config.coda.clone(),
            };
            (prior, report(budget.steps, r.losses))
        }
        Strategy::Leads => {
            let residual = model.clone();
            let (leads, r) = train_leads(
                model,
                &residual,
                &config.leads,
                environments,
                budget,
                device,
                options,
            )?;
            let prior = Prior::Leads {
                leads,
                config: config.leads.clone(),
            };
            (prior, report(budget.steps, r.losses))
        }
        Strategy::Reptile => {
            let inner = config.reptile.inner_steps.max(1);
            let cfg = ReptileConfig {
                meta_steps: (budget.steps / inner).max(1),
                meta_lr: config.reptile.meta_lr,
                inner_steps: inner,
                inner_lr: budget.learning_rate,
                batch_size: budget.batch_size,
                loss: budget.loss,
                seed: budget.seed,
            };
            let (m, r) = reptile(model, environments, &cfg, device)?;
            (Prior::Reptile(m), report(cfg.meta_steps * inner, r.losses))
        }
        _ => (Prior::Model(model), report(0, Vec::new())),
    })
}

/// An adapted model: the model itself with its adapted weights (most strategies), LEADS's
/// shared model with the new environment's residual, or a frozen model with its
/// demonstrations. Rollouts and evaluation take it like any model ([`Dynamics`]).
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Adapted<M: Module> {
    /// A model of the pretrained type with adapted weights.
    Model(M),
    /// LEADS on its new environment.
    Leads(LeadsEnvironment<M>),
    /// A frozen model corrected by demonstrations.
    InContext(InContext<M>),
}

impl<M: Module> Adapted<M> {
    /// The adapted model of the pretrained type, where adaptation made one (every strategy
    /// but `leads` and `in-context`).
    pub fn model(&self) -> Option<&M> {
        match self {
            Self::Model(m) => Some(m),
            _ => None,
        }
    }

    /// [`Adapted::model`], by value.
    pub fn into_model(self) -> Option<M> {
        match self {
            Self::Model(m) => Some(m),
            _ => None,
        }
    }
}

impl<M: Module + Dynamics> Dynamics for Adapted<M> {
    fn history(&self) -> usize {
        match self {
            Self::Model(m) => m.history(),
            Self::Leads(m) => m.history(),
            Self::InContext(m) => m.history(),
        }
    }

    fn forward_raw(&self, frames: Tensor<4>, space: &[usize], cond: &Conditioning) -> Tensor<3> {
        match self {
            Self::Model(m) => m.forward_raw(frames, space, cond),
            Self::Leads(m) => m.forward_raw(frames, space, cond),
            Self::InContext(m) => m.forward_raw(frames, space, cond),
        }
    }

    fn target(&self, frames: &Tensor<4>, next: Tensor<3>) -> Tensor<3> {
        match self {
            Self::Model(m) => m.target(frames, next),
            Self::Leads(m) => m.target(frames, next),
            Self::InContext(m) => m.target(frames, next),
        }
    }

    fn decode(&self, frames: &Tensor<4>, raw: Tensor<3>) -> Tensor<3> {
        match self {
            Self::Model(m) => m.decode(frames, raw),
            Self::Leads(m) => m.decode(frames, raw),
            Self::InContext(m) => m.decode(frames, raw),
        }
    }
}

/// What an adaptation did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdaptReport {
    /// Strategy name.
    pub strategy: String,
    /// What it trained.
    pub trains: String,
    /// Values that received gradients.
    pub trainable_params: usize,
    /// All values of the prepared network, adapters, contexts and residuals included.
    pub total_params: usize,
    /// The training run (for `in-context` without fresh weights: no step, zero seconds
    /// besides the demonstrations' indexing).
    pub train: TrainReport,
}

/// Adapts `prior` (any [`Surrogate`], or a prior meta-trained with [`meta_train`]) to the
/// windows of `data` (a few trajectories of the new dynamics, the model's dataset 0) with
/// `strategy`, and returns the adapted model. Weights under `fresh` (path prefixes of parts
/// the caller has just initialised, such as a new physics' encoder and decoder) train under
/// every strategy. The objective, loss and schedule of `budget` apply; the model's
/// normalisation is kept. `device` must be an autodiff device.
///
/// `validate`, if given, scores the model under training (lower is better: a rollout error
/// on held-out trajectories of the new dynamics, say) every `budget.validate_every` steps;
/// with `budget.patience` > 0 the adaptation stops early and keeps the best-scored weights,
/// the prior's own (step 0) included (see [`TrainConfig::patience`]). It applies to every
/// strategy that trains the model's weights, and to `in-context`'s fresh heads.
///
/// - `full`, `head`, `heads`, `lora-r<N>`, `scratch`: [`Strategy::prepare`], then training;
///   LoRA's updates are merged into the weights.
/// - `coda`: fits a new context alone ([`adapt_coda`]); the result is the network of that
///   context, a plain model.
/// - `leads`: a new residual model of the shared model's architecture trains alone
///   ([`adapt_leads`]).
/// - `reptile`: full fine-tuning of the meta-learned initialisation.
/// - `in-context`: no step on the model's weights (those under `fresh` train first, under
///   the budget, since a new physics' fresh heads know nothing); the data's windows become
///   demonstrations ([`Demonstrations`], settings from `config.icl`).
///
/// # Errors
/// [`AdaptError::Config`](crate::AdaptError::Config) when `coda` or `reptile` is given a
/// prior that their meta-training did not make (`leads` adapts any prior: another's plain
/// model becomes the shared model, with no training environment), when `coda` or `leads`
/// (which train a context or a residual model, not the model) are given `validate`, and the
/// training's own errors.
///
/// ```
/// use burn::tensor::Device;
/// use physfm_adapt::{Strategy, adapt, MetaConfig};
/// use physfm_data::{CollectionMeta, InMemoryCollection, TrajectoryRecord, FORMAT_VERSION};
/// use physfm_models::{FnoConfig, Stepper1d, StepperConfig};
/// use physfm_train::{TrainConfig, TrainOptions, WindowDataset};
/// // One trajectory of a travelling wave: the "new dynamics".
/// let n = 16;
/// let fields: Vec<f32> = (0..4)
///     .flat_map(|t| (0..n).map(move |x| ((x as f32 / n as f32 - 0.1 * t as f32) * 6.283).sin()))
///     .collect();
/// let data = InMemoryCollection {
///     meta: CollectionMeta {
///         format_version: FORMAT_VERSION, name: "wave".into(), channel_names: vec!["u".into()],
///         param_names: vec![], axis_names: vec!["x".into()], spatial_shape: vec![n],
///         domain_lengths: vec![1.0], boundary: vec![physfm_data::AxisBoundary::PERIODIC], frames: 4, trajectories: 1,
///         generator: "doc".into(), seed: 0, provenance: serde_json::Value::Null,
///     },
///     coordinates: vec![(0..n).map(|x| x as f64 / n as f64).collect()],
///     records: vec![TrajectoryRecord { fields, times: vec![0.0, 1.0, 2.0, 3.0], params: vec![] }],
/// };
/// let pairs = WindowDataset::pairs(&data, 1)?;
/// let device = Device::flex().autodiff();
/// let pretrained = Stepper1d::new(
///     StepperConfig::new(FnoConfig::new(1, 1, &[4], 8), true),
///     pairs.normalization(vec![])?,
///     &device,
/// )?;
/// let lora: Strategy = "lora-r2".parse()?;
/// let budget = TrainConfig::new(10, 3, lora.learning_rate());
/// let (adapted, report) = adapt(
///     pretrained, lora, &[], &pairs, None, &budget, &MetaConfig::default(), &device,
///     &TrainOptions::default(),
/// )?;
/// assert!(report.trainable_params < report.total_params / 4);
/// assert_eq!(adapted.model().unwrap().net.blocks.len(), 4);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[allow(clippy::too_many_arguments)]
pub fn adapt<M: Surrogate>(
    prior: impl Into<Prior<M>>,
    strategy: Strategy,
    fresh: &[String],
    data: &WindowDataset,
    validate: Option<Validate<'_, M>>,
    budget: &TrainConfig,
    config: &MetaConfig,
    device: &Device,
    options: &TrainOptions,
) -> Result<(Adapted<M>, AdaptReport)> {
    let prior = prior.into();
    if validate.is_some() && matches!(strategy, Strategy::Coda | Strategy::Leads) {
        return Err(crate::error::config_error(
            "strategy",
            strategy.to_string(),
            "it trains a context or a residual model, not the model's weights, so a \
             validation of the model cannot steer it; adapt without one",
        ));
    }
    let made_by = prior.made_by();
    let refuse = || {
        Err(crate::error::config_error(
            "strategy",
            strategy.to_string(),
            format!(
                "it adapts a prior made by meta-training with `{strategy}` \
                 (physfm_adapt::meta_train), and this one is a {} prior",
                match made_by {
                    Strategy::Full => "plain".to_string(),
                    s => format!("`{s}`"),
                }
            ),
        ))
    };
    let report = |prepared: ParamCount, train: TrainReport| AdaptReport {
        strategy: strategy.to_string(),
        trains: strategy.trains(),
        trainable_params: prepared.trainable,
        total_params: prepared.total,
        train,
    };
    // The strategies that train the model's own weights (one of them runs).
    let train = |model: M, s: Strategy| {
        plain_adapt(model, s, fresh, data, validate, budget, device, options)
    };
    match (strategy, prior) {
        (Strategy::Coda, Prior::Coda { coda, config: cc }) => {
            let (adapted, train) = adapt_coda(coda, &cc, data, 0, fresh, budget, device, options)?;
            // Training keeps what trains (the context and the fresh weights) trainable.
            let n = count_params(&adapted);
            let network = adapted.network();
            Ok((Adapted::Model(plain(network)), report(n, train)))
        }
        (Strategy::Leads, prior) => {
            let (leads, cfg) = match prior {
                Prior::Leads { leads, config } => (leads, config),
                other => (
                    Leads {
                        shared: other.into_model(),
                        residuals: Vec::new(),
                    },
                    config.leads.clone(),
                ),
            };
            let residual = leads.shared.clone();
            let (adapted, train) = adapt_leads(
                leads, &residual, &cfg, data, 0, fresh, budget, device, options,
            )?;
            let n = count_params(&adapted);
            Ok((Adapted::Leads(adapted), report(n, train)))
        }
        (Strategy::Reptile, Prior::Reptile(m)) => {
            let (m, r) = train(m, Strategy::Reptile)?;
            Ok((Adapted::Model(m), report(r.0, r.1)))
        }
        (Strategy::Coda | Strategy::Reptile, _) => refuse(),
        (Strategy::InContext, prior) => {
            let model = prior.into_model();
            let start = Instant::now();
            let (model, n, mut train) = if fresh.is_empty() {
                let n = count_params(&model.clone().freeze());
                (model, n, TrainReport::empty())
            } else {
                let (m, (t, r)) = train(model, Strategy::InContext)?;
                (m, t, r)
            };
            let frozen = model.freeze();
            let trajectories = data.trajectories.max(1);
            let demonstrations = Demonstrations::new(
                &frozen.valid(),
                data,
                0,
                trajectories,
                &config.icl,
                &device.clone().inner(),
            )?;
            // Training of fresh weights (if any) and indexing of the demonstrations.
            train.seconds = start.elapsed().as_secs_f64();
            Ok((
                Adapted::InContext(InContext {
                    model: frozen,
                    demonstrations,
                }),
                report(n, train),
            ))
        }
        (s, prior) => {
            let (m, r) = train(prior.into_model(), s)?;
            Ok((Adapted::Model(m), report(r.0, r.1)))
        }
    }
}

/// The weights of a specialised network (CoDA's `theta_c + W xi`) as plain parameters.
fn plain<M: Module>(m: M) -> M {
    struct Detach;
    impl burn::module::ModuleMapper for Detach {
        fn map_float<const D: usize>(
            &mut self,
            param: burn::module::Param<Tensor<D>>,
        ) -> burn::module::Param<Tensor<D>> {
            let id = param.id;
            let t = param.val().detach();
            burn::module::Param::initialized(id, t)
        }
    }
    m.map(&mut Detach)
}

/// A finished model, its trainable and total parameter counts, and its training.
type Trained<M> = (M, (ParamCount, TrainReport));

/// Prepares `model` with `strategy`, trains it on `data` (validated by `validate`) and
/// finishes it.
#[allow(clippy::too_many_arguments)]
fn plain_adapt<M: Surrogate>(
    model: M,
    strategy: Strategy,
    fresh: &[String],
    data: &WindowDataset,
    validate: Option<Validate<'_, M>>,
    budget: &TrainConfig,
    device: &Device,
    options: &TrainOptions,
) -> Result<Trained<M>> {
    let prepared = strategy.prepare(model, fresh, device);
    let counts = count_params(&prepared);
    let (trained, train) = train_windows_with(prepared, data, validate, budget, device, options)?;
    Ok((strategy.finish(trained), (counts, train)))
}
