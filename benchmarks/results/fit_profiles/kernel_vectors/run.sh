#!/bin/bash
# The point-set kernel of an earlier commit (A) against this tree's (B), in one run: both built
# with nvcodec's flags for one network shape, checked for identical outputs (every gradient, dz,
# the sum of squares), then timed alternately, 7 rounds, median ns per sample (512 points x 10
# frames per call, one thread).
#   bash run.sh [commit-A] [extra gcc flags, e.g. -march=haswell]
set -e
cd "$(dirname "$0")"
A=${1:-269405d}
EXTRA=$2
ROOT=$(git rev-parse --show-toplevel)
TMP=$(mktemp -d)
git -C "$ROOT" show "$A:nvcodec/native/point_set.c" > "$TMP/a.c"
cp "$ROOT/nvcodec/native/point_set.c" "$TMP/b.c"
FL="-O3 -march=native $EXTRA -ffp-contract=off -fno-math-errno -std=c11 -Wno-psabi"
for D in "-DNW=32 -DNM=32 -DND=3 -DNZ=30 -DNP=32" "-DNW=16 -DNM=16 -DND=3 -DNZ=20 -DNP=16" \
         "-DNW=24 -DNM=24 -DND=2 -DNZ=30 -DNP=32" "-DNW=48 -DNM=48 -DND=3 -DNZ=30 -DNP=64" \
         "-DNW=6 -DNM=3 -DND=2 -DNZ=5 -DNP=8"; do
  gcc $FL $D -DKERNEL="\"$TMP/a.c\"" -o "$TMP/a" bench.c -lm
  gcc $FL $D -DKERNEL="\"$TMP/b.c\"" -o "$TMP/b" bench.c -lm
  "$TMP/a" 20 "$TMP/a.bin" > /dev/null; "$TMP/b" 20 "$TMP/b.bin" > /dev/null
  same=$(cmp -s "$TMP/a.bin" "$TMP/b.bin" && echo identical || echo DIFFERENT)
  ra=(); rb=()
  for i in 1 2 3 4 5 6 7; do
    ra+=("$("$TMP/a" 100 | cut -d' ' -f1)"); rb+=("$("$TMP/b" 100 | cut -d' ' -f1)")
  done
  ma=$(printf '%s\n' "${ra[@]}" | sort -n | sed -n 4p); mb=$(printf '%s\n' "${rb[@]}" | sort -n | sed -n 4p)
  echo "$D: outputs $same; A $ma ns/sample, B $mb ns/sample, A/B $(python3 -c "print(round($ma/$mb, 2))")x"
done
rm -rf "$TMP"
