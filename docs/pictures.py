"""Make the README's pictures (`make docs`): one LSTM step, the LSTM unrolled over three steps
(and its HTML page), RNN vs LSTM at cell level, the gradient-norm plot untrained, and after
both learned recall. Deterministic: the same files every time."""
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tinygrad_lstm.data import Recall  # noqa: E402
from tinygrad_lstm.nn import LSTM, RNN  # noqa: E402
from tinygrad_lstm.train import train  # noqa: E402
from tinygrad_lstm.viz import render  # noqa: E402
from tinygrad_lstm.viz.graph import walk  # noqa: E402
from tinygrad_lstm.viz.layout import base_name, time_of  # noqa: E402
from tinygrad_lstm.viz.plots import plot_gradient_norms, vanishing_gradient_demo  # noqa: E402
from tinygrad_lstm.viz.style import grad_norm  # noqa: E402

HERE = Path(__file__).resolve().parent


def last_step_only(T):
    mask = np.zeros(T, dtype=bool)
    mask[-1] = True
    return mask


def main():
    rng = np.random.default_rng(0)
    xs, ys = rng.standard_normal((3, 3)), rng.integers(0, 3, 3)
    model = LSTM(input_size=3, hidden_size=2, output_size=3, seed=0)
    loss = model.loss(xs[:1], ys[:1])                 # one step: the README's first picture
    loss.backward()
    print(render(loss, HERE / "lstm-step.svg", show_grads=True))
    loss = model.loss(xs, ys)                         # three steps, as a picture and a page
    loss.backward()
    print(render(loss, HERE / "lstm-graph.svg", show_grads=True))
    print(render(loss, HERE / "lstm-graph.html", show_grads=True))

    T = 30
    xs, ys = rng.standard_normal((T, 3)), rng.integers(0, 3, T)
    for make, name, state in ((RNN, "rnn", "HS_t"), (LSTM, "lstm", "CS_t")):
        model = make(3, 8, 3, seed=0)
        loss = model.loss(xs, ys, mask=last_step_only(T))
        loss.backward()
        print(render(loss, HERE / f"{name}-cells.svg", detail="cell", show_grads=True, grad_range=(1e-8, 1)))
        norms = {time_of(t.scope): grad_norm(t) for t in walk(loss) if base_name(t) == state}
        print(f"   ‖∂L/∂{state}‖ at t = 1: {norms[1]:.1e}, at t = {T}: {norms[T]:.1e}")
    vanishing_gradient_demo(HERE / "gradient-norms.svg", steps=50)
    print(HERE / "gradient-norms.svg")

    task, trained = Recall(delay=20), {}
    for make in (LSTM, RNN):
        model = make(task.input_size, 32, task.output_size, seed=0)
        result = train(model, task, seed=0)
        trained[f"{make.__name__} (trained, accuracy {result.accuracy:.2f})"] = model
    batch = task.batch(64, np.random.default_rng(1))
    plot_gradient_norms(trained, batch.xs, batch.targets, batch.mask, HERE / "recall-gradients.svg",
                        title="Recall, delay 20: how much of the gradient at the query gets back",
                        relative=True)
    print(HERE / "recall-gradients.svg")


if __name__ == "__main__":
    main()
