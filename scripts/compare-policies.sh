#!/usr/bin/env bash
# Search policies compared on what their results are worth (issue 29): run specs/sweeps/policies.yml
# (ENAS, random, evolution; 8 seeds each), retrain every result stand-alone on the ranking table's
# budget (10,000 images, 2 epochs, batch 64; two seeds each), then print the paired comparison.
#   scripts/compare-policies.sh [-j JOBS]       (about 3 hours on 2 cores; resumable: rerun it)
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=2
[ "${1:-}" = -j ] && jobs=$2
bin=${LIGHTNASC:-${CARGO_TARGET_DIR:-target}/release/lightnasc}
[ -x "$bin" ] || { echo "no $bin: cargo build --release first (or set LIGHTNASC)" >&2; exit 1; }
out=runs/sweeps/policies
"$bin" sweep specs/sweeps/policies.yml --local -j "$jobs"
for run in "$out"/[0-9]*-search-*; do
    for s in 1 2; do
        name="retrain-$(basename "$run")-s$s"
        [ -d "$out/$name" ] && continue
        "$bin" train "$run" --runs-dir "$out" --name "$name" --seed "$s" \
            --epochs 2 --train-limit 10000 --batch-size 64
    done
done
"$bin" bench compare "$out"
