//! # physfm-eval
//!
//! The metric suite of the field on arrays laid out `[batch, time, *space, channel]`
//! ([`metric_suite`], per channel and time step): PDEBench's RMSE, nRMSE, cRMSE, bRMSE, max
//! error and fRMSE bands, The Well's VRMSE, neuraloperator's relative L2 and H1 errors, each
//! checked against the reference libraries' own code (`cargo xtask parity metrics`);
//! rollout curves and [`time_to_threshold`]; evaluation of one-step surrogates
//! ([`evaluate`], any model of any dimension: one-step error, autoregressive rollouts, error
//! per trajectory and so against the PDE parameters), and report figures ([`line_plot`],
//! [`space_time_panels`]).
//!
//! ```
//! // Two samples, one step, three points, one channel.
//! let pred = [1.0, 2.0, 3.0, 0.0, 0.0, 0.0];
//! let target = [1.0, 1.0, 1.0, 2.0, 0.0, 0.0];
//! let v = physfm_eval::nrmse(&pred, &target, &[2, 1, 3, 1])?;
//! assert!((v - ((5.0f64 / 3.0).sqrt() + 1.0) / 2.0).abs() < 1e-12);
//! # Ok::<(), physfm_eval::EvalError>(())
//! ```

mod error;
mod evaluate;
mod foundation;
mod metrics;
mod plots;
mod pretrain;
mod protocols;
mod run_reports;
mod suite;
mod sweep_reports;
mod transfer;
mod transfer_study;

pub use error::{EvalError, Result};
pub use evaluate::{
    Predictions, StepperEvaluation, TrajectoryScore, evaluate, predictions, rollout_predictions,
    rollouts,
};
pub use foundation::{
    Chosen, Corpus, FoundationResults, FoundationSpec, StudyArm, Unit, efficiency_gain,
    foundation_study,
};
pub use metrics::{MetricShape, nrmse, nrmse_per_sample, nrmse_per_time_channel, rmse};
pub use plots::{LinePlot, Series, SpaceTimeField, line_plot, snapshot_panels, space_time_panels};
pub use pretrain::{
    DatasetEntry, DatasetScore, DatasetSummary, ModelSpec, Presets, PretrainOptions,
    PretrainOutcome, PretrainReport, PretrainSpec, keep_every_frame, named_spec, pretrain,
};
pub use protocols::{
    Arm, FewShotData, FewShotPoint, FewShotProtocol, ParameterPoint, ParameterProtocol, Region,
    RegionSummary, ResolutionPoint, few_shot_protocol, parameter_protocol, resolution_protocol,
    subsample, summarise_parameter,
};
pub use run_reports::{RUN_KINDS, training_curves, write_other_report};
pub use suite::{
    FourierBands, METRIC_NAMES, MetricGrid, MetricOptions, MetricSuite, PdebenchMetrics,
    RELATIVE_EPS, VRMSE_EPS, metric_suite, pdebench_metrics, time_to_threshold,
};
pub use sweep_reports::{k_sweep_report, scaling_report};
pub use transfer::{
    ParamTransform, RolloutScores, TransferScore, adaptation_budget, random_subset, rollout_errors,
    rollout_rel_l2, rollout_scores, transfer_protocol, transfer_train,
};
pub use transfer_study::{
    TransferPoint, TransferStudy, transfer_mean, transfer_study, transfer_table,
};
