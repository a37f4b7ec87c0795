//! # physfm-adapt
//!
//! Adaptation of a pretrained physfm surrogate to new dynamics (a new parameter regime or a
//! new PDE) from a few trajectories.
//!
//! One trait, [`Adaptation`], says what a strategy trains, what it freezes and its default
//! learning rate; [`adapt_stepper`] runs one under a budget (a
//! [`TrainConfig`](physfm_train::TrainConfig): steps, batch, objective, loss, schedule).
//! Implemented:
//!
//! | name | trains |
//! |---|---|
//! | `full` | every weight |
//! | `head` | the projection (decoder) MLP |
//! | `encoder-decoder` | the lifting and projection MLPs |
//! | `lora`, `lora-r<N>` | low-rank updates of the Fourier blocks' pointwise and spectral weights |
//! | `scratch` | every weight of a fresh network (the no-pretraining baseline) |
//!
//! Frozen weights receive no gradient, so the optimiser leaves them bit for bit as they were
//! (tested).
//!
//! ```
//! use burn::tensor::Device;
//! use physfm_adapt::{count_params, strategy};
//! use physfm_models::FnoConfig;
//! let device = Device::flex().autodiff();
//! let config = FnoConfig::new(2, 1, &[16], 32);
//! let pretrained = config.init(&device);
//! let total = count_params(&pretrained).total;
//! for name in ["full", "head", "lora"] {
//!     let s = strategy(name)?;
//!     let prepared = s.prepare(pretrained.clone(), &config, &device);
//!     let n = count_params(&prepared);
//!     println!("{}: trains {} values ({})", s.name(), n.trainable, s.trains());
//! }
//! let head = strategy("head")?.prepare(pretrained, &config, &device);
//! assert!(count_params(&head).trainable < total / 10);
//! # Ok::<(), physfm_adapt::AdaptError>(())
//! ```
//!
//! LEADS ([`train_leads`], [`adapt_leads`]): a shared network plus a penalised residual
//! network per environment ([`split_environments`] groups trajectories by parameter values);
//! a new environment trains a new residual alone.
//!
//! Reptile ([`reptile`]): first-order meta-learning of an initialisation over environments.
//!
//! CoDA ([`train_coda`], [`adapt_coda`]; [`train_coda_with`], [`adapt_coda_with`] for any
//! network and loss): weights `theta_c + W xi_e` from a per-environment context through a
//! linear hypernetwork; a new environment fits only its context. [`coda_protocol`] runs
//! CoDA's own setting (training and new environments, one trajectory per new environment,
//! rollout MSE) on collections of any dimension.
//!
//! In-context adaptation ([`Demonstrations`]): a frozen model's predictions corrected at
//! prediction time by the nearest demonstration points of the new dynamics, without
//! gradient steps (Chen et al., NeurIPS 2024).

mod adapt;
mod coda;
mod coda_protocol;
mod error;
mod icl;
mod leads;
mod reptile;
mod strategy;

pub use adapt::{AdaptReport, adapt_stepper};
pub use coda::{
    Coda, CodaAdapted, CodaConfig, adapt_coda, adapt_coda_with, train_coda, train_coda_with,
};
pub use coda_protocol::{
    CodaData, CodaOutcome, CodaSetup, EnvironmentScore, RolloutExample, coda_protocol, rollout_mse,
};
pub use error::{AdaptError, Result};
pub use icl::{Demonstrations, IclConfig};
pub use leads::{Leads, LeadsConfig, adapt_leads, leads_loss, split_environments, train_leads};
pub use reptile::{ReptileConfig, ReptileReport, ReptileRun, reptile, reptile_with};
pub use strategy::{
    Adaptation, FullFineTune, LoraStrategy, ParamCount, PartialFineTune, STRATEGIES, Scratch,
    WithLearningRate, attach_lora, count_params, strategy,
};
