"""PyTorch peers for benchmarks/lstm.py, used only when torch is installed (make bench TORCH=1):
"torch.nn.LSTM" (the fused C++ LSTM) and "torch LSTMCell loop" (a Python loop over
nn.LSTMCell), each followed by the output layer and the same loss. Torch's own initial
weights (the timing does not depend on them); as many threads as the machine has cores.
"""
import os


def load():
    """(torch, its version) or (None, None) when it is not installed."""
    try:
        import torch
    except ImportError:
        return None, None
    torch.set_num_threads(os.cpu_count() or 1)
    return torch, torch.__version__


def paths(torch, xs_np, ys_np, hidden_size, output_size):
    """{name: fn} computing the loss and every parameter's gradient; xs (T, B, I), ys (T, B)."""
    T, B, I = xs_np.shape
    H, O = hidden_size, output_size
    dtype = {"float64": torch.float64, "float32": torch.float32}[str(xs_np.dtype)]
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(I, H).to(dtype)
    cell = torch.nn.LSTMCell(I, H).to(dtype)
    out = torch.nn.Linear(H, O).to(dtype)
    xs, ys = torch.tensor(xs_np), torch.tensor(ys_np).reshape(-1)

    def loss_of(hidden):
        return torch.nn.functional.cross_entropy(out(hidden).reshape(-1, O), ys, reduction="sum") / B

    def nn_lstm():
        for p in (*lstm.parameters(), *out.parameters()):
            p.grad = None
        hidden, _ = lstm(xs)
        loss_of(hidden).backward()

    def cell_loop():
        for p in (*cell.parameters(), *out.parameters()):
            p.grad = None
        h = torch.zeros(B, H, dtype=dtype)
        c = torch.zeros(B, H, dtype=dtype)
        outputs = []
        for t in range(T):
            h, c = cell(xs[t], (h, c))
            outputs.append(h)
        loss_of(torch.stack(outputs)).backward()

    return {"torch.nn.LSTM": nn_lstm, "torch LSTMCell loop": cell_loop}
