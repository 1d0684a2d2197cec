"""The page's one-line backward rules: one for every op, in the graph's own names, and saying
what the engine computes (checked against its gradients, vector and batch)."""
import inspect

import numpy as np
import pytest

from tinygrad_lstm import ops
from tinygrad_lstm.nn import LSTM, RNN
from tinygrad_lstm.tensor import Function, Tensor
from tinygrad_lstm.viz.graph import walk
from tinygrad_lstm.viz.rules import RULES, rule


def named(loss, name, t):
    return next(x for x in walk(loss) if x.name == name and x.scope == f"t={t}")


def test_every_op_of_the_engine_has_a_rule():
    names = {cls.name for _, cls in inspect.getmembers(ops, inspect.isclass)
             if issubclass(cls, Function) and cls is not Function}
    assert names and names <= set(RULES)


def test_an_lstm_step_s_rules_read_as_the_lecture():
    model = LSTM(3, 2, 3, seed=0)
    rng = np.random.default_rng(0)
    loss = model.loss(rng.standard_normal((2, 3)), rng.integers(0, 3, 2))
    assert rule(named(loss, "F_t", 2)) == "∂L/∂f_t += ∂L/∂F_t ⊙ F_t ⊙ (1 − F_t)"
    assert rule(named(loss, "C_t", 2)) == "∂L/∂c_t += ∂L/∂C_t ⊙ (1 − C_t²)"
    assert rule(named(loss, "f_t", 2)) == ("f_t = W_f X_t + b_f:  ∂L/∂X_t += W_fᵀ ∂L/∂f_t,  "
                                           "∂L/∂W_f += ∂L/∂f_t X_tᵀ,  ∂L/∂b_f += ∂L/∂f_t")
    # the step before's cell state is CS_{t-1}, and a name of several words is bracketed
    assert rule(named(loss, "CS_{t-1} ⊗ F_t", 2)) == ("∂L/∂CS_{t-1} += ∂L/∂(CS_{t-1} ⊗ F_t) ⊙ F_t,  "
                                                      "∂L/∂F_t += ∂L/∂(CS_{t-1} ⊗ F_t) ⊙ CS_{t-1}")
    assert rule(named(loss, "CS_{t-1} ⊗ F_t", 1)).startswith("∂L/∂CS_0 += ")
    assert rule(named(loss, "X_t", 2)) == "each input gets its own slice of ∂L/∂X_t"
    assert rule(dict(model.named_parameters())["W_f"]) == ""                   # a leaf runs no rule


@pytest.mark.parametrize("make, options", [(LSTM, {"bias": False}), (RNN, {})])
def test_an_affine_without_bias_says_so(make, options):
    model = make(3, 2, 3, seed=0, **options)
    rng = np.random.default_rng(0)
    loss = model.loss(rng.standard_normal((2, 3)), rng.integers(0, 3, 2))
    for t in walk(loss):
        assert "?" not in rule(t), rule(t)
    name = "f_t" if make is LSTM else "W_hh HS_{t-1}"
    text = rule(named(loss, name, 2))
    assert "+" not in text.split(":")[0] and "∂L/∂b" not in text


def test_the_affine_rules_say_what_the_engine_computes():
    rng = np.random.default_rng(0)
    W = Tensor(rng.standard_normal((2, 5)), requires_grad=True, name="W_o")
    b = Tensor(rng.standard_normal(2), requires_grad=True, name="b_o")
    g = rng.standard_normal(2)
    x = Tensor(rng.standard_normal(5), requires_grad=True, name="X_t")       # a vector: W x + b
    (ops.affine(x, W, b) * Tensor(g)).sum().backward()
    assert np.allclose(W.grad, np.outer(g, x.data)) and np.allclose(x.grad, W.data.T @ g)   # g xᵀ, Wᵀ g
    assert np.allclose(b.grad, g)
    W.grad = b.grad = None
    G = rng.standard_normal((4, 2))
    X = Tensor(rng.standard_normal((4, 5)), requires_grad=True, name="X_t")  # a batch: X Wᵀ + b
    out = ops.affine(X, W, b)
    (out * Tensor(G)).sum().backward()
    assert np.allclose(W.grad, G.T @ X.data) and np.allclose(X.grad, G @ W.data)          # gᵀ X, g W
    assert np.allclose(b.grad, G.sum(axis=0))
    out.name = "o_t"
    assert rule(out) == ("o_t = X_t W_oᵀ + b_o:  ∂L/∂X_t += ∂L/∂o_t W_o,  ∂L/∂W_o += ∂L/∂o_tᵀ X_t,  "
                         "∂L/∂b_o += Σ_rows ∂L/∂o_t")
