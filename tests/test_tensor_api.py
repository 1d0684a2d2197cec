"""The Tensor's surface beyond the ops: what numpy sees of it, comparisons, argmax, clone and
is_leaf, tolist and float, and the factories."""
import operator

import numpy as np
import pytest

from tinygrad_lstm import Tensor, ones, randn, tensor, zeros

from .helpers import assert_clear_error


def test_numpy_sees_the_data_shared_or_copied_as_asked():
    t = Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    shared = np.asarray(t)
    assert shared.dtype == np.float64 and shared.shape == (2, 3) and np.shares_memory(shared, t.data)
    copied = np.array(t)
    assert not np.shares_memory(copied, t.data)
    np.testing.assert_array_equal(copied, np.arange(6.0).reshape(2, 3))
    assert np.asarray(t, dtype=np.float32).dtype == np.float32
    np.testing.assert_array_equal(np.asarray([t, 2 * t]), [t.data, 2 * t.data])   # not objects
    assert_clear_error(lambda: np.asarray(t, dtype=np.float32, copy=False), ValueError,
                       ["copy=False", "float64", "needs a copy"])


def test_numpy_reductions_call_the_tensors_own_and_keep_the_graph():
    t = Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    total = np.sum(t)
    assert isinstance(total, Tensor) and total.item() == 15.0
    total.backward()
    np.testing.assert_array_equal(t.grad, np.ones((2, 3)))
    means = np.mean(t, axis=0, keepdims=True)
    assert isinstance(means, Tensor)
    np.testing.assert_array_equal(means.data, [[1.5, 2.5, 3.5]])


@pytest.mark.parametrize("call, pieces", [
    (lambda t: np.sum(t, out=np.zeros(())), ["sum", "out=", "ndarray"]),
    (lambda t: np.mean(t, dtype=np.float32), ["mean", "dtype=", "float64", "float32"]),
    (lambda t: t.sum(dtype="int64"), ["sum", "dtype=", "'int64'"]),
], ids=["np.sum-out", "np.mean-dtype", "sum-dtype"])
def test_what_numpy_could_ask_of_a_reduction_and_a_tensor_cannot_give_is_refused(call, pieces):
    assert_clear_error(lambda: call(Tensor(np.ones(3))), TypeError, pieces)


# --- comparisons: element-wise, bool data, no gradient -------------------------------------

COMPARISONS = {"<": (operator.lt, np.less), "<=": (operator.le, np.less_equal),
               ">": (operator.gt, np.greater), ">=": (operator.ge, np.greater_equal),
               "==": (operator.eq, np.equal), "!=": (operator.ne, np.not_equal)}


@pytest.mark.parametrize("symbol", COMPARISONS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_comparisons_are_element_wise_and_give_bool_data_with_no_gradient(symbol, dtype):
    a = np.array([[0.5, 1.0, 2.0], [1.0, -1.0, 0.0]], dtype=dtype)
    b = np.array([1.0, 1.0, 0.0], dtype=dtype)                   # broadcast along the rows
    t = Tensor(a, requires_grad=True)
    compare, reference = COMPARISONS[symbol]
    for other, expected in ((Tensor(b), reference(a, b)), (b, reference(a, b)), (1.0, reference(a, 1.0))):
        out = compare(t, other)
        assert isinstance(out, Tensor) and out.dtype == np.bool_
        assert not out.requires_grad and out.op == "" and out.parents == ()
        np.testing.assert_array_equal(out.data, expected)
    flipped = compare(b, t)                                       # numpy array on the left: still ours
    assert isinstance(flipped, Tensor)
    np.testing.assert_array_equal(flipped.data, reference(b, a))


def test_equality_with_what_is_not_a_number_is_identity_as_in_python():
    t = Tensor([1.0, 2.0])
    assert (t == None) is False and (t != "text") is True         # noqa: E711
    with pytest.raises(TypeError, match="'<' not supported"):
        t < "text"


def test_a_comparison_that_cannot_broadcast_names_both_shapes():
    assert_clear_error(lambda: Tensor(np.ones((2, 3))) < Tensor(np.ones((3, 4))), ValueError,
                       ["'<'", "(2, 3)", "(3, 4)", "broadcast"])


def test_tensors_hash_by_identity_so_equal_values_are_still_two_keys():
    a, b = Tensor([1.0]), Tensor([1.0])
    assert bool(a == b) and len({a: 1, b: 2}) == 2 and len({a, b, a}) == 2
    x = Tensor([2.0], requires_grad=True)
    y = Tensor([2.0], requires_grad=True)                         # equal values, distinct nodes
    (x * y + x).sum().backward()
    np.testing.assert_array_equal(x.grad, [3.0])
    np.testing.assert_array_equal(y.grad, [2.0])


def test_a_comparison_masks_and_indexes_and_its_numbers_take_the_default_float():
    x = Tensor([-1.0, 2.0, -3.0, 4.0], requires_grad=True)
    positive = x > 0
    (x[positive] * x[positive]).sum().backward()                 # a bool Tensor indexes like its array
    np.testing.assert_array_equal(x.grad, [0.0, 4.0, 0.0, 8.0])
    assert (positive * 2.5).dtype == np.float64                   # not a bool: 2.5 is not rounded
    np.testing.assert_array_equal((positive * 2.5).data, [0.0, 2.5, 0.0, 2.5])
    x.grad = None
    (x * positive).sum().backward()                               # a mask in arithmetic: no gradient
    np.testing.assert_array_equal(x.grad, [0.0, 1.0, 0.0, 1.0])


# --- argmax: indices, no gradient -------------------------------------------------------------

def test_argmax_gives_int64_indices_the_first_of_ties_as_numpy_and_torch():
    t = Tensor([[1.0, 3.0, 3.0], [4.0, 0.0, 4.0]], requires_grad=True)
    flat = t.argmax()
    assert flat.dtype == np.int64 and flat.shape == () and flat.item() == 3 and not flat.requires_grad
    np.testing.assert_array_equal(t.argmax(axis=1).data, [1, 0])
    np.testing.assert_array_equal(t.argmax(axis=0, keepdims=True).data, [[1, 0, 1]])
    np.testing.assert_array_equal(np.argmax(t, axis=-1).data, [1, 0])       # numpy calls ours
    rows = t.argmax(axis=1)
    picked = t[np.arange(2), rows]                                           # an index Tensor picks
    picked.sum().backward()
    np.testing.assert_array_equal(t.grad, [[0, 1, 0], [1, 0, 0]])


# --- clone, is_leaf -----------------------------------------------------------------------------

def test_clone_is_a_copy_in_the_graph_and_is_leaf_says_whether_an_op_made_a_tensor():
    w = Tensor([1.0, 2.0], requires_grad=True)
    c = w.clone()
    assert c.op == "clone" and c.parents == (w,) and not np.shares_memory(c.data, w.data)
    (c * c).sum().backward()
    np.testing.assert_array_equal(w.grad, [2.0, 4.0])
    data = Tensor([3.0])
    assert w.is_leaf and data.is_leaf and not c.is_leaf
    assert (data * 2).is_leaf                  # nothing needs a gradient: no op recorded, as torch
    assert w.detach().is_leaf and (w > 1).is_leaf


# --- numbers out: tolist, float ------------------------------------------------------------------

def test_tolist_and_float_give_plain_numbers():
    t = Tensor([[1.5, 2.0], [3.0, 4.0]])
    assert t.tolist() == [[1.5, 2.0], [3.0, 4.0]] and Tensor(2.5).tolist() == 2.5
    assert (t > 2).tolist() == [[False, False], [True, True]]
    assert float(Tensor([2.5])) == 2.5 and isinstance(float(t.sum()), float)
    with pytest.raises(ValueError, match=r"one element.*\(2, 2\)"):
        float(t)


def test_float_makes_bools_and_indices_numbers_and_leaves_floats_as_they_are():
    x = Tensor(np.array([-1.0, 2.0], dtype=np.float32), requires_grad=True)
    mask = (x > 0).float()
    assert mask.dtype == np.float64 and mask.tolist() == [0.0, 1.0] and not mask.requires_grad
    assert x.argmax().float().item() == 1.0
    assert x.float() is x                              # float32 stays float32, in the graph
    (x.float() * mask).sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 1.0])


# --- factories ------------------------------------------------------------------------------------

def test_zeros_and_ones_take_a_shape_either_way_and_the_constructors_options():
    z = zeros(2, 3)
    assert z.shape == (2, 3) and z.dtype == np.float64 and z.tolist() == [[0.0] * 3] * 2 and z.is_leaf
    o = ones((2, 3), dtype="float32", requires_grad=True, name="o")
    assert o.shape == (2, 3) and o.dtype == np.float32 and o.requires_grad and o.name == "o"
    np.testing.assert_array_equal(o.data, np.ones((2, 3)))
    assert ones().shape == () and zeros([0, 2]).shape == (0, 2)


def test_randn_is_numpys_standard_normal_and_the_same_seed_gives_the_same_tensor():
    a = randn(3, 4, seed=7)
    np.testing.assert_array_equal(a.data, np.random.default_rng(7).standard_normal((3, 4)))
    np.testing.assert_array_equal(randn((3, 4), seed=7).data, a.data)
    assert not np.array_equal(randn(3, 4, seed=8).data, a.data)
    rng = np.random.default_rng(7)
    first, second = randn(2, seed=rng), randn(2, seed=rng)       # a Generator is drawn from
    np.testing.assert_array_equal(np.concatenate([first.data, second.data]),
                                  np.random.default_rng(7).standard_normal(4))
    assert randn(2, dtype=np.float32).dtype == np.float32


def test_tensor_copies_where_the_constructor_shares():
    array = np.arange(3.0)
    shared, copied = Tensor(array), tensor(array)
    array[0] = 10.0
    assert shared.data[0] == 10.0 and copied.data[0] == 0.0
    w = Tensor([1.0, 2.0], requires_grad=True)
    c = tensor(w * 2, requires_grad=True)
    assert c.is_leaf and c.requires_grad and c.tolist() == [2.0, 4.0]    # the graph left behind
    assert tensor([1, 2], dtype="float32").dtype == np.float32 and tensor([True]).dtype == np.float64


def test_the_name_tensor_is_the_factory_and_the_module_stays_importable():
    import tinygrad_lstm
    from tinygrad_lstm.tensor import Tensor as FromTheModule, no_grad as from_the_module
    assert tinygrad_lstm.tensor is tensor and FromTheModule is Tensor
    assert from_the_module is tinygrad_lstm.no_grad


@pytest.mark.parametrize("call, exc, pieces", [
    (lambda: zeros(2, -1), ValueError, ["zeros", "shape", "≥ 0", "-1"]),
    (lambda: ones(2.5), ValueError, ["ones", "shape", "2.5"]),
    (lambda: randn(2, seed="a"), ValueError, ["randn: seed", "'a'"]),
    (lambda: randn(2, seed=-1), ValueError, ["randn: seed", "-1"]),
    (lambda: zeros(2, dtype="int32"), TypeError, ["dtype", "float", "int32"]),
    (lambda: tensor([[1, 2], [3]]), ValueError, ["rectangular", "ragged"]),
], ids=["zeros-negative", "ones-float-size", "randn-seed-type", "randn-seed-negative", "zeros-int-dtype",
        "tensor-ragged"])
def test_bad_factory_arguments_are_named(call, exc, pieces):
    assert_clear_error(call, exc, pieces)
