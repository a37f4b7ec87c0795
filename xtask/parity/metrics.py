"""Reference values of the metric suite from the reference libraries' own code.

PDEBench (`pdebench.models.metrics.metric_func`), The Well
(`the_well.benchmark.metrics.VRMSE`) and neuraloperator (`LpLoss`, `H1Loss`) on
arrays drawn from a documented generator (splitmix64), so that the Rust test can
redraw the very same inputs. Writes the fixture JSON and the inputs as .npy.

Run by `cargo xtask parity metrics`.
"""

import argparse
import json
import math
import os
import sys
import types

import numpy as np
import torch

MASK = (1 << 64) - 1


def splitmix64(seed, count):
    """`count` values in [0, 1) with 24 random bits each (exact in float32)."""
    out = np.empty(count, dtype=np.float64)
    state = seed & MASK
    for i in range(count):
        state = (state + 0x9E3779B97F4A7C15) & MASK
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        z = z ^ (z >> 31)
        out[i] = (z >> 40) / float(1 << 24)
    return out


def draw(dims, seed):
    """target = 2u - 1 + c/2 (channel c), pred = target + (2v - 1)/8, rounded to float32."""
    n = math.prod(dims)
    u = splitmix64(seed, n).reshape(dims)
    v = splitmix64(seed + 1, n).reshape(dims)
    offset = 0.5 * np.arange(dims[-1], dtype=np.float64)
    target = (2.0 * u - 1.0 + offset).astype(np.float32)
    pred = (target.astype(np.float64) + (2.0 * v - 1.0) / 8.0).astype(np.float32)
    return pred, target


CASES = [
    {"name": "1d", "dims": [3, 4, 40, 2], "lengths": [2.0], "periodic": [True], "seed": 11},
    {"name": "1d_open_odd", "dims": [2, 3, 33, 1], "lengths": [1.0], "periodic": [False], "seed": 23},
    {"name": "2d", "dims": [2, 3, 28, 26, 2], "lengths": [1.0, 2.0], "periodic": [True, False], "seed": 37},
    {"name": "3d", "dims": [2, 2, 8, 10, 12, 2], "lengths": [1.0, 1.0, 1.0], "periodic": [True, False, True], "seed": 53},
    {"name": "3d_one_channel", "dims": [2, 3, 10, 8, 6, 1], "lengths": [1.0, 0.5, 2.0], "periodic": [False, True, True], "seed": 71},
]


def grid(t):
    """A [channel, time] tensor as a flat list, NaN as None."""
    return [None if math.isnan(x) else x for x in t.reshape(-1).tolist()]


def references(pred, target, case):
    from pdebench.models import metrics as pdebench
    from the_well.benchmark.metrics import VRMSE
    from neuralop.losses import H1Loss, LpLoss

    d = len(case["dims"]) - 3
    lengths = case["lengths"]
    p64 = torch.from_numpy(pred.astype(np.float64))
    t64 = torch.from_numpy(target.astype(np.float64))
    # PDEBench: [batch, *space, time, channel].
    p_pb = p64.movedim(1, -2).contiguous()
    t_pb = t64.movedim(1, -2).contiguous()
    lx = dict(zip(["Lx", "Ly", "Lz"], lengths))
    notes = {}
    res = None
    for if_mean in [False, True]:
        try:
            r = pdebench.metric_func(p_pb, t_pb, if_mean=if_mean, **lx)
            notes[f"if_mean={if_mean}"] = "ok"
            if not if_mean:
                res = r
        except Exception as e:  # recorded in the fixture, not hidden
            notes[f"if_mean={if_mean}"] = f"{type(e).__name__}: {e}"
    if res is None:
        # PDEBench's 3D boundary error views a non-contiguous slice and fails for more than
        # one channel; every other metric is per channel, so take them channel by channel.
        parts = [
            pdebench.metric_func(p_pb[..., c : c + 1], t_pb[..., c : c + 1], if_mean=False, **lx)
            for c in range(p_pb.shape[-1])
        ]
        res = [torch.cat([r[i] for r in parts], dim=0) for i in range(6)]
        res[4] = None  # the merged-channel boundary error has no reference here
    rmse, nrmse, csv, mx, bd, f = res
    out = {
        "rmse": grid(rmse),
        "nrmse": grid(nrmse),
        "crmse": grid(csv),
        "max_error": grid(mx),
        "frmse_low": grid(f[:, 0]),
        "frmse_mid": grid(f[:, 1]),
        "frmse_high": grid(f[:, 2]),
    }
    if bd is not None:
        out["brmse"] = grid(bd)
    # The Well: [batch, time, *space, channel] -> [batch, time, channel].
    meta = types.SimpleNamespace(n_spatial_dims=d)
    out["vrmse"] = grid(VRMSE.eval(p64, t64, meta).mean(dim=0).T)
    # neuraloperator: per (channel, time), [batch, *space] fields, mean over the batch.
    nb, nt, nc = case["dims"][0], case["dims"][1], case["dims"][-1]
    lp = LpLoss(d=d, p=2, measure=list(lengths), reduction="mean")
    per = dict(periodic_in_x=case["periodic"][0])
    if d > 1:
        per["periodic_in_y"] = case["periodic"][1]
    if d > 2:
        per["periodic_in_z"] = case["periodic"][2]
    h1 = H1Loss(d=d, measure=list(lengths), reduction="mean", **per)
    l2 = torch.zeros(nc, nt, dtype=torch.float64)
    hh = torch.zeros(nc, nt, dtype=torch.float64)
    for c in range(nc):
        for t in range(nt):
            x, y = p64[:, t, ..., c], t64[:, t, ..., c]
            l2[c, t] = lp.rel(x, y)
            hh[c, t] = h1.rel(x, y)
    out["rel_l2"] = grid(l2)
    out["rel_h1"] = grid(hh)
    return out, notes


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--fixture", required=True)
    ap.add_argument("--inputs", required=True, help="folder for the .npy inputs")
    args = ap.parse_args()
    torch.set_default_dtype(torch.float64)
    os.makedirs(args.inputs, exist_ok=True)
    cases = []
    for case in CASES:
        pred, target = draw(case["dims"], case["seed"])
        np.save(os.path.join(args.inputs, f"{case['name']}_pred.npy"), pred)
        np.save(os.path.join(args.inputs, f"{case['name']}_target.npy"), target)
        ref, notes = references(pred, target, case)
        cases.append(
            dict(
                case,
                checksum={
                    "pred": float(pred.astype(np.float64).sum()),
                    "target": float(target.astype(np.float64).sum()),
                },
                pdebench_calls=notes,
                reference=ref,
            )
        )
    import importlib.metadata as md

    doc = {
        "about": "Metric suite reference values, written by `cargo xtask parity metrics` "
        "(xtask/parity/metrics.py). Grids are [channel][time] flattened; null is NaN.",
        "generator": "splitmix64: target = 2u - 1 + c/2, pred = target + (2v - 1)/8 "
        "(u from seed, v from seed + 1, 24-bit uniforms), rounded to float32",
        "versions": {
            p: md.version(p) for p in ["pdebench", "the_well", "neuraloperator", "torch"]
        },
        "cases": cases,
    }
    with open(args.fixture, "w") as fh:
        json.dump(doc, fh, indent=1, allow_nan=False)
        fh.write("\n")
    print(f"wrote {args.fixture} ({len(cases)} cases)", file=sys.stderr)


if __name__ == "__main__":
    main()
