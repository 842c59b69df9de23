"""Print, per workload group, fastgrad's median over each reference's median from one pytest-benchmark JSON.

Usage::

    python -m pytest bench --benchmark-json=bench.json
    python bench/ratios.py bench.json

A ratio below 1 means fastgrad is faster. Only ratios within one run are meaningful
(WORKLOADS.md); absolute medians are printed for context, and for W6 whose target is
absolute. Benchmarks are identified by ``extra_info`` (framework, mode) set by
``benchlib.tag``; the brief's targets are checked where one applies.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict

# (group, fastgrad mode, reference impl) -> largest acceptable ratio; W6 is absolute seconds.
TARGETS = {
    ("W1", "eager", "torch-eager"): 1 / 20,
    ("W4", "eager", "numpy-by-hand"): 1.05,
    ("W5", "eager", "torch-eager"): 1 / 4,
}
ABSOLUTE_TARGETS = {("W6", "import"): 0.3}


def fmt_time(seconds: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def impl_of(bench: dict) -> tuple[str, str]:
    """(framework, mode) from extra_info, else guessed from the test name."""
    info = bench.get("extra_info") or {}
    if "framework" in info:
        return info["framework"], info.get("mode", "")
    name = bench["name"].lower()
    for framework in ("fastgrad", "numpy", "torch", "jax", "python"):
        if framework in name:
            return framework, name.split(framework, 1)[1].strip("_[]") or "?"
    return "?", name


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("json", help="file written by pytest --benchmark-json")
    args = parser.parse_args(argv)
    with open(args.json) as f:
        data = json.load(f)

    machine = data.get("machine_info", {})
    print(f"run: {data.get('datetime', '?')}  cpu: {machine.get('cpu', {}).get('brand_raw', '?')}  "
          f"threads: {machine.get('bench_threads', '?')}  load at start: {machine.get('loadavg_at_start', '?')}")

    groups = defaultdict(list)
    for bench in data["benchmarks"]:
        groups[bench.get("group") or "?"].append(bench)

    missed = 0
    for group in sorted(groups):
        rows = [(impl_of(b), b["stats"]["median"]) for b in groups[group]]
        ours = [(mode, med) for (fw, mode), med in rows if fw == "fastgrad"]
        refs = [(f"{fw}-{mode}", med) for (fw, mode), med in rows if fw != "fastgrad"]
        print(f"\n{group}")
        for impl, med in sorted(refs, key=lambda r: r[1]):
            print(f"  {impl:<22} median {fmt_time(med):>10}")
        if not ours:
            print("  (no fastgrad result in this group)")
            continue
        for mode, med in ours:
            print(f"  fastgrad-{mode:<13} median {fmt_time(med):>10}")
            target = ABSOLUTE_TARGETS.get((group, mode))
            if target is not None:
                ok = med <= target
                missed += not ok
                print(f"    absolute {med:.3f} s  target <= {target} s  {'MET' if ok else 'MISSED'}")
            for impl, ref in sorted(refs):
                ratio = med / ref
                line = f"    / {impl:<20} = {ratio:8.3f}x"
                target = TARGETS.get((group, mode, impl))
                if target is not None:
                    ok = ratio <= target
                    missed += not ok
                    line += f"   target <= {target:.3g}x  {'MET' if ok else 'MISSED'}"
                print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
