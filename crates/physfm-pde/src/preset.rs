//! Dataset presets: a family, its time sampling, and named splits that say which parameter
//! values each split draws, read from TOML files under `datasets/`.

use std::collections::BTreeMap;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::family::{ParamDomain, invalid};
use crate::{FamilyConfig, ParamRange, PdeError, Result, TimeSampling, splitmix64};

/// How one parameter is chosen within a split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ParamSampling {
    /// One value for every trajectory.
    Fixed(f64),
    /// A named choice (for [`ParamDomain::Choice`] parameters).
    Choice(String),
    /// A list of values: every combination of the listed parameters is one environment.
    Values {
        /// The values.
        values: Vec<f64>,
    },
    /// Drawn per trajectory from a range.
    Range(ParamRange),
}

/// One split: how many trajectories per environment, and the parameter sampling; or a
/// mixture of `parts`, each its own trajectories and sampling (one corpus of several regimes
/// of a family, e.g. its KdV and heat-equation corners, stored as one collection).
///
/// ```
/// use physfm_pde::Preset;
/// let p: Preset = toml::from_str(r#"
///     name = "corners"
///     description = "two corners of terms1d"
///     seed = 1
///     [family]
///     kind = "terms1d"
///     [time]
///     t_end = 0.1
///     frames = 2
///     [splits.train]
///     params.c = 0.0
///     [[splits.train.parts]]
///     trajectories = 2
///     params = { alpha = 0.0, gamma = 0.0 }
///     [[splits.train.parts]]
///     trajectories = 3
///     params = { beta = 0.0, gamma = { min = 0.01, max = 0.1, scale = "log" } }
/// "#)?;
/// let plan = p.plan("train")?;
/// assert_eq!(plan.len(), 5);
/// assert_eq!((plan[0].params[0], plan[4].params[1]), (0.0, 0.0));
/// assert_eq!((plan[1].environment, plan[2].environment), (0, 1));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Split {
    /// Trajectories per environment (per combination of listed values); 0, the default,
    /// with `parts`.
    #[serde(default)]
    pub trajectories: usize,
    /// Sampling per parameter name; parameters not named keep the family default (in a
    /// mixture: the sampling every part starts from).
    #[serde(default)]
    pub params: BTreeMap<String, ParamSampling>,
    /// The parts of a mixture, in storage order; their environments follow each other.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<Split>,
}

/// A dataset preset.
///
/// ```
/// use physfm_pde::Preset;
/// let p: Preset = toml::from_str(r#"
///     name = "demo"
///     description = "Burgers, two viscosities"
///     seed = 1
///     [family]
///     kind = "burgers1d"
///     resolution = 64
///     stored_resolution = 32
///     [time]
///     t_end = 0.1
///     frames = 3
///     [splits.train]
///     trajectories = 2
///     params.nu = { values = [0.01, 0.1] }
/// "#)?;
/// let plan = p.plan("train")?;
/// assert_eq!(plan.len(), 4); // 2 environments x 2 trajectories
/// assert_eq!(plan[3].params, vec![0.1]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Preset {
    /// Preset name (also the default output folder).
    pub name: String,
    /// What the preset reproduces.
    pub description: String,
    /// Where the setup comes from (paper, benchmark), if anywhere.
    #[serde(default)]
    pub reference: String,
    /// Master seed: every trajectory's seed derives from it, the split and the index.
    pub seed: u64,
    /// The family and its grid.
    pub family: FamilyConfig,
    /// Save times.
    pub time: TimeSampling,
    /// Named splits, e.g. `train`, `test_interp`, `test_extrap`.
    pub splits: BTreeMap<String, Split>,
}

/// One trajectory to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedTrajectory {
    /// Parameter values in the family's order.
    pub params: Vec<f64>,
    /// Seed of the initial condition and of irregular save times.
    pub seed: u64,
    /// Environment index (combination of listed values).
    pub environment: usize,
}

fn hash_str(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    })
}

impl Split {
    /// Sets the trajectories per environment: of every part of a mixture (so each regime
    /// keeps its share), else of the split.
    pub fn set_trajectories(&mut self, n: usize) {
        if self.parts.is_empty() {
            self.trajectories = n;
        } else {
            self.parts.iter_mut().for_each(|p| p.trajectories = n);
        }
    }
}

impl Preset {
    /// Reads and validates a preset file; errors name the file and the key.
    pub fn from_toml(text: &str, origin: &str) -> Result<Self> {
        let p: Preset = toml::from_str(text).map_err(|e| PdeError::InvalidValue {
            key: origin.into(),
            value: "preset".into(),
            reason: e.to_string(),
        })?;
        p.validate()?;
        Ok(p)
    }

    /// Checks the family, time sampling and every split.
    pub fn validate(&self) -> Result<()> {
        let family = self.family.family();
        family.validate()?;
        self.time.validate("time", family.steady())?;
        if self.splits.is_empty() {
            return Err(invalid("splits", "{}", "a preset needs at least one split"));
        }
        for name in self.splits.keys() {
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                return Err(invalid(
                    &format!("splits.{name}"),
                    name,
                    "split names use letters, digits, '_' and '-'",
                ));
            }
            self.plan(name)?;
        }
        Ok(())
    }

    /// The trajectories of split `name`, in storage order: environments in the order of the
    /// listed values (first parameter slowest), `trajectories` per environment.
    pub fn plan(&self, name: &str) -> Result<Vec<PlannedTrajectory>> {
        let split = self.splits.get(name).ok_or_else(|| {
            invalid(
                "split",
                name,
                &format!(
                    "not in this preset (splits: {})",
                    self.splits.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            )
        })?;
        let split_seed = splitmix64(self.seed ^ splitmix64(hash_str(name)));
        if split.parts.is_empty() {
            return self.plan_part(&format!("splits.{name}"), split, split_seed, 0, 0);
        }
        if split.trajectories != 0 {
            return Err(invalid(
                &format!("splits.{name}.trajectories"),
                split.trajectories,
                "a mixture sets the trajectories of each of its parts",
            ));
        }
        let mut out: Vec<PlannedTrajectory> = Vec::new();
        for (i, part) in split.parts.iter().enumerate() {
            let key = format!("splits.{name}.parts[{i}]");
            if !part.parts.is_empty() {
                return Err(invalid(
                    &format!("{key}.parts"),
                    "[..]",
                    "parts do not nest",
                ));
            }
            let mut merged = part.clone();
            for (k, v) in &split.params {
                merged.params.entry(k.clone()).or_insert_with(|| v.clone());
            }
            let environments = out.last().map_or(0, |t| t.environment + 1);
            let planned = self.plan_part(&key, &merged, split_seed, out.len(), environments)?;
            out.extend(planned);
        }
        Ok(out)
    }

    /// The trajectories of one split or part (named `key` in errors): seeds from
    /// `split_seed` and the storage index (from `first`), environments from `first_env`.
    fn plan_part(
        &self,
        key: &str,
        split: &Split,
        split_seed: u64,
        first: usize,
        first_env: usize,
    ) -> Result<Vec<PlannedTrajectory>> {
        let name = key;
        if split.trajectories == 0 {
            return Err(invalid(
                &format!("{name}.trajectories"),
                0,
                "must be at least 1",
            ));
        }
        let family = self.family.family();
        let spec = family.parameters();
        for key in split.params.keys() {
            if !spec.iter().any(|p| &p.name == key) {
                return Err(invalid(
                    &format!("{name}.params.{key}"),
                    key,
                    &format!(
                        "unknown parameter of {} (parameters: {})",
                        family.name(),
                        spec.iter()
                            .map(|p| p.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
        }
        // Resolve each parameter to a fixed value, a list, or a range.
        enum Resolved {
            Fixed(f64),
            List(Vec<f64>),
            Range(ParamRange),
        }
        let mut resolved = Vec::with_capacity(spec.len());
        for p in &spec {
            let key = format!("{name}.params.{}", p.name);
            let r = match split.params.get(&p.name) {
                None => Resolved::Fixed(p.default),
                Some(ParamSampling::Fixed(v)) => Resolved::Fixed(*v),
                Some(ParamSampling::Choice(c)) => match &p.domain {
                    ParamDomain::Choice(options) => match options.iter().position(|o| o == c) {
                        Some(i) => Resolved::Fixed(i as f64),
                        None => return Err(invalid(&key, c, &format!("not one of {options:?}"))),
                    },
                    ParamDomain::Range(_) => return Err(invalid(&key, c, "a number is expected")),
                },
                Some(ParamSampling::Values { values }) => {
                    if values.is_empty() {
                        return Err(invalid(&key, "[]", "at least one value is needed"));
                    }
                    Resolved::List(values.clone())
                }
                Some(ParamSampling::Range(r)) => {
                    r.validate(&key)?;
                    Resolved::Range(*r)
                }
            };
            let check = |v: f64| {
                if v.is_finite() {
                    Ok(())
                } else {
                    Err(invalid(&key, v, "must be finite"))
                }
            };
            match &r {
                Resolved::Fixed(v) => check(*v)?,
                Resolved::List(vs) => vs.iter().try_for_each(|v| check(*v))?,
                Resolved::Range(_) => {}
            }
            resolved.push(r);
        }
        let env_sizes: Vec<usize> = resolved
            .iter()
            .map(|r| {
                if let Resolved::List(v) = r {
                    v.len()
                } else {
                    1
                }
            })
            .collect();
        let environments: usize = env_sizes.iter().product();
        let mut out = Vec::with_capacity(environments * split.trajectories);
        for env in 0..environments {
            for k in 0..split.trajectories {
                let index = first + env * split.trajectories + k;
                let seed = splitmix64(split_seed.wrapping_add(index as u64));
                let mut rng = ChaCha8Rng::seed_from_u64(splitmix64(seed));
                let mut rem = env;
                let mut params = vec![0.0; spec.len()];
                for i in (0..spec.len()).rev() {
                    let pos = rem % env_sizes[i];
                    rem /= env_sizes[i];
                    params[i] = match &resolved[i] {
                        Resolved::Fixed(v) => *v,
                        Resolved::List(v) => v[pos],
                        Resolved::Range(_) => 0.0,
                    };
                }
                for (i, r) in resolved.iter().enumerate() {
                    if let Resolved::Range(r) = r {
                        params[i] = r.sample(&mut rng);
                    }
                }
                out.push(PlannedTrajectory {
                    params,
                    seed,
                    environment: first_env + env,
                });
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn preset(extra: &str) -> std::result::Result<Preset, PdeError> {
        Preset::from_toml(
            &format!(
                r#"
                name = "t"
                description = "test"
                seed = 7
                [family]
                kind = "lotka_volterra"
                [time]
                t_end = 1.0
                frames = 3
                {extra}
                "#
            ),
            "t.toml",
        )
    }

    #[test]
    fn environments_are_the_product_of_listed_values_and_seeds_differ() {
        let p = preset("[splits.train]\ntrajectories = 2\nparams.beta = { values = [0.5, 1.0] }\nparams.delta = { values = [0.5, 0.75, 1.0] }\nparams.alpha = { min = 0.4, max = 0.6, scale = \"linear\" }").unwrap();
        let plan = p.plan("train").unwrap();
        assert_eq!(plan.len(), 12);
        assert_eq!((plan[0].params[1], plan[0].params[3]), (0.5, 0.5));
        assert_eq!((plan[2].params[1], plan[2].params[3]), (0.5, 0.75));
        assert_eq!((plan[11].params[1], plan[11].params[3]), (1.0, 1.0));
        assert_eq!(plan[11].environment, 5);
        assert!(
            plan.iter()
                .all(|t| (0.4..=0.6).contains(&t.params[0]) && t.params[2] == 0.5)
        );
        let seeds: std::collections::BTreeSet<u64> = plan.iter().map(|t| t.seed).collect();
        assert_eq!(seeds.len(), 12);
        assert_eq!(plan, p.plan("train").unwrap());
    }

    #[test]
    fn mixture_parts_follow_each_other_and_errors_name_the_part() {
        let p = preset("[splits.train]\nparams.alpha = 0.5\n[[splits.train.parts]]\ntrajectories = 2\nparams.beta = { values = [0.5, 1.0] }\n[[splits.train.parts]]\ntrajectories = 3\nparams.alpha = 0.7").unwrap();
        let plan = p.plan("train").unwrap();
        assert_eq!(plan.len(), 7);
        let envs: Vec<usize> = plan.iter().map(|t| t.environment).collect();
        assert_eq!(envs, [0, 0, 1, 1, 2, 2, 2]);
        assert!(plan[..4].iter().all(|t| t.params[0] == 0.5));
        assert!(plan[4..].iter().all(|t| t.params[0] == 0.7));
        let seeds: std::collections::BTreeSet<u64> = plan.iter().map(|t| t.seed).collect();
        assert_eq!(seeds.len(), 7);
        let mut q = p.clone();
        q.splits.get_mut("train").unwrap().set_trajectories(4);
        assert_eq!(q.plan("train").unwrap().len(), 12);
        let e = preset("[splits.train]\n[[splits.train.parts]]\ntrajectories = 1\n[[splits.train.parts]]\ntrajectories = 1\nparams.nu = 1.0")
            .unwrap_err()
            .to_string();
        assert!(e.contains("splits.train.parts[1].params.nu"), "{e}");
        let e =
            preset("[splits.train]\ntrajectories = 2\n[[splits.train.parts]]\ntrajectories = 1")
                .unwrap_err()
                .to_string();
        assert!(
            e.contains("splits.train.trajectories") && e.contains("each of its parts"),
            "{e}"
        );
        let e = preset("[splits.train]\n[[splits.train.parts]]\ntrajectories = 0")
            .unwrap_err()
            .to_string();
        assert!(e.contains("splits.train.parts[0].trajectories"), "{e}");
    }

    #[test]
    fn unknown_parameters_splits_and_keys_are_named() {
        let e = preset("[splits.train]\ntrajectories = 1\nparams.nu = 0.1")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("splits.train.params.nu") && e.contains("alpha, beta, gamma, delta"),
            "{e}"
        );
        let e = preset("[splits.train]\ntrajectories = 1\ntrajectorys = 2")
            .unwrap_err()
            .to_string();
        assert!(e.contains("trajectorys"), "{e}");
        let p = preset("[splits.train]\ntrajectories = 1").unwrap();
        let e = p.plan("test").unwrap_err().to_string();
        assert!(e.contains("splits: train"), "{e}");
    }
}
