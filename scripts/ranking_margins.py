#!/usr/bin/env python3
"""Many searches' rankings of one table, summarised: docs/search-quality.md, "The whole space".

Reads the JSON that `lightnasc bench ranking RUN --format json` prints, one file per search
(named so that `seed=N-controller=KIND` is in the name, as sweep folders are), and prints, per
supernet kind and scorer, the mean tau-b and the margin over a proxy over all rows and within cost
groups (its standard error over seeds, on how many runs it is above 0, and on how many its own
interval is); then concordance with the table on the pairs the 32-bit count orders and the pairs
it ties, for the count, a held-out seed of the table, and each kind's scorers.

    for d in runs/sweeps/policies-bits-more/*-search-*; do
      lightnasc bench ranking "$d" --format json > "rankings/$(basename "$d").json"
    done
    python3 scripts/ranking_margins.py rankings specs/bench/resnet-bits-fashion-mnist.jsonl
"""

import argparse
import glob
import json
import math
import os
import re
import statistics as st

SCORERS = {"shared weights": "shared_weight_accuracy", "shared weights, likelihood": "shared_weight_log_likelihood"}


def concordance(table, score, keep):
    """Share of the pairs `keep(i, j)` selects that `score` orders as `table` (ties dropped)."""
    agree = total = 0
    for i in range(len(table)):
        for j in range(i + 1, len(table)):
            a, s = table[i] - table[j], score[i] - score[j]
            if keep(i, j) and a != 0 and s != 0:
                total += 1
                agree += a * s > 0
    return agree / total, total


def margins(runs, proxy):
    for kind in sorted({k for k, _ in runs}):
        for scorer in SCORERS:
            for part in ("all", "within_groups"):
                taus, values, lows = [], [], []
                for k, r in runs:
                    if k != kind:
                        continue
                    trust = r["trust"]
                    taus.append(dict(trust["scorers"])[scorer][part]["value"])
                    over = next(m["over"] for m in trust["margins"] if m["scorer"] == scorer)
                    m = dict(over)[proxy][part]
                    values.append(m["value"])
                    lows.append(m["low"])
                n = len(values)
                se = st.stdev(values) / math.sqrt(n) if n > 1 else float("nan")
                print(
                    f"{kind:8} {scorer:27} {part:13} n={n} tau {st.mean(taus):.3f} [{min(taus):.3f}, {max(taus):.3f}]"
                    f"  margin {st.mean(values):+.3f} (se {se:.3f}), above 0 on {sum(v > 0 for v in values)},"
                    f" interval above 0 on {sum(lo > 0 for lo in lows)}"
                )


def pairs(runs, rows):
    mean = [r["test_accuracy"] for r in rows]
    count = [r["arch"].count("=b32") for r in rows]
    differ = lambda i, j: count[i] != count[j]  # noqa: E731
    same = lambda i, j: count[i] == count[j]  # noqa: E731
    c, n = concordance(mean, count, differ)
    print(f"32-bit count: {c:.3f} of {n} pairs whose counts differ ({concordance(mean, mean, same)[1]} tie)")
    for k in range(len(rows[0]["test_by_seed"])):
        held = [r["test_by_seed"][k] for r in rows]
        rest = [(sum(r["test_by_seed"]) - r["test_by_seed"][k]) / (len(r["test_by_seed"]) - 1) for r in rows]
        print(f"held-out seed {rows[0]['seeds'][k]}: against the others' mean, count differs {concordance(rest, held, differ)[0]:.3f},"
              f" count ties {concordance(rest, held, same)[0]:.3f}")
    for kind in sorted({k for k, _ in runs}):
        for scorer, key in SCORERS.items():
            sel = [r for k, r in runs if k == kind]
            d = st.mean(concordance(mean, r[key], differ)[0] for r in sel)
            s = st.mean(concordance(mean, r[key], same)[0] for r in sel)
            print(f"{kind:8} {scorer:27} count differs {d:.3f}, count ties {s:.3f} (mean over {len(sel)})")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("rankings", help="folder of `bench ranking --format json` outputs")
    ap.add_argument("table", help="the table they were ranked against")
    ap.add_argument("--proxy", default="larger options")
    args = ap.parse_args()
    rows = [json.loads(line) for line in open(args.table) if line.strip() and not line.startswith("#")]
    runs = []
    for path in sorted(glob.glob(os.path.join(args.rankings, "*.json"))):
        m = re.search(r"controller=(\w+)", path)
        r = json.load(open(path))
        if r["architectures"] != len(rows):
            raise SystemExit(f"{path}: ranked {r['architectures']} architectures, the table has {len(rows)}")
        runs.append((m.group(1) if m else "run", r))
    if not runs:
        raise SystemExit(f"{args.rankings}: no *.json rankings")
    margins(runs, args.proxy)
    pairs(runs, rows)


if __name__ == "__main__":
    main()
