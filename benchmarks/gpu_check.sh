#!/usr/bin/env bash
# The GPU check in one command (docs/performance.md, "GPU check"):
#
#     bash benchmarks/gpu_check.sh          # on a machine with a CUDA GPU: under 8 minutes on one H200
#     bash benchmarks/gpu_check.sh --cpu    # the same parts on the CPU, tiny sizes (a smoke run)
#
# Needs Python 3.11+ with torch, transformers, accelerate (peft, pandas) and nothing else: no pip, no
# network. Everything else comes from .gpu_carry/ (python tools/gpu_site.py fetch, here first):
# the wheels of tools/gpu_wheels.txt that this Python lacks are unpacked into a temporary
# site-packages folder put first on PYTHONPATH, beside stilts as pyproject maps the tree (symbolic
# links) and a generated stilts dist-info with its entry points (its plugins). The tree itself is not
# installed and nothing outside the temporary folder and the results folder is written.
#
# Results: $OUT if set, else ./gpu-results/ (gpu_check.json with every figure, summary.md, logs/).
# Environment: PYTHON (default python3; may carry flags, "python3 -S"), GPU_CHECK_CARRY (default
# .gpu_carry beside this folder), GPU_CHECK_WHEEL_LIST (default tools/gpu_wheels.txt),
# GPU_CHECK_KEEP=1 keeps the temporary folder. Other arguments go to benchmarks/gpu_check.py
# (--parts, --budget-s).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
read -r -a python <<< "${PYTHON:-python3}"
command -v "${python[0]}" > /dev/null || python=(python)
carry=${GPU_CHECK_CARRY:-$repo/.gpu_carry}
results=${OUT:-$PWD/gpu-results}
mkdir -p "$results"
results=$(cd "$results" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/stilts-gpu-check.XXXXXX")
if [[ "${GPU_CHECK_KEEP:-}" != 1 ]]; then
    trap 'rm -rf "$work"' EXIT
fi

# the folder's name matters: dill (datasets' fingerprints) pickles modules from outside a folder
# named site-packages by value, which fails for pyarrow's on Python 3.12 (tools/gpu_site.py)
"${python[@]}" "$repo/tools/gpu_site.py" prepare --repo "$repo" --carry "$carry" \
    --wheel-list "${GPU_CHECK_WHEEL_LIST:-$repo/tools/gpu_wheels.txt}" \
    --site "$work/site-packages" --assets "$work/assets" --report "$work/site.json"
export PYTHONPATH="$work/site-packages${PYTHONPATH:+:$PYTHONPATH}"
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false TRANSFORMERS_VERBOSITY=error
export TMPDIR="$work"
# not from the tree's root: `python -m` puts the working folder first on sys.path, and the tree has no
# dist-info, so stilts' own plugins (entry points) would not be found
cd "$work"
status=0
"${python[@]}" "$here/gpu_check.py" --repo "$repo" --work "$work" --results "$results" \
    --site-report "$work/site.json" "$@" || status=$?
exit "$status"
