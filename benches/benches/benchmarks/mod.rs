pub(crate) mod data;
pub(crate) mod fno;
pub(crate) mod pde;
pub(crate) mod spectral;
