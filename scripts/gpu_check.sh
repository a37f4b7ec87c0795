#!/usr/bin/env bash
# The GPU check of the spectral convolution (issue 5), for a machine with an NVIDIA GPU and
# PyTorch: physfm's cubecl kernels on the GPU against the f64 oracle and the CPU path, then
# timed side by side with neuraloperator's SpectralConv on PyTorch (cuFFT), same shapes,
# same run. Results go to $OUT (default /tmp/gpu_check); docs/performance.md records them.
#
# Build the binary first, on any x86-64 Linux machine:
#   cargo build --release -p physfm-spectral --example device_check --features wgpu
#   cp target/release/examples/device_check .devcarry/ && strip .devcarry/device_check
# (the release profile: the dev profile compiles the GPU stack at -O1, see Cargo.toml; the
# timings in docs/performance.md of 2026-11-29 were made when the dev profile compiled every
# dependency at -O3).
# DEVICE=cuda runs burn's cuda backend instead
# (feature `cuda`; its build downloads LLVM from github.com, see docs/performance.md).
#
# Optional, for a bare machine: .gl/*.deb (the Vulkan/GL loaders, unpacked into /) and
# .whl/*.whl (neuraloperator 2.0.0, tensorly, tensorly-torch, installed into /tmp/site).
set -uo pipefail
OUT=${OUT:-/tmp/gpu_check}
BIN=${BIN:-.devcarry/device_check}
DEVICE=${DEVICE:-wgpu}
REPEATS=${REPEATS:-50}
mkdir -p "$OUT"
if compgen -G ".gl/*.deb" >/dev/null; then
    for f in .gl/*.deb; do dpkg -x "$f" /; done
    ldconfig
fi
icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
[ -f "$icd" ] && export VK_DRIVER_FILES=$icd
if compgen -G ".whl/*.whl" >/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site
fi
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1 | tee "$OUT/gpu.txt"
export PYTHONUNBUFFERED=1
echo "== neuraloperator SpectralConv on PyTorch (cuda)"
python3 xtask/parity/spectral.py bench benches/spectral_shapes.json "$OUT/torch_cuda.json" \
    --repeats "$REPEATS" --device cuda 2>&1 | tee "$OUT/torch.log"
torch_arg=()
[ -f "$OUT/torch_cuda.json" ] && torch_arg=(--torch "$OUT/torch_cuda.json")
echo "== physfm on $DEVICE"
"$BIN" --device "$DEVICE" --shapes benches/spectral_shapes.json "${torch_arg[@]}" \
    --json "$OUT/physfm_$DEVICE.json" --repeats "$REPEATS" 2>&1 | tee "$OUT/physfm.log"
