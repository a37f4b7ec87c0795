"""neuraloperator's SpectralConv for physfm: a parity fixture and a timing run.

    python spectral.py fixture OUT.json       # inputs, weights and neuralop's outputs
    python spectral.py bench SHAPES.json OUT.json [--repeats N] [--device cuda]

Run by `cargo xtask parity spectral` and `cargo xtask bench spectral --vs-torch`, in the
virtual environment they create (xtask/parity/requirements-torch.txt), and with
`--device cuda` by the GPU check `scripts/gpu_check.sh` (each call then ends with
`torch.cuda.synchronize()`, so that the time is the GPU's, not the launch's).
"""

import json
import sys

import numpy as np
import torch
from timing import median_ms
from neuralop.layers.spectral_convolution import SpectralConv


def make_conv(ci, co, n_modes, weight=None, bias=None):
    conv = SpectralConv(ci, co, n_modes=tuple(n_modes))
    if weight is not None:
        w = torch.from_numpy(weight[..., 0] + 1j * weight[..., 1]).to(torch.complex64)
        assert tuple(w.shape) == tuple(conv.weight.tensor.shape), (w.shape, conv.weight.tensor.shape)
        conv.weight.tensor.data.copy_(w)
        conv.bias.data.copy_(torch.from_numpy(bias).reshape(conv.bias.shape))
    return conv


def fixture(out):
    rng = np.random.default_rng(20261129)
    cases = []
    # (dims, n_modes as neuralop counts them); the last axis keeps n // 2 + 1.
    for dims, n_modes in [
        ([17], [8]),
        ([16], [16]),
        ([94], [24]),
        ([12, 10], [6, 8]),
        ([8, 9], [4, 6]),
        ([8, 6, 7], [4, 4, 4]),
    ]:
        b, ci, co = 2, 2, 3
        kept = list(n_modes)
        kept[-1] = kept[-1] // 2 + 1
        x = rng.standard_normal([b, ci, *dims]).astype(np.float32)
        w = (0.5 * rng.standard_normal([ci, co, *kept, 2])).astype(np.float32)
        bias = rng.standard_normal([co]).astype(np.float32)
        conv = make_conv(ci, co, n_modes, w, bias)
        with torch.no_grad():
            y = conv(torch.from_numpy(x)).numpy()
        cases.append({
            "dims": dims, "n_modes": n_modes, "batch": b, "in_channels": ci, "out_channels": co,
            "x": [float(f"{v:.8g}") for v in x.ravel()],
            "weight": [float(f"{v:.8g}") for v in w.ravel()],
            "bias": [float(f"{v:.8g}") for v in bias.ravel()],
            "y": [float(f"{v:.8g}") for v in y.ravel()],
        })
    # An odd size on a non-last axis: neuralop shifts back with fftshift where ifftshift is
    # meant, which moves every kept mode by one frequency. Recorded, not matched.
    dims, n_modes = [9, 8], [4, 6]
    x = rng.standard_normal([1, 1, *dims]).astype(np.float32)
    conv = make_conv(1, 1, n_modes)
    with torch.no_grad():
        y_nop = conv(torch.from_numpy(x)).numpy()
        xf = torch.fft.rfftn(torch.from_numpy(x), norm="forward", dim=(-2, -1))
        xf = torch.fft.fftshift(xf, dim=(-2,))
        spec = torch.zeros_like(xf)
        c = dims[0] // 2
        spec[..., c - 2:c + 2, :4] = torch.einsum("bixy,ioxy->boxy", xf[..., c - 2:c + 2, :4], conv.weight.tensor)
        spec = torch.fft.ifftshift(spec, dim=(-2,))
        y_ok = (torch.fft.irfftn(spec, s=dims, norm="forward", dim=(-2, -1)) + conv.bias).numpy()
    rel = float(np.linalg.norm(y_nop - y_ok) / np.linalg.norm(y_ok))
    doc = {
        "made_by": "xtask/parity/spectral.py fixture",
        "torch": torch.__version__,
        "cases": cases,
        "odd_non_last_axis_fftshift_rel_diff": rel,
    }
    with open(out, "w") as f:
        json.dump(doc, f)
    print(f"wrote {len(cases)} cases to {out}; neuralop vs ifftshift on a 9x8 grid: {rel:.3e}")


def bench(shapes_file, out, repeats, device="cpu"):
    torch.set_num_threads(torch.get_num_threads())
    dev = torch.device(device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    with open(shapes_file) as f:
        shapes = json.load(f)
    results = []
    for s in shapes:
        b, ci, co, dims, n_modes = s["batch"], s["in_channels"], s["out_channels"], s["dims"], s["n_modes"]
        conv = make_conv(ci, co, n_modes).to(dev)
        x = torch.randn([b, ci, *dims], device=dev)

        def forward():
            with torch.no_grad():
                conv(x)
            sync()

        xg = x.clone().requires_grad_(True)

        def forward_backward():
            conv.zero_grad(set_to_none=True)
            xg.grad = None
            conv(xg).sum().backward()
            sync()

        row = {"name": s["name"]}
        # On a GPU, the lower of two rounds' medians (its clocks ramp up under load).
        rounds = 2 if dev.type == "cuda" else 1
        for what, fn in [("forward", forward), ("forward_backward", forward_backward)]:
            row[what + "_ms"] = min(median_ms(fn, repeats, warmup=10 if rounds > 1 else 3) for _ in range(rounds))
        results.append(row)
        print(f"{s['name']}: forward {row['forward_ms']:.2f} ms, forward+backward {row['forward_backward_ms']:.2f} ms", flush=True)
    with open(out, "w") as f:
        json.dump({
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
            "results": results,
        }, f)


if __name__ == "__main__":
    if sys.argv[1] == "fixture":
        fixture(sys.argv[2])
    elif sys.argv[1] == "bench":
        repeats = int(sys.argv[sys.argv.index("--repeats") + 1]) if "--repeats" in sys.argv else 20
        device = sys.argv[sys.argv.index("--device") + 1] if "--device" in sys.argv else "cpu"
        bench(sys.argv[2], sys.argv[3], repeats, device)
    else:
        sys.exit(f"unknown command {sys.argv[1]}")
