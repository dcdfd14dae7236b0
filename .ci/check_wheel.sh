#!/usr/bin/env bash
# Build Kern's wheel, install it into a clean virtual environment and use it
# from a neutral directory, so nothing can come from the source tree.
# Usage: bash .ci/check_wheel.sh <scratch directory>
set -euo pipefail

REPO="$(cd "$(dirname "$0")/.." && pwd)"
SCRATCH="$1"
DIST="$SCRATCH/dist"
VENV="$SCRATCH/clean-venv"
NEUTRAL="$SCRATCH/neutral"

cd "$REPO"
# setuptools reuses build/ between builds; a stale copy could hide a missing file.
rm -rf build
.venv/bin/pip wheel -q --no-deps -w "$DIST" .
WHEEL="$(ls "$DIST"/kern-*.whl)"
echo "Built $(basename "$WHEEL")"

python3 -m venv "$VENV"
"$VENV/bin/pip" install -q "$WHEEL"

mkdir -p "$NEUTRAL"
cd "$NEUTRAL"
"$VENV/bin/python" -I "$REPO/.ci/check_installed.py" "$VENV"

if "$VENV/bin/python" -I -c \
    "import importlib.util, sys; sys.exit(importlib.util.find_spec('kern.cli') is None)"; then
    echo "Running: kern demo --db $NEUTRAL/d.db --runs 1"
    "$VENV/bin/kern" demo --db "$NEUTRAL/d.db" --runs 1
else
    echo "kern.cli is not in the wheel yet; skipping kern demo."
fi
