"""Run the notebooks and save them with their outputs (the repository keeps them executed).

    .venv/bin/python notebooks/execute.py            # all of them
    .venv/bin/python notebooks/execute.py 02-*.ipynb # some

Each runs in a temporary folder (nothing is written next to it), with the kernel "python3",
and without timestamps in the saved file. tests/test_notebooks.py runs them the same way.

The kernel gets one BLAS thread (unless the environment says otherwise): at these sizes it is
as fast as two, and on a busy machine OpenBLAS's spinning threads make every matrix product
several times slower, which would make notebook 03's timings say nothing.
"""
import os
import re
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent
ONE_BLAS_THREAD = {name: "1" for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}


def execute(path, timeout=60):
    """Execute the notebook at `path` in a temporary folder; return the executed notebook."""
    nb = nbformat.read(path, as_version=4)
    with tempfile.TemporaryDirectory() as folder:
        NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                       resources={"metadata": {"path": folder}}).execute()
    return nb


def tidy(nb):
    """Drop what changes from run to run for no reason: a picture's text stand-in that holds
    a memory address (`<graphviz.graphs.Digraph at 0x7f...>`)."""
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if len(data) > 1 and re.search(r" at 0x[0-9a-f]+>", data.get("text/plain", "")):
                del data["text/plain"]
    nb.metadata.pop("widgets", None)
    return nb


def main(names):
    for name, value in ONE_BLAS_THREAD.items():
        os.environ.setdefault(name, value)
    paths = [HERE / name for name in names] if names else sorted(HERE.glob("*.ipynb"))
    for path in paths:
        start = time.perf_counter()
        nb = execute(path)
        nbformat.write(tidy(nb), path)
        print(f"{path.name}: {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main(sys.argv[1:])
