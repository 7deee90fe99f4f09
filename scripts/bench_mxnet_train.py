#!/usr/bin/env python3
"""Train a network exported by `lightnasc export --format mxnet` in MXNet 1.9.1 (its CPU build,
oneDNN) on random data and time the steps: the MXNet side of `lightnasc bench supernet --pin`,
on the same network. Prints one JSON object: images/s, ms/step, the settings.

    lightnasc export specs/meliusnet22.lnas --pin melius:DIDIDIDITDIDIDIDIDITDIDIDIDITDIDIDIDI \
        --format mxnet -o /tmp/melius
    python3 -m venv /tmp/mx && /tmp/mx/bin/pip install 'mxnet==1.9.1' 'numpy<1.24'
    /tmp/mx/bin/python scripts/bench_mxnet_train.py /tmp/melius --batch 32

The exported symbol computes what lightnasc's inference computes with stock operators; for
training, its activation sign (`x >= 0` mapped to +-1) becomes `clip(x, -1, 1)`, the cost of a
straight-through sign (see below), and the binary convs' weights are plain parameters (lightnasc
binarises latent weights each step, two elementwise ops per binary conv more). The work of a step
is otherwise the same convolutions, batch norms, concats and slices forward and backward.
"""
import argparse
import json
import time

import mxnet as mx
import numpy as np


def main():
    p = argparse.ArgumentParser()
    p.add_argument("prefix", help="PREFIX of PREFIX-symbol.json and PREFIX-0000.params (`lightnasc export --format mxnet`)")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--input", default="3,32,32", help="C,H,W")
    p.add_argument("--classes", type=int, default=100)
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    if args.batch < 1 or args.steps < 1 or args.warmup < 0:
        p.error("--batch and --steps must be at least 1, --warmup at least 0")

    mx.random.seed(args.seed)
    rng = np.random.default_rng(args.seed)
    shape = (args.batch, *[int(d) for d in args.input.split(",")])
    # The exported weights are the starting point (their values do not change the work).
    _, arg_params, aux_params = mx.model.load_checkpoint(args.prefix, 0)
    with open(f"{args.prefix}-symbol.json") as f:
        graph = json.load(f)
    # The export's activation sign, `x >= 0`, has no gradient in MXNet, and behind a batch norm
    # in oneDNN layout its zero gradient trips a oneDNN check ("The size of NDArray doesn't match
    # the requested MKLDNN memory desc"). A binary network trains through a straight-through
    # sign, whose backward is the clipped identity: `clip(x, -1, 1)` costs what BMXNet's
    # det_sign costs forward and backward, so it stands in for it here.
    for node in graph["nodes"]:
        if node["op"] == "_greater_equal_scalar":
            node["op"], node["attrs"] = "clip", {"a_min": "-1", "a_max": "1"}
    net = mx.sym.SoftmaxOutput(mx.sym.load_json(json.dumps(graph)), name="softmax")
    mod = mx.mod.Module(net, data_names=["data"], label_names=["softmax_label"], context=mx.cpu())
    mod.bind(data_shapes=[("data", shape)], label_shapes=[("softmax_label", (args.batch,))])
    mod.init_params(arg_params=arg_params, aux_params=aux_params)
    # Adam at 1e-3 with a little weight decay, as `lightnasc bench supernet` trains.
    mod.init_optimizer(optimizer="adam", optimizer_params={"learning_rate": 1e-3, "wd": 5e-6})
    batch = mx.io.DataBatch(
        data=[mx.nd.array(rng.standard_normal(shape, dtype=np.float32))],
        label=[mx.nd.array(rng.integers(0, args.classes, args.batch))],
    )

    def step():
        mod.forward_backward(batch)
        mod.update()
        # MXNet runs asynchronously: wait for the step's end, as lightnasc reads its loss.
        mx.nd.waitall()

    for _ in range(args.warmup):
        step()
    start = time.perf_counter()
    for _ in range(args.steps):
        step()
    secs = time.perf_counter() - start
    print(json.dumps({
        "engine": f"mxnet-{mx.__version__}",
        "network": args.prefix,
        "batch": args.batch,
        "steps": args.steps,
        "ms_per_step": secs * 1e3 / args.steps,
        "images_per_s": args.steps * args.batch / secs,
        "params": int(sum(np.prod(a.shape) for a in mod.get_params()[0].values())),
    }, indent=2))


if __name__ == "__main__":
    main()
