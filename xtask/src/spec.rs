//! The quickstart experiment spec (`datasets/quickstart.toml`): serde structs that refuse
//! unknown keys, and validation that names the key at fault.

use anyhow::{Context, bail};
use physfm_models::FnoConfig;
use physfm_pde::{Burgers1dConfig, ParamRange};
use physfm_train::TrainConfig;
use serde::{Deserialize, Serialize};

/// The whole experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct QuickstartSpec {
    /// Master seed: data, initialisation and batches derive from it.
    pub(crate) seed: u64,
    /// Data generation.
    pub(crate) data: DataSpec,
    /// The network.
    pub(crate) model: ModelSpec,
    /// Training.
    pub(crate) train: TrainConfig,
}

/// The Burgers family and its splits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DataSpec {
    /// Solver and sampling of the family.
    pub(crate) family: Burgers1dConfig,
    /// Splits by viscosity.
    pub(crate) splits: Vec<SplitSpec>,
}

/// What a split is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Role {
    /// Training data.
    Train,
    /// Test data with parameters inside the training range.
    Interpolation,
    /// Test data with parameters outside the training range.
    Extrapolation,
}

/// One split: a viscosity range and a number of trajectories.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SplitSpec {
    /// Name, also the store's file name.
    pub(crate) name: String,
    /// Role.
    pub(crate) role: Role,
    /// Viscosity range.
    pub(crate) nu: ParamRange,
    /// Trajectories.
    pub(crate) trajectories: usize,
}

/// The network and how it predicts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ModelSpec {
    /// FNO hyper-parameters (channels are set from the data: 1 field + 1 parameter in).
    pub(crate) n_modes: usize,
    /// Hidden width.
    pub(crate) width: usize,
    /// Fourier blocks.
    pub(crate) n_layers: usize,
    /// Predict the increment.
    pub(crate) residual: bool,
}

impl ModelSpec {
    pub(crate) fn fno(&self) -> FnoConfig {
        let mut c = FnoConfig::new(2, 1, &[self.n_modes], self.width);
        c.n_layers = self.n_layers;
        c
    }
}

impl QuickstartSpec {
    /// Parses and validates a spec; errors name the file and the key.
    pub(crate) fn from_toml(text: &str, origin: &str) -> anyhow::Result<Self> {
        let spec: Self =
            toml::from_str(text).with_context(|| format!("{origin}: invalid quickstart spec"))?;
        spec.validate()
            .with_context(|| format!("{origin}: invalid quickstart spec"))?;
        Ok(spec)
    }

    pub(crate) fn validate(&self) -> anyhow::Result<()> {
        self.data.family.validate("data.family")?;
        self.model.fno().validate("model")?;
        self.train.validate("train")?;
        let kept = self.model.n_modes / 2 + 1;
        if kept > self.data.family.stored_resolution / 2 + 1 {
            bail!(
                "invalid value for `model.n_modes`: {} keeps {kept} modes, more than the {} a grid of {} points holds",
                self.model.n_modes,
                self.data.family.stored_resolution / 2 + 1,
                self.data.family.stored_resolution
            );
        }
        let mut names = std::collections::HashSet::new();
        let mut train = None;
        for (i, s) in self.data.splits.iter().enumerate() {
            let key = format!("data.splits[{i}]");
            if s.name.is_empty()
                || !s
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                bail!(
                    "invalid value for `{key}.name`: {:?} (use letters, digits, `_` and `-`)",
                    s.name
                );
            }
            if !names.insert(s.name.clone()) {
                bail!("invalid value for `{key}.name`: {:?} is used twice", s.name);
            }
            s.nu.validate(&format!("{key}.nu"))?;
            if s.trajectories == 0 {
                bail!("invalid value for `{key}.trajectories`: 0 (at least 1)");
            }
            if s.role == Role::Train {
                if train.is_some() {
                    bail!("invalid value for `{key}.role`: only one split may have role \"train\"");
                }
                train = Some(s.nu);
            }
        }
        let Some(train) = train else {
            bail!("invalid value for `data.splits`: no split has role \"train\"");
        };
        for (i, s) in self.data.splits.iter().enumerate() {
            let key = format!("data.splits[{i}].nu");
            match s.role {
                Role::Interpolation if s.nu.min < train.min || s.nu.max > train.max => {
                    bail!(
                        "invalid value for `{key}`: [{}, {}] must lie inside the training range [{}, {}] for an interpolation split",
                        s.nu.min,
                        s.nu.max,
                        train.min,
                        train.max
                    )
                }
                Role::Extrapolation if s.nu.max > train.min && s.nu.min < train.max => {
                    bail!(
                        "invalid value for `{key}`: [{}, {}] overlaps the training range [{}, {}] for an extrapolation split",
                        s.nu.min,
                        s.nu.max,
                        train.min,
                        train.max
                    )
                }
                _ => {}
            }
        }
        Ok(())
    }

    pub(crate) fn train_split(&self) -> &SplitSpec {
        self.data
            .splits
            .iter()
            .find(|s| s.role == Role::Train)
            .expect("validated: one train split")
    }
}

/// Reads the TOML spec at `path` into `T`, with its text (which runs copy into their
/// directory); a missing file or a bad key is reported with the file's name.
pub(crate) fn read_spec<T: serde::de::DeserializeOwned>(
    path: &std::path::Path,
) -> anyhow::Result<(T, String)> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let spec = toml::from_str(&text).with_context(|| format!("{}", path.display()))?;
    Ok((spec, text))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped() -> String {
        std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../datasets/quickstart.toml"
        ))
        .unwrap()
    }

    #[test]
    fn the_shipped_spec_is_valid() {
        let s = QuickstartSpec::from_toml(&shipped(), "quickstart.toml").unwrap();
        assert!(s.data.family.resolution >= 1024);
    }

    fn error_of(text: &str) -> String {
        format!(
            "{:#}",
            QuickstartSpec::from_toml(text, "x.toml").unwrap_err()
        )
    }

    #[test]
    fn unknown_key_is_named() {
        let e = error_of(&shipped().replace("batch_size", "batch_sise"));
        assert!(e.contains("batch_sise"), "{e}");
    }

    #[test]
    fn negative_viscosity_is_named() {
        let e = error_of(&shipped().replacen("min = 0.01", "min = -0.01", 1));
        assert!(e.contains("data.splits[0].nu.min"), "{e}");
    }

    #[test]
    fn empty_range_is_named() {
        let e = error_of(&shipped().replacen("max = 0.1,", "max = 0.01,", 1));
        assert!(
            e.contains("data.splits[0].nu") && e.contains("empty"),
            "{e}"
        );
    }

    #[test]
    fn misplaced_test_ranges_are_refused() {
        let e = error_of(&shipped().replace("max = 0.01,", "max = 0.05,"));
        assert!(e.contains("overlaps the training range"), "{e}");
    }
}
