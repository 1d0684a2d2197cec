"""Built-in tasks, generated on the fly (no downloads). Each gives batches of
(xs (T, B, I) one-hot, targets (T, B) class indices, mask (T, B) or None).

- recall: the first step shows one of K symbols, then `delay` distractor steps, then a
  query; the target at the query is the first symbol. A long-range dependency: an RNN's
  gradient from the query fades before it reaches step 1 (lecture 001/004's story).
- next-char: predict the next character of a short text (the lecture's a→b, b→c).
- pos: tag words with their part of speech, where the same word takes different tags by
  context (lecture 001: "I eat apple" / "I work at apple").
"""
from dataclasses import dataclass

import numpy as np

from .checks import check_fits, is_whole, whole

TASKS = ("next-char", "recall", "pos")


@dataclass
class Batch:
    xs: np.ndarray          # (T, B, I) one-hot inputs
    targets: np.ndarray     # (T, B) class indices
    mask: np.ndarray        # (T, B) bool: the steps that carry a loss


class Task:
    name = ""
    input_size = output_size = 0

    def batch(self, size, rng):
        """A Batch of `size` sequences drawn with `rng` (a numpy Generator)."""
        size = whole(f"{self.name}.batch: size", size, minimum=1)
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"{self.name}.batch: rng must be a numpy Generator "
                            f"(np.random.default_rng(seed)); got {type(rng).__name__}")
        steps = getattr(self, "steps", None)
        if steps is not None:          # xs (T, B, I) float64, targets (T, B) intp, mask (T, B) bool
            check_fits(f"{self.name}.batch",
                       f"a batch of size={size} ({steps} steps × {self.input_size} inputs)",
                       steps * size * (8 * self.input_size + np.dtype(np.intp).itemsize + 1))
        return self._batch(size, rng)

    def _batch(self, size, rng):
        raise NotImplementedError

    def describe(self):
        return self.name


def _one_hot(indices, size):
    return np.eye(size)[indices]


class Recall(Task):
    """Inputs: one-hot over K symbols, plus a marker bit (on at step 1) and a query bit (on at
    the last step). The distractors come from the same K symbols, so they cannot simply be
    ignored: the network must latch the marked symbol and keep it while look-alikes stream
    through the same input weights, which is what the LSTM's input and forget gates do."""
    name = "recall"

    def __init__(self, delay=20, symbols=4):
        self.delay = whole("recall: delay", delay, minimum=0)
        if not is_whole(symbols) or symbols < 2:
            raise ValueError(f"recall: needs at least 2 symbols; got {symbols!r}")
        self.symbols = int(symbols)
        self.input_size = self.symbols + 2
        self.output_size = self.symbols
        self.steps = self.delay + 2

    def _batch(self, size, rng):
        K, T = self.symbols, self.steps
        tokens = rng.integers(0, K, size=(T, size))
        xs = np.zeros((T, size, self.input_size))
        xs[:-1] = _one_hot(tokens[:-1], K + 2)                       # the symbol of each step
        xs[0, :, K] = 1.0                                            # the marker: remember this one
        xs[-1, :, K + 1] = 1.0                                       # the query: which was it?
        targets = np.zeros((T, size), dtype=np.intp)
        targets[-1] = tokens[0]
        mask = np.zeros((T, size), dtype=bool)
        mask[-1] = True                                              # many-to-one: one loss, at the end
        return Batch(xs, targets, mask)

    def describe(self):
        return f"recall (K={self.symbols} symbols, delay {self.delay}, chance {1 / self.symbols:.2f})"


TEXT = (
    "a long short-term memory network keeps a cell state that runs through time. "
    "the forget gate decides what to keep, the input gate decides what to write, "
    "and the output gate decides what to show. a plain recurrent network has no such "
    "path, so the gradient fades as it travels back. abcdefghijklmnopqrstuvwxyz. "
)


class NextChar(Task):
    """Windows of TEXT: at every step, the next character."""
    name = "next-char"

    def __init__(self, text=TEXT, steps=24):
        steps = whole("next-char: steps", steps, minimum=1)
        if not isinstance(text, str) or len(text) < steps + 2:
            raise ValueError(f"next-char: the text must be a string of at least steps + 2 = {steps + 2} "
                             f"characters; got {len(text) if isinstance(text, str) else type(text).__name__}")
        self.text = text
        self.vocabulary = sorted(set(text))
        index = {c: k for k, c in enumerate(self.vocabulary)}
        self.codes = np.array([index[c] for c in text], dtype=np.intp)
        self.input_size = self.output_size = len(self.vocabulary)
        self.steps = steps

    def _batch(self, size, rng):
        starts = rng.integers(0, len(self.codes) - self.steps - 1, size=size)
        windows = np.stack([self.codes[s:s + self.steps + 1] for s in starts], axis=1)
        return Batch(_one_hot(windows[:-1], self.input_size), windows[1:], np.ones((self.steps, size), bool))

    def describe(self):
        return f"next-char ({len(self.text)} characters, {self.input_size} symbols)"


POS_SENTENCES = [   # (words, tags): "apple" the fruit is a NOUN, Apple the company a PROPN
    ("i eat apple", "PRON VERB NOUN"),
    ("i work at apple", "PRON VERB ADP PROPN"),
    ("she eats an apple", "PRON VERB DET NOUN"),
    ("he works at apple", "PRON VERB ADP PROPN"),
    ("apple makes phones", "PROPN VERB NOUN"),
    ("we buy an apple at the market", "PRON VERB DET NOUN ADP DET NOUN"),
    ("they work at the market", "PRON VERB ADP DET NOUN"),
    ("i buy phones at apple", "PRON VERB NOUN ADP PROPN"),
    ("the apple is red", "DET NOUN VERB ADJ"),
    ("apple is big", "PROPN VERB ADJ"),
    ("she likes the red apple", "PRON VERB DET ADJ NOUN"),
    ("he eats at the market", "PRON VERB ADP DET NOUN"),
]


class PartOfSpeech(Task):
    """Sentences padded to the longest; the mask covers the real words."""
    name = "pos"

    def __init__(self, sentences=POS_SENTENCES):
        if not sentences or not all(isinstance(pair, (tuple, list)) and len(pair) == 2
                                    and all(isinstance(text, str) and text.split() for text in pair)
                                    for pair in sentences):
            raise ValueError("pos: sentences must be a non-empty list of (words, tags) pairs of "
                             "non-empty strings")
        self.sentences = [(words.split(), tags.split()) for words, tags in sentences]
        for words, tags in self.sentences:
            if len(words) != len(tags):
                raise ValueError(f"pos: {' '.join(words)!r} has {len(words)} words but {len(tags)} tags")
        self.words = ["<pad>"] + sorted({w for ws, _ in self.sentences for w in ws})
        self.tags = sorted({t for _, ts in self.sentences for t in ts})
        self.input_size, self.output_size = len(self.words), len(self.tags)
        self.steps = max(len(ws) for ws, _ in self.sentences)

    def _batch(self, size, rng):
        picks = rng.integers(0, len(self.sentences), size=size)
        tokens = np.zeros((self.steps, size), dtype=np.intp)
        targets = np.zeros((self.steps, size), dtype=np.intp)
        mask = np.zeros((self.steps, size), dtype=bool)
        for b, k in enumerate(picks):
            words, tags = self.sentences[k]
            tokens[:len(words), b] = [self.words.index(w) for w in words]
            targets[:len(tags), b] = [self.tags.index(t) for t in tags]
            mask[:len(words), b] = True
        return Batch(_one_hot(tokens, self.input_size), targets, mask)

    def describe(self):
        return f"pos ({len(self.sentences)} sentences, tags {', '.join(self.tags)})"


def make_task(name, delay=20):
    """A task by name: "next-char", "recall" (with its delay) or "pos"."""
    if name == "recall":
        return Recall(delay=delay)
    if name == "next-char":
        return NextChar()
    if name == "pos":
        return PartOfSpeech()
    raise ValueError(f"unknown task {name!r}; the tasks are {', '.join(TASKS)}")
