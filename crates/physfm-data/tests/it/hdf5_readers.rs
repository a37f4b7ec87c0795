//! The PDEBench and The Well readers against fixtures written by h5py
//! (`tests/fixtures/make_fixtures.py`; expected values in `expected.json`).
#![cfg(feature = "hdf5")]

use std::path::{Path, PathBuf};

use physfm_data::hdf5::{Layout, detect, open};
use physfm_data::{
    DataError, TrajectoryCollection, TrajectorySource, WriteOptions, copy_to_collection, inspect,
};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn expected() -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(fixture("expected.json")).unwrap()).unwrap()
}

/// Value at `[traj, time, *space, channel]` of a source.
fn at(source: &dyn TrajectorySource, probe: &[f64]) -> f32 {
    let m = source.meta();
    let d = m.spatial_shape.len();
    let (traj, time) = (probe[0] as usize, probe[1] as usize);
    let rec = source.read_frames(traj, time, 1).unwrap();
    let mut flat = 0;
    for (k, &n) in m.spatial_shape.iter().enumerate() {
        flat = flat * n + probe[2 + k] as usize;
    }
    rec.fields[flat * m.channel_names.len() + probe[2 + d] as usize]
}

fn check_against_expected(name: &str, layout: Layout) {
    let e = &expected()[name];
    let path = fixture(name);
    assert_eq!(detect(&path).unwrap(), layout);
    let (source, got_layout) = open(&path).unwrap();
    assert_eq!(got_layout, layout);
    let m = source.meta();
    let mut shape = vec![m.trajectories, m.frames];
    shape.extend(&m.spatial_shape);
    shape.push(m.channel_names.len());
    let want: Vec<usize> = serde_json::from_value(e["shape"].clone()).unwrap();
    assert_eq!(shape, want, "{name}");
    let channels: Vec<String> = serde_json::from_value(e["channels"].clone()).unwrap();
    assert_eq!(m.channel_names, channels, "{name}");
    let params = e["params"].as_object().unwrap();
    assert_eq!(
        m.param_names,
        params.keys().cloned().collect::<Vec<_>>(),
        "{name}"
    );
    let values: Vec<f64> = params.values().map(|v| v.as_f64().unwrap()).collect();
    assert_eq!(source.read_params(0).unwrap(), values, "{name}");
    let times: Vec<f64> = serde_json::from_value(e["times"].clone()).unwrap();
    assert_eq!(source.read_times(1).unwrap(), times, "{name}");
    for probe in e["probe"].as_array().unwrap() {
        let p: Vec<f64> = serde_json::from_value(probe.clone()).unwrap();
        let v = *p.last().unwrap();
        assert_eq!(at(source.as_ref(), &p), v as f32, "{name} at {p:?}");
    }
    // A window equals the same frames of the whole trajectory.
    let whole = source.read_trajectory(1).unwrap();
    let fl = m.frame_len();
    let w = source.read_frames(1, 1, m.frames - 1).unwrap();
    assert_eq!(w.fields, whole.fields[fl..]);

    // Converted to a native collection, every value survives bit for bit.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("c.zarr");
    let coll = copy_to_collection(
        source.as_ref(),
        &out,
        WriteOptions {
            frames_per_chunk: Some(2),
            ..WriteOptions::default()
        },
        &|| {},
    )
    .unwrap();
    assert_eq!(coll.frames_per_chunk(), 2);
    let reopened = TrajectoryCollection::open(&out).unwrap();
    for i in 0..m.trajectories {
        assert_eq!(
            reopened.read_trajectory(i).unwrap(),
            source.read_trajectory(i).unwrap()
        );
    }
    assert_eq!(reopened.coordinates(), source.coordinates());
    let summary = inspect(source.as_ref(), layout.name(), None).unwrap();
    assert_eq!(summary.shape, want);
    assert!(summary.time.regular);
}

#[test]
fn pdebench_single_tensor() {
    check_against_expected("1D_Burgers_Sols_Nu0.01.hdf5", Layout::PdebenchSingleTensor);
    let (s, _) = open(&fixture("1D_Burgers_Sols_Nu0.01.hdf5")).unwrap();
    assert_eq!(s.meta().boundary, vec![physfm_data::AxisBoundary::PERIODIC]);
    assert!((s.meta().domain_lengths[0] - 1.0).abs() < 1e-12);
}

#[test]
fn pdebench_per_sample_groups() {
    check_against_expected("2D_diff-react_NA_NA.h5", Layout::PdebenchPerSample);
}

#[test]
fn pdebench_cfd() {
    check_against_expected(
        "2D_CFD_Rand_M0.1_Eta0.01_Zeta0.01_periodic_8_Train.hdf5",
        Layout::PdebenchCfd,
    );
}

#[test]
fn the_well() {
    check_against_expected("the_well_shear_flow.hdf5", Layout::TheWell);
    let (s, _) = open(&fixture("the_well_shear_flow.hdf5")).unwrap();
    assert_eq!(
        s.meta()
            .boundary
            .iter()
            .map(|b| b.to_string())
            .collect::<Vec<_>>(),
        ["periodic", "wall"]
    );
    assert_eq!(s.meta().name, "shear_flow");
    // The mask is neither sample- nor time-varying: every frame of every trajectory has it.
    let a = s.read_frames(0, 0, 1).unwrap();
    let b = s.read_frames(1, 3, 1).unwrap();
    let c = s.meta().channel_names.len();
    for p in 0..48 {
        assert_eq!(a.fields[p * c + 1], b.fields[p * c + 1]);
    }
}

#[test]
fn bad_files_get_errors_that_name_the_problem() {
    fn msg<T>(r: Result<T, DataError>) -> String {
        r.map(|_| ()).unwrap_err().to_string()
    }
    let e = msg(open(&fixture("bad_dtype.h5")));
    assert!(e.contains("/tensor") && e.contains("floating-point"), "{e}");
    let e = msg(open(&fixture("bad_rank.h5")));
    assert!(e.contains("/tensor") && e.contains("[2, 3]"), "{e}");
    let (s, _) = open(&fixture("nan.h5")).unwrap();
    s.read_trajectory(0).unwrap();
    match s.read_trajectory(1) {
        Err(DataError::NonFinite { array, index, .. }) => {
            assert_eq!((array.as_str(), index), ("tensor", 1));
        }
        other => panic!("expected NonFinite, got {other:?}"),
    }
    let e = msg(open(&fixture("missing.h5")));
    assert!(
        e.contains("missing.h5") && e.contains("no such file"),
        "{e}"
    );
    let e = msg(open(&fixture("expected.json")));
    assert!(
        e.contains("expected.json") && e.contains("cannot open"),
        "{e}"
    );
    // Found by the fuzzer: a header claiming an axis of 2^60 points, with no coordinates.
    let e = msg(open(&fixture("fuzz_huge_axis.h5")));
    assert!(
        e.contains("fuzz_huge_axis.h5") && e.contains("corrupt"),
        "{e}"
    );
    // A truncated file.
    let dir = tempfile::tempdir().unwrap();
    let cut = dir.path().join("cut.h5");
    let bytes = std::fs::read(fixture("2D_diff-react_NA_NA.h5")).unwrap();
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let r = open(&cut)
        .and_then(|(s, _)| (0..s.len()).try_for_each(|i| s.read_trajectory(i).map(|_| ())));
    let e = r.unwrap_err().to_string();
    assert!(e.contains("cut.h5"), "{e}");
    // Windows outside the trajectory.
    let (s, _) = open(&fixture("1D_Burgers_Sols_Nu0.01.hdf5")).unwrap();
    let e = msg(s.read_frames(0, 3, 3).map(|_| ()));
    assert!(
        e.contains("frame window of trajectory 0") && e.contains("3..6"),
        "{e}"
    );
    let e = msg(s.read_frames(3, 0, 1).map(|_| ()));
    assert!(e.contains("index 3 out of range 0..3"), "{e}");
}
