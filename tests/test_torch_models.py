"""LSTM and RNN against torch.nn.LSTM / nn.RNN (an optional dependency), through the weight
mapping of math spec §1.5: same logits, same loss, same gradients, to 1e-10 in float64."""
import numpy as np
import pytest

from tinygrad_lstm import Tensor
from tinygrad_lstm.nn import LSTM, RNN

from .test_nn import data, randomize

torch = pytest.importorskip("torch")

TORCH_GATE_ORDER = "ifco"   # torch's i, f, g, o blocks; g is our candidate c


def torch_twin(model):
    """A torch module holding `lstm` (nn.LSTM or nn.RNN) and `out` (nn.Linear), same weights."""
    P = {n: p.data for n, p in model.named_parameters()}
    H, is_lstm = model.hidden_size, isinstance(model, LSTM)
    rnn_class = torch.nn.LSTM if is_lstm else torch.nn.RNN
    module = torch.nn.Module()
    module.lstm = rnn_class(model.input_size, H, num_layers=model.num_layers, bias=model.bias).double()
    module.out = torch.nn.Linear(H, model.output_size, bias=model.bias).double()
    state = {}
    for k in range(model.num_layers):
        p = model.prefix(k + 1)
        if is_lstm:   # W_g = [U_g | V_g]: U acts on HS_{t-1}, V on x_t
            state[f"lstm.weight_ih_l{k}"] = np.concatenate([P[f"{p}W_{g}"][:, H:] for g in TORCH_GATE_ORDER])
            state[f"lstm.weight_hh_l{k}"] = np.concatenate([P[f"{p}W_{g}"][:, :H] for g in TORCH_GATE_ORDER])
            bias = np.concatenate([P[f"{p}b_{g}"] for g in TORCH_GATE_ORDER]) if model.bias else None
        else:
            state[f"lstm.weight_ih_l{k}"], state[f"lstm.weight_hh_l{k}"] = P[f"{p}W_xh"], P[f"{p}W_hh"]
            bias = P[f"{p}b_h"] if model.bias else None
        if bias is not None:   # torch adds two bias vectors: ours goes in one, the other is 0
            state[f"lstm.bias_ih_l{k}"], state[f"lstm.bias_hh_l{k}"] = bias, np.zeros_like(bias)
    state["out.weight"] = P["W_y" if is_lstm else "W_hy"]
    if model.bias:
        state["out.bias"] = P["b_y"]
    module.load_state_dict({k: torch.tensor(v) for k, v in state.items()})
    return module


def ours_from_torch_grads(model, module):
    """The twin's gradients, mapped back to our names."""
    G = {n: p.grad.numpy() for n, p in module.named_parameters()}
    H, grads = model.hidden_size, {}
    for k in range(model.num_layers):
        p = model.prefix(k + 1)
        if isinstance(model, LSTM):
            for j, g in enumerate(TORCH_GATE_ORDER):
                rows = slice(j * H, (j + 1) * H)
                grads[f"{p}W_{g}"] = np.hstack([G[f"lstm.weight_hh_l{k}"][rows], G[f"lstm.weight_ih_l{k}"][rows]])
                if model.bias:
                    grads[f"{p}b_{g}"] = G[f"lstm.bias_ih_l{k}"][rows]
        else:
            grads[f"{p}W_xh"], grads[f"{p}W_hh"] = G[f"lstm.weight_ih_l{k}"], G[f"lstm.weight_hh_l{k}"]
            if model.bias:
                grads[f"{p}b_h"] = G[f"lstm.bias_ih_l{k}"]
    grads["W_y" if isinstance(model, LSTM) else "W_hy"] = G["out.weight"]
    if model.bias:
        grads["b_y"] = G["out.bias"]
    return grads


@pytest.mark.parametrize("make", [LSTM, RNN])
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("bias", [True, False])
def test_same_logits_loss_and_gradients_as_torch(make, layers, bias):
    model = randomize(make(3, 4, 5, num_layers=layers, bias=bias, seed=0))
    xs, ys, h0, c0 = data(model, T=6, B=2)
    h0 = h0 if layers > 1 else h0[None]          # torch always wants (L, B, H)
    c0 = None if c0 is None else (c0 if layers > 1 else c0[None])
    h, c = Tensor(h0 if layers > 1 else h0[0], requires_grad=True), None
    if c0 is not None:
        c = Tensor(c0 if layers > 1 else c0[0], requires_grad=True)
    logits, _ = model(xs, h, c)
    loss = model.loss(xs, ys, h, c)
    loss.backward()

    module = torch_twin(model)
    th0 = torch.tensor(h0, requires_grad=True)
    tc0 = None if c0 is None else torch.tensor(c0, requires_grad=True)
    hidden, _ = module.lstm(torch.tensor(xs), (th0, tc0) if tc0 is not None else th0)
    t_logits = module.out(hidden)
    t_loss = torch.nn.functional.cross_entropy(t_logits.reshape(-1, 5), torch.tensor(ys).reshape(-1),
                                               reduction="sum") / xs.shape[1]
    t_loss.backward()

    np.testing.assert_allclose(logits.data, t_logits.detach().numpy(), rtol=1e-10, atol=1e-12)
    assert loss.item() == pytest.approx(t_loss.item(), rel=1e-12)
    theirs = ours_from_torch_grads(model, module)
    for n, p in model.named_parameters():
        np.testing.assert_allclose(p.grad, theirs[n], rtol=1e-10, atol=1e-12, err_msg=n)
    np.testing.assert_allclose(h.grad, th0.grad.numpy().reshape(h.shape), rtol=1e-10, atol=1e-12)
    if c is not None:
        np.testing.assert_allclose(c.grad, tc0.grad.numpy().reshape(c.shape), rtol=1e-10, atol=1e-12)
