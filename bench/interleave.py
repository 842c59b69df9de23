"""Cross-check of the pytest-benchmark numbers on a busy machine: implementations timed round-robin.

pytest-benchmark times one implementation after another, so when the load on the
machine changes between two tests (another process compiling, testing...), their ratio
moves with it. This script runs the very same benchmark functions (each one's
correctness check included) through a stub ``benchmark`` fixture that only captures the
timed callable, then times the implementations of a group in turn, round after round,
so that load swings hit all of them alike. It writes a JSON file in pytest-benchmark's
layout (group, name, extra_info, stats.median) that ``ratios.py`` reads::

    BENCH_THREADS=1 python bench/interleave.py W1 W4 W5 --json inter.json
    python bench/ratios.py inter.json

Quote pytest-benchmark's run first; use this to say whether a ratio survived the load.
"""
from __future__ import annotations

import argparse
import inspect
import json
import os
import random
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import conftest  # noqa: E402,F401  (BENCH_THREADS and sys.path, before numpy loads)

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import benchlib  # noqa: E402

MODULES = {"W1": "test_w1_lecture_graph", "W2": "test_w2_window_classifier", "W3": "test_w3_mlp",
           "W4": "test_w4_matmul", "W5": "test_w5_chain", "W6": "test_w6_import"}


class CapturingBenchmark:
    """Stands in for pytest-benchmark's fixture: keeps the callable instead of timing it."""

    def __init__(self):
        self.extra_info = {}
        self.call = None

    def __call__(self, fn, *args, **kwargs):
        self.call = lambda: fn(*args, **kwargs)

    def pedantic(self, target, args=(), kwargs=None, **_):
        kwargs = kwargs or {}
        self.call = lambda: target(*args, **kwargs)


def collect(workload: str, frameworks=None):
    """(group, name, extra_info, callable) for every implementation of a workload that runs here.

    ``frameworks`` (e.g. {"fastgrad", "torch"}) keeps only tests whose name mentions one of
    them, so the others are never imported.
    """
    module = __import__(MODULES[workload])
    found = []
    for name, fn in sorted(vars(module).items()):
        if not (name.startswith("test_") and callable(fn)):
            continue
        if frameworks and not any(f"_{fw}_" in name for fw in frameworks):
            continue
        params = inspect.signature(fn).parameters
        variants = [(False, "W2-dense"), (True, "W2-sparse")] if "sparse" in params else [(None, workload)]
        for sparse, group in variants:
            bench = CapturingBenchmark()
            kwargs = {"benchmark": bench}
            if "sparse" in params:
                kwargs["sparse"] = sparse
            if "w2" in params:
                kwargs["w2"] = benchlib.w2_problem()
            if "w3" in params:
                kwargs["w3"] = benchlib.w3_problem()
            label = name + (f"[{'sparse' if sparse else 'dense'}]" if sparse is not None else "")
            try:
                fn(**kwargs)
            except pytest.skip.Exception as skip:
                print(f"  skip {label}: {skip.msg}")
                continue
            found.append((group, label, bench.extra_info, bench.call))
    return found


def calibrate(call, target: float) -> int:
    """Calls per sample so that one sample lasts about ``target`` seconds."""
    start = time.perf_counter()
    call()
    once = max(time.perf_counter() - start, 1e-7)
    return max(1, int(target / once))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workloads", nargs="*", default=["W1", "W4", "W5"], choices=sorted(MODULES))
    parser.add_argument("--rounds", type=int, default=15, help="samples per implementation")
    parser.add_argument("--sample", type=float, default=0.02, help="target seconds per sample")
    parser.add_argument("--json", default=None, help="write results here (for ratios.py)")
    parser.add_argument("--seed", type=int, default=benchlib.SEED, help="order shuffling seed")
    parser.add_argument("--frameworks", default="", help="comma list, e.g. fastgrad,numpy,torch (default: all)")
    args = parser.parse_args(argv)

    order_rng = random.Random(args.seed)
    results = []
    for workload in args.workloads:
        impls = collect(workload, {f for f in args.frameworks.split(",") if f})
        groups = sorted({g for g, *_ in impls})
        for group in groups:
            members = [i for i in impls if i[0] == group]
            loops = [calibrate(call, args.sample) for *_, call in members]
            samples = [[] for _ in members]
            for _ in range(args.rounds):
                turn = list(range(len(members)))
                order_rng.shuffle(turn)
                for k in turn:
                    call, n = members[k][3], loops[k]
                    start = time.perf_counter()
                    for _ in range(n):
                        call()
                    samples[k].append((time.perf_counter() - start) / n)
            for (grp, name, info, _), times, n in zip(members, samples, loops):
                med = float(np.median(times))
                q1, q3 = np.percentile(times, [25, 75])
                print(f"{grp:<10} {name:<36} median {med * 1e3:10.4f} ms  iqr {(q3 - q1) * 1e3:8.4f} ms"
                      f"  ({len(times)} x {n} calls)")
                results.append({"group": grp, "name": name, "extra_info": info,
                                "stats": {"median": med, "iqr": float(q3 - q1), "rounds": len(times),
                                          "iterations": n}})
    if args.json:
        data = {"datetime": datetime.now(timezone.utc).isoformat(), "benchmarks": results,
                "machine_info": {"bench_threads": os.environ.get("BENCH_THREADS") or "default",
                                 "loadavg_at_start": list(os.getloadavg()), "interleaved": True}}
        with open(args.json, "w") as f:
            json.dump(data, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
