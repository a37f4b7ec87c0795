//! The integration tests of `physfm-models`, in one test binary: each module was a binary of its own,
//! and every one of them linked burn and the rest of the workspace again (CI's build time and
//! disk space).

mod avit;
mod epd;
mod neuralop_import;
mod overfit;
mod presets;
mod surrogate;
mod unet;
