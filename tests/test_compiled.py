"""The compiled path (model.compile()) against eager mode (model.loss(...).backward()).

compiled.loss_and_grad(xs, targets, mask, h0, c0) must give model.loss's value and add
into every parameter's .grad exactly what backward() adds, for every kind of model and
input; the program it replays is plain data, built from the ops' own rules, and its size
does not depend on T.
"""
import re

import numpy as np
import pytest

from tinygrad_lstm import Tensor, is_grad_enabled, no_grad, ops
from tinygrad_lstm.gradcheck import numerical_gradients
from tinygrad_lstm.nn import LSTM, RNN
from tinygrad_lstm.optim import SGD

I, H, O, B = 3, 4, 5, 2
TIGHT = dict(rtol=1e-12, atol=1e-12)


# --- helpers ---------------------------------------------------------------------------

def make_model(kind="lstm", num_layers=1, peephole=False, bias=True, dtype="float64", input_size=I,
               hidden_size=H, output_size=O, seed=3):
    sizes = (input_size, hidden_size, output_size)
    if kind == "lstm":
        return LSTM(*sizes, num_layers=num_layers, bias=bias, peephole=peephole, seed=seed, dtype=dtype)
    assert not peephole
    return RNN(*sizes, num_layers=num_layers, bias=bias, seed=seed, dtype=dtype)


def make_batch(model, T=4, single=False, mask=None, states=False, onehot=False, batch=B, seed=0):
    """{"xs", "targets", "mask", "h0", "c0"} for `model`: mask None, "bool", "int",
    "none" (all False) or "all"; states=True gives non-zero h0 (and c0 for an LSTM) of
    the shape model.loss expects: (H,), (B, H), (L, H) or (L, B, H)."""
    rng = np.random.default_rng(seed)
    lead = (T,) if single else (T, batch)
    xs = rng.standard_normal(lead + (model.input_size,))
    targets = rng.integers(0, model.output_size, size=lead)
    if onehot == "soft":                         # rows of probabilities, not one-hot
        p = rng.random(lead + (model.output_size,))
        targets = p / p.sum(axis=-1, keepdims=True)
    elif onehot:
        targets = np.eye(model.output_size)[targets]
    m = None
    if mask == "bool":
        m = rng.random(lead) < 0.6
    elif mask == "int":
        m = (rng.random(lead) < 0.6).astype(int)
    elif mask == "none":
        m = np.zeros(lead, dtype=bool)
    elif mask == "all":
        m = np.ones(lead, dtype=bool)
    h0 = c0 = None
    if states:
        shape = ((model.num_layers,) if model.num_layers > 1 else ()) + lead[1:] + (model.hidden_size,)
        h0 = rng.standard_normal(shape)
        if "CS" in model.state_names:
            c0 = rng.standard_normal(shape)
    return {"xs": xs, "targets": targets, "mask": m, "h0": h0, "c0": c0}


def grads_of(model):
    return {name: None if p.grad is None else p.grad.copy() for name, p in model.named_parameters()}


def eager(model, xs, targets, mask=None, h0=None, c0=None):
    """(loss, {name: grad}) from model.loss(...).backward(), from zeroed gradients."""
    model.zero_grad()
    loss = model.loss(xs, targets, h0, c0, mask)
    loss.backward()
    return loss.item(), grads_of(model)


def compiled(model, xs, targets, mask=None, h0=None, c0=None, program=None):
    """(loss, {name: grad}) from compiled.loss_and_grad(...), from zeroed gradients;
    `program` is a CompiledModel to reuse (else a fresh model.compile())."""
    model.zero_grad()
    program = program if program is not None else model.compile()
    loss = program.loss_and_grad(xs, targets, mask=mask, h0=h0, c0=c0)
    assert isinstance(loss, float)
    return loss, grads_of(model)


def assert_same(a, b, rtol=1e-12, atol=1e-12):
    """Two (loss, grads) results agree: the loss and every parameter's gradient."""
    (loss_a, grads_a), (loss_b, grads_b) = a, b
    np.testing.assert_allclose(loss_a, loss_b, rtol=rtol, atol=atol)
    assert grads_a.keys() == grads_b.keys()
    for name in grads_a:
        assert grads_a[name] is not None and grads_b[name] is not None, name
        assert grads_a[name].shape == grads_b[name].shape, name
        np.testing.assert_allclose(grads_a[name], grads_b[name], rtol=rtol, atol=atol, err_msg=name)


def max_diff(a, b):
    return max(float(np.abs(a[1][n] - b[1][n]).max()) for n in a[1])


# --- 1. compiled equals eager, to 1e-12 in float64 ---------------------------------------

CASES = {
    # name: (model options, batch options)
    "lstm": ({}, {}),
    "lstm-single": ({}, {"single": True}),
    "rnn": ({"kind": "rnn"}, {}),
    "rnn-single": ({"kind": "rnn"}, {"single": True}),
    "lstm-batch1": ({}, {"batch": 1}),
    "lstm-2layers": ({"num_layers": 2}, {}),
    "lstm-2layers-single": ({"num_layers": 2}, {"single": True}),
    "rnn-2layers": ({"kind": "rnn", "num_layers": 2}, {}),
    "rnn-3layers-single": ({"kind": "rnn", "num_layers": 3}, {"single": True}),
    "lstm-peephole": ({"peephole": True}, {}),
    "lstm-peephole-single": ({"peephole": True}, {"single": True}),
    "lstm-peephole-2layers": ({"peephole": True, "num_layers": 2}, {}),
    "lstm-nobias": ({"bias": False}, {}),
    "rnn-nobias": ({"kind": "rnn", "bias": False}, {}),
    "lstm-nobias-peephole-2layers": ({"bias": False, "peephole": True, "num_layers": 2}, {}),
    "lstm-mask-TB": ({}, {"mask": "bool"}),
    "lstm-mask-T-single": ({}, {"mask": "bool", "single": True}),
    "rnn-mask-int": ({"kind": "rnn"}, {"mask": "int"}),
    "lstm-mask-all-false": ({}, {"mask": "none"}),
    "lstm-mask-all-true": ({}, {"mask": "all"}),
    "lstm-states-BH": ({}, {"states": True}),
    "lstm-states-H-single": ({}, {"states": True, "single": True}),
    "lstm-states-LBH": ({"num_layers": 2}, {"states": True}),
    "lstm-states-LH-single": ({"num_layers": 2}, {"states": True, "single": True}),
    "rnn-states-BH": ({"kind": "rnn"}, {"states": True}),
    "rnn-states-LBH": ({"kind": "rnn", "num_layers": 2}, {"states": True}),
    "lstm-onehot": ({}, {"onehot": True}),
    "rnn-onehot-single": ({"kind": "rnn"}, {"onehot": True, "single": True}),
    "lstm-soft-targets": ({}, {"onehot": "soft"}),
    "lstm-T1": ({}, {"T": 1}),
    "lstm-T1-single": ({}, {"T": 1, "single": True}),
    "rnn-T1": ({"kind": "rnn"}, {"T": 1}),
    "lstm-T1-2layers-states-mask": ({"num_layers": 2}, {"T": 1, "states": True, "mask": "bool"}),
    "lstm-everything": ({"num_layers": 2, "peephole": True},
                        {"mask": "bool", "states": True, "onehot": True, "T": 6}),
    "lstm-everything-single": ({"num_layers": 2, "peephole": True},
                               {"mask": "bool", "states": True, "onehot": True, "single": True}),
    "rnn-everything": ({"kind": "rnn", "num_layers": 2, "bias": False},
                       {"mask": "bool", "states": True, "onehot": True, "T": 6}),
}


@pytest.mark.parametrize("name", list(CASES))
def test_compiled_equals_eager(name):
    model_options, batch_options = CASES[name]
    model = make_model(**model_options)
    batch = make_batch(model, **batch_options)
    assert_same(compiled(model, **batch), eager(model, **batch))


@pytest.mark.parametrize("kind,num_layers,input_size", [
    ("lstm", 2, H),          # both layers' X_t have width 2H
    ("lstm", 3, I),          # layers 2 and 3 have the same shapes
    ("lstm", 3, H),
    ("rnn", 3, H),
    ("lstm", 2, 2 * H),
])
def test_compiled_equals_eager_for_stacks_whose_layers_have_equal_shapes(kind, num_layers, input_size):
    """Layers of equal shapes make equal-shaped scratch buffers, which the backend shares."""
    model = make_model(kind, num_layers=num_layers, input_size=input_size)
    batch = make_batch(model, T=3)
    assert_same(compiled(model, **batch), eager(model, **batch))


def test_inputs_may_be_tensors():
    model = make_model(num_layers=2)
    batch = make_batch(model, mask="bool", states=True)
    as_tensors = {k: Tensor(v) if k in ("xs", "h0", "c0") else v for k, v in batch.items()}
    as_tensors["targets"] = Tensor(batch["targets"])      # (a mask must stay bool: a Tensor holds floats)
    assert_same(compiled(model, **as_tensors), eager(model, **batch))


def test_eager_and_compiled_gradients_agree_with_finite_differences():
    """The common oracle: both paths agree with central differences (so agreeing with
    each other is not agreeing on something wrong)."""
    model = make_model(num_layers=2, input_size=2, hidden_size=2, output_size=3)
    batch = make_batch(model, T=3, mask="bool", states=True)
    numeric = numerical_gradients(lambda: model.loss(batch["xs"], batch["targets"], batch["h0"], batch["c0"],
                                                     batch["mask"]), model.parameters())
    _, grads = compiled(model, **batch)
    for (name, _), n in zip(model.named_parameters(), numeric):
        np.testing.assert_allclose(grads[name], n, rtol=1e-6, atol=1e-8, err_msg=name)


# --- 2. float32 --------------------------------------------------------------------------

@pytest.mark.parametrize("model_options,batch_options", [
    ({}, {}),
    ({"kind": "rnn", "num_layers": 2}, {"mask": "bool", "states": True}),
    ({"num_layers": 2}, {"mask": "bool", "states": True, "single": True, "onehot": True}),
    ({"peephole": True}, {"states": True}),
], ids=["lstm", "rnn-2layers", "lstm-2layers-single", "lstm-peephole"])
def test_float32_matches_eager_and_stays_float32(model_options, batch_options):
    model = make_model(dtype="float32", **model_options)
    batch = make_batch(model, **batch_options)
    ours, theirs = compiled(model, **batch), eager(model, **batch)
    for name, g in ours[1].items():
        assert g.dtype == np.float32, name
        assert theirs[1][name].dtype == np.float32, name
    assert_same(ours, theirs, rtol=1e-4, atol=1e-5)
    loss, logits, final = model.compile().run(**batch)
    assert logits.dtype == np.float32
    assert all(s.dtype == np.float32 for s in final.values())


# --- 3. accumulation ---------------------------------------------------------------------

def test_loss_and_grad_adds_into_grad_like_backward():
    model = make_model(num_layers=2)
    batch = make_batch(model, mask="bool")
    program = model.compile()
    _, once = compiled(model, **batch, program=program)
    args = (batch["xs"], batch["targets"], batch["mask"], batch["h0"], batch["c0"])
    program.loss_and_grad(*args)                        # no zero_grad: adds a second time
    for name, p in model.named_parameters():
        np.testing.assert_allclose(p.grad, 2 * once[name], **TIGHT, err_msg=name)
    model.loss(batch["xs"], batch["targets"], mask=batch["mask"]).backward()   # and eager adds a third
    for name, p in model.named_parameters():
        np.testing.assert_allclose(p.grad, 3 * once[name], **TIGHT, err_msg=name)


def test_gradients_are_arrays_of_their_own():
    """.grad is a fresh array: a later replay does not change a gradient already handed out."""
    model = make_model()
    batch = make_batch(model)
    program = model.compile()
    _, first = compiled(model, **batch, program=program)
    kept = {name: p.grad for name, p in model.named_parameters()}
    model.zero_grad()
    program.loss_and_grad(**make_batch(model, seed=1))
    for name in kept:
        np.testing.assert_array_equal(kept[name], first[name])


# --- 4. one program per signature --------------------------------------------------------

def test_a_new_signature_traces_a_new_program_and_the_same_one_does_not():
    model = make_model()
    program = model.compile()

    def check(expected_programs, **options):
        batch = make_batch(model, **options)
        assert_same(compiled(model, **batch, program=program), eager(model, **batch))
        assert len(program.programs) == expected_programs, options

    check(1, T=4)
    check(1, T=4, seed=1)                       # same shapes, new values: replayed, new gradients
    check(1, T=4, seed=2, onehot=True)          # one-hot or indices: the same program
    check(2, T=5)                               # a new T
    check(3, T=4, batch=3)                      # a new batch size
    check(4, T=4, mask="bool")                  # a mask
    check(4, T=4, mask="bool", seed=3)
    check(5, T=4, states=True)                  # h0 and c0
    check(5, T=4, states=True, seed=4)
    check(6, T=4, single=True)                  # one sequence
    check(6, T=4, seed=5)                       # the first signature again: no retrace
    replay = program.program(**make_batch(model, T=4))
    assert program.program(**make_batch(model, T=4, seed=6)) is replay


def test_h0_alone_c0_alone_and_both_are_different_signatures():
    model = make_model()
    program = model.compile()
    batch = make_batch(model, states=True)
    for given, expected in ((("h0",), 1), (("c0",), 2), (("h0", "c0"), 3), ((), 4), (("h0",), 4)):
        b = {k: v for k, v in batch.items() if k not in ("h0", "c0") or k in given}
        b.setdefault("h0", None)
        b.setdefault("c0", None)
        assert_same(compiled(model, **b, program=program), eager(model, **b))
        assert len(program.programs) == expected


# --- 5. parameters changed between replays ------------------------------------------------

def test_parameters_changed_in_place_or_replaced_give_the_new_gradients():
    model = make_model(num_layers=2)
    batch = make_batch(model, mask="bool")
    program = model.compile()
    assert_same(compiled(model, **batch, program=program), eager(model, **batch))
    rng = np.random.default_rng(7)
    for p in model.parameters():                                # in place
        p.data += 0.3 * rng.standard_normal(p.shape)
    assert_same(compiled(model, **batch, program=program), eager(model, **batch))
    for p in model.parameters():                                # a new array
        p.data = p.data + 0.3 * rng.standard_normal(p.shape)
    assert_same(compiled(model, **batch, program=program), eager(model, **batch))
    for p in model.parameters():                                # a new, non-contiguous array
        p.data = np.asfortranarray(p.data - 0.2 * rng.standard_normal(p.shape))
    assert_same(compiled(model, **batch, program=program), eager(model, **batch))
    assert len(program.programs) == 1


def test_training_with_compiled_follows_training_with_eager():
    a, b = make_model(num_layers=2), make_model(num_layers=2)
    program = b.compile()
    opt_a, opt_b = SGD(a.parameters(), lr=0.5, momentum=0.9), SGD(b.parameters(), lr=0.5, momentum=0.9)
    for step in range(4):
        batch = make_batch(a, seed=step, mask="bool")
        opt_a.zero_grad()
        a.loss(batch["xs"], batch["targets"], mask=batch["mask"]).backward()
        opt_a.step()
        opt_b.zero_grad()
        program.loss_and_grad(batch["xs"], batch["targets"], mask=batch["mask"])
        opt_b.step()
    for (name, p), q in zip(a.named_parameters(), b.parameters()):
        np.testing.assert_allclose(q.data, p.data, rtol=1e-11, atol=1e-11, err_msg=name)


# --- 6. eager and compiled share the ops' rules -------------------------------------------

def _wrong_sigmoid_backward(g, z, x):
    return (g * z,)                                     # drops the (1 − z)


def _wrong_tanh_backward(g, z, x):
    return (g * (1 - z),)                               # 1 − z instead of 1 − z²


def _wrong_affine_backward(g, z, x, w, b=None):
    rows, x_rows = (g, x) if g.ndim == 2 else (g[None, :], x[None, :])
    grads = (g @ w, rows.T @ x_rows)
    return grads if b is None else grads + (2 * rows.sum(axis=0),)       # twice the bias gradient


@pytest.mark.parametrize("kind,op,wrong", [
    ("lstm", ops.Sigmoid, _wrong_sigmoid_backward),
    ("rnn", ops.Tanh, _wrong_tanh_backward),
    ("lstm", ops.Tanh, _wrong_tanh_backward),
    ("rnn", ops.Affine, _wrong_affine_backward),
    ("lstm", ops.Affine, _wrong_affine_backward),   # the four gates' products are fused in the program
])
def test_a_bug_planted_in_an_op_breaks_eager_and_compiled_alike(monkeypatch, kind, op, wrong):
    model = make_model(kind, num_layers=2)
    batch = make_batch(model, mask="bool", states=True)
    right = eager(model, **batch)
    before = model.compile()
    assert_same(compiled(model, **batch, program=before), right)
    monkeypatch.setattr(op, "backward", staticmethod(wrong))
    broken_eager = eager(model, **batch)
    broken_compiled = compiled(model, **batch)                  # a fresh trace, of the new rule
    assert_same(broken_compiled, broken_eager)
    assert max_diff(broken_eager, right) > 1e-4                 # the bug shows
    assert_same(compiled(model, **batch, program=before), right)    # traced before: keeps the old rule


@pytest.mark.parametrize("kind,num_layers", [("lstm", 1), ("lstm", 2), ("rnn", 2)])
def test_a_rule_written_differently_still_gives_the_same_gradients(monkeypatch, kind, num_layers):
    """The passes recognise affine's gᵀX; a rule written otherwise is still compiled
    correctly (step by step instead of one product after the loop)."""
    def affine_backward(g, z, x, w, b=None):
        rows, x_rows = (g, x) if g.ndim == 2 else (g[None, :], x[None, :])
        grads = (g @ w, (x_rows.T @ rows).T)
        return grads if b is None else grads + (rows.T.sum(axis=1),)
    model = make_model(kind, num_layers=num_layers)
    batch = make_batch(model, mask="bool", states=True)
    right = eager(model, **batch)
    monkeypatch.setattr(ops.Affine, "backward", staticmethod(affine_backward))
    assert_same(eager(model, **batch), right)
    assert_same(compiled(model, **batch), right)


# --- 7. the program does not grow with T --------------------------------------------------

def _size(replay):
    program = replay.program
    return (tuple(len(v) for v in program.sections.values()), len(program.post), len(program.accumulate))


@pytest.mark.parametrize("kind", ["lstm", "rnn"])
def test_the_program_is_the_same_size_for_any_T(kind):
    model = make_model(kind, num_layers=2)
    program = model.compile()
    short = program.program(**make_batch(model, T=5))
    long = program.program(**make_batch(model, T=500))
    assert short is not long
    assert _size(short) == _size(long)
    assert sum(len(v) for v in short.program.sections.values()) < 400
    assert len(short.source.splitlines()) == len(long.source.splitlines())


# --- 8. the program is plain data ----------------------------------------------------------

KINDS = {"ufunc", "matmul", "reduce", "join", "view", "fresh", "mutate"}
BACKWARD_CALLS = {"add", "subtract", "multiply", "divide", "negative", "matmul", "tanh", "exp",
                  "getitem", ".sum", ".reshape", ".transpose", ".swapaxes", "broadcast_to", "concatenate"}


def _is_numpy(call):
    if call == "getitem":
        return True
    if call.startswith("."):
        return hasattr(np.ndarray, call[1:])
    return hasattr(np, call)


@pytest.mark.parametrize("model_options", [{}, {"num_layers": 2, "peephole": True}, {"kind": "rnn"}],
                         ids=["lstm", "lstm-2layers-peephole", "rnn"])
def test_the_program_is_plain_numpy_calls(model_options):
    model = make_model(**model_options)
    replay = model.compile().program(**make_batch(model, mask="bool"))
    text = str(replay)
    headers = [line for line in text.splitlines() if not line.startswith(" ")]
    assert [h.split(":")[0] for h in headers] == ["pre", "forward", "head", "backward", "post"]
    assert headers[1].startswith("forward: for t = 1")
    assert headers[3].startswith("backward: for t = T")
    sections = replay.program.sections
    assert list(sections) == ["pre", "forward", "head", "backward", "post"]
    for name, instrs in sections.items():
        for instr in instrs:
            assert isinstance(instr.call, str) and _is_numpy(instr.call), (name, str(instr))
            assert instr.kind in KINDS, (name, str(instr))
    backward = sections["backward"]
    assert backward, "the backward loop is empty"
    assert {i.call for i in backward} <= BACKWARD_CALLS, {i.call for i in backward} - BACKWARD_CALLS
    body = "\n".join(str(i) for i in backward).lower()
    assert not re.search(r"sigmoid|lstm|rnn|cell|gate|backward", body)
    assert "def replay" in replay.source and "np." in replay.source


# --- 9. the same errors as model.loss -----------------------------------------------------

def _rnn():
    return make_model("rnn")


ERRORS = {
    "input width": (make_model, lambda b: dict(b, xs=b["xs"][..., :2])),
    "1-d input": (make_model, lambda b: dict(b, xs=b["xs"][:, 0, 0])),
    "empty input": (make_model, lambda b: dict(b, xs=b["xs"][:0], targets=b["targets"][:0])),
    "target shape": (make_model, lambda b: dict(b, targets=b["targets"][:, :1])),
    "target index": (make_model, lambda b: dict(b, targets=b["targets"] + O)),
    "float targets": (make_model, lambda b: dict(b, targets=b["targets"] + 0.5)),
    "c0 for an rnn": (_rnn, lambda b: dict(b, c0=np.zeros((B, H)))),
    "h0 shape": (make_model, lambda b: dict(b, h0=np.zeros((H,)))),
    "c0 shape": (make_model, lambda b: dict(b, c0=np.zeros((B + 1, H)))),
    "mask shape": (make_model, lambda b: dict(b, mask=np.ones(len(b["xs"]), dtype=bool))),
    "mask values": (make_model, lambda b: dict(b, mask=np.full(b["targets"].shape, 2))),
}


@pytest.mark.parametrize("name", list(ERRORS))
def test_bad_inputs_give_the_errors_model_loss_gives(name):
    make, spoil = ERRORS[name]
    model = make()
    batch = spoil(make_batch(model))
    with pytest.raises((ValueError, TypeError)) as expected:
        model.loss(batch["xs"], batch["targets"], batch["h0"], batch["c0"], batch["mask"])
    program = model.compile()
    for call in (program.loss_and_grad, program.run, program.program):
        with pytest.raises(expected.type, match=re.escape(str(expected.value))):
            call(batch["xs"], batch["targets"], mask=batch["mask"], h0=batch["h0"], c0=batch["c0"])
    assert program.programs == {}
    assert all(p.grad is None for p in model.parameters())


def test_named_errors():
    model = make_model()
    batch = make_batch(model)
    program = model.compile()
    with pytest.raises(ValueError, match="input width 2 but the model's input_size is 3"):
        program.loss_and_grad(batch["xs"][..., :2], batch["targets"])
    with pytest.raises(ValueError, match="targets must be class indices of shape"):
        program.loss_and_grad(batch["xs"], batch["targets"][:-1])
    with pytest.raises(ValueError, match="RNN has no cell state: c0 must be None"):
        _rnn().compile().loss_and_grad(batch["xs"], batch["targets"], c0=np.zeros((B, H)))


# --- 10. run: logits and final states ------------------------------------------------------

@pytest.mark.parametrize("model_options,batch_options", [
    ({}, {}),
    ({}, {"single": True, "states": True}),
    ({"num_layers": 2, "peephole": True}, {"states": True, "mask": "bool"}),
    ({"num_layers": 2}, {"single": True}),
    ({"kind": "rnn"}, {"states": True}),
    ({"kind": "rnn", "num_layers": 3}, {"single": True, "states": True}),
], ids=["lstm", "lstm-single-states", "lstm-2layers-peephole", "lstm-2layers-single", "rnn",
        "rnn-3layers-single"])
def test_run_returns_the_logits_and_final_states_of_the_model(model_options, batch_options):
    model = make_model(**model_options)
    batch = make_batch(model, **batch_options)
    model.zero_grad()
    loss, logits, final = model.compile().run(**batch)
    expected_logits, expected_states = model(batch["xs"], batch["h0"], batch["c0"])
    np.testing.assert_allclose(logits, expected_logits.data, **TIGHT)
    if "CS" not in model.state_names:
        expected_states = (expected_states,)
    expected = dict(zip(model.state_names, expected_states))
    assert set(final) == set(expected)
    for name in expected:
        assert final[name].shape == expected[name].shape, name
        np.testing.assert_allclose(final[name], expected[name].data, **TIGHT, err_msg=name)
    np.testing.assert_allclose(loss, model.loss(batch["xs"], batch["targets"], batch["h0"], batch["c0"],
                                                batch["mask"]).item(), **TIGHT)


def test_run_returns_copies():
    model = make_model(num_layers=2)
    program = model.compile()
    _, logits, final = program.run(**make_batch(model))
    kept = logits.copy(), {k: v.copy() for k, v in final.items()}
    program.run(**make_batch(model, seed=1))                   # same signature, new values
    np.testing.assert_array_equal(logits, kept[0])
    for k in final:
        np.testing.assert_array_equal(final[k], kept[1][k])


# --- 11. no_grad -----------------------------------------------------------------------

def test_no_grad_does_not_stop_the_compiled_path():
    """Eager under no_grad records nothing (backward() refuses); the compiled path computes
    gradients anyway, tracing or replaying, and leaves grad mode as it found it."""
    model = make_model(num_layers=2)
    batch = make_batch(model, mask="bool", states=True)
    right = eager(model, **batch)
    program = model.compile()
    with no_grad():
        with pytest.raises(RuntimeError, match="does not require grad"):
            model.loss(batch["xs"], batch["targets"], batch["h0"], batch["c0"], batch["mask"]).backward()
        assert_same(compiled(model, **batch, program=program), right)       # traced under no_grad
        assert not is_grad_enabled()
        assert_same(compiled(model, **batch, program=program), right)       # replayed under no_grad
        assert not is_grad_enabled()
    assert is_grad_enabled()
    assert_same(compiled(model, **batch, program=program), right)


# --- 12. ten thousand steps ---------------------------------------------------------------

def test_ten_thousand_steps_forward_and_backward_on_both_paths():
    """The eager graph of a 10,000-step LSTM (~170,000 nodes) backpropagates without
    recursion, and the compiled scan gives the same loss and gradients."""
    model = make_model(input_size=1, hidden_size=2, output_size=2)
    rng = np.random.default_rng(0)
    xs, ys = rng.standard_normal((10_000, 1)), rng.integers(0, 2, 10_000)
    result = eager(model, xs, ys)
    assert all(np.all(np.isfinite(g)) and np.any(g != 0) for g in result[1].values())
    assert_same(compiled(model, xs, ys), result, rtol=1e-11)


@pytest.mark.parametrize("kind", ["lstm", "rnn"])
def test_no_section_computes_the_same_thing_twice(kind):
    """Common subexpressions are computed once: the loss's backward rule recomputes the
    log-softmax that its forward rule made, and the program keeps one."""
    replay = make_model(kind, num_layers=2).compile().program(**make_batch(make_model(kind, num_layers=2)))
    for name, instrs in replay.program.sections.items():
        seen = [(i.call, tuple(map(repr, i.args)), tuple(sorted(i.kwargs.items(), key=str))) for i in instrs
                if i.kind not in ("fresh", "mutate")]
        assert len(seen) == len(set(map(str, seen))), name
    assert sum(i.call == "log" for i in replay.program.sections["head"]) == 1


# --- 13. steps of one's own: the passes keep to their preconditions -----------------------

class _TwoMaps(RNN):
    """HS_t = tanh(W_a X_t + W_b X_t (+ b_a)): two products of one X_t whose gradients are
    one array, and optionally one bias of the two."""

    def __init__(self, bias_on_a=False):
        super().__init__(3, 4, 3, seed=0)
        rng = np.random.default_rng(0)
        kept = {k: v for k, v in self._parameters.items() if k in ("W_hy", "b_y")}
        self._parameters = {k: Tensor(rng.uniform(-.5, .5, (4, 7)), requires_grad=True, name=k)
                            for k in ("W_a", "W_b")}
        if bias_on_a:
            self._parameters["b_a"] = Tensor(rng.uniform(-.5, .5, 4), requires_grad=True, name="b_a")
        self._parameters.update(kept)

    def step(self, x_t, layers, named):
        P = self._parameters
        X = ops.concat([layers[0][0], x_t], axis=-1)
        HS = (ops.affine(X, P["W_a"], P.get("b_a")) + ops.affine(X, P["W_b"])).tanh()
        layers[0][0] = HS
        return HS


class _TiedState(LSTM):
    """The cell state carried on is the hidden state: two states that are one tensor."""

    def step(self, x_t, layers, named):
        HS = super().step(x_t, layers, named)
        layers[1][0] = layers[0][0]
        return HS


@pytest.mark.parametrize("model", [_TwoMaps(), _TwoMaps(bias_on_a=True), _TiedState(3, 4, 3, seed=0)],
                         ids=["shared-gradient", "one-bias-of-two", "tied-states"])
def test_steps_that_break_the_fused_patterns_still_compile_right(model):
    batch = make_batch(model, T=5)
    assert_same(compiled(model, **batch), eager(model, **batch))


def test_freezing_a_parameter_after_compiling_retraces():
    model = make_model()
    program = model.compile()
    batch = make_batch(model)
    compiled(model, **batch, program=program)
    W_f = dict(model.named_parameters())["W_f"]
    W_f.requires_grad = False
    (loss, grads), (right_loss, right) = compiled(model, **batch, program=program), eager(model, **batch)
    assert grads["W_f"] is None and right["W_f"] is None and len(program.programs) == 2
    np.testing.assert_allclose(loss, right_loss, rtol=1e-12)
    for name in right.keys() - {"W_f"}:
        np.testing.assert_allclose(grads[name], right[name], rtol=1e-12, atol=1e-12, err_msg=name)


def test_float64_data_promotes_a_float32_model_as_eager_does():
    """The states are computed in float64, as eager computes them (the loss to 1e-12); the
    float32 parameters' gradients agree to float32 rounding."""
    model = make_model(dtype="float32")
    batch = make_batch(model)
    batch["xs"] = Tensor(batch["xs"], dtype="float64")
    (loss, grads), (right_loss, right) = compiled(model, **batch), eager(model, **batch)
    np.testing.assert_allclose(loss, right_loss, rtol=1e-12)
    for name in right:
        assert grads[name].dtype == np.float32
        np.testing.assert_allclose(grads[name], right[name], rtol=1e-5, atol=1e-9, err_msg=name)
