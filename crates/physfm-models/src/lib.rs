//! # physfm-models
//!
//! Neural surrogates of PDE dynamics, as burn modules. Tensors inside models are laid out
//! `[batch, channel, *space]`; each model documents its shapes.
//!
//! - [`Fno`]: the Fourier Neural Operator in 1D, 2D and 3D, in neuraloperator's form with its
//!   options ([`FnoConfig`]).
//! - [`Stepper1d`]: a one-step surrogate around it, with normalisation, parameter
//!   conditioning and residual prediction, saved as a model directory.
//! - [`UNet`]: PDEArena's modern U-Net in 1D and 2D, conditioned on scalars.
//! - [`AViT`]: MPP's axial-attention vision transformer on a history of frames.
//! - [`import_neuralop_fno`]: neuraloperator `FNO` checkpoints (`torch.save` state dicts or
//!   safetensors) converted to [`Fno`], read without Python by [`Checkpoint`].
//!
//! ```
//! use burn::tensor::{Device, Tensor};
//! use physfm_models::FnoConfig;
//! let device = Device::flex();
//! let fno = FnoConfig::new(1, 1, &[16], 32).init(&device);
//! let y = fno.forward(Tensor::<3>::zeros([2, 1, 100], &device));
//! assert_eq!(y.dims(), [2, 1, 100]);
//! ```

/// Builder-style setters `with_<field>(value)` on a configuration, each documented with the
/// field's default, in the manner of burn's `Config`.
macro_rules! setters {
    ($ty:ident { $($set:ident => $field:ident: $t:ty = $default:literal),* $(,)? }) => {
        impl $ty {
            $(
                #[doc = concat!(
                    "This configuration with `", stringify!($field), "` set to `value` (default: ",
                    $default, ")."
                )]
                #[must_use]
                pub fn $set(mut self, value: $t) -> Self {
                    self.$field = value;
                    self
                }
            )*
        }
    };
}

mod avit;
mod channel;
mod epd;
mod error;
mod factorized;
mod fno;
mod grid;
mod modeldir;
mod neuralop;
mod presets;
mod stepper;
mod surrogate;
pub mod torch;
mod unet;

pub use avit::{AVIT_KIND, AViT, AViTConfig, AxialAttention, RmsInstanceNorm, SpaceTimeBlock};
pub use channel::{ChannelLinear, ChannelMlp, SoftGating};
pub use epd::{
    DatasetHead, DatasetSpec, EPD_KIND, EncodeProcessDecode, EpdConfig, InputNorm, Processor,
    ProcessorConfig, resampling_matrix,
};
pub use error::{ModelError, Result};
pub use factorized::{Factorization, FactorizedSpectral, cp_rank, tucker_ranks};
pub use fno::{FNO_KIND, Fno, FnoBlock, FnoConfig, Norm, NormKind, Skip, SkipKind, SpectralLayer};
pub use modeldir::{
    CONFIG_FILE, SPEC_FILE, WEIGHTS_FILE, is_model_dir, model_kind, read_spec, write_spec,
};
pub use neuralop::{config_from_metadata, import_neuralop_fno};
pub use presets::{ModelPreset, PRESETS, preset};
pub use stepper::{FramedNet, Normalization, STEPPER_KIND, Stepper1d, StepperConfig, StepperFrame};
pub use surrogate::{
    AnySurrogate, Conditioning, Dynamics, Parts, Surrogate, advance, last_frame, load_surrogate,
    parameter_paths, rollout, under,
};
pub use torch::Checkpoint;
pub use unet::{CondEmbedding, DownLevel, ResBlock, UNET_KIND, UNet, UNetConfig, UpLevel};
