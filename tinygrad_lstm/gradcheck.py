"""Finite differences: the gradient nobody derived, to check the ones somebody did.

    ∂f/∂x_j ≈ (f(x + ε e_j) − f(x − ε e_j)) / 2ε        (central difference, error O(ε²))

always evaluated in float64, where ε = 1e-6 leaves a truncation error near 1e-12 and a
rounding error near 1e-10; in float32 the same quotient would be mostly noise.
"""
import json
import math
from dataclasses import asdict, dataclass, field
from typing import List, Optional

import numpy as np

from .checks import real, whole
from .tensor import Tensor, no_grad

EPS = 1e-6


def numerical_gradients(f, tensors, eps=EPS):
    """d f() / d t for each tensor t, by central differences in float64.

    `f` takes no arguments and returns a Tensor with one element, computed from `tensors`
    (a closure: `lambda: model.loss(xs, ys)`). Each tensor's data is perturbed one element
    at a time and restored afterwards; during the check it is held as float64.
    """
    tensors = _tensors("numerical_gradients", tensors)
    eps = _eps("numerical_gradients", eps)
    originals = [t.data for t in tensors]
    try:
        for t in tensors:
            # a C-ordered copy: the original is never touched, and the flat view below is a view
            t.data = np.array(t.data, dtype=np.float64, order="C")
        return [_central_differences(f, t, eps) for t in tensors]
    finally:
        for t, data in zip(tensors, originals):
            t.data = data


def _central_differences(f, t, eps, indices=None):
    """(f(x + ε e_j) − f(x − ε e_j)) / 2ε at the flat `indices` of t (all by default), NaN
    elsewhere. t.data must be a float64 array of its own: it is perturbed in place."""
    flat_x = t.data.reshape(-1)                  # a view (t.data is C-ordered): writing it writes t.data
    assert np.shares_memory(flat_x, t.data), "the data must be C-ordered, or the perturbation is lost"
    indices = range(flat_x.size) if indices is None else indices
    flat_grad = np.full(flat_x.size, np.nan)
    with no_grad():
        for j in indices:
            saved = flat_x[j]
            flat_x[j] = saved + eps
            plus = _scalar(f())
            flat_x[j] = saved - eps
            minus = _scalar(f())
            flat_x[j] = saved
            flat_grad[j] = (plus - minus) / (2 * eps)
    return flat_grad.reshape(t.data.shape)


def _tensors(who, tensors, need_grad=False):
    if isinstance(tensors, Tensor):
        raise TypeError(f"{who}: needs a list of Tensors; got a single Tensor (write [t])")
    tensors = list(tensors)
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise TypeError(f"{who}: expected Tensors; got {type(t).__name__}")
        if need_grad and not t.requires_grad:
            label = f"tensor {i} ({t.name})" if t.name else f"tensor {i}"
            raise ValueError(f"{who}: {label} does not require a gradient, so autodiff gives it "
                             f"none; make it with requires_grad=True")
    return tensors


def _eps(who, eps):
    return real(f"{who}: eps", eps, above=0, expected="a small positive number such as 1e-6")


def _scalar(out):
    data = out.data if isinstance(out, Tensor) else np.asarray(out)
    if data.size != 1:
        raise ValueError(f"numerical_gradients: f() must return one number; got shape {data.shape}")
    return float(data.reshape(()))


def rel_error(a, b):
    """The largest element-wise |a − b| / max(1e-8, |a| + |b|): 0 when equal, 1 when opposite."""
    a, b = (np.asarray(v.data if isinstance(v, Tensor) else v, dtype=np.float64) for v in (a, b))
    if a.shape != b.shape:
        raise ValueError(f"rel_error: shapes {a.shape} and {b.shape} differ")
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))


def check_gradients(f, tensors, eps=EPS):
    """Autodiff against finite differences for a scalar f() of `tensors`.

    Returns [(autodiff gradient, numerical gradient), ...], one pair per tensor. The
    tensors' `.grad` is left as it was.
    """
    tensors = _tensors("check_gradients", tensors, need_grad=True)
    saved = [t.grad for t in tensors]
    try:
        for t in tensors:
            t.grad = None
        out = f()
        if not isinstance(out, Tensor):
            raise TypeError(f"check_gradients: f() must return a Tensor; got {type(out).__name__}")
        out.backward()
        autodiff = [t.grad if t.grad is not None else np.zeros_like(t.data) for t in tensors]
    finally:
        for t, grad in zip(tensors, saved):
            t.grad = grad
    return list(zip(autodiff, numerical_gradients(f, tensors, eps)))


# --- the check of a model: autodiff (eager and compiled), hand-derived BPTT, finite differences

# Tolerances, as |a − b| ≤ atol + rtol·|b|, element by element. torch.autograd.gradcheck's
# float64 defaults are atol = 1e-5, rtol = 1e-3; ours are stricter. Autodiff (eager or
# compiled) and the hand BPTT are all exact, so they must agree to rounding; finite
# differences carry O(ε²) truncation and O(1e-16/ε) rounding error.
EXACT_TOL = {"atol": 1e-9, "rtol": 1e-7}
FD_TOL = {"atol": 1e-6, "rtol": 1e-4}


@dataclass
class Row:
    """One gradient compared four ways: eager autodiff against the hand BPTT, finite
    differences and the compiled program."""
    name: str
    shape: tuple
    bptt_abs: float        # max |autodiff − bptt|
    bptt_rel: float        # max |a − b| / max(1e-8, |a| + |b|)
    fd_abs: float          # max |autodiff − finite differences| over the checked elements
    fd_rel: float
    fd_checked: int        # how many elements were differenced
    compiled_abs: Optional[float]   # max |compiled − eager autodiff| (None: the compiled path
    compiled_rel: Optional[float]   # gives no gradient for it, as for the initial states)
    ok: bool


@dataclass
class StepRow:
    """The gradients reaching the states at one time step (and layer), autodiff vs bptt."""
    t: int
    layer: int
    dHS_norm: float        # ‖dE/dHS_t‖: watch it fade (RNN) or survive (LSTM) towards t = 1
    dCS_norm: Optional[float]
    dHS_abs: float         # max |autodiff − bptt|
    dCS_abs: Optional[float]
    ok: bool


@dataclass
class Report:
    model: str
    rows: List[Row]
    steps: List[StepRow]
    diagnosis: List[str]
    loss: float
    tolerances: dict = field(default_factory=lambda: {"exact": EXACT_TOL, "finite_differences": FD_TOL})

    @property
    def ok(self):
        return all(r.ok for r in self.rows) and all(s.ok for s in self.steps)

    def to_dict(self):
        return {"model": self.model, "ok": self.ok, "loss": self.loss, "tolerances": self.tolerances,
                "parameters": [asdict(r) for r in self.rows], "steps": [asdict(s) for s in self.steps],
                "diagnosis": self.diagnosis}

    def to_json(self, **kwargs):
        """The report as JSON (json.dumps's keyword arguments apply): NaN and infinities, which
        JSON has no words for, become null."""
        return json.dumps(_json_safe(self.to_dict()), **kwargs)

    def __str__(self):
        lines = [f"gradient check of {self.model}: autodiff vs hand-derived BPTT vs finite differences, "
                 f"and the compiled program vs eager autodiff (loss {self.loss:.6f})",
                 f"{'gradient':<14} {'shape':<10} {'|ad-bptt|':>10} {'rel':>9} {'|ad-fd|':>10} {'rel':>9}"
                 f" {'fd elems':>8} {'|comp-ad|':>10} {'rel':>9}  ok"]
        for r in self.rows:
            compiled = (f"{r.compiled_abs:>10.1e} {r.compiled_rel:>9.1e}" if r.compiled_abs is not None
                        else f"{'-':>10} {'-':>9}")
            lines.append(f"{r.name:<14} {str(r.shape):<10} {r.bptt_abs:>10.1e} {r.bptt_rel:>9.1e} "
                         f"{r.fd_abs:>10.1e} {r.fd_rel:>9.1e} {r.fd_checked:>8} {compiled}  "
                         f"{'yes' if r.ok else 'NO'}")
        lines.append("")
        lines.append(f"{'t':>4} {'layer':>5} {'‖dHS_t‖':>10} {'‖dCS_t‖':>10} {'|ad-bptt| HS':>13} "
                     f"{'|ad-bptt| CS':>13}  ok")
        for s in self.steps:
            cs = ((f"{s.dCS_norm:>10.3e}", f"{s.dCS_abs:>13.1e}") if s.dCS_norm is not None
                  else (f"{'-':>10}", f"{'-':>13}"))
            lines.append(f"{s.t:>4} {s.layer:>5} {s.dHS_norm:>10.3e} {cs[0]} {s.dHS_abs:>13.1e} {cs[1]}"
                         f"  {'yes' if s.ok else 'NO'}")
        lines.append("")
        lines += self.diagnosis or ["all three agree: autodiff = hand-derived BPTT = finite differences; "
                                    "and the compiled program = eager autodiff"]
        lines.append(f"OK: {self.ok}")
        return "\n".join(lines)


def _json_safe(value):
    """`value` (a dict, list or number, nested) with every non-finite float as None."""
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(item) for item in value]
    return None if isinstance(value, float) and not math.isfinite(value) else value


def compare(model, xs, targets, h0=None, c0=None, mask=None, eps=EPS, max_fd_elements=64, seed=0):
    """Gradients of `model.loss` four ways, on the same model and data, in float64: eager
    autodiff (loss.backward()), the hand-derived BPTT (bptt.py), finite differences, and the
    compiled program (model.compile(); parameters only, since it gives no gradient w.r.t. the
    initial states).

    Finite differences cover every element of a gradient up to `max_fd_elements`, and a
    random sample of that many beyond (None: every element).
    """
    from . import bptt   # the witness; imported here so the engine never depends on it
    from .nn import LSTM, RNN

    if not isinstance(model, (LSTM, RNN)):
        raise TypeError(f"compare: expected an LSTM or RNN model; got {type(model).__name__}")
    max_fd_elements = whole("compare: max_fd_elements", max_fd_elements, minimum=0, or_none=True)
    eps = _eps("compare", eps)
    seed = whole("compare: seed", seed, minimum=0)
    if isinstance(model, RNN) and c0 is not None:
        raise ValueError("compare: an RNN has no cell state: c0 must be None")
    is_lstm = isinstance(model, LSTM)
    tensors = dict(model.named_parameters())
    for n, t in tensors.items():
        if not t.requires_grad:
            raise ValueError(f"compare: parameter {n} does not require a gradient (frozen), so "
                             f"autodiff gives it none; set its requires_grad = True to check it")
        _refuse_non_finite(f"parameter {n}", t.data)
    saved = {name: (t.data, t.grad) for name, t in tensors.items()}
    saved_dtype = model.dtype
    try:
        model.dtype = np.dtype(np.float64)               # the whole check runs in float64:
        for t in tensors.values():                       # inputs, states, the compiled program
            t.data, t.grad = np.array(t.data, dtype=np.float64, order="C"), None
        xs64 = model._check_input(xs.data if isinstance(xs, Tensor) else xs).data
        batch_shape = xs64.shape[1:-1]
        states = {"HS_0": model._check_state("h0", h0, batch_shape)}
        if is_lstm:
            states["CS_0"] = model._check_state("c0", c0, batch_shape)
        for what, array in zip(("xs", "h0", "c0"), [xs64] + [s.data for s in states.values()]):
            _refuse_non_finite(what, array)
        # targets and mask as the model takes them (a Tensor, a list), as numpy for the witness
        logits_shape = xs64.shape[:-1] + (model.output_size,)
        targets = model._check_targets(targets, logits_shape)
        mask = None if mask is None else model._check_mask(mask, logits_shape[:-1])
        # fresh float64 leaves, so the loss is differentiated w.r.t. the initial states too
        states = {n: Tensor(s.data.astype(np.float64), requires_grad=True, name=n) for n, s in states.items()}
        run = model.unroll(xs64, states["HS_0"], states.get("CS_0"))
        loss = model.loss_of(run, targets, mask)
        loss.backward()
        autodiff = {**{n: t.grad for n, t in tensors.items()}, **{n: s.grad for n, s in states.items()}}

        for t in tensors.values():                       # the compiled program, from zero
            t.grad = None
        c0_data = states["CS_0"].data if is_lstm else None
        model.compile().loss_and_grad(xs64, targets, mask, states["HS_0"].data, c0_data)
        compiled = {n: _graph_grad(t) for n, t in tensors.items()}

        params = {n: t.data for n, t in tensors.items()}
        initial = {n: s.data for n, s in states.items()}
        if is_lstm:
            hand = bptt.lstm_gradients(params, xs64, targets, initial["HS_0"], initial["CS_0"], mask)
        else:
            hand = bptt.rnn_gradients(params, xs64, targets, initial["HS_0"], mask)

        def loss_again():
            return model.loss(xs64, targets, states["HS_0"], states.get("CS_0"), mask)

        rng = np.random.default_rng(seed)
        everything = {**tensors, **states}
        numeric = {n: _sampled_differences(loss_again, t, eps, max_fd_elements, rng)
                   for n, t in everything.items()}
        rows, agreement = [], {}
        for n in everything:
            row, agreement[n] = _row(n, autodiff[n], hand[n], *numeric[n], compiled.get(n))
            rows.append(row)
        steps, step_grads = _step_rows(model, run, hand, is_lstm)
        diagnosis = _diagnose(rows, step_grads, is_lstm, agreement)
        return Report(type(model).__name__, rows, steps, diagnosis, float(loss.data))
    finally:
        model.dtype = saved_dtype
        for name, t in tensors.items():
            t.data, t.grad = saved[name]


def _refuse_non_finite(what, array):
    """A ValueError if the float array holds NaN or inf: the loss would be NaN, and every
    comparison of gradients would fail, blaming one of the methods rather than the data."""
    bad = array.size - np.count_nonzero(np.isfinite(array))
    if bad:
        raise ValueError(f"compare: {what} holds {bad} non-finite value(s) (NaN or infinity), so the loss "
                         f"and every gradient would be NaN or infinite, and none could be checked")


def _sampled_differences(f, t, eps, limit, rng):
    """Central differences at all of t's elements, or at `limit` random ones (the rest NaN)."""
    size = t.data.size
    picked = np.arange(size) if limit is None or size <= limit else \
        np.sort(rng.choice(size, size=limit, replace=False))
    return _central_differences(f, t, eps, picked), picked.size


def _close(a, b, tol):
    return bool(np.all(np.abs(a - b) <= tol["atol"] + tol["rtol"] * np.abs(b)))


def _row(name, autodiff, hand, numeric, checked, compiled=None):
    """The Row, and which pairs agree within tolerance (for the diagnosis): {"bptt": autodiff
    = hand BPTT, "fd": autodiff = finite differences, "compiled": compiled = autodiff,
    "compiled_bptt": compiled = hand BPTT}."""
    autodiff = np.zeros_like(hand) if autodiff is None else autodiff
    seen = ~np.isnan(numeric)
    a, n = autodiff[seen], numeric[seen]
    agree = {"bptt": _close(autodiff, hand, EXACT_TOL), "fd": _close(a, n, FD_TOL)}
    compiled_abs = compiled_rel = None
    if compiled is not None:
        compiled_abs = float(np.max(np.abs(compiled - autodiff), initial=0.0))
        compiled_rel = rel_error(compiled, autodiff)
        agree["compiled"] = _close(compiled, autodiff, EXACT_TOL)
        agree["compiled_bptt"] = _close(compiled, hand, EXACT_TOL)
    row = Row(name, tuple(autodiff.shape), float(np.max(np.abs(autodiff - hand), initial=0.0)),
              rel_error(autodiff, hand), float(np.max(np.abs(a - n), initial=0.0)), rel_error(a, n),
              int(checked), compiled_abs, compiled_rel,
              agree["bptt"] and agree["fd"] and agree.get("compiled", True))
    return row, agree


def _graph_grad(tensor):
    return np.zeros_like(tensor.data) if tensor.grad is None else tensor.grad


def _step_rows(model, run, hand, is_lstm):
    """Per step and layer: the state gradients, and every named per-step gradient (for the
    diagnosis) as {key: (autodiff (T, ...), bptt (T, ...))}."""
    keys = ["HS_t", "CS_t", "f_t", "i_t", "c_t", "o_t"] if is_lstm else ["HS_t", "a_t"]
    step_grads, rows = {}, []
    for layer in range(1, model.num_layers + 1):
        p = model.prefix(layer)
        for key in keys:
            ours = np.stack([_graph_grad(step[p + key]) for step in run.steps])
            step_grads[p + key] = (ours, hand[f"{p}d{key}"])
        dHS, hand_dHS = step_grads[p + "HS_t"]
        dCS, hand_dCS = step_grads[p + "CS_t"] if is_lstm else (None, None)
        for t in range(len(run.steps)):
            hs_abs = float(np.max(np.abs(dHS[t] - hand_dHS[t])))
            cs_abs = float(np.max(np.abs(dCS[t] - hand_dCS[t]))) if is_lstm else None
            ok = (_close(dHS[t], hand_dHS[t], EXACT_TOL)
                  and (not is_lstm or _close(dCS[t], hand_dCS[t], EXACT_TOL)))
            rows.append(StepRow(t + 1, layer, float(np.linalg.norm(dHS[t])),
                                float(np.linalg.norm(dCS[t])) if is_lstm else None, hs_abs, cs_abs, ok))
    return rows, step_grads


GATE_NAMES = {"f_t": "forget gate f", "i_t": "input gate i", "c_t": "candidate c",
              "o_t": "output gate o", "a_t": "pre-activation a", "HS_t": "hidden state HS",
              "CS_t": "cell state CS"}


def _diagnose(rows, step_grads, is_lstm, agreement=None):
    """Say which of the three is the odd one out, whether the compiled program differs from
    eager autodiff, and where autodiff and BPTT first part ways (going backwards in time, the
    order in which both compute)."""
    notes = []
    for r in rows:
        if r.ok:
            continue
        agree = (agreement or {}).get(r.name)
        if agree is None:                  # no arrays at hand: judge by the largest differences
            agree = {"bptt": r.bptt_abs <= EXACT_TOL["atol"], "fd": r.fd_abs <= FD_TOL["atol"]}
        bptt_bad, fd_bad = not agree["bptt"], not agree["fd"]
        if agree.get("compiled") is False:
            if not (bptt_bad or fd_bad):
                then = "eager autodiff agrees with the hand-derived BPTT and finite differences"
            elif agree.get("compiled_bptt"):
                then = ("the compiled program agrees with the hand-derived BPTT: eager autodiff is the odd "
                        "one out")
            else:
                then = "and eager autodiff is itself off (see the next note)"
            notes.append(f"{r.name}: the compiled program differs from eager autodiff by up to "
                         f"{r.compiled_abs:.1e}; {then}")
        if not (bptt_bad or fd_bad):
            continue
        if bptt_bad and not fd_bad:
            notes.append(f"{r.name}: autodiff agrees with finite differences; the hand-derived BPTT "
                         f"differs by up to {r.bptt_abs:.1e}")
        elif fd_bad and not bptt_bad:
            notes.append(f"{r.name}: autodiff and the hand-derived BPTT agree; finite differences "
                         f"differ by up to {r.fd_abs:.1e} (try another eps)")
        else:
            notes.append(f"{r.name}: all three differ (autodiff−bptt {r.bptt_abs:.1e}, "
                         f"autodiff−finite differences {r.fd_abs:.1e})")
    first = None   # (t, key): the latest step (first in backward order) where a gate disagrees
    for key, (ours, hand) in step_grads.items():
        for t in reversed(range(len(ours))):
            if not _close(ours[t], hand[t], EXACT_TOL):
                if first is None or t > first[0]:
                    first = (t, key)
                break
    if first is not None:
        t, key = first
        layer, _, base = key.rpartition(".")
        where = f" of {layer}" if layer else ""
        notes.append(f"autodiff and BPTT first disagree at t={t + 1}{where}, in the "
                     f"{GATE_NAMES.get(base, base)} (d{base}), going backwards from t={len(ours)}")
    return notes
