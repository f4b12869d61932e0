#!/usr/bin/env bash
# Build the wheel, install it into a clean venv the way a user does, then run the first commands
# from outside the source tree with the network switched off (unshare -n). Prints the wheel size.
# Usage: bash scripts/check_wheel_offline.sh [WORKDIR]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${1:-$(mktemp -d /tmp/ek-wheel.XXXX)}
mkdir -p "$WORK"
rm -rf "$WORK/dist" "$WORK/venv" "$WORK/run"
python3 -m pip wheel -q --no-deps -w "$WORK/dist" "$ROOT" 2>&1 | grep -v '^WARNING: Location' || true
WHEEL=$(ls "$WORK"/dist/emotionkit-*.whl)
echo "wheel: $WHEEL ($(stat -c %s "$WHEEL") bytes)"
python3 -m venv "$WORK/venv"
. "$WORK/venv/bin/activate"
python -m pip install -q torch==2.13.0 2>&1 | grep -v '^WARNING: Location' || true
python -m pip install -q "$WHEEL" 2>&1 | grep -v '^WARNING: Location' || true
mkdir -p "$WORK/run" && cd "$WORK/run"
offline() { echo "\$ $*"; unshare -n "$@"; }
offline python -c "import emotionkit, sys; print(emotionkit.__file__); assert 'site-packages' in emotionkit.__file__"
offline emotionkit models list
offline emotionkit models info compact
offline emotionkit predict
offline emotionkit predict --json --out annotated | head -20
offline emotionkit explain --method guided-backprop
ls explanations | head -20
offline python -c "import emotionkit as ek; r = ek.predict(); print(r[0].faces[0].emotion, round(max(r[0].faces[0].probabilities.values()), 3))"
echo "all offline checks passed in $WORK"
