"""Reads the same 2-frame windows as `cargo xtask data bench` with zarr-python (from the
physfm store) and with h5py (from an HDF5 copy of the same data, contiguous float32 as
PDEBench ships its files), and prints the median rates as JSON.

usage: data_bench.py <store.zarr> <windows.json> <copy.h5> <repeats>
"""

import json
import os
import statistics
import sys
import time

import h5py
import numpy as np
import zarr

store, windows_file, h5_path, repeats = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
windows = json.load(open(windows_file))
fields = zarr.open_group(store, mode="r")["fields"]

if not os.path.exists(h5_path):
    data = fields[:]
    tmp = h5_path + ".tmp"
    with h5py.File(tmp, "w") as f:
        f.create_dataset("fields", data=data)
    os.replace(tmp, h5_path)


def rate(read):
    t0 = time.perf_counter()
    for i, s in windows:
        read(i, s)
    return len(windows) / (time.perf_counter() - t0)


zr = statistics.median(rate(lambda i, s: np.asarray(fields[i, s:s + 2])) for _ in range(repeats))
with h5py.File(h5_path, "r") as f:
    ds = f["fields"]
    hr = statistics.median(rate(lambda i, s: ds[i, s:s + 2]) for _ in range(repeats))
print(json.dumps({
    "zarr_reads_per_s": zr,
    "h5py_reads_per_s": hr,
    "versions": {"zarr": zarr.__version__, "h5py": h5py.__version__, "numpy": np.__version__},
}))
