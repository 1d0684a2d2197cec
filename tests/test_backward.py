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


@pytest.mark.parametrize("needs", [(False, True, False), (True, False, False), (False, False, True),
                                   (True, False, True), (True, True, True)])
def test_concat_then_matmul_gives_the_inputs_that_need_one_their_exact_gradient(needs):
    # the matmul computes only the columns of [a; b; c] that some input needs (an LSTM's
    # X_t = [HS; x_t] with data x_t): the others must come out absent, the rest exact
    rng = np.random.default_rng(0)
    parts = [Tensor(rng.standard_normal((3, n)), requires_grad=need) for n, need in zip((2, 3, 4), needs)]
    W = leaf(9, 5)
    R = rng.standard_normal((3, 5))
    (concat(parts, axis=1) @ W * R).sum().backward()
    full = R @ W.data.T                       # dL/d[a; b; c] in closed form
    for part, need, cols in zip(parts, needs, (slice(0, 2), slice(2, 5), slice(5, 9))):
        if need:
            np.testing.assert_allclose(part.grad, full[:, cols], rtol=1e-12)
        else:
            assert part.grad is None
    np.testing.assert_allclose(W.grad, np.concatenate([p.data for p in parts], axis=1).T @ R, rtol=1e-12)


def test_slices_of_one_tensor_add_up_in_its_gradient():
    x = leaf(4, 6)
    R = np.random.default_rng(1).standard_normal((4, 6))
    # overlapping basic slices, a fancy index that repeats a row, and a dense use, in one graph
    loss = (x[:, :4] * R[:, :4]).sum() + (x[:, 2:] * R[:, 2:]).sum() + x[[0, 0, 3]].sum() + (x * 2.0).sum()
    loss.backward()
    expected = 2.0 + np.zeros((4, 6))
    expected[:, :4] += R[:, :4]
    expected[:, 2:] += R[:, 2:]
    expected[0] += 2
    expected[3] += 1
    np.testing.assert_allclose(x.grad, expected, rtol=1e-12)


def test_a_weight_used_over_many_chunks_of_rows_gets_the_whole_sum():
    # 40 uses of 30 rows each: the per-use products x_tᵀ g_t are multiplied out in several
    # chunks (tensor.CHUNK_ROWS), with a dense use of W in between
    rng = np.random.default_rng(2)
    W = leaf(3, 2)
    xs = [rng.standard_normal((30, 3)) for _ in range(40)]
    loss = sum(((Tensor(x) @ W) * (k + 1.0)).sum() for k, x in enumerate(xs)) + (W * W).sum()
    loss.backward()
    expected = sum(x.T @ np.full((30, 2), k + 1.0) for k, x in enumerate(xs)) + 2 * W.data
    np.testing.assert_allclose(W.grad, expected, rtol=1e-12)


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


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_sigmoid_is_exact_and_silent_far_into_the_tails(dtype):
    """σ = 1/(1 + e^−x) to rounding wherever σ is a normal float; far into the negative
    tail (e^−x would overflow) it is below the smallest normal float, as the true σ is."""
    x = Tensor([-800.0, -100.0, -40.0, -10.0, 0.0, 10.0, 40.0, 800.0], requires_grad=True, dtype=dtype)
    s = x.sigmoid()          # no overflow warning (warnings are errors in this suite)
    true = 1 / (1 + np.exp(-np.array([-40.0, -10.0, 0.0, 10.0, 40.0])))
    np.testing.assert_allclose(s.data[2:7], true, rtol=1e-6 if dtype == "float32" else 1e-15)
    tiny = np.finfo(dtype).tiny
    assert 0 <= s.data[0] < tiny and 0 <= s.data[1] < (tiny if dtype == "float32" else 1e-43)
    assert s.data[7] == 1.0 and s.dtype == dtype
    s.sum().backward()
    assert np.all(np.isfinite(x.grad)) and x.grad[0] < tiny
