"""neuraloperator FNO checkpoints for physfm's importer: writes small checkpoints and the
outputs PyTorch computes with them.

    python neuralop_import.py OUT_DIR

Writes OUT_DIR/<case>.pt (torch.save of the state dict, neuraloperator's `_metadata`
included), OUT_DIR/fno2d_options.safetensors (complex weights as torch.view_as_real, no
configuration) and OUT_DIR/cases.json (per case: the checkpoint, physfm's configuration for
the safetensors case, the input and PyTorch's output). Run by `cargo xtask parity import`,
in the virtual environment it creates (xtask/parity/requirements-torch.txt).
"""

import json
import os
import sys
import warnings

import torch
from safetensors.torch import save_file

warnings.filterwarnings("ignore")
from neuralop.models import FNO  # noqa: E402

CASES = [
    # name, constructor arguments, input shape
    ("fno1d_default", dict(n_modes=(8,), hidden_channels=8, in_channels=2, out_channels=1), [2, 2, 32]),
    (
        "fno2d_options",
        dict(
            n_modes=(6, 6),
            hidden_channels=8,
            in_channels=1,
            out_channels=2,
            n_layers=2,
            norm="group_norm",
            fno_skip="soft-gating",
            channel_mlp_skip="linear",
            domain_padding=0.25,
            lifting_channel_ratio=1.5,
            projection_channel_ratio=4,
            channel_mlp_expansion=0.25,
        ),
        # 0.25 * 10 = 2.5 pads by 2 (Python rounds ties to even), 0.25 * 14 = 3.5 by 4.
        [2, 1, 14, 10],
    ),
    (
        "fno1d_no_mlp",
        dict(
            n_modes=(6,),
            hidden_channels=6,
            in_channels=1,
            out_channels=1,
            n_layers=3,
            use_channel_mlp=False,
            norm="instance_norm",
            fno_skip="identity",
            positional_embedding=None,
        ),
        [3, 1, 33],
    ),
    (
        "tfno2d_tucker",
        dict(
            n_modes=(8, 6),
            hidden_channels=8,
            in_channels=1,
            out_channels=1,
            n_layers=2,
            factorization="tucker",
            rank=0.3,
            fixed_rank_modes=True,
        ),
        [2, 1, 16, 12],
    ),
    (
        "tfno1d_cp",
        dict(n_modes=(10,), hidden_channels=8, in_channels=1, out_channels=1, n_layers=2, factorization="cp", rank=0.5),
        [2, 1, 24],
    ),
    (
        "fno3d",
        dict(n_modes=(4, 4, 4), hidden_channels=4, in_channels=1, out_channels=1, n_layers=2),
        [1, 1, 8, 8, 6],
    ),
]

# physfm's configuration of the safetensors case (a safetensors file has no `_metadata`).
SAFETENSORS_CONFIG = {
    "in_channels": 1,
    "out_channels": 2,
    "n_modes": [6, 6],
    "width": 8,
    "n_layers": 2,
    "norm": "group",
    "fno_skip": "soft-gating",
    "channel_mlp_skip": "linear",
    "domain_padding": 0.25,
    "lifting_ratio": 1.5,
    "projection_ratio": 4.0,
    "channel_mlp_expansion": 0.25,
}


def main(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    cases = []
    for i, (name, kwargs, shape) in enumerate(CASES):
        torch.manual_seed(100 + i)
        model = FNO(**kwargs)
        # Move every weight off its initial value (soft gates start at one, norms at one and
        # zero) so that each one is checked.
        with torch.no_grad():
            for p in model.parameters():
                p.add_(0.2 * torch.randn_like(p))
        model.eval()
        x = torch.randn(shape)
        with torch.no_grad():
            y = model(x)
        sd = model.state_dict()
        torch.save(sd, os.path.join(out_dir, f"{name}.pt"))
        case = {
            "name": name,
            "checkpoint": f"{name}.pt",
            "x_shape": list(x.shape),
            "x": [float(f"{v:.8g}") for v in x.flatten().tolist()],
            "y_shape": list(y.shape),
            "y": [float(v) for v in y.double().flatten().tolist()],
        }
        # The input was rounded to 8 digits in the JSON: recompute on exactly that input.
        x8 = torch.tensor(case["x"], dtype=torch.float32).reshape(shape)
        with torch.no_grad():
            case["y"] = [float(v) for v in model(x8).double().flatten().tolist()]
        cases.append(case)
        if name == "fno2d_options":
            tensors = {
                k: (torch.view_as_real(v) if v.is_complex() else v).contiguous()
                for k, v in sd.items()
                if isinstance(v, torch.Tensor)
            }
            save_file(tensors, os.path.join(out_dir, f"{name}.safetensors"))
            cases.append(
                dict(case, name=f"{name}_safetensors", checkpoint=f"{name}.safetensors", config=SAFETENSORS_CONFIG)
            )
        n_params = sum(p.numel() * (2 if p.is_complex() else 1) for p in model.parameters())
        print(f"{name}: {n_params} parameters, input {shape}", flush=True)
        cases[-1]["n_params"] = n_params
        if name == "fno2d_options":
            cases[-2]["n_params"] = n_params
    with open(os.path.join(out_dir, "cases.json"), "w") as f:
        json.dump({"torch": torch.__version__, "cases": cases}, f)


if __name__ == "__main__":
    main(sys.argv[1])
