#!/usr/bin/env bash
# `make demo`: the main job on built-in simulated data, in a few minutes on a 2-core CPU.
#   1. simulate MINERvA training and test files (the toolkit's embedded default data);
#   2. look at them (inspect, an event display);
#   3. train the seed's best network (conv4, one column per view) on the 2016-width images;
#   4. evaluate it segment by segment against the track-based baseline, with plots;
#   5. predict per-event probabilities as CSV for a shell pipeline.
# Sizes can be raised: DEMO_TRAIN=100000 DEMO_EPOCHS=5 make demo
set -euo pipefail
OUT=${1:-demo_out}
N_TRAIN=${DEMO_TRAIN:-20000}
N_TEST=${DEMO_TEST:-5000}
EPOCHS=${DEMO_EPOCHS:-2}
mkdir -p "$OUT"
echo "== nuclassify demo: outputs in $OUT/"

echo "== 1. simulate (seeded: the same files every time)"
nuclassify simulate minerva -n "$N_TRAIN" -o "$OUT/train.h5" --layout 2016 --seed 1 --workers 2 --overwrite
nuclassify simulate minerva -n "$N_TEST" -o "$OUT/test.h5" --layout 2016 --seed 2 --workers 2 --overwrite

echo "== 2. inspect and show"
nuclassify inspect "$OUT/train.h5"
nuclassify show "$OUT/train.h5" --event 0 -o "$OUT/event0.png" --overwrite

echo "== 3. train conv4 for $EPOCHS epochs (resume with --resume if interrupted)"
nuclassify train --data "$OUT/train.h5" --valid-fraction 0.1 --arch conv4 --out "$OUT/runs/conv4" \
    --epochs "$EPOCHS" --seed 1 --overwrite

echo "== 4. evaluate against the track-based baseline"
nuclassify evaluate --model "$OUT/runs/conv4" --data "$OUT/test.h5" --per-segment --plots "$OUT/plots"

echo "== 5. predict: CSV on stdout, first rows"
nuclassify -q predict --model "$OUT/runs/conv4" --data "$OUT/test.h5" > "$OUT/predictions.csv"
head -5 "$OUT/predictions.csv"

echo "== done: look at $OUT/event0.png and $OUT/plots/*.png"
