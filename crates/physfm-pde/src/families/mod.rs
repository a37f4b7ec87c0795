//! The PDE families.

// Index loops read as the formulas they implement in these numerical kernels.
#![allow(clippy::needless_range_loop)]

pub(crate) mod darcy;
pub(crate) mod lotka_volterra;
pub(crate) mod navier_stokes;
pub(crate) mod reaction2d;
pub(crate) mod shallow_water;
pub(crate) mod spectral1d;
pub(crate) mod wave;
