# convprop: two commands for a newcomer, `make demo` and `make test`.
# Every target sets up .venv itself (python3 -m venv) and installs what it needs.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip

.PHONY: demo test lint docs bench fashion-mnist clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(VENV)/.installed-run: pyproject.toml | $(PY)
	$(PIP) install --quiet -e ".[plot,io,images,fast,grade]"
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(PY)
	$(PIP) install --quiet -e ".[dev,plot,mpi,io,images,fast,grade,docs]"
	touch $@ $(VENV)/.installed-run

demo: $(VENV)/.installed-run
	$(VENV)/bin/convprop demo

# Two test processes, one BLAS/OpenMP thread each: the 2 cores are not oversubscribed.
test: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check src tests benchmarks
	OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 $(PY) -m pytest -q -n 2

# The core as a user without the extras has it (CI's no-Numba step): a venv of its own with
# convprop and the test tools only, no Numba and no PyTorch (checked), and the core tests
# (the compiled engines' and PyTorch's comparisons skip; everything else runs on NumPy).
.PHONY: test-core clean-core
CORE_VENV  := .venv-core
CORE_PY    := $(CORE_VENV)/bin/python
CORE_TESTS := tests/conv tests/ops tests/nn tests/optim tests/data \
  tests/test_jit.py tests/test_io.py::test_import_convprop_needs_neither_torch_nor_safetensors

$(CORE_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(CORE_VENV)
	$(CORE_PY) -m pip install --quiet --upgrade pip
	$(CORE_PY) -m pip install --quiet -e . pytest pytest-xdist pytest-timeout hypothesis scipy
	touch $@

test-core: $(CORE_VENV)/.installed
	@if $(CORE_PY) -c "import numba" 2>/dev/null; then \
	  echo "test-core: numba is importable in $(CORE_VENV); this step needs it absent"; exit 1; fi
	@if $(CORE_PY) -c "import torch" 2>/dev/null; then \
	  echo "test-core: torch is importable in $(CORE_VENV); this step needs it absent"; exit 1; fi
	$(CORE_PY) -c "import sys, convprop; assert 'numba' not in sys.modules; print('imports')"
	OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 $(CORE_PY) -m pytest -q -n 2 -p no:cacheprovider \
	  $(CORE_TESTS)

clean: clean-core
clean-core:
	rm -rf $(CORE_VENV)

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks

# The documentation site into site/ (open site/index.html): strict, so a broken link, a bad
# reference or a failing tutorial cell fails the build. Tutorials run with one BLAS thread.
docs: $(VENV)/.installed-dev
	env -u MPLBACKEND NO_MKDOCS_2_WARNING=1 OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 \
	  $(VENV)/bin/mkdocs build --strict --site-dir site
	@echo "docs: built into site/; open site/index.html"

FASHION_MNIST := /usr/share/datasets/fashion-mnist

bench: $(VENV)/.installed-dev
	@test -d $(FASHION_MNIST) || $(MAKE) --no-print-directory fashion-mnist || \
	  echo "bench: could not install Debian's dataset-fashion-mnist; its rows are skipped"
	$(VENV)/bin/convprop bench

# The real Fashion-MNIST IDX files (60,000 + 10,000 images), from Debian's package.
fashion-mnist:
	@SUDO=$$([ "$$(id -u)" = 0 ] || echo "sudo -n"); \
	  $$SUDO apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1 || \
	  { $$SUDO apt-get update -q >/dev/null 2>&1 && \
	    $$SUDO apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1; }

clean:
	rm -rf $(VENV) build dist site .cache src/*.egg-info .pytest_cache .ruff_cache .hypothesis
