#!/usr/bin/env bash
# Reproduce the seed talk's study (MINERvA network-design tables, per-segment table, misclassified
# events, evolution; NOvA against a cut-based selection) with one command.
#   make reproduce-quick   # SIZE=quick: 2 CPU cores, under 30 minutes
#   make reproduce         # SIZE=full: a GPU job, about 2 hours on one H100-class GPU
# Resumable: run it again after an interruption and the finished steps are kept.
# Then `make readme-results` writes the README's Results section from OUT/results.json.
set -euo pipefail
SIZE=${1:-quick}
OUT=${2:-reproduce_out}
# The MINERvA networks' training recipe: the same for every row of the seed's tables.
TRAIN_ARGS=${TRAIN_ARGS:---batch-size 64 --lr-schedule cosine}
python examples/reproduce_seed.py --size "$SIZE" --out "$OUT" --seed "${SEED:-1}" --train-args "$TRAIN_ARGS"
echo "results: $OUT/results.json, plots: $OUT/plots/ (README section: make readme-results)"
