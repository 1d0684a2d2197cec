"""Models built from the engine's ops: Linear, RNN, LSTM (stacked, optional peepholes).

Nothing here has a backward of its own. An unrolled LSTM is just a graph of concat,
affine, add, sigmoid, tanh and mul nodes, and backpropagation through time is
backward() on that graph (or, compiled, the same rules replayed: compiled.py). Every
node carries the lecture's symbol as its `name` and its time step as its `scope` ("t=1",
"t=2", ...), so a picture of the graph reads like the lecture.

Notation (lecture 004, docs/math.md §1): X_t = [HS_{t−1}; x_t] (hidden state first),
f_t = W_f X_t + b_f, F_t = σ(f_t), likewise I_t, O_t; C_t = tanh(W_c X_t + b_c);
CS_t = CS_{t−1} ⊗ F_t + I_t ⊗ C_t;  HS_t = O_t ⊗ tanh(CS_t);  Z_t = W_y HS_t + b_y.
Batches are rows: x_t is (B, I), so affine(X_t, W_f, b_f) computes X_t W_fᵀ + b_f.
"""
import io
import json
import math
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Dict, List

import numpy as np

from . import ops
from .attributes import ParametersByName
from .checks import check_fits, flag, generator, is_whole, real, whole
from .files import check_input_path, write_atomically
from .state_dict import check_state
from .tensor import Tensor, _float_dtype, no_grad, scope

# b_f starts at 3, so F_t ≈ σ(3) ≈ 0.95: from the first update the cell state is mostly kept
# (0.95²⁰ ≈ 0.36 of it survives 20 steps, against 0.73²⁰ ≈ 0.002 with the common b_f = 1),
# and so is the gradient flowing back along it. Measured on the recall task at delay 20
# with SGD: b_f = 3 learns it for 5 of 5 seeds, b_f = 1 for 1 of 5. Not from the lectures;
# see docs/math.md §3.6 and README ("Initialisation").
FORGET_BIAS = 3.0


class WrongModelError(ValueError):
    """A weights file of the other model (an RNN's, given to LSTM.load); `kind` names it."""

    def __init__(self, kind, message):
        super().__init__(message)
        self.kind = kind


class Module(ParametersByName):
    """Something with named parameters (Tensors that require grad), which are also its
    attributes: model.W_f (attributes.py)."""

    _parameters: Dict[str, Tensor]

    def named_parameters(self):
        """(name, Tensor) pairs in a fixed order, under the lecture's names."""
        return iter(self._parameters.items())

    def parameters(self):
        return list(self._parameters.values())

    def zero_grad(self):
        for p in self._parameters.values():
            p.grad = None

    def __repr__(self):
        """The constructor's sizes and options, as a call, then the parameters and their
        shapes, a line per run of one shape: `W_f, W_i, W_c, W_o: (4, 7)`."""
        runs = []
        for name, p in self._parameters.items():
            if runs and runs[-1][1] == p.shape:
                runs[-1][0].append(name)
            else:
                runs.append(([name], p.shape))
        call = ", ".join(f"{key}={value!r}" for key, value in self._arguments().items())
        head = f"{type(self).__name__}({call})"
        return "\n".join([head] + [f"  {', '.join(names)}: {shape}" for names, shape in runs])

    def _arguments(self):
        """{argument: value} of the constructor, for repr."""
        return {}

    def state_dict(self):
        """{name: array} for every parameter, in named_parameters() order and under its names
        ("W_f", "layer2.W_f", ...). The arrays are copies, where torch's state_dict() shares
        the parameters' storage: a state taken now stays as it was while training goes on
        (`best = model.state_dict()` needs no deepcopy), and writing into it cannot change
        the model behind the version counters' back (versions.py)."""
        return {name: p.data.copy() for name, p in self._parameters.items()}

    def load_state_dict(self, state, strict=True):
        """Set the parameters from `state` ({name: array}, as state_dict() gives), each value
        converted to its parameter's dtype and copied. Values are numpy arrays or tensors
        (ours or torch's) of real, finite numbers, of the parameter's shape. strict=True: the
        keys must be the model's, no fewer and no more. strict=False: parameters the state
        lacks keep their values, and keys the model has not are ignored. Everything is
        checked before anything changes, and one error names every problem. Returns
        IncompatibleKeys(missing_keys, unexpected_keys), as torch's load_state_dict does."""
        who = f"{type(self).__name__}.load_state_dict"
        return self._load(state, who, flag(f"{who}: strict", strict))

    def _load(self, state, where, strict):
        """Check all of `state` (state_dict.check_state), then give each parameter its new array.
        Replacing `.data` is not an in-place write: a graph built before keeps the arrays it
        saved (versions.py)."""
        arrays, keys = check_state(dict(self._parameters), state, where, strict)
        for name, array in arrays.items():
            self._parameters[name].data = array
        return keys

    def _init_parameters(self, shapes, rng, dtype, scale, sizes, forget_bias=FORGET_BIAS):
        """Create parameters in `shapes`' order from one generator: same seed, same model.

        Weights (and peepholes) ~ U(−scale, scale), as PyTorch initialises its LSTM, RNN and
        Linear; biases 0, except b_f = forget_bias. First, a MemoryError naming `sizes` (the
        constructor's arguments) if they cannot fit in the memory available.
        """
        _check_fits(type(self).__name__, sizes, sum(int(np.prod(shape)) for shape in shapes.values()), dtype)
        self.dtype = dtype                        # the parameters', and what numpy inputs become
        self._parameters = {}
        for name, shape in shapes.items():
            base = name.rsplit(".", 1)[-1]
            if base.startswith("b_"):
                value = np.full(shape, forget_bias if base == "b_f" else 0.0)
            else:
                value = rng.uniform(-scale, scale, size=shape)
            self._parameters[name] = Tensor(value, requires_grad=True, name=name, dtype=dtype)


def _check_size(what, value):
    return whole(what, value, minimum=1)


def _check_fits(who, sizes, count, dtype):
    """MemoryError naming `sizes` (the arguments, {name: value}) if `count` parameters of
    `dtype` cannot fit in the memory available; called before anything is allocated."""
    args = ", ".join(f"{name}={value}" for name, value in sizes.items())
    check_fits(who, f"a model with {args} ({count:,} {dtype.name} parameters)", count * dtype.itemsize)


def _forget_bias(value):
    return real("forget_bias", value)


class Linear(Module):
    """y = x Wᵀ + b on rows (W: (out, in)), i.e. y = W x + b for a column x."""

    def __init__(self, in_features, out_features, bias=True, seed=0, dtype="float64",
                 names=("W", "b")):
        self.in_features = _check_size("in_features", in_features)
        self.out_features = _check_size("out_features", out_features)
        if not (isinstance(names, (tuple, list)) and len(names) == 2
                and all(isinstance(n, str) and n for n in names) and names[0] != names[1]):
            raise ValueError(f"Linear: names must be two different strings (weight, bias); got {names!r}")
        self.weight_name, self.bias_name = names
        shapes = {self.weight_name: (self.out_features, self.in_features)}
        if flag("bias", bias):
            shapes[self.bias_name] = (self.out_features,)
        self._init_parameters(shapes, generator(seed), _float_dtype(dtype), 1 / np.sqrt(self.in_features),
                              {"in_features": self.in_features, "out_features": self.out_features})

    def _arguments(self):
        arguments = {"in_features": self.in_features, "out_features": self.out_features,
                     "bias": self.bias_name in self._parameters, "dtype": self.dtype.name}
        names = (self.weight_name, self.bias_name)
        return arguments if names == ("W", "b") else {**arguments, "names": names}

    def __call__(self, x):
        """x Wᵀ + b: one affine op (W x + b for a column x). x is (in,) or (B, in): a Tensor, or a
        numpy array or list, converted to the layer's dtype (as LSTM and RNN take their xs)."""
        x = _as_tensor("Linear", "x", x, self.dtype)
        return ops.affine(x, self._parameters[self.weight_name], self._parameters.get(self.bias_name))


def _as_tensor(who, what, value, dtype):
    """`value` as a Tensor: itself if it is one, else (a numpy array, a list) converted to
    `dtype`, the model's, so that data and weights meet in one dtype. Data that is not
    numbers is an error naming `who` and `what` (the argument)."""
    if isinstance(value, Tensor):
        return value
    try:
        return Tensor(value, dtype=dtype)
    except (TypeError, ValueError) as e:
        raise type(e)(f"{who}: {what}: {e}") from None


def _check_step(cell, x_t, state, names):
    """One step's input (I,) or (B, I), and its state tensors of shape (H,) or (B, H)."""
    who = type(cell).__name__
    dtype = cell.parameters()[0].dtype           # what numpy inputs become, as for the models
    x_t = _as_tensor(who, "x_t", x_t, dtype)
    if x_t.ndim not in (1, 2) or x_t.shape[-1] != cell.input_size:
        raise ValueError(f"{who}: x_t must be ({cell.input_size},) or (B, {cell.input_size}); "
                         f"got shape {x_t.shape}")
    if not isinstance(state, (tuple, list)) or len(state) != len(names):
        raise ValueError(f"{who}: state must be a tuple ({', '.join(names)}); got {state!r:.60}")
    expected = x_t.shape[:-1] + (cell.hidden_size,)
    state = tuple(_as_tensor(who, name, s, dtype) for name, s in zip(names, state))
    for name, s in zip(names, state):
        if s.shape != expected:
            raise ValueError(f"{who}: {name} must have shape {expected}; got {s.shape}")
    return x_t, state


def _cell_arguments(cell, **options):
    """A cell's constructor arguments, for repr: the prefix only when it has one."""
    arguments = {"input_size": cell.input_size, "hidden_size": cell.hidden_size, "bias": cell.bias,
                 **options, "dtype": cell.dtype.name}
    return {**arguments, "prefix": cell.prefix} if cell.prefix else arguments


def _record(named, prefix, tensors):
    """Record a step's tensors in `named`, under the lecture's symbols they are named with."""
    for tensor in tensors:
        named[prefix + tensor.name] = tensor


class LSTMCell(Module):
    """One LSTM layer's parameters and its step (docs/math.md §1.4; §5.2 with peepholes).

    Parameters: W_f, W_i, W_c, W_o (H, H+I); b_f, b_i, b_c, b_o (H,) unless bias=False;
    p_f, p_i, p_o (H,) with peephole=True. `prefix` ("layer2.") names a layer of a stack.
    """

    gates = ("f", "i", "c", "o")

    def __init__(self, input_size, hidden_size, bias=True, peephole=False, seed=0,
                 dtype="float64", prefix="", forget_bias=FORGET_BIAS):
        self.input_size = _check_size("input_size", input_size)
        self.hidden_size = H = _check_size("hidden_size", hidden_size)
        if not isinstance(prefix, str):
            raise TypeError(f"prefix must be a string; got {prefix!r}")
        self.bias, self.peephole, self.prefix = flag("bias", bias), flag("peephole", peephole), prefix
        forget_bias = _forget_bias(forget_bias)
        shapes = {f"{prefix}W_{g}": (H, H + self.input_size) for g in self.gates}
        if self.bias:
            shapes.update({f"{prefix}b_{g}": (H,) for g in self.gates})
        if self.peephole:
            shapes.update({f"{prefix}p_{g}": (H,) for g in ("f", "i", "o")})
        self._init_parameters(shapes, generator(seed), _float_dtype(dtype), 1 / np.sqrt(H),
                              {"input_size": self.input_size, "hidden_size": H}, forget_bias)

    def _arguments(self):
        return _cell_arguments(self, peephole=self.peephole)

    def __call__(self, x_t, state):
        """(HS_t, CS_t) from x_t and state = (HS_{t−1}, CS_{t−1})."""
        x_t, state = _check_step(self, x_t, state, ("HS", "CS"))
        return self.step(x_t, state, {})

    def step(self, x_t, state, named):
        """One step of lecture 004's LSTM (docs/math.md §1.4), each line a node of the graph."""
        HS_prev, CS_prev = state
        P, p = self._parameters, self.prefix
        X_t = ops.concat([HS_prev, x_t], axis=-1).named("X_t")             # [HS_{t−1}; x_t]

        def pre_activation(g):                                             # W_g X_t + b_g
            return ops.affine(X_t, P[f"{p}W_{g}"], P.get(f"{p}b_{g}")).named(f"{g}_t")

        f_t, i_t, c_t, o_t = (pre_activation(g) for g in self.gates)
        if self.peephole:                                                  # f and i peep at CS_{t−1}
            peep_f = (P[f"{p}p_f"] * CS_prev).named("p_f ⊗ CS_{t-1}")
            peep_i = (P[f"{p}p_i"] * CS_prev).named("p_i ⊗ CS_{t-1}")
            f_t = (f_t.named("W_f X_t + b_f") + peep_f).named("f_t")
            i_t = (i_t.named("W_i X_t + b_i") + peep_i).named("i_t")
        F_t = f_t.sigmoid().named("F_t")                                   # forget gate
        I_t = i_t.sigmoid().named("I_t")                                   # input gate
        C_t = c_t.tanh().named("C_t")                                      # candidate
        kept = (CS_prev * F_t).named("CS_{t-1} ⊗ F_t")                     # what the forget gate keeps
        written = (I_t * C_t).named("I_t ⊗ C_t")                           # what the input gate writes
        CS_t = (kept + written).named("CS_t")
        if self.peephole:                                                  # o peeps at the new CS_t
            o_t = (o_t.named("W_o X_t + b_o") + (P[f"{p}p_o"] * CS_t).named("p_o ⊗ CS_t")).named("o_t")
        O_t = o_t.sigmoid().named("O_t")                                   # output gate
        tanh_CS_t = CS_t.tanh().named("tanh(CS_t)")
        HS_t = (O_t * tanh_CS_t).named("HS_t")
        _record(named, p, (X_t, f_t, F_t, i_t, I_t, c_t, C_t, CS_t, o_t, O_t, tanh_CS_t, HS_t))
        return HS_t, CS_t


class RNNCell(Module):
    """One vanilla RNN layer (lectures 001/002, docs/math.md §2.1):
    h_t = tanh(W_xh x_t + W_hh h_{t−1} + b_h). Parameters W_xh (H, I), W_hh (H, H), b_h (H,).
    Its hidden state is named HS_t in the graph, like the LSTM's, so the two read side by side.
    """

    def __init__(self, input_size, hidden_size, bias=True, seed=0, dtype="float64", prefix=""):
        self.input_size = _check_size("input_size", input_size)
        self.hidden_size = H = _check_size("hidden_size", hidden_size)
        if not isinstance(prefix, str):
            raise TypeError(f"prefix must be a string; got {prefix!r}")
        self.bias, self.prefix = flag("bias", bias), prefix
        shapes = {f"{prefix}W_xh": (H, self.input_size), f"{prefix}W_hh": (H, H)}
        if self.bias:
            shapes[f"{prefix}b_h"] = (H,)
        self._init_parameters(shapes, generator(seed), _float_dtype(dtype), 1 / np.sqrt(H),
                              {"input_size": self.input_size, "hidden_size": H})

    def _arguments(self):
        return _cell_arguments(self)

    def __call__(self, x_t, state):
        """(HS_t,) from x_t and state = (HS_{t−1},)."""
        x_t, state = _check_step(self, x_t, state, ("HS",))
        return self.step(x_t, state, {})

    def step(self, x_t, state, named):
        """h_t = tanh(W_xh x_t + W_hh h_{t−1} + b_h) (docs/math.md §2)."""
        (HS_prev,) = state
        P, p = self._parameters, self.prefix
        from_x = ops.affine(x_t, P[f"{p}W_xh"], P.get(f"{p}b_h")).named("W_xh x_t + b_h")
        from_h = ops.affine(HS_prev, P[f"{p}W_hh"]).named("W_hh HS_{t-1}")
        a_t = (from_x + from_h).named("a_t")
        HS_t = a_t.tanh().named("HS_t")
        _record(named, p, (a_t, HS_t))
        return (HS_t,)


@dataclass
class Unrolled:
    """One forward pass, kept for inspection: every step's named tensors, and the results.

    steps[t] maps a name ("F_t", "CS_t", "layer2.HS_t", ...) to that tensor at step t + 1.
    """
    logits: Tensor
    steps: List[Dict[str, Tensor]]
    initial: Dict[str, Tensor]                       # "HS_0", "CS_0": the initial states used
    final: Dict[str, Tensor] = field(default_factory=dict)   # "HS", "CS": the last states


class _Recurrent(Module):
    """What LSTM and RNN share: stacked cells, an output layer, unrolling, the loss."""

    state_names = ("HS",)        # the states carried from step to step
    peephole = False             # an LSTM's own says; an RNN has none (read on every unroll)
    # What one step of one layer keeps until backward() is done, as (arrays of B × H numbers,
    # bytes of Python objects), measured with tracemalloc; tests/test_memory_limits.py holds
    # the estimate to the measurement. Eager keeps every op's output and gradient and a Tensor
    # for each; the compiled program keeps a few buffers per step.
    STEP_MEMORY = {"eager": (10, 3_000), "compiled": (4, 500)}

    def __init__(self, make_cell, input_size, hidden_size, output_size, num_layers, bias, seed,
                 dtype, output_names):
        self.input_size = _check_size("input_size", input_size)
        self.hidden_size = _check_size("hidden_size", hidden_size)
        self.output_size = _check_size("output_size", output_size)
        self.num_layers = _check_size("num_layers", num_layers)
        rng = generator(seed)
        self.bias, self.dtype = flag("bias", bias), _float_dtype(dtype)
        self.seed = int(seed) if is_whole(seed) else seed      # as given: an int, None or a Generator
        I, H, O, L = self.input_size, self.hidden_size, self.output_size, self.num_layers
        _check_fits(type(self).__name__,
                    {"input_size": I, "hidden_size": H, "output_size": O, "num_layers": L},
                    self._parameter_count(I, H, O, L, self.bias, getattr(self, "peephole", False)),
                    self.dtype)
        self.cells = [make_cell(self.input_size if k == 1 else self.hidden_size, rng, self.prefix(k))
                      for k in range(1, self.num_layers + 1)]
        self.output = Linear(self.hidden_size, self.output_size, bias=self.bias, seed=rng,
                             dtype=self.dtype, names=output_names)
        self._parameters = {}
        for module in (*self.cells, self.output):
            self._parameters.update(module._parameters)

    @classmethod
    def _parameter_count(cls, I, H, O, L, bias, peephole):
        """How many numbers the constructor will allocate for these sizes (without building
        a thing): the cells' weights, biases and peepholes, and the output layer's."""
        if issubclass(cls, LSTM):
            first, above, extra = 4 * H * (H + I), 4 * H * 2 * H, (4 * bias + 3 * peephole) * H
        else:
            first, above, extra = H * (I + H), 2 * H * H, bias * H
        return first + extra + (L - 1) * (above + extra) + O * H + O * bias

    def _arguments(self):
        config = self.config()
        order = ("input_size", "hidden_size", "output_size", "num_layers", "bias", "peephole", "dtype")
        return {key: config[key] for key in order if key in config}

    def _layers(self):
        """The cells as attributes, by the names their scopes have: model.layer2.W_f."""
        return {f"layer{k}": cell for k, cell in enumerate(self.cells, start=1)}

    @staticmethod
    def prefix(layer):
        """Layer 1's names are the lecture's; layer k ≥ 2 prefixes them: "layer2.W_f"."""
        return "" if layer == 1 else f"layer{layer}."

    def __call__(self, xs, h0=None, c0=None):
        """logits for every step, (T, O) or (T, B, O), and the final state(s): (HS, CS) for
        an LSTM, HS for an RNN (as PyTorch's nn.LSTM and nn.RNN return them)."""
        run = self.unroll(xs, h0, c0)
        states = tuple(run.final[name] for name in self.state_names)
        return run.logits, states if len(states) > 1 else states[0]

    def loss(self, xs, targets, h0=None, c0=None, mask=None):
        """Softmax cross-entropy summed over time steps (where mask is True), averaged over the
        batch: for one sequence, the lecture's E = Σ_t E_t."""
        xs = self._check_input(xs)
        like = np.empty(xs.shape[:-1] + (self.output_size,), dtype=self.dtype)   # the logits' shape
        Y, mask = self._targets_and_mask(targets, mask, like)     # checked before the unroll's work
        return self._loss(self.unroll(xs, h0, c0), Y, mask)

    def loss_of(self, run, targets, mask=None):
        """The loss of an unrolled pass (so its intermediate tensors stay at hand)."""
        if not isinstance(run, Unrolled):
            raise TypeError(f"loss_of: expected what unroll() returns; got {type(run).__name__}")
        return self._loss(run, *self._targets_and_mask(targets, mask, run.logits.data))

    def _targets_and_mask(self, targets, mask, like):
        """The targets as a distribution over the classes (one-hot for class indices) and the
        mask as bools, both checked against `like`, an array of the logits' shape and dtype."""
        Y = ops.target_distribution(like, self._check_targets(targets, like.shape))
        return Y, None if mask is None else self._check_mask(mask, like.shape[:-1])

    def _loss(self, run, Y, mask):
        logits = run.logits
        mask = None if mask is None else Tensor(mask, dtype=self.dtype)
        batch = logits.shape[1] if logits.ndim == 3 else 1
        return self.loss_from_logits(logits, Tensor(Y, name="y"), mask, batch)

    @staticmethod
    def loss_from_logits(logits, Y, mask, batch):
        """E = Σ_t E_t over the steps where mask is 1, / batch, with E_t the cross-entropy of
        the logits Z_t against the one-hot (or probability) targets Y. The compiled path
        calls it too, on all steps at once."""
        losses = ops.CrossEntropy.apply(logits, Y).named("E_t")
        if mask is not None:
            losses = losses * mask
        return (losses.sum() / batch).named("E")

    def predict(self, xs, h0=None, c0=None):
        """The most likely class at every step, without recording a graph."""
        with no_grad():
            return self(xs, h0, c0)[0].data.argmax(axis=-1)

    def compile(self, threads=None):
        """The compiled path for this model: `compiled.loss_and_grad(xs, targets, ...)` gives
        what `loss(...).backward()` gives, from a program traced once (compiled.py). threads:
        BLAS threads for its products; None: one unless they are large (threads.py)."""
        from .compiled import CompiledModel
        return CompiledModel(self, threads)

    def check_memory(self, who, steps, batch, path):
        """MemoryError, before anything is built, if `steps` steps of `batch` sequences cannot
        fit on `path` ("eager" or "compiled") in the memory available."""
        table = self.PEEPHOLE_STEP_MEMORY if getattr(self, "peephole", False) else self.STEP_MEMORY
        arrays, objects = table[path]
        H, L = self.hidden_size, self.num_layers
        nbytes = steps * L * (arrays * batch * H * self.dtype.itemsize + objects)
        if nbytes > 2 ** 24:        # reading what is available costs ~20 µs: only for big runs
            check_fits(who, f"the {path} graph of {steps:,} steps × batch {batch:,} × hidden_size {H:,} "
                            f"× {L} layer{'s' if L > 1 else ''} (with its gradients)", nbytes,
                       advice="use shorter sequences (train(bptt_window=K) cuts them), a smaller batch"
                              + (", or the compiled path (model.compile()), which keeps less"
                                 if path == "eager" else ""))

    def unroll(self, xs, h0=None, c0=None):
        """Run the sequence step by step, keeping every step's named tensors."""
        xs = self._check_input(xs)
        batch_shape = xs.shape[1:-1]
        self.check_memory(f"{type(self).__name__}", xs.shape[0], math.prod(batch_shape), "eager")
        states = {"HS": self._check_state("h0", h0, batch_shape)}
        if "CS" in self.state_names:
            states["CS"] = self._check_state("c0", c0, batch_shape)
        elif c0 is not None:
            raise ValueError(f"{type(self).__name__} has no cell state: c0 must be None")
        initial = {f"{k}_0": v for k, v in states.items()}
        layers = [self._split_layers(v) for v in states.values()]
        steps, outputs = [], []
        for t in range(xs.shape[0]):
            named = {}
            with scope(f"t={t + 1}"):
                # x_t: a slice node when xs needs a gradient, else a constant leaf (one op fewer)
                x_t = (xs[t] if xs.requires_grad else Tensor(xs.data[t])).named("x_t")
                HS_t = self.step(x_t, layers, named)
                named["Z_t"] = self.output(HS_t).named("Z_t")
            outputs.append(named["Z_t"])
            steps.append(named)
        final = {name: state[0] if self.num_layers == 1 else ops.stack(state)
                 for name, state in zip(self.state_names, layers)}
        return Unrolled(ops.stack(outputs).named("Z"), steps, initial, final)

    def step(self, x_t, layers, named):
        """One time step up through the stack. layers[s][k] is state s (HS, then CS) of layer
        k; it is replaced by the new state. Returns the top layer's HS_t."""
        below = x_t
        for k, cell in enumerate(self.cells):
            with scope(f"layer{k + 1}") if self.num_layers > 1 else nullcontext():
                new = cell.step(below, [state[k] for state in layers], named)
            for state, value in zip(layers, new):
                state[k] = value
            below = new[0]
        return below

    # --- saving and loading ---------------------------------------------------------
    def config(self):
        """The sizes and options that rebuild this model's shape."""
        config = {"model": type(self).__name__, "input_size": self.input_size,
                  "hidden_size": self.hidden_size, "output_size": self.output_size,
                  "num_layers": self.num_layers, "bias": self.bias, "dtype": self.dtype.name}
        if isinstance(self, LSTM):
            config["peephole"] = self.peephole
        return config

    def save(self, path):
        """Write the weights under the lecture's names, and the sizes, to a .npz file, whole
        or not at all. Returns the path."""
        self._check_parameter_shapes(f"{type(self).__name__}.save")       # nothing written if not
        self._check_parameters_finite(f"{type(self).__name__}.save")
        buffer = io.BytesIO()
        np.savez(buffer, __config__=np.array(json.dumps(self.config())),
                 **{name: p.data for name, p in self.named_parameters()})
        return write_atomically(path, buffer.getvalue())

    @classmethod
    def load(cls, path):
        """The model saved at `path` (by save()), with its weights, bit for bit.

        The config and every member's header are checked before anything is allocated, and
        members must be stored uncompressed (as save() writes them), so a file cannot make
        load() take more memory than about three times its size; at most
        weights_file.MAX_PARAMETERS floats (10⁸) in any case. A file that is not one save()
        wrote, or is corrupt, is a ValueError naming the file and what is wrong."""
        from .weights_file import NotAWeightsFile, WeightsReader
        path = check_input_path(path, f"{cls.__name__}.load")      # as save() would name it
        where = f"{cls.__name__}.load: {str(path)!r}"
        try:
            with WeightsReader(path) as reader:
                config = reader.config()
                shapes = cls._shapes_from_config(config, where)     # nothing allocated yet
                arrays = reader.arrays(shapes)
        except NotAWeightsFile as e:
            raise ValueError(f"{where} is not a weights file written by save(): {e}") from None
        try:
            model = cls(seed=0, **{k: v for k, v in config.items() if k != "model"})
        except (TypeError, ValueError, MemoryError) as e:
            raise ValueError(f"{where} describes a model that cannot be built: {e}") from None
        model.assign(arrays, source=str(path))
        return model

    @classmethod
    def _shapes_from_config(cls, config, where):
        """{name: shape} of the parameters the config describes, in named_parameters() order,
        without building the model (it mirrors the constructors; tests/test_load_limits.py
        checks that it agrees with them)."""
        from .weights_file import NotAWeightsFile, check_total
        expected = {"model", "input_size", "hidden_size", "output_size", "num_layers", "bias", "dtype"}
        if not isinstance(config, dict) or not expected <= set(config) <= expected | {"peephole"}:
            raise NotAWeightsFile("its __config__ is not the sizes save() writes")
        kind = config["model"]
        if kind != cls.__name__:
            raise WrongModelError(kind, f"{where} holds {kind} weights, not {cls.__name__} weights "
                                        f"(use {kind}.load)")
        try:
            I, H, O, L = (_check_size(k, config[k])
                          for k in ("input_size", "hidden_size", "output_size", "num_layers"))
            bias, peephole = flag("bias", config["bias"]), flag("peephole", config.get("peephole", False))
            _float_dtype(config["dtype"])
            if "peephole" in config and not issubclass(cls, LSTM):
                raise TypeError(f"{cls.__name__} has no peepholes")
        except (TypeError, ValueError) as e:
            raise ValueError(f"{where} describes a model that cannot be built: {e}") from None
        check_total(cls._parameter_count(I, H, O, L, bias, peephole))   # before building a dict
        return cls._parameter_shapes(I, H, O, L, bias, peephole)

    @classmethod
    def _parameter_shapes(cls, I, H, O, L, bias, peephole):
        """{name: shape} of the parameters these sizes make, in named_parameters() order."""
        lstm = issubclass(cls, LSTM)
        shapes = {}
        for k in range(1, L + 1):
            p, width = cls.prefix(k), I if k == 1 else H
            if lstm:
                shapes.update({f"{p}W_{g}": (H, H + width) for g in LSTMCell.gates})
                shapes.update({f"{p}b_{g}": (H,) for g in LSTMCell.gates} if bias else {})
                shapes.update({f"{p}p_{g}": (H,) for g in ("f", "i", "o")} if peephole else {})
            else:
                shapes.update({f"{p}W_xh": (H, width), f"{p}W_hh": (H, H)})
                shapes.update({f"{p}b_h": (H,)} if bias else {})
        W, b = ("W_y", "b_y") if lstm else ("W_hy", "b_y")
        shapes.update({W: (O, H), b: (O,)} if bias else {W: (O, H)})
        return shapes

    def _check_parameter_shapes(self, who):
        """ValueError naming every parameter whose .data no longer has the shape the model's
        sizes give it (p.data = ... can replace it with any shape): what save() would write,
        load() would refuse, and to_torch_state_dict would fail inside numpy's concatenate."""
        expected = self._parameter_shapes(self.input_size, self.hidden_size, self.output_size,
                                          self.num_layers, self.bias, getattr(self, "peephole", False))
        wrong = [f"{name} has shape {p.shape}, expected {expected[name]}"
                 for name, p in self.named_parameters() if p.shape != expected[name]]
        if wrong:
            raise ValueError(f"{who}: " + "; ".join(wrong) + " for this model's sizes (was a parameter's "
                             ".data replaced with an array of another shape?)")

    def _check_parameters_finite(self, who):
        """ValueError naming every parameter holding NaN or inf: load() refuses such a file, so
        save() must not write one (a diverged model's weights are not worth keeping)."""
        bad = [f"{name} ({p.size - np.count_nonzero(np.isfinite(p.data))} of {p.size})"
               for name, p in self.named_parameters() if not np.all(np.isfinite(p.data))]
        if bad:
            raise ValueError(f"{who}: parameters hold NaN or infinite values: {', '.join(bad)}; "
                             f"nothing was written")

    def assign(self, arrays, source="the given weights"):
        """Set every parameter from {name: array}: the names and shapes must be this model's
        (state_dict.check_state, strict), and errors name `source`."""
        self._load(arrays, f"cannot load {source} into this {type(self).__name__}", strict=True)

    def _split_layers(self, state):
        """One initial state per layer: h0 itself, or its rows h0[k] for a stack."""
        if self.num_layers == 1:
            return [state]
        return [state[k].named(f"{self.prefix(k + 1)}{state.name}") for k in range(self.num_layers)]

    # --- checks at the point of use ----------------------------------------------------
    def _check_input(self, xs):
        xs = _as_tensor(type(self).__name__, "xs", xs, self.dtype)
        if xs.ndim not in (2, 3):
            raise ValueError(f"xs must be (T, I) for one sequence or (T, B, I) for a batch; "
                             f"got shape {xs.shape}")
        if xs.shape[0] == 0 or (xs.ndim == 3 and xs.shape[1] == 0):
            raise ValueError(f"xs is empty: shape {xs.shape} (need at least one step and one sequence)")
        if xs.shape[-1] != self.input_size:
            raise ValueError(f"xs has input width {xs.shape[-1]} but the model's input_size is "
                             f"{self.input_size} (xs shape {xs.shape})")
        return xs

    def _check_state(self, name, value, batch_shape):
        """h0/c0: (H,) or (B, H) for one layer; (L, H) or (L, B, H) for L stacked layers."""
        per_layer = batch_shape + (self.hidden_size,)
        expected = per_layer if self.num_layers == 1 else (self.num_layers,) + per_layer
        if value is None:
            value = Tensor(np.zeros(expected, dtype=self.dtype))
        value = _as_tensor(type(self).__name__, name, value, self.dtype)
        if value.shape != expected:
            raise ValueError(f"{name} must have shape {expected} for this input (hidden_size "
                             f"{self.hidden_size}, {self.num_layers} layer(s)); got {value.shape}")
        value.name = value.name or ("HS_0" if name == "h0" else "CS_0")
        return value

    def _check_targets(self, targets, logits_shape):
        try:
            array = targets.data if isinstance(targets, Tensor) else np.asarray(targets)
        except ValueError:
            raise ValueError("targets must be a rectangular array; got ragged nested sequences") from None
        if array.shape not in (logits_shape[:-1], logits_shape):
            raise ValueError(f"targets must be class indices of shape {logits_shape[:-1]} or one-hot "
                             f"of shape {logits_shape}; got shape {array.shape}")
        return array

    @staticmethod
    def _check_mask(mask, shape):
        """The mask as a bool array. A Tensor mask is accepted when it holds only 0 and 1 (a
        comparison's result holds bools, but Tensor(bool_array) holds 1.0/0.0); other float
        masks are not."""
        try:
            array = np.asarray(mask.data if isinstance(mask, Tensor) else mask)
        except ValueError:
            raise ValueError("mask must be a rectangular array; got ragged nested sequences") from None
        if isinstance(mask, Tensor):
            if not np.isin(array, (0, 1)).all():
                raise ValueError("a Tensor mask must hold only 1.0/0.0 (True/False); pass a numpy bool "
                                 "array (True where a step has a loss)")
            array = array.astype(bool)
        if array.dtype.kind in "iu" and not np.isin(array, (0, 1)).all():
            raise ValueError("mask must hold True/False (or 0/1) only")
        if array.shape != shape or array.dtype.kind not in "bui":
            raise ValueError(f"mask must be bool of shape {shape} (True where a step has a loss); "
                             f"got {array.dtype} of shape {array.shape}")
        return array.astype(bool)


class LSTM(_Recurrent):
    """An LSTM in lecture 004's notation, with an output layer Z_t = W_y HS_t + b_y.

    Parameters (`named_parameters()`): W_f, W_i, W_c, W_o (H, H+I); b_f, b_i, b_c, b_o (H,)
    unless bias=False; p_f, p_i, p_o (H,) with peephole=True; W_y (O, H), b_y (O,) (no b_y
    with bias=False: the lecture's bias-free model). Layer k ≥ 2 of a stack (num_layers) has
    its own W_f, ... prefixed "layerk.", of shape (H, 2H). Weights start ~U(−1/√H, 1/√H)
    from `seed`; biases at 0, except b_f = forget_bias (FORGET_BIAS = 3.0).
    """

    state_names = ("HS", "CS")
    STEP_MEMORY = {"eager": (32, 8_000), "compiled": (15, 1_000)}      # see _Recurrent
    PEEPHOLE_STEP_MEMORY = {"eager": (44, 11_000), "compiled": (15, 1_000)}

    def __init__(self, input_size, hidden_size, output_size, num_layers=1, bias=True,
                 peephole=False, seed=0, dtype="float64", forget_bias=FORGET_BIAS):
        self.peephole, self.forget_bias = flag("peephole", peephole), _forget_bias(forget_bias)
        cell = lambda width, rng, prefix: LSTMCell(width, hidden_size, bias, peephole, rng, dtype, prefix,  # noqa: E731
                                                   forget_bias)
        super().__init__(cell, input_size, hidden_size, output_size, num_layers, bias, seed, dtype,
                         ("W_y", "b_y"))


class RNN(_Recurrent):
    """A vanilla RNN (lectures 001/002), with an output layer Z_t = W_hy HS_t + b_y.

    Parameters: W_xh (H, I), W_hh (H, H), b_h (H,), W_hy (O, H), b_y (O,) (no biases with
    bias=False); layer k ≥ 2 of a stack: "layerk.W_xh" (H, H), "layerk.W_hh", "layerk.b_h".
    """

    def __init__(self, input_size, hidden_size, output_size, num_layers=1, bias=True, seed=0,
                 dtype="float64"):
        cell = lambda width, rng, prefix: RNNCell(width, hidden_size, bias, rng, dtype, prefix)  # noqa: E731
        super().__init__(cell, input_size, hidden_size, output_size, num_layers, bias, seed, dtype,
                         ("W_hy", "b_y"))
