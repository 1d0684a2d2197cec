"""Making tensors as torch's factories do: zeros, ones, randn (seeded) and tensor (a copy).

Each gives a leaf, float64 unless `dtype` says otherwise; `requires_grad` and `name` are the
Tensor constructor's. A shape is given as ints, zeros(2, 3), or as one tuple, zeros((2, 3)).
"""
import math

import numpy as np

from .checks import check_fits, generator, whole
from .tensor import Tensor


def zeros(*shape, dtype=None, requires_grad=False, name=None):
    """A tensor of zeros."""
    return Tensor(np.zeros(_shape("zeros", shape)), dtype=dtype, requires_grad=requires_grad, name=name)


def ones(*shape, dtype=None, requires_grad=False, name=None):
    """A tensor of ones."""
    return Tensor(np.ones(_shape("ones", shape)), dtype=dtype, requires_grad=requires_grad, name=name)


def randn(*shape, seed=None, dtype=None, requires_grad=False, name=None):
    """Draws from the standard normal distribution, by np.random.default_rng(seed): the same seed
    (an int ≥ 0) gives the same tensor; None draws fresh entropy; a numpy Generator is drawn from."""
    rng = generator(seed, "randn: seed")
    return Tensor(rng.standard_normal(_shape("randn", shape)), dtype=dtype, requires_grad=requires_grad,
                  name=name)


def tensor(data, dtype=None, requires_grad=False, name=None):
    """A new leaf holding a copy of `data`, as torch.tensor: Tensor(array) shares a float array's
    memory, this never does. From a Tensor it copies the data and leaves the graph behind."""
    checked = Tensor(data, dtype=dtype)               # the constructor's checks and conversions
    return Tensor(checked.data.copy(), requires_grad=requires_grad, name=name)


def _shape(who, shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    shape = tuple(whole(f"{who}: each size in the shape", n, minimum=0) for n in shape)
    check_fits(who, f"a tensor of shape {shape}", 8 * math.prod(shape))   # made as float64 first
    return shape
