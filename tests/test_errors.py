"""Bad input gets a clear error at the point of use: the op, what was expected, what came."""
import numpy as np
import pytest

from tinygrad_lstm import Tensor, affine, concat, cross_entropy, maximum, minimum, pad, scope, stack, where

from .helpers import assert_clear_error

x23, x34, x4 = Tensor(np.ones((2, 3))), Tensor(np.ones((3, 4))), Tensor(np.ones(4))

BAD = [
    # (what, callable, exception type, pieces of the message)
    ("matmul mismatch", lambda: x34 @ x23, ValueError, ["matmul", "(3, 4)", "(2, 3)"]),
    ("matmul 1-D mismatch", lambda: x4 @ x23, ValueError, ["matmul", "(4,)", "(2, 3)"]),
    ("matmul scalar", lambda: Tensor(2.0) @ x4, ValueError, ["matmul", "at least 1 dimension"]),
    # affine(x, W, b): W is (out, in), b is (out,)
    ("affine bias shape", lambda: affine(x23, x34.T, x4[:3]), ValueError,
     ["affine", "(2, 3)", "(4, 3)", "(3,)", "b (m,)"]),
    ("affine mismatch", lambda: affine(x23, x34, x4[:3]), ValueError,
     ["affine", "(2, 3)", "(3, 4)", "do not align"]),
    ("affine mismatch no bias", lambda: affine(x34, x23), ValueError,
     ["affine", "(3, 4)", "(2, 3)", "do not align"]),
    ("affine W not 2-D", lambda: affine(x23, x4), ValueError, ["affine", "W (m, n)", "(4,)"]),
    ("add broadcast", lambda: x23 + x34, ValueError, ["add", "(2, 3)", "(3, 4)", "broadcast"]),
    ("mul broadcast", lambda: x23 * x4, ValueError, ["mul", "(2, 3)", "(4,)"]),
    ("sub broadcast", lambda: x4 - x23, ValueError, ["sub", "(4,)", "(2, 3)"]),
    ("div broadcast", lambda: x23 / x34, ValueError, ["div", "(2, 3)", "(3, 4)"]),
    ("concat sizes", lambda: concat([x23, x34], axis=0), ValueError,
     ["concat", "(2, 3)", "(3, 4)", "axis 0"]),
    ("concat ndim", lambda: concat([x23, x4]), ValueError, ["concat", "(2, 3)", "(4,)"]),
    ("stack shapes", lambda: stack([x23, x34]), ValueError, ["stack", "(2, 3)", "(3, 4)", "same shape"]),
    ("stack empty", lambda: stack([]), ValueError, ["stack", "at least one"]),
    ("concat empty", lambda: concat([]), ValueError, ["concat", "at least one"]),
    ("concat axis", lambda: concat([x23, x23], axis=2), ValueError,
     ["concat", "axis 2", "(2, 3), (2, 3)", "the axis must exist"]),
    ("sum axis", lambda: x23.sum(axis=2), ValueError, ["sum", "axis 2", "out of range"]),
    ("mean axis type", lambda: x23.mean(axis=1.5), TypeError, ["mean", "axis must be an int"]),
    ("softmax axis", lambda: x23.softmax(axis=-3), ValueError, ["softmax", "axis -3"]),
    ("reshape", lambda: x23.reshape(4, 2), ValueError, ["reshape", "(2, 3)", "6 elements", "(4, 2)"]),
    ("transpose axes", lambda: x23.transpose(0, 0), ValueError, ["transpose", "twice"]),
    ("transpose count", lambda: x23.transpose(1, 0, 2), ValueError,
     ["transpose", "(1, 0, 2)", "not a permutation", "(2, 3)"]),
    ("index out of range", lambda: x23[5], IndexError, ["getitem", "(2, 3)"]),
    ("index by Tensor", lambda: x23[Tensor([0])], TypeError, ["index", "not with a Tensor"]),
    ("string data", lambda: Tensor("abc"), TypeError, ["real numbers", "<U3"]),
    ("mixed list", lambda: Tensor([1, "a"]), TypeError, ["real numbers"]),
    ("None data", lambda: Tensor(None), TypeError, ["must be numbers", "NoneType"]),
    ("complex data", lambda: Tensor([1j]), TypeError, ["real numbers", "complex"]),
    ("ragged data", lambda: Tensor([[1, 2], [3]]), ValueError, ["rectangular", "ragged"]),
    ("int dtype", lambda: Tensor([1.0], dtype="int32"), TypeError, ["dtype", "float", "int32"]),
    ("junk dtype", lambda: Tensor([1.0], dtype="nonsense"), TypeError, ["dtype", "float"]),
    ("add a string", lambda: x23 + "a", TypeError, ["cannot combine", "str"]),
    ("CE index range", lambda: cross_entropy(x23, [0, 3]), ValueError,
     ["cross_entropy", "3", "out of range", "0 to 2"]),
    ("CE float index", lambda: cross_entropy(x23, [0.5, 1.0]), TypeError, ["cross_entropy", "integers"]),
    ("CE target shape", lambda: cross_entropy(x23, np.zeros((3, 3))), ValueError,
     ["cross_entropy", "(3, 3)", "(2, 3)", "(2,)"]),
    ("CE reduction", lambda: cross_entropy(x23, [0, 1], reduction="avg"), ValueError, ["reduction", "'avg'"]),
    ("CE scalar logits", lambda: cross_entropy(Tensor(1.0), 0), ValueError, ["cross_entropy", "class axis"]),
    ("CE non-Tensor logits", lambda: cross_entropy(np.ones((2, 3)), [0, 1]), TypeError,
     ["cross_entropy", "Tensor"]),
    ("len of a scalar", lambda: len(Tensor(1.0)), TypeError, ["len()", "0-d", ".item()"]),
    ("empty scope", lambda: scope("").__enter__(), TypeError, ["scope", "non-empty string"]),
    ("pow broadcast", lambda: x23 ** x34, ValueError, ["pow", "(2, 3)", "(3, 4)", "broadcast"]),
    ("pow a string", lambda: x23 ** "2", TypeError, ["cannot combine", "str"]),
    ("maximum broadcast", lambda: maximum(x23, x34), ValueError, ["maximum", "(2, 3)", "(3, 4)"]),
    ("minimum of numbers", lambda: minimum(1.0, 2.0), TypeError, ["minimum", "needs a Tensor", "float"]),
    ("clamp no bounds", lambda: x23.clamp(), ValueError, ["clamp", "min, max or both", "neither"]),
    ("clamp min > max", lambda: x23.clamp(1, 0), ValueError, ["clamp", "min (1)", "max (0)"]),
    ("clamp bound type", lambda: x23.clamp(min="0"), TypeError, ["clamp", "min must be a number", "'0'"]),
    ("clamp NaN bound", lambda: x23.clamp(max=float("nan")), ValueError, ["clamp", "max must be", "nan"]),
    ("clamp huge bound", lambda: x23.clamp(min=10 ** 400), ValueError,
     ["clamp: min must be a finite number", "(401 characters)"]),
    ("pow huge exponent", lambda: x23 ** 10 ** 400, ValueError, ["**: the exponent must be a finite number"]),
    ("pad huge value", lambda: __import__("tinygrad_lstm").pad(x23, 1, value=-10 ** 400), ValueError,
     ["pad: value must be a finite number"]),
    ("where float condition", lambda: where(Tensor([1.0, 0.0]), x4[:2], 0.0), TypeError,
     ["where", "condition must hold bools", "t > 0", "float64"]),
    ("where without a Tensor", lambda: where([True], 1.0, 2.0), TypeError,
     ["where", "needs a Tensor", "float"]),
    ("where broadcast", lambda: where(np.ones(2, bool), x23, x34), ValueError,
     ["where", "(2,), (2, 3) and (3, 4)", "broadcast"]),
    ("max axis", lambda: x23.max(axis=2), ValueError, ["max", "axis 2", "out of range"]),
    ("min keepdims", lambda: x23.min(keepdims=1), TypeError, ["min", "keepdims", "True or False", "1"]),
    ("max of an empty axis", lambda: Tensor(np.ones((2, 0))).max(axis=1), ValueError,
     ["max", "axis 1", "(2, 0)", "empty"]),
    ("min of nothing", lambda: Tensor(np.ones(0)).min(), ValueError, ["min", "(0,)", "empty"]),
    ("argmax axis type", lambda: x23.argmax(axis=(0, 1)), TypeError, ["argmax", "axis must be an int"]),
    ("argmax of nothing", lambda: Tensor(np.ones((0, 3))).argmax(axis=0), ValueError,
     ["argmax", "(0, 3)", "empty along axis 0"]),
    ("np.max out", lambda: np.max(x23, out=np.zeros(())), TypeError, ["max", "out="]),
    ("squeeze a long axis", lambda: x23.squeeze(1), ValueError,
     ["squeeze", "axis 1", "(2, 3)", "size 3, not 1"]),
    ("unsqueeze axis", lambda: x23.unsqueeze(3), ValueError, ["unsqueeze", "axis 3", "out of range"]),
    ("expand sizes", lambda: x23.expand(2, 4), ValueError,
     ["expand", "(2, 3)", "(2, 4)", "be the new one or 1"]),
    ("expand fewer axes", lambda: x23.expand(3), ValueError, ["expand", "(2, 3)", "(3,)", "at least its 2"]),
    ("expand -1 in front", lambda: x23.expand(-1, 2, 3), ValueError, ["expand", "(-1, 2, 3)", "−1 only"]),
    ("expand type", lambda: x23.expand(2, 3.0), TypeError, ["expand", "ints", "3.0"]),
    ("pad width", lambda: pad(x23, ((1, 1), (1, 1), (1, 1))), ValueError,
     ["pad", "pad_width", "2 axes", "(2, 3)"]),
    ("pad negative", lambda: pad(x23, -1), ValueError, ["pad", "≥ 0", "-1"]),
    ("pad float width", lambda: pad(x23, 1.5), ValueError, ["pad", "whole numbers", "1.5"]),
    ("pad value", lambda: pad(x23, 1, value="0"), TypeError, ["pad", "value must be a number", "'0'"]),
    ("pad an array", lambda: pad(np.ones(3), 1), TypeError, ["pad", "Tensor", "ndarray"]),
]


@pytest.mark.parametrize("what, call, exc, pieces", BAD, ids=[b[0] for b in BAD])
def test_bad_input_raises_a_clear_error(what, call, exc, pieces):
    assert_clear_error(call, exc, pieces)


def test_backward_on_a_non_scalar_without_a_gradient_says_what_is_needed():
    y = Tensor(np.ones((2, 3)), requires_grad=True) * 2.0
    with pytest.raises(ValueError, match=r"scalar output.*explicit gradient.*\(2, 3\)"):
        y.backward()


def test_backward_with_a_gradient_of_the_wrong_shape_says_so():
    y = Tensor(np.ones((2, 3)), requires_grad=True) * 2.0
    with pytest.raises(ValueError, match=r"grad has shape \(3, 2\).*output has shape \(2, 3\)"):
        y.backward(np.ones((3, 2)))


def test_backward_without_a_graph_says_why():
    with pytest.raises(RuntimeError, match="does not require grad"):
        Tensor([1.0]).sum().backward()
