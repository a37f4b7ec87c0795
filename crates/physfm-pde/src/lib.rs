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
mod initial;
mod range;
mod spectral_grid;

pub use burgers::{Burgers1d, Burgers1dConfig, Trajectory1d};
pub use error::{PdeError, Result};
pub use initial::SumOfSines;
pub use range::{ParamRange, Scale};
pub use spectral_grid::PeriodicGrid1d;
