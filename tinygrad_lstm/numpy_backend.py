"""The numpy backend: a Program (program.py) becomes one Python function of numpy calls.

Every buffer is allocated once per signature (its row views are listed on the first
replay). A value the backward loop reads at step t lives in row t of a stacked buffer (T
rows); a state lives in a buffer of T+1 rows, step t reading row t and writing row t+1.
Other loop values share scratch buffers by liveness: a buffer is reused once the last
reader of its value has run (an element-wise op may even write into its own dying input).
Views and fresh arrays are expressions evaluated where they are defined; a view of a
buffer that is the same at every step (not a reshape, which may copy) is made once,
before the loop. The generated source is kept (`source`) and can be printed.
"""
from collections import defaultdict

import numpy as np

from .program import OUT_KINDS, literal
from .program import reads as _reads
from .trace import Sym


class Backend:
    def __init__(self, program):
        self.program, self.scan = program, program.scan
        self.ns = {"np": np}                  # the generated function's globals
        self.where = {}                       # Sym -> the identifier that holds it
        self.stacked = {}                     # Sym -> its stacked (T, ...) buffer
        self._plan_storage()

    # --- storage ---------------------------------------------------------------------------
    def _plan_storage(self):
        """Which loop values need a row per step: those the backward loop or post reads."""
        p = self.program
        made_in = {i.out: name for name in p.sections for i in p.sections[name] if i.kind != "mutate"}
        self.made_in = made_in
        self.instr_of = {i.out: i for s in p.sections.values() for i in s if i.kind != "mutate"}
        wanted = set()
        for instr in p.sections["backward"] + p.sections["head"]:
            for a in _reads(instr):
                if made_in.get(a) == "forward":
                    wanted.add(a)
        for _, how, a, b in p.post:
            wanted.update(x for x in (a, b) if x is not None and made_in.get(x) in ("forward", "backward"))
        for g in p.groups:
            if made_in.get(g.x) == "forward":
                wanted.add(g.x)
        for section, _, s in p.accumulate:
            if made_in.get(s) == "forward" and section != "forward":
                wanted.add(s)
        # a view is recomputed where it is read: what must persist is the array it views
        for s in list(wanted):
            while self.instr_of.get(s) is not None and self.instr_of[s].kind == "view":
                wanted.discard(s)
                s = self.instr_of[s].args[0]
                if made_in.get(s) in ("forward", "backward"):
                    wanted.add(s)
        self.carried = {}                     # forward values that are states: their out rows
        pinned = self.scan.pinned("forward")
        for s in [s for s in wanted if s in pinned]:
            wanted.discard(s)
            self.carried[s] = pinned[s][0]
        T = self.program.T
        for s in sorted(wanted, key=lambda s: s.name):      # a stable order: the same source each time
            name = f"R_{s.name}"
            buffer = np.empty((T,) + s.shape, dtype=s.dtype)
            self.stacked[s] = buffer
            self.ns[f"B_{s.name}"], self.ns[name] = buffer, buffer
        for g in p.groups:                    # fused gates: their gradients side by side
            D = np.empty((T,) + g.D.shape, dtype=g.D.dtype)
            self.stacked[g.D] = D
            self.ns[f"B_{g.D.name}"], self.ns[f"R_{g.D.name}"] = D, D
            for gate in g.gates:
                columns = D[..., gate.lo:gate.hi]
                self.stacked[gate.g] = columns
                self.ns[f"B_{gate.g.name}"] = self.ns[f"R_{gate.g.name}"] = columns

    # --- code generation -----------------------------------------------------------------------
    def source(self):
        p, scan = self.program, self.scan
        out = ["def replay():"]
        self.fixed = set()                               # values that no step changes
        for s, ident in scan.bindings().items():        # parameters, inputs, constants
            self.where[s] = ident
            self.fixed.add(s)
        for name, value in scan.namespace().items():
            self.ns[name] = value
        grads = {p for _, p, _ in p.accumulate} | {p for p, *_ in p.post}
        grads |= {i for g in p.groups for gate in g.gates for i in (gate.weight, gate.bias) if i is not None}
        for p_index in sorted(grads):
            out.append(f"    G{p_index}.fill(0)")
        out += self._straight(p.sections["pre"], "pre")
        out += self._accumulations("pre")
        out += self._loop("forward")
        out += self._straight(p.sections["head"], "head")
        out += self._accumulations("head")
        out += self._loop("backward")
        out += self._post()
        out.append(f"    return {self._ref(scan.loss)}, {self._ref(scan.logits)}")
        return "\n".join(out)

    def _ref(self, s):
        if not isinstance(s, Sym):
            return literal(s, self.ns)
        if s not in self.where:
            raise RuntimeError(f"the numpy backend found no home for {s.name}")
        return self.where[s]

    def _args(self, instr, skip_first=False):
        args = [self._render(a) for a in instr.args[1 if skip_first else 0:]]
        return args + [f"{k}={self._render(v)}" for k, v in instr.kwargs.items()]

    def _render(self, a):
        if isinstance(a, Sym):
            return self._ref(a)
        if isinstance(a, (tuple, list)) and any(isinstance(x, Sym) for x in a):
            return "(" + "".join(self._render(x) + ", " for x in a) + ")"
        return literal(a, self.ns)

    def _expression(self, instr):
        """The instruction as an expression that makes its value (no out=)."""
        args = self._args(instr)
        if instr.call == "getitem":
            return f"{args[0]}[{args[1]}]"
        if instr.call.startswith("."):
            return f"{args[0]}{instr.call}({', '.join(args[1:])})"
        return f"np.{instr.call}({', '.join(args)})"

    def _statement(self, instr, target):
        """The instruction writing into `target` (an identifier), or defining it."""
        if instr.kind == "mutate":
            if instr.call == "setitem":
                a = self._args(instr)
                return f"{a[0]}[{a[1]}] = {a[2]}"
            ufunc, _ = instr.call.split(".")
            return f"np.{ufunc}.at({', '.join(self._args(instr))})"
        if target is None or instr.kind not in OUT_KINDS:
            return f"{instr.out.name} = {self._expression(instr)}"
        if instr.call.startswith("."):
            return f"{self._expression(instr)[:-1]}, out={target})"
        args = self._args(instr)
        return f"np.{instr.call}({', '.join(args)}, out={target})"

    def _straight(self, instrs, section):
        """Code run once: every value is an expression (a fresh array), except pinned ones."""
        lines, pinned = [], self.scan.pinned(section)
        for instr in instrs:
            places = pinned.get(instr.out) if instr.kind in OUT_KINDS else None
            target = places.pop(0) if places else None
            lines.append("    " + self._statement(instr, target))
            if instr.kind != "mutate":
                self.where[instr.out] = target or instr.out.name
                self.fixed.add(instr.out)
        for s, places in pinned.items():                # not written in place: copy it there
            lines += [f"    np.copyto({place}, {self._ref(s)})" for place in places]
        return lines

    def _loop(self, section):
        """A step body as a loop over t, rows of stacked buffers bound by zip."""
        instrs = self.program.sections[section]
        rows = dict(self.scan.rows(section))           # identifier -> rows list expression
        pinned = self.scan.pinned(section)             # Sym -> the row identifiers it must end in
        live_out = list(pinned) + [c for sec, _, c in self.program.accumulate if sec == section]
        body, scratch = [], self._scratch(instrs, pinned, live_out)
        # views of buffers that are the same at every step are made once, before the loop
        fixed = set(scratch) | self.fixed
        setup = []
        self.where.update(self.scan.loop_leaves(section))     # x_t, the states, their gradients
        # values of the forward loop the backward loop reads: their rows, or views of them
        if section == "backward":
            for s in self.stacked:
                if self.made_in.get(s) == "forward":
                    rows[s.name] = f"R_{s.name}"
                    self.where[s] = s.name
            for s, ident in self.carried.items():
                rows[ident] = f"R_{ident}"
                self.where[s] = ident
            for g in self.program.groups:
                rows[g.D.name] = f"R_{g.D.name}"
                self.where[g.D] = g.D.name
            body += self._recomputed_views(instrs)
        for instr in instrs:
            s = instr.out
            if instr.kind == "mutate":
                body.append(self._statement(instr, None))
                continue
            if instr.kind == "view" and instr.call != ".reshape" and s not in self.stacked \
                    and all(a in fixed for a in _reads(instr)):
                setup.append("    " + self._statement(instr, None))
                self.where[s] = s.name
                fixed.add(s)
                continue
            if s in self.stacked and self.made_in[s] == section:
                rows[s.name] = f"R_{s.name}"
                target = s.name
            elif pinned.get(s) and instr.kind in OUT_KINDS:
                target = pinned[s].pop(0)
            else:
                target = scratch.get(s)
            body.append(self._statement(instr, target))
            self.where[s] = target if target is not None else s.name
            if target is not None and instr.kind not in OUT_KINDS:      # an expression to store
                body[-1] = f"np.copyto({target}, {self._expression(instr)})"
        for s, places in pinned.items():                # pinned values not written in place
            body += [f"np.copyto({place}, {self._ref(s)})" for place in places]
        body += [f"np.add(G{p}, {self._ref(s)}, out=G{p})" for sec, p, s in self.program.accumulate
                 if sec == section]
        names, lists = zip(*rows.items()) if rows else ((), ())
        order = (lambda r: r) if section == "forward" else (lambda r: f"reversed({r})")
        targets = ", ".join(names) + ("," if len(names) == 1 else "")
        head = f"    for {targets} in zip({', '.join(order(r) for r in lists)}):"
        return setup + [head] + ["        " + line for line in body] if body else []

    def _recomputed_views(self, instrs):
        """Views of stacked forward values that the backward loop reads, made again there."""
        lines, done = [], set()

        def need(s):
            instr = self.instr_of.get(s)
            if s in done or instr is None or self.made_in.get(s) != "forward" or s in self.stacked \
                    or s in self.carried:
                return
            if instr.kind != "view":
                return
            for a in _reads(instr):
                need(a)
            done.add(s)
            lines.append(f"{s.name} = {self._expression(instr)}")
            self.where[s] = s.name
        for instr in instrs:
            for a in _reads(instr):
                need(a)
        return lines

    def _scratch(self, instrs, pinned, live_out):
        """Scratch buffers for loop values that need no row per step, shared by liveness.
        `live_out` are read after the body (copied into place, or added into a gradient)."""
        last, base = {}, {}
        for i, instr in enumerate(instrs):
            if instr.kind == "view":
                base[instr.out] = base.get(instr.args[0], instr.args[0])
            for a in _reads(instr):
                last[base.get(a, a)] = i
        for s in live_out:
            last[base.get(s, s)] = len(instrs)
        free, assigned, holder = defaultdict(list), {}, {}
        for i, instr in enumerate(instrs):
            s = instr.out
            for a in list(holder):                       # buffers whose value is dead
                if last.get(a, -1) < i or (last.get(a) == i and instr.kind == "ufunc" and a in _reads(instr)
                                           and a.shape == s.shape and a.dtype == s.dtype):
                    free[(a.shape, a.dtype)].append(holder.pop(a))
            if instr.kind not in OUT_KINDS or s in pinned or s in self.stacked:
                continue
            pool = free[(s.shape, s.dtype)]
            name = pool.pop() if pool else f"buf{len([n for n in self.ns if n.startswith('buf')])}"
            if name not in self.ns:
                self.ns[name] = np.empty(s.shape, dtype=s.dtype)
            assigned[s] = holder[s] = name
        return assigned

    def _accumulations(self, section):
        return [f"    np.add(G{p}, {self._ref(s)}, out=G{p})" for sec, p, s in self.program.accumulate
                if sec == section]

    def _post(self):
        lines = []
        for g in self.program.groups:
            D, width = f"B_{g.D.name}", g.D.shape[-1]
            X = f"{self._whole(g.x)}.reshape(-1, {g.x.shape[-1]})"
            lines.append(f"    dW = {D}.reshape(-1, {width}).T @ {X}")
            if all(gate.bias is not None for gate in g.gates):
                lines.append(f"    db = {D}.reshape(-1, {width}).sum(axis=0)")
            for gate in g.gates:
                w, b, rows = gate.weight, gate.bias, f"{gate.lo}:{gate.hi}"
                lines.append(f"    np.add(G{w}, dW[{rows}], out=G{w})")
                if b is not None:
                    lines.append(f"    np.add(G{b}, db[{rows}], out=G{b})")
        for p, how, a, b in self.program.post:
            A = self._whole(a)
            if how == "gemm":
                B = self._whole(b)
                product = f"{A}.reshape(-1, {a.shape[-1]}).T @ {B}.reshape(-1, {b.shape[-1]})"
                lines.append(f"    np.add(G{p}, {product}, out=G{p})")
            else:
                lines.append(f"    np.add(G{p}, {A}.reshape(-1, {a.shape[-1]}).sum(axis=0), out=G{p})")
        return lines

    def _whole(self, s):
        """All T steps of a loop value, as one array (T, ...)."""
        if s in self.stacked:
            return f"B_{s.name}"
        if s in self.carried:
            return f"S_{self.carried[s][:-len('_out')]}[1:]"
        return self.scan.whole(s)

    def make_rows(self):
        """The loops iterate over lists of row views (R_…), made once per signature: zip
        over a list is faster than over an array's rows. Done on the first replay, as it
        takes time in proportion to T."""
        for name, value in self.ns.items():
            if name.startswith("R_") and isinstance(value, np.ndarray):
                self.ns[name] = list(value)

    def compile(self):
        text = self.source()
        exec(compile(text, "<tinygrad_lstm compiled program>", "exec"), self.ns)
        return self.ns["replay"], text

