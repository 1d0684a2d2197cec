"""backward(): reused nodes, diamonds, accumulation, depth, no_grad, detach, scope, the graph links."""
import numpy as np
import pytest

from tinygrad_lstm import Tensor, concat, no_grad, scope
from tinygrad_lstm.gradcheck import check_gradients


def leaf(*shape, seed=0):
    return Tensor(np.random.default_rng(seed).standard_normal(shape), requires_grad=True)


def test_reused_node_accumulates_every_use():
    x = leaf(3)
    ((x + x) * x).sum().backward()          # d/dx 2x² = 4x
    np.testing.assert_allclose(x.grad, 4 * x.data)


def test_diamond_agrees_with_finite_differences():
    x = leaf(2, 3)

    def loss():
        a = x * 2.0
        return (a.tanh() * a.exp() + a.sigmoid()).sum()   # a feeds three branches that rejoin

    for autodiff, numeric in check_gradients(loss, [x]):
        np.testing.assert_allclose(autodiff, numeric, rtol=1e-6, atol=1e-9)


def test_gradients_accumulate_across_backward_calls():
    x = leaf(3)
    y = (x * x).tanh()
    loss = y.sum()
    loss.backward()
    first_x, first_y = x.grad.copy(), y.grad.copy()
    loss.backward()
    np.testing.assert_allclose(x.grad, 2 * first_x)
    np.testing.assert_allclose(y.grad, 2 * first_y)   # intermediates accumulate the same way


def test_zeroing_is_explicit():
    x = leaf(3)
    (x * 3.0).sum().backward()
    x.grad = None
    (x * 3.0).sum().backward()
    np.testing.assert_allclose(x.grad, np.full(3, 3.0))


def test_intermediate_gradients_are_kept_for_inspection():
    x = leaf(4)
    h = x.tanh()
    (h * h).sum().backward()
    np.testing.assert_allclose(h.grad, 2 * h.data)


def test_deep_chain_of_100k_ops_needs_no_recursion():
    x = leaf(2)
    y = x
    for _ in range(100_000):
        y = y * 0.99999
    y.sum().backward()
    np.testing.assert_allclose(x.grad, np.full(2, 0.99999 ** 100_000), rtol=1e-9)


def test_leaf_gradients_are_separate_writable_buffers():
    a, b = leaf(3, seed=1), leaf(3, seed=2)
    (a + b).sum().backward()    # add hands the same upstream array to both inputs
    assert a.grad is not b.grad
    a.grad *= 0.5               # what an optimizer's clipping does
    np.testing.assert_allclose(b.grad, np.ones(3))


def test_only_tensors_that_require_grad_receive_one():
    w, data = leaf(3), Tensor(np.ones(3))
    (w * data).sum().backward()
    assert data.grad is None and data.op == "" and not data.requires_grad
    np.testing.assert_allclose(w.grad, np.ones(3))


def test_explicit_gradient_for_a_non_scalar_output():
    x = leaf(2, 3)
    seed = np.arange(6.0).reshape(2, 3)
    (x * 3.0).backward(seed)
    np.testing.assert_allclose(x.grad, 3 * seed)


def test_no_grad_records_nothing_and_restores():
    w = leaf(3)
    with no_grad():
        y = (w * 2.0).tanh()
        with no_grad():
            pass
        z = w * 1.0                 # still off after the nested block closes
    assert (y.op, y.parents, y.requires_grad) == ("", (), False)
    assert not z.requires_grad
    assert (w * 2.0).requires_grad  # on again after the block


def test_no_grad_restores_after_an_exception():
    with pytest.raises(ZeroDivisionError):
        with no_grad():
            1 / 0
    assert (leaf(2) * 2.0).requires_grad


def test_detach_cuts_the_graph():
    x = leaf(3)
    h = (x * 2.0).tanh()
    (h.detach() * x).sum().backward()     # only the direct path to x remains
    np.testing.assert_allclose(x.grad, h.data)


def test_scope_tags_what_is_made_inside_and_nests():
    x = leaf(2)
    with scope("t=1"):
        a = x.tanh()
        with scope("layer2"):
            b = a * 2.0
        c = a + b
    d = c.exp()
    assert (x.scope, a.scope, b.scope, c.scope, d.scope) == (None, "t=1", "t=1/layer2", "t=1", None)


def test_graph_links_name_the_op_and_its_inputs():
    W = Tensor(np.ones((2, 5)), requires_grad=True, name="W_f")
    X = Tensor(np.ones((5, 1)))
    pre = W @ X
    F = pre.sigmoid().named("F_t")
    H = concat([F, X[:2]], axis=0)
    assert (F.op, F.name, F.parents) == ("sigmoid", "F_t", (pre,))
    assert pre.op == "matmul" and pre.parents == (W, X)
    assert H.op == "concat" and H.parents[0] is F
    assert H.parents[1].op == ""    # X[:2] involves no tensor that requires grad: a constant leaf
    assert (W.op, W.parents) == ("", ())


def test_gradient_reaches_through_softmax_cross_entropy_as_probabilities_minus_one_hot():
    from tinygrad_lstm import cross_entropy
    z = leaf(4, 3)
    target = np.array([0, 2, 1, 1])
    cross_entropy(z, target, reduction="sum").backward()
    probs = np.exp(z.data) / np.exp(z.data).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(z.grad, probs - np.eye(3)[target], atol=1e-15)


def test_sigmoid_is_exact_and_silent_far_into_the_tails():
    x = Tensor([-800.0, -40.0, 0.0, 40.0, 800.0], requires_grad=True)
    s = x.sigmoid()          # no overflow warning (warnings are errors in this suite)
    np.testing.assert_allclose(s.data[1:4], [1 / (1 + np.exp(40.0)), 0.5, 1 / (1 + np.exp(-40.0))],
                               rtol=1e-3, atol=1e-16)
    assert s.data[0] == 0.0 and s.data[4] == 1.0
