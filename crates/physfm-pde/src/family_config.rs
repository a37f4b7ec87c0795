//! A family chosen by name in a configuration file.

use serde::{Deserialize, Serialize};

use crate::{
    Advection1d, Burgers1d, Darcy2d, DiffusionReaction1d, DiffusionReaction2d, GrayScott2d, Kdv1d,
    KuramotoSivashinsky1d, LotkaVolterra, NavierStokes2d, PdeFamily, ShallowWater2d, Terms1d,
    Wave2d,
};

/// Every family, tagged by `kind` in TOML:
///
/// ```
/// use physfm_pde::{FamilyConfig, PdeFamily};
/// let cfg: FamilyConfig = toml::from_str("kind = \"gray_scott2d\"\nresolution = 16")?;
/// assert_eq!(cfg.family().name(), "gray_scott2d");
/// assert_eq!(cfg.family().solver_axes()[0].coords.len(), 16);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum FamilyConfig {
    Advection1d(Advection1d),
    Burgers1d(Burgers1d),
    DiffusionReaction1d(DiffusionReaction1d),
    KuramotoSivashinsky1d(KuramotoSivashinsky1d),
    Kdv1d(Kdv1d),
    Terms1d(Terms1d),
    NavierStokes2d(NavierStokes2d),
    GrayScott2d(GrayScott2d),
    DiffusionReaction2d(DiffusionReaction2d),
    ShallowWater2d(ShallowWater2d),
    Darcy2d(Darcy2d),
    Wave2d(Wave2d),
    LotkaVolterra(LotkaVolterra),
}

/// The `kind` names of every family.
pub const FAMILY_NAMES: [&str; 13] = [
    "advection1d",
    "burgers1d",
    "diffusion_reaction1d",
    "kuramoto_sivashinsky1d",
    "kdv1d",
    "terms1d",
    "navier_stokes2d",
    "gray_scott2d",
    "diffusion_reaction2d",
    "shallow_water2d",
    "darcy2d",
    "wave2d",
    "lotka_volterra",
];

impl FamilyConfig {
    /// The family.
    pub fn family(&self) -> &dyn PdeFamily {
        match self {
            Self::Advection1d(f) => f,
            Self::Burgers1d(f) => f,
            Self::DiffusionReaction1d(f) => f,
            Self::KuramotoSivashinsky1d(f) => f,
            Self::Kdv1d(f) => f,
            Self::Terms1d(f) => f,
            Self::NavierStokes2d(f) => f,
            Self::GrayScott2d(f) => f,
            Self::DiffusionReaction2d(f) => f,
            Self::ShallowWater2d(f) => f,
            Self::Darcy2d(f) => f,
            Self::Wave2d(f) => f,
            Self::LotkaVolterra(f) => f,
        }
    }

    /// The family with its default configuration, by `kind` name.
    pub fn default_for(kind: &str) -> Option<Self> {
        Some(match kind {
            "advection1d" => Self::Advection1d(Advection1d::default()),
            "burgers1d" => Self::Burgers1d(Burgers1d::default()),
            "diffusion_reaction1d" => Self::DiffusionReaction1d(DiffusionReaction1d::default()),
            "kuramoto_sivashinsky1d" => {
                Self::KuramotoSivashinsky1d(KuramotoSivashinsky1d::default())
            }
            "kdv1d" => Self::Kdv1d(Kdv1d::default()),
            "terms1d" => Self::Terms1d(Terms1d::default()),
            "navier_stokes2d" => Self::NavierStokes2d(NavierStokes2d::default()),
            "gray_scott2d" => Self::GrayScott2d(GrayScott2d::default()),
            "diffusion_reaction2d" => Self::DiffusionReaction2d(DiffusionReaction2d::default()),
            "shallow_water2d" => Self::ShallowWater2d(ShallowWater2d::default()),
            "darcy2d" => Self::Darcy2d(Darcy2d::default()),
            "wave2d" => Self::Wave2d(Wave2d::default()),
            "lotka_volterra" => Self::LotkaVolterra(LotkaVolterra::default()),
            _ => return None,
        })
    }

    /// Sets the grid size (points per axis) of the solver and the stored grid, keeping the
    /// ratio between them; a no-op for the ODE.
    pub fn set_resolution(&mut self, stored: usize) {
        fn scale(res: &mut usize, st: &mut usize, stored: usize) {
            let ratio = (*res / (*st).max(1)).max(1);
            *st = stored;
            *res = stored * ratio;
        }
        match self {
            Self::Advection1d(f) => scale(&mut f.resolution, &mut f.stored_resolution, stored),
            Self::Burgers1d(f) => scale(&mut f.resolution, &mut f.stored_resolution, stored),
            Self::DiffusionReaction1d(f) => {
                scale(&mut f.resolution, &mut f.stored_resolution, stored)
            }
            Self::KuramotoSivashinsky1d(f) => {
                scale(&mut f.resolution, &mut f.stored_resolution, stored)
            }
            Self::Kdv1d(f) => scale(&mut f.resolution, &mut f.stored_resolution, stored),
            Self::Terms1d(f) => scale(&mut f.resolution, &mut f.stored_resolution, stored),
            Self::NavierStokes2d(f) => scale(&mut f.resolution, &mut f.stored_resolution, stored),
            Self::GrayScott2d(f) => {
                // Keep the physical domain (and so the dynamics); refine the spacing.
                f.resolution = stored;
            }
            Self::DiffusionReaction2d(f) => f.resolution = stored,
            Self::ShallowWater2d(f) => f.resolution = stored,
            Self::Darcy2d(f) => f.resolution = stored,
            Self::Wave2d(f) => f.resolution = stored,
            Self::LotkaVolterra(_) => {}
        }
    }
}
