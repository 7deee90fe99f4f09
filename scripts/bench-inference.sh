#!/usr/bin/env bash
# The inference tables of docs/inference.md: the native plan against onnxruntime (2 threads) and burn, on the
# full MeliusNet-22, ResNet-18 (all 1-bit, and mixed) and the demo, then every kernel shape.
# Everything runs in one session on this machine; onnxruntime comes from the tests' venv.
#
#   scripts/bench-inference.sh [--bin target/release/lightnasc] [--python PYTHON] [--out DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
target=${CARGO_TARGET_DIR:-target}
bin=$target/release/lightnasc
python=$target/venv-onnx/bin/python
out=runs/bench-inference
while [ $# -gt 0 ]; do
    case $1 in
        --bin) bin=$2; shift 2 ;;
        --python) python=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        *) echo "unknown argument $1" >&2; exit 2 ;;
    esac
done
[ -x "$bin" ] || { echo "no $bin: cargo build --release first" >&2; exit 1; }
"$python" -c "import onnxruntime, onnx, numpy" || {
    echo "$python lacks onnxruntime: run the tests once (.ci/run) or pass --python" >&2
    exit 1
}
mkdir -p "$out"
b1=$(for s in 1 2 3 4; do for b in 1 2; do printf "stage$s.block$b.basic.bits=b1,"; done; done)
run() {
    local name=$1
    shift
    echo "== $name" >&2
    "$bin" bench network "$@" --batch 1,32 --onnxruntime "$python" | tee "$out/$name.txt"
}
run meliusnet22-full specs/meliusnet22.lnas --pin melius:DIDIDIDITDIDIDIDIDITDIDIDIDITDIDIDIDI
run resnet18-1bit specs/resnet18.lnas --classes 10 --pin "${b1%,}"
run resnet18-mixed specs/resnet18.lnas --classes 10 --pin random:1
run demo specs/demo.lnas --pin random:1
echo "== kernels" >&2
"$bin" bench kernels --onnxruntime "$python" | tee "$out/kernels.txt"
