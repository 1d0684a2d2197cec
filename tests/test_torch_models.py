"""LSTM and RNN against torch.nn.LSTM / nn.RNN (an optional dependency), through the weight
mapping of docs/math.md §1.5: same logits, same loss, same gradients, to 1e-10 in float64."""
import numpy as np
import pytest

from tinygrad_lstm import Tensor
from tinygrad_lstm.interop import from_torch_state_dict, to_torch_state_dict
from tinygrad_lstm.nn import LSTM, RNN

from .test_nn import data, randomize

torch = pytest.importorskip("torch")

def torch_twin(model):
    """A torch module holding `lstm` (nn.LSTM or nn.RNN) and `out` (nn.Linear), same weights."""
    rnn_class = torch.nn.LSTM if isinstance(model, LSTM) else torch.nn.RNN
    module = torch.nn.Module()
    module.lstm = rnn_class(model.input_size, model.hidden_size, num_layers=model.num_layers,
                            bias=model.bias).double()
    module.out = torch.nn.Linear(model.hidden_size, model.output_size, bias=model.bias).double()
    module.load_state_dict({k: torch.tensor(v) for k, v in to_torch_state_dict(model).items()})
    return module


def ours_from_torch_grads(module):
    """The twin's gradients under our names. Torch's two bias vectors each get the whole
    dL/db; loading sums them, so one of them is zeroed here."""
    grads = {n: p.grad for n, p in module.named_parameters()}
    grads = {n: torch.zeros_like(g) if ".bias_hh_" in n else g for n, g in grads.items()}
    return dict(from_torch_state_dict(grads).named_parameters())


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
    theirs = ours_from_torch_grads(module)
    for n, p in model.named_parameters():
        np.testing.assert_allclose(p.grad, theirs[n].data, rtol=1e-10, atol=1e-12, err_msg=n)
    np.testing.assert_allclose(h.grad, th0.grad.numpy().reshape(h.shape), rtol=1e-10, atol=1e-12)
    if c is not None:
        np.testing.assert_allclose(c.grad, tc0.grad.numpy().reshape(c.shape), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("make", [LSTM, RNN])
def test_a_torch_module_round_trip_gives_the_same_logits(make):
    """Our weights -> a torch module -> its state_dict() -> our model: logits equal to 1e-10."""
    model = randomize(make(3, 5, 4, num_layers=2, seed=0))
    xs, _, _, _ = data(model, T=7, B=3)
    module = torch_twin(model)
    back = from_torch_state_dict(module.state_dict())
    with torch.no_grad():
        hidden, _ = module.lstm(torch.tensor(xs))
        theirs = module.out(hidden).numpy()
    np.testing.assert_allclose(back(xs)[0].data, theirs, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(model(xs)[0].data, theirs, rtol=1e-10, atol=1e-12)
