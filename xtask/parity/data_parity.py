"""zarr-python reads physfm's native stores and finds the values physfm wrote.

usage: data_parity.py <native.zarr> <fixtures dir> <converted dir>

- native.zarr was written by `cargo xtask parity data` with field value
  i * 1e6 + t * 1e3 + k at trajectory i, frame t, flat point-and-channel index k, times
  0.25 * t + 0.01 * i (irregular across trajectories) and parameter 0.1 * i.
- each converted store <converted dir>/<fixture>.zarr must hold exactly the values h5py reads
  from the fixture, rearranged into physfm's layout [trajectory, time, *space, channel].

Prints one JSON object: per store, the largest absolute difference and what was checked.
"""

import json
import os
import sys

import h5py
import numpy as np
import zarr

native, fixtures, converted = sys.argv[1:4]
out = {"versions": {"zarr": zarr.__version__, "h5py": h5py.__version__, "numpy": np.__version__}}

g = zarr.open_group(native, mode="r")
meta = g.attrs["physfm"]
f = g["fields"]
n, t = meta["trajectories"], meta["frames"]
fl = int(np.prod(meta["spatial_shape"])) * len(meta["channel_names"])
i, tt, k = np.meshgrid(np.arange(n), np.arange(t), np.arange(fl), indexing="ij")
want = (i * 1_000_000 + tt * 1000 + k).astype(np.float32).reshape(f.shape)
got = f[:]
times = g["time"][:]
want_t = 0.25 * np.arange(t)[None, :] + 0.01 * np.arange(n)[:, None]
stats = g["stats"].attrs["stats"]
means = [c["mean"] for c in stats["channel"]]
want_means = [float(got[..., c].astype(np.float64).mean()) for c in range(got.shape[-1])]
out["native"] = {
    "shape": list(f.shape),
    "dtype": str(f.dtype),
    "shards": list(f.shards) if f.shards else None,
    "inner_chunks": list(f.chunks),
    "complete": meta["complete"],
    "fields_max_abs_diff": float(np.abs(got - want).max()),
    "time_max_abs_diff": float(np.abs(times - want_t).max()),
    "params_max_abs_diff": float(np.abs(g["params"][:, 0] - 0.1 * np.arange(n)).max()),
    "stats_mean_max_rel_diff": max(abs(a - b) / abs(b) for a, b in zip(means, want_means)),
    "splits": {k: len(v) for k, v in g["splits"].attrs["splits"]["sets"].items()},
    "window_equals_slice": bool(np.array_equal(f[1, 2:4], want[1, 2:4])),
}


def reference(path):
    """The fixture in physfm's layout, as h5py reads it."""
    with h5py.File(path, "r") as h:
        if "tensor" in h:
            return h["tensor"][:][..., None]
        if "t0_fields" in h:
            parts = []
            B = h.attrs["n_trajectories"]
            T = h["dimensions/time"].shape[-1]
            for order, grp in enumerate(["t0_fields", "t1_fields", "t2_fields"]):
                if grp not in h:
                    continue
                for name in [s.decode() if isinstance(s, bytes) else s for s in h[grp].attrs["field_names"]]:
                    ds = h[grp][name]
                    a = ds[:]
                    if not ds.attrs.get("sample_varying", True):
                        a = np.broadcast_to(a, (B,) + a.shape)
                    if not ds.attrs.get("time_varying", True):
                        a = np.broadcast_to(a[:, None], (B, T) + a.shape[1:])
                    lead = a.shape[: a.ndim - order]
                    parts.append(a.reshape(lead + (-1,)) if order else a[..., None])
            return np.concatenate(parts, axis=-1)
        if "density" in h:
            names = [k for k in ["density", "pressure", "Vx", "Vy", "Vz"] if k in h]
            return np.stack([h[k][:] for k in names], axis=-1)
        return np.stack([h[k]["data"][:] for k in sorted(h.keys())])


for name in sorted(os.listdir(fixtures)):
    store = os.path.join(converted, name + ".zarr")
    if not os.path.isdir(store):
        continue
    c = zarr.open_group(store, mode="r")
    ref = reference(os.path.join(fixtures, name)).astype(np.float32)
    got = c["fields"][:]
    out[name] = {
        "shape": list(got.shape),
        "same_shape": list(got.shape) == list(ref.shape),
        "fields_max_abs_diff": float(np.abs(got - ref).max()) if got.shape == ref.shape else None,
        "channels": c.attrs["physfm"]["channel_names"],
    }
print(json.dumps(out, indent=1))
