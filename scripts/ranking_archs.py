#!/usr/bin/env python3
"""Pick the architectures of a ranking table and write the sweep plan that trains them.

Every architecture of the space is costed with `lightnasc check --format json`; the table takes
the cheapest, the fullest, and the rest at evenly spaced positions of the OPs order (ties broken
by the architecture's text), so it spans the whole OPs range. Deterministic: the same space gives
the same plan.

    scripts/ranking_archs.py LIGHTNASC specs/demo.lnas --count 48 --input 1,28,28 --classes 10 \
        > specs/bench/demo-fashion-mnist.yml   (the header comes from --header FILE)
"""
import argparse
import itertools
import json
import subprocess
import sys


def check(exe, spec, extra, pin=None):
    cmd = [exe, "check", spec, "--format", "json", *extra] + (["--pin", pin] if pin else [])
    out = subprocess.run(cmd, capture_output=True, text=True)
    report = json.loads(out.stdout)
    if not report.get("ok", True) and pin:
        sys.exit(f"{pin}: {report['diagnostics'][0]['message']}")
    return report


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("lightnasc")
    ap.add_argument("spec")
    ap.add_argument("--count", type=int, default=48)
    ap.add_argument("--input", default=None)
    ap.add_argument("--classes", default=None)
    ap.add_argument("--header", default=None, help="text put before the plan's runs")
    a = ap.parse_args()
    extra = (["--input", a.input] if a.input else []) + (["--classes", a.classes] if a.classes else [])
    space = check(a.lightnasc, a.spec, extra)
    choices = [(c["name"], c["options"]) for c in space["choices"]]
    archs = []
    for opts in itertools.product(*[o for _, o in choices]):
        pin = ",".join(f"{n}={o}" for (n, _), o in zip(choices, opts))
        cost = check(a.lightnasc, a.spec, extra, pin)["pinned"]
        archs.append((cost["ops"], pin))
    archs.sort()
    n = len(archs)
    k = min(a.count, n)
    picked = sorted({round(i * (n - 1) / (k - 1)) for i in range(k)})
    if a.header:
        sys.stdout.write(open(a.header).read())
    sys.stdout.write("runs:\n  - train: specs/demo.lnas\n    pin:\n")
    for i in picked:
        ops, pin = archs[i]
        sys.stdout.write(f"      - {pin}  # {ops / 1e6:.2f}M OPs\n")
    print(f"{n} architectures, OPs {archs[0][0]:.0f} to {archs[-1][0]:.0f}; picked {len(picked)}", file=sys.stderr)


if __name__ == "__main__":
    main()
