"""reuse_freed_memory(): freed arrays' pages are reused instead of faulted in afresh."""
import subprocess
import sys

import pytest

PROGRAM = """
import resource, numpy as np
from tinygrad_lstm.memory import reuse_freed_memory

def page_faults():      # 20 rounds of two 1 MB arrays made and freed, as a step's temporaries are
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(20):
        a = np.ones(2**17); b = a * 2.0; del a, b
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

page_faults()
untuned = page_faults()
applied = reuse_freed_memory()
page_faults()
print(untuned, applied, page_faults())
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc is Linux's")
def test_freed_arrays_reuse_their_pages_after_reuse_freed_memory():
    out = subprocess.run([sys.executable, "-c", PROGRAM], capture_output=True, text=True, check=True).stdout
    untuned, applied, tuned = out.split()
    assert applied == "True"
    assert int(untuned) > 2000          # 40 MB through fresh mappings: a fault per 4 KB page
    assert int(tuned) < int(untuned) / 10
