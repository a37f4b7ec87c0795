//! # physfm-pde
//!
//! Parametric PDE families and their reference solvers: the data source of physfm.
//!
//! A family has named parameters with ranges ([`ParamRange`]), an initial-condition
//! distribution ([`SumOfSines`]) and a solver that returns a trajectory at requested save
//! times. Solvers check their inputs and report a blow-up as an error
//! ([`PdeError::BlowUp`]) instead of returning non-finite data.
//!
//! ```
//! use physfm_pde::{Burgers1dConfig, SumOfSines};
//! let family = Burgers1dConfig {
//!     resolution: 256,
//!     stored_resolution: 64,
//!     length: 1.0,
//!     t_end: 0.5,
//!     frames: 6,
//!     initial: SumOfSines::default(),
//! };
//! family.validate("data")?;
//! let traj = family.generate(0.05, 42)?; // viscosity 0.05, seed 42
//! assert_eq!(traj.values.len(), 6 * 64);
//! # Ok::<(), physfm_pde::PdeError>(())
//! ```

mod burgers;
mod error;
mod etdrk4;
mod families;
mod family;
mod family_config;
mod initial;
mod preset;
mod range;
mod seed;
mod spectral_grid;
mod stencil;

pub use burgers::{Burgers1dConfig, Trajectory1d};
pub use error::{PdeError, Result};
pub use families::darcy::Darcy2d;
pub use families::lotka_volterra::LotkaVolterra;
pub use families::navier_stokes::NavierStokes2d;
pub use families::reaction2d::{DiffusionReaction2d, GrayScott2d};
pub use families::shallow_water::ShallowWater2d;
pub use families::spectral1d::{
    Advection1d, Burgers1d, DiffusionReaction1d, Kdv1d, KuramotoSivashinsky1d, Terms1d, kdv_soliton,
};
pub use families::wave::Wave2d;
pub use family::{
    Axis, Boundary, ParamDomain, ParamSpec, PdeFamily, SteppedSolve, TimeSampling, Trajectory,
};
pub use family_config::{FAMILY_NAMES, FamilyConfig};
pub use initial::{GaussianRandomField, RandomSquares, SumOfSines};
pub use preset::{ParamSampling, PlannedTrajectory, Preset, Split};
pub use range::{ParamRange, Scale};
pub use seed::{GOLDEN, derive_seed, splitmix64};
pub use spectral_grid::PeriodicGrid1d;
