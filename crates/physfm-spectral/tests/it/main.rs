//! The integration tests of `physfm-spectral`, in one test binary: each module was a binary of its own,
//! and every one of them linked burn and the rest of the workspace again (CI's build time and
//! disk space).

#[path = "../common/mod.rs"]
mod common;

mod channel_linear;
mod channel_mlp;
mod fno_block;
mod gelu;
mod gpu;
mod neuralop_parity;
mod spectral_conv;
