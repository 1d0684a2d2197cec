"""The LSTM workloads the benchmarks share, and their seeded random data."""
import numpy as np

WORKLOADS = {               # name: (I, H, B, T)
    "tiny": (3, 2, 1, 1),
    "small": (10, 32, 1, 50),
    "medium": (64, 128, 32, 50),
    "large": (256, 512, 64, 100),
    "long": (8, 16, 1, 2000),
}
O = 10                      # classes of the output layer


def data(I, B, T, dtype, seed=0):
    """xs (T, B, I) standard normal in `dtype`, class indices ys (T, B)."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((T, B, I)).astype(dtype), rng.integers(0, O, size=(T, B))
