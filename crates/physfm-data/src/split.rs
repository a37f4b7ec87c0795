//! Reproducible train/test splits: by trajectory (seeded shuffle) or by parameter value
//! (interpolation: held-out boxes inside the training range; extrapolation: everything
//! outside it). A split is stored with its collection
//! ([`TrajectoryCollection::write_splits`](crate::TrajectoryCollection::write_splits)) so
//! that evaluation uses the trajectories training left out.

use std::collections::BTreeMap;
use std::path::Path;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::source::TrajectorySource;
use crate::{DataError, Result};

/// A closed interval `[lo, hi]` of one parameter.
pub type Interval = [f64; 2];

/// How trajectories are assigned to named sets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum SplitRule {
    /// Shuffle the trajectories with the seed and cut them into parts of the given fractions
    /// (normalised to sum to one), in the order listed.
    Random {
        /// `(set name, fraction)` pairs.
        parts: Vec<(String, f64)>,
    },
    /// Split by parameter values. A trajectory with a parameter outside its `train_range`
    /// goes to `test_extrap`; one inside every range and inside a `held_out` box goes to
    /// `test_interp`; the rest to `train`. A held-out box must lie strictly inside the
    /// training range (interpolation), and a single held-out value `v` is the box `[v, v]`.
    ByParameter {
        /// Training range per parameter (parameters not listed are unrestricted).
        train_range: BTreeMap<String, Interval>,
        /// Boxes held out for interpolation tests, each a range per named parameter.
        held_out: Vec<BTreeMap<String, Interval>>,
    },
}

/// Named sets of trajectory indices, with the rule and seed that made them.
///
/// ```
/// use physfm_data::{SplitRule, Splits};
/// let params: Vec<Vec<f64>> = (0..10).map(|i| vec![i as f64]).collect();
/// let rule = SplitRule::ByParameter {
///     train_range: [("nu".to_string(), [0.0, 7.0])].into(),
///     held_out: vec![[("nu".to_string(), [3.0, 4.0])].into()],
/// };
/// let s = Splits::from_params(rule, 0, &["nu".to_string()], &params)?;
/// assert_eq!(s.sets["train"], vec![0, 1, 2, 5, 6, 7]);
/// assert_eq!(s.sets["test_interp"], vec![3, 4]);
/// assert_eq!(s.sets["test_extrap"], vec![8, 9]);
/// # Ok::<(), physfm_data::DataError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Splits {
    /// The rule.
    pub rule: SplitRule,
    /// The seed of a random split (recorded for every rule).
    pub seed: u64,
    /// Set name to sorted trajectory indices.
    pub sets: BTreeMap<String, Vec<usize>>,
}

impl Splits {
    /// Applies `rule` to trajectories whose parameters (named `names`) are `params[i]`.
    pub fn from_params(
        rule: SplitRule,
        seed: u64,
        names: &[String],
        params: &[Vec<f64>],
    ) -> Result<Self> {
        let bad = |m: String| DataError::Config {
            what: "split".into(),
            message: m,
        };
        let n = params.len();
        let mut sets: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        match &rule {
            SplitRule::Random { parts } => {
                if parts.is_empty() {
                    return Err(bad("a random split needs at least one part".into()));
                }
                if parts.iter().any(|(_, f)| !(f.is_finite() && *f >= 0.0)) {
                    return Err(bad("fractions must be finite and non-negative".into()));
                }
                let total: f64 = parts.iter().map(|(_, f)| f).sum();
                if total <= 0.0 {
                    return Err(bad("fractions sum to zero".into()));
                }
                let mut order: Vec<usize> = (0..n).collect();
                order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
                let mut at = 0usize;
                let mut cum = 0.0;
                for (k, (name, f)) in parts.iter().enumerate() {
                    if sets.contains_key(name) {
                        return Err(bad(format!("set {name:?} is listed twice")));
                    }
                    cum += f / total;
                    let end = if k + 1 == parts.len() {
                        n
                    } else {
                        ((cum * n as f64).round() as usize).clamp(at, n)
                    };
                    let mut idx = order[at..end].to_vec();
                    idx.sort_unstable();
                    sets.insert(name.clone(), idx);
                    at = end;
                }
            }
            SplitRule::ByParameter {
                train_range,
                held_out,
            } => {
                let col = |name: &String| {
                    names.iter().position(|p| p == name).ok_or_else(|| {
                        bad(format!(
                            "unknown parameter {name:?} (the collection has {names:?})"
                        ))
                    })
                };
                let check = |iv: &Interval, name: &String| {
                    if !(iv[0].is_finite() && iv[1].is_finite() && iv[0] <= iv[1]) {
                        return Err(bad(format!("interval {iv:?} of {name:?} is not [lo, hi]")));
                    }
                    Ok(())
                };
                let ranges: Vec<(usize, Interval)> = train_range
                    .iter()
                    .map(|(name, iv)| {
                        check(iv, name)?;
                        Ok((col(name)?, *iv))
                    })
                    .collect::<Result<_>>()?;
                let mut boxes: Vec<Vec<(usize, Interval)>> = Vec::new();
                for b in held_out {
                    if b.is_empty() {
                        return Err(bad("a held-out box names no parameter".into()));
                    }
                    let mut cols = Vec::new();
                    for (name, iv) in b {
                        check(iv, name)?;
                        if let Some(tr) = train_range.get(name)
                            && !(iv[0] > tr[0] && iv[1] < tr[1])
                        {
                            return Err(bad(format!(
                                "held-out {name:?} {iv:?} is not strictly inside the training range {tr:?}: that is extrapolation, not interpolation"
                            )));
                        }
                        cols.push((col(name)?, *iv));
                    }
                    boxes.push(cols);
                }
                let inside = |v: f64, iv: &Interval| v >= iv[0] && v <= iv[1];
                for name in ["train", "test_interp", "test_extrap"] {
                    sets.insert(name.into(), Vec::new());
                }
                for (i, p) in params.iter().enumerate() {
                    if p.len() != names.len() {
                        return Err(bad(format!(
                            "trajectory {i} has {} parameters, expected {}",
                            p.len(),
                            names.len()
                        )));
                    }
                    let set = if ranges.iter().any(|(c, iv)| !inside(p[*c], iv)) {
                        "test_extrap"
                    } else if boxes
                        .iter()
                        .any(|b| b.iter().all(|(c, iv)| inside(p[*c], iv)))
                    {
                        "test_interp"
                    } else {
                        "train"
                    };
                    sets.get_mut(set).expect("inserted above").push(i);
                }
                if sets["train"].is_empty() {
                    return Err(bad(
                        "no trajectory falls in the training set: check the ranges".into(),
                    ));
                }
            }
        }
        Ok(Self { rule, seed, sets })
    }

    /// Applies `rule` to the trajectories of `source`, reading only their parameters.
    pub fn from_source(rule: SplitRule, seed: u64, source: &dyn TrajectorySource) -> Result<Self> {
        let params = (0..source.len())
            .map(|i| source.read_params(i))
            .collect::<Result<Vec<_>>>()?;
        Self::from_params(rule, seed, &source.meta().param_names, &params)
    }

    /// The indices of set `name`.
    pub fn set(&self, name: &str) -> Result<&[usize]> {
        self.sets
            .get(name)
            .map(Vec::as_slice)
            .ok_or_else(|| DataError::Config {
                what: format!("split set {name:?}"),
                message: format!(
                    "no such set (have {:?})",
                    self.sets.keys().collect::<Vec<_>>()
                ),
            })
    }

    /// Checks that every index is below `len` and that no trajectory is in two sets.
    pub fn check(&self, len: usize, path: &Path) -> Result<()> {
        let mut seen = vec![false; len];
        for (name, idx) in &self.sets {
            for &i in idx {
                if i >= len {
                    return Err(DataError::Metadata {
                        path: path.to_path_buf(),
                        message: format!(
                            "split set {name:?} names trajectory {i}, but there are {len}"
                        ),
                    });
                }
                if std::mem::replace(&mut seen[i], true) {
                    return Err(DataError::Metadata {
                        path: path.to_path_buf(),
                        message: format!("trajectory {i} is in two split sets (one is {name:?})"),
                    });
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn random_split_is_a_reproducible_partition(n in 0usize..300, a in 0.0f64..5.0, b in 0.01f64..5.0, seed in any::<u64>()) {
            let rule = SplitRule::Random { parts: vec![("train".into(), a), ("test".into(), b)] };
            let s = Splits::from_params(rule.clone(), seed, &[], &vec![vec![]; n]).unwrap();
            let mut all: Vec<usize> = s.sets.values().flatten().copied().collect();
            all.sort_unstable();
            prop_assert_eq!(all, (0..n).collect::<Vec<_>>());
            let expect = (a / (a + b) * n as f64).round() as usize;
            prop_assert_eq!(s.sets["train"].len(), expect);
            prop_assert_eq!(&Splits::from_params(rule, seed, &[], &vec![vec![]; n]).unwrap(), &s);
            s.check(n, Path::new("x")).unwrap();
        }
    }

    #[test]
    fn boxes_on_the_training_edge_are_refused() {
        let rule = SplitRule::ByParameter {
            train_range: [("nu".to_string(), [0.0, 1.0])].into(),
            held_out: vec![[("nu".to_string(), [0.0, 0.5])].into()],
        };
        let e = Splits::from_params(rule, 0, &["nu".into()], &[vec![0.2]]).unwrap_err();
        assert!(e.to_string().contains("not strictly inside"), "{e}");
        let rule = SplitRule::ByParameter {
            train_range: [("rho".to_string(), [0.0, 1.0])].into(),
            held_out: vec![],
        };
        let e = Splits::from_params(rule, 0, &["nu".into()], &[vec![0.2]]).unwrap_err();
        assert!(e.to_string().contains("unknown parameter \"rho\""), "{e}");
    }
}
