"""The notebooks in notebooks/: each runs from top to bottom without an error (in a
temporary folder, so nothing is written into the repository), prints the numbers it
promises, and is committed executed, with its outputs.

The key numbers are checked against the library, not against copies of them:
01 prints lecture 004's dL/dCS_{t-1} as tinygrad_lstm.worked_example computes it; 02 prints
the ratio of the gradient reaching t = 1 through an LSTM's cell state and an RNN's hidden
state, recomputed here; 03 prints an accuracy above chance.
"""
import os
import re
from pathlib import Path

import numpy as np
import pytest

WHY = "the notebook tests need the dev extras nbclient, nbformat and ipykernel (pip install -e '.[dev]')"
nbformat = pytest.importorskip("nbformat", reason=WHY)
nbclient = pytest.importorskip("nbclient", reason=WHY)
pytest.importorskip("ipykernel", reason=WHY)

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
STEP_BY_STEP = "01-lecture-004-step-by-step.ipynb"
VANISHING = "02-bptt-and-the-vanishing-gradient.ipynb"
TRAINING = "03-training-with-the-compiled-path.ipynb"
ALL = (STEP_BY_STEP, VANISHING, TRAINING)

# The lines the notebooks promise (each must appear at least once).
D_CS_PREV = re.compile(r"^dL/dCS_\{t-1\} = \[(-?\d+\.\d{6}), (-?\d+\.\d{6})\]$", re.M)
RATIO = re.compile(r"^gradient reaching t = 1, LSTM / RNN: (\d\.\de[+-]\d+)$", re.M)
ACCURACY = re.compile(r"accuracy on held-out recall: (\d\.\d+) \(chance (\d\.\d+)\)")


def _execute(name, folder):
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    # The kernel imports the package from this checkout even when it is not installed.
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PYTHONPATH", path)
        for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            # one BLAS thread, as notebooks/execute.py: steady on a busy machine
            if variable not in os.environ:
                patch.setenv(variable, "1")
        # 30 s a cell at most: the notebooks take 2-7 s in all (measured; timings are not asserted)
        nbclient.NotebookClient(nb, timeout=30, kernel_name="python3", record_timing=False,
                                resources={"metadata": {"path": str(folder)}}).execute()
    return nb


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    """Each notebook executed once for this module (a CellExecutionError fails the test)."""
    done = {}

    def run(name):
        if name not in done:
            folder = tmp_path_factory.mktemp(name.split("-")[0])
            done[name] = _execute(name, folder)
        return done[name]
    return run


def committed(name):
    return nbformat.read(NOTEBOOKS / name, as_version=4)


def code_cells(nb):
    return [cell for cell in nb.cells if cell.cell_type == "code"]


def outputs(nb):
    return [output for cell in code_cells(nb) for output in cell.outputs]


def stdout(nb):
    return "".join(o.text for o in outputs(nb) if o.output_type == "stream" and o.name == "stdout")


def pictures(nb, mime):
    return [o.data[mime] for o in outputs(nb)
            if o.output_type in ("display_data", "execute_result") and mime in o.data]


# --- each notebook runs, and prints what it promises -------------------------------------

def test_01_prints_dCS_prev_as_the_worked_example_computes_it(fresh):
    from tinygrad_lstm.worked_example import worked_example

    nb = fresh(STEP_BY_STEP)
    found = D_CS_PREV.findall(stdout(nb))
    assert found, "no line 'dL/dCS_{t-1} = [a, b]' in notebook 01's output"
    [exact] = [line.ours for line in worked_example().lines if line.quantity == "dL/dCS_{t-1}"]
    for printed in found:
        assert list(printed) == [f"{v + 0.0:.6f}" for v in exact]
        np.testing.assert_allclose([float(v) for v in printed], exact, atol=5e-7)


def test_01_autodiff_equals_the_hand_bptt_in_its_table_and_draws_the_step(fresh):
    nb = fresh(STEP_BY_STEP)
    text = stdout(nb)
    rows = re.findall(r"^(d\S+)\s+\[[^\]]*\]\s+\[[^\]]*\]\s+(\d\.?\d*e[+-]\d+)$", text, re.M)
    names = [name for name, _ in rows]
    for expected in ("dHS_t", "dCS_t", "df_t", "di_t", "dc_t", "do_t", "dW_f", "dW_y", "dCS_{t-1}",
                     "dHS_{t-1}"):
        assert expected in names, f"no row {expected} in the autodiff / hand BPTT table"
    assert all(float(difference) < 1e-12 for _, difference in rows), rows
    [svg] = pictures(nb, "image/svg+xml")                # the step's graph, inline
    assert svg.lstrip().startswith(("<?xml", "<svg", "<!--")) and "</svg>" in svg
    assert all(name in svg for name in ("F_t", "I_t", "C_t", "O_t", "CS_t", "HS_t"))


def test_02_lstm_over_rnn_ratio_at_t1_is_large_and_recomputes(fresh):
    from tinygrad_lstm.nn import LSTM, RNN

    nb = fresh(VANISHING)
    found = RATIO.findall(stdout(nb))
    assert len(found) == 1, "expected one line 'gradient reaching t = 1, LSTM / RNN: x.ye+zz'"
    printed = found[0]
    assert float(printed) > 1e3

    # The notebook's setup, its sizes read from its own source: recompute the ratio here.
    source = "\n".join(cell.source for cell in code_cells(nb))
    sizes = re.search(r"^T, I, H, O, SEED = (\d+), (\d+), (\d+), (\d+), (\d+)$", source, re.M)
    assert sizes, "notebook 02 no longer sets T, I, H, O, SEED in one line"
    T, I, H, O, seed = map(int, sizes.groups())
    rng = np.random.default_rng(seed)
    xs = rng.standard_normal((T, I))
    targets = rng.integers(0, O, size=T)
    mask = np.zeros(T, dtype=bool)
    mask[-1] = True

    def reaching_t1(model, state):                        # ‖dL/d state_1‖ after BPTT
        run = model.unroll(xs)
        model.loss_of(run, targets, mask).backward()
        return np.linalg.norm(run.steps[0][state].grad)

    ratio = reaching_t1(LSTM(I, H, O, seed=seed), "CS_t") / reaching_t1(RNN(I, H, O, seed=seed), "HS_t")
    assert printed == f"{ratio:.1e}"                      # the same to 2 significant digits

    assert len(pictures(nb, "image/svg+xml")) == 2        # the two cell-level graphs
    assert len(pictures(nb, "image/png")) == 1            # the plot


def test_03_trains_above_chance_on_the_compiled_path(fresh):
    nb = fresh(TRAINING)
    found = ACCURACY.findall(stdout(nb))
    assert len(found) == 1, "expected one line '... accuracy on held-out recall: a (chance c)'"
    accuracy, chance = map(float, found[0])
    assert accuracy > chance
    source = "\n".join(cell.source for cell in code_cells(nb))
    assert "compiled=False" not in re.search(r"^result = train\(.*$", source, re.M).group(0)
    assert len(pictures(nb, "image/png")) == 1            # the loss curve


# --- the repository's copies are executed, and show what a fresh run shows ----------------

@pytest.mark.parametrize("name", ALL)
def test_committed_notebook_is_executed_with_outputs(name):
    nb = committed(name)
    cells = code_cells(nb)
    assert cells and nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    counts = [cell.execution_count for cell in cells]
    assert None not in counts, f"{name}: a code cell was not executed; run notebooks/execute.py"
    assert counts == list(range(1, len(cells) + 1)), f"{name}: not run top to bottom in one go: {counts}"
    assert all(cell.outputs for cell in cells), f"{name}: a code cell has no output"
    assert not [o for o in outputs(nb) if o.output_type == "error"]
    shown = stdout(nb) + "".join(str(o.get("data", {}).get("text/plain", "")) for o in outputs(nb))
    for private in (str(ROOT), "/tmp/", "/home/"):
        assert private not in shown, f"{name}: an absolute path in the outputs"


@pytest.mark.parametrize("name, pattern", [(STEP_BY_STEP, D_CS_PREV), (VANISHING, RATIO),
                                           (TRAINING, ACCURACY)])
def test_committed_key_line_is_what_a_fresh_run_prints(fresh, name, pattern):
    shown = pattern.findall(stdout(committed(name)))
    assert shown, f"{name}: the committed copy lacks its key line; run notebooks/execute.py"
    assert shown == pattern.findall(stdout(fresh(name))), \
        f"{name}: the committed outputs are stale; run notebooks/execute.py"
