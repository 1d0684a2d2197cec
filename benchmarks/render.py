"""How long a picture takes: building the graphviz.Digraph and Graphviz's layout, separately.

    python benchmarks/render.py [--repeats 3]

Workloads: the op-level graph of an LSTM over T = 20 steps, and the cell-level graph over
T = 500 steps (I = 3, H = 4, O = 3, loss at every step, after backward, with gradient colours).
"""
import argparse
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tinygrad_lstm.nn import LSTM  # noqa: E402
from viz import draw_graph, render  # noqa: E402
from viz.graph import walk  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(f"{'workload':<22} {'tensors':>8} {'nodes':>6} {'Digraph s':>10} {'SVG total s':>12}")
    for T, detail in ((20, "op"), (500, "cell")):
        model = LSTM(3, 4, 3, seed=0)
        loss = model.loss(rng.standard_normal((T, 3)), rng.integers(0, 3, T))
        loss.backward()
        build, total = [], []
        with tempfile.TemporaryDirectory() as folder:
            for _ in range(args.repeats):
                start = time.perf_counter()
                graph = draw_graph(loss, detail=detail, show_grads=True)
                build.append(time.perf_counter() - start)
                start = time.perf_counter()
                render(loss, Path(folder) / "g.svg", detail=detail, show_grads=True)
                total.append(time.perf_counter() - start)
        nodes = len(re.findall(r"^\s*[nc]\d+ \[", graph.source, flags=re.M))
        print(f"{f'{detail} level, T = {T}':<22} {len(walk(loss)):>8} {nodes:>6} "
              f"{statistics.median(build):>10.2f} {statistics.median(total):>12.2f}")


if __name__ == "__main__":
    main()
