"""Times neuraloperator's FNO (forward without gradients; training step: MSE, backward,
Adam) at the configurations of benches/fno_configs.json on the CPU, median of `repeats`.

Run by `cargo xtask bench fno --vs-torch`: python fno.py CONFIGS OUT [--repeats N]
"""

import json
import sys
import warnings

import torch
from timing import median_ms

warnings.filterwarnings("ignore")
from neuralop.models import FNO  # noqa: E402


def main(configs_file, out, repeats):
    with open(configs_file) as f:
        configs = json.load(f)
    results = []
    for c in configs:
        torch.manual_seed(0)
        model = FNO(
            n_modes=tuple(c["n_modes"]),
            hidden_channels=c["width"],
            in_channels=c["in_channels"],
            out_channels=c["out_channels"],
        )
        x = torch.randn([c["batch"], c["in_channels"], *c["dims"]])
        y = torch.randn([c["batch"], c["out_channels"], *c["dims"]])
        optim = torch.optim.Adam(model.parameters(), lr=1e-3)

        def forward():
            with torch.no_grad():
                model(x)

        def train_step():
            optim.zero_grad(set_to_none=True)
            loss = ((model(x) - y) ** 2).mean()
            loss.backward()
            optim.step()

        row = {"name": c["name"]}
        for what, fn in [("forward", forward), ("train_step", train_step)]:
            row[what + "_ms"] = median_ms(fn, repeats)
        results.append(row)
        print(
            f"{c['name']}: forward {row['forward_ms']:.1f} ms, train step {row['train_step_ms']:.1f} ms",
            flush=True,
        )
    with open(out, "w") as f:
        json.dump({"torch": torch.__version__, "threads": torch.get_num_threads(), "results": results}, f)


if __name__ == "__main__":
    repeats = int(sys.argv[sys.argv.index("--repeats") + 1]) if "--repeats" in sys.argv else 20
    main(sys.argv[1], sys.argv[2], repeats)
