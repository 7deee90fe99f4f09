#!/usr/bin/env bash
# The per-instruction-set tables of docs/inference.md and docs/cpu-training.md: the binary kernels
# on AVX-512, AVX2 and scalar code on one machine, one after the other in one session. A machine
# with AVX-512 times the narrower variants as a CPU without it runs them (LIGHTNASC_NO_AVX512=1,
# LIGHTNASC_NO_AVX2=1); the float baselines (burn, onnxruntime, MXNet) still use every instruction
# the CPU has, so on such a machine the ratios are those against an AVX-512 float baseline.
#
#   scripts/bench-isa.sh [--bin target/release/lightnasc] [--out DIR] [--isa avx512,avx2,scalar]
#                        [--skip-training]
#
# Per instruction set: `bench kernels --onnxruntime` (every shape, batch 1 and 32), `bench network`
# on the full MeliusNet-22 (batch 1 and 32, the native plan against onnxruntime) and
# `scripts/bench-training.sh --only meliusnet22-full --batches 32` (against MXNet 1.9.1). The
# Python clients come from the tests' venvs (run the tests once, .ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
target=${CARGO_TARGET_DIR:-target}
bin=$target/release/lightnasc
out=runs/bench-isa
isas=avx512,avx2,scalar
training=1
while [ $# -gt 0 ]; do
    case $1 in
        --bin) bin=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        --isa) isas=$2; shift 2 ;;
        --skip-training) training=; shift ;;
        *) echo "unknown argument $1" >&2; exit 2 ;;
    esac
done
[ -x "$bin" ] || { echo "no $bin: cargo build --release first" >&2; exit 1; }
ort=$target/venv-onnx/bin/python
"$ort" -c "import onnxruntime" || { echo "$ort lacks onnxruntime: run the tests once (.ci/run)" >&2; exit 1; }
mkdir -p "$out"
grep -m1 "model name" /proc/cpuinfo | tee "$out/cpu.txt"
grep -o 'avx512[a-z_]*\|avx2' /proc/cpuinfo | sort -u | tr '\n' ' ' | tee -a "$out/cpu.txt"
echo | tee -a "$out/cpu.txt"
for isa in ${isas//,/ }; do
    case $isa in
        avx512) vars=() ;;
        avx2) vars=(LIGHTNASC_NO_AVX512=1) ;;
        scalar) vars=(LIGHTNASC_NO_AVX2=1) ;;
        *) echo "unknown instruction set $isa: avx512, avx2 or scalar" >&2; exit 2 ;;
    esac
    echo "== $isa: kernels" >&2
    env "${vars[@]}" "$bin" bench kernels --onnxruntime "$ort" | tee "$out/kernels-$isa.txt"
    echo "== $isa: MeliusNet-22 inference" >&2
    env "${vars[@]}" "$bin" bench network specs/meliusnet22.lnas --pin melius:DIDIDIDITDIDIDIDIDITDIDIDIDITDIDIDIDI \
        --batch 1,32 --pinned-only --onnxruntime "$ort" | tee "$out/network-$isa.txt"
    if [ -n "$training" ]; then
        echo "== $isa: MeliusNet-22 training" >&2
        env "${vars[@]}" scripts/bench-training.sh --bin "$bin" --out "$out/training-$isa" \
            --only meliusnet22-full --batches 32 | tee "$out/training-$isa.txt"
    fi
done
