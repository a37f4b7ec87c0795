//! Reference solver throughput.

use criterion::{Criterion, Throughput, criterion_group};
use physfm_pde::{Burgers1dConfig, SumOfSines};

fn burgers(c: &mut Criterion) {
    let mut g = c.benchmark_group("cpu_burgers1d");
    g.sample_size(10);
    // One quickstart trajectory: 1024 points to t = 1, 21 frames.
    let cfg = Burgers1dConfig {
        resolution: 1024,
        stored_resolution: 256,
        length: 1.0,
        t_end: 1.0,
        frames: 21,
        initial: SumOfSines {
            waves: 2,
            max_wavenumber: 2,
            amplitude: 1.0,
        },
    };
    g.throughput(Throughput::Elements(1));
    g.bench_function("trajectory_1024_t1", |b| {
        b.iter(|| cfg.generate(0.03, 7).unwrap())
    });
    g.finish();
}

criterion_group!(benches, burgers);
