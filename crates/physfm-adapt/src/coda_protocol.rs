//! The CoDA/LEADS multi-environment setting (Kirchmeyer et al., ICML 2022): meta-train CoDA on
//! the trajectories of a few training environments (PDE parameter values the model is never
//! told), then adapt to each new environment from one trajectory by fitting its context
//! alone, and score both on held-out trajectories by the mean squared error of the
//! autoregressive rollout from the first frame.
//!
//! The model is an FNO stepper ([`Stepper1d`]) of the data's dimension (a state without
//! spatial axes, such as Lotka-Volterra's, runs as one point, where the FNO is a residual
//! MLP); it steps from one saved frame to the next (CoDA integrates a neural ODE between
//! them instead). Inputs are normalised per channel and the network predicts the normalised
//! increment. Meta-training and adaptation are the library's ([`train_coda`],
//! [`adapt_coda`]), as for any surrogate; the rollouts are [`physfm_models::rollout`].

use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};
use physfm_data::InMemoryCollection;
use physfm_models::{
    Conditioning, Dynamics, FnoConfig, Normalization, Stepper1d, StepperConfig, rollout,
};
use physfm_train::{TrainConfig, TrainOptions, TrainReport, WindowDataset, frames_to_model};
use serde::{Deserialize, Serialize};

use crate::{Coda, CodaConfig, Environment, Result, adapt_coda, split_environments, train_coda};

/// What the protocol trains: the network, CoDA's sizes, and the two budgets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodaSetup {
    /// The network; its input and output channels are the data's field channels (the
    /// parameters are not inputs: the context stands in for them).
    pub model: FnoConfig,
    /// Context size and regularisation.
    pub coda: CodaConfig,
    /// Meta-training on the training environments.
    pub train: TrainConfig,
    /// Adaptation to each new environment (only its context trains).
    pub adapt: TrainConfig,
}

/// The score of one environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnvironmentScore {
    /// The environment's parameter values (in the collection's parameter order).
    pub params: Vec<f64>,
    /// Held-out trajectories scored.
    pub trajectories: usize,
    /// Mean squared error of the rollout from the first frame over every later frame, point
    /// and channel, in the data's units, averaged over the trajectories.
    pub mse: f64,
    /// The same with the context at zero (for new environments: before adaptation).
    pub mse_zero_context: f64,
    /// The environment's context after training or adaptation.
    pub context: Vec<f32>,
}

/// What [`coda_protocol`] measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CodaOutcome {
    /// Each training environment, scored on its held-out trajectories.
    pub in_domain: Vec<EnvironmentScore>,
    /// Each new environment after adaptation from its adaptation trajectories.
    pub adaptation: Vec<EnvironmentScore>,
    /// Mean of `in_domain`'s MSEs.
    pub in_domain_mse: f64,
    /// Mean of `adaptation`'s MSEs.
    pub adaptation_mse: f64,
    /// Mean of `adaptation`'s zero-context MSEs (the meta-trained model before adapting).
    pub adaptation_mse_before: f64,
    /// Meta-training's report.
    pub train_report: TrainReport,
    /// Seconds spent adapting, summed over the new environments.
    pub adapt_seconds: f64,
    /// Per new environment, the adapted model's rollout of its first held-out trajectory
    /// (for figures; not serialised).
    #[serde(skip)]
    pub examples: Vec<RolloutExample>,
}

/// A predicted rollout of one held-out trajectory.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RolloutExample {
    /// The environment's parameter values.
    pub params: Vec<f64>,
    /// Predicted frames `1..T` of the environment's first held-out trajectory, stored layout
    /// `[T - 1, *space, channel]`.
    pub predicted: Vec<f32>,
}

/// The four collections of the setting (CoDA's presets name them `train`, `train_test`,
/// `adapt`, `adapt_test`).
#[derive(Debug, Clone, Copy)]
pub struct CodaData<'a> {
    /// Training environments' trajectories.
    pub train: &'a InMemoryCollection,
    /// Held-out trajectories of the training environments.
    pub train_test: &'a InMemoryCollection,
    /// The new environments' adaptation trajectories.
    pub adapt: &'a InMemoryCollection,
    /// Held-out trajectories of the new environments.
    pub adapt_test: &'a InMemoryCollection,
}

/// Checks that the four collections share one layout and that the network fits it.
fn check(data: &CodaData<'_>, setup: &CodaSetup) -> Result<()> {
    let m = &data.train.meta;
    for (name, c) in [
        ("train_test", data.train_test),
        ("adapt", data.adapt),
        ("adapt_test", data.adapt_test),
    ] {
        let o = &c.meta;
        if o.channel_names != m.channel_names
            || o.spatial_shape != m.spatial_shape
            || o.param_names != m.param_names
        {
            return Err(crate::error::config_error(
                name,
                format!("{:?} on {:?}", o.channel_names, o.spatial_shape),
                format!(
                    "must have the training collection's channels {:?}, grid {:?} and parameters {:?}",
                    m.channel_names, m.spatial_shape, m.param_names
                ),
            ));
        }
        if c.records.is_empty() {
            return Err(crate::error::config_error(
                name,
                "0 trajectories",
                "needs trajectories",
            ));
        }
    }
    for (key, t) in [("train", &setup.train), ("adapt", &setup.adapt)] {
        if t.input_noise != 0.0 {
            return Err(crate::error::config_error(
                format!("{key}.input_noise"),
                t.input_noise.to_string(),
                "the CoDA protocol trains on clean inputs; set it to 0",
            ));
        }
    }
    let c = m.channel_names.len();
    let cfg = &setup.model;
    if cfg.in_channels != c || cfg.out_channels != c {
        return Err(crate::error::config_error(
            "model.in_channels/out_channels",
            format!("{}/{}", cfg.in_channels, cfg.out_channels),
            format!("must both be the data's {c} field channels"),
        ));
    }
    let dims = m.spatial_shape.len().max(1);
    if cfg.n_modes.len() != dims {
        return Err(crate::error::config_error(
            "model.n_modes",
            format!("{:?}", cfg.n_modes),
            format!("needs one mode count per spatial axis ({dims})"),
        ));
    }
    Ok(())
}

/// Per-channel statistics of the training windows, without parameter channels.
fn normalization(train: &InMemoryCollection) -> Result<Normalization> {
    let pairs = WindowDataset::pairs(train, 1)?;
    let mut norm = pairs.normalization(vec![false; pairs.n_params])?;
    norm.param_names.clear();
    norm.param_log.clear();
    norm.param_mean.clear();
    norm.param_std.clear();
    Ok(norm)
}

/// Mean squared rollout error of `model` over the trajectories of `data`: each starts from
/// its first `history` frames and steps to its last; the error covers every later frame,
/// point and channel.
pub fn rollout_mse<M: Dynamics>(model: &M, data: &InMemoryCollection, device: &Device) -> f64 {
    rollout_of(model, data, device).0
}

/// [`rollout_mse`], and the first trajectory's predicted frames in the stored layout
/// `[T - history, *space, channel]`.
fn rollout_of<M: Dynamics>(
    model: &M,
    data: &InMemoryCollection,
    device: &Device,
) -> (f64, Vec<f32>) {
    let m = &data.meta;
    let (n, c, t, h) = (
        m.spatial_shape.iter().product::<usize>(),
        m.channel_names.len(),
        m.frames,
        model.history(),
    );
    let fl = n * c;
    let b = data.records.len();
    let mut first = Vec::with_capacity(b * h * fl);
    for r in &data.records {
        frames_to_model(&r.fields[..h * fl], n, c, &mut first);
    }
    let frames = Tensor::<4>::from_data(TensorData::new(first, [b, h, c, n]), device);
    let dt: Vec<f64> = data
        .records
        .iter()
        .map(|r| r.times[h] - r.times[h - 1])
        .collect();
    let cond = Conditioning::new(dt);
    // [b, t - h, c, n] in model layout.
    let pred: Vec<f32> = rollout(model, frames, &m.spatial_shape, &cond, t - h)
        .into_data()
        .try_to_vec::<f32>()
        .expect("f32 states");
    let stored = physfm_train::frames_to_stored(&pred, b * (t - h), c, n);
    let per = (t - h) * fl;
    let total: f64 = data
        .records
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let truth = &r.fields[h * fl..t * fl];
            stored[i * per..(i + 1) * per]
                .iter()
                .zip(truth)
                .map(|(&p, &q)| (p as f64 - q as f64).powi(2))
                .sum::<f64>()
                / per as f64
        })
        .sum();
    (total / b as f64, stored[..per].to_vec())
}

fn context_of(coda: &Coda<Stepper1d>, env: usize) -> Vec<f32> {
    coda.contexts
        .val()
        .narrow(0, env, 1)
        .into_data()
        .try_to_vec::<f32>()
        .expect("f32 context")
}

fn mean(scores: &[EnvironmentScore], f: impl Fn(&EnvironmentScore) -> f64) -> f64 {
    scores.iter().map(f).sum::<f64>() / scores.len().max(1) as f64
}

/// Runs the setting: meta-trains CoDA on `data.train`'s environments (one per distinct
/// parameter vector), scores each on its trajectories in `data.train_test`, adapts a new
/// context to each environment of `data.adapt` and scores it on `data.adapt_test`.
///
/// `device` must be an autodiff device; `options` apply to meta-training (progress bar, log,
/// checkpoints and resumption); adaptation runs without checkpoints.
///
/// # Errors
/// Collections that do not share channels, grid and parameters, a network that does not fit
/// them, a held-out environment with no training or adaptation counterpart, and every
/// training error (a non-finite loss, a bad configuration).
pub fn coda_protocol(
    data: CodaData<'_>,
    setup: &CodaSetup,
    device: &Device,
    options: &TrainOptions,
) -> Result<CodaOutcome> {
    check(&data, setup)?;
    let norm = normalization(data.train)?;
    let model = Stepper1d::new(StepperConfig::new(setup.model.clone(), true), norm, device)
        .map_err(physfm_train::TrainError::from)?;
    let horizon = setup.train.objective.horizon();
    let envs = split_environments(data.train);
    let windows: Vec<WindowDataset> = envs
        .iter()
        .map(|(_, c)| WindowDataset::from_collection(c, horizon, 1))
        .collect::<std::result::Result<_, _>>()?;
    let (coda, train_report) = train_coda(
        model,
        &setup.coda,
        &Environment::regimes(&windows),
        &setup.train,
        device,
        options,
    )?;

    let plain = device.clone().inner();
    let eval = coda.valid();
    // The meta-trained network with its context at zero, the same for every environment.
    let zero_context = eval.network(Tensor::<2>::zeros([1, setup.coda.context_dim], &plain));
    let mut in_domain = Vec::new();
    for (params, test) in split_environments(data.train_test) {
        let e = envs.iter().position(|(p, _)| *p == params).ok_or_else(|| {
            crate::error::config_error(
                "train_test",
                format!("{params:?}"),
                "a held-out environment that is not a training environment",
            )
        })?;
        in_domain.push(EnvironmentScore {
            trajectories: test.records.len(),
            mse: rollout_mse(&eval.environment(e), &test, &plain),
            mse_zero_context: rollout_mse(&zero_context, &test, &plain),
            context: context_of(&eval, e),
            params,
        });
    }

    let adapt_tests = split_environments(data.adapt_test);
    let mut adaptation = Vec::new();
    let mut adapt_seconds = 0.0;
    let mut examples = Vec::new();
    for (params, shots) in split_environments(data.adapt) {
        let test = &adapt_tests
            .iter()
            .find(|(p, _)| *p == params)
            .ok_or_else(|| {
                crate::error::config_error(
                    "adapt_test",
                    format!("{params:?}"),
                    "has no held-out trajectories of this adaptation environment",
                )
            })?
            .1;
        let w = WindowDataset::from_collection(&shots, setup.adapt.objective.horizon(), 1)?;
        let (adapted, report) = adapt_coda(
            coda.clone(),
            &setup.coda,
            &w,
            0,
            &[],
            &setup.adapt,
            device,
            &TrainOptions::default(),
        )?;
        adapt_seconds += report.seconds;
        let adapted = adapted.valid();
        let (mse, predicted) = rollout_of(&adapted.network(), test, &plain);
        examples.push(RolloutExample {
            params: params.clone(),
            predicted,
        });
        adaptation.push(EnvironmentScore {
            trajectories: test.records.len(),
            mse,
            mse_zero_context: rollout_mse(&zero_context, test, &plain),
            context: adapted
                .context
                .val()
                .into_data()
                .try_to_vec::<f32>()
                .expect("f32 context"),
            params,
        });
    }
    Ok(CodaOutcome {
        in_domain_mse: mean(&in_domain, |s| s.mse),
        adaptation_mse: mean(&adaptation, |s| s.mse),
        adaptation_mse_before: mean(&adaptation, |s| s.mse_zero_context),
        in_domain,
        adaptation,
        train_report,
        adapt_seconds,
        examples,
    })
}
