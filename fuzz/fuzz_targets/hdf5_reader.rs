//! Fuzzes the PDEBench / The Well HDF5 readers: the fuzzer's bytes are written as a file,
//! whose layout is detected, opened and read whole. Errors are fine; panics are bugs.
//! (Crashes inside the HDF5 C library itself are upstream's, and are reported as such.)
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f.h5");
    std::fs::write(&path, data).unwrap();
    let Ok((source, _)) = physfm_data::hdf5::open(&path) else { return };
    for i in 0..source.len().min(4) {
        let _ = source.read_trajectory(i);
        let _ = source.read_times(i);
    }
});
