# Each target sets up everything it needs on a fresh machine: a virtual env in .venv with
# this package installed in editable mode (with the test tools, matplotlib for plots and
# tqdm for progress bars),
# and Graphviz's `dot` (Debian: graphviz) if absent; `make test` also installs Chromium (Debian:
# chromium) for the HTML page's browser tests, which skip, saying why, if it can't be installed.
#   make test            the linter (ruff), then the test suite
#   make test TORCH=1    ... plus PyTorch 2.13 (CPU), which turns on the torch parity tests
#   make demo            the main job
#   make bench           benchmarks against PyTorch when it is installed (TORCH=1), and JAX and
#                        HIPS autograd when installed (make bench PEERS=1 installs all three)
#   make docs            the README's pictures, into docs/

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
TORCH  ?= 0
APT    := $(if $(filter 0,$(shell id -u)),,sudo) env DEBIAN_FRONTEND=noninteractive apt-get

.PHONY: test demo bench docs install graphviz chromium clean

test: install graphviz chromium
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

demo: install graphviz
	$(BIN)/tinygrad-lstm demo --out out

bench: install graphviz
	$(BIN)/python benchmarks/ops.py
	$(BIN)/python benchmarks/lstm.py
	$(BIN)/python benchmarks/train.py
	$(BIN)/python benchmarks/render.py

docs: install graphviz
	$(BIN)/python docs/pictures.py

PEERS  ?= 0

install: $(VENV)/.installed $(if $(filter 1,$(TORCH) $(PEERS)),$(VENV)/.torch) $(if $(filter 1,$(PEERS)),$(VENV)/.peers)

$(VENV)/.installed: setup.cfg pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 9))' 2>/dev/null || \
	  { echo "error: tinygrad_lstm needs Python >= 3.9 as '$(PYTHON)' (make PYTHON=python3.X ...)" >&2; exit 1; }
	@$(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || { \
	  echo "Python's venv module is missing: installing the Debian package python3-venv"; \
	  $(APT) update -qq && $(APT) install -y -qq python3-venv >/dev/null; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e ".[dev,plots,progress]"
	@touch $@

$(VENV)/.torch: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet "torch==2.13.0"
	@touch $@

$(VENV)/.peers: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet jax autograd
	@touch $@

graphviz:
	@command -v dot >/dev/null 2>&1 || { \
	  echo "Graphviz's 'dot' is not on PATH: installing the Debian package graphviz"; \
	  if command -v apt-get >/dev/null 2>&1; then \
	    $(APT) update -qq && $(APT) install -y -qq graphviz >/dev/null; fi; \
	  command -v dot >/dev/null 2>&1 || { \
	    echo "error: could not install Graphviz. Install it yourself (Debian/Ubuntu:" \
	         "sudo apt-get install graphviz; macOS: brew install graphviz), then run make again." >&2; \
	    exit 1; }; }

# Optional: without it only tests/test_page.py's browser tests skip, so this never fails.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "Chromium is not on PATH: installing the Debian package chromium (for the browser tests)"; \
	  if command -v apt-get >/dev/null 2>&1; then \
	    $(APT) update -qq && $(APT) install -y -qq chromium >/dev/null; fi; \
	  command -v chromium >/dev/null 2>&1 || \
	    echo "notice: could not install Chromium; the browser tests in tests/test_page.py will be" \
	         "skipped (Debian/Ubuntu: sudo apt-get install chromium)." >&2; }

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .hypothesis out
