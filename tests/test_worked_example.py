"""Lecture 004's worked example on the engine, against the exact values of docs/math.md §4."""
import json

import numpy as np
import pytest

from tinygrad_lstm.worked_example import worked_example

# docs/math.md §4.2-4.4, column "Ours" (float64, 6 dp)
EXACT = {
    "f_t = W_f X_t": [0.020000, 0.856000], "i_t = W_i X_t": [0.031000, -0.406000],
    "c_t = W_c X_t": [-0.413000, 0.769000], "o_t = W_o X_t": [-0.402000, 0.549000],
    "F_t": [0.505000, 0.701824], "I_t": [0.507749, 0.399872], "C_t": [-0.391017, 0.646348],
    "O_t": [0.400832, 0.633904], "CS_{t-1} ⊗ F_t": [0.505000, 0.000000],
    "I_t ⊗ C_t": [-0.198539, 0.258456], "CS_t": [0.306461, 0.258456],
    "tanh(CS_t)": [0.297214, 0.252851], "HS_t": [0.119133, 0.160283],
    "Z_t": [0.010554, 0.109429, 0.168353], "ŷ_t = softmax(Z_t)": [0.305357, 0.337092, 0.357551],
    "E = -log ŷ_t[b]": [1.087399],
    "dZ_t = ŷ_t - y": [0.305357, -0.662908, 0.357551], "dHS_t = W_yᵀ dZ_t": [0.126870, -0.151225],
    "O_t(1 - O_t) in the dW_o line": [0.240166, 0.232070], "dO_t": [0.037708, -0.038237],
    "do_t": [0.009056, -0.008874], "1 - tanh²(CS_t)": [0.911664, 0.936066],
    "dCS_t": [0.046361, -0.089733], "F_t(1 - F_t)": [0.249975, 0.209267], "df_t": [0.011589, 0.000000],
    "I_t(1 - I_t)": [0.249940, 0.239974], "di_t": [-0.004531, -0.013918],
    "1 - C_t²": [0.847106, 0.582235], "dc_t": [0.019941, -0.020892],
    "dL/dW_y": [[0.036378, 0.048943], [-0.078974, -0.106253], [0.042596, 0.057309]],
    "dL/dW_o": [[0, 0, 0.009056, 0, 0], [0, 0, -0.008874, 0, 0]],
    "dL/dW_f": [[0, 0, 0.011589, 0, 0], [0, 0, 0.000000, 0, 0]],
    "dL/dW_i": [[0, 0, -0.004531, 0, 0], [0, 0, -0.013918, 0, 0]],
    "dL/dW_c": [[0, 0, 0.019941, 0, 0], [0, 0, -0.020892, 0, 0]],
    "dL/dCS_{t-1}": [0.023413, -0.062977], "dL/dHS_{t-1}": [-0.004299, -0.031295],
    "dL/dx_t": [-0.027071, 0.015345, -0.006092],
    "dL/dHS_{t-1} via f: (W_fᵀ df_t)[0:H]": [0.009422, -0.005644],
    "dL/dHS_{t-1} via i: (W_iᵀ di_t)[0:H]": [-0.000459, 0.006689],
    "dL/dHS_{t-1} via c: (W_cᵀ dc_t)[0:H]": [-0.013872, -0.019097],
    "dL/dHS_{t-1} via o: (W_oᵀ do_t)[0:H]": [0.000610, -0.013243],
}


@pytest.fixture(scope="module")
def example():
    return worked_example()


def test_every_value_matches_the_exact_recomputation_to_6_decimals(example):
    ours = {line.quantity: line.ours for line in example.lines}
    for quantity, exact in EXACT.items():
        np.testing.assert_allclose(np.round(ours[quantity], 6), exact, atol=1e-12, err_msg=quantity)


def test_the_lecture_s_four_numeric_typos_are_flagged_and_nothing_else(example):
    assert [line.quantity for line in example.typos] == [
        "i_t = W_i X_t", "c_t = W_c X_t", "tanh(CS_t) in the dW_o line", "O_t(1 - O_t) in the dW_o line"]
    assert all(line.note.startswith("erratum") for line in example.typos)
    printed = [line for line in example.lines if line.lecture is not None]
    assert len(printed) == 23 and sum(line.agrees for line in printed) == 19   # docs/math.md §4.5 verdict


def test_the_two_values_the_lecture_never_evaluated_are_given(example):
    never = {line.quantity: line for line in example.lines if line.note and "never evaluated" in line.note}
    assert set(never) == {"dL/dCS_{t-1}", "dL/dHS_{t-1}"}
    assert all(line.lecture is None and line.agrees is None for line in never.values())


def test_the_hand_bptt_witness_agrees(example):
    assert example.bptt_max_difference < 1e-15


def test_text_and_json(example):
    text = str(example)
    assert "TYPO" in text and "erratum 1: typo for 0.031" in text and "[0.505000, 0.701824]" in text
    data = json.loads(example.to_json())
    assert len(data["lines"]) == len(example.lines) and len(data["notes"]) == 8
