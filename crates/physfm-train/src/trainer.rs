//! The one-step training loop.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use burn::grad_clipping::GradientClippingConfig;
use burn::optim::{AdamWConfig, GradientsParams};
use burn::tensor::Device;
use indicatif::{ProgressBar, ProgressStyle};
use physfm_models::Stepper1d;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::{PairDataset, Result, TrainError};

/// Hyper-parameters of a training run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Optimiser steps.
    pub steps: usize,
    /// Pairs per batch.
    pub batch_size: usize,
    /// Peak learning rate (AdamW).
    pub learning_rate: f64,
    /// Decoupled weight decay.
    #[serde(default = "default_weight_decay")]
    pub weight_decay: f64,
    /// Linear warm-up steps before the cosine decay.
    #[serde(default)]
    pub warmup_steps: usize,
    /// Final learning rate as a fraction of the peak.
    #[serde(default = "default_min_lr_ratio")]
    pub min_lr_ratio: f64,
    /// Largest gradient norm; larger gradients are rescaled.
    #[serde(default = "default_clip")]
    pub grad_clip_norm: f64,
    /// Seed of batch sampling.
    #[serde(default)]
    pub seed: u64,
    /// Steps between log lines.
    #[serde(default = "default_log_every")]
    pub log_every: usize,
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
        if !(self.grad_clip_norm.is_finite() && self.grad_clip_norm > 0.0) {
            return bad(
                "grad_clip_norm",
                self.grad_clip_norm.to_string(),
                "must be positive",
            );
        }
        if self.log_every == 0 {
            return bad("log_every", "0".into(), "must be at least 1");
        }
        Ok(())
    }

    /// Learning rate at `step` (0-based): linear warm-up, then cosine decay to
    /// `min_lr_ratio * learning_rate` at the last step.
    pub fn learning_rate_at(&self, step: usize) -> f64 {
        let peak = self.learning_rate;
        if step < self.warmup_steps {
            return peak * (step + 1) as f64 / self.warmup_steps as f64;
        }
        let span = (self.steps - self.warmup_steps).max(1) as f64;
        let progress = ((step - self.warmup_steps) as f64 / span).min(1.0);
        let floor = peak * self.min_lr_ratio;
        floor + 0.5 * (peak - floor) * (1.0 + (std::f64::consts::PI * progress).cos())
    }
}

/// Presentation of a run: progress bar and JSON-lines log.
#[derive(Debug, Clone, Default)]
pub struct TrainOptions {
    /// Show a progress bar on the terminal.
    pub progress: bool,
    /// Append one JSON object per logged step to this file.
    pub log_path: Option<PathBuf>,
}

/// What a run measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainReport {
    /// `(step, loss)` at each logged step (loss averaged since the previous log line).
    pub losses: Vec<(usize, f64)>,
    /// Loss of the first batch.
    pub initial_loss: f64,
    /// Mean loss over the last `log_every` steps.
    pub final_loss: f64,
    /// Wall time in seconds.
    pub seconds: f64,
    /// Optimiser steps per second.
    pub steps_per_second: f64,
}

/// Trains `model.net` on one-step pairs with the MSE of its normalised target, AdamW and a
/// warm-up + cosine schedule. `device` must be an autodiff device.
///
/// Stops with [`TrainError::NonFinite`] at the first NaN or infinite loss.
pub fn train_stepper(
    mut model: Stepper1d,
    data: &PairDataset,
    config: &TrainConfig,
    device: &Device,
    options: &TrainOptions,
) -> Result<(Stepper1d, TrainReport)> {
    config.validate("train")?;
    if data.is_empty() {
        return Err(TrainError::Config {
            key: "data".into(),
            value: "0 pairs".into(),
            reason: "nothing to train on".into(),
        });
    }
    let mut log = match &options.log_path {
        Some(p) => Some(std::io::BufWriter::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .map_err(|e| TrainError::Io {
                    path: p.clone(),
                    message: e.to_string(),
                })?,
        )),
        None => None,
    };
    let bar = if options.progress {
        ProgressBar::new(config.steps as u64)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix:>8} [{bar:30}] {pos}/{len} steps {per_sec} ETA {eta} {msg}",
        )
        .expect("static template")
        .progress_chars("=> "),
    );
    bar.set_prefix("train");

    let mut optim = AdamWConfig::new()
        .with_weight_decay(config.weight_decay as f32)
        .with_grad_clipping(Some(GradientClippingConfig::Norm(
            config.grad_clip_norm as f32,
        )))
        .init();
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let start = Instant::now();
    let mut report = TrainReport {
        losses: Vec::new(),
        initial_loss: f64::NAN,
        final_loss: f64::NAN,
        seconds: 0.0,
        steps_per_second: 0.0,
    };
    let (mut acc, mut acc_n) = (0.0, 0usize);
    let mut indices = vec![0usize; config.batch_size];
    for step in 0..config.steps {
        for i in indices.iter_mut() {
            *i = (rng.next_u64() % data.len() as u64) as usize;
        }
        let (x, y, p) = data.batch(&indices, device);
        let target = model.net_target(x.clone(), y);
        let out = model.net.forward(model.net_input(x, &p));
        let loss = (out - target).square().mean();
        let value: f64 = loss.clone().into_scalar::<f32>() as f64;
        if !value.is_finite() {
            bar.abandon_with_message(format!("loss {value} at step {step}"));
            return Err(TrainError::NonFinite { step, loss: value });
        }
        if step == 0 {
            report.initial_loss = value;
        }
        let grads = GradientsParams::from_grads(loss.backward(), &model.net);
        let lr = config.learning_rate_at(step);
        model.net = optim.step(lr, model.net, grads);
        acc += value;
        acc_n += 1;
        bar.inc(1);
        if (step + 1) % config.log_every == 0 || step + 1 == config.steps {
            let mean = acc / acc_n as f64;
            report.losses.push((step + 1, mean));
            report.final_loss = mean;
            bar.set_message(format!("loss {mean:.3e} lr {lr:.2e}"));
            if let Some(w) = log.as_mut() {
                let line = serde_json::json!({
                    "step": step + 1,
                    "loss": mean,
                    "lr": lr,
                    "elapsed_s": start.elapsed().as_secs_f64(),
                });
                let p = options.log_path.clone().unwrap_or_default();
                writeln!(w, "{line}")
                    .and_then(|_| w.flush())
                    .map_err(|e| TrainError::Io {
                        path: p,
                        message: e.to_string(),
                    })?;
            }
            acc = 0.0;
            acc_n = 0;
        }
    }
    bar.finish_and_clear();
    report.seconds = start.elapsed().as_secs_f64();
    report.steps_per_second = config.steps as f64 / report.seconds;
    Ok((model, report))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_warms_up_then_decays_to_the_floor() {
        let c = TrainConfig {
            steps: 100,
            batch_size: 1,
            learning_rate: 1e-3,
            weight_decay: 0.0,
            warmup_steps: 10,
            min_lr_ratio: 0.1,
            grad_clip_norm: 1.0,
            seed: 0,
            log_every: 10,
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
    fn bad_config_names_the_key() {
        let c = TrainConfig {
            steps: 10,
            batch_size: 0,
            learning_rate: 1e-3,
            weight_decay: 0.0,
            warmup_steps: 0,
            min_lr_ratio: 0.1,
            grad_clip_norm: 1.0,
            seed: 0,
            log_every: 10,
        };
        assert!(
            c.validate("train")
                .unwrap_err()
                .to_string()
                .contains("train.batch_size")
        );
    }
}
