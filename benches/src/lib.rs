//! Criterion benchmarks of physfm's kernels live in `benches/`: one `bench_main.rs`, one
//! file per topic under `benches/benchmarks/`. Run them with `cargo bench -p physfm-benches`.
