//! CoDA (Kirchmeyer et al., ICML 2022): the network of environment `e` has the weights
//! `theta_c + W xi_e`, shared weights `theta_c` plus a linear hypernetwork `W` applied to a
//! small context vector `xi_e` per environment, so every environment's weights lie in a
//! `context_dim`-dimensional affine subspace. Meta-training fits `theta_c`, `W` and every
//! `xi_e` on the training environments; adapting to a new environment fits only its `xi`.
//!
//! As built here, `W` acts on every weight of the network (one `[context_dim, size]` block
//! per parameter), and the regulariser is `lambda_xi sum_e |xi_e|^2 + lambda_w |W|^2`, a
//! plain L2 form of the paper's.

use burn::module::{Module, ModuleDisplay, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::tensor::{Device, Distribution, Tensor};
use physfm_models::{Fno, Stepper1d, StepperFrame};
use physfm_train::{
    ChaCha8Rng, GroupLoss, LossKind, Objective, TrainConfig, TrainOptions, TrainReport,
    WindowBatch, WindowDataset, fit, unroll_loss,
};
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::Result;

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

/// Shared weights, hypernetwork and the training environments' contexts, around any network
/// `M` (an [`Fno`] of any dimension, or another burn module).
#[derive(Module, Debug)]
pub struct Coda<M: Module> {
    /// `theta_c`.
    pub base: M,
    /// `W`, one `[context_dim, size]` block per parameter of `base`, in traversal order.
    pub hyper: Vec<Param<Tensor<2>>>,
    /// `xi_e` of the training environments, `[environments, context_dim]`.
    pub contexts: Param<Tensor<2>>,
}

/// A new environment's context next to a frozen [`Coda`].
#[derive(Module, Debug)]
pub struct CodaAdapted<M: Module> {
    /// The meta-trained model, frozen.
    pub coda: Coda<M>,
    /// `xi` of the new environment, `[1, context_dim]`.
    pub context: Param<Tensor<2>>,
}

impl<M: Module> CodaAdapted<M> {
    /// The adapted environment's network.
    pub fn network(&self) -> M {
        self.coda.network(self.context.val())
    }
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

impl<M: Module> Coda<M> {
    /// A CoDA model around `base` for `environments` training environments: `W` small and
    /// random, contexts zero.
    pub fn new(base: M, environments: usize, config: &CodaConfig, device: &Device) -> Self {
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
    pub fn network(&self, xi: Tensor<2>) -> M {
        self.base.clone().map(&mut Specialise {
            xi,
            hyper: self.hyper.iter(),
        })
    }

    /// The network of training environment `env`.
    pub fn environment(&self, env: usize) -> M {
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
    unroll_loss(
        &frame.with_net(|x| net.forward_points(x, &windows.spatial_shape)),
        batch,
        &windows.spatial_shape,
        0,
        Objective::OneStep,
        kind,
        &windows.geometry,
    )
}

fn check(config: &CodaConfig) -> Result<()> {
    let bad = |key: &str, value: String, reason: &str| {
        Err(crate::error::config_error(
            format!("coda.{key}"),
            value,
            reason,
        ))
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
) -> Result<(Coda<Fno>, TrainReport)> {
    crate::leads::check_environments("environments", environments, model.history())?;
    let frame = model.frame();
    train_coda_with(
        model.net.clone(),
        environments.len(),
        config,
        train,
        device,
        options,
        |net: &Fno, e: usize, rng: &mut ChaCha8Rng| {
            let w = &environments[e];
            let batch = w.sample(train.batch_size, rng, device);
            one_step(net, frame, batch, train.loss, w)
        },
    )
}

/// CoDA's meta-training for any network: each step draws a training environment `e`
/// uniformly, and minimises `task(network_e, e, rng)` (the caller draws the batch with `rng`)
/// plus the regulariser, over `theta_c` (started from `base`), `W` and every context. The log
/// holds each environment's loss (groups `env0`, `env1`, ... unless `options.groups` names
/// them).
pub fn train_coda_with<M, F>(
    base: M,
    environments: usize,
    config: &CodaConfig,
    train: &TrainConfig,
    device: &Device,
    options: &TrainOptions,
    task: F,
) -> Result<(Coda<M>, TrainReport)>
where
    M: Module + ModuleDisplay + Clone,
    F: Fn(&M, usize, &mut ChaCha8Rng) -> Tensor<1>,
{
    check(config)?;
    if environments == 0 {
        return Err(crate::error::config_error(
            "environments",
            "0",
            "CoDA needs at least one training environment",
        ));
    }
    let coda = Coda::new(base, environments, config, device);
    let mut options = options.clone();
    if options.groups.is_empty() {
        options.groups = (0..environments).map(|i| format!("env{i}")).collect();
    }
    let batch_loss = |m: &Coda<M>, rng: &mut ChaCha8Rng| {
        let e = (rng.next_u64() % environments as u64) as usize;
        let task = task(&m.environment(e), e, rng);
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
    coda: Coda<Fno>,
    config: &CodaConfig,
    windows: &WindowDataset,
    train: &TrainConfig,
    device: &Device,
    options: &TrainOptions,
) -> Result<(CodaAdapted<Fno>, TrainReport)> {
    windows.check_history(model.history())?;
    let frame = model.frame();
    adapt_coda_with(
        coda,
        config,
        train,
        device,
        options,
        |net: &Fno, rng: &mut ChaCha8Rng| {
            let batch = windows.sample(train.batch_size, rng, device);
            one_step(net, frame, batch, train.loss, windows)
        },
    )
}

/// CoDA's adaptation for any network: fits only a new context `xi` (started at zero) to
/// minimise `task(network(xi), rng)` plus `lambda_xi |xi|^2`; everything in `coda` stays
/// frozen (bit for bit).
pub fn adapt_coda_with<M, F>(
    coda: Coda<M>,
    config: &CodaConfig,
    train: &TrainConfig,
    device: &Device,
    options: &TrainOptions,
    task: F,
) -> Result<(CodaAdapted<M>, TrainReport)>
where
    M: Module + ModuleDisplay + Clone,
    F: Fn(&M, &mut ChaCha8Rng) -> Tensor<1>,
{
    check(config)?;
    let dim = coda.contexts.val().dims()[1];
    if dim != config.context_dim {
        return Err(crate::error::config_error(
            "coda.context_dim",
            config.context_dim.to_string(),
            format!("the meta-trained model's contexts have {dim} values"),
        ));
    }
    let net = CodaAdapted {
        coda: coda.freeze(),
        context: Param::from_tensor(Tensor::zeros([1, config.context_dim], device)),
    };
    let batch_loss = |m: &CodaAdapted<M>, rng: &mut ChaCha8Rng| {
        Ok(task(&m.network(), rng) + m.context.val().square().sum() * config.lambda_xi)
    };
    Ok(fit(net, train, options, batch_loss, None)?)
}
