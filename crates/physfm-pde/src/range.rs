//! Parameter ranges and how values are drawn from them.

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::{PdeError, Result};

/// How a scalar parameter is distributed over its range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Scale {
    /// Uniform in the value.
    Linear,
    /// Uniform in the logarithm of the value (needs a positive range).
    #[default]
    Log,
}

/// A closed interval `[min, max]` of a scalar parameter with a sampling scale.
///
/// ```
/// use physfm_pde::{ParamRange, Scale};
/// let r = ParamRange { min: 0.01, max: 0.1, scale: Scale::Log };
/// r.validate("train.nu")?;
/// assert!(r.contains(0.05) && !r.contains(0.2));
/// # Ok::<(), physfm_pde::PdeError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParamRange {
    /// Lower bound (inclusive).
    pub min: f64,
    /// Upper bound (inclusive).
    pub max: f64,
    /// Sampling scale.
    #[serde(default)]
    pub scale: Scale,
}

impl ParamRange {
    /// Checks that the range is finite, non-empty and fits its scale; `key` names it in errors.
    pub fn validate(&self, key: &str) -> Result<()> {
        for (k, v) in [("min", self.min), ("max", self.max)] {
            if !v.is_finite() {
                return Err(PdeError::InvalidValue {
                    key: format!("{key}.{k}"),
                    value: v.to_string(),
                    reason: "must be finite".into(),
                });
            }
        }
        if self.min >= self.max {
            return Err(PdeError::InvalidValue {
                key: key.to_string(),
                value: format!("[{}, {}]", self.min, self.max),
                reason: "empty range: min must be smaller than max".into(),
            });
        }
        if self.scale == Scale::Log && self.min <= 0.0 {
            return Err(PdeError::InvalidValue {
                key: format!("{key}.min"),
                value: self.min.to_string(),
                reason: "a log-scaled range must be positive".into(),
            });
        }
        Ok(())
    }

    /// Whether `v` lies inside the closed range.
    pub fn contains(&self, v: f64) -> bool {
        v >= self.min && v <= self.max
    }

    /// Draws one value.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> f64 {
        let u: f64 = uniform01(rng);
        self.at(u)
    }

    /// The value at fraction `u` in `[0, 1]` of the range, on its scale.
    pub fn at(&self, u: f64) -> f64 {
        match self.scale {
            Scale::Linear => self.min + u * (self.max - self.min),
            Scale::Log => (self.min.ln() + u * (self.max.ln() - self.min.ln())).exp(),
        }
    }
}

/// A uniform draw in `[0, 1)` with 53 random bits.
pub(crate) fn uniform01<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_and_negative_ranges_are_rejected_with_their_key() {
        let r = ParamRange {
            min: 0.1,
            max: 0.1,
            scale: Scale::Linear,
        };
        let e = r.validate("train.nu").unwrap_err().to_string();
        assert!(e.contains("train.nu") && e.contains("empty"), "{e}");
        let r = ParamRange {
            min: -0.1,
            max: 0.1,
            scale: Scale::Log,
        };
        let e = r.validate("test.nu").unwrap_err().to_string();
        assert!(e.contains("test.nu.min"), "{e}");
    }

    #[test]
    fn log_scale_midpoint_is_geometric_mean() {
        let r = ParamRange {
            min: 0.01,
            max: 1.0,
            scale: Scale::Log,
        };
        assert!((r.at(0.5) - 0.1).abs() < 1e-12);
        let r = ParamRange {
            min: 0.0,
            max: 1.0,
            scale: Scale::Linear,
        };
        assert!((r.at(0.25) - 0.25).abs() < 1e-15);
    }
}
