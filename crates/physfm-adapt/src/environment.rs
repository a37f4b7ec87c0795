//! Training environments of meta-training: their windows and dataset ([`Environment`]), a
//! collection split into environments by parameter values ([`split_environments`]), and the
//! checks and batch loss every meta-learning method shares.

use burn::tensor::{Device, Tensor};
use physfm_data::{CollectionMeta, InMemoryCollection};
use physfm_train::{ChaCha8Rng, TrainConfig, WindowDataset, unroll_loss};

use crate::Result;

/// One training environment of meta-training: its windows, and the model's dataset they
/// belong to. Environments of one physics (parameter regimes, as in CoDA's and LEADS's
/// papers) share a dataset; the physics of a multi-physics pretraining are each their own.
#[derive(Debug, Clone, Copy)]
pub struct Environment<'a> {
    /// Its windows.
    pub windows: &'a WindowDataset,
    /// The model's dataset index.
    pub dataset: usize,
}

impl<'a> Environment<'a> {
    /// Parameter regimes of one physics: every window set is an environment of dataset 0.
    pub fn regimes(windows: &'a [WindowDataset]) -> Vec<Self> {
        windows
            .iter()
            .map(|windows| Self {
                windows,
                dataset: 0,
            })
            .collect()
    }

    /// The physics of a multi-physics model: window set `k` is dataset `k`.
    pub fn physics(windows: &'a [WindowDataset]) -> Vec<Self> {
        windows
            .iter()
            .enumerate()
            .map(|(dataset, windows)| Self { windows, dataset })
            .collect()
    }
}

/// The collection split into environments: one per distinct parameter vector, in order of
/// first appearance, with that vector.
pub fn split_environments(data: &InMemoryCollection) -> Vec<(Vec<f64>, InMemoryCollection)> {
    let mut envs: Vec<(Vec<f64>, InMemoryCollection)> = Vec::new();
    for r in &data.records {
        match envs.iter_mut().find(|(p, _)| *p == r.params) {
            Some((_, c)) => {
                c.records.push(r.clone());
                c.meta.trajectories += 1;
            }
            None => envs.push((
                r.params.clone(),
                InMemoryCollection {
                    meta: CollectionMeta {
                        trajectories: 1,
                        ..data.meta.clone()
                    },
                    coordinates: data.coordinates.clone(),
                    records: vec![r.clone()],
                },
            )),
        }
    }
    envs
}

/// Refuses an empty environment list, an environment without windows, and windows of another
/// history than the model's `history` input frames.
pub(crate) fn check_environments(
    key: &str,
    environments: &[Environment<'_>],
    history: usize,
) -> Result<()> {
    if environments.is_empty() || environments.iter().any(|e| e.windows.is_empty()) {
        return Err(crate::error::config_error(
            key,
            format!("{} environments", environments.len()),
            "every environment needs windows",
        ));
    }
    for env in environments {
        env.windows.check_history(history)?;
    }
    Ok(())
}

/// The loss of `model` on a batch of `env`'s windows under `train`'s objective and loss.
pub(crate) fn environment_loss<M: physfm_models::Dynamics>(
    model: &M,
    env: &Environment<'_>,
    train: &TrainConfig,
    rng: &mut ChaCha8Rng,
    device: &Device,
) -> Tensor<1> {
    let w = env.windows;
    unroll_loss(
        model,
        w.sample(train.batch_size, rng, device),
        &w.spatial_shape,
        env.dataset,
        train.objective,
        train.loss,
        &w.geometry,
    )
}
