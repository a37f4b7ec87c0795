//! `cargo xtask adapt`: adapts a pretrained model to a target preset's new dynamics from K
//! trajectories with one strategy, or (`--sweep`) runs every strategy for K in
//! {1, 2, 4, 8, 16} against training from scratch, and writes a table and a plot of error
//! against K.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use burn::tensor::Device;
use physfm_adapt::{Environment, MetaConfig, STRATEGIES, Strategy, meta_train, split_environments};
use physfm_data::{InMemoryCollection, TrajectoryCollection};
use physfm_eval::{Arm, FewShotData, FewShotPoint, LinePlot, Series, few_shot_protocol, line_plot};
use physfm_models::Stepper1d;
use physfm_train::{Objective, TrainConfig};

use crate::generate::{generate_split, load_preset};
use crate::workspace::{workspace_root, write_atomic};

/// Adapt a pretrained model to new dynamics from a few trajectories, and compare strategies.
#[derive(Debug, clap::Args)]
pub(crate) struct Adapt {
    /// Pretrained model directory (config.json + model.safetensors), e.g. runs/quickstart/model.
    #[arg(long)]
    model: PathBuf,
    /// Target preset (datasets/<name>.toml) with an `adapt` pool and an `adapt_test` split.
    #[arg(long, default_value = "physfm_burgers1d_adapt")]
    target: String,
    /// Adaptation trajectories K (comma-separated for several).
    #[arg(long, value_delimiter = ',')]
    shots: Vec<usize>,
    /// Strategies (comma-separated): full, head, heads, lora, lora-r<N>, leads, in-context
    /// (no training: the K trajectories correct the frozen model's steps), scratch; and,
    /// with --meta-data, coda and reptile.
    #[arg(long, value_delimiter = ',')]
    strategy: Vec<String>,
    /// A collection (Zarr) of the pretraining dynamics whose parameter values are the
    /// environments over which `coda`, `leads` and `reptile` meta-train first (for --steps
    /// steps, from the pretrained model); without it `leads` adapts the plain pretrained
    /// model and `coda` and `reptile` are refused.
    #[arg(long)]
    meta_data: Option<PathBuf>,
    /// Every strategy for K in 1, 2, 4, 8, 16 (unless --shots / --strategy narrow it).
    #[arg(long)]
    sweep: bool,
    /// Optimiser steps per adaptation: the fixed budget.
    #[arg(long, default_value_t = 300)]
    steps: usize,
    /// Windows per batch.
    #[arg(long, default_value_t = 16)]
    batch_size: usize,
    /// Peak learning rate for every strategy (default: each strategy's own).
    #[arg(long)]
    learning_rate: Option<f64>,
    /// Training objective: `one-step`, `rollout:K` or `pushforward:K`.
    #[arg(long, default_value = "one-step", value_parser = parse_objective)]
    objective: Objective,
    /// Seed of batch sampling (and of the fresh weights of `scratch`).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Where the target's collections are (generated there if missing); default
    /// data/<target>.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Output directory; default runs/adapt/<target>.
    #[arg(long)]
    out: Option<PathBuf>,
}

fn parse_objective(s: &str) -> Result<Objective, String> {
    let steps = |v: &str| {
        v.parse::<usize>()
            .ok()
            .filter(|&k| k > 0)
            .ok_or_else(|| format!("`{v}` is not a positive step count"))
    };
    match s.split_once(':') {
        None if s == "one-step" => Ok(Objective::OneStep),
        Some(("rollout", k)) => Ok(Objective::Rollout { steps: steps(k)? }),
        Some(("pushforward", k)) => Ok(Objective::Pushforward { steps: steps(k)? }),
        _ => Err(format!(
            "`{s}`: expected one-step, rollout:K or pushforward:K"
        )),
    }
}

/// The sweep's shot counts.
const SWEEP_SHOTS: [usize; 5] = [1, 2, 4, 8, 16];

fn load(path: &Path) -> anyhow::Result<InMemoryCollection> {
    let c = TrajectoryCollection::open(path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    Ok(InMemoryCollection::load(&c)?)
}

/// Checks that `data` can feed `model`: same channels and parameters.
fn check_target(model: &Stepper1d, data: &InMemoryCollection) -> anyhow::Result<()> {
    let m = &data.meta;
    if m.spatial_shape.len() != 1 {
        bail!(
            "target `{}` is {}-dimensional; the 1D stepper needs 1D data",
            m.name,
            m.spatial_shape.len()
        );
    }
    if m.channel_names.len() != model.channels() {
        bail!(
            "target `{}` has {} channels ({}); the model takes {}",
            m.name,
            m.channel_names.len(),
            m.channel_names.join(", "),
            model.channels()
        );
    }
    if m.param_names != model.norm.param_names {
        bail!(
            "target `{}` has parameters [{}]; the model is conditioned on [{}]",
            m.name,
            m.param_names.join(", "),
            model.norm.param_names.join(", ")
        );
    }
    Ok(())
}

impl Adapt {
    pub(crate) fn run(self) -> anyhow::Result<()> {
        let root = workspace_root();
        let shots = match (self.shots.is_empty(), self.sweep) {
            (false, _) => self.shots.clone(),
            (true, true) => SWEEP_SHOTS.to_vec(),
            (true, false) => bail!("give --shots K (or --sweep)"),
        };
        let names: Vec<String> = match (self.strategy.is_empty(), self.sweep) {
            (false, _) => self.strategy.clone(),
            (true, true) => STRATEGIES
                .iter()
                .filter(|s| {
                    self.meta_data.is_some()
                        || !s.parse::<Strategy>().is_ok_and(|s| s.meta_trained())
                })
                .map(|s| s.to_string())
                .collect(),
            (true, false) => bail!("give --strategy S (or --sweep)"),
        };
        if let Some(lr) = self.learning_rate
            && !(lr.is_finite() && lr > 0.0)
        {
            bail!("--learning-rate must be positive, got {lr}")
        }
        let strategies: Vec<(Strategy, f64)> = names
            .iter()
            .map(|n| {
                let s: Strategy = n.parse()?;
                Ok((s, self.learning_rate.unwrap_or(s.learning_rate())))
            })
            .collect::<Result<_, physfm_adapt::AdaptError>>()?;
        let (preset, _) = load_preset(&self.target)?;
        for split in ["adapt", "adapt_test"] {
            if !preset.splits.contains_key(split) {
                bail!(
                    "target preset `{}` has no `{split}` split (splits: {})",
                    preset.name,
                    preset.splits.keys().cloned().collect::<Vec<_>>().join(", ")
                );
            }
        }
        let data_dir = self
            .data
            .clone()
            .unwrap_or_else(|| root.join("data").join(&preset.name));
        let out = self
            .out
            .clone()
            .unwrap_or_else(|| root.join("runs/adapt").join(&preset.name));
        std::fs::create_dir_all(&out)
            .with_context(|| format!("cannot create {}", out.display()))?;

        println!(
            "physfm adapt: {} -> {} ({} threads)",
            self.model.display(),
            preset.name,
            rayon::current_num_threads()
        );
        let mut collections = Vec::new();
        for split in ["adapt", "adapt_test"] {
            let path = data_dir.join(format!("{split}.zarr"));
            let r = generate_split(&preset, split, &path, true)?;
            if r.generated > 0 {
                println!(
                    "  generated {} {split} trajectories in {:.1} s",
                    r.generated, r.seconds
                );
            }
            collections.push(load(&path)?);
        }
        let (pool, test) = (&collections[0], &collections[1]);
        let device = Device::flex().autodiff();
        device.seed(self.seed);
        let model = Stepper1d::load(&self.model, &device)
            .with_context(|| format!("cannot load the model in {}", self.model.display()))?;
        check_target(&model, pool)?;
        let budget = TrainConfig {
            seed: self.seed,
            objective: self.objective,
            log_every: self.steps.clamp(1, 50),
            ..TrainConfig::new(self.steps, self.batch_size, 1e-3)
        };
        budget.validate("adapt")?;
        println!(
            "  budget: {} steps of {} windows; pool {} trajectories, test {}",
            self.steps,
            self.batch_size,
            pool.records.len(),
            test.records.len()
        );
        println!(
            "  {:<16} {:>5} {:>12} {:>12} {:>12} {:>10} {:>8}",
            "strategy", "K", "one-step", "rollout", "final step", "trained", "seconds"
        );
        let show = |p: &FewShotPoint| {
            println!(
                "  {:<16} {:>5} {:>12.4e} {:>12.4e} {:>12.4e} {:>10} {:>8.1}",
                p.strategy,
                p.shots,
                p.one_step_nrmse,
                p.rollout_nrmse,
                p.final_nrmse,
                p.trainable_params,
                p.seconds
            )
        };
        let meta = MetaConfig::default();
        // The meta-training environments, read once if some strategy meta-trains.
        let envs: Vec<_> = match &self.meta_data {
            Some(path) if strategies.iter().any(|(s, _)| s.meta_trained()) => {
                split_environments(&load(path)?)
                    .iter()
                    .map(|(_, c)| {
                        physfm_train::WindowDataset::with_history(c, model.history(), 1, 1)
                    })
                    .collect::<Result<_, _>>()?
            }
            _ => Vec::new(),
        };
        let mut arms = Vec::with_capacity(strategies.len());
        for &(s, lr) in &strategies {
            let mut arm = Arm::new(s, lr);
            if let (true, Some(path)) = (s.meta_trained(), &self.meta_data) {
                println!(
                    "  meta-training `{s}` over {} environments of {}",
                    envs.len(),
                    path.display()
                );
                let cfg = TrainConfig {
                    learning_rate: lr,
                    ..budget.clone()
                };
                let (prior, r) = meta_train(
                    model.clone(),
                    s,
                    &Environment::regimes(&envs),
                    &cfg,
                    &meta,
                    &device,
                    &physfm_train::TrainOptions::default(),
                )?;
                println!("  done in {:.1} s", r.seconds);
                arm.prior = Some(prior);
            }
            arms.push(arm);
        }
        let result = few_shot_protocol(
            &model,
            &arms,
            FewShotData { pool, test },
            &shots,
            &budget,
            &meta,
            &device,
            &mut |p| show(p),
        )?;
        show(&result.zero_shot);

        let command = format!(
            "cargo xtask adapt --model {} --target {} --shots {} --strategy {} --steps {} --batch-size {} --seed {} --objective {}{}{}",
            self.model.display(),
            preset.name,
            shots
                .iter()
                .map(|k| k.to_string())
                .collect::<Vec<_>>()
                .join(","),
            names.join(","),
            self.steps,
            self.batch_size,
            self.seed,
            match self.objective {
                Objective::OneStep => "one-step".to_string(),
                Objective::Rollout { steps } => format!("rollout:{steps}"),
                Objective::Pushforward { steps } => format!("pushforward:{steps}"),
            },
            self.learning_rate
                .map(|lr| format!(" --learning-rate {lr}"))
                .unwrap_or_default(),
            self.meta_data
                .as_ref()
                .map(|p| format!(" --meta-data {}", p.display()))
                .unwrap_or_default()
        );
        let json = serde_json::json!({
            "command": command,
            "model": self.model,
            "target": preset.name,
            "budget": budget,
            "strategies": strategies.iter().map(|(s, lr)| serde_json::json!({"name": s.to_string(), "trains": s.trains(), "learning_rate": lr})).collect::<Vec<_>>(),
            "zero_shot": result.zero_shot,
            "points": result.points,
        });
        write_atomic(
            &out.join("fewshot.json"),
            serde_json::to_string_pretty(&json)?.as_bytes(),
        )?;
        let md = table(&command, &result.zero_shot, &result.points, &names, &shots);
        write_atomic(&out.join("fewshot.md"), md.as_bytes())?;
        if shots.len() > 1 {
            plot(
                &out.join("fewshot.png"),
                &result.zero_shot,
                &result.points,
                &preset.name,
            )?;
            println!("  figure {}", out.join("fewshot.png").display());
        }
        println!("  table  {}", out.join("fewshot.md").display());
        println!("  json   {}", out.join("fewshot.json").display());
        Ok(())
    }
}

/// Markdown tables: rollout and one-step nRMSE per strategy (rows) and K (columns).
fn table(
    command: &str,
    zero: &FewShotPoint,
    points: &[FewShotPoint],
    names: &[String],
    shots: &[usize],
) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# Few-shot adaptation\n\n`{command}`\n");
    let _ = writeln!(
        s,
        "Pretrained model without adaptation: one-step nRMSE {:.4}, rollout nRMSE {:.4} (final step {:.4}).\n",
        zero.one_step_nrmse, zero.rollout_nrmse, zero.final_nrmse
    );
    for (title, get) in [
        (
            "Rollout nRMSE (mean over steps) on the test split",
            (|p: &FewShotPoint| p.rollout_nrmse) as fn(&FewShotPoint) -> f64,
        ),
        ("One-step nRMSE on the test split", |p| p.one_step_nrmse),
    ] {
        let _ = writeln!(s, "## {title}\n");
        let _ = write!(s, "| strategy |");
        for k in shots {
            let _ = write!(s, " K={k} |");
        }
        let _ = write!(s, "\n|---|");
        for _ in shots {
            let _ = write!(s, "---:|");
        }
        s.push('\n');
        for n in names {
            let label = points
                .iter()
                .find(|p| {
                    n.parse::<Strategy>()
                        .is_ok_and(|st| st.to_string() == p.strategy)
                })
                .map(|p| p.strategy.clone())
                .unwrap_or_else(|| n.clone());
            let _ = write!(s, "| {label} |");
            for k in shots {
                match points.iter().find(|p| p.strategy == label && p.shots == *k) {
                    Some(p) => {
                        let _ = write!(s, " {:.4} |", get(p));
                    }
                    None => s.push_str(" - |"),
                }
            }
            s.push('\n');
        }
        s.push('\n');
    }
    s
}

/// Rollout nRMSE against K on log axes, one line per strategy, the pretrained model's
/// zero-shot error as a flat reference line.
fn plot(
    path: &Path,
    zero: &FewShotPoint,
    points: &[FewShotPoint],
    target: &str,
) -> anyhow::Result<()> {
    let mut names: Vec<&str> = Vec::new();
    for p in points {
        if !names.contains(&p.strategy.as_str()) {
            names.push(&p.strategy);
        }
    }
    let mut series: Vec<Series> = names
        .iter()
        .map(|name| Series {
            name: name.to_string(),
            points: points
                .iter()
                .filter(|p| p.strategy == *name)
                .map(|p| (p.shots as f64, p.rollout_nrmse))
                .collect(),
            markers: false,
        })
        .collect();
    let ks: Vec<f64> = points.iter().map(|p| p.shots as f64).collect();
    let (lo, hi) = ks
        .iter()
        .fold((f64::INFINITY, 0.0f64), |(a, b), &k| (a.min(k), b.max(k)));
    series.push(Series {
        name: "pretrained, no adaptation".into(),
        points: vec![(lo, zero.rollout_nrmse), (hi, zero.rollout_nrmse)],
        markers: false,
    });
    line_plot(
        path,
        &LinePlot::log_log(
            format!("Few-shot adaptation to {target}"),
            "adaptation trajectories K",
            "rollout nRMSE on the test split",
            series,
        ),
        900,
        560,
    )?;
    Ok(())
}
