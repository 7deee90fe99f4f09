#!/usr/bin/env bash
# The GPU check: one short run on a lent GPU machine, or the same steps on any machine with
# `--device wgpu` (Mesa's software Vulkan when there is no GPU), writing JSON under $OUT.
#
#   scripts/gpu-check.sh [--device cuda|wgpu] [--bin PATH] [--out DIR] [--quick|--full] [--only a,b]
#
# It builds nothing: it runs a release binary built elsewhere (on a GPU day, built with
# `--no-default-features --features cuda` and stripped into dist/, see the README). Steps, each under its own time
# limit so that the whole run stays under 8 minutes, each writing OUT/NAME.json (its stdout) and
# OUT/NAME.log (its stderr: a line per step or pass, so a step killed at its limit says how far it
# got and how long each step took); summary.json is rewritten after every step:
#   devices      `lightnasc devices`: the driver, NVRTC and GPUs the probe found
#   selftest     every GPU kernel variant and the device packing against the CPU kernels, and
#                MeliusNet-22, ResNet-18 and the demo: packed logits equal to the float path's
#   supernet     `bench supernet --pin --fixed-only` on the full MeliusNet-22: training images/s,
#                the first step's seconds (kernels compiled, autotune) apart from the steady state
#   supernet-2   the same again, a new process: the first step with CubeCL's caches on disk
#   counts       the same with `--counts`: kernels compiled, launched, autotuned, reads per step
#   profile      the same with `--profile`: CubeCL's per-kernel device times (profile.txt)
#   perf         where `perf record` works: the same steps under `perf record`, the samples by
#                thread and symbol (perf.txt): which thread is busy and where (CubeCL's device
#                thread `DSD-*` against the driving thread; every supernet step's JSON has the
#                CPU time per step of each thread and the device memory reserved anew)
#   burn-wgrad   `supernet` with burn's conv weight gradient (LIGHTNASC_GPU_WGRAD=burn) instead
#                of lightnasc's, sliced over K: which is faster on this device
#   cpu-1/4/16   `supernet` on the CPU on 1, 4 and 16 cores (pinned with taskset; where the
#                machine has that many): how CPU training scales with cores
#   network      `bench network --pinned-only` on the full MeliusNet-22: inference b1 and b32
#   torch-train  PyTorch eager on the same network (scripts/torch_melius22.py), where python3
#   torch-infer  has torch: the side-by-side figures (same JSON keys)
#   kernels      `bench kernels`: binary conv vs burn's float conv on the device, MeliusNet-22 and
#                ResNet-18 shapes, batch 1 to 64
#   search-1     one epoch of a mock MeliusNet-22 search (its ledger line)
#   search-2     the same on two devices (`cuda:0,1`), where the machine has two
# `--quick` (the default with wgpu) shrinks every budget and uses the demo for the training
# steps, with the same files and the same JSON shape. `--only` runs the named steps alone. The
# exit status is non-zero when a step failed.
set -uo pipefail
cd "$(dirname "$0")/.."

device=cuda bin=dist/lightnasc out=${OUT:-runs/gpu-check} size= only=
while (($#)); do
    case "$1" in
        --device) device=${2:?}; shift 2 ;;
        --bin) bin=${2:?}; shift 2 ;;
        --out) out=${2:?}; shift 2 ;;
        --quick) size=quick; shift ;;
        --full) size=full; shift ;;
        --only) only=,${2:?},; shift 2 ;;
        -h | --help) sed -n '2,37p' "$0"; exit 0 ;;
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
    network=(specs/meliusnet22.lnas --pin "$full" --batch 1,32 --reps 10 --pinned-only)
    supernet=(specs/meliusnet22.lnas --pin "$full" --batch 64 --steps 6 --warmup 2 --fixed-only)
    counted=(specs/meliusnet22.lnas --pin "$full" --batch 64 --steps 2 --warmup 1 --fixed-only --counts)
    profiled=(specs/meliusnet22.lnas --pin "$full" --batch 64 --steps 2 --warmup 1 --fixed-only)
    cpu=(specs/meliusnet22.lnas --pin "$full" --batch 64 --steps 2 --warmup 1 --fixed-only)
    torch=(--batch 64 --steps 20)
    search=(specs/meliusnet22.lnas --data mock:cifar100 --batch-size 64)
else
    selftest=(--spec specs/demo.lnas --architectures 1 --batch 2)
    kernels=(--batch 1 --reps 1)
    network=(specs/demo.lnas --pin random:1 --batch 2 --reps 1 --pinned-only)
    supernet=(specs/demo.lnas --pin random:1 --batch 8 --steps 1 --warmup 1 --fixed-only)
    counted=(specs/demo.lnas --pin random:1 --batch 8 --steps 1 --warmup 1 --fixed-only --counts)
    profiled=(specs/demo.lnas --pin random:1 --batch 8 --steps 1 --warmup 1 --fixed-only)
    cpu=(specs/demo.lnas --pin random:1 --batch 8 --steps 1 --warmup 1 --fixed-only)
    torch=(--batch 8 --steps 2)
    search=(specs/demo.lnas --data mock:fashion-mnist --batch-size 32 --train-limit 64)
fi
# The limits keep a GPU run under 8 minutes; a quick run on a software device compiles its
# kernels slowly (minutes, cold) and has no such budget.
scale=1
[[ $size == quick ]] && scale=5

steps=()
# The summary so far (rewritten after each step, so a run killed midway keeps what it did).
summary() {
    local failed=0
    for s in "${steps[@]}"; do [[ $s == *'"exit": 0,'* || $s == *'"exit": null'* ]] || failed=1; done
    {
        echo "{\"device\": \"$device\", \"devices\": $gpus, \"size\": \"$size\", \"ok\": $([[ $failed == 0 ]] && echo true || echo false),"
        echo " \"date\": \"$(date -u +%FT%TZ)\", \"steps\": ["
        (IFS=,; echo "  ${steps[*]}")
        echo "]}"
    } >"$out/summary.json"
    return $failed
}
# step NAME LIMIT COMMAND...: stdout to OUT/NAME.json (OUT/NAME.log with STDOUT=log), stderr to
# OUT/NAME.log; a line of summary.json.
step() {
    local name=$1 limit=$(($2 * scale)) start rc secs
    shift 2
    [[ -z $only || $only == *,$name,* ]] || return 0
    local stdout=$out/$name.json
    [[ ${STDOUT:-} == log ]] && stdout=$out/$name.out.log
    start=$(date +%s%N)
    timeout "$limit" "$@" >"$stdout" 2>"$out/$name.log"
    rc=$?
    secs=$(awk -v a="$start" -v b="$(date +%s%N)" 'BEGIN { printf "%.2f", (b - a) / 1e9 }')
    steps+=("{\"step\": \"$name\", \"exit\": $rc, \"seconds\": $secs, \"limit\": $limit, \"file\": \"$name.json\"}")
    echo "gpu-check: $name exit $rc in ${secs}s" >&2
    summary
}
# A one-epoch search; its result is its line of the runs folder's ledger.
search_step() {
    local name=$1 limit=$2 dev=$3
    [[ -z $only || $only == *,$name,* ]] || return 0
    STDOUT=log step "$name" "$limit" "$bin" search "${search[@]}" --epochs 1 --device "$dev" \
        --runs-dir "$out/runs" --name "$name"
    grep -F "\"run\":\"$out/runs/$name\"" "$out/runs/ledger.jsonl" >"$out/$name.json" 2>/dev/null ||
        echo null >"$out/$name.json"
}

step devices 20 "$bin" devices --format json
step selftest 90 "$bin" selftest --device "$device" "${selftest[@]}" --format json
step supernet 150 "$bin" bench supernet "${supernet[@]}" --device "$device" --format json
step supernet-2 60 "$bin" bench supernet "${supernet[@]}" --device "$device" --format json
step counts 60 "$bin" bench supernet "${counted[@]}" --device "$device" --format json
step profile 60 "$bin" bench supernet "${profiled[@]}" --device "$device" --profile "$out/profile.txt" --format json
if command -v perf >/dev/null && perf record -q -o /dev/null -- true 2>/dev/null; then
    step perf 90 perf record -F 499 -o "$out/perf.data" -- "$bin" bench supernet "${supernet[@]}" \
        --device "$device" --format json
    perf report -i "$out/perf.data" --sort comm,dso,sym --stdio -n 2>/dev/null | head -80 >"$out/perf.txt"
    rm -f "$out/perf.data"
fi
step burn-wgrad 60 env LIGHTNASC_GPU_WGRAD=burn "$bin" bench supernet "${supernet[@]}" --device "$device" --format json
for t in 1 4 16; do
    ((t <= $(nproc))) || continue
    step "cpu-$t" 90 env RAYON_NUM_THREADS=$t taskset -c "0-$((t - 1))" "$bin" bench supernet "${cpu[@]}" --device cpu \
        --format json
done
step network 90 "$bin" bench network "${network[@]}" --device "$device" --format json
# PyTorch on the same network, where this machine's python3 has it (a GPU machine of this project).
if python3 -c 'import torch' 2>/dev/null; then
    step torch-train 60 python3 scripts/torch_melius22.py train "${torch[@]}"
    step torch-infer 60 python3 scripts/torch_melius22.py infer --steps 20
fi
step kernels 100 "$bin" bench kernels --device "$device" "${kernels[@]}" --format json
search_step search-1 80 "$device"
if [[ $device == cuda && $gpus -ge 2 ]]; then
    search_step search-2 50 cuda:0,1
elif [[ -z $only ]]; then
    echo null >"$out/search-2.json"
    steps+=("{\"step\": \"search-2\", \"exit\": null, \"seconds\": 0, \"limit\": 0, \"file\": \"search-2.json\", \"skipped\": \"one device\"}")
fi

summary
failed=$?
echo "gpu-check: results in $out (summary.json)" >&2
exit $failed
