//! CoDA (Kirchmeyer et al., ICML 2022): the network of environment `e` has the weights
//! `theta_c + W xi_e`, shared weights `theta_c` plus a linear hypernetwork `W` applied to a
//! small context vector `xi_e` per environment, so every environment's weights lie in a
//! `context_dim`-dimensional affine subspace. Meta-training fits `theta_c`, `W` and every
//! `xi_e` on the training environments; adapting to a new environment fits only its `xi`.
//!
//! As built here, `W` acts on every weight of the network (one `[context_dim, size]` block
//! per parameter, found by its path), and the regulariser is
//! `lambda_xi sum_e |xi_e|^2 + lambda_w |W|^2`, a plain L2 form of the paper's. Any
//! [`Surrogate`] meta-trains ([`train_coda`]) and adapts ([`adapt_coda`]); any burn module
//! with a loss of the caller's does so through [`train_coda_with`] and [`adapt_coda_with`].

use std::collections::HashMap;

use burn::module::{Module, ModuleDisplay, ModuleMapper, ModuleVisitor, Param};
use burn::tensor::{Device, Distribution, Tensor};
use physfm_models::{Surrogate, parameter_paths, under};
use physfm_train::{
    ChaCha8Rng, GroupLoss, TrainConfig, TrainOptions, TrainReport, WindowDataset, fit,
};
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::environment::environment_loss;
use crate::{Environment, Result};

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

impl Default for CodaConfig {
    /// The paper's context size with the regularisation of physfm's CoDA specs
    /// (`specs/coda_*.toml`): 2, 1e-4 and 1e-6.
    fn default() -> Self {
        Self {
            context_dim: 2,
            lambda_xi: 1e-4,
            lambda_w: 1e-6,
        }
    }
}

/// Shared weights, hypernetwork and the training environments' contexts, around any network
/// `M` (any [`Surrogate`], or another burn module).
#[derive(Module, Debug)]
pub struct Coda<M: Module> {
    /// `theta_c`.
    pub base: M,
    /// `W`, one `[context_dim, size]` block per parameter of `base` named in `paths`.
    pub hyper: Vec<Param<Tensor<2>>>,
    /// The path (burn's traversal) of the parameter of `base` each block of `hyper` acts on.
    #[module(skip)]
    pub paths: Vec<String>,
    /// `xi_e` of the training environments, `[environments, context_dim]`.
    pub contexts: Param<Tensor<2>>,
}

/// A new environment's context next to a frozen [`Coda`].
#[derive(Module, Debug)]
pub struct CodaAdapted<M: Module> {
    /// The meta-trained model, frozen (but for weights a new physics has just added).
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

struct Sizes(Vec<usize>);

impl ModuleVisitor for Sizes {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.0.push(param.shape().num_elements());
    }
}

/// Replaces every parameter that has a hypernetwork block (by path and size) by
/// `theta + (xi W_p)`, a tracked function of the leaves, so the specialised network's
/// gradients reach `theta_c`, `W` and `xi`; the others stay as they are.
struct Specialise<'a> {
    xi: Tensor<2>,
    blocks: HashMap<&'a str, &'a Param<Tensor<2>>>,
    stack: Vec<String>,
}

impl ModuleMapper for Specialise<'_> {
    fn enter_module(&mut self, name: &str, _container: &str) {
        self.stack.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container: &str) {
        self.stack.pop();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let path = self.stack.join(".");
        let Some(w) = self.blocks.get(path.as_str()) else {
            return param;
        };
        let base = param.val();
        if w.val().dims()[1] != base.shape().num_elements() {
            return param;
        }
        let delta = self.xi.clone().matmul(w.val()).reshape(base.shape());
        Param::initialized(param.id, base + delta)
    }
}

impl<M: Module> Coda<M> {
    /// A CoDA model around `base` for `environments` training environments: `W` small and
    /// random (from `device`'s generator), contexts zero.
    pub fn new(base: M, environments: usize, config: &CodaConfig, device: &Device) -> Self {
        let mut sizes = Sizes(Vec::new());
        base.visit(&mut sizes);
        let hyper = sizes
            .0
            .iter()
            .map(|&n| {
                Param::from_tensor(Tensor::random(
                    [config.context_dim, n],
                    Distribution::Normal(0.0, 1e-3),
                    device,
                ))
            })
            .collect();
        Self {
            paths: parameter_paths(&base),
            base,
            hyper,
            contexts: Param::from_tensor(Tensor::zeros([environments, config.context_dim], device)),
        }
    }

    /// The network of context `xi` (`[1, context_dim]`): weights `theta_c + W xi`.
    pub fn network(&self, xi: Tensor<2>) -> M {
        let blocks = self
            .paths
            .iter()
            .map(String::as_str)
            .zip(self.hyper.iter())
            .collect();
        self.base.clone().map(&mut Specialise {
            xi,
            blocks,
            stack: Vec::new(),
        })
    }

    /// The network of training environment `env`.
    pub fn environment(&self, env: usize) -> M {
        self.network(self.contexts.val().narrow(0, env, 1))
    }

    /// The same model with `base` replaced by `f(base)` (a new physics' heads added, say):
    /// the hypernetwork keeps its blocks of the parameters whose path and size `f` keeps,
    /// and drops those of paths under `fresh` (weights `f` has just initialised, which train
    /// directly).
    pub fn map_base<E>(
        self,
        f: impl FnOnce(M) -> std::result::Result<M, E>,
        fresh: &[String],
    ) -> std::result::Result<Self, E> {
        let Self {
            base,
            hyper,
            paths,
            contexts,
        } = self;
        let base = f(base)?;
        let (paths, hyper) = paths
            .into_iter()
            .zip(hyper)
            .filter(|(p, _)| !fresh.iter().any(|f| under(p, f)))
            .unzip();
        Ok(Self {
            base,
            hyper,
            paths,
            contexts,
        })
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
        total.unwrap_or_else(|| Tensor::zeros([1], &self.contexts.val().device()))
    }
}

pub(crate) fn check(config: &CodaConfig) -> Result<()> {
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

/// Meta-trains CoDA on the training environments, starting `theta_c` from `model`
/// (pretrained or fresh): each step draws an environment uniformly, then a batch of its
/// windows; the loss is `train`'s objective on that environment's network plus the
/// regulariser. The log holds each environment's loss.
pub fn train_coda<M: Surrogate>(
    model: M,
    config: &CodaConfig,
    environments: &[Environment<'_>],
    train: &TrainConfig,
    device: &Device,
    options: &TrainOptions,
) -> Result<(Coda<M>, TrainReport)> {
    crate::environment::check_environments("environments", environments, model.history())?;
    train_coda_with(
        model,
        environments.len(),
        config,
        train,
        device,
        options,
        |net: &M, e: usize, rng: &mut ChaCha8Rng| {
            environment_loss(net, &environments[e], train, rng, device)
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

/// Adapts to a new environment (the model's dataset `dataset`, windows `windows`) by
/// fitting only its context (started at zero, the mean of a regularised prior) on `train`'s
/// objective; `theta_c`, `W` and the training contexts stay frozen (bit for bit), except the
/// weights of `base` under `fresh` (a new physics' heads), which train too.
#[allow(clippy::too_many_arguments)]
pub fn adapt_coda<M: Surrogate>(
    coda: Coda<M>,
    config: &CodaConfig,
    windows: &WindowDataset,
    dataset: usize,
    fresh: &[String],
    train: &TrainConfig,
    device: &Device,
    options: &TrainOptions,
) -> Result<(CodaAdapted<M>, TrainReport)> {
    windows.check_history(coda.base.history())?;
    let env = Environment { windows, dataset };
    let fresh: Vec<String> = fresh.iter().map(|f| format!("coda.base.{f}")).collect();
    adapt_coda_with(
        coda,
        config,
        train,
        device,
        options,
        &fresh,
        |net: &M, rng: &mut ChaCha8Rng| environment_loss(net, &env, train, rng, device),
    )
}

/// CoDA's adaptation for any network: fits only a new context `xi` (started at zero) to
/// minimise `task(network(xi), rng)` plus `lambda_xi |xi|^2`; everything in `coda` stays
/// frozen (bit for bit) but the weights under `fresh` (paths in the [`CodaAdapted`], such as
/// `coda.base.heads.0`).
pub fn adapt_coda_with<M, F>(
    coda: Coda<M>,
    config: &CodaConfig,
    train: &TrainConfig,
    device: &Device,
    options: &TrainOptions,
    fresh: &[String],
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
        coda,
        context: Param::from_tensor(Tensor::zeros([1, config.context_dim], device)),
    };
    let trained: Vec<String> = std::iter::once("context".to_string())
        .chain(fresh.iter().cloned())
        .collect();
    let net = crate::strategy::freeze_outside(net, &trained);
    let batch_loss = |m: &CodaAdapted<M>, rng: &mut ChaCha8Rng| {
        Ok(task(&m.network(), rng) + m.context.val().square().sum() * config.lambda_xi)
    };
    Ok(fit(net, train, options, batch_loss, None)?)
}
