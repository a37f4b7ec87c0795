//! Correctness of every family: exact or manufactured solutions, measured orders of
//! convergence, invariants, positivity, blow-up reporting and the common trait contract.

use std::f64::consts::PI;

use physfm_pde::*;

fn max_err(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).fold(0.0, |m, (x, y)| m.max((x - y).abs()))
}

fn l1_err(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum::<f64>() / a.len() as f64
}

/// Observed orders between successive errors of halved steps.
fn orders(errs: &[f64]) -> Vec<f64> {
    errs.windows(2).map(|w| (w[0] / w[1]).log2()).collect()
}

fn assert_order(errs: &[f64], min: f64, what: &str) {
    let o = orders(errs);
    assert!(
        o.iter().all(|&o| o > min),
        "{what}: orders {o:?} from errors {errs:?}"
    );
}

// ------------------------------------------------------------------------------ advection

#[test]
fn advection_is_an_exact_shift_and_conserves_mass() {
    let f = Advection1d {
        resolution: 128,
        stored_resolution: 128,
        ..Advection1d::default()
    };
    let x = f.solver_axes()[0].coords.clone();
    let u = |t: f64, beta: f64| -> Vec<f64> {
        x.iter()
            .map(|x| (2.0 * PI * (x - beta * t)).sin() + 0.5 * (6.0 * PI * (x - beta * t)).cos())
            .collect()
    };
    let traj = f
        .solve_from(&[0.7], &u(0.0, 0.7), &[0.0, 0.3, 1.7])
        .unwrap();
    for (i, &t) in traj.times.iter().enumerate() {
        assert!(max_err(traj.frame(i), &u(t, 0.7)) < 1e-12, "t={t}");
        let mass: f64 = traj.frame(i).iter().sum();
        assert!(mass.abs() < 1e-10);
    }
}

// ------------------------------------------------------------------------ diffusion-reaction

#[test]
fn heat_equation_decays_fourier_modes_exactly() {
    let f = DiffusionReaction1d {
        resolution: 64,
        stored_resolution: 64,
        ..DiffusionReaction1d::default()
    };
    let x = f.solver_axes()[0].coords.clone();
    let nu = 0.02;
    let u0: Vec<f64> = x
        .iter()
        .map(|x| 1.0 + (2.0 * PI * x).sin() + 0.3 * (8.0 * PI * x).cos())
        .collect();
    let traj = f.solve_from(&[nu, 0.0], &u0, &[0.5]).unwrap();
    let exact: Vec<f64> = x
        .iter()
        .map(|x| {
            1.0 + (2.0 * PI * x).sin() * (-nu * 4.0 * PI * PI * 0.5).exp()
                + 0.3 * (8.0 * PI * x).cos() * (-nu * 64.0 * PI * PI * 0.5).exp()
        })
        .collect();
    assert!(max_err(traj.frame(0), &exact) < 1e-12);
    let mass = |v: &[f64]| v.iter().sum::<f64>();
    assert!((mass(traj.frame(0)) - mass(&u0)).abs() < 1e-9);
}

#[test]
fn diffusion_reaction_stays_in_the_unit_interval_and_is_fourth_order_in_time() {
    let f = DiffusionReaction1d {
        resolution: 256,
        stored_resolution: 256,
        ..DiffusionReaction1d::default()
    };
    let times: Vec<f64> = (0..11).map(|i| i as f64 * 0.1).collect();
    for seed in 0..3 {
        let traj = f.generate(&[0.5, 10.0], seed, &times).unwrap();
        let (lo, hi) = traj
            .values
            .iter()
            .fold((1.0f64, 0.0f64), |(a, b), &v| (a.min(v), b.max(v)));
        assert!(lo > -1e-8 && hi < 1.0 + 1e-8, "range [{lo}, {hi}]");
    }
    let small = DiffusionReaction1d {
        resolution: 64,
        stored_resolution: 64,
        ..DiffusionReaction1d::default()
    };
    let u0 = small.initial_state(&[0.01, 5.0], 1).unwrap();
    let p = [0.01, 5.0];
    let reference = small.solve_with_dt(&p, &u0, &[0.5], 1e-3).unwrap();
    let errs: Vec<f64> = [0.1, 0.05, 0.025]
        .iter()
        .map(|&dt| {
            max_err(
                small.solve_with_dt(&p, &u0, &[0.5], dt).unwrap().frame(0),
                reference.frame(0),
            )
        })
        .collect();
    assert_order(&errs, 3.7, "diffusion-reaction ETDRK4");
}

// ------------------------------------------------------------------------------ KS and KdV

#[test]
fn kuramoto_sivashinsky_is_fourth_order_in_time_and_stays_bounded() {
    let f = KuramotoSivashinsky1d {
        resolution: 128,
        stored_resolution: 128,
        ..KuramotoSivashinsky1d::default()
    };
    let u0 = f.initial_state(&[64.0], 3).unwrap();
    let reference = f.solve_with_dt(&[64.0], &u0, &[5.0], 5e-4).unwrap();
    let errs: Vec<f64> = [0.0125, 0.00625, 0.003125]
        .iter()
        .map(|&dt| {
            max_err(
                f.solve_with_dt(&[64.0], &u0, &[5.0], dt).unwrap().frame(0),
                reference.frame(0),
            )
        })
        .collect();
    assert_order(&errs, 3.7, "KS ETDRK4");
    // The attractor is bounded: a long run neither blows up nor decays to zero.
    let long = f.generate(&[64.0], 3, &[0.0, 100.0, 200.0]).unwrap();
    let amax = long.frame(2).iter().fold(0.0f64, |m, v| m.max(v.abs()));
    assert!(amax > 0.5 && amax < 10.0, "max |u| = {amax}");
    // Mean is conserved (the nonlinearity is a flux).
    let mean = |t| long.frame(t).iter().sum::<f64>() / 128.0;
    assert!((mean(2) - mean(0)).abs() < 1e-10);
}

#[test]
fn kdv_soliton_travels_at_its_speed_with_spectral_accuracy() {
    let (c, x0, delta, t) = (1.0, 10.0, 1.0, 4.0);
    let errs: Vec<f64> = [64, 128, 256]
        .iter()
        .map(|&n| {
            let f = Kdv1d {
                resolution: n,
                stored_resolution: n,
                ..Kdv1d::default()
            };
            let x = f.solver_axes()[0].coords.clone();
            let traj = f
                .solve_from(&[delta], &kdv_soliton(&x, c, x0, delta, f.length), &[t])
                .unwrap();
            max_err(
                traj.frame(0),
                &kdv_soliton(&x, c, x0 + c * t, delta, f.length),
            )
        })
        .collect();
    assert!(errs[2] < 1e-6, "{errs:?}");
    assert!(
        errs[1] < errs[0] / 20.0,
        "spectral convergence expected: {errs:?}"
    );
    // Time order with a fixed step, against a much finer step.
    let f = Kdv1d {
        resolution: 128,
        stored_resolution: 128,
        ..Kdv1d::default()
    };
    let x = f.solver_axes()[0].coords.clone();
    let u0 = kdv_soliton(&x, 2.0, 10.0, delta, f.length);
    let exact = f.solve_with_dt(&[delta], &u0, &[1.0], 5e-4).unwrap().values;
    let errs: Vec<f64> = [0.04, 0.02, 0.01]
        .iter()
        .map(|&dt| {
            max_err(
                f.solve_with_dt(&[delta], &u0, &[1.0], dt).unwrap().frame(0),
                &exact,
            )
        })
        .collect();
    assert_order(&errs, 3.7, "KdV ETDRK4");
}

// ------------------------------------------------------------------------------ terms1d

#[test]
fn terms1d_corners_are_burgers_kdv_and_exact_advection_diffusion() {
    // Burgers: alpha = 1, beta = nu / pi gives burgers1d's trajectory from the same state.
    let burgers = Burgers1d {
        resolution: 256,
        stored_resolution: 64,
        ..Burgers1d::default()
    };
    let terms = Terms1d {
        resolution: 256,
        stored_resolution: 64,
        length: 1.0,
        ..Terms1d::default()
    };
    let nu = 0.05;
    let u0 = burgers.initial_state(&[nu], 3).unwrap();
    let times = [0.0, 0.1, 0.3];
    let b = burgers.solve_from(&[nu], &u0, &times).unwrap();
    let t = terms
        .solve_from(&[1.0, nu / PI, 0.0, 0.0], &u0, &times)
        .unwrap();
    assert!(
        max_err(&b.values, &t.values) < 1e-9,
        "{}",
        max_err(&b.values, &t.values)
    );
    // KdV: alpha = 6, gamma = delta, from kdv1d's two solitons.
    let kdv = Kdv1d::default();
    let terms = Terms1d {
        resolution: kdv.resolution,
        stored_resolution: kdv.stored_resolution,
        length: kdv.length,
        ..Terms1d::default()
    };
    let u0 = kdv.initial_state(&[1.0], 4).unwrap();
    let k = kdv.solve_from(&[1.0], &u0, &[0.0, 2.0]).unwrap();
    let t = terms
        .solve_from(&[6.0, 0.0, 1.0, 0.0], &u0, &[0.0, 2.0])
        .unwrap();
    assert!(
        max_err(&k.values, &t.values) < 1e-9,
        "{}",
        max_err(&k.values, &t.values)
    );
    // Advection-diffusion (and dispersion) of one mode is exact:
    // sin(m x) -> exp(-beta m^2 t) sin(m (x - (c - gamma m^2) t)).
    let f = Terms1d {
        resolution: 64,
        stored_resolution: 64,
        ..Terms1d::default()
    };
    let x = f.solver_axes()[0].coords.clone();
    let (m, beta, gamma, c, time) = (3.0, 0.05, 0.01, 1.5, 0.7);
    let u0: Vec<f64> = x.iter().map(|x| (m * x).sin()).collect();
    let got = f.solve_from(&[0.0, beta, gamma, c], &u0, &[time]).unwrap();
    let speed = c - gamma * m * m;
    let exact: Vec<f64> = x
        .iter()
        .map(|x| (-beta * m * m * time).exp() * (m * (x - speed * time)).sin())
        .collect();
    assert!(
        max_err(got.frame(0), &exact) < 1e-12,
        "{}",
        max_err(got.frame(0), &exact)
    );
    // Negative diffusion is refused by name.
    let e = f
        .solve_from(&[1.0, -0.1, 0.0, 0.0], &u0, &[time])
        .unwrap_err()
        .to_string();
    assert!(e.contains("terms1d.beta"), "{e}");
}

// ------------------------------------------------------------------------------ Navier-Stokes

#[test]
fn navier_stokes_decays_a_taylor_green_vortex_exactly() {
    let f = NavierStokes2d {
        resolution: 32,
        stored_resolution: 32,
        ..NavierStokes2d::default()
    };
    let ax = f.solver_axes();
    let w0: Vec<f64> = ax[0]
        .coords
        .iter()
        .flat_map(|&x| {
            ax[1]
                .coords
                .iter()
                .map(move |&y| (2.0 * PI * x).cos() * (2.0 * PI * y).cos())
        })
        .collect();
    let nu = 0.01;
    let traj = f.solve_from(&[nu, 0.0], &w0, &[0.5]).unwrap();
    let decay = (-nu * 8.0 * PI * PI * 0.5).exp();
    let exact: Vec<f64> = w0.iter().map(|w| w * decay).collect();
    assert!(max_err(traj.frame(0), &exact) < 1e-10);
}

#[test]
fn navier_stokes_keeps_mean_vorticity_dissipates_enstrophy_and_is_fourth_order() {
    let f = NavierStokes2d {
        resolution: 32,
        stored_resolution: 32,
        ..NavierStokes2d::default()
    };
    let w0 = f.initial_state(&[1e-3, 1.0], 5).unwrap();
    let forced = f.solve_from(&[1e-3, 1.0], &w0, &[0.0, 1.0, 2.0]).unwrap();
    for t in 0..3 {
        let mean = forced.frame(t).iter().sum::<f64>() / 1024.0;
        assert!(mean.abs() < 1e-10, "mean vorticity {mean} at frame {t}");
    }
    let free = f
        .solve_from(&[5e-3, 0.0], &w0, &[0.0, 0.5, 1.0, 1.5])
        .unwrap();
    let enstrophy = |t: usize| free.frame(t).iter().map(|w| w * w).sum::<f64>();
    for t in 1..4 {
        assert!(
            enstrophy(t) < enstrophy(t - 1),
            "enstrophy grew at frame {t}"
        );
    }
    let p = [1e-3, 1.0];
    let reference = f.solve_with_dt(&p, &w0, &[0.5], 1e-3).unwrap();
    let errs: Vec<f64> = [0.02, 0.01, 0.005]
        .iter()
        .map(|&dt| {
            max_err(
                f.solve_with_dt(&p, &w0, &[0.5], dt).unwrap().frame(0),
                reference.frame(0),
            )
        })
        .collect();
    assert_order(&errs, 3.7, "Navier-Stokes ETDRK4");
}

#[test]
fn navier_stokes_blow_up_names_family_parameters_and_time() {
    let f = NavierStokes2d {
        resolution: 32,
        stored_resolution: 32,
        ..NavierStokes2d::default()
    };
    let w0: Vec<f64> = f
        .initial_state(&[1e-4, 1.0], 1)
        .unwrap()
        .iter()
        .map(|w| w * 200.0)
        .collect();
    let e = f
        .solve_with_dt(&[1e-4, 1.0], &w0, &[5.0], 1.0)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("navier_stokes2d") && e.contains("nu=0.0001") && e.contains("t = "),
        "{e}"
    );
}

// ------------------------------------------------------------------------------ Gray-Scott

fn smooth_gs(n: usize, length: f64) -> Vec<f64> {
    let dx = length / n as f64;
    (0..n * n)
        .flat_map(|p| {
            let (x, y) = ((p / n) as f64 * dx, (p % n) as f64 * dx);
            let s = (2.0 * PI * x / length).sin() * (2.0 * PI * y / length).cos();
            [0.7 + 0.2 * s, 0.2 - 0.1 * s]
        })
        .collect()
}

#[test]
fn gray_scott_converges_at_fourth_order_in_time_and_second_in_space() {
    let p = [0.03, 0.058, 0.2097, 0.105];
    let f = GrayScott2d {
        resolution: 16,
        length: 16.0,
        ..GrayScott2d::default()
    };
    let u0 = smooth_gs(16, 16.0);
    let reference = f.solve_with_dt(&p, &u0, &[20.0], 1.0 / 32.0).unwrap();
    let errs: Vec<f64> = [1.0, 0.5, 0.25]
        .iter()
        .map(|&dt| {
            max_err(
                f.solve_with_dt(&p, &u0, &[20.0], dt).unwrap().frame(0),
                reference.frame(0),
            )
        })
        .collect();
    assert_order(&errs, 3.7, "Gray-Scott RK4");
    let solve = |n: usize| {
        let f = GrayScott2d {
            resolution: n,
            length: 16.0,
            ..GrayScott2d::default()
        };
        f.solve_with_dt(&p, &smooth_gs(n, 16.0), &[10.0], 0.01)
            .unwrap()
    };
    let fine = solve(128);
    let errs: Vec<f64> = [8usize, 16, 32]
        .iter()
        .map(|&n| {
            let coarse = solve(n);
            let sub = fine.subsample(128 / n);
            max_err(&coarse.values, &sub.values)
        })
        .collect();
    assert_order(&errs, 1.7, "Gray-Scott nine-point Laplacian");
}

#[test]
fn gray_scott_keeps_both_species_non_negative() {
    let f = GrayScott2d::default();
    let times: Vec<f64> = (0..11).map(|i| 40.0 * i as f64).collect();
    let traj = f
        .generate(&[0.039, 0.058, 0.2097, 0.105], 11, &times)
        .unwrap();
    let lo = traj.values.iter().fold(f64::INFINITY, |m, &v| m.min(v));
    assert!(lo >= 0.0, "minimum {lo}");
    assert!(traj.frame(10) != traj.frame(0));
}

// ------------------------------------------------------------------------------ FitzHugh-Nagumo

#[test]
fn fitzhugh_nagumo_no_flux_walls_keep_a_uniform_state_uniform() {
    let f = DiffusionReaction2d {
        resolution: 16,
        ..DiffusionReaction2d::default()
    };
    let p = [1e-3, 5e-3, 5e-3];
    let u0: Vec<f64> = (0..256).flat_map(|_| [0.5, 0.1]).collect();
    let traj = f.solve_from(&p, &u0, &[1.0]).unwrap();
    // The ODE u' = u - u^3 - k - v, v' = u - v, integrated finely (midpoint rule).
    let (mut u, mut v) = (0.5f64, 0.1f64);
    let h = 1e-5;
    for _ in 0..100_000 {
        let (du, dv) = (u - u * u * u - p[2] - v, u - v);
        let (u2, v2) = (u + 0.5 * h * du, v + 0.5 * h * dv);
        u += h * (u2 - u2 * u2 * u2 - p[2] - v2);
        v += h * (u2 - v2);
    }
    let first = [traj.frame(0)[0], traj.frame(0)[1]];
    for pair in traj.frame(0).chunks(2) {
        assert!(
            (pair[0] - first[0]).abs() < 1e-13 && (pair[1] - first[1]).abs() < 1e-13,
            "not uniform: {pair:?}"
        );
    }
    assert!(
        (first[0] - u).abs() < 1e-5 && (first[1] - v).abs() < 1e-5,
        "{first:?} vs ({u}, {v})"
    );
}

#[test]
fn fitzhugh_nagumo_is_fourth_order_in_time() {
    let f = DiffusionReaction2d {
        resolution: 32,
        ..DiffusionReaction2d::default()
    };
    let p = [1e-3, 5e-3, 5e-3];
    let u0: Vec<f64> = f
        .initial_state(&p, 2)
        .unwrap()
        .iter()
        .map(|v| 0.3 * v)
        .collect();
    // A smoothed state: a short diffusion-dominated run first.
    let u0 = f
        .solve_from(&[2e-2, 2e-2, 0.0], &u0, &[0.2])
        .unwrap()
        .values;
    let reference = f.solve_with_dt(&p, &u0, &[0.5], 1e-3).unwrap();
    let errs: Vec<f64> = [0.04, 0.02, 0.01]
        .iter()
        .map(|&dt| {
            max_err(
                f.solve_with_dt(&p, &u0, &[0.5], dt).unwrap().frame(0),
                reference.frame(0),
            )
        })
        .collect();
    assert_order(&errs, 3.7, "FitzHugh-Nagumo RK4");
}

// ------------------------------------------------------------------------------ wave

fn standing_mode(n: usize, bc: f64, t: f64) -> Vec<f64> {
    let (m, k) = (2.0f64, 1.0f64);
    let omega = PI * (m * m + k * k).sqrt();
    (0..n * n)
        .flat_map(|p| {
            let (x, y) = (
                ((p / n) as f64 + 0.5) / n as f64,
                ((p % n) as f64 + 0.5) / n as f64,
            );
            let shape = if bc == 0.0 {
                (m * PI * x).sin() * (k * PI * y).sin()
            } else {
                (m * PI * x).cos() * (k * PI * y).cos()
            };
            [
                shape * (omega * t).cos(),
                -omega * shape * (omega * t).sin(),
            ]
        })
        .collect()
}

#[test]
fn wave_standing_modes_converge_at_second_order_for_both_walls() {
    for bc in [0.0, 1.0] {
        let errs: Vec<f64> = [16usize, 32, 64]
            .iter()
            .map(|&n| {
                let f = Wave2d { resolution: n };
                let traj = f
                    .solve_from(&[1.0, bc], &standing_mode(n, bc, 0.0), &[0.7])
                    .unwrap();
                max_err(traj.frame(0), &standing_mode(n, bc, 0.7))
            })
            .collect();
        assert!(errs[2] < 2e-2, "bc {bc}: {errs:?}");
        assert_order(
            &errs,
            1.7,
            if bc == 0.0 {
                "wave Dirichlet"
            } else {
                "wave Neumann"
            },
        );
    }
}

#[test]
fn wave_energy_is_nearly_conserved_and_a_too_long_step_is_a_blow_up() {
    let f = Wave2d { resolution: 32 };
    let p = [1.5, 1.0];
    let u0 = f.initial_state(&p, 9).unwrap();
    let traj = f.solve_from(&p, &u0, &[0.0, 1.0, 2.0]).unwrap();
    let energy = |t: usize| {
        let fr = traj.frame(t);
        let n = 32;
        let dx = 1.0 / n as f64;
        let mut e = 0.0;
        for i in 0..n {
            for j in 0..n {
                let ut = fr[2 * (i * n + j) + 1];
                e += 0.5 * ut * ut;
                if i + 1 < n {
                    let d = (fr[2 * ((i + 1) * n + j)] - fr[2 * (i * n + j)]) / dx;
                    e += 0.5 * p[0] * p[0] * d * d;
                }
                if j + 1 < n {
                    let d = (fr[2 * (i * n + j + 1)] - fr[2 * (i * n + j)]) / dx;
                    e += 0.5 * p[0] * p[0] * d * d;
                }
            }
        }
        e
    };
    for t in 1..3 {
        assert!(
            (energy(t) / energy(0) - 1.0).abs() < 0.02,
            "energy ratio {}",
            energy(t) / energy(0)
        );
    }
    let e = f.solve_with_dt(&p, &u0, &[200.0], 0.2).unwrap_err();
    assert!(
        matches!(
            e,
            PdeError::BlowUp {
                family: "wave2d",
                ..
            }
        ),
        "{e}"
    );
}

// ------------------------------------------------------------------------------ shallow water

#[test]
fn shallow_water_keeps_a_lake_at_rest_and_conserves_mass_and_symmetry() {
    let f = ShallowWater2d {
        resolution: 32,
        ..ShallowWater2d::default()
    };
    let rest: Vec<f64> = (0..1024).flat_map(|_| [1.3, 0.0, 0.0]).collect();
    let traj = f.solve_from(&[0.5, 2.0], &rest, &[0.5]).unwrap();
    assert!(max_err(traj.frame(0), &rest) < 1e-13);
    let f = ShallowWater2d {
        resolution: 48,
        ..ShallowWater2d::default()
    };
    let times = [0.0, 0.5, 1.0, 2.0];
    let traj = f.generate(&[0.6, 2.0], 0, &times).unwrap();
    let mass = |t: usize| traj.frame(t).iter().step_by(3).sum::<f64>();
    let hmin = traj
        .values
        .iter()
        .step_by(3)
        .fold(f64::INFINITY, |m, &h| m.min(h));
    assert!(hmin > 0.3, "depth fell to {hmin}");
    for t in 1..4 {
        assert!(
            (mass(t) / mass(0) - 1.0).abs() < 1e-13,
            "mass drift at frame {t}"
        );
    }
    // The centred dam stays symmetric under x <-> y.
    let n = 48;
    let fr = traj.frame(3);
    for i in 0..n {
        for j in 0..n {
            let (a, b) = (fr[3 * (i * n + j)], fr[3 * (j * n + i)]);
            assert!(
                (a - b).abs() < 1e-10,
                "h({i},{j}) = {a} but h({j},{i}) = {b}"
            );
        }
    }
}

#[test]
fn shallow_water_is_second_order_on_a_smooth_wave() {
    let hump = |n: usize| -> Vec<f64> {
        let ax = ShallowWater2d {
            resolution: n,
            ..ShallowWater2d::default()
        }
        .solver_axes();
        let mut out = Vec::new();
        for &x in &ax[0].coords {
            for &y in &ax[1].coords {
                out.extend_from_slice(&[1.0 + 0.1 * (-(x * x + y * y) / 0.5).exp(), 0.0, 0.0]);
            }
        }
        out
    };
    let solve = |n: usize| {
        let f = ShallowWater2d {
            resolution: n,
            ..ShallowWater2d::default()
        };
        let dt = 0.1 * 5.0 / n as f64;
        f.solve_with_dt(&[0.5, 2.0], &hump(n), &[0.5], dt).unwrap()
    };
    let fine = solve(384);
    // Cell averages of the fine solution over each coarse cell.
    let average = |n: usize| -> Vec<f64> {
        let r = 384 / n;
        let mut out = vec![0.0; n * n];
        for i in 0..384 {
            for j in 0..384 {
                out[(i / r) * n + j / r] += fine.values[3 * (i * 384 + j)] / (r * r) as f64;
            }
        }
        out
    };
    let errs: Vec<f64> = [24usize, 48, 96]
        .iter()
        .map(|&n| {
            let h: Vec<f64> = solve(n).values.iter().step_by(3).copied().collect();
            l1_err(&h, &average(n))
        })
        .collect();
    assert_order(&errs, 1.7, "shallow water MUSCL");
}

// ------------------------------------------------------------------------------ Darcy

#[test]
fn darcy_manufactured_solution_converges_at_second_order() {
    let errs: Vec<f64> = [17usize, 33, 65]
        .iter()
        .map(|&n| {
            let f = Darcy2d {
                resolution: n,
                ..Darcy2d::default()
            };
            let ax = f.solver_axes();
            // u = sin(pi x) sin(pi y), a = 1 + x + y: f = -(a lap u + grad a . grad u).
            let (mut a, mut exact, mut rhs) = (Vec::new(), Vec::new(), Vec::new());
            for &x in &ax[0].coords {
                for &y in &ax[1].coords {
                    let av = 1.0 + x + y;
                    let u = (PI * x).sin() * (PI * y).sin();
                    let lap = -2.0 * PI * PI * u;
                    let grad =
                        PI * (PI * x).cos() * (PI * y).sin() + PI * (PI * x).sin() * (PI * y).cos();
                    a.push(av);
                    exact.push(u);
                    rhs.push(-(av * lap + grad));
                }
            }
            max_err(&f.solve_with_forcing(&a, &rhs).unwrap(), &exact)
        })
        .collect();
    assert_order(&errs, 1.8, "Darcy five-point");
}

#[test]
fn darcy_samples_are_two_valued_positive_inside_and_linear_in_the_forcing() {
    let f = Darcy2d {
        resolution: 33,
        ..Darcy2d::default()
    };
    let traj = f.generate(&[1.0], 4, &[0.0]).unwrap();
    let a: Vec<f64> = traj.channel(0, 0);
    let u: Vec<f64> = traj.channel(0, 1);
    assert!(a.iter().all(|&v| v == 12.0 || v == 3.0));
    assert!(a.contains(&12.0) && a.contains(&3.0));
    assert!(u.iter().all(|&v| v >= 0.0) && u.iter().any(|&v| v > 1e-4));
    let u10 = f.generate(&[10.0], 4, &[0.0]).unwrap().channel(0, 1);
    assert!(max_err(&u10, &u.iter().map(|v| 10.0 * v).collect::<Vec<_>>()) < 1e-8);
}

// ------------------------------------------------------------------------------ Lotka-Volterra

#[test]
fn lotka_volterra_conserves_its_first_integral_and_is_fourth_order() {
    let f = LotkaVolterra::default();
    let p = [0.5, 0.75, 0.5, 1.0];
    let invariant = |s: &[f64]| p[3] * s[0] - p[2] * s[0].ln() + p[1] * s[1] - p[0] * s[1].ln();
    let times: Vec<f64> = (0..21).map(|i| 0.5 * i as f64).collect();
    let traj = f.generate(&p, 3, &times).unwrap();
    let v0 = invariant(traj.frame(0));
    for t in 0..21 {
        assert!((invariant(traj.frame(t)) - v0).abs() < 1e-10);
        assert!(traj.frame(t).iter().all(|&v| v > 0.0));
    }
    let u0 = [1.5, 1.2];
    let reference = f.solve_with_dt(&p, &u0, &[10.0], 1e-3).unwrap();
    let errs: Vec<f64> = [0.2, 0.1, 0.05]
        .iter()
        .map(|&dt| {
            max_err(
                f.solve_with_dt(&p, &u0, &[10.0], dt).unwrap().frame(0),
                reference.frame(0),
            )
        })
        .collect();
    assert_order(&errs, 3.7, "Lotka-Volterra RK4");
}

// ------------------------------------------------------------------------------ the contract

fn small(kind: &str) -> FamilyConfig {
    let mut c = FamilyConfig::default_for(kind).unwrap();
    c.set_resolution(match kind {
        "darcy2d" => 17,
        k if k.ends_with("2d") => 16,
        _ => 32,
    });
    c
}

#[test]
fn every_family_honours_the_trait_contract() {
    for kind in FAMILY_NAMES {
        let cfg = small(kind);
        let f = cfg.family();
        assert_eq!(f.name(), kind);
        f.validate().unwrap();
        let spec = f.parameters();
        let names: std::collections::BTreeSet<_> = spec.iter().map(|p| p.name.clone()).collect();
        assert_eq!(names.len(), spec.len(), "{kind}: duplicate parameter names");
        let params = f.default_params();
        let times = if f.steady() {
            vec![0.0]
        } else {
            TimeSampling {
                t_start: 0.0,
                t_end: 0.05,
                frames: 3,
                irregular: true,
            }
            .times(1)
        };
        let a = f.generate(&params, 1, &times).unwrap();
        let b = f.generate(&params, 1, &times).unwrap();
        let c = f.generate(&params, 2, &times).unwrap();
        assert_eq!(a, b, "{kind}: not reproducible");
        // The dam break's initial state is fixed by its parameters (PDEBench's setting).
        if kind != "shallow_water2d" {
            assert_ne!(a.values, c.values, "{kind}: the seed changes nothing");
        }
        assert_eq!(a.times, times);
        let shape: Vec<usize> = f.axes().iter().map(|a| a.coords.len()).collect();
        assert_eq!(a.shape, shape, "{kind}");
        assert_eq!(a.channels, f.channels().len(), "{kind}");
        assert_eq!(a.values.len(), times.len() * a.frame_len());
        assert!(a.values.iter().all(|v| v.is_finite()));
        // Wrong parameter counts and non-finite initial states are named errors.
        let e = f
            .solve_from(&params[..params.len() - 1], &[], &times)
            .unwrap_err()
            .to_string();
        assert!(e.contains(kind) && e.contains("expected"), "{kind}: {e}");
        let mut u0 = f.initial_state(&params, 1).unwrap();
        u0[0] = f64::NAN;
        let e = f.solve_from(&params, &u0, &times).unwrap_err().to_string();
        assert!(
            e.contains("initial[0]") || e.contains("initial h"),
            "{kind}: {e}"
        );
        // TOML round trip.
        let text = toml::to_string(&cfg).unwrap();
        let back: FamilyConfig = toml::from_str(&text).unwrap();
        assert_eq!(back, cfg, "{kind}");
    }
}

#[test]
fn unknown_keys_and_kinds_are_rejected_by_name() {
    let e = toml::from_str::<FamilyConfig>("kind = \"burgers1d\"\nresolutoin = 4")
        .unwrap_err()
        .to_string();
    assert!(e.contains("resolutoin"), "{e}");
    let e = toml::from_str::<FamilyConfig>("kind = \"navier_stokes3d\"")
        .unwrap_err()
        .to_string();
    assert!(e.contains("navier_stokes3d"), "{e}");
}
