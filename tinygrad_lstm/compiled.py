"""The compiled path: trace a model's step once, replay a flat numpy program for every batch.

    compiled = model.compile()
    loss = compiled.loss_and_grad(xs, targets, mask=None, h0=None, c0=None)

gives the loss model.loss(...) gives and adds into every parameter's .grad what
model.loss(...).backward() adds (to ~1e-15 in float64), several times faster.

How. For each input signature (T, batch, dtype, which of mask/h0/c0 are given, the
parameters' shapes) it traces, once:
- one time step of the model (`model.step`) as an ordinary eager graph, with x_t and the
  states as leaves; and the head (the output layer and the loss) on all steps at once;
- then it runs each node's own forward rule, and in reverse order each node's own backward
  rule, on symbolic arrays (trace.py): the numpy calls they make become the program. There
  is no hand-written gradient: backpropagation through time is still reverse mode, over
  one step, run as a loop (a scan) from t = T down to 1;
- passes (program.py, fusion.py) drop dead code and common subexpressions, hoist what no
  step changes, turn each weight's per-step gradient gᵀX into one product over all steps,
  fuse the gate products that share X_t, merge element-wise ops on neighbouring gate
  columns, and compute only the columns of a product that are read; the numpy backend
  (numpy_backend.py) gives every value a buffer, allocated once.
A trace cannot see Python control flow that depends on data: the program replays the
branch the trace took. Rules are guarded (a branch on a traced value raises), and the
inputs are traced as needing a gradient, so every op on them is recorded and replayed.
What a step computes from an input's .data outside the ops (Tensor(x_t.data > 0)) is not
an op: it is baked in from the first batch, so write it with ops.
"""
from contextlib import nullcontext

import numpy as np

from . import ops
from .checks import whole
from .fusion import fuse_shared_products, merge_side_by_side
from .numpy_backend import Backend
from .program import Program, reads
from .tensor import Tensor, _check_gradient, _mode, topological_order
from .threads import blas_threads, step_flops
from .trace import Builder


class CompiledModel:
    """A model's compiled programs, one per input signature, traced on first use."""

    def __init__(self, model, threads=None):
        self.model = model
        self.threads = whole("compile: threads", threads, or_none=True)
        self.programs = {}          # signature -> Replay

    def loss_and_grad(self, xs, targets, mask=None, h0=None, c0=None):
        """The loss (a float); adds d loss / d p into p.grad for every parameter p."""
        return self._replay(xs, targets, mask, h0, c0)(outputs=False)[0]

    def run(self, xs, targets, mask=None, h0=None, c0=None):
        """(loss, logits (T, [B,] O), final states {"HS", "CS"}) and the gradients, as
        loss_and_grad; the logits and states are copies."""
        return self._replay(xs, targets, mask, h0, c0)(outputs=True)

    def _replay(self, xs, targets, mask, h0, c0):
        """A call of this batch's program: the batch, checked, bound to its Replay."""
        batch = _Batch(self.model, xs, targets, mask, h0, c0)
        replay = self.program(batch=batch)
        limit = blas_threads(self.threads, step_flops(self.model, batch.B))
        return lambda outputs: replay(batch, outputs, limit)

    def program(self, xs=None, targets=None, mask=None, h0=None, c0=None, batch=None):
        """The Replay for this input's signature (tracing it if new): print it, or its .source."""
        batch = batch or _Batch(self.model, xs, targets, mask, h0, c0)
        key = batch.signature() + tuple((p.shape, p.dtype, p.requires_grad) for p in self.model.parameters())
        if key not in self.programs:
            self.programs[key] = Replay(self.model, batch)
        return self.programs[key]


class _Batch:
    """The inputs of one call, checked as model.loss checks them, in the (T, B, ...) form."""

    def __init__(self, model, xs, targets, mask, h0, c0):
        xs = model._check_input(xs)
        self.single = xs.ndim == 2                    # one sequence: add a batch axis of 1
        self.xs = xs.data[:, None] if self.single else xs.data
        T, B = self.xs.shape[:2]
        model.check_memory(f"{type(model).__name__} (compiled)", T, B, "compiled")
        self.T, self.B, self.dtype = T, B, model.dtype
        batch_shape = xs.shape[1:-1]
        logits_shape = xs.shape[:-1] + (model.output_size,)
        targets = model._check_targets(targets, logits_shape)
        onehot = ops.target_distribution(np.empty(logits_shape, dtype=model.dtype), targets)
        self.Y = onehot.reshape(T * B, -1)
        self.mask = None if mask is None else model._check_mask(mask, logits_shape[:-1]).reshape(T * B)
        if c0 is not None and "CS" not in model.state_names:
            raise ValueError(f"{type(model).__name__} has no cell state: c0 must be None")
        self.given = (h0 is not None, c0 is not None)
        self.states = {}
        for name, value, arg in (("HS", h0, "h0"), ("CS", c0, "c0")):
            if name in model.state_names:
                state = model._check_state(arg, value, batch_shape).data.astype(model.dtype)
                layers = state if model.num_layers > 1 else state[None]
                self.states[name] = layers.reshape(model.num_layers, B, model.hidden_size)

    def signature(self):
        return (self.T, self.B, self.single, self.xs.dtype, self.mask is not None) + self.given


class Replay:
    """One signature's program and its buffers; calling it runs the program on a batch."""

    def __init__(self, model, batch):
        self.model, self.T, self.B = model, batch.T, batch.B
        self.scan = Scan(model, batch)
        self.program = self.scan.program
        self.backend = Backend(self.program)
        self.function, self.source = self.backend.compile()
        self.rows_made = False

    def __str__(self):
        return str(self.program)

    def __call__(self, batch, outputs=True, limit=nullcontext()):
        if not self.rows_made:
            self.backend.make_rows()
            self.rows_made = True
        scan = self.scan
        np.copyto(scan.X, batch.xs)
        np.copyto(scan.Ybuf, batch.Y)
        if batch.mask is not None:
            np.copyto(scan.Mbuf, batch.mask)
        for name, S in scan.S.items():
            for k, S_k in enumerate(S):
                S_k[0] = batch.states[name][k]
        for dS in scan.dS.values():                     # no gradient flows in after step T
            for dS_k in dS:
                dS_k[self.T % 2] = 0.0
        params = self.model.parameters()
        for i, p in enumerate(params):                 # their current values (optimizers
            self.backend.ns[f"P{i}"] = p.data          # update them in place, or replace them)
        with limit:                                     # BLAS threads (threads.py)
            loss, logits = self.function()
        anomaly = _mode.anomaly
        for i, p in enumerate(params):                 # add into .grad, as backward() does
            G = scan.G.get(i)
            if G is not None:
                _check_gradient(p, G, anomaly)
                p.grad = G.copy() if p.grad is None else p.grad + G
        if not outputs:
            return float(loss), None, None
        T, B = self.T, self.B
        logits = logits.reshape((T, -1) if batch.single else (T, B, -1))
        final = {}
        for name, S in scan.S.items():
            last = np.stack([S_k[-1] for S_k in S])            # (L, B, H)
            last = last[:, 0] if batch.single else last
            final[name] = last[0] if len(S) == 1 else last
        return float(loss), logits, final


class Scan:
    """Traces the model into a Program and says where each value outside the loops lives."""

    def __init__(self, model, batch):
        self._trace(model, batch)      # its graphs and traced values go once it returns
        self._allocate(model, batch)

    def _trace(self, model, batch):
        T, B, dtype = batch.T, batch.B, model.dtype
        self.T, self.B, self.model = T, B, model
        params = model.parameters()
        H, L = model.hidden_size, model.num_layers
        names = list(model.state_names)
        # --- 1. trace one step, and the head, as ordinary eager graphs ---------------------
        with _recording():
            # the inputs are traced as needing a gradient too: every op on them is recorded
            x_t = Tensor(batch.xs[0], requires_grad=True, name="x_t")
            state_in = {n: [Tensor(batch.states[n][k], requires_grad=True, name=f"{n}_in{k}")
                            for k in range(L)] for n in names}
            layers = [list(state_in[n]) for n in names]
            model.step(x_t, layers, {})
            state_out = {n: layers[i] for i, n in enumerate(names)}
            HS_all = Tensor(np.zeros((T * B, H), dtype=dtype), requires_grad=True, name="HS_all")
            Y = Tensor(batch.Y, requires_grad=True, name="Y")
            M = None if batch.mask is None else \
                Tensor(batch.mask, dtype=dtype, requires_grad=True, name="mask")
            logits = model.output(HS_all)
            loss = model.loss_from_logits(logits, Y, M, B)
        # --- 2. the forward rules on symbolic arrays ---------------------------------------
        self.param_syms = {}
        leaves = {}
        with Builder("f") as forward:
            for i, p in enumerate(params):
                leaves[p] = self.param_syms[i] = forward.leaf(p.data, f"P{i}", "param")
            leaves[x_t] = forward.leaf(x_t.data, "x_t", "input")
            for n in names:
                for k, s in enumerate(state_in[n]):
                    leaves[s] = forward.leaf(s.data, f"{n}{k}_in", "state")
            step_roots = [s for n in names for s in state_out[n]]
            sym = _run_forward(step_roots, leaves)
        with Builder("h") as head:
            head_leaves = {p: self.param_syms[i] for i, p in enumerate(params)}
            head_leaves[HS_all] = head.leaf(HS_all.data, "HS_all", "input")
            head_leaves[Y] = head.leaf(Y.data, "Y", "input")
            if M is not None:
                head_leaves[M] = head.leaf(M.data, "M", "input")
            head_sym = _run_forward([loss], head_leaves)
            one = head.leaf(np.ones((), dtype=dtype), "one", "const")
            head_grads = _run_backward([loss], {loss: one}, head_sym)
        # --- 3. the backward rules, in reverse order, on symbolic arrays -------------------
        with Builder("b") as backward:
            seeds, self.seed_syms = {}, {}
            for n in names:
                for k, s in enumerate(state_out[n]):
                    self.seed_syms[(n, k)] = seed = backward.leaf(s.data, f"d{n}{k}_out", "seed")
                    seeds[s] = seed if s not in seeds else seeds[s] + seed
            top = state_out["HS"][-1]
            self.dhead = backward.leaf(np.zeros((B, H), dtype=dtype), "dHS_head_t", "seed")
            seeds[top] = seeds[top] + self.dhead
            step_grads = _run_backward(step_roots, seeds, sym)
        # --- 4. the program --------------------------------------------------------------
        sections = {"pre": [], "forward": forward.instrs, "head": head.instrs, "backward": backward.instrs,
                    "post": []}
        self.program = program = Program(T, sections, self)
        index = {p: i for i, p in enumerate(params)}
        for section, grads in (("backward", step_grads), ("head", head_grads)):
            for p, i in index.items():
                if p in grads:
                    program.accumulate.append((section, i, grads[p]))
        self.loss, self.logits = head_sym[loss], head_sym[logits]
        self.dHS_all = head_grads.get(HS_all)
        self.state_grads = {(n, k): step_grads.get(s) for n in names for k, s in enumerate(state_in[n])}
        self.state_out = {(n, k): sym[s] for n in names for k, s in enumerate(state_out[n])}
        self.state_in = {(n, k): leaves[s] for n in names for k, s in enumerate(state_in[n])}
        self.x_t = leaves[x_t]
        self.HS_all_sym, self.Y_sym = head_leaves[HS_all], head_leaves[Y]
        self.M_sym = head_leaves.get(M)
        program.eliminate_dead_code(self._live())
        program.eliminate_common_subexpressions()          # may rename the values _live() lists
        program.hoist_invariants()
        program.hoist_weight_gradients()
        fuse_shared_products(program, {s: i for i, s in self.param_syms.items()})
        merge_side_by_side(program)
        program.narrow_products()
        program.eliminate_dead_code(self._live())
        for instrs in program.sections.values():   # the values seen while tracing are not
            for instr in instrs:                   # needed any more: let them go
                for s in [instr.out] + instr.reads:
                    if s.role != "const":
                        s.value = None

    # --- buffers that live outside the loops ----------------------------------------------
    def _allocate(self, model, batch):
        T, B, dtype = self.T, self.B, model.dtype
        H, L = model.hidden_size, model.num_layers
        self.X = np.empty(batch.xs.shape, dtype=batch.xs.dtype)
        self.Ybuf = np.empty(batch.Y.shape, dtype=dtype)
        self.Mbuf = None if batch.mask is None else np.empty(batch.mask.shape, dtype=dtype)
        # the states in the dtypes the step gave them (float64 data promotes a float32 model)
        self.S = {n: [np.empty((T + 1, B, H), dtype=self.state_out[(n, k)].dtype) for k in range(L)]
                  for n in model.state_names}
        # the states' gradients are carried from step t+1 to step t: two rows, used in turn
        self.dS = {n: [np.zeros((2, B, H), dtype=self.state_out[(n, k)].dtype) for k in range(L)]
                   for n in model.state_names}
        self.dHead = np.empty((T * B, H), dtype=self.S["HS"][-1].dtype)
        self.G = {}
        for _, p, _ in self.program.accumulate:
            self.G.setdefault(p, np.empty(self.param_syms[p].shape, dtype=self.param_syms[p].dtype))
        for g in self.program.groups:
            for i in (i for gate in g.gates for i in (gate.weight, gate.bias) if i is not None):
                self.G.setdefault(i, np.empty(self.param_syms[i].shape, dtype=self.param_syms[i].dtype))
        for p, *_ in self.program.post:
            self.G.setdefault(p, np.empty(self.param_syms[p].shape, dtype=self.param_syms[p].dtype))

    def _live(self):
        """What the program must compute: the loss, the logits, the head's gradient, the
        states and their gradients."""
        return [self.loss, self.logits, self.dHS_all, *self.state_out.values(),
                *(s for s in self.state_grads.values() if s is not None)]

    def rename(self, same):
        """Values the program replaced by equal ones (common subexpressions)."""
        self.loss, self.logits = same.get(self.loss, self.loss), same.get(self.logits, self.logits)
        self.dHS_all = same.get(self.dHS_all, self.dHS_all)
        self.state_out = {k: same.get(s, s) for k, s in self.state_out.items()}
        self.state_grads = {k: same.get(s, s) for k, s in self.state_grads.items()}

    def invariants(self):
        consts = [s for instrs in self.program.sections.values() for i in instrs for s in _leaf_args(i)
                  if s.role in ("param", "const")]
        return set(self.param_syms.values()) | set(consts)

    def stackable(self, s):
        return s.role == "value" or s is self.x_t or s in self.state_in.values()

    def bindings(self):
        """Identifiers of the values that come from outside: parameters, inputs, constants."""
        out = {s: f"P{i}" for i, s in enumerate(self.param_syms.values())}
        out[self.HS_all_sym] = "HS_all"
        out[self.Y_sym] = "Ybuf"
        if self.M_sym is not None:
            out[self.M_sym] = "Mbuf"
        for instrs in self.program.sections.values():
            for instr in instrs:
                for s in _leaf_args(instr):
                    if s.role == "const":
                        out[s] = f"C_{s.name}"
        return out

    def namespace(self):
        ns = {f"P{i}": p.data for i, p in enumerate(self.model.parameters())}
        top = self.S["HS"][-1]
        ns.update(HS_all=top[1:].reshape(self.T * self.B, -1), Ybuf=self.Ybuf, Mbuf=self.Mbuf,
                  dHead=self.dHead,
                  R_dHead=self.dHead.reshape(self.T, self.B, -1))
        ns.update({f"G{p}": G for p, G in self.G.items()})
        for (n, k), s in self.state_in.items():
            ns[f"R_{n}{k}_in"] = self.S[n][k][:-1]
            ns[f"R_{n}{k}_out"] = self.S[n][k][1:]
            rows = list(self.dS[n][k])
            ns[f"R_d{n}{k}_in"] = [rows[t % 2] for t in range(self.T)]
            ns[f"R_d{n}{k}_out"] = [rows[(t + 1) % 2] for t in range(self.T)]
            ns[f"S_{n}{k}"] = self.S[n][k]
        ns["R_x"] = self.X
        ns["X"] = self.X
        for instrs in self.program.sections.values():
            for instr in instrs:
                for s in _leaf_args(instr):
                    if s.role == "const":
                        ns[f"C_{s.name}"] = s.value
        return ns

    def rows(self, section):
        """(identifier, rows list) of the loop's leaves and pinned values."""
        out = {"x_t": "R_x"}
        for (n, k) in self.state_in:
            out[f"{n}{k}_in"] = f"R_{n}{k}_in"
            if section == "forward":
                out[f"{n}{k}_out"] = f"R_{n}{k}_out"
            else:
                out[f"d{n}{k}_out"] = f"R_d{n}{k}_out"
                out[f"d{n}{k}_in"] = f"R_d{n}{k}_in"
        if section == "backward":
            out["dHS_head_t"] = "R_dHead"
        return out

    def loop_leaves(self, section):
        out = {self.x_t: "x_t"}
        for key, s in self.state_in.items():
            out[s] = f"{key[0]}{key[1]}_in"
        if section == "backward":
            out.update({s: f"d{n}{k}_out" for (n, k), s in self.seed_syms.items()})
            out[self.dhead] = "dHS_head_t"
        return out

    def pinned(self, section):
        """{value: [places]}: the values that must end up in given places (states in row
        t+1, their gradients in row t, the head's gradient in dHead). One value may have to
        go to several places: two states may be the same tensor."""
        places = {"forward": [(s, f"{n}{k}_out") for (n, k), s in self.state_out.items()],
                  "backward": [(s, f"d{n}{k}_in") for (n, k), s in self.state_grads.items() if s is not None],
                  "head": [(self.dHS_all, "dHead")] if self.dHS_all is not None else []}.get(section, [])
        pinned = {}
        for s, place in places:
            pinned.setdefault(s, []).append(place)
        return pinned

    def whole(self, s):
        if s is self.x_t:
            return "X"
        for (n, k), sym in self.state_in.items():
            if sym is s:
                return f"S_{n}{k}[:-1]"
        raise RuntimeError(f"{s.name} is not a value of the loop")


def _recording():
    """Trace with recording on whatever the caller's no_grad says."""
    class _On:
        def __enter__(self):
            self.previous, _mode.grad_enabled = _mode.grad_enabled, True

        def __exit__(self, *exc):
            _mode.grad_enabled = self.previous
    return _On()


def _order(roots):
    order, seen = [], set()
    for root in roots:
        for node in topological_order(root):
            if node not in seen:
                seen.add(node)
                order.append(node)
    return order


def _run_forward(roots, leaves):
    """Each node's forward rule on symbolic arrays, in topological order."""
    sym = dict(leaves)
    for node in _order(roots):
        if node in sym:
            continue
        if node._op is None:                        # a constant: baked into the program
            sym[node] = Builder.active.leaf(node.data, None, "const")
            continue
        op = node._op
        out = op.forward(*[sym[p] for p in node._parents], **node._options)
        if out.shape != node.data.shape or out.dtype != node.data.dtype or \
                (out.size <= 4096 and not np.array_equal(out.value, node.data, equal_nan=True)):
            raise RuntimeError(f"tracing: op {op.name} gave a different value on symbolic arrays")
        sym[node] = out
    return sym


def _run_backward(roots, seeds, sym):
    """Each node's backward rule on symbolic arrays, in reverse topological order; returns
    {leaf: its gradient}."""
    grads, at_leaves = dict(seeds), {}
    for node in reversed(_order(roots)):
        g = grads.pop(node, None)
        if g is None:
            continue
        if node._op is None:
            at_leaves[node] = g
            continue
        inputs = [sym[p] for p in node._parents]
        for parent, pg in zip(node._parents, node._op.backward(g, sym[node], *inputs, **node._options)):
            if pg is not None and parent.requires_grad:
                grads[parent] = pg if parent not in grads else grads[parent] + pg
    return at_leaves


def _leaf_args(instr):
    return [s for s in reads(instr) if s.role != "value"]
