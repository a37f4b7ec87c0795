//! Reference solver throughput: one trajectory of every family at its reference setup (the
//! preset under `datasets/` named per family), timed whole. Criterion's element throughput
//! is grid-point updates (stored-grid-independent solver points x time steps).

use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group};
use physfm_pde::{Burgers1dConfig, Preset, SumOfSines};

/// The reference preset of each family.
const REFERENCE: [(&str, &str); 13] = [
    ("advection1d", "pdebench_advection"),
    ("burgers1d", "pdebench_burgers"),
    ("diffusion_reaction1d", "pdebench_diffusion_reaction"),
    ("kuramoto_sivashinsky1d", "physfm_kuramoto_sivashinsky1d"),
    ("kdv1d", "physfm_kdv1d"),
    ("navier_stokes2d_32", "coda_navier_stokes"),
    ("navier_stokes2d_64", "physfm_navier_stokes2d"),
    ("gray_scott2d", "coda_gray_scott"),
    ("diffusion_reaction2d", "pdebench_diffusion_reaction2d"),
    ("shallow_water2d", "pdebench_shallow_water"),
    ("darcy2d", "pdebench_darcy"),
    ("wave2d", "physfm_wave2d"),
    ("lotka_volterra", "coda_lotka_volterra"),
];

fn load(name: &str) -> Preset {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../datasets")
        .join(format!("{name}.toml"));
    let text = std::fs::read_to_string(&path).expect("preset file");
    Preset::from_toml(&text, name).expect("valid preset")
}

fn families(c: &mut Criterion) {
    let mut g = c.benchmark_group("generate");
    g.sample_size(10);
    for (label, preset) in REFERENCE {
        let p = load(preset);
        let family = p.family.family();
        let t = &p.plan("train").expect("train split")[0];
        let times = p.time.times(t.seed);
        let first = family.generate(&t.params, t.seed, &times).expect("solves");
        let points: usize = family
            .solver_axes()
            .iter()
            .map(|a| a.coords.len())
            .product();
        g.throughput(Throughput::Elements((points * first.steps.max(1)) as u64));
        g.bench_function(label, |b| {
            b.iter(|| family.generate(&t.params, t.seed, &times).unwrap())
        });
    }
    g.finish();
}

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

criterion_group!(benches, burgers, families);
