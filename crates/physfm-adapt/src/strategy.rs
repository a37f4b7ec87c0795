//! Adaptation strategies: what each trains, what it freezes, and its default budget.

use burn::module::{LoraAdapter, Module, ModuleVisitor, Param, Reparameterizer};
use burn::tensor::{Device, Distribution, Tensor};
use physfm_models::{Fno, FnoConfig};

use crate::{AdaptError, Result};

/// One way to adapt a pretrained network to new dynamics.
///
/// [`prepare`](Adaptation::prepare) turns the pretrained network into the one that is trained:
/// it attaches adapters or re-initialises weights, and freezes (no gradient, so the optimiser
/// never touches them) every weight the strategy does not train. After training,
/// [`finish`](Adaptation::finish) returns a plain network of the pretrained layout, so an
/// adapted model saves, loads and predicts like any other.
///
/// Parameter paths are those of burn's module traversal, e.g. `lifting.first.weight`,
/// `blocks.2.spectral.D1.weight`, `projection.second.bias`.
pub trait Adaptation: std::fmt::Debug + Send + Sync {
    /// Short name, as on the command line and in tables.
    fn name(&self) -> String;

    /// What it trains, in words.
    fn trains(&self) -> String;

    /// The network to train, from the pretrained `net` of configuration `config`.
    fn prepare(&self, net: Fno, config: &FnoConfig, device: &Device) -> Fno;

    /// The adapted network as a plain one (adapters merged into the weights).
    fn finish(&self, net: Fno) -> Fno {
        net.materialize()
    }

    /// Default peak learning rate of its optimiser.
    fn learning_rate(&self) -> f64;
}

/// Whether `path` lies under one of `prefixes` (a prefix matches whole path components).
fn under(path: &str, prefixes: &[String]) -> bool {
    prefixes.iter().any(|p| {
        path == p
            || path
                .strip_prefix(p.as_str())
                .is_some_and(|rest| rest.starts_with('.'))
    })
}

/// Freezes every float parameter whose path is not under `train`.
struct FreezeOutside<'a> {
    train: &'a [String],
}

impl Reparameterizer for FreezeOutside<'_> {
    type Reparam = LoraAdapter;

    fn reparameterize<const D: usize>(
        &mut self,
        path: &str,
        param: Param<Tensor<D>>,
    ) -> (Param<Tensor<D>>, Option<LoraAdapter>) {
        let keep = under(path, self.train);
        (param.set_require_grad(keep), None)
    }
}

/// Every weight trains: the usual fine-tuning baseline.
#[derive(Debug, Clone, Default)]
pub struct FullFineTune;

impl Adaptation for FullFineTune {
    fn name(&self) -> String {
        "full".into()
    }
    fn trains(&self) -> String {
        "every weight".into()
    }
    fn prepare(&self, net: Fno, _config: &FnoConfig, _device: &Device) -> Fno {
        net.unfreeze()
    }
    fn learning_rate(&self) -> f64 {
        1e-3
    }
}

/// Only the weights under some path prefixes train; the rest is frozen.
#[derive(Debug, Clone)]
pub struct PartialFineTune {
    /// Name in tables.
    pub label: String,
    /// Path prefixes of the trained weights.
    pub prefixes: Vec<String>,
}

impl PartialFineTune {
    /// The projection (decoder) head only.
    pub fn head() -> Self {
        Self {
            label: "head".into(),
            prefixes: vec!["projection".into()],
        }
    }

    /// The lifting (encoder) and projection (decoder) MLPs; the Fourier blocks stay frozen.
    pub fn encoder_decoder() -> Self {
        Self {
            label: "encoder-decoder".into(),
            prefixes: vec!["lifting".into(), "projection".into()],
        }
    }
}

impl Adaptation for PartialFineTune {
    fn name(&self) -> String {
        self.label.clone()
    }
    fn trains(&self) -> String {
        format!("weights under {}", self.prefixes.join(", "))
    }
    fn prepare(&self, net: Fno, _config: &FnoConfig, _device: &Device) -> Fno {
        net.apply_reparameterization(FreezeOutside {
            train: &self.prefixes,
        })
    }
    fn learning_rate(&self) -> f64 {
        1e-3
    }
}

/// LoRA: a trainable low-rank update `scale * (a @ b)` on every weight of rank 2 or more under
/// the prefixes (default: the Fourier blocks, i.e. the processor), with `scale = alpha / rank`;
/// everything else is frozen.
///
/// A pointwise weight `[out, in]` is updated as the matrix it is. A spectral weight
/// `[in, out, modes.., 2]` (complex values as real pairs) is updated as the matrix
/// `[in, out * modes * 2]`: rank `r` shares `r` input-channel patterns across every output
/// channel, mode and real/imaginary part. `b` starts at zero, so the prepared network computes
/// exactly what the pretrained one did.
#[derive(Debug, Clone)]
pub struct LoraStrategy {
    /// Rank of the update.
    pub rank: usize,
    /// Scale numerator (`scale = alpha / rank`).
    pub alpha: f64,
    /// Path prefixes of the adapted weights.
    pub prefixes: Vec<String>,
}

impl Default for LoraStrategy {
    fn default() -> Self {
        Self {
            rank: 4,
            alpha: 4.0,
            prefixes: vec!["blocks".into()],
        }
    }
}

/// Attaches a rank-`rank` LoRA adapter `(alpha / rank) a b` to every weight of rank 2 or
/// more of `module` whose path `select` accepts, and freezes every weight of `module`: only
/// the adapters train. A weight `[d0, d1, ..]` is updated as the matrix `[d0, d1 * ..]`; `a`
/// is drawn from the device's generator (normal, variance `1 / rank`), `b` starts at zero, so
/// the result computes exactly what `module` did. [`Module::materialize`] merges the adapters
/// back into plain weights.
///
/// ```
/// use burn::module::Module;
/// use burn::tensor::Device;
/// use physfm_adapt::{attach_lora, count_params};
/// use physfm_models::FnoConfig;
///
/// let device = Device::flex().autodiff();
/// let net = FnoConfig::new(1, 1, &[4], 8).init(&device);
/// let total = count_params(&net).total;
/// let lora = attach_lora(net, 2, 2.0, |path| path.starts_with("blocks"));
/// let counts = count_params(&lora);
/// assert!(counts.trainable > 0 && counts.total == total + counts.trainable);
/// assert_eq!(count_params(&lora.materialize()).total, total);
/// ```
pub fn attach_lora<M: Module>(
    module: M,
    rank: usize,
    alpha: f64,
    select: impl Fn(&str) -> bool,
) -> M {
    module.apply_reparameterization(LowRank {
        rank,
        alpha,
        select: &select,
    })
}

struct LowRank<'a> {
    rank: usize,
    alpha: f64,
    select: &'a dyn Fn(&str) -> bool,
}

impl Reparameterizer for LowRank<'_> {
    type Reparam = LoraAdapter;

    fn reparameterize<const D: usize>(
        &mut self,
        path: &str,
        param: Param<Tensor<D>>,
    ) -> (Param<Tensor<D>>, Option<LoraAdapter>) {
        let base = param.set_require_grad(false);
        if D < 2 || !(self.select)(path) {
            return (base, None);
        }
        let tensor = base.base();
        let dims = tensor.dims();
        let device = tensor.device();
        let d_in = dims[0];
        let d_out = dims[1..].iter().product::<usize>();
        let r = self.rank;
        let a = Tensor::<2>::random(
            [d_in, r],
            Distribution::Normal(0.0, 1.0 / r as f64),
            &device,
        );
        let b = Tensor::<2>::zeros([r, d_out], &device);
        let adapter = LoraAdapter {
            a: Param::from_tensor(a),
            b: Param::from_tensor(b),
            scale: self.alpha / r as f64,
        };
        (base, Some(adapter))
    }
}

impl Adaptation for LoraStrategy {
    fn name(&self) -> String {
        format!("lora-r{}", self.rank)
    }
    fn trains(&self) -> String {
        format!(
            "rank-{} updates of the weights under {}",
            self.rank,
            self.prefixes.join(", ")
        )
    }
    fn prepare(&self, net: Fno, _config: &FnoConfig, _device: &Device) -> Fno {
        attach_lora(net, self.rank, self.alpha, |path| {
            under(path, &self.prefixes)
        })
    }
    fn learning_rate(&self) -> f64 {
        3e-3
    }
}

/// The baseline without pretraining: the same architecture, freshly initialised, every weight
/// trained.
#[derive(Debug, Clone, Default)]
pub struct Scratch;

impl Adaptation for Scratch {
    fn name(&self) -> String {
        "scratch".into()
    }
    fn trains(&self) -> String {
        "every weight, from a fresh initialisation".into()
    }
    fn prepare(&self, _net: Fno, config: &FnoConfig, device: &Device) -> Fno {
        config.init(device)
    }
    fn learning_rate(&self) -> f64 {
        3e-3
    }
}

/// A strategy with another learning rate than its default.
#[derive(Debug)]
pub struct WithLearningRate {
    /// The strategy.
    pub inner: Box<dyn Adaptation>,
    /// Its peak learning rate.
    pub rate: f64,
}

impl Adaptation for WithLearningRate {
    fn name(&self) -> String {
        self.inner.name()
    }
    fn trains(&self) -> String {
        self.inner.trains()
    }
    fn prepare(&self, net: Fno, config: &FnoConfig, device: &Device) -> Fno {
        self.inner.prepare(net, config, device)
    }
    fn finish(&self, net: Fno) -> Fno {
        self.inner.finish(net)
    }
    fn learning_rate(&self) -> f64 {
        self.rate
    }
}

/// The strategies by command-line name: `full`, `head`, `encoder-decoder`, `lora` (rank 4)
/// or `lora-r<N>`, `scratch`.
pub fn strategy(name: &str) -> Result<Box<dyn Adaptation>> {
    Ok(match name {
        "full" => Box::new(FullFineTune),
        "head" => Box::new(PartialFineTune::head()),
        "encoder-decoder" => Box::new(PartialFineTune::encoder_decoder()),
        "lora" => Box::new(LoraStrategy::default()),
        "scratch" => Box::new(Scratch),
        other => match other.strip_prefix("lora-r").and_then(|r| r.parse().ok()) {
            Some(rank) if rank > 0 => Box::new(LoraStrategy {
                rank,
                alpha: rank as f64,
                ..LoraStrategy::default()
            }),
            _ => {
                return Err(AdaptError::UnknownStrategy {
                    name: name.into(),
                    known: STRATEGIES.join(", "),
                });
            }
        },
    })
}

/// Names [`strategy`] knows (besides `lora-r<N>`).
pub const STRATEGIES: [&str; 5] = ["full", "head", "encoder-decoder", "lora", "scratch"];

/// Trainable and total parameter counts of a (prepared) network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParamCount {
    /// Values that receive gradients.
    pub trainable: usize,
    /// All values, adapters included.
    pub total: usize,
}

struct Counter(ParamCount);

impl ModuleVisitor for Counter {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let t = param.base();
        let n = t.shape().num_elements();
        self.0.total += n;
        if t.is_require_grad() {
            self.0.trainable += n;
        }
    }
}

/// Counts the trainable and total parameters of `net`, adapters included.
pub fn count_params<M: Module>(net: &M) -> ParamCount {
    let mut c = Counter(ParamCount {
        trainable: 0,
        total: 0,
    });
    net.visit(&mut c);
    c.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_match_whole_components() {
        let p = vec!["blocks".to_string()];
        assert!(under("blocks.0.spectral.D1.weight", &p));
        assert!(under("blocks", &p));
        assert!(!under("blockstack.weight", &p));
        assert!(!under("projection.first.weight", &p));
    }

    #[test]
    fn unknown_strategies_are_named_with_the_known_ones() {
        let e = strategy("lorax").unwrap_err().to_string();
        assert!(e.contains("lorax") && e.contains("encoder-decoder"), "{e}");
        assert_eq!(strategy("lora-r8").unwrap().name(), "lora-r8");
        assert!(strategy("lora-r0").is_err());
    }
}
