"""Plots (matplotlib, an optional extra: pip install -e ".[plots]").

The lectures' vanishing-gradient story in one picture: how much of the loss's gradient
reaches each step, ‖dL/dHS_t‖ and ‖dL/dCS_t‖ against t, an LSTM next to an RNN on the same
data. Through an RNN's hidden state it shrinks by a Jacobian factor per step; along an
LSTM's cell state it is multiplied only by the forget gates.
"""
import io

import numpy as np

from tinygrad_lstm.files import check_output_path, write_atomically

FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf"}
INSTALL = ("pip install 'tinygrad-lstm[plots]' (in a clone: pip install -e \".[plots]\"; "
           "make demo installs it)")


def check_plotting(path=None):
    """Before any work: matplotlib is installed, and `path` (if given) is a file we can write
    in a format we plot to. Returns the path."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ImportError(f"the plots need matplotlib, which is not installed: {INSTALL}") from None
    if path is None:
        return None
    path = check_output_path(path, "plot")
    if path.suffix.lower() not in FORMATS:
        raise ValueError(f"plot: cannot write {path.name!r}: the suffix must be one of "
                         f"{', '.join(sorted(FORMATS))}")
    return path


def state_gradient_norms(model, xs, targets, mask=None):
    """{"HS": ‖dL/dHS_t‖ for t = 1..T, "CS": ‖dL/dCS_t‖ (LSTM only)} for the top layer."""
    if not hasattr(model, "unroll"):
        raise TypeError(f"state_gradient_norms: expected an LSTM or RNN; got {type(model).__name__}")
    run = model.unroll(xs)
    kept = [p.grad for p in model.parameters()]       # the caller's gradients, put back after
    model.zero_grad()
    model.loss_of(run, targets, mask).backward()
    for p, grad in zip(model.parameters(), kept):
        p.grad = grad
    prefix = model.prefix(model.num_layers)
    norms = {}
    for key in ("HS", "CS"):
        name = f"{prefix}{key}_t"
        if name in run.steps[0]:
            norms[key] = np.array([_norm(step[name].grad) for step in run.steps])
    return norms


def _norm(grad):
    return 0.0 if grad is None else float(np.linalg.norm(grad))


def plot_gradient_norms(models, xs, targets, mask=None, path=None, title=None, relative=False):
    """Plot ‖dL/dHS_t‖ (and ‖dL/dCS_t‖) against t for each model in {label: model}, on one log
    axis; write it to `path` (.png, .svg, .pdf) if given. Returns the matplotlib Figure.

    relative: divide each curve by its value at the last step, so it shows how much gets back
    to step t compared with the last step (a trained model's loss, and so all its gradients,
    may be tiny; what matters is how they change through time). It can pass 1: each step's
    hidden state adds to the cell state's gradient on the way back.
    """
    path = check_plotting(path)
    from matplotlib.figure import Figure
    if (not isinstance(models, dict) or not models
            or not all(hasattr(m, "unroll") for m in models.values())):
        raise TypeError(f"plot_gradient_norms: models must be a dict {{label: LSTM or RNN}}; "
                        f"got {models!r:.80}")
    figure = Figure(figsize=(8, 4.5), layout="constrained")
    axes = figure.add_subplot()
    styles = {"HS": {"linestyle": "--", "linewidth": 1.5}, "CS": {"linestyle": "-", "linewidth": 2.5}}
    for k, (label, model) in enumerate(models.items()):     # a colour per model, a style per state
        for key, norms in state_gradient_norms(model, xs, targets, mask).items():
            steps = np.arange(1, len(norms) + 1)
            if relative and norms[-1] > 0:
                norms = norms / norms[-1]
            shown = np.where(norms > 0, norms, np.nan)         # a log axis cannot show 0
            axes.plot(steps, shown, color=f"C{k}", label=f"{label}: ‖dL/d{key}_t‖", **styles[key])
    axes.set_yscale("log")
    axes.set_xlabel("time step t")
    axes.set_ylabel("relative to the last step (1 = as much)" if relative
                    else "gradient norm reaching step t")
    axes.set_title(title or "How much of the loss's gradient reaches each step")
    axes.grid(True, which="major", alpha=0.3)
    axes.legend()
    if path is not None:
        import matplotlib
        buffer = io.BytesIO()
        fmt = FORMATS[path.suffix.lower()]
        with matplotlib.rc_context({"svg.hashsalt": "tinygrad_lstm"}):   # the same file every time
            figure.savefig(buffer, format=fmt, dpi=120, metadata={"Date": None} if fmt != "png" else None)
        write_atomically(path, buffer.getvalue())
    return figure


def vanishing_gradient_demo(path, steps=50, input_size=4, hidden_size=16, output_size=4, batch=8, seed=0):
    """An LSTM and an RNN of the same sizes and seed, the same random inputs, and a loss at
    the last step only (a many-to-one task): plot how far back its gradient reaches."""
    from tinygrad_lstm.checks import check_fits, whole
    from tinygrad_lstm.nn import LSTM, RNN
    path = check_plotting(path)              # before the work, not after it
    for name, value in (("steps", steps), ("input_size", input_size), ("hidden_size", hidden_size),
                        ("output_size", output_size), ("batch", batch)):
        whole(f"vanishing_gradient_demo: {name}", value)
    whole("vanishing_gradient_demo: seed", seed, minimum=0)
    check_fits("vanishing_gradient_demo",
               f"the inputs (steps={steps} × batch={batch} × input_size={input_size})",
               8 * steps * batch * input_size)
    rng = np.random.default_rng(seed)
    xs = rng.standard_normal((steps, batch, input_size))
    targets = rng.integers(0, output_size, size=(steps, batch))
    mask = np.zeros((steps, batch), dtype=bool)
    mask[-1] = True
    models = {"LSTM": LSTM(input_size, hidden_size, output_size, seed=seed),
              "RNN": RNN(input_size, hidden_size, output_size, seed=seed)}
    title = f"Loss at t = {steps} only: its gradient through time (untrained, H = {hidden_size})"
    return plot_gradient_norms(models, xs, targets, mask, path, title)
