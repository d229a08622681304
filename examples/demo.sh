#!/usr/bin/env bash
# The main job on built-in default data: simulate MINERvA events, look at them, train the
# reference network, evaluate it segment by segment against the track-based baseline.
set -euo pipefail
OUT=${1:-demo_out}
mkdir -p "$OUT"
echo "== nuclassify demo: outputs in $OUT/"
nuclassify --version
nuclassify --help
