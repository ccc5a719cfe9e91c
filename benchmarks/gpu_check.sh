#!/usr/bin/env bash
# benchmarks/gpu_check.py on a GPU machine whose Python has torch but perhaps not handdg's other
# dependencies, and no internet: the missing ones are installed from a folder of wheels first.
#
#   benchmarks/gpu_check.sh --download [--all]    here, with a package registry: fetch the wheels of
#                                                 benchmarks/gpu_wheels.txt for Python 3.12 into
#                                                 benchmarks/wheels/ (git-ignored; ~54 MB; --all adds
#                                                 numpy and scipy, ~50 MB more)
#   benchmarks/gpu_check.sh [gpu_check.py options] there: install what is missing, then run the check
#
# The wheels folder travels with the working tree when named as carried (e.g. the device tool's
# carry=["benchmarks/wheels"]); HANDDG_WHEELS points elsewhere, PYTHON picks the interpreter.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
WHEELS="${HANDDG_WHEELS:-$HERE/wheels}"
PYTHON="${PYTHON:-python3}"
LARGE="numpy|scipy"

if [[ "${1:-}" == "--download" ]]; then
  wanted=$(grep -v '^#' "$HERE/gpu_wheels.txt")
  [[ "${2:-}" == "--all" ]] || wanted=$(grep -v -E "^($LARGE)==" <<<"$wanted")
  "$PYTHON" -m pip download --python-version 3.12 --only-binary=:all: --no-deps -d "$WHEELS" $wanted
  du -sh "$WHEELS"
  exit 0
fi

missing=$("$PYTHON" - <<'PY'
import importlib.util
needed = {"open_clip": "open_clip_torch", "torchvision": "torchvision", "zarr": "zarr", "numcodecs": "numcodecs",
          "faiss": "faiss-cpu", "numpy": "numpy", "scipy": "scipy", "PIL": "pillow", "click": "click",
          "tqdm": "tqdm", "safetensors": "safetensors", "threadpoolctl": "threadpoolctl"}
print(" ".join(package for module, package in needed.items() if importlib.util.find_spec(module) is None))
PY
)
if [[ -n "$missing" ]]; then
  echo "gpu_check.sh: installing $missing from $WHEELS" >&2
  torch_version=$("$PYTHON" -c "import torch; print(torch.__version__.split('+')[0])")
  PIP_BREAK_SYSTEM_PACKAGES=1 "$PYTHON" -m pip install --no-index --find-links "$WHEELS" \
    --constraint <(echo "torch==$torch_version") $missing
fi
cd "$HERE/.."
HF_HUB_OFFLINE=1 exec "$PYTHON" benchmarks/gpu_check.py "$@"
