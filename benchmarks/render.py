"""How long a picture takes: our layout (building the graphviz.Digraph), and the whole render
to a file (with Graphviz drawing it), over several rounds.

    python benchmarks/render.py [--rounds 5]

Workloads: an LSTM (I = 3, H = 2, O = 3, loss at every step, after backward, with gradient
colours) at op level over T = 20 and T = 50 steps, at cell level over T = 500, and the HTML
page at op level over T = 50. There is no peer to compare with (no other library draws its
unrolled graph), so these are seconds, with the range over rounds: this machine is noisy.
"""
import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.measure import timed  # noqa: E402
from tinygrad_lstm.nn import LSTM  # noqa: E402
from tinygrad_lstm.viz import draw_graph, render  # noqa: E402
from tinygrad_lstm.viz.graph import walk  # noqa: E402

WORKLOADS = [("op level, T = 20", 20, "op", "svg"), ("op level, T = 50", 50, "op", "svg"),
             ("cell level, T = 500", 500, "cell", "svg"), ("HTML page, T = 50", 50, "op", "html")]


def loss_of(T):
    model = LSTM(3, 2, 3, seed=0)
    rng = np.random.default_rng(0)
    loss = model.loss(rng.standard_normal((T, 3)), rng.integers(0, 3, T))
    loss.backward()
    return loss


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(f"{'workload':<22} {'tensors':>8} {'layout s (median, range)':>28} {'file s (median, range)':>26}")
    with tempfile.TemporaryDirectory() as folder:
        for title, T, detail, suffix in WORKLOADS:
            loss = loss_of(T)
            layout, whole = [], []
            for _ in range(args.rounds):
                layout.append(timed(lambda: draw_graph(loss, detail=detail, show_grads=True))[0])
                target = Path(folder) / f"g.{suffix}"
                whole.append(timed(lambda: render(loss, target, detail=detail, show_grads=True))[0])
            print(f"{title:<22} {len(walk(loss)):>8} {_range(layout):>28} {_range(whole):>26}")


def _range(times):
    return f"{statistics.median(times):.2f} ({min(times):.2f}–{max(times):.2f})"


if __name__ == "__main__":
    main()
