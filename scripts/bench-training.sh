#!/usr/bin/env bash
# The training table of docs/cpu-training.md: `lightnasc bench supernet --pin` (the fixed-network row) against
# MXNet 1.9.1 (oneDNN) training the same network exported with `lightnasc export --format mxnet`
# (scripts/bench_mxnet_train.py), on the full and the cheapest MeliusNet-22, ResNet-18 all 1-bit
# and the demo, at batch 32 and 64, one after the other in one session. MXNet comes from the
# tests' venv. Prints one line per network and batch; each side's output is kept under --out.
#
#   scripts/bench-training.sh [--bin target/release/lightnasc] [--python PYTHON] [--out DIR]
#                             [--batches 32,64] [--only meliusnet22-full,demo]
#
# The binary kernels run on the widest instruction set the CPU has; LIGHTNASC_NO_AVX512=1 (AVX2)
# or LIGHTNASC_NO_AVX2=1 (scalar) time the narrower ones on the same machine.
#
# Timed steps per row: 5 on the full MeliusNet-22 (about 3 s a step), more on the smaller
# networks, so that no row is timed over less than a few seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${CARGO_TARGET_DIR:-target}
bin=$target/release/lightnasc
python=$target/venv-mxnet/bin/python
out=runs/bench-training
batches=32,64
only=
while [ $# -gt 0 ]; do
    case $1 in
        --bin) bin=$2; shift 2 ;;
        --python) python=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        --batches) batches=$2; shift 2 ;;
        --only) only=$2; shift 2 ;;
        *) echo "unknown argument $1" >&2; exit 2 ;;
    esac
done
[ -x "$bin" ] || { echo "no $bin: cargo build --release first" >&2; exit 1; }
"$python" -c "import mxnet, numpy" || {
    echo "$python lacks MXNet: run the tests once (.ci/run) or pass --python" >&2
    exit 1
}
mkdir -p "$out"
b1=$(for s in 1 2 3 4; do for b in 1 2; do printf "stage$s.block$b.basic.bits=b1,"; done; done)
# The cheapest pin lists every block a stage may have; keep the names the space defines.
names=$("$bin" check specs/meliusnet22.lnas --format json | "$python" -c \
    'import json, sys; print(" ".join(c["name"] for c in json.load(sys.stdin)["choices"]))')
cheap=$(for n in $names; do case $n in *dense.keep) printf "$n=cheap," ;; *) printf "$n=skip," ;; esac; done)
printf "%-22s %5s %14s %14s %7s %11s\n" network batch "lightnasc im/s" "MXNet im/s" ratio "cores busy"
row() {
    local name=$1 steps=$2 input=$3 classes=$4
    shift 4
    [ -z "$only" ] || [[ ",$only," == *",$name,"* ]] || return 0
    "$bin" export "$@" --format mxnet -o "$out/$name" >/dev/null
    for b in ${batches//,/ }; do
        "$bin" bench supernet "$@" --batch "$b" --steps "$steps" --warmup 2 --format json >"$out/$name-$b.json"
        "$python" scripts/bench_mxnet_train.py "$out/$name" --batch "$b" --steps "$steps" --warmup 2 \
            --input "$input" --classes "$classes" >"$out/$name-$b-mxnet.json"
        "$python" - "$name" "$b" "$out/$name-$b.json" "$out/$name-$b-mxnet.json" <<'PY'
import json, sys
name, batch, ours, theirs = sys.argv[1:]
fixed = json.load(open(ours))[0]
mx = json.load(open(theirs))
busy = fixed["cores_busy"]
print(f"{name:<22} {batch:>5} {fixed['images_per_s']:>14.1f} {mx['images_per_s']:>14.1f} "
      f"{fixed['images_per_s'] / mx['images_per_s']:>6.2f}x {busy if busy is None else f'{busy:.2f}':>11}")
PY
    done
}
row meliusnet22-full 5 3,32,32 100 specs/meliusnet22.lnas --pin melius:DIDIDIDITDIDIDIDIDITDIDIDIDITDIDIDIDI
row meliusnet22-cheapest 20 3,32,32 100 specs/meliusnet22.lnas --pin "${cheap%,}"
row resnet18-1bit 10 3,32,32 10 specs/resnet18.lnas --classes 10 --pin "${b1%,}"
row demo 200 1,28,28 10 specs/demo.lnas --pin random:1
