//! Sharded window reads, bad stores, statistics, splits, HTTP and the loader.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use physfm_data::{
    Batch, ChannelStats, CollectionMeta, DataError, DatasetSpec, FORMAT_VERSION, FrameSpacing,
    HttpStore, Loader, LoaderConfig, SplitRule, Splits, TrajectoryCollection, TrajectorySource,
    WindowSpec, WriteOptions, compute_stats,
};

fn meta(n: usize, frames: usize, shape: &[usize], c: usize) -> CollectionMeta {
    let axes = ["x", "y", "z"];
    CollectionMeta {
        format_version: FORMAT_VERSION,
        name: format!("test{}d", shape.len()),
        channel_names: (0..c).map(|i| format!("c{i}")).collect(),
        param_names: vec!["nu".into()],
        axis_names: axes[..shape.len()].iter().map(|s| s.to_string()).collect(),
        spatial_shape: shape.to_vec(),
        domain_lengths: vec![1.0; shape.len()],
        boundary: vec![physfm_data::AxisBoundary::PERIODIC; shape.len()],
        frames,
        trajectories: n,
        generator: "test".into(),
        seed: 1,
        provenance: serde_json::Value::Null,
    }
}

/// Field value of trajectory `i`, frame `t`, flat point-and-channel index `k`: unique and
/// easy to check.
fn value(i: usize, t: usize, k: usize) -> f32 {
    (i * 1_000_000 + t * 1000 + k) as f32
}

fn build(dir: &Path, name: &str, m: CollectionMeta, frames_per_chunk: usize) -> PathBuf {
    let path = dir.join(name);
    let coords: Vec<Vec<f64>> = m
        .spatial_shape
        .iter()
        .map(|&n| (0..n).map(|i| i as f64 / n as f64).collect())
        .collect();
    let fl = m.frame_len();
    let (n, t) = (m.trajectories, m.frames);
    let c = TrajectoryCollection::create_with(
        &path,
        m,
        &coords,
        WriteOptions {
            frames_per_chunk: Some(frames_per_chunk),
            zstd_level: 3,
        },
    )
    .unwrap();
    for i in 0..n {
        let f: Vec<f32> = (0..t)
            .flat_map(|tt| (0..fl).map(move |k| value(i, tt, k)))
            .collect();
        let times: Vec<f64> = (0..t).map(|k| 0.5 * k as f64).collect();
        c.write_trajectory(i, &f, &times, &[0.1 * i as f64])
            .unwrap();
    }
    c.finalize().unwrap();
    path
}

/// Byte range `[offset, offset + len)` of inner chunk `k` of a shard file (zarr sharding
/// index at the end: 16 bytes per inner chunk, then a 4-byte crc32c).
fn inner_chunk_range(shard: &[u8], inner: usize, k: usize) -> (usize, usize) {
    let index = &shard[shard.len() - 4 - 16 * inner..shard.len() - 4];
    let off = u64::from_le_bytes(index[16 * k..16 * k + 8].try_into().unwrap()) as usize;
    let len = u64::from_le_bytes(index[16 * k + 8..16 * k + 16].try_into().unwrap()) as usize;
    (off, len)
}

#[test]
fn a_window_read_decodes_only_its_inner_chunks() {
    let dir = tempfile::tempdir().unwrap();
    // 7 frames in inner chunks of 2: the shard is padded to 8 frames (4 inner chunks).
    let path = build(dir.path(), "c.zarr", meta(2, 7, &[16], 1), 2);
    let coll = TrajectoryCollection::open(&path).unwrap();
    assert_eq!(coll.frames_per_chunk(), 2);
    let w = coll.read_frames(1, 5, 2).unwrap();
    assert_eq!(w.fields[0], value(1, 5, 0));
    assert_eq!(w.fields[31], value(1, 6, 15));
    // Corrupt the inner chunk of frames 2-3 of trajectory 1: windows elsewhere still read,
    // windows through it fail with an error that names store, array and trajectory.
    let shard = path.join("fields/c/1/0/0/0");
    let mut bytes = std::fs::read(&shard).unwrap();
    let (off, len) = inner_chunk_range(&bytes, 4, 1);
    for b in &mut bytes[off..off + len] {
        *b ^= 0x5a;
    }
    std::fs::write(&shard, &bytes).unwrap();
    assert_eq!(
        coll.read_frames(1, 0, 2).unwrap().fields[16 + 3],
        value(1, 1, 3)
    );
    assert_eq!(coll.read_frames(1, 4, 3).unwrap().fields[0], value(1, 4, 0));
    match coll.read_frames(1, 1, 2) {
        Err(DataError::Chunk {
            path: p,
            array,
            index,
            ..
        }) => {
            assert_eq!((p, array.as_str(), index), (path.clone(), "fields", 1));
        }
        other => panic!("expected a chunk error, got {other:?}"),
    }
}

#[test]
fn damaged_stores_get_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = build(dir.path(), "c.zarr", meta(3, 4, &[8, 4], 2), 2);
    // A missing shard.
    std::fs::remove_file(path.join("fields/c/2/0/0/0/0")).unwrap();
    let coll = TrajectoryCollection::open(&path).unwrap();
    match coll.read_trajectory(2) {
        Err(DataError::MissingChunk {
            array, index, key, ..
        }) => {
            assert_eq!(
                (array.as_str(), index, key.as_str()),
                ("fields", 2, "fields/c/2/0/0/0/0")
            );
        }
        other => panic!("expected MissingChunk, got {other:?}"),
    }
    // A truncated time chunk.
    let t = path.join("time/c/1/0");
    let b = std::fs::read(&t).unwrap();
    std::fs::write(&t, &b[..b.len() - 3]).unwrap();
    let e = coll.read_trajectory(1).unwrap_err();
    assert!(
        matches!(&e, DataError::Chunk { array, index: 1, .. } if array == "time"),
        "{e}"
    );
    coll.read_trajectory(0).unwrap();

    let edit = |file: &str, f: &dyn Fn(&mut serde_json::Value)| {
        let p = path.join(file);
        let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
        let old = v.clone();
        f(&mut v);
        std::fs::write(&p, serde_json::to_vec(&v).unwrap()).unwrap();
        old
    };
    let restore = |file: &str, v: serde_json::Value| {
        std::fs::write(path.join(file), serde_json::to_vec(&v).unwrap()).unwrap();
    };
    // A wrong dtype.
    let old = edit("fields/zarr.json", &|v| v["data_type"] = "float64".into());
    let e = TrajectoryCollection::open(&path).unwrap_err().to_string();
    assert!(e.contains("`fields` has dtype float64"), "{e}");
    restore("fields/zarr.json", old);
    // A wrong rank.
    let old = edit("time/zarr.json", &|v| {
        v["shape"] = serde_json::json!([3, 4, 1]);
        v["chunk_grid"]["configuration"]["chunk_shape"] = serde_json::json!([1, 4, 1]);
        v["dimension_names"] = serde_json::json!(["a", "b", "c"]);
    });
    let e = TrajectoryCollection::open(&path).unwrap_err().to_string();
    assert!(e.contains("`time` shape") && e.contains("[3, 4, 1]"), "{e}");
    restore("time/zarr.json", old);
    // Channel counts that disagree with the metadata.
    let old = edit("zarr.json", &|v| {
        v["attributes"]["physfm"]["channel_names"] = serde_json::json!(["a", "b", "c"]);
    });
    let e = TrajectoryCollection::open(&path).unwrap_err().to_string();
    assert!(
        e.contains("`fields` shape") && e.contains("[3, 4, 8, 4, 3]"),
        "{e}"
    );
    // An unknown metadata key.
    edit("zarr.json", &|v| {
        v["attributes"]["physfm"] = old["attributes"]["physfm"].clone();
        v["attributes"]["physfm"]["colour"] = "blue".into();
    });
    let e = TrajectoryCollection::open(&path).unwrap_err().to_string();
    assert!(e.contains("unknown field `colour`"), "{e}");
    restore("zarr.json", old);
    // A missing array.
    std::fs::remove_file(path.join("params/zarr.json")).unwrap();
    match TrajectoryCollection::open(&path) {
        Err(DataError::MissingArray { array, .. }) => assert_eq!(array, "params"),
        other => panic!("expected MissingArray, got {other:?}"),
    }
    // Metadata writes leave no temporary files behind.
    let leftovers: Vec<_> = std::fs::read_dir(&path)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty());
}

#[test]
fn statistics_and_splits_are_stored_with_the_collection() {
    let dir = tempfile::tempdir().unwrap();
    let path = build(dir.path(), "c.zarr", meta(6, 3, &[5], 2), 2);
    let coll = TrajectoryCollection::open(&path).unwrap();
    assert_eq!(coll.read_stats().unwrap(), None);
    let calls = std::sync::atomic::AtomicUsize::new(0);
    let stats = compute_stats(&coll, None, &|| {
        calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    })
    .unwrap();
    assert_eq!(calls.into_inner(), 6);
    // Two-pass reference.
    for ch in 0..2 {
        let vals: Vec<f64> = (0..6)
            .flat_map(|i| {
                (0..3).flat_map(move |t| (0..5).map(move |p| value(i, t, p * 2 + ch) as f64))
            })
            .collect();
        let mean = vals.iter().sum::<f64>() / vals.len() as f64;
        let std = (vals.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / vals.len() as f64).sqrt();
        let s = &stats.channel[ch];
        assert_eq!(s.count, 90);
        assert!((s.mean - mean).abs() < 1e-9 * mean, "{} vs {mean}", s.mean);
        assert!((s.std - std).abs() < 1e-9 * std, "{} vs {std}", s.std);
        assert_eq!(s.min, vals.iter().copied().fold(f64::INFINITY, f64::min));
        assert_eq!(
            s.max,
            vals.iter().copied().fold(f64::NEG_INFINITY, f64::max)
        );
    }
    coll.write_stats(&stats).unwrap();
    let wrong = ChannelStats {
        channel: stats.channel[..1].to_vec(),
        trajectories: 6,
    };
    assert!(matches!(
        coll.write_stats(&wrong),
        Err(DataError::Shape { .. })
    ));

    let rule = SplitRule::ByParameter {
        train_range: [("nu".to_string(), [0.0, 0.35])].into(),
        held_out: vec![[("nu".to_string(), [0.15, 0.25])].into()],
    };
    let splits = Splits::from_source(rule, 7, &coll).unwrap();
    assert_eq!(splits.sets["train"], vec![0, 1, 3]);
    assert_eq!(splits.sets["test_interp"], vec![2]);
    assert_eq!(splits.sets["test_extrap"], vec![4, 5]);
    coll.write_splits(&splits).unwrap();

    let again = TrajectoryCollection::open(&path).unwrap();
    assert_eq!(again.read_stats().unwrap(), Some(stats));
    assert_eq!(again.read_splits().unwrap(), Some(splits));
    // A split naming a trajectory the collection lacks is refused.
    let mut bad = again.read_splits().unwrap().unwrap();
    bad.sets.get_mut("train").unwrap().push(9);
    let e = again.write_splits(&bad).unwrap_err().to_string();
    assert!(e.contains("trajectory 9, but there are 6"), "{e}");
}

/// Serves `root` on 127.0.0.1 until the test ends; honours `Range` unless `ranges` is false.
fn serve(root: PathBuf, ranges: bool) -> String {
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let port = server.server_addr().to_ip().unwrap().port();
    std::thread::spawn(move || {
        for request in server.incoming_requests() {
            let rel = request.url().trim_start_matches('/').to_string();
            let file = root.join(&rel);
            let head = *request.method() == tiny_http::Method::Head;
            let Ok(bytes) = std::fs::read(&file) else {
                let _ = request.respond(tiny_http::Response::empty(404));
                continue;
            };
            let range = request
                .headers()
                .iter()
                .find(|h| h.field.equiv("Range"))
                .map(|h| h.value.as_str().trim_start_matches("bytes=").to_string());
            let len = bytes.len();
            let (status, body) = match range.filter(|_| ranges && !head) {
                Some(r) => {
                    let (a, b) = r.split_once('-').unwrap();
                    let (s, e) = if a.is_empty() {
                        (len - b.parse::<usize>().unwrap(), len)
                    } else if b.is_empty() {
                        (a.parse().unwrap(), len)
                    } else {
                        (a.parse().unwrap(), b.parse::<usize>().unwrap() + 1)
                    };
                    (206, bytes[s..e].to_vec())
                }
                None => (200, if head { Vec::new() } else { bytes }),
            };
            let mut resp = tiny_http::Response::from_data(body).with_status_code(status);
            if head {
                resp.add_header(
                    tiny_http::Header::from_bytes("Content-Length", len.to_string()).unwrap(),
                );
            }
            let _ = request.respond(resp);
        }
    });
    format!("http://127.0.0.1:{port}")
}

#[test]
fn a_store_served_over_http_reads_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let path = build(dir.path(), "c.zarr", meta(3, 6, &[8, 4], 2), 2);
    let local = TrajectoryCollection::open(&path).unwrap();
    local
        .write_stats(&compute_stats(&local, None, &|| {}).unwrap())
        .unwrap();
    for ranges in [true, false] {
        let base = serve(dir.path().to_path_buf(), ranges);
        let remote =
            TrajectoryCollection::<HttpStore>::open_url(&format!("{base}/c.zarr")).unwrap();
        assert_eq!(remote.meta(), local.meta());
        assert_eq!(remote.coordinates(), local.coordinates());
        assert_eq!(remote.read_stats().unwrap(), local.read_stats().unwrap());
        assert_eq!(remote.read_splits().unwrap(), None);
        for i in 0..3 {
            assert_eq!(
                remote.read_trajectory(i).unwrap(),
                local.read_trajectory(i).unwrap()
            );
            assert_eq!(
                remote.read_frames(i, 3, 2).unwrap(),
                local.read_frames(i, 3, 2).unwrap()
            );
        }
        // The loader reads from it like from any source.
        let spec = DatasetSpec::new(
            Arc::new(remote),
            WindowSpec {
                history: 2,
                horizon: 1,
                stride: 1,
            },
        );
        let n: usize = Loader::new(
            vec![spec],
            LoaderConfig {
                batch_size: 4,
                batches: 3,
                ..Default::default()
            },
        )
        .unwrap()
        .map(|b| b.unwrap().size)
        .sum();
        assert_eq!(n, 12);
        let e = TrajectoryCollection::<HttpStore>::open_url(&format!("{base}/nothing.zarr"))
            .unwrap_err();
        assert!(e.to_string().contains("nothing.zarr"), "{e}");
    }
    // A shard missing on the server is a missing chunk, not garbage.
    std::fs::remove_file(path.join("fields/c/1/0/0/0/0")).unwrap();
    let base = serve(dir.path().to_path_buf(), true);
    let remote = TrajectoryCollection::<HttpStore>::open_url(&format!("{base}/c.zarr")).unwrap();
    assert!(matches!(
        remote.read_trajectory(1),
        Err(DataError::MissingChunk { index: 1, .. })
    ));
}

fn batches(specs: Vec<DatasetSpec>, config: LoaderConfig) -> Vec<Batch> {
    Loader::new(specs, config)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn loader_mixes_datasets_one_per_batch_deterministically() {
    let dir = tempfile::tempdir().unwrap();
    let one: Arc<dyn TrajectorySource> = Arc::new(
        TrajectoryCollection::open(&build(dir.path(), "a.zarr", meta(4, 10, &[32], 1), 4)).unwrap(),
    );
    let two: Arc<dyn TrajectorySource> = Arc::new(
        TrajectoryCollection::open(&build(dir.path(), "b.zarr", meta(3, 8, &[6, 5], 2), 3))
            .unwrap(),
    );
    let w = WindowSpec {
        history: 2,
        horizon: 1,
        stride: 1,
    };
    let mut a = DatasetSpec::new(one.clone(), w);
    a.weight = 3.0;
    let b = DatasetSpec::new(two.clone(), w);
    let config = LoaderConfig {
        batch_size: 5,
        batches: 400,
        seed: 11,
        ..Default::default()
    };
    let got = batches(vec![a.clone(), b.clone()], config);
    let from_a = got.iter().filter(|x| x.dataset == 0).count();
    // Weight 3:1, 400 draws: 300 expected, a 5-sigma band is +-43.
    assert!(
        (257..=343).contains(&from_a),
        "{from_a} of 400 batches from dataset 0"
    );
    for x in &got {
        let (src, frame) = if x.dataset == 0 {
            (&one, 32)
        } else {
            (&two, 60)
        };
        assert_eq!(x.input.len(), 5 * 2 * frame);
        assert_eq!(x.target.len(), 5 * frame);
        assert_eq!(x.spatial_shape, src.meta().spatial_shape);
        for (s, &(traj, start)) in x.origin.iter().enumerate() {
            // Values identify (trajectory, frame): inputs are frames start, start+1.
            let fl = frame;
            assert_eq!(x.input[s * 2 * fl], value(traj, start, 0));
            assert_eq!(x.input[s * 2 * fl + fl], value(traj, start + 1, 0));
            assert_eq!(x.target[s * fl + fl - 1], value(traj, start + 2, fl - 1));
            assert_eq!(x.params[s], 0.1 * traj as f64);
            assert_eq!(x.target_offsets()[s], 0.5);
        }
    }
    // The same stream with three workers, and resumed at batch 123 without reading the rest.
    let three = batches(
        vec![a.clone(), b.clone()],
        LoaderConfig {
            workers: 3,
            prefetch: 2,
            ..config
        },
    );
    assert_eq!(three, got);
    let resumed = batches(
        vec![a, b],
        LoaderConfig {
            skip: 123,
            ..config
        },
    );
    assert_eq!(resumed, got[123..]);
}

#[test]
fn loader_epochs_irregular_gaps_normalisation_and_tensors() {
    let dir = tempfile::tempdir().unwrap();
    let src: Arc<dyn TrajectorySource> = Arc::new(
        TrajectoryCollection::open(&build(dir.path(), "a.zarr", meta(3, 20, &[4], 1), 4)).unwrap(),
    );
    // Regular spacing: one epoch visits every window once.
    let w = WindowSpec {
        history: 1,
        horizon: 1,
        stride: 2,
    };
    let spec = DatasetSpec::new(src.clone(), w);
    let windows = 3 * 10; // starts 0, 2, ..., 18
    let got = batches(
        vec![spec.clone()],
        LoaderConfig {
            batch_size: 5,
            batches: 6,
            ..Default::default()
        },
    );
    let mut seen: Vec<_> = got.iter().flat_map(|b| b.origin.clone()).collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), windows);

    // Random gaps: frames strictly increase by 1..=3 and the times travel with them.
    let mut irregular = DatasetSpec::new(
        src.clone(),
        WindowSpec {
            history: 3,
            horizon: 2,
            stride: 1,
        },
    );
    irregular.spacing = FrameSpacing::Random { max_gap: 3 };
    let got = batches(
        vec![irregular],
        LoaderConfig {
            batch_size: 8,
            batches: 20,
            seed: 3,
            ..Default::default()
        },
    );
    let mut gaps = std::collections::BTreeSet::new();
    for b in &got {
        for s in 0..b.size {
            let mut t: Vec<f64> = b.input_times[s * 3..s * 3 + 3].to_vec();
            t.extend(&b.target_times[s * 2..s * 2 + 2]);
            for (k, tk) in t.iter().enumerate() {
                let frame = (tk / 0.5).round() as usize;
                let v = if k < 3 {
                    b.input[(s * 3 + k) * 4]
                } else {
                    b.target[(s * 2 + k - 3) * 4]
                };
                assert_eq!(v, value(b.origin[s].0, frame, 0));
            }
            for d in t.windows(2) {
                let g = ((d[1] - d[0]) / 0.5).round() as usize;
                assert!((1..=3).contains(&g));
                gaps.insert(g);
            }
        }
    }
    assert_eq!(gaps.len(), 3, "every gap 1..=3 occurs");

    // Normalisation with the stored statistics.
    let stats = compute_stats(src.as_ref(), None, &|| {}).unwrap();
    let mut norm = spec.clone();
    norm.normalise = Some(stats.clone());
    let raw = batches(
        vec![spec.clone()],
        LoaderConfig {
            batch_size: 4,
            batches: 1,
            ..Default::default()
        },
    );
    let scaled = batches(
        vec![norm],
        LoaderConfig {
            batch_size: 4,
            batches: 1,
            ..Default::default()
        },
    );
    let s = &stats.channel[0];
    assert!(((raw[0].input[0] as f64 - s.mean) / s.std - scaled[0].input[0] as f64).abs() < 1e-3);

    // Tensors of the right rank, and an error for the wrong one.
    let device = burn::tensor::Device::flex();
    let t = raw[0].to_tensors::<4>(&device).unwrap();
    assert_eq!(t.input.dims(), [4, 1, 4, 1]);
    assert_eq!(t.params.dims(), [4, 1]);
    assert!(raw[0].to_tensors::<5>(&device).is_err());

    // A window longer than the trajectory, and bad settings, are refused up front.
    let long = DatasetSpec::new(
        src.clone(),
        WindowSpec {
            history: 15,
            horizon: 6,
            stride: 1,
        },
    );
    let e = Loader::new(vec![long], LoaderConfig::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("at most 20 frames") && e.contains("21 frames"),
        "{e}"
    );
    let mut far = spec.clone();
    far.spacing = FrameSpacing::Random { max_gap: 20 };
    assert!(Loader::new(vec![far], LoaderConfig::default()).is_err());
    assert!(
        Loader::new(
            vec![spec.clone()],
            LoaderConfig {
                batch_size: 0,
                ..Default::default()
            }
        )
        .is_err()
    );
    let mut bad = spec.clone();
    bad.indices = vec![7];
    let e = Loader::new(vec![bad], LoaderConfig::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("index 7 out of range 0..3"), "{e}");
}

#[test]
fn a_read_error_in_a_worker_reaches_the_consumer() {
    let dir = tempfile::tempdir().unwrap();
    let path = build(dir.path(), "a.zarr", meta(2, 4, &[4], 1), 4);
    std::fs::remove_file(path.join("fields/c/1/0/0/0")).unwrap();
    let src = Arc::new(TrajectoryCollection::open(&path).unwrap());
    let spec = DatasetSpec::new(
        src,
        WindowSpec {
            history: 1,
            horizon: 1,
            stride: 1,
        },
    );
    let mut loader = Loader::new(
        vec![spec],
        LoaderConfig {
            batch_size: 6,
            batches: 5,
            ..Default::default()
        },
    )
    .unwrap();
    let first = loader.next().unwrap();
    assert!(
        matches!(first, Err(DataError::MissingChunk { index: 1, .. })),
        "{first:?}"
    );
    assert!(loader.next().is_none());
}

#[test]
fn collections_grow_and_an_interrupted_grow_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = build(dir.path(), "c.zarr", meta(2, 3, &[4], 1), 2);
    let mut coll = TrajectoryCollection::open(&path).unwrap();
    let f: Vec<f32> = (0..12).map(|k| k as f32).collect();
    assert_eq!(coll.append(&f, &[0.0, 0.5, 1.0], &[7.0]).unwrap(), 2);
    let again = TrajectoryCollection::open(&path).unwrap();
    assert_eq!(again.len(), 3);
    assert_eq!(again.read_trajectory(2).unwrap().fields, f);
    assert_eq!(again.read_trajectory(0).unwrap().fields[0], value(0, 0, 0));

    // Grow by two, write one, and "crash" before the metadata records the new count.
    let mut coll = TrajectoryCollection::open(&path).unwrap();
    assert_eq!(coll.grow(2).unwrap(), 3..5);
    coll.write_trajectory(3, &f, &[0.0, 0.5, 1.0], &[8.0])
        .unwrap();
    let root = path.join("zarr.json");
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&root).unwrap()).unwrap();
    v["attributes"]["physfm"]["trajectories"] = 3.into();
    std::fs::write(&root, serde_json::to_vec(&v).unwrap()).unwrap();
    assert!(matches!(
        TrajectoryCollection::open(&path),
        Err(DataError::Incomplete { .. })
    ));
    let reopened = TrajectoryCollection::open_any(&path).unwrap();
    assert_eq!(reopened.len(), 5);
    assert_eq!(reopened.read_trajectory(3).unwrap().params, vec![8.0]);
    let e = reopened.finalize().unwrap_err().to_string();
    assert!(e.contains("trajectory 4 was never written"), "{e}");
    reopened
        .write_trajectory(4, &f, &[0.0, 0.5, 1.0], &[9.0])
        .unwrap();
    reopened.finalize().unwrap();
    let done = TrajectoryCollection::open(&path).unwrap();
    assert_eq!(done.len(), 5);
    let listed = physfm_data::list_collections(dir.path()).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0].1.trajectories, listed[0].2), (5, true));
}

#[test]
fn a_store_that_cannot_be_written_names_it_and_keeps_the_cause() {
    let dir = tempfile::tempdir().unwrap();
    // A plain file where the store's parent folder should be.
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, b"not a folder").unwrap();
    let path = blocker.join("store.zarr");
    let coords = vec![vec![0.0, 0.5]];
    let Err(e) = TrajectoryCollection::create(&path, meta(1, 2, &[2], 1), &coords) else {
        panic!("a store under a file cannot be made");
    };
    assert!(matches!(e, DataError::StoreAccess { .. }), "{e}");
    assert!(e.to_string().contains("store.zarr"), "{e}");
    let source = std::error::Error::source(&e).expect("the cause is kept");
    assert!(source.is::<std::io::Error>(), "{source}");
}
