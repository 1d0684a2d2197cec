"""Make the README's pictures (`make docs`): the unrolled LSTM, RNN vs LSTM at cell level,
and the gradient-norm plot. Deterministic: the same files every time."""
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tinygrad_lstm.nn import LSTM, RNN  # noqa: E402
from viz import render  # noqa: E402
from viz.plots import vanishing_gradient_demo  # noqa: E402

HERE = Path(__file__).resolve().parent


def last_step_only(T):
    mask = np.zeros(T, dtype=bool)
    mask[-1] = True
    return mask


def main():
    rng = np.random.default_rng(0)
    xs, ys = rng.standard_normal((3, 3)), rng.integers(0, 3, 3)
    model = LSTM(input_size=3, hidden_size=2, output_size=3, seed=0)
    loss = model.loss(xs, ys)
    loss.backward()
    print(render(loss, HERE / "lstm-graph.svg", show_grads=True))

    T = 30
    xs, ys = rng.standard_normal((T, 3)), rng.integers(0, 3, T)
    for make, name in ((RNN, "rnn"), (LSTM, "lstm")):
        model = make(3, 8, 3, seed=0)
        loss = model.loss(xs, ys, mask=last_step_only(T))
        loss.backward()
        print(render(loss, HERE / f"{name}-cells.svg", detail="cell", show_grads=True, grad_range=(1e-12, 1)))
    vanishing_gradient_demo(HERE / "gradient-norms.svg", steps=50)
    print(HERE / "gradient-norms.svg")


if __name__ == "__main__":
    main()
