//! The foundation study: does pretraining on many physics make a new physics cheap to learn?
//! ([`foundation_study`]). Every corpus is pretrained once; every arm (a corpus and an
//! adaptation strategy, or training from scratch) is adapted to K target trajectories for
//! every K, seed and learning rate, under one step budget; the learning rate is chosen per
//! arm, K and seed on the target's `val` split, and the chosen runs are scored on
//! `test_interp` (in distribution) and `test_extrap` (out of distribution). The report gives
//! Poseidon's accuracy gain `AG_K = E_scratch(K) / E_arm(K)` and efficiency gain
//! `EG = K_scratch / K` (the K scratch needs to match the arm's error at K, read off the
//! scratch curve on log-log axes) with their spread over seeds. Every unit is saved when it
//! is done, so an interrupted study resumes where it stopped.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::tensor::Device;
use physfm_adapt::{Environment, MetaConfig, Prior, Strategy, meta_train};
use physfm_data::{CollectionMeta, InMemoryCollection, generate_split, write_atomic};
use physfm_models::{EncodeProcessDecode, EpdConfig};
use physfm_train::{TrainOptions, WindowDataset};
use serde::{Deserialize, Serialize};

use physfm_models::Dynamics;

use crate::{
    EvalError, LinePlot, ParamTransform, Presets, PretrainOptions, PretrainSpec, Result,
    RolloutScores, Series, SpaceTimeField, adaptation_budget, line_plot, pretrain, random_subset,
    rollout_scores, space_time_panels, transfer_train,
};

/// One pretraining corpus of a study.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Corpus {
    /// Short name (`shared`, `unrelated`, ...), used by the arms.
    pub name: String,
    /// Its pretraining spec ([`PretrainSpec`] TOML; relative to the study spec's folder).
    pub spec: PathBuf,
    /// The pretrained head the target starts from (the target is another regime of that
    /// dataset's family); none: new heads.
    #[serde(default)]
    pub head: Option<String>,
}

/// A study: its corpora, arms, target and budgets.
///
/// ```
/// let spec: physfm_eval::FoundationSpec = toml::from_str(r#"
///     target = "foundation_burgers"
///     shots = [2, 8]
///     scratch_shots = [32]
///     seeds = 3
///     learning_rates = [3e-4, 1e-3]
///     steps = 300
///     arms = ["scratch", "shared:zero-shot", "shared:full", "shared:lora-r4"]
///     [[corpora]]
///     name = "shared"
///     spec = "foundation_pretrain_1d.toml"
///     head = "foundation_corpus"
/// "#)?;
/// assert_eq!(spec.arms()?.len(), 4);
/// assert_eq!(spec.quick().shots, vec![2, 8]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FoundationSpec {
    /// The held-out target preset; its splits `train` (the K-subsets), `val` (selection),
    /// `test_interp` and, if it has one, `test_extrap`.
    pub target: String,
    /// The pretraining corpora.
    pub corpora: Vec<Corpus>,
    /// The arms: `scratch`, or `<corpus>:<strategy>` with a strategy of physfm-adapt or
    /// `zero-shot` (the pretrained model through the corpus's head, no target data).
    pub arms: Vec<String>,
    /// Target trajectory counts K of every arm.
    pub shots: Vec<usize>,
    /// Further K for scratch alone, so that the efficiency gain can be read off.
    #[serde(default)]
    pub scratch_shots: Vec<usize>,
    /// Seeds: each a K-subset and an initialisation.
    pub seeds: usize,
    /// The learning-rate sweep of every arm not in `arm_learning_rates`.
    pub learning_rates: Vec<f64>,
    /// Sweeps of their own for the arms named (`"scratch" = [1e-3, 3e-3, 1e-2]`): an arm
    /// whose chosen rate sits at an end of the common sweep gets a sweep around its own.
    #[serde(default)]
    pub arm_learning_rates: BTreeMap<String, Vec<f64>>,
    /// Optimiser steps of every adaptation (the most it takes, with early stopping).
    pub steps: usize,
    /// Steps between validations of an adaptation on `val` (its rollout relative L2 error);
    /// 0: none. Default 0.
    #[serde(default)]
    pub validate_every: usize,
    /// Early stopping: an adaptation stops after this many validations in a row without
    /// improvement and keeps its best validated weights, those it started from included
    /// (see [`physfm_train::TrainConfig::patience`]); 0: every step, last weights. Needs
    /// `validate_every`. Default 0.
    #[serde(default)]
    pub patience: usize,
    /// Trajectories per family (per part of a mixture) of every corpus's `train` split,
    /// generated into the study's own data folder; none: the presets' counts.
    #[serde(default)]
    pub corpus_trajectories: Option<usize>,
    /// Pretraining steps replacing the corpus specs'; none: theirs.
    #[serde(default)]
    pub pretrain_steps: Option<usize>,
    /// Meta-training steps of `coda`, `leads` and `reptile` over the corpus's environments:
    /// each dataset's training trajectories grouped by which coefficients are zero (the
    /// regimes of a mixture such as the `terms1d` corners; a dataset whose coefficients are
    /// never zero is one environment).
    #[serde(default)]
    pub meta_steps: usize,
    /// Peak learning rate of meta-training; none: the first of `learning_rates`.
    #[serde(default)]
    pub meta_learning_rate: Option<f64>,
    /// Settings of the meta-trained strategies and in-context adaptation.
    #[serde(default)]
    pub meta: MetaConfig,
    /// A run whose rollout relative L2 on `val` is above this (or not finite) diverged: it
    /// is reported as such and never chosen (default 10: ten times a zero prediction).
    #[serde(default = "default_diverged")]
    pub diverged_above: f64,
}

fn default_diverged() -> f64 {
    10.0
}

/// One arm, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct StudyArm {
    /// `scratch` or `<corpus>:<strategy>`.
    pub name: String,
    /// The corpus index (none for scratch).
    pub corpus: Option<usize>,
    /// The strategy (none for zero-shot).
    pub strategy: Option<Strategy>,
}

impl StudyArm {
    fn is_scratch(&self) -> bool {
        self.strategy == Some(Strategy::Scratch)
    }
}

impl FoundationSpec {
    /// The arms, checked against the corpora.
    ///
    /// # Errors
    /// [`EvalError::Invalid`] naming an unknown corpus or strategy, or a zero-shot arm of a
    /// corpus without a head.
    pub fn arms(&self) -> Result<Vec<StudyArm>> {
        let mut out = Vec::with_capacity(self.arms.len());
        for a in &self.arms {
            if a == "scratch" {
                out.push(StudyArm {
                    name: a.clone(),
                    corpus: None,
                    strategy: Some(Strategy::Scratch),
                });
                continue;
            }
            let Some((c, s)) = a.split_once(':') else {
                return Err(EvalError::Invalid(format!(
                    "arm `{a}`: expected `scratch` or `<corpus>:<strategy>`"
                )));
            };
            let corpus = self
                .corpora
                .iter()
                .position(|k| k.name == c)
                .ok_or_else(|| {
                    EvalError::Invalid(format!(
                        "arm `{a}`: no corpus `{c}` (corpora: {})",
                        self.corpora
                            .iter()
                            .map(|k| k.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                })?;
            let strategy = if s == "zero-shot" {
                if self.corpora[corpus].head.is_none() {
                    return Err(EvalError::Invalid(format!(
                        "arm `{a}`: zero-shot needs the corpus's `head` (the target's new \
                         heads are untrained)"
                    )));
                }
                None
            } else {
                let s: Strategy = s
                    .parse()
                    .map_err(|e| EvalError::Invalid(format!("arm `{a}`: {e}")))?;
                if s == Strategy::Scratch {
                    return Err(EvalError::Invalid(format!(
                        "arm `{a}`: scratch ignores the corpus; name it `scratch`"
                    )));
                }
                Some(s)
            };
            out.push(StudyArm {
                name: a.clone(),
                corpus: Some(corpus),
                strategy,
            });
        }
        if !out.iter().any(StudyArm::is_scratch) {
            return Err(EvalError::Invalid(
                "the arms need `scratch`: the gains are measured against it".into(),
            ));
        }
        for (name, rates) in &self.arm_learning_rates {
            if !self.arms.contains(name) {
                return Err(EvalError::Invalid(format!(
                    "arm_learning_rates.\"{name}\": no such arm (arms: {})",
                    self.arms.join(", ")
                )));
            }
            if rates.is_empty() || rates.iter().any(|r| !(r.is_finite() && *r > 0.0)) {
                return Err(EvalError::Invalid(format!(
                    "arm_learning_rates.\"{name}\": {rates:?} (needs one or more positive rates)"
                )));
            }
        }
        if self.patience > 0 && self.validate_every == 0 {
            return Err(EvalError::Invalid(format!(
                "patience = {}: early stopping needs validate_every > 0",
                self.patience
            )));
        }
        Ok(out)
    }

    /// What every unit depends on besides its arm, K, seed, rate and corpus: two specs that
    /// agree here, and whose corpora agree as far as both go, can share units, whatever
    /// their lists of arms, K, seeds and rates.
    pub fn unit_settings(&self) -> impl PartialEq + use<> {
        (
            self.target.clone(),
            (self.steps, self.validate_every, self.patience),
            self.corpus_trajectories,
            self.pretrain_steps,
            self.meta.clone(),
        )
    }

    /// What the units of meta-trained arms (`coda`, `leads`, `reptile`) also depend on: the
    /// meta-training's steps and rate. Specs without such arms share units whatever these.
    pub fn meta_settings(&self) -> Option<(usize, f64)> {
        let meta_arm = self.arms.iter().any(|a| {
            a.split_once(':')
                .and_then(|(_, s)| s.parse::<Strategy>().ok())
                .is_some_and(Strategy::meta_trained)
        });
        meta_arm.then(|| (self.meta_steps, self.meta_rate()))
    }

    /// The peak learning rate of meta-training.
    fn meta_rate(&self) -> f64 {
        self.meta_learning_rate
            .or(self.learning_rates.first().copied())
            .unwrap_or(1e-3)
    }

    /// The learning-rate sweep of `arm`: its own, else the common one.
    pub fn rates(&self, arm: &str) -> &[f64] {
        self.arm_learning_rates
            .get(arm)
            .unwrap_or(&self.learning_rates)
    }

    /// The K at which the efficiency gain is read: the largest of `shots` up to 8.
    pub fn gain_shots(&self) -> Option<usize> {
        self.shots.iter().copied().filter(|&k| k <= 8).max()
    }

    /// Whether a run whose `val` rollout error is `val` diverged.
    fn diverged(&self, val: f64) -> bool {
        !val.is_finite() || val > self.diverged_above
    }

    /// The quick variant: one seed, K in {2, 8}, no extra scratch K, at most 32 trajectories
    /// per family, 1000 pretraining steps and 200 adaptation steps (validated every 40
    /// where the spec validates); budgets below these stay as they are.
    pub fn quick(&self) -> Self {
        let steps = self.steps.min(200);
        Self {
            shots: vec![2, 8],
            scratch_shots: Vec::new(),
            seeds: 1,
            corpus_trajectories: Some(self.corpus_trajectories.map_or(32, |c| c.min(32))),
            pretrain_steps: Some(self.pretrain_steps.map_or(1000, |p| p.min(1000))),
            steps,
            validate_every: if self.validate_every > 0 {
                self.validate_every.min(steps / 5).max(1)
            } else {
                0
            },
            ..self.clone()
        }
    }
}

/// One unit of a study: an arm adapted to K trajectories with one seed and learning rate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Unit {
    /// The arm.
    pub arm: String,
    /// K (0 for zero-shot).
    pub shots: usize,
    /// Seed: the K-subset and the initialisation.
    pub seed: usize,
    /// Peak learning rate (0 for zero-shot).
    pub learning_rate: f64,
    /// Errors per split (`val`, `test_interp`, `test_extrap`).
    pub errors: BTreeMap<String, RolloutScores>,
    /// Whether the run diverged (its `val` rollout above the threshold, or not finite).
    pub diverged: bool,
    /// Adaptation seconds.
    pub seconds: f64,
    /// With early stopping: the step whose weights were kept (0: those it started from).
    #[serde(default)]
    pub kept_step: Option<usize>,
}

/// The run chosen for one arm, K and seed (its learning rate has the lowest `val` rollout
/// error among the runs that did not diverge).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Chosen {
    /// The arm.
    pub arm: String,
    /// K.
    pub shots: usize,
    /// The seed.
    pub seed: usize,
    /// The chosen learning rate; none when every rate diverged.
    pub learning_rate: Option<f64>,
    /// Its errors per split.
    pub errors: BTreeMap<String, RolloutScores>,
    /// With early stopping: the step whose weights it kept.
    #[serde(default)]
    pub kept_step: Option<usize>,
}

/// A finished study: every unit, the chosen runs and the gains.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FoundationResults {
    /// The spec as run.
    pub spec: FoundationSpec,
    /// Every unit.
    pub units: Vec<Unit>,
    /// The chosen run per arm, K and seed.
    pub chosen: Vec<Chosen>,
    /// `AG_K` per arm and K on `test_interp` rollouts: the ratio of means, and the smallest
    /// and largest ratio of one seed's (the same K-subset's) errors.
    pub accuracy_gain: BTreeMap<String, BTreeMap<usize, (f64, f64, f64)>>,
    /// `EG` per arm at K = the largest shot count up to 8: `K_scratch / K`, with `None`
    /// where scratch's curve does not reach the arm's error within its K.
    pub efficiency_gain: BTreeMap<String, Option<f64>>,
    /// `EG` per arm and seed: read off that seed's own scratch curve (its K-subsets and
    /// initialisations) at that seed's error of the arm, `None` where scratch does not reach
    /// it. A claim holds for every seed when every entry does.
    #[serde(default)]
    pub efficiency_gain_per_seed: BTreeMap<String, Vec<Option<f64>>>,
    /// Pretraining seconds per corpus, as its run recorded them (summed over resumed
    /// segments).
    #[serde(default)]
    pub pretrain_seconds: BTreeMap<String, f64>,
}

/// Mean, min and max of `v` (NaN for none).
fn spread(v: &[f64]) -> (f64, f64, f64) {
    if v.is_empty() {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    let m = v.iter().sum::<f64>() / v.len() as f64;
    let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (m, lo, hi)
}

/// `K_scratch(e) / k`: where the scratch curve `(K, error)` (sorted by K) reaches `e`,
/// interpolated linearly in log K and log error between the two K that bracket it.
pub fn efficiency_gain(scratch: &[(usize, f64)], e: f64, k: usize) -> Option<f64> {
    let pts: Vec<(f64, f64)> = scratch
        .iter()
        .filter(|(_, v)| v.is_finite() && *v > 0.0)
        .map(|&(k, v)| ((k as f64).ln(), v.ln()))
        .collect();
    let target = e.ln();
    if let Some(first) = pts.first()
        && first.1 <= target
    {
        return Some(scratch[0].0 as f64 / k as f64);
    }
    pts.windows(2).find_map(|w| {
        let ((x0, y0), (x1, y1)) = (w[0], w[1]);
        (y1 <= target && y0 > target).then(|| {
            let x = x0 + (target - y0) * (x1 - x0) / (y1 - y0);
            x.exp() / k as f64
        })
    })
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> EvalError + '_ {
    move |e| EvalError::Invalid(format!("{}: {e}", path.display()))
}

fn json<T: Serialize>(v: &T) -> String {
    serde_json::to_string_pretty(v).expect("plain data serialises")
}

/// A pretrained corpus: its spec and model.
struct Pretrained {
    spec: PretrainSpec,
    model: EncodeProcessDecode,
}

/// The target's collections.
struct Target {
    pool: InMemoryCollection,
    splits: Vec<(String, InMemoryCollection)>,
}

/// Runs `spec` (read from the folder `spec_dir`, where corpus specs are found) with the
/// presets of `presets` (their collections go to `<out>/data`), into `out`, on `device`:
/// pretraining in `<out>/pretrain/<corpus>`, one JSON file per unit in `<out>/units`, then
/// `<out>/results.json`, `<out>/report.md` and plots. Finished pretraining runs and units are
/// reused. `progress` shows bars; `on_unit` sees each unit as it is finished or reused.
///
/// # Errors
/// [`EvalError::Invalid`] for a bad spec (arms, an empty sweep, a K beyond the target's
/// train split); the data, pretraining and adaptation errors.
#[allow(clippy::too_many_lines)]
pub fn foundation_study(
    spec: &FoundationSpec,
    spec_dir: &Path,
    presets: &Path,
    out: &Path,
    device: &Device,
    progress: bool,
    on_unit: &mut dyn FnMut(&Unit, bool),
) -> Result<FoundationResults> {
    let arms = spec.arms()?;
    if spec.learning_rates.is_empty() || spec.seeds == 0 || spec.shots.is_empty() {
        return Err(EvalError::Invalid(
            "a study needs learning_rates, seeds >= 1 and shots".into(),
        ));
    }
    let presets = Presets {
        presets: presets.to_path_buf(),
        data: out.join("data"),
    };
    std::fs::create_dir_all(out).map_err(io(out))?;
    // Units are reused by arm, K, seed and rate: only where everything a unit depends on
    // is the same. More arms, K, seeds or rates extend a study.
    let spec_path = out.join("spec.json");
    if let Ok(text) = std::fs::read_to_string(&spec_path) {
        let same = serde_json::from_str::<FoundationSpec>(&text).is_ok_and(|s| {
            s.unit_settings() == spec.unit_settings()
                && s.meta_settings()
                    .is_none_or(|m| Some(m) == spec.meta_settings())
                && s.corpora.iter().zip(&spec.corpora).all(|(a, b)| a == b)
                && s.corpora.len() <= spec.corpora.len()
        });
        if !same {
            return Err(EvalError::Invalid(format!(
                "{} holds a study of another spec ({}): its units were made with another \
                 target, corpora, step budget or meta-training (corpora may only be added at \
                 the end); resume it with that spec, or use another output folder",
                out.display(),
                spec_path.display()
            )));
        }
    }
    write_atomic(&spec_path, json(spec).as_bytes()).map_err(io(&spec_path))?;
    // 1. Pretrain every corpus (or reuse its finished run).
    let mut corpora = Vec::with_capacity(spec.corpora.len());
    let mut pretrain_seconds = BTreeMap::new();
    for c in &spec.corpora {
        let path = spec_dir.join(&c.spec);
        let text = std::fs::read_to_string(&path).map_err(io(&path))?;
        let mut p: PretrainSpec = toml::from_str(&text)
            .map_err(|e| EvalError::Invalid(format!("{}: {e}", path.display())))?;
        if let Some(steps) = spec.pretrain_steps {
            p.train.steps = steps;
        }
        if let Some(n) = spec.corpus_trajectories {
            for d in &p.datasets {
                let store = presets
                    .data
                    .join(&d.preset)
                    .join(format!("{}.zarr", d.split));
                if !store.join("zarr.json").exists() {
                    let mut preset = presets.load(&d.preset)?;
                    if let Some(s) = preset.splits.get_mut(&d.split) {
                        s.set_trajectories(n);
                    }
                    generate_split(&preset, &d.split, &store, progress)?;
                }
            }
        }
        let run = out.join("pretrain").join(&c.name);
        let done = run.join("report.json").exists();
        let options = PretrainOptions {
            resume: true,
            evaluate_only: done,
            progress,
            stream: false,
        };
        let text = toml::to_string(&p).expect("a spec serialises");
        let outcome = pretrain(&p, &text, &presets, &run, device, &options)?;
        let recorded = crate::error::read_json(&run.join("report.json"))
            .ok()
            .and_then(|v| v["seconds"].as_f64());
        pretrain_seconds.insert(c.name.clone(), recorded.unwrap_or(f64::NAN));
        corpora.push(Pretrained {
            spec: p,
            model: outcome.model,
        });
    }
    // 2. The target's collections.
    let base = &corpora
        .first()
        .ok_or_else(|| EvalError::Invalid("a study needs at least one corpus".into()))?
        .spec;
    let pool = presets.collection(&spec.target, "train", base.frame_stride, 0)?;
    let preset = presets.load(&spec.target)?;
    let mut splits = Vec::new();
    for name in ["val", "test_interp", "test_extrap"] {
        if preset.splits.contains_key(name) {
            splits.push((
                name.to_string(),
                presets.collection(&spec.target, name, base.frame_stride, 0)?,
            ));
        } else if name != "test_extrap" {
            return Err(EvalError::Invalid(format!(
                "target {} has no `{name}` split",
                spec.target
            )));
        }
    }
    let target = Target { pool, splits };
    let max_k = spec
        .shots
        .iter()
        .chain(&spec.scratch_shots)
        .max()
        .copied()
        .unwrap_or(0);
    if max_k > target.pool.records.len() {
        return Err(EvalError::Invalid(format!(
            "K = {max_k}: the train split of {} has {} trajectories",
            spec.target,
            target.pool.records.len()
        )));
    }
    // 3. The units.
    let mut plan: Vec<(usize, usize, usize, f64)> = Vec::new();
    for (a, arm) in arms.iter().enumerate() {
        if arm.strategy.is_none() {
            plan.push((a, 0, 0, 0.0));
            continue;
        }
        let extra: &[usize] = if arm.is_scratch() {
            &spec.scratch_shots
        } else {
            &[]
        };
        for &k in spec.shots.iter().chain(extra) {
            for seed in 0..spec.seeds {
                for &lr in spec.rates(&arm.name) {
                    plan.push((a, k, seed, lr));
                }
            }
        }
    }
    let bar = progress.then(|| {
        let b = indicatif::ProgressBar::new(plan.len() as u64);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{prefix} [{bar:30}] {pos}/{len} units, {elapsed} (ETA {eta}) {msg}",
            )
            .expect("a valid template")
            .progress_chars("=> "),
        );
        b.set_prefix("foundation");
        b
    });
    let mut priors = Priors::new();
    let mut units = Vec::with_capacity(plan.len());
    for &(a, k, seed, lr) in &plan {
        let arm = &arms[a];
        let file = out
            .join("units")
            .join(arm.name.replace(':', "-"))
            .join(format!("k{k}-seed{seed}-lr{lr:e}.json"));
        if let Ok(text) = std::fs::read_to_string(&file)
            && let Ok(u) = serde_json::from_str::<Unit>(&text)
        {
            on_unit(&u, true);
            units.push(u);
            if let Some(b) = &bar {
                b.inc(1);
            }
            continue;
        }
        if let Some(b) = &bar {
            b.set_message(format!("{} K={k} seed {seed} lr {lr:e}", arm.name));
        }
        let u = run_unit(
            spec,
            arm,
            (&corpora, &presets, &target),
            (k, seed, lr),
            &mut priors,
            device,
        )?;
        std::fs::create_dir_all(file.parent().expect("a unit file has a folder"))
            .map_err(io(&file))?;
        write_atomic(&file, json(&u).as_bytes()).map_err(io(&file))?;
        on_unit(&u, false);
        units.push(u);
        if let Some(b) = &bar {
            b.inc(1);
        }
    }
    if let Some(b) = bar {
        b.finish();
    }
    // 4. Choose, compare, report.
    let mut results = summarise(spec, &arms, units);
    results.pretrain_seconds = pretrain_seconds;
    write_atomic(&out.join("results.json"), json(&results).as_bytes())
        .map_err(io(&out.join("results.json")))?;
    let md = report(&results, &arms);
    write_atomic(&out.join("report.md"), md.as_bytes()).map_err(io(&out.join("report.md")))?;
    plots(&results, &arms, out)?;
    trajectory_plot(
        &results,
        &arms,
        (&corpora, &presets, &target),
        &mut priors,
        out,
        device,
    )?;
    Ok(results)
}

/// What every unit reads: the pretrained corpora, the presets and the target.
type Context<'a> = (&'a [Pretrained], &'a Presets, &'a Target);

/// The priors made so far, by corpus and strategy (meta-training runs once).
type Priors = BTreeMap<(usize, String), Prior<EncodeProcessDecode>>;

/// One arm adapted to K trajectories with one seed and learning rate (zero-shot: the
/// pretrained model through the corpus's head), on `device` without autodiff; and the
/// parameter transform its inputs take.
fn adapt_arm(
    spec: &FoundationSpec,
    arm: &StudyArm,
    (corpora, presets, target): Context<'_>,
    (k, seed, lr): (usize, usize, f64),
    priors: &mut Priors,
    device: &Device,
) -> Result<(Box<dyn Dynamics>, ParamTransform, Option<usize>)> {
    let corpus = arm.corpus.unwrap_or(0);
    let pre = &corpora[corpus];
    let head = arm
        .corpus
        .and_then(|c| spec.corpora[c].head.clone())
        .unwrap_or_else(|| spec.target.clone());
    let target_cfg: EpdConfig = pre
        .spec
        .model
        .config(vec![pre.spec.dataset_spec(&head, &target.pool.meta)]);
    let device = device.clone().inner();
    let Some(strategy) = arm.strategy else {
        let model = pre.model.transfer(&target_cfg, &device)?;
        return Ok((Box::new(model), pre.spec.params, None));
    };
    let key = (corpus, strategy.to_string());
    if !priors.contains_key(&key) {
        let prior = if strategy.meta_trained() && spec.meta_steps > 0 && arm.corpus.is_some() {
            let (windows, datasets) = regimes(&pre.spec, presets)?;
            let environments: Vec<Environment<'_>> = windows
                .iter()
                .zip(datasets)
                .map(|(windows, dataset)| Environment { windows, dataset })
                .collect();
            let budget = adaptation_budget(&pre.spec.train, spec.meta_steps, spec.meta_rate(), 0);
            meta_train(
                pre.model.clone(),
                strategy,
                &environments,
                &budget,
                &spec.meta,
                &device.clone().autodiff(),
                &TrainOptions::default(),
            )?
            .0
        } else {
            Prior::Model(pre.model.clone())
        };
        priors.insert(key.clone(), prior);
    }
    let prior = priors.get(&key).expect("inserted above");
    let windows = pre
        .spec
        .pairs(&random_subset(&target.pool, k, seed as u64)?)?;
    let mut budget = adaptation_budget(&pre.spec.train, spec.steps, lr, seed as u64);
    budget.validate_every = spec.validate_every;
    budget.patience = spec.patience;
    // CoDA and LEADS train a context or a residual, which a validation of the model cannot
    // steer: they take every step.
    let steered = !matches!(strategy, Strategy::Coda | Strategy::Leads);
    let valid = target
        .splits
        .iter()
        .find(|(n, _)| n == "val")
        .map(|(_, v)| v)
        .filter(|_| spec.validate_every > 0 && steered);
    let (model, report) = transfer_train(
        Some(prior),
        &target_cfg,
        &windows,
        valid.map(|v| (v, pre.spec.params)),
        strategy,
        &budget,
        &spec.meta,
        &device,
    )?;
    let kept = valid.and(report.best.map(|(step, _)| step));
    Ok((Box::new(model.valid()), pre.spec.params, kept))
}

/// The meta-training environments of a corpus: each dataset's training windows, its
/// trajectories grouped by which coefficients are zero ([`zero_patterns`]), and the dataset
/// index of each group.
fn regimes(spec: &PretrainSpec, presets: &Presets) -> Result<(Vec<WindowDataset>, Vec<usize>)> {
    let mut windows = Vec::new();
    let mut datasets = Vec::new();
    for (d, entry) in spec.datasets.iter().enumerate() {
        for group in zero_patterns(&spec.training_collection(presets, entry)?) {
            windows.push(spec.pairs(&group)?);
            datasets.push(d);
        }
    }
    Ok((windows, datasets))
}

/// `data`'s trajectories grouped by which of their coefficients are zero, in order of first
/// appearance: the regimes of a mixture such as the `terms1d` corners.
fn zero_patterns(data: &InMemoryCollection) -> Vec<InMemoryCollection> {
    let mut groups: Vec<(Vec<bool>, InMemoryCollection)> = Vec::new();
    for r in &data.records {
        let zeros: Vec<bool> = r.params.iter().map(|&p| p == 0.0).collect();
        let i = match groups.iter().position(|(z, _)| *z == zeros) {
            Some(i) => i,
            None => {
                let empty = InMemoryCollection {
                    meta: CollectionMeta {
                        trajectories: 0,
                        ..data.meta.clone()
                    },
                    coordinates: data.coordinates.clone(),
                    records: Vec::new(),
                };
                groups.push((zeros, empty));
                groups.len() - 1
            }
        };
        groups[i].1.records.push(r.clone());
        groups[i].1.meta.trajectories += 1;
    }
    groups.into_iter().map(|(_, g)| g).collect()
}

/// Adapts one arm to K trajectories with one seed and learning rate, and scores it.
fn run_unit(
    spec: &FoundationSpec,
    arm: &StudyArm,
    context: Context<'_>,
    (k, seed, lr): (usize, usize, f64),
    priors: &mut Priors,
    device: &Device,
) -> Result<Unit> {
    let t = std::time::Instant::now();
    let (model, params, kept_step) = adapt_arm(spec, arm, context, (k, seed, lr), priors, device)?;
    let device = device.clone().inner();
    let mut errors = BTreeMap::new();
    for (name, data) in &context.2.splits {
        errors.insert(
            name.clone(),
            rollout_scores(model.as_ref(), 0, data, params, &device)?,
        );
    }
    let val = errors.get("val").map_or(f64::NAN, |e| e.rollout_rel_l2);
    Ok(Unit {
        arm: arm.name.clone(),
        shots: k,
        seed,
        learning_rate: lr,
        diverged: spec.diverged(val),
        errors,
        seconds: t.elapsed().as_secs_f64(),
        kept_step,
    })
}

/// `trajectory.png`: the first `test_interp` trajectory, true and rolled out by scratch and
/// by the arm with the lowest mean test rollout error, both at the K of the efficiency gain
/// (the largest K up to 8) with seed 0 and their chosen learning rates (re-adapted: the
/// units keep no models).
fn trajectory_plot(
    r: &FoundationResults,
    arms: &[StudyArm],
    context: Context<'_>,
    priors: &mut Priors,
    out: &Path,
    device: &Device,
) -> Result<()> {
    let s = &r.spec;
    let k = s.gain_shots().unwrap_or(s.shots[0]);
    let lr_of = |arm: &StudyArm| {
        let kk = if arm.strategy.is_none() { 0 } else { k };
        r.chosen
            .iter()
            .find(|c| c.arm == arm.name && c.shots == kk && c.seed == 0)
            .and_then(|c| c.learning_rate)
    };
    let Some(scratch) = arms.iter().find(|a| a.is_scratch()) else {
        return Ok(());
    };
    let best = arms
        .iter()
        .filter(|a| !a.is_scratch() && lr_of(a).is_some())
        .map(|a| (a, cell(r, a, k, "test_interp", METRICS[0].1).0))
        .filter(|(_, e)| e.is_finite())
        .min_by(|a, b| a.1.total_cmp(&b.1));
    let (Some((best, _)), Some(lr_scratch)) = (best, lr_of(scratch)) else {
        return Ok(());
    };
    let Some((_, test)) = context.2.splits.iter().find(|(n, _)| n == "test_interp") else {
        return Ok(());
    };
    let plain = device.clone().inner();
    let mut rollouts = Vec::new();
    for (arm, lr) in [(scratch, lr_scratch), (best, lr_of(best).unwrap_or(0.0))] {
        let kk = if arm.strategy.is_none() { 0 } else { k };
        let (model, params, _) = adapt_arm(s, arm, context, (kk, 0, lr), priors, device)?;
        let p = crate::predictions(model.as_ref(), 0, test, params, &plain)?;
        rollouts.push(p.rollout.into_iter().next().unwrap_or_default());
    }
    let record = &test.records[0];
    let n: usize = test.meta.spatial_shape.iter().product();
    let c = test.meta.channel_names.len();
    if test.meta.spatial_shape.len() != 1 || c != 1 {
        return Ok(());
    }
    let truth = &record.fields[n..];
    let times = &record.times[1..];
    let length = test.meta.domain_lengths.first().copied().unwrap_or(1.0);
    let x: Vec<f64> = (0..n).map(|i| i as f64 * length / n as f64).collect();
    let scratch_title = format!("scratch, K = {k}");
    let best_title = if best.strategy.is_none() {
        best.name.clone()
    } else {
        format!("{}, K = {k}", best.name)
    };
    let panels = [
        SpaceTimeField {
            title: "truth",
            values: truth,
        },
        SpaceTimeField {
            title: &scratch_title,
            values: &rollouts[0],
        },
        SpaceTimeField {
            title: &best_title,
            values: &rollouts[1],
        },
    ];
    space_time_panels(
        &out.join("trajectory.png"),
        &panels,
        &x,
        times,
        &format!("{}: a test trajectory and two rollouts (seed 0)", s.target),
    )
}

/// The chosen run per arm, K and seed, and the gains.
fn summarise(spec: &FoundationSpec, arms: &[StudyArm], mut units: Vec<Unit>) -> FoundationResults {
    // The threshold is the spec's, also for units made under another one.
    for u in &mut units {
        let val = u.errors.get("val").map_or(f64::NAN, |e| e.rollout_rel_l2);
        u.diverged = spec.diverged(val);
    }
    let mut chosen = Vec::new();
    let mut keys: Vec<(String, usize, usize)> = Vec::new();
    for u in &units {
        let key = (u.arm.clone(), u.shots, u.seed);
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    for (arm, k, seed) in keys {
        let best = units
            .iter()
            .filter(|u| u.arm == arm && u.shots == k && u.seed == seed && !u.diverged)
            .min_by(|a, b| {
                let v = |u: &Unit| {
                    u.errors
                        .get("val")
                        .map_or(f64::INFINITY, |e| e.rollout_rel_l2)
                };
                v(a).total_cmp(&v(b))
            });
        chosen.push(Chosen {
            arm,
            shots: k,
            seed,
            learning_rate: best.map(|u| u.learning_rate),
            errors: best.map(|u| u.errors.clone()).unwrap_or_default(),
            kept_step: best.and_then(|u| u.kept_step),
        });
    }
    let roll = |c: &Chosen| {
        c.errors
            .get("test_interp")
            .map_or(f64::NAN, |e| e.rollout_rel_l2)
    };
    let of = |arm: &str, k: usize| -> Vec<&Chosen> {
        chosen
            .iter()
            .filter(|c| c.arm == arm && c.shots == k)
            .collect()
    };
    let mut accuracy_gain = BTreeMap::new();
    let mut efficiency = BTreeMap::new();
    let mut scratch_curve: Vec<(usize, f64)> = spec
        .shots
        .iter()
        .chain(&spec.scratch_shots)
        .map(|&k| {
            (
                k,
                spread(&of("scratch", k).iter().map(|c| roll(c)).collect::<Vec<_>>()).0,
            )
        })
        .collect();
    scratch_curve.sort_by_key(|p| p.0);
    scratch_curve.dedup_by_key(|p| p.0);
    let eg_k = spec.gain_shots();
    let mut per_seed = BTreeMap::new();
    for arm in arms.iter().filter(|a| !a.is_scratch()) {
        let mut per_k = BTreeMap::new();
        for &k in &spec.shots {
            let scratch = of("scratch", k);
            // Zero-shot has one run (K = 0), set against scratch at every K.
            let own = if arm.strategy.is_none() {
                of(&arm.name, 0)
            } else {
                of(&arm.name, k)
            };
            let ratios: Vec<f64> = scratch
                .iter()
                .filter_map(|s| {
                    let a = own
                        .iter()
                        .find(|a| a.seed == s.seed || arm.strategy.is_none())?;
                    Some(roll(s) / roll(a))
                })
                .collect();
            let (_, lo, hi) = spread(&ratios);
            let mean = |v: &[&Chosen]| spread(&v.iter().map(|c| roll(c)).collect::<Vec<_>>()).0;
            per_k.insert(k, (mean(&scratch) / mean(&own), lo, hi));
        }
        accuracy_gain.insert(arm.name.clone(), per_k);
        let eg = eg_k.and_then(|k| {
            let own = if arm.strategy.is_none() {
                of(&arm.name, 0)
            } else {
                of(&arm.name, k)
            };
            let e = spread(&own.iter().map(|c| roll(c)).collect::<Vec<_>>()).0;
            efficiency_gain(&scratch_curve, e, k)
        });
        efficiency.insert(arm.name.clone(), eg);
        if let Some(k) = eg_k {
            let own = of(&arm.name, if arm.strategy.is_none() { 0 } else { k });
            let seeds = (0..spec.seeds)
                .map(|seed| {
                    let mine = |c: &&&Chosen| c.seed == seed;
                    let curve: Vec<(usize, f64)> = scratch_curve
                        .iter()
                        .filter_map(|&(kk, _)| {
                            of("scratch", kk).iter().find(mine).map(|c| (kk, roll(c)))
                        })
                        .filter(|p| p.1.is_finite())
                        .collect();
                    let e = own
                        .iter()
                        .find(|c| c.seed == seed || arm.strategy.is_none())
                        .map(|c| roll(c))?;
                    efficiency_gain(&curve, e, k)
                })
                .collect();
            per_seed.insert(arm.name.clone(), seeds);
        }
    }
    FoundationResults {
        spec: spec.clone(),
        units,
        chosen,
        accuracy_gain,
        efficiency_gain: efficiency,
        efficiency_gain_per_seed: per_seed,
        pretrain_seconds: BTreeMap::new(),
    }
}

/// Mean, min and max over seeds of the chosen runs of `arm` at `k` on `split`.
fn cell(
    r: &FoundationResults,
    arm: &StudyArm,
    k: usize,
    split: &str,
    metric: Metric,
) -> (f64, f64, f64) {
    let k = if arm.strategy.is_none() { 0 } else { k };
    let v: Vec<f64> = r
        .chosen
        .iter()
        .filter(|c| c.arm == arm.name && c.shots == k)
        .filter_map(|c| c.errors.get(split))
        .map(metric)
        .collect();
    spread(&v)
}

/// One number of a split's errors.
type Metric = fn(&RolloutScores) -> f64;

/// The report's metrics, by name.
const METRICS: [(&str, Metric); 4] = [
    ("Rollout relative L2", |e| e.rollout_rel_l2),
    ("One-step relative L2", |e| e.one_step_rel_l2),
    ("Rollout nRMSE", |e| e.rollout_nrmse),
    ("One-step nRMSE", |e| e.one_step_nrmse),
];

/// The study's Markdown report.
fn report(r: &FoundationResults, arms: &[StudyArm]) -> String {
    let s = &r.spec;
    let mut md = String::new();
    let _ = writeln!(
        md,
        "# Foundation study: transfer to {}\n\n{} seed(s) (each a K-subset and an initialisation), \
         {} steps per adaptation{}, learning rates {:?}{} chosen per arm, K and seed on `val`; \
         errors on the test splits (relative L2 over each trajectory, and PDEBench's nRMSE, \
         each frame normalised by its own norm), mean [min, max] over seeds.\n",
        s.target,
        s.seeds,
        s.steps,
        if s.patience > 0 {
            format!(
                " at most (early stopping: validated on `val` every {} steps, stopped after {} \
                 validations without improvement, best weights kept)",
                s.validate_every, s.patience
            )
        } else {
            String::new()
        },
        s.learning_rates,
        if s.arm_learning_rates.is_empty() {
            String::new()
        } else {
            format!(
                " ({})",
                s.arm_learning_rates
                    .iter()
                    .map(|(a, r)| format!("{a}: {r:?}"))
                    .collect::<Vec<_>>()
                    .join("; ")
            )
        }
    );
    let mut ks: Vec<usize> = s.shots.iter().chain(&s.scratch_shots).copied().collect();
    ks.sort_unstable();
    ks.dedup();
    let splits: Vec<&str> = ["test_interp", "test_extrap"]
        .into_iter()
        .filter(|sp| r.units.iter().any(|u| u.errors.contains_key(*sp)))
        .collect();
    for split in &splits {
        for (name, metric) in METRICS {
            let _ = writeln!(md, "## {name}, `{split}`\n");
            let _ = write!(md, "| K |");
            for a in arms {
                let _ = write!(md, " {} |", a.name);
            }
            let _ = writeln!(md, "\n|---|{}", "---|".repeat(arms.len()));
            for &k in &ks {
                let _ = write!(md, "| {k} |");
                for a in arms {
                    let (m, lo, hi) = cell(r, a, k, split, metric);
                    if m.is_nan() {
                        let _ = write!(md, " - |");
                    } else if s.seeds > 1 && a.strategy.is_some() {
                        let _ = write!(md, " {m:.4} [{lo:.4}, {hi:.4}] |");
                    } else {
                        let _ = write!(md, " {m:.4} |");
                    }
                }
                let _ = writeln!(md);
            }
            let _ = writeln!(md);
        }
    }
    let _ = writeln!(
        md,
        "## Accuracy gain AG_K = E_scratch(K) / E_arm(K) (`test_interp` rollout; ratio of \
         means [smallest, largest ratio of one seed])\n"
    );
    let others: Vec<&StudyArm> = arms.iter().filter(|a| !a.is_scratch()).collect();
    let _ = write!(md, "| K |");
    for a in &others {
        let _ = write!(md, " {} |", a.name);
    }
    let _ = writeln!(md, "\n|---|{}", "---|".repeat(others.len()));
    for &k in &s.shots {
        let _ = write!(md, "| {k} |");
        for a in &others {
            match r.accuracy_gain.get(&a.name).and_then(|m| m.get(&k)) {
                Some((g, lo, hi)) if g.is_finite() => {
                    let _ = write!(md, " {g:.2} [{lo:.2}, {hi:.2}] |");
                }
                _ => {
                    let _ = write!(md, " - |");
                }
            }
        }
        let _ = writeln!(md);
    }
    let eg_k = s.gain_shots();
    if let Some(k) = eg_k {
        let _ = writeln!(
            md,
            "\n## Efficiency gain EG = K_scratch / {k} (the K scratch needs for the arm's error at K = {k})\n"
        );
        let kmax = ks.last().copied().unwrap_or(k);
        let beyond = kmax as f64 / k as f64;
        for a in &others {
            let text = match r.efficiency_gain.get(&a.name) {
                Some(Some(g)) => format!("{g:.2}"),
                _ => format!("> {beyond:.1} (scratch does not reach it by K = {kmax})"),
            };
            let seeds = match r.efficiency_gain_per_seed.get(&a.name) {
                Some(v) if v.len() > 1 => format!(
                    "; per seed: {}",
                    v.iter()
                        .map(|g| g.map_or(format!("> {beyond:.1}"), |g| format!("{g:.2}")))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                _ => String::new(),
            };
            let _ = writeln!(md, "- {}: {text}{seeds}", a.name);
        }
    }
    let _ = writeln!(
        md,
        "\n## Chosen learning rates (per seed; `*`: at an end of the sweep, which may be too \
         narrow there; `@n`: early stopping kept the weights of step n)\n"
    );
    let trained: Vec<&StudyArm> = arms.iter().filter(|a| a.strategy.is_some()).collect();
    let _ = write!(md, "| K |");
    for a in &trained {
        let _ = write!(md, " {} |", a.name);
    }
    let _ = writeln!(md, "\n|---|{}", "---|".repeat(trained.len()));
    for &k in &ks {
        let _ = write!(md, "| {k} |");
        for a in &trained {
            let sweep = s.rates(&a.name);
            let lo = sweep.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = sweep.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let rates: Vec<String> = r
                .chosen
                .iter()
                .filter(|c| c.arm == a.name && c.shots == k)
                .map(|c| {
                    let kept = c.kept_step.map(|k| format!("@{k}")).unwrap_or_default();
                    match c.learning_rate {
                        Some(lr) if sweep.len() > 1 && (lr == lo || lr == hi) => {
                            format!("{lr:e}*{kept}")
                        }
                        Some(lr) => format!("{lr:e}{kept}"),
                        None => "diverged".into(),
                    }
                })
                .collect();
            let text = if rates.is_empty() {
                "-".to_string()
            } else {
                rates.join(" ")
            };
            let _ = write!(md, " {text} |");
        }
        let _ = writeln!(md);
    }
    let _ = writeln!(
        md,
        "\n## Compute (seconds on this machine; a resumed study counts each unit once)\n"
    );
    let mut total = 0.0;
    for (corpus, secs) in &r.pretrain_seconds {
        total += secs;
        let _ = writeln!(md, "- pretraining `{corpus}`: {secs:.0} s");
    }
    for a in arms {
        let mut secs: Vec<f64> = r
            .units
            .iter()
            .filter(|u| u.arm == a.name)
            .map(|u| u.seconds)
            .collect();
        secs.sort_by(f64::total_cmp);
        let sum: f64 = secs.iter().sum();
        total += sum;
        if let Some(median) = secs.get(secs.len() / 2) {
            let _ = writeln!(
                md,
                "- {}: {} units, {sum:.0} s (median {median:.1} s a unit)",
                a.name,
                secs.len()
            );
        }
    }
    let _ = writeln!(
        md,
        "- total: {:.2} h (data generation not included; meta-training counts in the first \
         unit of its arm that a run made)",
        total / 3600.0
    );
    let diverged: Vec<&Unit> = r.units.iter().filter(|u| u.diverged).collect();
    let _ = writeln!(
        md,
        "\n## Diverged runs (`val` rollout above {} or not finite; never chosen)\n",
        s.diverged_above
    );
    if diverged.is_empty() {
        let _ = writeln!(md, "None.");
    }
    for u in diverged {
        let _ = writeln!(
            md,
            "- {} K={} seed {} lr {:e}: val rollout {:.3e}",
            u.arm,
            u.shots,
            u.seed,
            u.learning_rate,
            u.errors.get("val").map_or(f64::NAN, |e| e.rollout_rel_l2)
        );
    }
    md
}

/// `error_vs_k.png` (every arm, seed bands) and `gain_vs_k.png`.
fn plots(r: &FoundationResults, arms: &[StudyArm], out: &Path) -> Result<()> {
    let mut ks: Vec<usize> = r
        .spec
        .shots
        .iter()
        .chain(&r.spec.scratch_shots)
        .copied()
        .collect();
    ks.sort_unstable();
    ks.dedup();
    let mut series = Vec::new();
    let mut bands = Vec::new();
    for a in arms {
        let own: Vec<usize> = if a.is_scratch() {
            ks.clone()
        } else {
            r.spec.shots.clone()
        };
        let cells: Vec<(f64, (f64, f64, f64))> = own
            .iter()
            .map(|&k| (k as f64, cell(r, a, k, "test_interp", METRICS[0].1)))
            .filter(|(_, c)| c.0.is_finite())
            .collect();
        series.push(Series {
            name: a.name.clone(),
            points: cells.iter().map(|(k, c)| (*k, c.0)).collect(),
            markers: false,
        });
        bands.push(cells.iter().map(|(k, c)| (*k, c.1, c.2)).collect());
    }
    let mut plot = LinePlot::log_log(
        format!("Transfer to {}: rollout error against K", r.spec.target),
        "target trajectories K",
        "test rollout relative L2",
        series,
    );
    plot.bands = bands;
    line_plot(&out.join("error_vs_k.png"), &plot, 900, 560)?;
    let gains: Vec<Series> = r
        .accuracy_gain
        .iter()
        .map(|(arm, m)| Series {
            name: arm.clone(),
            points: m.iter().map(|(k, g)| (*k as f64, g.0)).collect(),
            markers: false,
        })
        .collect();
    let gain = LinePlot::log_log(
        format!("Accuracy gain over scratch on {}", r.spec.target),
        "target trajectories K",
        "AG = E_scratch / E_arm",
        gains,
    );
    line_plot(&out.join("gain_vs_k.png"), &gain, 900, 560)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn efficiency_gain_reads_the_scratch_curve_on_log_axes() {
        // Scratch halves its error each time K quadruples: error 0.1 at K = 16.
        let curve = [(1, 0.4), (4, 0.2), (16, 0.1), (64, 0.05)];
        assert!((efficiency_gain(&curve, 0.1, 8).unwrap() - 2.0).abs() < 1e-12);
        // Between 16 and 64 on log axes: error 0.0707 at K = 32.
        let g = efficiency_gain(&curve, 0.1f64 / 2f64.sqrt(), 8).unwrap();
        assert!((g - 4.0).abs() < 1e-9, "{g}");
        // Scratch never gets there; or is already there at its smallest K.
        assert_eq!(efficiency_gain(&curve, 0.01, 8), None);
        assert_eq!(efficiency_gain(&curve, 0.5, 8), Some(1.0 / 8.0));
    }

    #[test]
    fn regimes_are_the_patterns_of_zero_coefficients() {
        let record = |params: Vec<f64>| physfm_data::TrajectoryRecord {
            fields: vec![0.0; 2],
            times: vec![0.0, 1.0],
            params,
        };
        let data = InMemoryCollection {
            meta: CollectionMeta {
                format_version: physfm_data::FORMAT_VERSION,
                name: "mix".into(),
                channel_names: vec!["u".into()],
                param_names: vec!["alpha".into(), "beta".into()],
                axis_names: vec!["x".into()],
                spatial_shape: vec![1],
                domain_lengths: vec![1.0],
                boundary: vec![physfm_data::AxisBoundary::PERIODIC],
                frames: 2,
                trajectories: 4,
                generator: "test".into(),
                seed: 0,
                provenance: serde_json::Value::Null,
            },
            coordinates: vec![vec![0.0]],
            records: vec![
                record(vec![1.0, 0.0]),
                record(vec![0.0, 0.2]),
                record(vec![2.0, 0.0]),
                record(vec![0.5, 0.1]),
            ],
        };
        let groups = zero_patterns(&data);
        let alphas: Vec<Vec<f64>> = groups
            .iter()
            .map(|g| g.records.iter().map(|r| r.params[0]).collect())
            .collect();
        assert_eq!(alphas, [vec![1.0, 2.0], vec![0.0], vec![0.5]]);
        assert_eq!(
            groups
                .iter()
                .map(|g| g.meta.trajectories)
                .collect::<Vec<_>>(),
            [2, 1, 1]
        );
    }

    #[test]
    fn arms_are_checked_against_corpora_and_strategies() {
        let spec = |arms: &str| -> FoundationSpec {
            toml::from_str(&format!(
                "target = \"t\"\nshots = [2]\nseeds = 1\nlearning_rates = [1e-3]\nsteps = 1\n\
                 arms = [{arms}]\n[[corpora]]\nname = \"a\"\nspec = \"a.toml\"\n"
            ))
            .unwrap()
        };
        let e = |arms: &str| spec(arms).arms().unwrap_err().to_string();
        assert!(e("\"scratch\", \"b:full\"").contains("no corpus `b`"));
        assert!(e("\"scratch\", \"a:fulll\"").contains("fulll"));
        assert!(e("\"scratch\", \"a:zero-shot\"").contains("head"));
        assert!(e("\"a:full\"").contains("need `scratch`"));
        assert!(e("\"scratch\", \"a:scratch\"").contains("name it `scratch`"));
        let arms = spec("\"scratch\", \"a:lora-r2\"").arms().unwrap();
        assert_eq!(arms[1].strategy, Some(Strategy::Lora { rank: 2 }));
    }
}
