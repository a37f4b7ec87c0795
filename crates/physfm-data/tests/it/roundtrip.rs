//! Round trips and failure modes of the Zarr collection.

use physfm_data::{CollectionMeta, DataError, FORMAT_VERSION, TrajectoryCollection};

fn meta(n: usize, frames: usize, x: usize, c: usize) -> CollectionMeta {
    CollectionMeta {
        format_version: FORMAT_VERSION,
        name: "test".into(),
        channel_names: (0..c).map(|i| format!("c{i}")).collect(),
        param_names: vec!["nu".into(), "rho".into()],
        axis_names: vec!["x".into()],
        spatial_shape: vec![x],
        domain_lengths: vec![1.0],
        boundary: vec![physfm_data::AxisBoundary::PERIODIC],
        frames,
        trajectories: n,
        generator: "test".into(),
        seed: 9,
        provenance: serde_json::json!({"k": 1}),
    }
}

/// A deterministic pseudo-random f32 stream including subnormals, negative zero and extremes.
fn values(len: usize, seed: u32) -> Vec<f32> {
    let mut s = seed.wrapping_mul(2654435761).wrapping_add(1);
    (0..len)
        .map(|i| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            match i % 97 {
                0 => -0.0,
                1 => f32::MIN_POSITIVE / 8.0,
                2 => f32::MAX,
                _ => f32::from_bits((s & 0x3fff_ffff) | ((s & 1) << 31)),
            }
        })
        .collect()
}

#[test]
fn round_trip_is_bit_for_bit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.zarr");
    let (n, t, x, c) = (3, 5, 17, 2);
    let coll = TrajectoryCollection::create(
        &path,
        meta(n, t, x, c),
        &[(0..x).map(|i| i as f64 / x as f64).collect()],
    )
    .unwrap();
    let mut written = Vec::new();
    for i in 0..n {
        let f = values(t * x * c, i as u32 + 1);
        let times: Vec<f64> = (0..t).map(|k| k as f64 * 0.1 + i as f64 * 1e-17).collect();
        let params = vec![0.1 * (i + 1) as f64, std::f64::consts::PI];
        coll.write_trajectory(i, &f, &times, &params).unwrap();
        written.push((f, times, params));
    }
    coll.finalize().unwrap();
    drop(coll);
    let coll = TrajectoryCollection::open(&path).unwrap();
    assert_eq!(coll.meta(), &meta(n, t, x, c));
    for (i, (f, times, params)) in written.iter().enumerate() {
        let r = coll.read_trajectory(i).unwrap();
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&r.fields), bits(f));
        assert_eq!(
            r.times.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            times.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
        assert_eq!(&r.params, params);
        // A window reads the same values as the slice of the whole.
        let w = coll.read_frames(i, 2, 2).unwrap();
        assert_eq!(bits(&w.fields), bits(&f[2 * x * c..4 * x * c]));
        assert_eq!(w.times, times[2..4]);
    }
    assert_eq!(coll.coordinates()[0][1], 1.0 / 17.0);
}

#[test]
fn incomplete_and_existing_stores_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.zarr");
    let coll = TrajectoryCollection::create(&path, meta(2, 2, 4, 1), &[vec![0.0; 4]]).unwrap();
    coll.write_trajectory(0, &[1.0; 8], &[0.0, 1.0], &[1.0, 2.0])
        .unwrap();
    // Finalising with a missing trajectory fails and names it.
    let e = coll.finalize().unwrap_err().to_string();
    assert!(e.contains("trajectory 1 was never written"), "{e}");
    assert!(matches!(
        TrajectoryCollection::open(&path),
        Err(DataError::Incomplete { .. })
    ));
    // Creating over an existing store is refused and the data survive.
    assert!(matches!(
        TrajectoryCollection::create(&path, meta(2, 2, 4, 1), &[vec![0.0; 4]]),
        Err(DataError::Exists { .. })
    ));
    let again = TrajectoryCollection::open_any(&path).unwrap();
    assert!(again.has_trajectory(0).unwrap() && !again.has_trajectory(1).unwrap());
    assert_eq!(again.read_trajectory(0).unwrap().fields, vec![1.0; 8]);
    // The unwritten trajectory reads as NaN fill: reported, never handed out.
    let e = again.read_trajectory(1).unwrap_err().to_string();
    assert!(e.contains("`fields` trajectory 1"), "{e}");
}

#[test]
fn bad_writes_and_reads_name_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.zarr");
    let coll = TrajectoryCollection::create(&path, meta(1, 2, 4, 1), &[vec![0.0; 4]]).unwrap();
    let e = coll
        .write_trajectory(0, &[1.0; 7], &[0.0, 1.0], &[1.0, 2.0])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("fields length") && e.contains("expected 8"),
        "{e}"
    );
    let mut f = vec![1.0; 8];
    f[5] = f32::NAN;
    assert!(matches!(
        coll.write_trajectory(0, &f, &[0.0, 1.0], &[1.0, 2.0]),
        Err(DataError::NonFinite { .. })
    ));
    assert!(matches!(
        coll.write_trajectory(3, &[1.0; 8], &[0.0, 1.0], &[1.0, 2.0]),
        Err(DataError::Index { index: 3, .. })
    ));
    let e = coll.read_frames(0, 1, 2).unwrap_err().to_string();
    assert!(e.contains("1..3"), "{e}");
}

#[test]
fn corrupt_chunk_is_an_error_not_garbage() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.zarr");
    let coll = TrajectoryCollection::create(&path, meta(1, 2, 64, 1), &[vec![0.0; 64]]).unwrap();
    coll.write_trajectory(
        0,
        &values(128, 3)
            .iter()
            .map(|v| if v.is_finite() { *v } else { 0.0 })
            .collect::<Vec<_>>(),
        &[0.0, 1.0],
        &[1.0, 2.0],
    )
    .unwrap();
    coll.finalize().unwrap();
    // Truncate the field chunk.
    let chunk = path.join("fields/c/0/0/0/0");
    let bytes = std::fs::read(&chunk).unwrap();
    std::fs::write(&chunk, &bytes[..bytes.len() / 2]).unwrap();
    let coll = TrajectoryCollection::open(&path).unwrap();
    let e = coll.read_trajectory(0).unwrap_err().to_string();
    assert!(e.contains(&path.display().to_string()), "{e}");
}
