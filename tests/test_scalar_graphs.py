"""Scalar graphs as micrograd builds them: 0-d tensors joined by +, *, −, /, neg, tanh, exp,
log and sigmoid, with fan-out and reused nodes, up to a small MLP on scalars.

Every graph's gradients are checked against finite differences (always) and against
PyTorch's autograd (when torch is installed), leaves and interior nodes alike. Then what
went wrong before (issue 12): `x + x + x + x` gave dL/dx = 2 instead of 4, because the
gradients of a 0-d node's uses were not all added up. And the gradient arrays themselves:
one ndarray of its own per node (never a numpy scalar, never shared with another node),
with the node's dtype and shape.
"""
import math

import numpy as np
import pytest

from tinygrad_lstm import Tensor, stack
from tinygrad_lstm.gradcheck import check_gradients
from tinygrad_lstm.tensor import topological_order


# --- the graphs ------------------------------------------------------------------------
# Each is f(v, keep, stack): v the input tensors, keep(name, t) marks an interior node whose
# gradient is compared too (and returns t), stack is tinygrad_lstm.stack or torch.stack.
# The same code builds our graph and torch's: both spell these ops alike.

def _fan_out(v, keep, stack):
    x, y = v
    a = keep("a", x * y)                                   # a has five uses
    return a + a * a + a.tanh() + a.exp() - a / 3


def _micrograd_sanity(v, keep, stack):
    # micrograd's test_sanity_check, with its relu replaced by tanh and sigmoid
    (x,) = v
    z = keep("z", 2 * x + 2 + x)
    q = keep("q", z.tanh() + z * x)
    h = keep("h", (z * z).sigmoid())
    return h + q + q * x


def _micrograd_more_ops(v, keep, stack):
    # micrograd's test_more_ops (b**3 as b*b*b, e**2 as e*e, relu as tanh and sigmoid)
    a, b = v
    c = a + b
    d = a * b + b * b * b
    c = c + c + 1
    c = keep("c", c + 1 + c + (-a))
    d = d + d * 2 + (b + a).tanh()
    d = keep("d", d + 3 * d + (b - a).sigmoid())
    e = keep("e", c - d)
    f = keep("f", e * e)
    g = f / 2.0
    return g + 10.0 / f


def _neuron(v, keep, stack):
    # one micrograd neuron: o = tanh(x1 w1 + x2 w2 + b)
    x1, w1, x2, w2, b = v
    n = keep("n", x1 * w1 + x2 * w2 + b)
    return n.tanh()


def _mlp(v, keep, stack):
    # a 3-2-1 MLP on scalars (tanh hidden layer, linear output) and its squared error
    x, W1, b1, w2, b2 = v[0:3], v[3:9], v[9:11], v[11:13], v[13]
    hidden = []
    for j in range(2):
        act = b1[j]
        for i in range(3):
            act = act + W1[3 * j + i] * x[i]
        hidden.append(keep(f"h{j}", act.tanh()))
    out = keep("out", hidden[0] * w2[0] + hidden[1] * w2[1] + b2)
    err = out - 0.5
    return err * err


def _stack_of_scalars(v, keep, stack):
    x, y = v
    s = keep("s", stack([x, y, x * y, x.exp(), x]))        # x stacked twice, and inside x*y, exp
    return s[0] - s[1] * 2 + s[2] * 3 + s[3] * 0.5 + s[4] * 4 + (s * s).sum()


GRAPHS = {
    # name: (graph, input values; positive where log or a divisor needs it)
    "add": (lambda v, k, s: v[0] + v[1], [0.7, -1.3]),
    "mul": (lambda v, k, s: v[0] * v[1], [0.7, -1.3]),
    "sub": (lambda v, k, s: v[0] - v[1], [0.7, -1.3]),
    "div": (lambda v, k, s: v[0] / v[1], [0.7, -1.3]),
    "neg": (lambda v, k, s: -v[0], [0.7]),
    "tanh": (lambda v, k, s: v[0].tanh(), [0.7]),
    "exp": (lambda v, k, s: v[0].exp(), [0.7]),
    "log": (lambda v, k, s: v[0].log(), [0.7]),
    "sigmoid": (lambda v, k, s: v[0].sigmoid(), [-0.7]),
    "numbers-on-either-side": (lambda v, k, s: 3 + v[0] * 2 - (1 - v[0]) / 4 + 2 / v[0], [0.7]),
    "x+x+x+x": (lambda v, k, s: v[0] + v[0] + v[0] + v[0], [3.0]),
    "x*x*x": (lambda v, k, s: v[0] * v[0] * v[0], [-1.5]),
    "log-sum-exp": (lambda v, k, s: (k("sum", v[0].exp() + v[1].exp() + v[2].exp())).log(), [0.3, -1.2, 2.0]),
    "sigmoid-reused": (lambda v, k, s: (z := k("s", v[0].sigmoid())) * (1 - z), [0.4]),   # σ(1 − σ)
    "fan-out": (_fan_out, [0.7, -0.4]),
    "micrograd-sanity": (_micrograd_sanity, [-4.0]),
    "micrograd-more-ops": (_micrograd_more_ops, [-4.0, 2.0]),
    "neuron": (_neuron, [2.0, -3.0, 0.0, 1.0, 6.8813735870195432]),
    "mlp": (_mlp, [0.5, -1.0, 2.0, 0.1, -0.2, 0.3, -0.4, 0.5, -0.6, 0.05, -0.05, 0.7, -0.8, 0.1]),
    "stack": (_stack_of_scalars, [0.7, -0.4]),
}
SHAPES = {"0-d": (), "one-element": (1,)}


def build(name, shape=(), dtype=np.float64):
    """The graph's input leaves, its output, and its kept interior nodes, in our engine."""
    graph, values = GRAPHS[name]
    inputs = [Tensor(np.full(shape, v), requires_grad=True, dtype=dtype) for v in values]
    kept = {}

    def keep(key, t):
        kept[key] = t
        return t

    return inputs, graph(inputs, keep, stack), kept


# --- against finite differences, always; against torch, when installed ------------------

@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
@pytest.mark.parametrize("name", GRAPHS)
def test_scalar_graph_matches_finite_differences(name, shape):
    inputs, out, _ = build(name, shape)
    assert out.shape == shape
    graph = GRAPHS[name][0]
    pairs = check_gradients(lambda: graph(inputs, lambda key, t: t, stack), inputs)
    for t, (autodiff, numeric) in zip(inputs, pairs):
        assert type(autodiff) is np.ndarray and autodiff.shape == shape
        np.testing.assert_allclose(autodiff, numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
@pytest.mark.parametrize("name", GRAPHS)
def test_scalar_graph_matches_torch(name, shape):
    torch = pytest.importorskip("torch")
    graph, values = GRAPHS[name]
    inputs, out, kept = build(name, shape)
    out.backward()

    theirs = [torch.full(shape, v, dtype=torch.float64, requires_grad=True) for v in values]
    their_kept = {}

    def keep(key, t):
        t.retain_grad()                  # torch keeps interior gradients only when asked
        their_kept[key] = t
        return t

    their_out = graph(theirs, keep, torch.stack)
    their_out.backward()
    np.testing.assert_allclose(out.data, their_out.detach().numpy(), rtol=1e-12, atol=1e-12)
    for ours, t in zip(inputs, theirs):
        np.testing.assert_allclose(ours.grad, t.grad.numpy(), rtol=1e-10, atol=1e-12)
    assert kept.keys() == their_kept.keys()
    for key in kept:
        np.testing.assert_allclose(kept[key].grad, their_kept[key].grad.numpy(), rtol=1e-10, atol=1e-12,
                                   err_msg=key)


def test_the_neuron_of_micrograd_s_lecture_has_its_known_gradients():
    (x1, w1, x2, w2, b), o, kept = build("neuron")
    o.backward()
    assert o.item() == pytest.approx(math.sqrt(0.5), abs=1e-9)      # tanh(n) = 0.7071
    assert kept["n"].grad == pytest.approx(0.5, abs=1e-9)           # 1 − o² = 0.5
    for t, expected in ((x1, -1.5), (w1, 1.0), (x2, 0.5), (w2, 0.0), (b, 0.5)):
        assert t.grad == pytest.approx(expected, abs=1e-9)


# --- the old bug: every use of a 0-d (or one-element) node adds its gradient ------------

def test_x_plus_x_plus_x_plus_x_gives_4():
    x = Tensor(3.0, requires_grad=True)
    (x + x + x + x).backward()
    assert x.grad == 4.0                  # it gave 2
    assert type(x.grad) is np.ndarray and x.grad.shape == () and x.grad.dtype == np.float64


@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
@pytest.mark.parametrize("uses", [3, 4, 7])
def test_every_use_of_a_scalar_adds_its_gradient(shape, uses):
    x = Tensor(np.full(shape, 3.0), requires_grad=True)
    out = x
    for _ in range(uses - 1):
        out = out + x                      # a chain: x feeds every add
    out.backward()
    np.testing.assert_array_equal(x.grad, np.full(shape, float(uses)))

    y = Tensor(np.full(shape, 3.0), requires_grad=True)
    sum([y] * uses).backward()             # 0 + y + y + ...: the same, built by Python's sum
    np.testing.assert_array_equal(y.grad, np.full(shape, float(uses)))


@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
def test_a_scalar_feeding_different_ops_gets_each_one_s_gradient(shape):
    x = Tensor(np.full(shape, 0.6), requires_grad=True)
    (x * 2 + x.tanh() + x.exp() - x + x / 4 + x * x).backward()
    v = 0.6
    expected = 2 + (1 - math.tanh(v) ** 2) + math.exp(v) - 1 + 0.25 + 2 * v
    np.testing.assert_allclose(x.grad, np.full(shape, expected), rtol=1e-14)


@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
def test_an_interior_scalar_with_three_consumers(shape):
    x = Tensor(np.full(shape, 1.5), requires_grad=True)
    y = Tensor(np.full(shape, -0.5), requires_grad=True)
    a = x * y                              # a = −0.75; L = a + a + a·a, dL/da = 2 + 2a = 0.5
    (a + a + a * a).backward()
    np.testing.assert_allclose(a.grad, np.full(shape, 0.5), rtol=1e-14)
    np.testing.assert_allclose(x.grad, np.full(shape, 0.5 * -0.5), rtol=1e-14)
    np.testing.assert_allclose(y.grad, np.full(shape, 0.5 * 1.5), rtol=1e-14)


@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
def test_backward_twice_through_a_reused_scalar_loss_gives_twice_the_gradient(shape):
    inputs, loss, kept = build("micrograd-sanity", shape)
    loss.backward()
    first = [t.grad.copy() for t in inputs] + [t.grad.copy() for t in kept.values()]
    loss.backward()
    second = [t.grad for t in inputs] + [t.grad for t in kept.values()]
    for a, b in zip(first, second):
        np.testing.assert_allclose(b, 2 * a, rtol=1e-14)
    np.testing.assert_array_equal(loss.grad, np.full(shape, 2.0))    # the seed accumulates too


@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
def test_an_explicit_seed_scales_a_scalar_s_gradients(shape):
    inputs, loss, _ = build("fan-out", shape)
    loss.backward()
    once = [t.grad.copy() for t in inputs]
    for t in inputs:
        t.grad = None
    loss.backward(np.full(shape, 2.5))
    for t, g in zip(inputs, once):
        np.testing.assert_allclose(t.grad, 2.5 * g, rtol=1e-14)


def test_a_stack_of_0d_tensors_sends_each_its_own_element():
    x = Tensor(0.7, requires_grad=True)
    y = Tensor(-0.4, requires_grad=True)
    s = stack([x, y, x * y, x])            # shape (4,); x sits at 0 and 3, and inside x*y at 2
    assert s.shape == (4,)
    (s * np.array([1.0, -2.0, 3.0, 4.0])).sum().backward()
    assert x.grad == pytest.approx(1.0 + 3.0 * -0.4 + 4.0, abs=1e-15)
    assert y.grad == pytest.approx(-2.0 + 3.0 * 0.7, abs=1e-15)
    np.testing.assert_array_equal(s.grad, [1.0, -2.0, 3.0, 4.0])
    assert x.grad.shape == () and y.grad.shape == ()


# --- the gradient arrays: one of its own per node, an ndarray of the node's dtype and shape ---

def _graph_nodes(out):
    return [t for t in topological_order(out) if t.requires_grad]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
@pytest.mark.parametrize("name", GRAPHS)
def test_every_grad_is_an_ndarray_of_the_node_s_dtype_and_shape(name, shape, dtype):
    inputs, out, _ = build(name, shape, dtype)
    out.backward()
    for t in topological_order(out):
        if not t.requires_grad:            # constants: no gradient at all
            assert t.grad is None
            continue
        assert type(t.grad) is np.ndarray, (t, type(t.grad))       # not np.float64 / np.float32
        assert t.grad.dtype == t.dtype == np.dtype(dtype) and t.grad.shape == t.shape, t


def test_mixed_dtype_scalars_keep_their_own_gradient_dtype():
    a = Tensor(np.float32(0.5), requires_grad=True)
    b = Tensor(np.float64(2.0), requires_grad=True)
    out = (a * b).tanh() + a
    assert out.dtype == np.float64
    out.backward()
    for t, dtype in ((a, np.float32), (b, np.float64)):
        assert type(t.grad) is np.ndarray and t.grad.dtype == dtype and t.grad.shape == ()


@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
def test_interior_nodes_never_share_a_gradient_array(shape):
    x = Tensor(np.full(shape, 1.0), requires_grad=True)
    y = Tensor(np.full(shape, 2.0), requires_grad=True)
    a = x + y                              # add hands one upstream array to both its inputs
    b = a + y
    c = b + a
    c.backward()                           # dc/db = 1, dc/da = 2, dc/dx = 2, dc/dy = 3
    grads = {"a": a.grad, "b": b.grad, "c": c.grad, "x": x.grad, "y": y.grad}
    for key, value in {"a": 2.0, "b": 1.0, "c": 1.0, "x": 2.0, "y": 3.0}.items():
        np.testing.assert_array_equal(grads[key], np.full(shape, value), err_msg=key)
    assert a.grad is not b.grad and b.grad is not c.grad and x.grad is not y.grad
    a.grad[...] = 0                        # zeroing one (in place, as an optimizer may)...
    np.testing.assert_array_equal(b.grad, np.full(shape, 1.0))     # ...leaves the others
    np.testing.assert_array_equal(c.grad, np.full(shape, 1.0))
    np.testing.assert_array_equal(x.grad, np.full(shape, 2.0))
    np.testing.assert_array_equal(y.grad, np.full(shape, 3.0))
    b.grad *= 0
    np.testing.assert_array_equal(c.grad, np.full(shape, 1.0))


@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
@pytest.mark.parametrize("name", GRAPHS)
def test_no_gradient_array_is_shared_with_another_node_or_any_data(name, shape):
    _, out, _ = build(name, shape)
    out.backward()
    everything = topological_order(out)
    nodes = [t for t in everything if t.requires_grad]
    for t in nodes:
        assert t.grad.flags.writeable, t
        others = [u.grad for u in nodes if u is not t] + [u.data for u in everything]
        assert not any(np.shares_memory(t.grad, o) for o in others), t
    before = [t.grad.copy() for t in nodes]
    for k, t in enumerate(nodes):          # zero each in place: every other gradient stays
        t.grad[...] = 0
        for j, u in enumerate(nodes):
            np.testing.assert_array_equal(u.grad, 0 * before[j] if j == k else before[j])
        t.grad[...] = before[k]
