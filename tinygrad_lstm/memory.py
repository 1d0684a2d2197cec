"""Keep freed memory for reuse, so each training step's arrays do not fault in fresh pages.

Every op makes a new array, and a large one (over 128 KB: an H 512, B 64 gate block is
1 MB) is, by glibc's malloc defaults, mapped fresh from the OS and unmapped when freed;
touching it again costs a page fault per 4 KB. Measured on the large workload (I 256,
H 512, B 64, T 100): ~60,000 page faults and a quarter of the run time per forward and
backward. Serving blocks up to 32 MB from malloc's heap and keeping up to 1 GB of freed
heap lets the next step reuse the same pages instead.

The setting is process-wide and only changes speed and how soon freed memory is handed
back to the OS, never results. train() and the benchmarks turn it on; call it yourself
before a hand-written training loop.
"""
import ctypes

M_TRIM_THRESHOLD = -1     # glibc's mallopt parameters (malloc.h)
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 << 20      # glibc's largest allowed value
TRIM_THRESHOLD = 1 << 30


def reuse_freed_memory():
    """Ask glibc's malloc to keep freed memory for reuse. Returns True if it took effect,
    False where there is no glibc (macOS, Windows, musl): nothing changes there."""
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version        # glibc only: other C libraries' mallopt differs
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
