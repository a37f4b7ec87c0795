//! Named model configurations: the reference FNOs, the TFNO, PDEArena's U-Net, MPP's AViT
//! sizes and the 1D multi-physics Encode-Process-Decode model.

use crate::{AViTConfig, DatasetSpec, EpdConfig, Factorization, FnoConfig, InputNorm, UNetConfig};

/// A model configuration of any kind.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelPreset {
    /// A Fourier Neural Operator (also TFNO).
    Fno(FnoConfig),
    /// A U-Net.
    UNet(UNetConfig),
    /// An axial-attention ViT.
    AViT(AViTConfig),
    /// An Encode-Process-Decode model.
    Epd(EpdConfig),
}

/// The names [`preset`] knows, with one line on each.
pub const PRESETS: &[(&str, &str)] = &[
    (
        "fno1d",
        "neuraloperator's reference 1D FNO: modes 16, width 64, 4 layers, 1 -> 1 channel",
    ),
    (
        "fno2d",
        "neuraloperator's reference 2D FNO: modes 12x12, width 32, 4 layers, 1 -> 1 channel",
    ),
    (
        "fno3d",
        "3D FNO: modes 8x8x8, width 16, 4 layers, 1 -> 1 channel",
    ),
    (
        "tfno2d",
        "neuraloperator's TFNO defaults on the 2D reference: Tucker weights at rank 0.1",
    ),
    (
        "fno1d-pdebench",
        "PDEBench's 1D FNO baseline: modes 12, width 20, 10 input frames -> 1",
    ),
    (
        "unet1d",
        "PDEArena's modern U-Net layout in 1D, 1 -> 1 channel, conditioned on one scalar",
    ),
    (
        "unet2d",
        "PDEArena's Unetmod-64 layout in 2D, 2 -> 2 channels, conditioned on one scalar",
    ),
    (
        "avit-ti",
        "MPP's AViT-Ti: embedding 192, 3 heads, 12 blocks, 16x16 patches, 2D, 3 channels",
    ),
    (
        "avit-s",
        "MPP's AViT-S: embedding 384, 6 heads, 12 blocks, 16x16 patches, 2D, 3 channels",
    ),
    (
        "avit-b",
        "MPP's AViT-B: embedding 768, 12 heads, 12 blocks, 16x16 patches, 2D, 3 channels",
    ),
    (
        "epd1d-four-families",
        "the Encode-Process-Decode model of specs/pretrain_1d.toml: four 1-channel 1D datasets, \
         latent 128 points x 32 channels, FNO processor width 48, modes 32",
    ),
];

/// The configuration named `name` (see [`PRESETS`]), or `None`.
///
/// ```
/// use physfm_models::{ModelPreset, preset};
/// let Some(ModelPreset::Fno(cfg)) = preset("fno2d") else { panic!() };
/// assert_eq!((cfg.n_modes.clone(), cfg.width), (vec![12, 12], 32));
/// assert!(preset("fno9d").is_none());
/// ```
pub fn preset(name: &str) -> Option<ModelPreset> {
    let fno = |cin, cout, modes: &[usize], width| FnoConfig::new(cin, cout, modes, width);
    let avit = |embed, heads| {
        let mut c = AViTConfig::new(3, 3, 2);
        c.embed_dim = embed;
        c.heads = heads;
        c
    };
    let unet = |channels, dims| {
        let mut c = UNetConfig::new(channels, channels, dims);
        c.cond_dims = 1;
        c
    };
    Some(match name {
        "fno1d" => ModelPreset::Fno(fno(1, 1, &[16], 64)),
        "fno2d" => ModelPreset::Fno(fno(1, 1, &[12, 12], 32)),
        "fno3d" => ModelPreset::Fno(fno(1, 1, &[8, 8, 8], 16)),
        "tfno2d" => {
            let mut c = fno(1, 1, &[12, 12], 32);
            c.factorization = Factorization::Tucker;
            c.rank = 0.1;
            ModelPreset::Fno(c)
        }
        "fno1d-pdebench" => ModelPreset::Fno(fno(10, 1, &[12], 20)),
        "unet1d" => ModelPreset::UNet(unet(1, 1)),
        "unet2d" => ModelPreset::UNet(unet(2, 2)),
        "avit-ti" => ModelPreset::AViT(avit(192, 3)),
        "avit-s" => ModelPreset::AViT(avit(384, 6)),
        "avit-b" => ModelPreset::AViT(avit(768, 12)),
        "epd1d-four-families" => {
            let ds = |name: &str, params| DatasetSpec {
                name: name.into(),
                channels: 1,
                params,
                periodic: vec![true],
            };
            let mut c = EpdConfig::new(
                vec![
                    ds("physfm_advection1d", 1),
                    ds("physfm_diffusion_reaction1d", 2),
                    ds("physfm_kuramoto_sivashinsky1d", 1),
                    ds("physfm_kdv1d", 1),
                ],
                &[128],
                32,
                &[32],
                48,
            );
            c.input_norm = InputNorm::PerSample;
            ModelPreset::Epd(c)
        }
        _ => return None,
    })
}
