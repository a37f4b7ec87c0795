//! What a training run does: optimiser, schedule, objective, loss, checkpoint and validation
//! cadence. Every key has a documented default except the three that size a run.

use serde::{Deserialize, Serialize};

use crate::{LossKind, Result, TrainError};

/// The learning-rate schedule after the linear warm-up.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Schedule {
    /// Cosine decay from the peak to `min_lr_ratio * learning_rate` at the last step.
    #[default]
    Cosine,
    /// Multiply the rate by `gamma` every `every` steps after the warm-up.
    Step {
        /// Steps between decays.
        every: usize,
        /// Factor per decay, in (0, 1].
        gamma: f64,
    },
    /// The peak rate throughout (after the warm-up).
    Constant,
}

/// What each optimiser step learns from.
///
/// All three sample a window of `horizon()` future frames after one input frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Objective {
    /// The loss of one step from true data.
    #[default]
    OneStep,
    /// Unroll `steps` steps with gradients through all of them; the loss is the mean of the
    /// per-step losses.
    Rollout {
        /// Steps unrolled.
        steps: usize,
    },
    /// The pushforward trick (Brandstetter et al. 2022): unroll `steps - 1` steps without
    /// gradients, then train the last step from the model's own prediction, so the model learns
    /// to correct the distribution shift of its rollouts at the cost of one step's gradient.
    Pushforward {
        /// Steps unrolled, including the trained one.
        steps: usize,
    },
}

impl Objective {
    /// Future frames each sample needs.
    pub fn horizon(self) -> usize {
        match self {
            Self::OneStep => 1,
            Self::Rollout { steps } | Self::Pushforward { steps } => steps,
        }
    }
}

/// Hyper-parameters of a training run.
///
/// ```
/// use physfm_train::{Objective, Schedule, TrainConfig};
/// let c: TrainConfig = toml::from_str(r#"
///     steps = 1000
///     batch_size = 16
///     learning_rate = 1e-3
///     loss = "rel-l2"
///     objective = { kind = "pushforward", steps = 3 }
///     schedule = { kind = "step", every = 250, gamma = 0.5 }
/// "#)?;
/// assert_eq!(c.objective, Objective::Pushforward { steps: 3 });
/// assert_eq!(c.learning_rate_at(600), 2.5e-4);
/// assert!(toml::from_str::<TrainConfig>("steps = 1\nbatch_size = 1\nlearning_rate = 1\nlr = 2").is_err());
/// # Ok::<(), toml::de::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Optimiser steps.
    pub steps: usize,
    /// Samples per batch.
    pub batch_size: usize,
    /// Peak learning rate (AdamW).
    pub learning_rate: f64,
    /// Decoupled weight decay. Default 1e-4.
    #[serde(default = "default_weight_decay")]
    pub weight_decay: f64,
    /// Linear warm-up steps before the schedule. Default 0.
    #[serde(default)]
    pub warmup_steps: usize,
    /// Schedule after the warm-up. Default cosine.
    #[serde(default)]
    pub schedule: Schedule,
    /// Final learning rate of the cosine schedule as a fraction of the peak. Default 0.01.
    #[serde(default = "default_min_lr_ratio")]
    pub min_lr_ratio: f64,
    /// Largest global gradient norm; larger gradients are rescaled. Default 1.
    #[serde(default = "default_clip")]
    pub grad_clip_norm: f64,
    /// The loss. Default MSE.
    #[serde(default)]
    pub loss: LossKind,
    /// One-step, rollout or pushforward training. Default one-step.
    #[serde(default)]
    pub objective: Objective,
    /// DPOT-style input noise: Gaussian noise of this many per-channel standard deviations is
    /// added to each input frame (targets stay clean). Default 0 (off).
    #[serde(default)]
    pub input_noise: f64,
    /// Seed of batch sampling and input noise.
    #[serde(default)]
    pub seed: u64,
    /// Steps between log lines. Default 25.
    #[serde(default = "default_log_every")]
    pub log_every: usize,
    /// Steps between checkpoints when the run has a checkpoint directory (0: only at the end).
    /// Default 0.
    #[serde(default)]
    pub checkpoint_every: usize,
    /// Steps between validations when the run has validation data (0: only at the end).
    /// Default 0.
    #[serde(default)]
    pub validate_every: usize,
    /// Early stopping: with validation data and a positive value, the run also validates
    /// before its first step, stops after this many validations in a row without
    /// improvement, and returns the weights of its best validation (which may be the
    /// initial ones). Needs `validate_every` > 0. Default 0 (off: the run takes every step
    /// and returns its last weights).
    #[serde(default)]
    pub patience: usize,
}

fn default_weight_decay() -> f64 {
    1e-4
}
fn default_min_lr_ratio() -> f64 {
    0.01
}
fn default_clip() -> f64 {
    1.0
}
fn default_log_every() -> usize {
    25
}

impl TrainConfig {
    /// A run of `steps` steps of `batch_size` samples at peak rate `learning_rate`, every other
    /// key at its default.
    pub fn new(steps: usize, batch_size: usize, learning_rate: f64) -> Self {
        Self {
            steps,
            batch_size,
            learning_rate,
            weight_decay: default_weight_decay(),
            warmup_steps: 0,
            schedule: Schedule::Cosine,
            min_lr_ratio: default_min_lr_ratio(),
            grad_clip_norm: default_clip(),
            loss: LossKind::Mse,
            objective: Objective::OneStep,
            input_noise: 0.0,
            seed: 0,
            log_every: default_log_every(),
            checkpoint_every: 0,
            validate_every: 0,
            patience: 0,
        }
    }

    /// Checks the configuration; errors name the key under `prefix`.
    pub fn validate(&self, prefix: &str) -> Result<()> {
        let bad = |key: &str, value: String, reason: &str| {
            Err(TrainError::Config {
                key: format!("{prefix}.{key}"),
                value,
                reason: reason.into(),
            })
        };
        if self.steps == 0 {
            return bad("steps", "0".into(), "must be at least 1");
        }
        if self.batch_size == 0 {
            return bad("batch_size", "0".into(), "must be at least 1");
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return bad(
                "learning_rate",
                self.learning_rate.to_string(),
                "must be positive",
            );
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return bad(
                "weight_decay",
                self.weight_decay.to_string(),
                "must be non-negative",
            );
        }
        if !(0.0..=1.0).contains(&self.min_lr_ratio) {
            return bad(
                "min_lr_ratio",
                self.min_lr_ratio.to_string(),
                "must lie in [0, 1]",
            );
        }
        if let Schedule::Step { every, gamma } = self.schedule {
            if every == 0 {
                return bad("schedule.every", "0".into(), "must be at least 1");
            }
            if !(gamma > 0.0 && gamma <= 1.0) {
                return bad("schedule.gamma", gamma.to_string(), "must lie in (0, 1]");
            }
        }
        if !(self.grad_clip_norm.is_finite() && self.grad_clip_norm > 0.0) {
            return bad(
                "grad_clip_norm",
                self.grad_clip_norm.to_string(),
                "must be positive",
            );
        }
        if self.objective.horizon() == 0 {
            return bad("objective.steps", "0".into(), "must be at least 1");
        }
        if !(self.input_noise.is_finite() && self.input_noise >= 0.0) {
            return bad(
                "input_noise",
                self.input_noise.to_string(),
                "must be non-negative",
            );
        }
        if self.log_every == 0 {
            return bad("log_every", "0".into(), "must be at least 1");
        }
        if self.patience > 0 && self.validate_every == 0 {
            return bad(
                "patience",
                self.patience.to_string(),
                "early stopping needs periodic validation: set validate_every too",
            );
        }
        Ok(())
    }

    /// Learning rate at `step` (0-based): linear warm-up, then the schedule.
    pub fn learning_rate_at(&self, step: usize) -> f64 {
        let peak = self.learning_rate;
        if step < self.warmup_steps {
            return peak * (step + 1) as f64 / self.warmup_steps as f64;
        }
        let after = step - self.warmup_steps;
        match self.schedule {
            Schedule::Constant => peak,
            Schedule::Step { every, gamma } => peak * gamma.powi((after / every) as i32),
            Schedule::Cosine => {
                let span = (self.steps - self.warmup_steps).max(1) as f64;
                let progress = (after as f64 / span).min(1.0);
                let floor = peak * self.min_lr_ratio;
                floor + 0.5 * (peak - floor) * (1.0 + (std::f64::consts::PI * progress).cos())
            }
        }
    }

    /// Whether step `step` (1-based count of steps done) ends a period of `every` (0: only the
    /// last step does).
    pub(crate) fn is_due(&self, done: usize, every: usize) -> bool {
        done == self.steps || (every > 0 && done.is_multiple_of(every))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_warms_up_then_decays_to_the_floor() {
        let c = TrainConfig {
            warmup_steps: 10,
            min_lr_ratio: 0.1,
            ..TrainConfig::new(100, 1, 1e-3)
        };
        assert!((c.learning_rate_at(0) - 1e-4).abs() < 1e-12);
        assert!((c.learning_rate_at(9) - 1e-3).abs() < 1e-12);
        assert!((c.learning_rate_at(10) - 1e-3).abs() < 1e-12);
        assert!((c.learning_rate_at(55) - 0.55e-3).abs() < 1e-12);
        assert!((c.learning_rate_at(100) - 1e-4).abs() < 1e-12);
        for s in 10..99 {
            assert!(c.learning_rate_at(s + 1) <= c.learning_rate_at(s));
        }
    }

    #[test]
    fn step_schedule_decays_in_stairs_after_the_warm_up() {
        let c = TrainConfig {
            warmup_steps: 4,
            schedule: Schedule::Step {
                every: 10,
                gamma: 0.5,
            },
            ..TrainConfig::new(100, 1, 1.0)
        };
        assert_eq!(c.learning_rate_at(1), 0.5);
        assert_eq!(c.learning_rate_at(4), 1.0);
        assert_eq!(c.learning_rate_at(13), 1.0);
        assert_eq!(c.learning_rate_at(14), 0.5);
        assert_eq!(c.learning_rate_at(34), 0.125);
        let constant = TrainConfig {
            schedule: Schedule::Constant,
            ..TrainConfig::new(100, 1, 0.3)
        };
        assert_eq!(constant.learning_rate_at(99), 0.3);
    }

    #[test]
    fn bad_config_names_the_key() {
        let c = TrainConfig::new(10, 0, 1e-3);
        let e = c.validate("train").unwrap_err().to_string();
        assert!(e.contains("train.batch_size"), "{e}");
        let c = TrainConfig {
            schedule: Schedule::Step {
                every: 5,
                gamma: 1.5,
            },
            ..TrainConfig::new(10, 1, 1e-3)
        };
        let e = c.validate("train").unwrap_err().to_string();
        assert!(e.contains("train.schedule.gamma"), "{e}");
        let c = TrainConfig {
            objective: Objective::Rollout { steps: 0 },
            ..TrainConfig::new(10, 1, 1e-3)
        };
        assert!(
            c.validate("t")
                .unwrap_err()
                .to_string()
                .contains("t.objective.steps")
        );
    }

    #[test]
    fn unknown_keys_are_refused_by_name() {
        let e = toml::from_str::<TrainConfig>(
            "steps = 1\nbatch_size = 1\nlearning_rate = 1.0\nobjective = { kind = \"rollout\", step = 2 }",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("step"), "{e}");
    }
}
