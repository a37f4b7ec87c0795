//! Fuzzes the native Zarr reader: a valid small collection has one of its files replaced
//! by the fuzzer's bytes (the root or an array's `zarr.json`, a field shard, a time or
//! parameter chunk, the statistics or splits group); opening it and reading everything must
//! return values or errors, never panic.
#![no_main]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use physfm_data::{
    CollectionMeta, FORMAT_VERSION, SplitRule, Splits, TrajectoryCollection, WriteOptions,
    compute_stats,
};

const FILES: [&str; 9] = [
    "zarr.json",
    "fields/zarr.json",
    "time/zarr.json",
    "params/zarr.json",
    "fields/c/1/0/0/0",
    "time/c/0/0",
    "params/c/1/0",
    "stats/zarr.json",
    "splits/zarr.json",
];

/// The pristine collection, built once per fuzzing process.
fn template() -> &'static Path {
    static DIR: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.zarr");
        let meta = CollectionMeta {
            format_version: FORMAT_VERSION,
            name: "fuzz".into(),
            channel_names: vec!["u".into(), "v".into()],
            param_names: vec!["nu".into()],
            axis_names: vec!["x".into()],
            spatial_shape: vec![8],
            domain_lengths: vec![1.0],
            boundary: vec![physfm_data::AxisBoundary::PERIODIC],
            frames: 5,
            trajectories: 2,
            generator: "fuzz".into(),
            seed: 0,
            provenance: serde_json::Value::Null,
        };
        let c = TrajectoryCollection::create_with(
            &path,
            meta,
            &[vec![0.0; 8]],
            WriteOptions { frames_per_chunk: Some(2), zstd_level: 3 },
        )
        .unwrap();
        for i in 0..2 {
            let f: Vec<f32> = (0..80).map(|k| (k + 100 * i) as f32).collect();
            c.write_trajectory(i, &f, &[0.0, 0.1, 0.2, 0.3, 0.4], &[i as f64]).unwrap();
        }
        c.finalize().unwrap();
        c.write_stats(&compute_stats(&c, None, &|| {}).unwrap()).unwrap();
        let s = Splits::from_source(SplitRule::Random { parts: vec![("a".into(), 1.0)] }, 0, &c).unwrap();
        c.write_splits(&s).unwrap();
        (dir, path)
    })
    .1
}

fn copy(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let t = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy(&e.path(), &t);
        } else {
            std::fs::copy(e.path(), t).unwrap();
        }
    }
}

/// With `PHYSFM_FUZZ_SEEDS=<dir>`, writes one seed per replaceable file (its selector byte
/// followed by the file's valid contents) into `<dir>`, so that mutations start from valid
/// metadata and chunks.
fn write_seeds() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        if let Ok(dir) = std::env::var("PHYSFM_FUZZ_SEEDS") {
            std::fs::create_dir_all(&dir).unwrap();
            for (k, f) in FILES.iter().enumerate() {
                let mut seed = vec![k as u8];
                seed.extend(std::fs::read(template().join(f)).unwrap());
                std::fs::write(Path::new(&dir).join(format!("seed-{k}")), seed).unwrap();
            }
        }
    });
}

fuzz_target!(|data: &[u8]| {
    write_seeds();
    let Some((&which, bytes)) = data.split_first() else { return };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.zarr");
    copy(template(), &path);
    std::fs::write(path.join(FILES[which as usize % FILES.len()]), bytes).unwrap();
    let Ok(c) = TrajectoryCollection::open_any(&path) else { return };
    let _ = c.is_complete();
    for i in 0..c.len().min(4) {
        let _ = c.read_trajectory(i);
        let _ = c.read_frames(i, 1, 2);
        let _ = c.read_params(i);
    }
    let _ = c.read_stats();
    let _ = c.read_splits();
});
