#!/usr/bin/env bash
# neqsim's CUDA backend on a lent GPU machine: install, check against the CPU, benchmark.
#
#   bash benchmarks/gpu/run_gpu.sh            (from the repository root; results in $OUT)
#
# Needs: an NVIDIA GPU with its driver (CUDA 12 capable), python3 >= 3.10 with venv, and
# either a package registry that pip can reach (numba-cuda[cu12] brings the CUDA runtime,
# NVVM and nvJitLink as wheels, ~0.5 GB) or a python3 that already has neqsim's
# dependencies and numba-cuda. No CUDA toolkit install is needed. Bounded to about
# 10 minutes (BUDGET_S for the measurements, after the install).
# Writes $OUT/gpu_results.json (and gpu_bench.log, install.log next to it).
set -u
cd "$(dirname "$0")/../.."
OUT=${OUT:-$PWD/gpu_out}
VENV=${VENV:-/tmp/neqsim-gpu-venv}
BUDGET_S=${BUDGET_S:-420}
mkdir -p "$OUT"
t0=$(date +%s)
nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1 || echo "nvidia-smi failed (no driver?)" | tee -a "$OUT/nvidia-smi.txt"

PY=python3
# A lent machine usually has no registry but an image with numba, numba-cuda, scipy,
# h5py, matplotlib and tqdm (docs: /work/.library/device/KINDS.md): use it as it is, and
# only try pip (quickly: no retries) when something is missing.
if PYTHONPATH="$PWD/src" python3 -c "import numba_cuda, numba, scipy, h5py, tqdm, matplotlib" \
        > "$OUT/install.log" 2>&1; then
    echo "python3 already has numba-cuda and neqsim's dependencies: no install"
elif python3 -m venv --system-site-packages "$VENV" >> "$OUT/install.log" 2>&1; then
    # the system's numpy/scipy/h5py are used where present; pip adds what is missing
    if timeout 240 "$VENV/bin/pip" install -q --disable-pip-version-check --retries 0 \
            --timeout 10 -e ".[cuda]" "numba-cuda[cu12]" >> "$OUT/install.log" 2>&1; then
        PY="$VENV/bin/python"
    else
        echo "pip install failed (no registry?): trying the system python3; see install.log"
    fi
else
    echo "python3 -m venv failed: trying the system python3; see install.log"
fi
if ! PYTHONPATH="$PWD/src" "$PY" -c "import numba_cuda, neqsim" >> "$OUT/install.log" 2>&1; then
    echo "neither the venv nor python3 has numba-cuda and neqsim's dependencies:"
    echo "install them (pip install -e '.[cuda]' 'numba-cuda[cu12]') and rerun"
    printf '{"error": "numba-cuda or neqsim dependencies missing; see install.log"}\n' \
        > "$OUT/gpu_results.json"
    exit 2
fi
echo "install: $(( $(date +%s) - t0 )) s, python: $PY"
# the kernels' disk cache: fresh each time (the numbers must not depend on a warm cache)
export NUMBA_CACHE_DIR=${NUMBA_CACHE_DIR:-/tmp/neqsim-gpu-cache}
PYTHONPATH="$PWD/src" timeout $(( BUDGET_S + 120 )) "$PY" benchmarks/gpu/gpu_bench.py \
    --out "$OUT/gpu_results.json" --budget "$BUDGET_S" 2>&1 | tee "$OUT/gpu_bench.log"
rc=${PIPESTATUS[0]}
echo "total: $(( $(date +%s) - t0 )) s, exit $rc; results in $OUT/gpu_results.json"
exit $rc
