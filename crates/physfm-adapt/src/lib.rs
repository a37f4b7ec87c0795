//! # physfm-adapt
//!
//! Adaptation of a pretrained physfm surrogate to new dynamics (a new parameter regime or a
//! new PDE) from a few trajectories.
//!
//! One typed [`Strategy`], shared by the library and the command line, says what a strategy
//! trains on any [`Surrogate`](physfm_models::Surrogate) (by the model's
//! [`Parts`](physfm_models::Parts)), what it freezes and its default learning rate; [`adapt`]
//! runs one under a budget (a [`TrainConfig`](physfm_train::TrainConfig): steps, batch,
//! objective, loss, schedule). The same strategies adapt an FNO stepper, the multi-physics
//! Encode-Process-Decode model, a U-Net and an AViT:
//!
//! | name | trains |
//! |---|---|
//! | `full` | every weight |
//! | `head` | the decoder (an FNO's projection MLP, an EPD's decoders) |
//! | `heads` (or `encoder-decoder`) | the encoder and the decoder; the processor stays frozen |
//! | `lora`, `lora-r<N>` | low-rank updates of the processor's weights (an FNO's Fourier blocks, pointwise and spectral) |
//! | `scratch` | every weight of a fresh model (the no-pretraining baseline) |
//!
//! Frozen weights receive no gradient, so the optimiser leaves them bit for bit as they were
//! (tested).
//!
//! ```
//! use burn::tensor::Device;
//! use physfm_adapt::{Strategy, count_params};
//! use physfm_models::{FnoConfig, Normalization, Stepper1d, StepperConfig};
//! let device = Device::flex().autodiff();
//! let norm = Normalization {
//!     field_mean: vec![0.0], field_std: vec![1.0], delta_mean: vec![0.0], delta_std: vec![0.1],
//!     param_names: vec!["nu".into()], param_log: vec![true], param_mean: vec![-3.0], param_std: vec![1.0],
//! };
//! let config = StepperConfig::new(FnoConfig::new(2, 1, &[16], 32), true);
//! let pretrained = Stepper1d::new(config, norm, &device)?;
//! let total = count_params(&pretrained).total;
//! for s in [Strategy::Full, Strategy::Head, Strategy::Lora { rank: 4 }] {
//!     let prepared = s.prepare(pretrained.clone(), &[], &device);
//!     let n = count_params(&prepared);
//!     println!("{s}: trains {} values ({})", n.trainable, s.trains());
//! }
//! let head = Strategy::Head.prepare(pretrained, &[], &device);
//! assert!(count_params(&head).trainable < total / 10);
//! # Ok::<(), Box<dyn std::error::Error>>(())
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
mod environment;
mod error;
mod icl;
mod leads;
mod reptile;
mod strategy;

pub use adapt::{
    AdaptReport, Adapted, MetaConfig, MetaReport, Prior, ReptileSettings, adapt, meta_train,
};
pub use coda::{
    Coda, CodaAdapted, CodaConfig, adapt_coda, adapt_coda_with, train_coda, train_coda_with,
};
pub use coda_protocol::{
    CodaData, CodaOutcome, CodaSetup, EnvironmentScore, RolloutExample, coda_protocol, rollout_mse,
};
pub use environment::{Environment, split_environments};
pub use error::{AdaptError, Result};
pub use icl::{Demonstrations, IclConfig, InContext};
pub use leads::{Leads, LeadsConfig, LeadsEnvironment, LeadsView, adapt_leads, train_leads};
pub use reptile::{ReptileConfig, ReptileReport, ReptileRun, reptile, reptile_with};
pub use strategy::{ParamCount, STRATEGIES, Strategy, attach_lora, count_params};
