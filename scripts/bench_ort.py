"""onnxruntime's side of `lightnasc bench network` and `bench kernels`: median milliseconds of a
model per batch size on the CPU execution provider, with a given number of threads, and the
process's peak resident memory (VmHWM, reset first) over what it held before the session was made.

    python bench_ort.py --model M.onnx --batch 1,32 [--threads 2] [--reps 10]
    python bench_ort.py --conv CIN,HW,COUT,K,PAD --batch 1,32     (one float Conv, random weights)

Prints one JSON object: {"rows": [{"batch": B, "ms": MEDIAN}], "peak_growth_bytes": N, ...}.
Run from the tests' venv (onnxruntime==1.32.0, onnx, numpy).
"""

import argparse
import json
import time

import numpy as np
import onnxruntime as ort


def status(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024  # kB
    return 0


def reset_peak():
    # Linux: writing 5 to clear_refs resets VmHWM, the peak resident set, to the current one.
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def conv_model(cin, hw, cout, k, pad):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = np.random.default_rng(0).standard_normal((cout, cin, k, k)).astype(np.float32)
    node = helper.make_node("Conv", ["x", "w"], ["y"], pads=[pad] * 4, kernel_shape=[k, k])
    out = hw + 2 * pad - k + 1
    graph = helper.make_graph(
        [node],
        "conv",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", cin, hw, hw])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", cout, out, out])],
        [numpy_helper.from_array(w, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString(), (cin, hw, hw)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model")
    p.add_argument("--conv")
    p.add_argument("--batch", default="1,32")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--reps", type=int, default=10)
    a = p.parse_args()
    reset_peak()
    base = status("VmRSS")
    so = ort.SessionOptions()
    so.intra_op_num_threads = a.threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if a.conv:
        blob, shape = conv_model(*[int(v) for v in a.conv.split(",")])
        sess = ort.InferenceSession(blob, so, providers=["CPUExecutionProvider"])
    else:
        sess = ort.InferenceSession(a.model, so, providers=["CPUExecutionProvider"])
        shape = tuple(sess.get_inputs()[0].shape[1:])
    loaded = status("VmHWM")
    name = sess.get_inputs()[0].name
    rows = []
    rng = np.random.default_rng(5)
    for b in [int(v) for v in a.batch.split(",")]:
        x = rng.standard_normal((b, *shape)).astype(np.float32)
        times = []
        t0 = time.perf_counter()
        sess.run(None, {name: x})  # warm-up
        first = max(time.perf_counter() - t0, 1e-6)
        reps = max(a.reps, min(2000, int(0.25 / first)))
        for _ in range(reps):
            t = time.perf_counter()
            sess.run(None, {name: x})
            times.append((time.perf_counter() - t) * 1e3)
        times.sort()
        rows.append({"batch": b, "ms": times[len(times) // 2]})
    print(json.dumps({
        "rows": rows,
        "threads": a.threads,
        "onnxruntime": ort.__version__,
        "load_growth_bytes": loaded - base,
        "peak_growth_bytes": status("VmHWM") - base,
    }))


if __name__ == "__main__":
    main()
