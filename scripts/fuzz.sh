#!/usr/bin/env bash
# Coverage-guided fuzzing of every reader of untrusted input (docs/fuzzing.md): cargo-fuzz
# (libFuzzer) on stable Rust, no sanitizer, each target for SECONDS from its kept corpus
# (fuzz/corpus/TARGET), new inputs into a scratch corpus, crashes into fuzz/artifacts/TARGET.
#
#   scripts/fuzz.sh [--seconds N] [--jobs J] [--keep] [TARGET...]     (default: every target, 60 s)
#
# --keep merges what a run found into the kept corpus, minimised (`cargo fuzz cmin`), to commit.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=60
jobs=1
keep=
targets=()
while [ $# -gt 0 ]; do
    case $1 in
        --seconds) seconds=$2; shift 2 ;;
        --jobs) jobs=$2; shift 2 ;;
        --keep) keep=1; shift ;;
        -*) echo "unknown option $1" >&2; exit 2 ;;
        *) targets+=("$1"); shift ;;
    esac
done
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/lightnasc/target}"
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz@0.13.2
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(cd fuzz && cargo fuzz list)
fuzz=(cargo fuzz run --sanitizer none --release --fuzz-dir fuzz)
cargo fuzz build --sanitizer none --release --fuzz-dir fuzz
for t in "${targets[@]}"; do
    scratch=runs/fuzz/$t
    mkdir -p "$scratch" "fuzz/artifacts/$t"
    echo "== $t: $seconds s" >&2
    status=0
    "${fuzz[@]}" "$t" "$scratch" "fuzz/corpus/$t" -- -max_total_time="$seconds" -jobs="$jobs" -workers="$jobs" \
        -artifact_prefix="fuzz/artifacts/$t/" -print_final_stats=1 2>&1 | tail -n 25 || status=$?
    if [ $status -ne 0 ]; then
        echo "$t: a crash (fuzz/artifacts/$t); reproduce: cargo fuzz run --sanitizer none --fuzz-dir fuzz $t FILE" >&2
        exit 1
    fi
    if [ -n "$keep" ]; then
        cp -n "$scratch"/* "fuzz/corpus/$t/" 2>/dev/null || true
        cargo fuzz cmin --sanitizer none --release --fuzz-dir fuzz "$t" "fuzz/corpus/$t" >/dev/null 2>&1
    fi
done
