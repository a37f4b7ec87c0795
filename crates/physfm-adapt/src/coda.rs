//! CoDA (Kirchmeyer et al., ICML 2022): the network of environment `e` has the weights
//! `theta_c + W xi_e`, shared weights `theta_c` plus a linear hypernetwork `W` applied to a
//! small context vector `xi_e` per environment, so every environment's weights lie in a
//! `context_dim`-dimensional affine subspace. Meta-training fits `theta_c`, `W` and every
//! `xi_e` on the training environments; adapting to a new environment fits only its `xi`.
//!
//! As built here, `W` acts on every weight of the network (one `[context_dim, size]` block
//! per parameter), and the regulariser is `lambda_xi sum_e |xi_e|^2 + lambda_w |W|^2`, a
//! plain L2 form of the paper's.

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::tensor::{Device, Distribution, Tensor};
use physfm_models::{Fno, Stepper1d, StepperFrame};
use physfm_train::{
    ChaCha8Rng, GroupLoss, LossKind, Objective, TrainConfig, TrainOptions, TrainReport,
    WindowBatch, WindowDataset, fit, stepper_loss,
};
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::{AdaptError, Result};

/// CoDA's sizes and regularisation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodaConfig {
    /// Size of each environment's context (2 in the paper).
    pub context_dim: usize,
    /// Weight of `sum_e |xi_e|^2`.
    pub lambda_xi: f64,
    /// Weight of `|W|^2`.
    pub lambda_w: f64,
}

/// Shared weights, hypernetwork and the training environments' contexts.
#[derive(Module, Debug)]
pub struct Coda {
    /// `theta_c`.
    pub base: Fno,
    /// `W`, one `[context_dim, size]` block per parameter of `base`, in traversal order.
    pub hyper: Vec<Param<Tensor<2>>>,
    /// `xi_e` of the training environments, `[environments, context_dim]`.
    pub contexts: Param<Tensor<2>>,
}

/// A new environment's context next to a frozen [`Coda`].
#[derive(Module, Debug)]
pub struct CodaAdapted {
    /// The meta-trained model, frozen.
    pub coda: Coda,
    /// `xi` of the new environment, `[1, context_dim]`.
    pub context: Param<Tensor<2>>,
}

struct Sizes(Vec<(ParamId, usize)>);

impl ModuleVisitor for Sizes {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.0.push((param.id, param.shape().num_elements()));
    }
}

/// Replaces every parameter by `theta + (xi W_p)`, a tracked function of the leaves, so the
/// specialised network's gradients reach `theta_c`, `W` and `xi`.
struct Specialise<'a> {
    xi: Tensor<2>,
    hyper: std::slice::Iter<'a, Param<Tensor<2>>>,
}

impl ModuleMapper for Specialise<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let w = self
            .hyper
            .next()
            .expect("one hypernetwork block per parameter");
        let base = param.val();
        let delta = self.xi.clone().matmul(w.val()).reshape(base.shape());
        Param::initialized(param.id, base + delta)
    }
}

impl Coda {
    /// A CoDA model around `base` for `environments` training environments: `W` small and
    /// random, contexts zero.
    pub fn new(base: Fno, environments: usize, config: &CodaConfig, device: &Device) -> Self {
        let mut sizes = Sizes(Vec::new());
        base.visit(&mut sizes);
        let hyper = sizes
            .0
            .iter()
            .map(|&(_, n)| {
                Param::from_tensor(Tensor::random(
                    [config.context_dim, n],
                    Distribution::Normal(0.0, 1e-3),
                    device,
                ))
            })
            .collect();
        Self {
            base,
            hyper,
            contexts: Param::from_tensor(Tensor::zeros([environments, config.context_dim], device)),
        }
    }

    /// The network of context `xi` (`[1, context_dim]`): weights `theta_c + W xi`.
    pub fn network(&self, xi: Tensor<2>) -> Fno {
        self.base.clone().map(&mut Specialise {
            xi,
            hyper: self.hyper.iter(),
        })
    }

    /// The network of training environment `env`.
    pub fn environment(&self, env: usize) -> Fno {
        self.network(self.contexts.val().narrow(0, env, 1))
    }

    fn w_norm(&self) -> Tensor<1> {
        let mut total: Option<Tensor<1>> = None;
        for w in &self.hyper {
            let s = w.val().square().sum();
            total = Some(match total {
                Some(t) => t + s,
                None => s,
            });
        }
        total.expect("at least one parameter")
    }
}

fn one_step(
    net: &Fno,
    frame: StepperFrame<'_>,
    batch: WindowBatch,
    kind: LossKind,
    windows: &WindowDataset,
) -> Tensor<1> {
    stepper_loss(
        net,
        frame,
        batch,
        Objective::OneStep,
        kind,
        &windows.geometry,
    )
}

fn check(config: &CodaConfig) -> Result<()> {
    let bad = |key: &str, value: String, reason: &str| {
        Err(AdaptError::Train(physfm_train::TrainError::Config {
            key: format!("coda.{key}"),
            value,
            reason: reason.into(),
        }))
    };
    if config.context_dim == 0 {
        return bad("context_dim", "0".into(), "must be at least 1");
    }
    for (k, v) in [
        ("lambda_xi", config.lambda_xi),
        ("lambda_w", config.lambda_w),
    ] {
        if !(v.is_finite() && v >= 0.0) {
            return bad(k, v.to_string(), "must be non-negative");
        }
    }
    Ok(())
}

/// Meta-trains CoDA on the training environments (one window set each), starting `theta_c`
/// from `model.net`: each step draws an environment, then a batch of its windows; the loss is
/// its one-step loss plus the regulariser. The log holds each environment's loss.
pub fn train_coda(
    model: &Stepper1d,
    config: &CodaConfig,
    environments: &[WindowDataset],
    train: &TrainConfig,
    device: &Device,
    options: &TrainOptions,
) -> Result<(Coda, TrainReport)> {
    check(config)?;
    crate::leads::check_environments("environments", environments)?;
    let frame = model.frame();
    let coda = Coda::new(model.net.clone(), environments.len(), config, device);
    let mut options = options.clone();
    if options.groups.is_empty() {
        options.groups = (0..environments.len()).map(|i| format!("env{i}")).collect();
    }
    let batch_loss = |m: &Coda, rng: &mut ChaCha8Rng| {
        let e = (rng.next_u64() % environments.len() as u64) as usize;
        let w = &environments[e];
        let batch = w.sample(train.batch_size, rng, device);
        let task = one_step(&m.environment(e), frame, batch, train.loss, w);
        let xi = m.contexts.val().square().sum();
        let l = task + xi * config.lambda_xi + m.w_norm() * config.lambda_w;
        Ok(GroupLoss { loss: l, group: e })
    };
    Ok(fit(coda, train, &options, batch_loss, None)?)
}

/// Adapts to a new environment by fitting only its context (started at zero, the mean of a
/// regularised prior); `theta_c`, `W` and the training contexts stay frozen (bit for bit).
pub fn adapt_coda(
    model: &Stepper1d,
    coda: Coda,
    config: &CodaConfig,
    windows: &WindowDataset,
    train: &TrainConfig,
    device: &Device,
    options: &TrainOptions,
) -> Result<(CodaAdapted, TrainReport)> {
    check(config)?;
    let frame = model.frame();
    let net = CodaAdapted {
        coda: coda.freeze(),
        context: Param::from_tensor(Tensor::zeros([1, config.context_dim], device)),
    };
    let batch_loss = |m: &CodaAdapted, rng: &mut ChaCha8Rng| {
        let batch = windows.sample(train.batch_size, rng, device);
        let net = m.coda.network(m.context.val());
        Ok(one_step(&net, frame, batch, train.loss, windows)
            + m.context.val().square().sum() * config.lambda_xi)
    };
    Ok(fit(net, train, options, batch_loss, None)?)
}
