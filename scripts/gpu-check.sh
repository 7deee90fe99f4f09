#!/usr/bin/env bash
# The GPU check: one short run on a lent GPU machine, or the same steps on any machine with
# `--device wgpu` (Mesa's software Vulkan when there is no GPU), writing JSON under $OUT.
#
#   scripts/gpu-check.sh [--device cuda|wgpu] [--bin PATH] [--out DIR] [--quick|--full]
#
# It builds nothing: it runs a release binary built elsewhere (on a GPU day, built with
# `--no-default-features --features cuda` and stripped into dist/, see the README). Steps, each under its own time
# limit so that the whole run stays under 8 minutes, each writing OUT/NAME.json:
#   selftest   every GPU kernel variant and the device packing against the CPU kernels, and
#              MeliusNet-22, ResNet-18 and the demo: packed logits equal to the float path's
#   kernels    `bench kernels`: binary conv vs burn's float conv on the device, MeliusNet-22 and
#              ResNet-18 shapes, batch 1 to 64
#   network    `bench network` on the full MeliusNet-22: inference, binary convs packed vs float
#   supernet   `bench supernet --pin` on the full MeliusNet-22: training images/s
#   search-1   one epoch of a mock MeliusNet-22 search (its ledger line)
#   search-2   the same on two devices (`cuda:0,1`), where the machine has two
# and OUT/summary.json: the device, and each step's exit status, seconds and file. `--quick`
# (the default with wgpu) shrinks every budget and uses the demo for the training steps, with
# the same files and the same JSON shape. The exit status is non-zero when a step failed.
set -uo pipefail
cd "$(dirname "$0")/.."

device=cuda bin=dist/lightnasc out=${OUT:-runs/gpu-check} size=
while (($#)); do
    case "$1" in
        --device) device=${2:?}; shift 2 ;;
        --bin) bin=${2:?}; shift 2 ;;
        --out) out=${2:?}; shift 2 ;;
        --quick) size=quick; shift ;;
        --full) size=full; shift ;;
        -h | --help) sed -n '2,22p' "$0"; exit 0 ;;
        *) echo "gpu-check: unknown argument \`$1\` (see --help)" >&2; exit 2 ;;
    esac
done
case $device in cuda | wgpu) ;; *) echo "gpu-check: --device is cuda or wgpu" >&2; exit 2 ;; esac
[[ -x $bin ]] || { echo "gpu-check: no executable at $bin (build it first; see --help)" >&2; exit 2; }
[[ -n $size ]] || { [[ $device == cuda ]] && size=full || size=quick; }
mkdir -p "$out"
out=$(cd "$out" && pwd)

gpus=1
if [[ $device == cuda ]] && command -v nvidia-smi >/dev/null; then
    gpus=$(nvidia-smi -L | grep -c '^GPU') || gpus=0
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader >"$out/nvidia-smi.txt" 2>&1
fi
full=melius:DIDIDIDITDIDIDIDIDITDIDIDIDITDIDIDIDI
if [[ $size == full ]]; then
    selftest=(--architectures 2 --batch 2)
    kernels=(--batch 1,8,32,64 --reps 20)
    network=(specs/meliusnet22.lnas --pin "$full" --batch 1,32 --reps 10)
    supernet=(specs/meliusnet22.lnas --pin "$full" --batch 64 --steps 10 --warmup 3)
    search=(specs/meliusnet22.lnas --data mock:cifar100 --batch-size 64)
else
    selftest=(--spec specs/demo.lnas --architectures 1 --batch 2)
    kernels=(--batch 1 --reps 1)
    network=(specs/demo.lnas --pin random:1 --batch 2 --reps 1)
    supernet=(specs/demo.lnas --pin random:1 --batch 8 --steps 1 --warmup 1)
    search=(specs/demo.lnas --data mock:fashion-mnist --batch-size 32 --train-limit 64)
fi
# The limits keep a GPU run under 8 minutes; a quick run on a software device compiles its
# kernels slowly (minutes, cold) and has no such budget.
scale=1
[[ $size == quick ]] && scale=5

steps=()
# step NAME LIMIT COMMAND...: stdout to OUT/NAME.json (OUT/NAME.log with STDOUT=log), stderr to
# OUT/NAME.log; a line of summary.json.
step() {
    local name=$1 limit=$(($2 * scale)) start rc secs
    shift 2
    local stdout=$out/$name.json
    [[ ${STDOUT:-} == log ]] && stdout=$out/$name.out.log
    start=$(date +%s%N)
    timeout "$limit" "$@" >"$stdout" 2>"$out/$name.log"
    rc=$?
    secs=$(awk -v a="$start" -v b="$(date +%s%N)" 'BEGIN { printf "%.2f", (b - a) / 1e9 }')
    steps+=("{\"step\": \"$name\", \"exit\": $rc, \"seconds\": $secs, \"limit\": $limit, \"file\": \"$name.json\"}")
    echo "gpu-check: $name exit $rc in ${secs}s" >&2
}
# A one-epoch search; its result is its line of the runs folder's ledger.
search_step() {
    local name=$1 limit=$2 dev=$3
    STDOUT=log step "$name" "$limit" "$bin" search "${search[@]}" --epochs 1 --device "$dev" \
        --runs-dir "$out/runs" --name "$name"
    grep -F "\"run\":\"$out/runs/$name\"" "$out/runs/ledger.jsonl" >"$out/$name.json" 2>/dev/null ||
        echo null >"$out/$name.json"
}

step selftest 90 "$bin" selftest --device "$device" "${selftest[@]}" --format json
step kernels 100 "$bin" bench kernels --device "$device" "${kernels[@]}" --format json
step network 60 "$bin" bench network "${network[@]}" --device "$device" --format json
step supernet 90 "$bin" bench supernet "${supernet[@]}" --device "$device" --format json
search_step search-1 80 "$device"
if [[ $device == cuda && $gpus -ge 2 ]]; then
    search_step search-2 50 cuda:0,1
else
    echo null >"$out/search-2.json"
    steps+=("{\"step\": \"search-2\", \"exit\": null, \"seconds\": 0, \"limit\": 0, \"file\": \"search-2.json\", \"skipped\": \"one device\"}")
fi

failed=0
for s in "${steps[@]}"; do [[ $s == *'"exit": 0,'* || $s == *'"exit": null'* ]] || failed=1; done
{
    echo "{\"device\": \"$device\", \"devices\": $gpus, \"size\": \"$size\", \"ok\": $([[ $failed == 0 ]] && echo true || echo false),"
    echo " \"date\": \"$(date -u +%FT%TZ)\", \"steps\": ["
    (IFS=,; echo "  ${steps[*]}")
    echo "]}"
} >"$out/summary.json"
echo "gpu-check: results in $out (summary.json)" >&2
exit $failed
