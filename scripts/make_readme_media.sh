#!/usr/bin/env bash
# Regenerate the README's pictures from the shipped checkpoints (one command, ~1 min on a laptop CPU):
#   scripts/make_readme_media.sh            # writes docs/media/*.png and docs/media/draw.gif
# CKPT=dir picks another checkpoint directory; OUT=dir another output directory. Seeds are fixed, so the
# same checkpoints give the same pictures.
set -euo pipefail
cd "$(dirname "$0")/.."
CKPT=${CKPT:-checkpoints}
OUT=${OUT:-docs/media}
PLOTTER=${PLOTTER:-python -m plotter}
mkdir -p "$OUT"

rnn="$CKPT/sketch_rnn-cat.pt"
trans="$CKPT/transformer-cat.pt"

# 16 Sketch-RNN cats, and the same 16 being drawn (pen-up moves faint, the pen marked in red)
$PLOTTER sample --checkpoint "$rnn" --class cat -n 16 --seed 7 --cell 160 \
    --png "$OUT/samples.png" --gif "$OUT/draw.gif" --frames 40 --fps 12
# 16 Sketch Transformer cats
$PLOTTER sample --checkpoint "$trans" --class cat -n 16 --seed 7 --cell 160 \
    --png "$OUT/samples-transformer.png"
# a partial cat (head and ears) continued six ways by each model
$PLOTTER complete plotter/examples/cat-partial.json --checkpoint "$rnn" -n 6 --seed 3 --cell 160 \
    --png "$OUT/complete-sketch-rnn.png"
$PLOTTER complete plotter/examples/cat-partial.json --checkpoint "$trans" -n 6 --seed 3 --cell 160 \
    --png "$OUT/complete-transformer.png"
# Sketch-RNN's latent space: one cat morphing into another (two transformer cats, encoded by Sketch-RNN)
ends=$(mktemp --suffix=.json)
trap 'rm -f "$ends"' EXIT
$PLOTTER sample --checkpoint "$trans" --class cat -n 4 --seed 7 --json "$ends"
$PLOTTER morph "$ends#2" "$ends#3" --checkpoint "$rnn" --steps 8 --cell 120 --png "$OUT/morph.png"

# the multiclass transformer: classes people name, one row each, as `plotter draw` delivers them (best of 8)
$PLOTTER sample --checkpoint "$CKPT/transformer-multiclass.pt" --class house,tree,flower,airplane,car,fish \
    -n 6 --seed 7 --best-of 8 --cell 120 --png "$OUT/multiclass.png"

ls -l "$OUT"
