//! Import of neuraloperator (2.0) `FNO` checkpoints.
//!
//! [`import_neuralop_fno`] reads a state dict saved by `torch.save(model.state_dict(), f)` or
//! `model.save_checkpoint(...)` (its `*_state_dict.pt`), or a safetensors file, and builds the
//! [`Fno`] that computes the same function. The configuration comes from the `_metadata`
//! entry that neuraloperator's models keep in their state dict (their constructor
//! arguments), or is given. Dense and factorised (TFNO: Tucker or CP) spectral weights are
//! read. Options physfm's FNO does not implement (tensor-train weights, AdaIN or batch norm, a `tanh` stabiliser, preactivation, resolution scaling, no skip) are
//! refused by name, as is any tensor the model would not use, so a conversion either gives
//! the same outputs or fails.
//!
//! Weight layout: neuraloperator's `Conv1d(kernel_size=1)` weights `[out, in, 1]` become
//! [`ChannelLinear`](crate::ChannelLinear) weights `[out, in]`; complex spectral weights
//! `[in, out, m_1, .., m_d]` become real pairs `[in, out, m_1, .., m_d, 2]` (a safetensors file
//! holds them that way already: `torch.view_as_real`, under the same name).

use std::collections::BTreeSet;
use std::path::Path;

use burn::module::Param;
use burn::tensor::{Device, Tensor, TensorData};

use crate::fno::{Skip, SpectralLayer};
use crate::torch::{Checkpoint, PyValue};
use crate::{
    ChannelLinear, ChannelMlp, Factorization, Fno, FnoConfig, ModelError, NormKind, Result,
    SkipKind,
};

/// Reads a neuraloperator `FNO` checkpoint and converts it.
///
/// `config` overrides the configuration read from the checkpoint's `_metadata` (needed for
/// a safetensors file, which has none). Returns the configuration and the model.
pub fn import_neuralop_fno(
    path: &Path,
    config: Option<FnoConfig>,
    device: &Device,
) -> Result<(FnoConfig, Fno)> {
    let ckpt = Checkpoint::read(path)?;
    let config = match config {
        Some(c) => c,
        None => match ckpt.extras.get("_metadata") {
            Some(meta) => config_from_metadata(meta).map_err(|m| io(path, m))?,
            None => {
                return Err(io(
                    path,
                    "no `_metadata` entry with neuraloperator's constructor arguments; give the \
                     model's configuration (an FnoConfig) explicitly"
                        .into(),
                ));
            }
        },
    };
    config.validate("fno")?;
    let fno = convert(&ckpt, &config, device).map_err(|m| io(path, m))?;
    Ok((config, fno))
}

fn io(path: &Path, message: String) -> ModelError {
    ModelError::Io {
        path: path.to_path_buf(),
        message,
    }
}

/// physfm's [`FnoConfig`] for neuraloperator's `FNO` constructor arguments, refusing the ones
/// physfm does not implement.
pub fn config_from_metadata(meta: &PyValue) -> std::result::Result<FnoConfig, String> {
    let PyValue::Dict(items) = meta else {
        return Err(format!("`_metadata` is {}, not a dict", meta.describe()));
    };
    let mut cfg = FnoConfig::new(1, 1, &[1], 1);
    let mut seen = BTreeSet::new();
    let mut max_n_modes: Option<PyValue> = None;
    let unsupported = |key: &str, v: &PyValue| {
        format!(
            "neuraloperator option `{key}` = {} is not supported by physfm's FNO",
            v.describe()
        )
    };
    let int = |key: &str, v: &PyValue| match v {
        PyValue::Int(i) if *i >= 0 => Ok(*i as usize),
        _ => Err(format!(
            "`{key}` = {}: expected a non-negative integer",
            v.describe()
        )),
    };
    let num = |key: &str, v: &PyValue| match v {
        PyValue::Int(i) => Ok(*i as f64),
        PyValue::Float(f) => Ok(*f),
        _ => Err(format!("`{key}` = {}: expected a number", v.describe())),
    };
    let skip = |key: &str, v: &PyValue| match v {
        PyValue::Str(s) if s.eq_ignore_ascii_case("linear") => Ok(SkipKind::Linear),
        PyValue::Str(s) if s.eq_ignore_ascii_case("soft-gating") => Ok(SkipKind::SoftGating),
        PyValue::Str(s) if s.eq_ignore_ascii_case("identity") => Ok(SkipKind::Identity),
        _ => Err(unsupported(key, v)),
    };
    let mut use_mlp = true;
    for (k, v) in items {
        let PyValue::Str(key) = k else {
            return Err(format!("`_metadata` key {} is not a string", k.describe()));
        };
        seen.insert(key.as_str());
        match key.as_str() {
            "_name" => match v {
                PyValue::Str(s)
                    if [
                        "FNO", "FNO1d", "FNO2d", "FNO3d", "TFNO", "TFNO1d", "TFNO2d", "TFNO3d",
                    ]
                    .contains(&s.as_str()) => {}
                _ => {
                    return Err(format!(
                        "the checkpoint is a neuraloperator {} model, not an FNO",
                        v.describe()
                    ));
                }
            },
            "n_modes" => {
                cfg.n_modes = match v {
                    PyValue::Tuple(t) | PyValue::List(t) => {
                        t.iter()
                            .map(|x| int("n_modes", x))
                            .collect::<std::result::Result<_, _>>()?
                    }
                    PyValue::Int(_) => vec![int("n_modes", v)?],
                    _ => return Err(unsupported(key, v)),
                }
            }
            "in_channels" => cfg.in_channels = int(key, v)?,
            "out_channels" => cfg.out_channels = int(key, v)?,
            "hidden_channels" => cfg.width = int(key, v)?,
            "n_layers" => cfg.n_layers = int(key, v)?,
            "lifting_channel_ratio" => cfg.lifting_ratio = num(key, v)?,
            "projection_channel_ratio" => cfg.projection_ratio = num(key, v)?,
            "channel_mlp_expansion" => cfg.channel_mlp_expansion = num(key, v)?,
            "use_channel_mlp" => use_mlp = matches!(v, PyValue::Bool(true)),
            "positional_embedding" => match v {
                PyValue::Str(s) if s == "grid" => cfg.positional_embedding = true,
                PyValue::None => cfg.positional_embedding = false,
                _ => return Err(unsupported(key, v)),
            },
            "non_linearity" => match v {
                PyValue::Global(m, n)
                    if n == "gelu" && (m == "torch._C._nn" || m == "torch.nn.functional") => {}
                _ => return Err(unsupported(key, v)),
            },
            "norm" => {
                cfg.norm = match v {
                    PyValue::None => NormKind::None,
                    PyValue::Str(s) if s == "instance_norm" => NormKind::Instance,
                    PyValue::Str(s) if s == "group_norm" => NormKind::Group,
                    _ => return Err(unsupported(key, v)),
                }
            }
            "fno_skip" => cfg.fno_skip = skip(key, v)?,
            "channel_mlp_skip" => cfg.channel_mlp_skip = skip(key, v)?,
            "domain_padding" => {
                cfg.domain_padding = match v {
                    PyValue::None => 0.0,
                    PyValue::Int(_) | PyValue::Float(_) => num(key, v)?,
                    PyValue::Tuple(t) | PyValue::List(t) if !t.is_empty() => {
                        let first = num(key, &t[0])?;
                        for x in t {
                            if num(key, x)? != first {
                                return Err(format!(
                                    "`domain_padding` = {}: physfm pads every axis by the \
                                     same fraction",
                                    v.describe()
                                ));
                            }
                        }
                        first
                    }
                    _ => return Err(unsupported(key, v)),
                }
            }
            "domain_padding_mode" => match v {
                PyValue::Str(s) if s == "symmetric" => {}
                _ => return Err(unsupported(key, v)),
            },
            "complex_data" | "separable" | "preactivation" => {
                if matches!(v, PyValue::Bool(true)) {
                    return Err(unsupported(key, v));
                }
            }
            "fixed_rank_modes" => cfg.fixed_rank_modes = matches!(v, PyValue::Bool(true)),
            "rank" => cfg.rank = num(key, v)?,
            "resolution_scaling_factor" | "stabilizer" | "decomposition_kwargs" => {
                if !matches!(v, PyValue::None) {
                    return Err(unsupported(key, v));
                }
            }
            "factorization" => {
                cfg.factorization = match v {
                    PyValue::None => Factorization::Dense,
                    PyValue::Str(s) if s.eq_ignore_ascii_case("dense") => Factorization::Dense,
                    PyValue::Str(s) if s.eq_ignore_ascii_case("tucker") => Factorization::Tucker,
                    PyValue::Str(s) if s.eq_ignore_ascii_case("cp") => Factorization::Cp,
                    _ => return Err(unsupported(key, v)),
                }
            }
            "max_n_modes" => {
                if !matches!(v, PyValue::None) {
                    // Accepted only when it equals n_modes (checked after the loop).
                    max_n_modes = Some(v.clone());
                }
            }
            "conv_module" => match v {
                PyValue::Global(_, n) if n == "SpectralConv" => {}
                _ => return Err(unsupported(key, v)),
            },
            // Numerics or training-time only: the weights are the same. Dropout is off at
            // inference; physfm runs in f32 whatever `fno_block_precision` trained with;
            // `implementation` (factorised or reconstructed contraction) computes the same
            // product.
            "channel_mlp_dropout"
            | "fno_block_precision"
            | "implementation"
            | "_version"
            | "args"
            | "kwargs" => {}
            _ => {
                return Err(format!(
                    "`_metadata` has `{key}` = {}, an option this importer does not know",
                    v.describe()
                ));
            }
        }
    }
    for required in ["n_modes", "in_channels", "out_channels", "hidden_channels"] {
        if !seen.contains(required) {
            return Err(format!("`_metadata` lacks `{required}`"));
        }
    }
    if let Some(v) = max_n_modes {
        let same = match &v {
            PyValue::Tuple(t) | PyValue::List(t) => {
                t.len() == cfg.n_modes.len()
                    && t.iter()
                        .zip(&cfg.n_modes)
                        .all(|(a, b)| *a == PyValue::Int(*b as i64))
            }
            _ => false,
        };
        if !same {
            return Err(unsupported("max_n_modes", &v));
        }
    }
    if !use_mlp {
        cfg.channel_mlp_expansion = 0.0;
    }
    Ok(cfg)
}

/// Takes tensors out of a checkpoint by name, checking shapes and remembering what was used.
struct Source<'a> {
    ckpt: &'a Checkpoint,
    used: BTreeSet<&'a str>,
}

/// The shape without its axes of length one (a `Conv1d` weight `[o, i, 1]` against `[o, i]`).
fn squeezed(shape: &[usize]) -> Vec<usize> {
    shape.iter().copied().filter(|&d| d != 1).collect()
}

impl<'a> Source<'a> {
    fn real(&mut self, name: &str, shape: &[usize]) -> std::result::Result<Vec<f32>, String> {
        let (key, t) = self
            .ckpt
            .tensors
            .iter()
            .find(|(n, _)| n == name)
            .ok_or_else(|| format!("tensor `{name}` is missing"))?;
        if t.complex || squeezed(&t.shape) != squeezed(shape) {
            return Err(format!(
                "tensor `{name}`: {}{:?}, expected real {shape:?}",
                t.dtype, t.shape
            ));
        }
        self.used.insert(key.as_str());
        Ok(t.values.iter().map(|&v| v as f32).collect())
    }

    /// A complex weight as real pairs; `names` are the spellings to try.
    fn complex(
        &mut self,
        names: &[String],
        shape: &[usize],
    ) -> std::result::Result<Vec<f32>, String> {
        let (key, t) = self
            .ckpt
            .tensors
            .iter()
            .find(|(n, _)| names.contains(n))
            .ok_or_else(|| format!("tensor `{}` is missing", names[0]))?;
        let mut pairs = shape.to_vec();
        pairs.push(2);
        let ok = if t.complex {
            t.shape == shape
        } else {
            t.shape == pairs
        };
        if !ok {
            return Err(format!(
                "tensor `{key}`: {}{:?}, expected complex {shape:?} (or real {pairs:?})",
                t.dtype, t.shape
            ));
        }
        self.used.insert(key.as_str());
        Ok(t.values.iter().map(|&v| v as f32).collect())
    }
}

fn param<const D: usize>(values: Vec<f32>, shape: [usize; D], device: &Device) -> Param<Tensor<D>> {
    Param::from_tensor(Tensor::from_data(TensorData::new(values, shape), device))
}

fn linear(
    src: &mut Source<'_>,
    prefix: &str,
    layer: &mut ChannelLinear,
    device: &Device,
) -> std::result::Result<(), String> {
    let [o, i] = layer.weight.dims();
    layer.weight = param(
        src.real(&format!("{prefix}.weight"), &[o, i, 1])?,
        [o, i],
        device,
    );
    if layer.bias.is_some() {
        layer.bias = Some(param(
            src.real(&format!("{prefix}.bias"), &[o])?,
            [o],
            device,
        ));
    }
    Ok(())
}

fn mlp(
    src: &mut Source<'_>,
    prefix: &str,
    m: &mut ChannelMlp,
    device: &Device,
) -> std::result::Result<(), String> {
    linear(src, &format!("{prefix}.fcs.0"), &mut m.first, device)?;
    linear(src, &format!("{prefix}.fcs.1"), &mut m.second, device)
}

fn skip(
    src: &mut Source<'_>,
    prefix: &str,
    s: &mut Option<Skip>,
    device: &Device,
) -> std::result::Result<(), String> {
    match s {
        Some(Skip::Linear(l)) => linear(src, &format!("{prefix}.conv"), l, device),
        Some(Skip::SoftGating(g)) => {
            let [c] = g.weight.dims();
            g.weight = param(src.real(&format!("{prefix}.weight"), &[1, c])?, [c], device);
            Ok(())
        }
        None => Ok(()),
    }
}

fn convert(
    ckpt: &Checkpoint,
    config: &FnoConfig,
    device: &Device,
) -> std::result::Result<Fno, String> {
    let mut fno = config.init(device);
    let mut src = Source {
        ckpt,
        used: BTreeSet::new(),
    };
    mlp(&mut src, "lifting", &mut fno.lifting, device)?;
    mlp(&mut src, "projection", &mut fno.projection, device)?;
    for (i, block) in fno.blocks.iter_mut().enumerate() {
        let conv = format!("fno_blocks.convs.{i}");
        let names = [format!("{conv}.weight.tensor"), format!("{conv}.weight")];
        macro_rules! spectral {
            ($layer:expr, $wr:literal) => {{
                let wd = $layer.weight.dims();
                let shape = &wd[..$wr - 1];
                let w = src.complex(&names, shape)?;
                $layer.weight = param(w, wd, device);
                if $layer.bias.is_some() {
                    let o = wd[1];
                    $layer.bias =
                        Some(param(src.real(&format!("{conv}.bias"), &[o])?, [o], device));
                }
            }};
        }
        match &mut block.spectral {
            SpectralLayer::D1(l) => spectral!(l, 4),
            SpectralLayer::D2(l) => spectral!(l, 5),
            SpectralLayer::D3(l) => spectral!(l, 6),
            SpectralLayer::Factorized(l) => {
                let ranks = l.ranks();
                let shape = l.shape.clone();
                let w = format!("{conv}.weight");
                if l.core.is_some() {
                    let core = src.complex(&[format!("{w}.core")], &ranks)?;
                    l.core = Some(param(core, [ranks.iter().product(), 2], device));
                } else {
                    let r = ranks[0];
                    let weights = src.complex(&[format!("{w}.weights")], &[r])?;
                    l.cp_weights = Some(param(weights, [r, 2], device));
                }
                for (k, f) in l.factors.iter_mut().enumerate() {
                    let (n, r) = (shape[k], ranks[k]);
                    let v = src.complex(&[format!("{w}.factors.factor_{k}")], &[n, r])?;
                    *f = param(v, [n, r, 2], device);
                }
                let o = shape[1];
                l.bias = Some(param(src.real(&format!("{conv}.bias"), &[o])?, [o], device));
            }
        }
        skip(
            &mut src,
            &format!("fno_blocks.fno_skips.{i}"),
            &mut block.skip,
            device,
        )?;
        if let Some(m) = &mut block.mlp {
            mlp(&mut src, &format!("fno_blocks.channel_mlp.{i}"), m, device)?;
        }
        skip(
            &mut src,
            &format!("fno_blocks.channel_mlp_skips.{i}"),
            &mut block.mlp_skip,
            device,
        )?;
        for (j, norm) in [&mut block.norm_spectral, &mut block.norm_mlp]
            .into_iter()
            .enumerate()
        {
            if let Some(n) = norm
                && n.weight.is_some()
            {
                let c = config.width;
                let p = format!("fno_blocks.norm.{}", 2 * i + j);
                n.weight = Some(param(src.real(&format!("{p}.weight"), &[c])?, [c], device));
                n.bias = Some(param(src.real(&format!("{p}.bias"), &[c])?, [c], device));
            }
        }
    }
    let unused: Vec<&str> = ckpt
        .tensors
        .iter()
        .map(|(n, _)| n.as_str())
        .filter(|n| !src.used.contains(n))
        .collect();
    if !unused.is_empty() {
        return Err(format!(
            "{} tensor(s) this configuration does not use (the checkpoint has options physfm \
             does not implement, or the configuration differs): {}",
            unused.len(),
            unused.join(", ")
        ));
    }
    Ok(fno)
}
