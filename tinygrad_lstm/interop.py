"""The same weights in PyTorch: state dicts for a module holding `lstm` (nn.LSTM, or nn.RNN
for our RNN) and `out` (nn.Linear). Values are numpy arrays, so torch is needed only by
whoever loads them: `module.load_state_dict({k: torch.tensor(v) for k, v in sd.items()})`.

The mapping (docs/math.md §1.5): our W_g = [U_g | V_g] acts on [HS_{t−1}; x_t], so V_g (the
input columns) goes to weight_ih and U_g (the recurrent columns) to weight_hh, with
torch's gates stacked in the order i, f, g, o (g is our candidate c). Torch adds two bias
vectors, bias_ih + bias_hh; ours goes into bias_ih and bias_hh is 0. Reading a torch
state dict back, the two are summed.
"""
import re

import numpy as np

from .checks import check_fits, flag, listing, quote
from .nn import LSTM, RNN
from .state_dict import readable_arrays, real_arrays

TORCH_GATES = ("i", "f", "c", "o")      # torch's block order, in our gate letters


def to_torch_state_dict(model):
    """{torch name: numpy array} for `model` (LSTM or RNN; peepholes have no torch twin)."""
    if not isinstance(model, (LSTM, RNN)):
        raise TypeError(f"to_torch_state_dict: expected an LSTM or RNN; got {type(model).__name__}")
    if getattr(model, "peephole", False):
        raise ValueError("to_torch_state_dict: torch's nn.LSTM has no peephole connections")
    model._check_parameter_shapes("to_torch_state_dict")       # before numpy's concatenate sees them
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


def from_torch_state_dict(state_dict, dtype="float64", strict=True):
    """An LSTM or RNN with the weights of a torch state dict (values: numpy arrays, or torch
    tensors, which are converted without importing torch here).

    Strict like torch's `load_state_dict`: the dict's own keys say how many layers there are
    and whether there are biases (everywhere or nowhere, as in our models), and every key
    this calls for must be present with the shape the sizes imply. With strict=False, keys
    this module does not use are ignored. Bidirectional (`*_reverse`) and projected
    (`weight_hr_l*`) LSTMs are refused either way."""
    if not hasattr(state_dict, "items"):
        raise TypeError(f"from_torch_state_dict: expected a dict of arrays by name; "
                        f"got {type(state_dict).__name__}")
    strict = flag("from_torch_state_dict: strict", strict)
    state_dict = dict(state_dict.items())
    expected = _expected_keys(state_dict, strict)
    arrays, problems = readable_arrays({name: state_dict[name] for name in expected})   # nothing copied
    # shapes before any copy, as a broadcast view of a few bytes can stand for 300 GB; the
    # copies (float64, checked for non-finite values) are made only if every shape is right
    sizes = _sizes(arrays)
    shapes = _expected_shapes(sizes, expected)
    wrong = _shape_problems(arrays, shapes, sizes)
    right = {} if wrong else {name: array for name, array in arrays.items() if name in shapes}
    count = sum(array.size for array in right.values())
    check_fits("from_torch_state_dict", f"a float64 copy of the state dict's {count:,} values", 8 * count)
    sd = real_arrays(right, "from_torch_state_dict", problems=problems + wrong)       # float64 copies
    return _from_numpy(sd, dtype)


_LAYER_KEY = re.compile(r"lstm\.(weight_ih|weight_hh|bias_ih|bias_hh|weight_hr)_l(\d+)(_reverse)?")
_MODULE = "expected the keys of a module with `lstm` (nn.LSTM or nn.RNN) and `out` (nn.Linear)"


def _expected_keys(state_dict, strict):
    """The keys, in torch's order, that the dict's own keys call for; refuses what we cannot
    represent, anything missing, and (strict) anything extra."""
    parsed = {name: _LAYER_KEY.fullmatch(name) for name in state_dict if isinstance(name, str)}
    parsed = {name: m for name, m in parsed.items() if m}
    reverse = sorted(name for name, m in parsed.items() if m.group(3))
    if reverse:
        raise ValueError(f"from_torch_state_dict: found {listing(reverse)}: bidirectional models "
                         f"(bidirectional=True) are not supported; ours run in one direction")
    projected = sorted(name for name, m in parsed.items() if m.group(1) == "weight_hr")
    if projected:
        raise ValueError(f"from_torch_state_dict: found {listing(projected)}: LSTMs with projections "
                         f"(proj_size > 0) are not supported")
    layers = _layer_count(parsed, len(state_dict))
    bias = "out.bias" in state_dict or any(m.group(1).startswith("bias") for m in parsed.values())
    expected = []
    for k in range(layers):
        expected += [f"lstm.weight_ih_l{k}", f"lstm.weight_hh_l{k}"]
        expected += [f"lstm.bias_ih_l{k}", f"lstm.bias_hh_l{k}"] if bias else []
    expected += ["out.weight"] + (["out.bias"] if bias else [])
    missing = [name for name in expected if name not in state_dict]
    wanted = set(expected)
    extra = [name for name in state_dict if name not in wanted]
    problems = []
    if missing:
        problems.append(f"missing {listing(missing)}")
        if {"lstm.weight_ih_l0", "lstm.weight_hh_l0", "out.weight"} & set(missing):
            problems.append(_MODULE)
        elif layers > 1 and any(name.startswith("lstm.weight") for name in missing):
            problems.append(f"the keys name {layers} layers, l0 to l{layers - 1}")
        if bias and any(".bias" in name for name in missing):
            problems.append("our models have biases everywhere (every layer and `out`) or nowhere")
    if extra and strict:
        problems.append(f"unexpected {listing(extra)} (strict=False ignores keys this module does not use)")
    if problems:
        raise ValueError("from_torch_state_dict: " + "; ".join(problems))
    return expected


def _layer_count(parsed, keys):
    """1 + the highest layer index l<k> among the layer keys ({name: match}); refused, before
    any key is listed, if the dict's `keys` are too few for that many layers (each has a
    weight_ih and a weight_hh): 'lstm.weight_ih_l99999999' would have us list 400 million."""
    if not parsed:
        return 1
    digits = {name: m.group(2).lstrip("0") or "0" for name, m in parsed.items()}
    name = max(digits, key=lambda name: (len(digits[name]), digits[name]))   # no int() of 5,000 digits
    if len(digits[name]) > 9 or 2 * (int(digits[name]) + 1) > keys:
        raise ValueError(f"from_torch_state_dict: {quote(name)} numbers a layer beyond what the dict can "
                         f"hold: it has {keys:,} keys, and each layer has a weight_ih and a weight_hh of its "
                         f"own (torch numbers the layers l0, l1, … with none skipped)")
    return int(digits[name]) + 1


def _sizes(arrays):
    """G (gate rows: 4H for an LSTM, H for an RNN), H, I and O, read from weight_hh_l0,
    weight_ih_l0 and out.weight; None for a size whose array could not be read (the caller
    reports that one). A matrix that cannot tell them is refused here."""
    w_hh, w_ih, w_out = (arrays.get(key) for key in ("lstm.weight_hh_l0", "lstm.weight_ih_l0", "out.weight"))
    G = H = None
    if w_hh is not None:
        H = w_hh.shape[1] if w_hh.ndim == 2 else None
        if H is None or not (w_hh.shape == (H, H) or (H > 0 and w_hh.shape == (4 * H, H))):
            raise ValueError(f"from_torch_state_dict: lstm.weight_hh_l0 has shape {w_hh.shape}; expected "
                             f"(4H, H) for an LSTM or (H, H) for an RNN")
        G = 4 * H if w_hh.shape[0] == 4 * H and w_hh.shape != (H, H) else H
    for name, array in (("lstm.weight_ih_l0", w_ih), ("out.weight", w_out)):
        if array is not None and array.ndim != 2:
            raise ValueError(f"from_torch_state_dict: {name} has shape {array.shape}; expected a 2-D matrix")
    return G, H, None if w_ih is None else w_ih.shape[1], None if w_out is None else w_out.shape[0]


def _expected_shapes(sizes, expected):
    """{name: the shape the sizes (G, H, I, O) imply} for every expected key whose sizes are known."""
    G, H, I, O = sizes
    shapes = {"out.weight": (O, H), "out.bias": (O,)}
    for name in expected:
        m = _LAYER_KEY.fullmatch(name)
        if m:
            kind, k = m.group(1), int(m.group(2))
            shapes[name] = ((G,) if kind.startswith("bias")
                            else (G, I if kind == "weight_ih" and k == 0 else H))
    return {name: shape for name, shape in shapes.items() if name in expected and None not in shape}


def _shape_problems(arrays, shapes, sizes):
    """[a ValueError naming every array of another shape than `shapes` gives, and where the
    sizes came from], or []: no broadcast or concatenation error can come later."""
    wrong = [f"{name} has shape {arrays[name].shape}, expected {shape}"
             for name, shape in shapes.items() if name in arrays and arrays[name].shape != shape]
    if not wrong:
        return []
    G, H, I, O = sizes
    sources = {f"lstm.weight_hh_l0 {(G, H)} makes this {'an LSTM' if G != H else 'an RNN'} with hidden "
               f"size {H}": H, f"lstm.weight_ih_l0 input size {I}": I, f"out.weight output size {O}": O}
    said = ", ".join(text for text, size in sources.items() if size is not None)
    return [ValueError("; ".join(wrong) + f" ({said})")]


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
    try:
        model = (LSTM if is_lstm else RNN)(I, H, O, num_layers=layers, bias=bias, dtype=dtype)
    except (TypeError, ValueError) as e:
        raise type(e)(f"from_torch_state_dict: the sizes in the state dict do not "
                      f"make a model: {e}") from None
    ours = {}
    for k in range(layers):
        p = model.prefix(k + 1)
        w_ih, w_hh = sd[f"lstm.weight_ih_l{k}"], sd[f"lstm.weight_hh_l{k}"]
        expected = (4 * H if is_lstm else H, model.input_size if k == 0 else H)
        if w_ih.shape != expected:
            raise ValueError(f"from_torch_state_dict: lstm.weight_ih_l{k} has shape {w_ih.shape}; "
                             f"expected {expected}")
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
