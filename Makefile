# nnlearn: `make demo` installs and runs the quickstart probe; `make test` installs and runs the tests.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# The CPU build of torch is installed first so that the package's own `torch` range never pulls
# a multi-GB CUDA build. On a machine whose pip does not find a CPU wheel by itself, use e.g.
#   make install TORCH_ARGS="--index-url https://download.pytorch.org/whl/cpu"
TORCH ?= torch==2.13.0
TORCH_ARGS ?=
STAMP := $(VENV)/.nnlearn-installed

.PHONY: install demo test test-fast lint format bench bench-accuracy clean

install: $(STAMP)

$(STAMP): pyproject.toml nnlearn/monitor/_native.c
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q $(TORCH_ARGS) "$(TORCH)"
	$(PY) -m pip install -q -e ".[dev]"
	touch $(STAMP)

demo: install
	$(VENV)/bin/nnlearn probe configs/quickstart.yaml

test: install
	$(PY) -m pytest -q

test-fast: install
	$(PY) -m pytest -q -m "not slow"

lint: install
	$(VENV)/bin/ruff check nnlearn tests bench
	$(VENV)/bin/ruff format --check nnlearn tests bench

format: install
	$(VENV)/bin/ruff format nnlearn tests bench
	$(VENV)/bin/ruff check --fix nnlearn tests bench

# The bench extra: cockpit, whose backpack pulls torchvision; torchvision's PyPI build does not
# load beside the CPU torch, and a torchvision that fails to import breaks lightning's import
# (and so the test suite). backpack needs it only for its examples' datasets: removed unless it
# imports.
bench: install
	$(PY) -m pip install -q $(TORCH_ARGS) "$(TORCH)" -e ".[bench]" || echo "cockpit (the bench extra) did not install: the bench reports it as not available"
	$(PY) -c "import torchvision" 2>/dev/null || $(PY) -m pip uninstall -y -q torchvision
	$(PY) bench/overhead.py
	$(PY) bench/verdict.py
	$(PY) bench/experiments_cost.py --repeats 3
	$(PY) bench/startup.py
	$(PY) bench/accuracy.py --quick

# the accuracy benchmark over seeds 0-2 (about 25 minutes on 2 cores)
bench-accuracy: install
	$(PY) bench/accuracy.py --seeds 0 1 2 --json runs/bench-accuracy.json

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache *.egg-info build nnlearn/monitor/_native*.so
