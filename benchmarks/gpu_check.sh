#!/bin/sh
# The one GPU run of benchmarks/gpu_check.py (`--help` for options), from the repository root.
cd "$(dirname "$0")/.." && exec "${PYTHON:-python}" -m benchmarks.gpu_check "$@"
