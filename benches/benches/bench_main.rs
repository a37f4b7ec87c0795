//! physfm's criterion benchmarks: `cargo bench -p physfm-benches [-- FILTER]`.

#![allow(missing_docs)]

mod benchmarks;

criterion::criterion_main!(
    benchmarks::data::benches,
    benchmarks::pde::benches,
    benchmarks::spectral::benches,
    benchmarks::fno::benches
);
