//! # physfm-eval
//!
//! Metrics with PDEBench's definitions ([`nrmse`], [`rmse`], and the whole suite in
//! [`pdebench_metrics`]: cRMSE, bRMSE, max error, fRMSE bands) on arrays laid out
//! `[batch, time, *space, channel]`, evaluation of one-step surrogates
//! ([`evaluate_stepper`]: one-step error, autoregressive rollouts, error per trajectory and
//! so against the PDE parameters), and report figures ([`line_plot`],
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
mod metrics;
mod pdebench;
mod plots;

pub use error::{EvalError, Result};
pub use evaluate::{StepperEvaluation, TrajectoryScore, evaluate_stepper, rollouts};
pub use metrics::{MetricShape, nrmse, nrmse_per_sample, nrmse_per_time_channel, rmse};
pub use pdebench::{FourierBands, PdebenchMetrics, pdebench_metrics};
pub use plots::{LinePlot, Series, SpaceTimeField, line_plot, space_time_panels};
