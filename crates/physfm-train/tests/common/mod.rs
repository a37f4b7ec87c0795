//! A tiny parametric Burgers collection shared by the training tests.

use physfm_data::{CollectionMeta, FORMAT_VERSION, InMemoryCollection, TrajectoryRecord};
use physfm_pde::{Burgers1dConfig, SumOfSines};

/// One trajectory per viscosity in `nus`: 11 frames of 32 points up to t = 0.5, initial
/// conditions of up to `waves` sine waves.
pub(crate) fn tiny_burgers(nus: &[f64], waves: usize) -> InMemoryCollection {
    let family = Burgers1dConfig {
        resolution: 128,
        stored_resolution: 32,
        length: 1.0,
        t_end: 0.5,
        frames: 11,
        initial: SumOfSines {
            waves,
            max_wavenumber: waves,
            amplitude: 1.0,
        },
    };
    let records = nus
        .iter()
        .enumerate()
        .map(|(i, &nu)| {
            let t = family.generate(nu, i as u64).unwrap();
            TrajectoryRecord {
                fields: t.values.iter().map(|&v| v as f32).collect(),
                times: t.times,
                params: vec![nu],
            }
        })
        .collect();
    InMemoryCollection {
        meta: CollectionMeta {
            format_version: FORMAT_VERSION,
            name: "burgers1d".into(),
            channel_names: vec!["u".into()],
            param_names: vec!["nu".into()],
            axis_names: vec!["x".into()],
            spatial_shape: vec![32],
            domain_lengths: vec![1.0],
            boundary: vec![physfm_data::AxisBoundary::PERIODIC],
            frames: 11,
            trajectories: nus.len(),
            generator: "test".into(),
            seed: 0,
            provenance: serde_json::Value::Null,
        },
        coordinates: vec![family.stored_coordinates()],
        records,
    }
}
