#!/usr/bin/env bash
# GPU check in one run (under 8 minutes on one CUDA machine): the torch backend on CUDA against the
# CPU (forward and gradients of a Mamba block and of the SWaT network), then SWaT training and
# scoring windows/s on the GPU (torch backend; mamba-ssm's cuda backend too when it imports).
# Uses $PYTHON, else the first python3 whose torch sees a GPU, else makes a venv in $TMPDIR (needs network).
#   bash bench/gpu_check.sh [gpu_check.py args, e.g. --out $OUT/gpu_check.json]
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1
# gpu_check.py imports sensitive_hue: from this checkout, also in a venv without `pip install -e .`
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
start=$SECONDS
has_cuda_torch() { "$1" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' >/dev/null 2>&1; }
PY="${PYTHON:-}"
if [ -z "$PY" ]; then
  for candidate in python3 python; do
    if command -v "$candidate" >/dev/null && has_cuda_torch "$candidate"; then PY="$(command -v "$candidate")"; break; fi
  done
fi
if [ -z "$PY" ]; then
  nvidia-smi >/dev/null 2>&1 || { echo "no NVIDIA GPU here (nvidia-smi fails): run this on a CUDA machine"; exit 2; }
  venv="${TMPDIR:-/tmp}/sensitive_mamba_gpu_venv"
  echo "no Python with a CUDA build of torch found: creating $venv (pip needs network access)"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q torch numpy numba scipy pyyaml tqdm
  PY="$venv/bin/python"
  has_cuda_torch "$PY" || { echo "torch in $venv sees no GPU"; exit 2; }
fi
missing=$("$PY" - <<'PY'
import importlib.util
print(" ".join(m for m in ("numpy", "numba", "scipy", "yaml", "tqdm") if importlib.util.find_spec(m) is None))
PY
)
if [ -n "$missing" ]; then
  echo "installing missing modules: $missing"
  "$PY" -m pip install -q $(echo "$missing" | sed 's/yaml/pyyaml/')
fi
echo "python: $PY"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
"$PY" -c 'import importlib.util as u; print("mamba-ssm:", "importable" if u.find_spec("mamba_ssm") else "not installed (cuda backend skipped)")'
status=0
timeout $((450 - (SECONDS - start))) "$PY" bench/gpu_check.py "$@" || status=$?
echo "gpu_check.sh: exit $status after $((SECONDS - start)) s"
exit $status
