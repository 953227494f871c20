#!/usr/bin/env bash
# Install nvcodec for development on a CPU-only machine: the pinned torch keeps pip on the
# CPU wheel (an unpinned torch pulls several GB of CUDA packages).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install torch==2.13.0 -e ".[test]"
