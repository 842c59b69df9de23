"""Peak memory of a W3 training run (MLP 784-256-256-10, batch 128, SGD momentum).

Each implementation runs in a fresh interpreter: build the model and batch, take one
step, reset the kernel's peak-RSS counter (``/proc/self/clear_refs``, Linux), run 100
steps, then report the peak resident memory above the level before the run, and for
numpy-based implementations also the peak of traced numpy allocations (tracemalloc).

    python bench/w3_memory.py            # fastgrad, numpy by hand, torch when installed
"""
import json
import subprocess
import sys
from pathlib import Path

CHILD = r'''
import json, sys, tracemalloc
sys.path.insert(0, {bench!r})
import numpy as np
from benchlib import w3_problem
import test_w3_mlp as w3
which = {which!r}
problem = w3_problem()
if which == "numpy-by-hand":
    net = w3.NumpyMLP(problem)
    step = lambda: net.step(problem["x"], problem["y"])
elif which == "fastgrad":
    import fastgrad as fg
    fg_step, _ = w3.fastgrad_mlp(fg, problem)
    x, y = fg.tensor(problem["x"]), fg.tensor(problem["y"])
    step = lambda: fg_step(x, y)
else:
    import torch
    torch.set_num_threads(1)
    layers = [torch.nn.Linear(784, 256), torch.nn.Linear(256, 256), torch.nn.Linear(256, 10)]
    model = torch.nn.Sequential(layers[0], torch.nn.ReLU(), layers[1], torch.nn.ReLU(), layers[2])
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x, y = torch.from_numpy(problem["x"]), torch.from_numpy(problem["y"])
    def step():
        opt.zero_grad(); loss = torch.nn.functional.cross_entropy(model(x), y); loss.backward(); opt.step()

def status(field):
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1])           # kB

step()
open("/proc/self/clear_refs", "w").write("5")    # reset VmHWM to the current RSS
before = status("VmRSS")
tracemalloc.start()
for _ in range(100):
    step()
traced = tracemalloc.get_traced_memory()[1]
print(json.dumps({{"peak_rss_kib": status("VmHWM") - before, "traced_peak_kib": traced // 1024}}))
'''


def measure(which: str) -> dict:
    code = CHILD.format(bench=str(Path(__file__).resolve().parent), which=which)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if done.returncode:
        return {"error": done.stderr.strip().splitlines()[-1]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    import importlib.util
    which = ["numpy-by-hand", "fastgrad"] + (["torch"] if importlib.util.find_spec("torch") else [])
    print("W3 training run, 100 steps: peak memory above the level before the run")
    for name in which:
        r = measure(name)
        if "error" in r:
            print(f"  {name:<14} failed: {r['error']}")
        else:
            traced = f"{r['traced_peak_kib'] / 1024:6.2f} MiB" if name != "torch" else "     (n/a)"
            print(f"  {name:<14} peak RSS +{r['peak_rss_kib'] / 1024:6.2f} MiB   "
                  f"traced numpy allocations {traced}")


if __name__ == "__main__":
    main()
