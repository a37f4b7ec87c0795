//! Adaptation strategies: one typed [`Strategy`] for the library and the command line, what
//! each trains and freezes on any [`Surrogate`] (by the model's [`Parts`]), and its default
//! learning rate.

use std::fmt;
use std::str::FromStr;

use burn::module::{LoraAdapter, Module, ModuleVisitor, Param, Reparameterizer};
use burn::tensor::{Device, Distribution, Tensor};
use physfm_models::{Surrogate, under};
use serde::{Deserialize, Serialize};

use crate::{AdaptError, Result};

/// One way to adapt a pretrained surrogate to new data: which of its weights train.
///
/// Roles come from the model's [`Parts`]: for an FNO stepper the encoder is the lifting MLP,
/// the processor the Fourier blocks and the decoder the projection MLP; for the
/// Encode-Process-Decode model the encoder and decoder are the datasets' heads and the
/// processor is the shared latent processor with its FiLM layers. Frozen weights receive no
/// gradient, so the optimiser leaves them bit for bit as they were.
///
/// Four strategies need a prior made by meta-training over environments
/// ([`meta_train`](crate::meta_train)): `coda`, `leads` and `reptile`; `in-context` takes
/// no gradient step on the model's own weights. The others adapt any pretrained model.
///
/// Names, as [`FromStr`] reads them and [`Display`](fmt::Display) writes them: `full`,
/// `head` (the decoder), `heads` (encoder and decoder; also `encoder-decoder`), `lora` (rank
/// 4) or `lora-r<N>`, `coda`, `leads`, `reptile` (also `fomaml`), `in-context` (also
/// `icl`), `scratch`.
///
/// ```
/// use physfm_adapt::Strategy;
/// let s: Strategy = "lora-r8".parse()?;
/// assert_eq!(s, Strategy::Lora { rank: 8 });
/// assert_eq!(s.to_string(), "lora-r8");
/// assert!("lorax".parse::<Strategy>().is_err());
/// # Ok::<(), physfm_adapt::AdaptError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// Every weight trains: the usual fine-tuning baseline.
    Full,
    /// Only the decoder trains ("head-only").
    Head,
    /// The encoder and the decoder train; the processor (the pretrained dynamics) is frozen.
    Heads,
    /// Low-rank updates `(rank / rank) a b` of the processor's weights of rank 2 or more
    /// train; everything else is frozen. A spectral weight `[in, out, modes.., 2]` is
    /// updated as the matrix `[in, out * modes * 2]`. `b` starts at zero, so the prepared
    /// model computes exactly what the pretrained one did.
    Lora {
        /// Rank of each update.
        rank: usize,
    },
    /// CoDA context adaptation: only a new context vector `xi` trains, which sets the
    /// weights `theta_c + W xi` through the hypernetwork `W` meta-trained over environments.
    Coda,
    /// LEADS: a new residual model `g` trains, added to the frozen shared model `f` that
    /// meta-training fitted over environments with a residual each.
    Leads,
    /// First-order meta-learning (Reptile, the first-order cousin of MAML): every weight
    /// trains, from the initialisation meta-learned over environments.
    Reptile,
    /// In-context adaptation: no weight of the model trains; each prediction is corrected
    /// by the nearest demonstration points of the new data (Chen et al., NeurIPS 2024).
    InContext,
    /// The same architecture, freshly initialised, every weight trained: the
    /// no-pretraining baseline.
    Scratch,
}

/// Every strategy's name (`lora` standing for `lora-r<N>`).
pub const STRATEGIES: [&str; 9] = [
    "full",
    "head",
    "heads",
    "lora",
    "coda",
    "leads",
    "reptile",
    "in-context",
    "scratch",
];

impl Strategy {
    /// What it trains, in words.
    pub fn trains(self) -> String {
        match self {
            Self::Full => "every weight".into(),
            Self::Head => "the decoder".into(),
            Self::Heads => "the encoder and the decoder".into(),
            Self::Lora { rank } => format!("rank-{rank} updates of the processor's weights"),
            Self::Coda => "a new context vector of the CoDA hypernetwork".into(),
            Self::Leads => "a new residual model beside the frozen shared one".into(),
            Self::Reptile => "every weight, from the meta-learned initialisation".into(),
            Self::InContext => "nothing: demonstrations correct each prediction".into(),
            Self::Scratch => "every weight, from a fresh initialisation".into(),
        }
    }

    /// Whether it adapts a prior made by meta-training with the same strategy
    /// ([`meta_train`](crate::meta_train)).
    pub fn meta_trained(self) -> bool {
        matches!(self, Self::Coda | Self::Leads | Self::Reptile)
    }

    /// Default peak learning rate of its optimiser.
    pub fn learning_rate(self) -> f64 {
        match self {
            Self::Full | Self::Head | Self::Heads | Self::Reptile | Self::InContext => 1e-3,
            Self::Lora { .. } | Self::Leads | Self::Scratch => 3e-3,
            Self::Coda => 1e-2,
        }
    }

    /// The model to train, from the pretrained `model`: adapters attached, weights
    /// re-initialised (scratch, from `device`'s generator) and every weight the strategy does
    /// not train frozen. Weights under `fresh` (path prefixes of parts the caller has just
    /// initialised, such as a new physics' encoder and decoder) always train.
    ///
    /// `reptile` prepares as `full`. `coda`, `leads` and `in-context` train weights that
    /// are not the model's own (a context, a residual model, none): they freeze every weight
    /// but those under `fresh`, and [`adapt`](crate::adapt) adds what trains.
    pub fn prepare<M: Surrogate>(self, model: M, fresh: &[String], device: &Device) -> M {
        let parts = model.parts();
        let trained = |roles: &[&Vec<String>]| -> Vec<String> {
            roles
                .iter()
                .flat_map(|r| r.iter().cloned())
                .chain(fresh.iter().cloned())
                .collect()
        };
        match self {
            Self::Full | Self::Reptile => model.unfreeze(),
            Self::Coda | Self::Leads | Self::InContext => freeze_outside(model, &trained(&[])),
            Self::Scratch => model.fresh(device).unfreeze(),
            Self::Head => freeze_outside(model, &trained(&[&parts.decoder])),
            Self::Heads => freeze_outside(model, &trained(&[&parts.encoder, &parts.decoder])),
            Self::Lora { rank } => {
                let keep = trained(&[]);
                model.apply_reparameterization(LowRank {
                    rank,
                    alpha: rank as f64,
                    select: &|path| within(path, &parts.processor),
                    keep: &|path| within(path, &keep),
                })
            }
        }
    }

    /// The adapted model as a plain one (adapters merged into the weights).
    pub fn finish<M: Surrogate>(self, model: M) -> M {
        model.materialize()
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full => f.write_str("full"),
            Self::Head => f.write_str("head"),
            Self::Heads => f.write_str("heads"),
            Self::Lora { rank } => write!(f, "lora-r{rank}"),
            Self::Coda => f.write_str("coda"),
            Self::Leads => f.write_str("leads"),
            Self::Reptile => f.write_str("reptile"),
            Self::InContext => f.write_str("in-context"),
            Self::Scratch => f.write_str("scratch"),
        }
    }
}

impl FromStr for Strategy {
    type Err = AdaptError;

    fn from_str(name: &str) -> Result<Self> {
        Ok(match name {
            "full" => Self::Full,
            "head" => Self::Head,
            "heads" | "encoder-decoder" => Self::Heads,
            "lora" => Self::Lora { rank: 4 },
            "coda" => Self::Coda,
            "leads" => Self::Leads,
            "reptile" | "fomaml" => Self::Reptile,
            "in-context" | "icl" => Self::InContext,
            "scratch" => Self::Scratch,
            other => match other.strip_prefix("lora-r").and_then(|r| r.parse().ok()) {
                Some(rank) if rank > 0 => Self::Lora { rank },
                _ => {
                    return Err(AdaptError::UnknownStrategy {
                        name: name.into(),
                        known: STRATEGIES.join(", "),
                    });
                }
            },
        })
    }
}

/// Whether `path` lies under one of `prefixes`.
fn within(path: &str, prefixes: &[String]) -> bool {
    prefixes.iter().any(|p| under(path, p))
}

/// Freezes every float parameter whose path is not under `train`, and lets those under it
/// train.
pub(crate) fn freeze_outside<M: Module>(model: M, train: &[String]) -> M {
    model.apply_reparameterization(FreezeOutside { train })
}

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
        let keep = within(path, self.train);
        (param.set_require_grad(keep), None)
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
        keep: &|_| false,
    })
}

/// LoRA adapters on the weights `select` accepts; every other weight is frozen unless `keep`
/// accepts it.
struct LowRank<'a> {
    rank: usize,
    alpha: f64,
    select: &'a dyn Fn(&str) -> bool,
    keep: &'a dyn Fn(&str) -> bool,
}

impl Reparameterizer for LowRank<'_> {
    type Reparam = LoraAdapter;

    fn reparameterize<const D: usize>(
        &mut self,
        path: &str,
        param: Param<Tensor<D>>,
    ) -> (Param<Tensor<D>>, Option<LoraAdapter>) {
        if D < 2 || !(self.select)(path) {
            let keep = (self.keep)(path);
            return (param.set_require_grad(keep), None);
        }
        let base = param.set_require_grad(false);
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
    fn names_round_trip_and_unknown_ones_are_named_with_the_known_ones() {
        for s in [
            Strategy::Full,
            Strategy::Head,
            Strategy::Heads,
            Strategy::Lora { rank: 8 },
            Strategy::Coda,
            Strategy::Leads,
            Strategy::Reptile,
            Strategy::InContext,
            Strategy::Scratch,
        ] {
            assert_eq!(s.to_string().parse::<Strategy>().unwrap(), s);
        }
        assert_eq!(
            "encoder-decoder".parse::<Strategy>().unwrap(),
            Strategy::Heads
        );
        assert_eq!("icl".parse::<Strategy>().unwrap(), Strategy::InContext);
        assert_eq!("fomaml".parse::<Strategy>().unwrap(), Strategy::Reptile);
        for name in STRATEGIES {
            assert_eq!(
                name.parse::<Strategy>()
                    .unwrap()
                    .to_string()
                    .split('-')
                    .next(),
                name.split('-').next()
            );
        }
        assert_eq!(
            "lora".parse::<Strategy>().unwrap(),
            Strategy::Lora { rank: 4 }
        );
        let e = "lorax".parse::<Strategy>().unwrap_err().to_string();
        assert!(e.contains("lorax") && e.contains("heads"), "{e}");
        assert!("lora-r0".parse::<Strategy>().is_err());
    }
}
