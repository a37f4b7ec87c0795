//! The metric suite against the reference libraries' own code: PDEBench's `metric_func`,
//! The Well's `VRMSE`, neuraloperator's `LpLoss` and `H1Loss`, evaluated by
//! `cargo xtask parity metrics` (xtask/parity/metrics.py) on arrays drawn from a splitmix64
//! generator that this test redraws bit for bit.

use physfm_eval::{METRIC_NAMES, MetricOptions, metric_suite};
use serde_json::Value;

const FIXTURE: &str = include_str!("../fixtures/metric_reference.json");

/// `count` uniforms in [0, 1) with 24 random bits, as the Python script draws them.
fn splitmix64(seed: u64, count: usize) -> Vec<f64> {
    let mut state = seed;
    (0..count)
        .map(|_| {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            (z >> 40) as f64 / (1u64 << 24) as f64
        })
        .collect()
}

fn draw(dims: &[usize], seed: u64) -> (Vec<f32>, Vec<f32>) {
    let n: usize = dims.iter().product();
    let nc = dims[dims.len() - 1];
    let (u, v) = (splitmix64(seed, n), splitmix64(seed + 1, n));
    let target: Vec<f32> = u
        .iter()
        .enumerate()
        .map(|(i, u)| (2.0 * u - 1.0 + 0.5 * (i % nc) as f64) as f32)
        .collect();
    let pred = target
        .iter()
        .zip(&v)
        .map(|(t, v)| (*t as f64 + (2.0 * v - 1.0) / 8.0) as f32)
        .collect();
    (pred, target)
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().unwrap_or(f64::NAN))
        .collect()
}

/// Relative difference, NaN against NaN counting as equal.
fn rel_diff(ours: f64, theirs: f64) -> f64 {
    if ours.is_nan() && theirs.is_nan() {
        0.0
    } else {
        (ours - theirs).abs() / theirs.abs().max(1e-12)
    }
}

#[test]
fn every_metric_matches_the_reference_libraries() {
    let doc: Value = serde_json::from_str(FIXTURE).unwrap();
    let mut worst = vec![0.0f64; METRIC_NAMES.len()];
    let mut compared = 0;
    for case in doc["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let dims: Vec<usize> = floats(&case["dims"]).iter().map(|&d| d as usize).collect();
        let (pred, target) = draw(&dims, case["seed"].as_u64().unwrap());
        for (what, a) in [("pred", &pred), ("target", &target)] {
            let sum: f64 = a.iter().map(|&v| v as f64).sum();
            let expect = case["checksum"][what].as_f64().unwrap();
            assert!(
                (sum - expect).abs() <= 1e-9 * expect.abs().max(1.0),
                "{name}: the redrawn {what} differs from the script's ({sum} vs {expect})"
            );
        }
        let periodic: Vec<bool> = case["periodic"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_bool().unwrap())
            .collect();
        let options = MetricOptions::unit(dims.len() - 3)
            .with_lengths(&floats(&case["lengths"]))
            .with_periodic(&periodic);
        let suite = metric_suite(&pred, &target, &dims, &options).unwrap();
        for (k, (metric, grid)) in suite.grids().into_iter().enumerate() {
            let Some(reference) = case["reference"].get(metric) else {
                continue; // PDEBench cannot compute it for this case (noted in the fixture)
            };
            let reference = floats(reference);
            assert_eq!(
                grid.values.len(),
                reference.len(),
                "{name} {metric}: grid size"
            );
            for (i, (o, r)) in grid.values.iter().zip(&reference).enumerate() {
                let d = rel_diff(*o, *r);
                assert!(d < 1e-9, "{name} {metric}[{i}]: physfm {o}, reference {r}");
                worst[k] = worst[k].max(d);
                compared += 1;
            }
        }
    }
    assert!(compared >= 250, "only {compared} values compared");
    for (name, w) in METRIC_NAMES.iter().zip(&worst) {
        println!("{name:<11} largest relative difference {w:.2e}");
    }
}
