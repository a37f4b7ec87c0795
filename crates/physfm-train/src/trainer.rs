//! The training loop: a generic [`fit`] over any burn module and batch loss, with AdamW,
//! schedules, gradient clipping, a progress bar, a JSON-lines log, validation with the best
//! checkpoint kept, atomic checkpoints and exact resumption. Training of surrogates on windows
//! (`crate::unroll`) is built on it.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::grad_clipping::GradientClippingConfig;
use burn::module::Module;
use burn::optim::{AdamWConfig, GradientsParams};
use burn::tensor::Tensor;
use indicatif::{ProgressBar, ProgressStyle};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::checkpoint::write_atomic;
use crate::{Checkpoints, Result, TrainConfig, TrainError};

/// The loss of one batch and the group (dataset) it came from, for per-group logs.
#[derive(Debug, Clone)]
pub struct GroupLoss {
    /// The loss.
    pub loss: Tensor<1>,
    /// Index into [`TrainOptions::groups`].
    pub group: usize,
}

impl From<Tensor<1>> for GroupLoss {
    fn from(loss: Tensor<1>) -> Self {
        Self { loss, group: 0 }
    }
}

/// Presentation and persistence of a run.
#[derive(Debug, Clone, Default)]
pub struct TrainOptions {
    /// Names of the groups (datasets) batches come from; with more than one, each log line
    /// also holds `loss_<name>`, the mean loss of that group's batches in the period.
    pub groups: Vec<String>,
    /// Show a progress bar on the terminal.
    pub progress: bool,
    /// Append one JSON object per logged step (and per validation) to this file.
    pub log_path: Option<PathBuf>,
    /// Keep checkpoints here: `last` every `checkpoint_every` steps and at the end, `best` at
    /// each validation that improves on the previous best.
    pub checkpoint_dir: Option<PathBuf>,
    /// Continue from the `last` checkpoint in `checkpoint_dir` if there is one (a fresh start
    /// otherwise). The configuration must equal the checkpoint's.
    pub resume: bool,
}

/// What a run measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainReport {
    /// `(step, loss)` at each logged step (loss averaged since the previous log line).
    pub losses: Vec<(usize, f64)>,
    /// Loss of the first batch.
    pub initial_loss: f64,
    /// Mean loss over the last logging period.
    pub final_loss: f64,
    /// Wall time in seconds, summed over resumed segments.
    pub seconds: f64,
    /// Optimiser steps per second.
    pub steps_per_second: f64,
    /// `(step, validation loss)` at each validation.
    #[serde(default)]
    pub validation: Vec<(usize, f64)>,
    /// Step and value of the best validation loss.
    #[serde(default)]
    pub best: Option<(usize, f64)>,
    /// The step this run resumed from, if it did.
    #[serde(default)]
    pub resumed_from: Option<usize>,
    /// The step at which early stopping ended the run, if it did (see
    /// [`TrainConfig::patience`]); its weights are then those of [`best`](Self::best).
    #[serde(default)]
    pub stopped_at: Option<usize>,
    /// Per group (with several groups): `(step, mean loss)` at each logged step that had
    /// batches of it.
    #[serde(default)]
    pub group_losses: std::collections::BTreeMap<String, Vec<(usize, f64)>>,
}

impl TrainReport {
    /// The report of a run of no step.
    pub fn empty() -> Self {
        Self::new()
    }

    fn new() -> Self {
        Self {
            losses: Vec::new(),
            initial_loss: f64::NAN,
            final_loss: f64::NAN,
            seconds: 0.0,
            steps_per_second: 0.0,
            validation: Vec::new(),
            best: None,
            resumed_from: None,
            stopped_at: None,
            group_losses: Default::default(),
        }
    }
}

/// A [`ChaCha8Rng`]'s exact state as plain data (seed, stream, position), so that a resumed
/// run draws what an uninterrupted one would have drawn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RngState {
    seed: Vec<u8>,
    stream: u64,
    word_pos: String,
}

impl RngState {
    /// The state of `rng`.
    pub fn of(rng: &ChaCha8Rng) -> Self {
        Self {
            seed: rng.get_seed().to_vec(),
            stream: rng.get_stream(),
            word_pos: rng.get_word_pos().to_string(),
        }
    }

    /// The generator in this state; `path` (the file it was read from) names a bad state.
    pub fn restore(&self, path: &Path) -> Result<ChaCha8Rng> {
        let bad = |what: &str| TrainError::Io {
            path: path.to_path_buf(),
            message: format!("bad generator state: {what}"),
        };
        let seed: [u8; 32] = self.seed.clone().try_into().map_err(|_| bad("seed"))?;
        let mut rng = ChaCha8Rng::from_seed(seed);
        rng.set_stream(self.stream);
        rng.set_word_pos(self.word_pos.parse().map_err(|_| bad("word_pos"))?);
        Ok(rng)
    }
}

/// Everything besides the weights and the optimiser that a resumed run needs (`state.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RunState {
    /// Steps done.
    step: usize,
    config: TrainConfig,
    rng: RngState,
    /// Loss sum and count since the last log line.
    acc: f64,
    acc_n: usize,
    /// Per-group loss sums and counts since the last log line.
    #[serde(default)]
    group_acc: Vec<(f64, usize)>,
    report: TrainReport,
}

const WEIGHTS: &str = "weights.bpk";
const OPTIMIZER: &str = "optimizer.bpk";
const STATE: &str = "state.json";

fn io(path: &Path) -> impl Fn(std::io::Error) -> TrainError + '_ {
    crate::error::file_error(path)
}

fn record_err(path: &Path) -> impl Fn(burn::store::RecordError) -> TrainError + '_ {
    crate::error::file_error(path)
}

/// Keeps the lines of a JSON-lines log whose `step` is at most `step` (the rest were written
/// after the checkpoint a run resumes from).
fn truncate_log(path: &Path, step: usize) -> Result<()> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io(path)(e)),
    };
    let mut kept = String::new();
    for line in std::io::BufReader::new(file).lines() {
        let line = line.map_err(io(path))?;
        let at = serde_json::from_str::<serde_json::Value>(&line)
            .ok()
            .and_then(|v| v.get("step").and_then(|s| s.as_u64()));
        // A torn last line (killed mid-write) has no step and is dropped.
        if at.is_some_and(|s| s as usize <= step) {
            kept.push_str(&line);
            kept.push('\n');
        }
    }
    write_atomic(path, kept.as_bytes())
}

/// The JSON-lines log of a run.
struct Log {
    path: PathBuf,
    file: std::io::BufWriter<std::fs::File>,
}

impl Log {
    fn open(path: &Path) -> Result<Self> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(io(path))?;
        Ok(Self {
            path: path.to_path_buf(),
            file: std::io::BufWriter::new(file),
        })
    }

    fn write(&mut self, line: serde_json::Value) -> Result<()> {
        writeln!(self.file, "{line}")
            .and_then(|_| self.file.flush())
            .map_err(io(&self.path))
    }
}

/// A validation function for [`fit`]: the loss of the current module (lower is better).
pub type Validate<'a, M> = &'a mut dyn FnMut(&M) -> Result<f64>;

/// Fits `module` by AdamW on the losses `batch_loss` returns, one optimiser step per call.
///
/// `batch_loss` receives the current module and the run's generator (for batch sampling and
/// noise): drawing everything random from it is what makes a resumed run equal to an
/// uninterrupted one. `validate`, if given, runs every `config.validate_every` steps and at
/// the end; lower is better. With `config.patience` > 0 it also runs before the first step,
/// the run stops after `patience` validations in a row without improvement, and the module
/// returned is the best validated one (early stopping). `module` must live on an autodiff
/// device.
///
/// With `options.checkpoint_dir`, the `last` checkpoint (weights, optimiser state, generator,
/// loss accumulator and report) is published atomically every `config.checkpoint_every`
/// steps and at the end, and `best` (weights and its validation loss) whenever validation
/// improves. With `options.resume`, the run continues from `last`: on the CPU backend the
/// remaining steps, log and final weights are those of an uninterrupted run.
///
/// A NaN or infinite loss stops the run with [`TrainError::NonFinite`], which names the last
/// good checkpoint; nothing is written for the failed step.
pub fn fit<M, F, L>(
    module: M,
    config: &TrainConfig,
    options: &TrainOptions,
    mut batch_loss: F,
    mut validate: Option<Validate<'_, M>>,
) -> Result<(M, TrainReport)>
where
    M: Module + Clone,
    F: FnMut(&M, &mut ChaCha8Rng) -> Result<L>,
    L: Into<GroupLoss>,
{
    config.validate("train")?;
    let mut module = module;
    let mut optim = AdamWConfig::new()
        .with_weight_decay(config.weight_decay as f32)
        .with_grad_clipping(Some(GradientClippingConfig::Norm(
            config.grad_clip_norm as f32,
        )))
        .init();
    let checkpoints = options.checkpoint_dir.as_ref().map(Checkpoints::new);
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let mut state = RunState {
        step: 0,
        config: config.clone(),
        rng: RngState::of(&rng),
        acc: 0.0,
        acc_n: 0,
        group_acc: vec![(0.0, 0); options.groups.len()],
        report: TrainReport::new(),
    };
    let mut last_good: Option<(PathBuf, usize)> = None;
    if let Some(ck) = &checkpoints {
        if options.resume {
            if let Some((dir, _)) = ck.current("last")? {
                let path = dir.join(STATE);
                let text = std::fs::read_to_string(&path).map_err(io(&path))?;
                let saved: RunState = serde_json::from_str(&text).map_err(|e| TrainError::Io {
                    path: path.clone(),
                    message: format!("not a run state: {e}"),
                })?;
                if saved.config != *config {
                    return Err(TrainError::Config {
                        key: "train".into(),
                        value: format!("{}", path.display()),
                        reason: format!(
                            "the checkpoint was made with a different training configuration \
                             ({}); resume with the same one or start a new run",
                            config_difference(&saved.config, config)
                        ),
                    });
                }
                rng = saved.rng.restore(&path)?;
                let w = dir.join(WEIGHTS);
                module = module.try_load_file(&w).map_err(record_err(&w))?;
                let o = dir.join(OPTIMIZER);
                optim = optim.load(&o).map_err(record_err(&o))?;
                if let Some(log) = &options.log_path {
                    truncate_log(log, saved.step)?;
                }
                state = saved;
                state.report.resumed_from = Some(state.step);
                last_good = Some((dir, state.step));
            }
        } else if ck.current("last")?.is_some() {
            return Err(TrainError::Config {
                key: "resume".into(),
                value: ck.root().display().to_string(),
                reason: "this directory already holds a checkpoint; resume it or choose a new \
                         directory"
                    .into(),
            });
        }
    }
    if let Some(p) = &options.log_path
        && state.step == 0
        && p.exists()
    {
        // A run from step 0 starts a fresh log; an old one is kept beside it, not lost.
        let mut old = p.as_os_str().to_owned();
        old.push(".previous");
        std::fs::rename(p, &old).map_err(io(p))?;
    }
    let mut log = options.log_path.as_deref().map(Log::open).transpose()?;
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
    bar.set_position(state.step as u64);
    bar.reset_eta();

    let start = Instant::now();
    let seconds_before = state.report.seconds;
    let first = state.step;
    // Early stopping keeps the best validated weights (the initial ones included).
    let early = config.patience > 0 && validate.is_some();
    let mut best_module: Option<M> = None;
    if early {
        if state.step == 0 {
            let v = validate.as_mut().expect("early stopping validates")(&module)?;
            state.report.validation.push((0, v));
            if let Some(log) = log.as_mut() {
                log.write(serde_json::json!({"step": 0, "valid_loss": v}))?;
            }
            if v.is_finite() {
                state.report.best = Some((0, v));
                best_module = Some(module.clone());
                if let Some(ck) = &checkpoints {
                    publish_best(ck, &module, 0, v)?;
                }
            }
        } else if state.report.best.is_some()
            && let Some(ck) = &checkpoints
            && ck.current("best")?.is_some()
        {
            best_module = Some(load_checkpoint_weights(module.clone(), ck.root(), "best")?);
        }
    }
    let stale = |report: &TrainReport| {
        let best = report.best.map_or(0, |(s, _)| s);
        report.validation.iter().filter(|(s, _)| *s > best).count()
    };
    let end = if state.report.stopped_at.is_some() {
        state.step
    } else {
        config.steps
    };
    for step in first..end {
        let GroupLoss { loss, group } = batch_loss(&module, &mut rng)?.into();
        let value: f64 = loss.clone().into_scalar::<f32>() as f64;
        if !value.is_finite() {
            bar.abandon_with_message(format!("loss {value} at step {}", step + 1));
            return Err(TrainError::NonFinite {
                step: step + 1,
                loss: value,
                checkpoint: last_good.map(|(d, _)| d),
            });
        }
        if step == 0 {
            state.report.initial_loss = value;
        }
        let grads = GradientsParams::from_grads(loss.backward(), &module);
        let lr = config.learning_rate_at(step);
        module = optim.step(lr, module, grads);
        state.acc += value;
        state.acc_n += 1;
        if let Some(g) = state.group_acc.get_mut(group) {
            g.0 += value;
            g.1 += 1;
        }
        state.step = step + 1;
        bar.inc(1);
        let done = step + 1;
        if done % config.log_every == 0 || done == config.steps {
            let mean = state.acc / state.acc_n as f64;
            state.report.losses.push((done, mean));
            state.report.final_loss = mean;
            bar.set_message(format!("loss {mean:.3e} lr {lr:.2e}"));
            let mut line = serde_json::json!({
                "step": done,
                "loss": mean,
                "lr": lr,
                "elapsed_s": seconds_before + start.elapsed().as_secs_f64(),
            });
            if options.groups.len() > 1 {
                for (name, g) in options.groups.iter().zip(state.group_acc.iter_mut()) {
                    if g.1 > 0 {
                        let m = g.0 / g.1 as f64;
                        line[format!("loss_{name}")] = m.into();
                        state
                            .report
                            .group_losses
                            .entry(name.clone())
                            .or_default()
                            .push((done, m));
                    }
                    *g = (0.0, 0);
                }
            }
            if let Some(log) = log.as_mut() {
                log.write(line)?;
            }
            state.acc = 0.0;
            state.acc_n = 0;
        }
        if let Some(v) = validate.as_mut()
            && config.is_due(done, config.validate_every)
        {
            let value = v(&module)?;
            state.report.validation.push((done, value));
            if let Some(log) = log.as_mut() {
                log.write(serde_json::json!({"step": done, "valid_loss": value}))?;
            }
            let improved = value.is_finite() && state.report.best.is_none_or(|(_, b)| value < b);
            if improved {
                state.report.best = Some((done, value));
                if early {
                    best_module = Some(module.clone());
                }
                if let Some(ck) = &checkpoints {
                    publish_best(ck, &module, done, value)?;
                }
            }
        }
        let stop = early && done < config.steps && stale(&state.report) >= config.patience;
        if stop {
            state.report.stopped_at = Some(done);
            bar.set_message(format!("early stop at step {done}"));
        }
        if let Some(ck) = &checkpoints
            && (stop || config.is_due(done, config.checkpoint_every))
        {
            state.report.seconds = seconds_before + start.elapsed().as_secs_f64();
            state.rng = RngState::of(&rng);
            let dir = ck.publish("last", done, |d| {
                let w = d.join(WEIGHTS);
                module.clone().save_file(&w).map_err(record_err(&w))?;
                let o = d.join(OPTIMIZER);
                optim.save(&o).map_err(record_err(&o))?;
                let s = d.join(STATE);
                std::fs::write(
                    &s,
                    serde_json::to_string_pretty(&state).expect("plain data serialises"),
                )
                .map_err(io(&s))
            })?;
            last_good = Some((dir, done));
        }
        if stop {
            break;
        }
    }
    bar.finish_and_clear();
    state.report.seconds = seconds_before + start.elapsed().as_secs_f64();
    state.report.steps_per_second =
        (state.step - first) as f64 / (start.elapsed().as_secs_f64()).max(f64::MIN_POSITIVE);
    if let Some(best) = best_module {
        module = best;
    }
    Ok((module, state.report))
}

/// Publishes `module` as the `best` checkpoint of step `step` with validation loss `value`.
fn publish_best<M: Module>(ck: &Checkpoints, module: &M, step: usize, value: f64) -> Result<()> {
    ck.publish("best", step, |d| {
        let w = d.join(WEIGHTS);
        module.clone().save_file(&w).map_err(record_err(&w))?;
        let s = d.join("best.json");
        std::fs::write(
            &s,
            serde_json::json!({"step": step, "valid_loss": value}).to_string(),
        )
        .map_err(io(&s))
    })?;
    Ok(())
}

/// The first top-level key where two configurations differ, for error messages.
fn config_difference(a: &TrainConfig, b: &TrainConfig) -> String {
    let (va, vb) = (
        serde_json::to_value(a).expect("plain data"),
        serde_json::to_value(b).expect("plain data"),
    );
    let (Some(ma), Some(mb)) = (va.as_object(), vb.as_object()) else {
        return "?".into();
    };
    ma.iter()
        .find(|(k, v)| mb.get(*k) != Some(*v))
        .map(|(k, v)| format!("`{k}` was {v}, now {}", mb[k]))
        .unwrap_or_else(|| "?".into())
}

/// Loads the weights of `slot` (`"last"` or `"best"`) of a checkpoint directory into `module`.
pub fn load_checkpoint_weights<M: Module>(module: M, dir: &Path, slot: &str) -> Result<M> {
    let (d, _) = Checkpoints::new(dir)
        .current(slot)?
        .ok_or_else(|| TrainError::Io {
            path: dir.to_path_buf(),
            message: format!("no `{slot}` checkpoint here"),
        })?;
    let w = d.join(WEIGHTS);
    module.try_load_file(&w).map_err(record_err(&w))
}
