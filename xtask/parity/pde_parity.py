"""Independent solutions of physfm's PDE families, for `cargo xtask parity pde`.

Usage: python pde_parity.py --cases IN_DIR --out OUT_DIR

Each `IN_DIR/<case>.json` (written by the Rust side) holds:
  family    physfm family name, e.g. "burgers1d"
  params    named parameter values (a boundary choice is a string, e.g. "bc": "neumann")
  axes      [{name, lower, length, boundary, coords}] per spatial axis ([] for an ODE)
  channels  channel names
  times     save times; times[0] is the initial state
  initial   flattened initial state, layout [*S, C] (channel last)
  physfm    physfm's flattened solution [T, *S, C] (not used here)

For each case this writes `OUT_DIR/<case>.result.json`:
  {"family", "solver", "wall_s", "solution": flattened [T, *S, C]}
or {"family", "skipped": reason} / {"family", "error": message}. A failing case does not
stop the others.

The solvers are py-pde's finite differences (second order in space, adaptive RK45 through
scipy in time) and scipy's ODE and sparse solvers: independent of physfm's pseudo-spectral,
RK4, Verlet and conjugate-gradient code. The differences therefore include both methods'
discretisation errors.
"""

import argparse
import json
import math
import pathlib
import subprocess
import sys
import time
import traceback

import numpy as np

RTOL, ATOL = 1e-8, 1e-10


def grid_of(axes):
    import pde

    bounds = [[a["lower"], a["lower"] + a["length"]] for a in axes]
    shape = [len(a["coords"]) for a in axes]
    periodic = [a["boundary"] == "periodic" for a in axes]
    return pde.CartesianGrid(bounds, shape, periodic=periodic)


def evolve(eq, state, times):
    """Solves `eq` from `state`, returning the states at `times` (times[0] is the start)."""
    import pde

    storage = pde.MemoryStorage()
    t_end = times[-1]
    eq.solve(
        state,
        t_range=t_end,
        dt=1e-4,
        solver="scipy",
        rtol=RTOL,
        atol=ATOL,
        tracker=[storage.tracker(list(times))],
    )
    out = []
    for t in times:
        i = int(np.argmin(np.abs(np.asarray(storage.times) - t)))
        if abs(storage.times[i] - t) > 1e-9 * max(1.0, abs(t)):
            raise RuntimeError(f"no stored state at t = {t}")
        out.append(storage.data[i])
    return out


def scalar_case(case, expr, bc="auto_periodic_neumann"):
    import pde

    grid = grid_of(case["axes"])
    u0 = np.asarray(case["initial"]).reshape(grid.shape)
    state = pde.ScalarField(grid, u0)
    eq = pde.PDE({"u": expr}, bc=bc)
    frames = evolve(eq, state, case["times"])
    return np.concatenate([np.asarray(f).ravel() for f in frames]), f"py-pde {pde.__version__} PDE('{expr}'), scipy RK45 rtol {RTOL}"


def two_field_case(case, exprs, bc):
    import pde

    grid = grid_of(case["axes"])
    init = np.asarray(case["initial"]).reshape(tuple(grid.shape) + (2,))
    names = list(exprs)
    state = pde.FieldCollection([pde.ScalarField(grid, init[..., i], label=n) for i, n in enumerate(names)])
    eq = pde.PDE(exprs, bc=bc)
    frames = evolve(eq, state, case["times"])
    out = [np.stack([np.asarray(f[0]), np.asarray(f[1])], axis=-1).ravel() for f in frames]
    return np.concatenate(out), f"py-pde {pde.__version__} PDE({exprs}), scipy RK45 rtol {RTOL}"


def navier_stokes(case):
    import pde

    p = case["params"]
    nu, amp = p["nu"], p["forcing"]
    grid = grid_of(case["axes"])
    w0 = np.asarray(case["initial"]).reshape(grid.shape)
    # The forcing at physfm's points (py-pde's cell centres are the same values shifted by
    # half a cell, a translation that the periodic problem does not see).
    x, y = np.meshgrid(*[np.asarray(a["coords"]) for a in case["axes"]], indexing="ij")
    forcing = amp * 0.1 * (np.sin(2 * np.pi * (x + y)) + np.cos(2 * np.pi * (x + y)))

    class Vorticity(pde.PDEBase):
        def evolution_rate(self, state, t=0):
            # lap(psi) = -w; the mean of w has no stream function and is removed.
            rhs = pde.ScalarField(grid, -(state.data - state.data.mean()))
            psi = pde.solve_poisson_equation(rhs, bc="periodic")
            grad_psi = psi.gradient(bc="periodic")
            grad_w = state.gradient(bc="periodic")
            u, v = grad_psi.data[1], -grad_psi.data[0]
            adv = u * grad_w.data[0] + v * grad_w.data[1]
            lap = state.laplace(bc="periodic")
            return pde.ScalarField(grid, nu * lap.data - adv + forcing)

    frames = evolve(Vorticity(), pde.ScalarField(grid, w0), case["times"])
    return np.concatenate([np.asarray(f).ravel() for f in frames]), f"py-pde {pde.__version__} PDEBase vorticity-streamfunction (FD Poisson), scipy RK45 rtol {RTOL}"


def darcy(case):
    import scipy
    import scipy.sparse as sp
    import scipy.sparse.linalg as spla

    n = len(case["axes"][0]["coords"])
    init = np.asarray(case["initial"]).reshape(n, n, 2)
    a = init[..., 0]
    beta = case["params"]["beta"]
    h = 1.0 / (n - 1)
    m = n - 2
    idx = lambda i, j: (i - 1) * m + (j - 1)
    rows, cols, vals = [], [], []
    b = np.full(m * m, beta)
    for i in range(1, n - 1):
        for j in range(1, n - 1):
            k = idx(i, j)
            diag = 0.0
            for di, dj in ((1, 0), (-1, 0), (0, 1), (0, -1)):
                c = 0.5 * (a[i, j] + a[i + di, j + dj]) / h**2  # arithmetic-mean faces
                diag += c
                ii, jj = i + di, j + dj
                if 1 <= ii <= n - 2 and 1 <= jj <= n - 2:
                    rows.append(k)
                    cols.append(idx(ii, jj))
                    vals.append(-c)
            rows.append(k)
            cols.append(k)
            vals.append(diag)
    A = sp.csr_matrix((vals, (rows, cols)), shape=(m * m, m * m))
    u_in = spla.spsolve(A, b)
    u = np.zeros((n, n))
    u[1:-1, 1:-1] = u_in.reshape(m, m)
    out = np.stack([a, u], axis=-1).ravel()
    return out, f"scipy {scipy.__version__} sparse direct solve, five-point with arithmetic-mean faces (physfm: harmonic mean, PCG)"


def wave(case):
    import pde

    p = case["params"]
    grid = grid_of(case["axes"])
    bc = {"value": 0} if p["bc"] == "dirichlet" else {"derivative": 0}
    init = np.asarray(case["initial"]).reshape(tuple(grid.shape) + (2,))
    eq = pde.WavePDE(speed=p["c"], bc=bc)
    state = pde.FieldCollection([pde.ScalarField(grid, init[..., 0], label="u"), pde.ScalarField(grid, init[..., 1], label="v")])
    frames = evolve(eq, state, case["times"])
    out = [np.stack([np.asarray(f[0]), np.asarray(f[1])], axis=-1).ravel() for f in frames]
    return np.concatenate(out), f"py-pde {pde.__version__} WavePDE(bc={bc}), scipy RK45 rtol {RTOL}"


def lotka_volterra(case):
    import scipy
    from scipy.integrate import solve_ivp

    p = case["params"]
    a, b, g, d = p["alpha"], p["beta"], p["gamma"], p["delta"]
    rhs = lambda t, s: [a * s[0] - b * s[0] * s[1], d * s[0] * s[1] - g * s[1]]
    times = case["times"]
    sol = solve_ivp(rhs, (times[0], times[-1]), case["initial"], method="DOP853", t_eval=times, rtol=1e-10, atol=1e-12)
    if not sol.success:
        raise RuntimeError(sol.message)
    return sol.y.T.ravel(), f"scipy {scipy.__version__} solve_ivp DOP853 rtol 1e-10"


def solve(case):
    f, p = case["family"], case["params"]
    if f == "advection1d":
        return scalar_case(case, f"-{p['beta']} * d_dx(u)")
    if f == "burgers1d":
        return scalar_case(case, f"-u * d_dx(u) + {p['nu'] / math.pi} * laplace(u)")
    if f == "diffusion_reaction1d":
        return scalar_case(case, f"{p['nu']} * laplace(u) + {p['rho']} * u * (1 - u)")
    if f == "kuramoto_sivashinsky1d":
        return scalar_case(case, "-u * d_dx(u) - laplace(u) - laplace(laplace(u))")
    if f == "kdv1d":
        return scalar_case(case, f"-6 * u * d_dx(u) - {p['delta']} * d_dx(laplace(u))")
    if f == "navier_stokes2d":
        return navier_stokes(case)
    if f == "gray_scott2d":
        F, k, ru, rv = p["F"], p["k"], p["r_u"], p["r_v"]
        return two_field_case(
            case,
            {"u": f"{ru} * laplace(u) - u * v**2 + {F} * (1 - u)", "v": f"{rv} * laplace(v) + u * v**2 - ({F} + {k}) * v"},
            "periodic",
        )
    if f == "diffusion_reaction2d":
        return two_field_case(
            case,
            {"u": f"{p['Du']} * laplace(u) + u - u**3 - {p['k']} - v", "v": f"{p['Dv']} * laplace(v) + u - v"},
            {"derivative": 0},
        )
    if f == "darcy2d":
        return darcy(case)
    if f == "wave2d":
        return wave(case)
    if f == "lotka_volterra":
        return lotka_volterra(case)
    return None


SKIP = {
    "shallow_water2d": "no independent solver fits: py-pde's finite differences have no Riemann solver or limiter for the dam-break shocks, and clawpack (PDEBench's own solver) ships no wheel for this Python and needs a Fortran compiler",
}


def run_one(path, out):
    """Solves one case file and writes its result file."""
    case = json.loads(path.read_text())
    if True:
        family = case["family"]
        target = out / f"{path.stem}.result.json"
        if family in SKIP:
            result = {"family": family, "skipped": SKIP[family]}
        else:
            start = time.perf_counter()
            try:
                solved = solve(case)
                if solved is None:
                    result = {"family": family, "skipped": "no independent solver for this family"}
                else:
                    values, solver = solved
                    result = {"family": family, "solver": solver, "wall_s": time.perf_counter() - start, "solution": [float(v) for v in values]}
            except Exception as e:  # report and go on with the other cases
                result = {"family": family, "error": f"{type(e).__name__}: {e}", "trace": traceback.format_exc()}
        target.write_text(json.dumps(result))
        status = result.get("skipped") or result.get("error") or f"{result['wall_s']:.1f} s, {result['solver']}"
        print(f"{path.stem:<24} {status}", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", required=True, type=pathlib.Path, help="folder of case files, or one case file")
    ap.add_argument("--out", required=True, type=pathlib.Path)
    ap.add_argument("--in-process", action="store_true", help="solve in this process (one case file)")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.in_process:
        run_one(args.cases, args.out)
        return 0
    if not args.cases.is_dir():
        ap.error(f"{args.cases} is not a directory")
    # One process per case: py-pde caches compiled operators across equations that differ
    # only in their boundary conditions, which would silently reuse the wrong one.
    for path in sorted(args.cases.glob("*.json")):
        subprocess.run([sys.executable, __file__, "--cases", str(path), "--out", str(args.out), "--in-process"], check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
