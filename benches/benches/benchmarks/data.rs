//! Loader throughput: batches of 16 one-step windows from local native stores, 1D (1024
//! points) and 2D (64x64), with one background worker; and single window reads.

use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group};
use physfm_data::{
    CollectionMeta, DatasetSpec, FORMAT_VERSION, Loader, LoaderConfig, TrajectoryCollection,
    TrajectorySource, WindowSpec,
};

/// A store of smooth fields plus noise (so compression behaves as on simulation output).
fn store(
    dir: &std::path::Path,
    shape: &[usize],
    n: usize,
    frames: usize,
) -> Arc<dyn TrajectorySource> {
    let path = dir.join(format!("bench{}d.zarr", shape.len()));
    let axes = ["x", "y"];
    let meta = CollectionMeta {
        format_version: FORMAT_VERSION,
        name: "bench".into(),
        channel_names: vec!["u".into()],
        param_names: vec!["nu".into()],
        axis_names: axes[..shape.len()].iter().map(|s| s.to_string()).collect(),
        spatial_shape: shape.to_vec(),
        domain_lengths: vec![1.0; shape.len()],
        boundary: vec![physfm_data::AxisBoundary::PERIODIC; shape.len()],
        frames,
        trajectories: n,
        generator: "bench".into(),
        seed: 0,
        provenance: serde_json::Value::Null,
    };
    let coords: Vec<Vec<f64>> = shape.iter().map(|&m| vec![0.0; m]).collect();
    let c = TrajectoryCollection::create(&path, meta, &coords).unwrap();
    let points: usize = shape.iter().product();
    let mut state = 0x9E37_79B9u32;
    for i in 0..n {
        let f: Vec<f32> = (0..frames * points)
            .map(|k| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                let (t, p) = (k / points, k % points);
                ((p as f32 * 0.0123 * (i + 1) as f32 + 0.05 * t as f32).sin())
                    + 1e-3 * (state as f32 / u32::MAX as f32)
            })
            .collect();
        let times: Vec<f64> = (0..frames).map(|t| t as f64 * 0.01).collect();
        c.write_trajectory(i, &f, &times, &[i as f64]).unwrap();
    }
    c.finalize().unwrap();
    Arc::new(TrajectoryCollection::open(&path).unwrap())
}

fn loader(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let mut g = c.benchmark_group("data_loader");
    g.sample_size(10);
    for (name, shape, n, frames) in [
        ("1d_1024", vec![1024usize], 32usize, 201usize),
        ("2d_64x64", vec![64, 64], 16, 101),
    ] {
        let src = store(dir.path(), &shape, n, frames);
        let batches = 20;
        let frame_bytes = 4 * shape.iter().product::<usize>();
        g.throughput(Throughput::Bytes((batches * 16 * 2 * frame_bytes) as u64));
        g.bench_function(format!("{name}_batch16_x{batches}_1worker"), |b| {
            let mut seed = 0;
            b.iter(|| {
                seed += 1;
                let spec = DatasetSpec::new(
                    src.clone(),
                    WindowSpec {
                        history: 1,
                        horizon: 1,
                        stride: 1,
                    },
                );
                let config = LoaderConfig {
                    batch_size: 16,
                    batches,
                    seed,
                    workers: 1,
                    prefetch: 4,
                    skip: 0,
                };
                Loader::new(vec![spec], config)
                    .unwrap()
                    .map(|x| x.unwrap().size)
                    .sum::<usize>()
            })
        });
        g.throughput(Throughput::Bytes((2 * frame_bytes) as u64));
        g.bench_function(format!("{name}_read_window_2frames"), |b| {
            let mut k = 0usize;
            b.iter(|| {
                k = (k + 7919) % (n * (frames - 1));
                src.read_frames(k % n, k / n, 2).unwrap()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, loader);
