"""The same weights in PyTorch: state dicts for a module holding `lstm` (nn.LSTM, or nn.RNN
for our RNN) and `out` (nn.Linear). Values are numpy arrays, so torch is needed only by
whoever loads them: `module.load_state_dict({k: torch.tensor(v) for k, v in sd.items()})`.

The mapping (docs/math.md §1.5): our W_g = [U_g | V_g] acts on [HS_{t−1}; x_t], so V_g (the
input columns) goes to weight_ih and U_g (the recurrent columns) to weight_hh, with
torch's gates stacked in the order i, f, g, o (g is our candidate c). Torch adds two bias
vectors, bias_ih + bias_hh; ours goes into bias_ih and bias_hh is 0. Reading a torch
state dict back, the two are summed.
"""
import numpy as np

from .nn import LSTM, RNN
from .tensor import Tensor

TORCH_GATES = ("i", "f", "c", "o")      # torch's block order, in our gate letters


def to_torch_state_dict(model):
    """{torch name: numpy array} for `model` (LSTM or RNN; peepholes have no torch twin)."""
    if not isinstance(model, (LSTM, RNN)):
        raise TypeError(f"to_torch_state_dict: expected an LSTM or RNN; got {type(model).__name__}")
    if getattr(model, "peephole", False):
        raise ValueError("to_torch_state_dict: torch's nn.LSTM has no peephole connections")
    P = {name: p.data for name, p in model.named_parameters()}
    H, out = model.hidden_size, {}
    for k in range(model.num_layers):
        p = model.prefix(k + 1)
        if isinstance(model, LSTM):
            out[f"lstm.weight_ih_l{k}"] = np.concatenate([P[f"{p}W_{g}"][:, H:] for g in TORCH_GATES])
            out[f"lstm.weight_hh_l{k}"] = np.concatenate([P[f"{p}W_{g}"][:, :H] for g in TORCH_GATES])
            bias = np.concatenate([P[f"{p}b_{g}"] for g in TORCH_GATES]) if model.bias else None
        else:
            out[f"lstm.weight_ih_l{k}"], out[f"lstm.weight_hh_l{k}"] = P[f"{p}W_xh"], P[f"{p}W_hh"]
            bias = P[f"{p}b_h"] if model.bias else None
        if bias is not None:
            out[f"lstm.bias_ih_l{k}"], out[f"lstm.bias_hh_l{k}"] = bias.copy(), np.zeros_like(bias)
    out["out.weight"] = P["W_y" if isinstance(model, LSTM) else "W_hy"].copy()
    if model.bias:
        out["out.bias"] = P["b_y"].copy()
    return {name: np.array(value) for name, value in out.items()}


def from_torch_state_dict(state_dict, dtype="float64"):
    """An LSTM or RNN with the weights of a torch state dict (values: numpy arrays, or torch
    tensors, which are converted without importing torch here)."""
    if not hasattr(state_dict, "items"):
        raise TypeError(f"from_torch_state_dict: expected a dict of arrays by name; got {type(state_dict).__name__}")
    sd = {name: _numpy(name, value) for name, value in state_dict.items()}
    try:
        return _from_numpy(sd, dtype)
    except KeyError as e:
        raise ValueError(f"from_torch_state_dict: missing {e.args[0]!r}, which this module's other keys "
                         f"call for") from None


def _from_numpy(sd, dtype):
    for needed in ("lstm.weight_ih_l0", "lstm.weight_hh_l0", "out.weight"):
        if needed not in sd:
            raise ValueError(f"from_torch_state_dict: missing {needed!r}; expected the keys of a module "
                             f"with `lstm` (nn.LSTM or nn.RNN) and `out` (nn.Linear)")
    w_hh = sd["lstm.weight_hh_l0"]
    if w_hh.ndim != 2 or sd["lstm.weight_ih_l0"].ndim != 2 or sd["out.weight"].ndim != 2:
        raise ValueError("from_torch_state_dict: lstm.weight_ih_l0, lstm.weight_hh_l0 and out.weight must be "
                         "2-D matrices")
    H = w_hh.shape[1]
    is_lstm = w_hh.shape[0] == 4 * H and H > 0 and w_hh.shape != (H, H)
    if not is_lstm and w_hh.shape != (H, H):
        raise ValueError(f"from_torch_state_dict: lstm.weight_hh_l0 has shape {w_hh.shape}; expected "
                         f"(4H, H) for an LSTM or (H, H) for an RNN")
    layers = 1
    while f"lstm.weight_ih_l{layers}" in sd:
        layers += 1
    bias = "lstm.bias_ih_l0" in sd
    I, O = sd["lstm.weight_ih_l0"].shape[1], sd["out.weight"].shape[0]
    model = (LSTM if is_lstm else RNN)(I, H, O, num_layers=layers, bias=bias, dtype=dtype)
    ours = {}
    for k in range(layers):
        p = model.prefix(k + 1)
        w_ih, w_hh = sd[f"lstm.weight_ih_l{k}"], sd[f"lstm.weight_hh_l{k}"]
        expected = (4 * H if is_lstm else H, model.input_size if k == 0 else H)
        if w_ih.shape != expected:
            raise ValueError(f"from_torch_state_dict: lstm.weight_ih_l{k} has shape {w_ih.shape}; expected {expected}")
        b = sd[f"lstm.bias_ih_l{k}"] + sd[f"lstm.bias_hh_l{k}"] if bias else None
        if is_lstm:
            for j, g in enumerate(TORCH_GATES):
                rows = slice(j * H, (j + 1) * H)
                ours[f"{p}W_{g}"] = np.hstack([w_hh[rows], w_ih[rows]])
                if bias:
                    ours[f"{p}b_{g}"] = b[rows]
        else:
            ours[f"{p}W_xh"], ours[f"{p}W_hh"] = w_ih, w_hh
            if bias:
                ours[f"{p}b_h"] = b
    ours["W_y" if is_lstm else "W_hy"] = sd["out.weight"]
    if bias:
        ours["b_y"] = sd["out.bias"]
    try:
        model.assign(ours, source="the torch state dict")
    except ValueError as e:
        raise ValueError(f"from_torch_state_dict: {e}") from None
    return model


def _numpy(name, value):
    if isinstance(value, Tensor):
        value = value.data
    elif hasattr(value, "detach") and hasattr(value, "cpu"):     # a torch tensor
        value = value.detach().cpu().numpy()
    array = np.asarray(value)
    if array.dtype.kind not in "fiu":
        raise TypeError(f"from_torch_state_dict: {name!r} must be an array of real numbers; got "
                        f"{type(value).__name__} of dtype {array.dtype}")
    return array.astype(np.float64)
