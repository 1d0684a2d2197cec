"""A compiled program: instructions over named buffers, and the passes that improve it.

A Program has five sections, run in this order on every replay:

    pre        once: what no step changes (W_fᵀ, ...), hoisted out of the loops
    forward    the step body, for t = 1 … T (a scan): states carried in buffers of T+1 rows
    head       once, on all steps together: the output layer, the loss and their backward
    backward   the step body's reverse-mode program, for t = T … 1
    post       once: the weight gradients Σ_t g_tᵀ X_t, each as one matrix product

Its instructions are plain data (see trace.Instr): `str(program)` prints them. The passes
ask the scan it came from (compiled.Scan) which values are parameters, inputs and states.
The numpy backend (numpy_backend.py) turns it into one Python function that calls numpy
with out= buffers; another backend could translate the same instructions.
"""
from collections import defaultdict

import numpy as np

from .trace import Instr, Sym

OUT_KINDS = ("ufunc", "matmul", "reduce", "join")     # may write into a buffer given as out=
SECTIONS = ("pre", "forward", "head", "backward", "post")


class Program:
    """The sections, and where each value outside them lives (see Scan in compiled.py)."""

    def __init__(self, T, sections, scan):
        self.T, self.sections, self.scan = T, sections, scan
        self.post = []                 # (param index, "gemm" | "rows", A, B): Σ_t contributions
        self.accumulate = []           # (section, param index, Sym): added into the gradient
        self.groups = []               # fusion.Group: gate products fused into one

    def __str__(self):
        lines = []
        for name in SECTIONS:
            lines.append(f"{name}:" + (" for t = 1 … T" if name == "forward" else
                                       " for t = T … 1" if name == "backward" else ""))
            lines += [f"    {i}" for i in self.sections[name]]
            if name == "post":
                lines += [f"    grad[{p}] += Σ_t {a.name}ᵀ {b.name}" if how == "gemm" else
                          f"    grad[{p}] += Σ_t,rows {a.name}" for p, how, a, b in self.post]
            lines += [f"    grad[{p}] += {s.name}" for sec, p, s in self.accumulate if sec == name]
            if name == "post":
                for g in self.groups:
                    spans = ", ".join(f"grad[{gate.weight}] = rows {gate.lo}:{gate.hi}" for gate in g.gates)
                    lines.append(f"    Σ_t {g.D.name}ᵀ {g.x.name}: {spans}")
        return "\n".join(lines)

    # --- passes --------------------------------------------------------------------------
    def eliminate_dead_code(self, live):
        """Drop the instructions whose values nothing needs, last section first."""
        needed = set(live)
        needed.update(s for _, _, s in self.accumulate)
        for _, _, a, b in self.post:
            needed.update((a, b))
        for g in self.groups:
            needed.update([g.x] + [gate.g for gate in g.gates])
        for name in reversed(SECTIONS):
            kept = []
            for instr in reversed(self.sections[name]):
                if instr.out in needed:
                    kept.append(instr)
                    needed.update(a for a in reads(instr))
            self.sections[name] = kept[::-1]

    def eliminate_common_subexpressions(self):
        """An instruction that repeats an earlier one of its section (the same call on the
        same values) is dropped, and its readers read the earlier result: the loss's
        backward, for one, recomputes the log-softmax its forward made."""
        for name in SECTIONS:
            seen, same, kept = {}, {}, []
            for instr in self.sections[name]:
                instr = _renamed(instr, same)
                key = None if instr.kind in ("fresh", "mutate") else \
                    (instr.call, _key(instr.args), _key(tuple(sorted(instr.kwargs.items()))))
                if key is not None and key in seen:
                    same[instr.out] = seen[key]
                    continue
                if key is not None:
                    seen[key] = instr.out
                kept.append(instr)
            self.sections[name] = kept
            if same:
                for other in SECTIONS:
                    self.sections[other] = [_renamed(i, same) for i in self.sections[other]]
                self.accumulate = [(s, p, same.get(c, c)) for s, p, c in self.accumulate]
                self.scan.rename(same)

    def hoist_invariants(self):
        """Move instructions that read only parameters, constants or other such values out
        of the loops, into `pre` (loop-invariant code motion)."""
        invariant = set(self.scan.invariants())
        for name in ("forward", "backward"):
            kept = []
            for instr in self.sections[name]:
                if instr.kind not in ("fresh", "mutate") and all(a in invariant for a in reads(instr)):
                    self.sections["pre"].append(instr)
                    invariant.add(instr.out)
                else:
                    kept.append(instr)
            self.sections[name] = kept

    def narrow_products(self):
        """A product of which only some columns are read computes only those: x_t is data,
        so of dX_t = dg_t W only the columns of HS_{t−1} are needed, dg_t W[:, :H]."""
        invariant = set(self.scan.invariants()) | {i.out for i in self.sections["pre"]}
        count = uses(self)
        for name in ("forward", "backward"):
            instrs = self.sections[name]
            readers = {}
            for instr in instrs:
                for a in reads(instr):
                    readers.setdefault(a, []).append(instr)
            for instr in list(instrs):
                right = instr.args[1] if instr.call == "matmul" and len(instr.args) == 2 else None
                only = readers.get(instr.out, [])
                if right is None or right not in invariant or right.ndim != 2 or count.get(instr.out) != 1 \
                        or len(only) != 1 or not is_column_slice(only[0]):
                    continue
                view = only[0]
                columns = Sym(f"{right.name}_cols{len(self.sections['pre'])}", np.empty((right.shape[0],
                              view.out.shape[-1]), dtype=right.dtype), "value")
                sliced = Sym(columns.name + "v", np.empty(columns.shape, dtype=right.dtype), "value")
                index = (slice(None), view.args[1][1])
                self.sections["pre"] += [Instr(sliced, "getitem", (right, index), {}, "view"),
                                         Instr(columns, "ascontiguousarray", (sliced,), {}, "fresh")]
                narrowed = Instr(view.out, "matmul", (instr.args[0], columns), {}, "matmul")
                self.sections[name] = [narrowed if i is instr else i for i in self.sections[name]
                                       if i is not view]
                invariant.add(columns)

    def hoist_weight_gradients(self):
        """A weight's gradient at one step, gᵀ X (affine's rule), summed over the steps, is
        one product of stacked matrices [g_1; …; g_T]ᵀ [X_1; …; X_T] after the loop: far
        faster than T thin products. Likewise a bias's Σ_rows g. Other contributions are
        added into the gradient step by step."""
        made = {i.out: i for name in ("forward", "backward") for i in self.sections[name]}
        uses = defaultdict(int)
        for name in SECTIONS:
            for instr in self.sections[name]:
                for a in reads(instr):
                    uses[a] += 1
        kept = []
        for section, p, c in self.accumulate:
            instr = made.get(c)
            if section == "backward" and instr is not None and uses[c] == 0:
                pattern = _weight_gradient(instr, made, self.scan)
                if pattern is not None:
                    self.post.append((p,) + pattern)
                    continue
            kept.append((section, p, c))
        self.accumulate = kept


def _key(value):
    """A hashable stand-in for an instruction's arguments: Syms by identity."""
    if isinstance(value, Sym):
        return ("sym", id(value))
    if isinstance(value, (tuple, list)):
        return (type(value).__name__,) + tuple(_key(v) for v in value)
    if isinstance(value, np.ndarray):
        return ("array", id(value))
    if isinstance(value, slice):
        return ("slice", value.start, value.stop, value.step)
    return ("literal", type(value).__name__, repr(value))


def _renamed(instr, same):
    """The instruction reading same[s] wherever it read s."""
    if not same or not any(a in same for a in instr.reads):
        return instr

    def swap(a):
        if isinstance(a, Sym):
            return same.get(a, a)
        if isinstance(a, (tuple, list)):
            return type(a)(swap(x) for x in a)
        return a
    return Instr(instr.out, instr.call, swap(instr.args), {k: swap(v) for k, v in instr.kwargs.items()},
                 instr.kind)


def uses(program):
    """How many times each Sym is read, in all sections and by the gradient additions."""
    count = {}
    for instrs in program.sections.values():
        for instr in instrs:
            for a in reads(instr):
                count[a] = count.get(a, 0) + 1
    for _, _, s in program.accumulate:
        count[s] = count.get(s, 0) + 1
    return count


def is_column_slice(instr):
    """x[:, a:b] of a 2-D x, by a basic slice."""
    if instr.call != "getitem" or instr.kind != "view" or instr.args[0].ndim != 2:
        return False
    index = instr.args[1]
    return (isinstance(index, tuple) and len(index) == 2 and index[0] == slice(None)
            and isinstance(index[1], slice) and index[1].step is None)


def reads(instr):
    """The Syms an instruction reads."""
    return instr.reads


def _weight_gradient(instr, made, scan):
    """("gemm", g, X) for c = gᵀ @ X, ("rows", g, None) for c = g.sum(axis=0), with g and X
    per-step matrices the scan can stack (arrays of their own, not views); else None."""
    if instr.call == "matmul" and len(instr.args) == 2:
        left, right = instr.args
        t = made.get(left)
        if t is not None and t.call == ".transpose" and len(t.args) == 1:
            g = t.args[0]
            if g.ndim == 2 and right.ndim == 2 and _stackable(g, made, scan) \
                    and _stackable(right, made, scan):
                return ("gemm", g, right)
    if instr.call == ".sum" and instr.kwargs == {"axis": 0, "keepdims": False}:
        g = instr.args[0]
        if g.ndim == 2 and _stackable(g, made, scan):
            return ("rows", g, None)
    return None


def _stackable(s, made, scan):
    return scan.stackable(s) and (s not in made or made[s].kind in OUT_KINDS)


def literal(value, constants):
    """Source text for a literal argument; anything that has no plain repr becomes a named
    constant of the generated function."""
    if value is None or isinstance(value, (bool, int, str)):
        return repr(value)
    if isinstance(value, float) and np.isfinite(value):
        return repr(value)
    name = f"k{len(constants)}"
    constants[name] = value
    return name

