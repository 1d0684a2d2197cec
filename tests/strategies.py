"""Hypothesis strategies for the engine's property tests, kept in one place."""
import numpy as np
from hypothesis import strategies as st

small_dims = st.integers(min_value=1, max_value=4)


def shapes(min_dims=0, max_dims=3):
    return st.lists(small_dims, min_size=min_dims, max_size=max_dims).map(tuple)


@st.composite
def broadcastable_pairs(draw, max_dims=3):
    """Two shapes that broadcast together: each aligned dimension equal, or one of them 1,
    and either may have fewer (leading) dimensions."""
    full = draw(shapes(0, max_dims))
    def side():
        dims = [draw(st.sampled_from([d, 1])) for d in full]
        return tuple(dims[draw(st.integers(0, len(dims))):])   # drop some leading dims
    return side(), side()


@st.composite
def matmul_pairs(draw):
    """Shapes (a, b) that numpy's matmul accepts: 1-D or 2-D operands, plus batched ones."""
    m, k, n = draw(small_dims), draw(small_dims), draw(small_dims)
    left = draw(st.sampled_from([(k,), (m, k), (2, m, k)]))
    right = draw(st.sampled_from([(k,), (k, n), (2, k, n)]))
    return left, right


def arrays(shape, seed):
    return np.random.default_rng(seed).standard_normal(shape)


seeds = st.integers(min_value=0, max_value=2**16)
