#!/usr/bin/env python3
"""Time oneDNN's float 3x3 convolution (MXNet 1.9.1's CPU build) on the shapes of
`lightnasc bench kernels`, to compare the bit-packed binary conv with the fastest float conv
on the machine. Prints JSON rows: shape, batch, float_ms (median).

    python3 -m venv /tmp/mx && /tmp/mx/bin/pip install 'mxnet==1.9.1' 'numpy<1.24'
    /tmp/mx/bin/python scripts/bench_mxnet_conv.py --batch 1,32
"""
import argparse
import json
import time

import mxnet as mx

SHAPES = [  # (network, C_in, H = W, C_out), as in src/bench/kernels.rs
    ("meliusnet22", 64, 32, 64),
    ("meliusnet22", 320, 32, 64),
    ("meliusnet22", 160, 16, 64),
    ("meliusnet22", 480, 16, 64),
    ("meliusnet22", 224, 8, 64),
    ("meliusnet22", 480, 8, 64),
    ("meliusnet22", 256, 4, 64),
    ("meliusnet22", 512, 4, 64),
    ("resnet18", 64, 32, 64),
    ("resnet18", 128, 16, 128),
    ("resnet18", 256, 8, 256),
    ("resnet18", 512, 4, 512),
]


def median_ms(f, reps):
    # As `lightnasc bench`: one warm-up call, then at least `reps` timed calls, more for fast
    # ones (about a quarter second in all, at most 2000 calls).
    t = time.perf_counter()
    f()
    first = max((time.perf_counter() - t) * 1e3, 1e-3)
    reps = max(reps, min(int(250.0 / first), 2000))
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        f()
        times.append((time.perf_counter() - t) * 1e3)
    times.sort()
    return times[len(times) // 2]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--batch", default="1,32")
    p.add_argument("--reps", type=int, default=20)
    args = p.parse_args()
    rows = []
    for net, c, hw, out in SHAPES:
        for n in [int(b) for b in args.batch.split(",")]:
            x = mx.nd.random.normal(shape=(n, c, hw, hw))
            w = mx.nd.random.normal(shape=(out, c, 3, 3))

            def conv():
                y = mx.nd.Convolution(x, w, kernel=(3, 3), pad=(1, 1), num_filter=out, no_bias=True)
                y.wait_to_read()

            rows.append({"net": net, "shape": f"{c}x{hw}x{hw} -> {out}, 3x3", "batch": n,
                         "float_ms": median_ms(conv, args.reps), "engine": "mxnet-1.9.1-onednn"})
    print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
