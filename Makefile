# The README's commands. Each sets up .venv on first use (and when requirements change).
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.stamp-requirements

# Same environment for producing stored outputs and re-checking them (see CONTRIBUTING.md):
# CPU only, fixed thread count, real (non-Agg) figures, no progress bars in notebooks.
export CNNNOTES_THREADS ?= 2
export OMP_NUM_THREADS := $(CNNNOTES_THREADS)
export MKL_NUM_THREADS := $(CNNNOTES_THREADS)
export CUDA_VISIBLE_DEVICES :=
export PYTHONHASHSEED := 0
export TQDM_DISABLE := 1
export PYDEVD_DISABLE_FILE_VALIDATION := 1
unexport MPLBACKEND

# The second configuration of the notebook tests: other float kernels (AVX2 convolutions,
# matrix products and ATen kernels), each of which changes float results on an AVX-512 CPU.
# Every stored output must hold under both; a number that changes here would change on
# another CPU. It also runs one thread per kernel, which changes the order of parallel
# reductions; `CNNNOTES_THREADS=1 make test` makes the first pass one-thread too.
PORTABLE_ENV := ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2
ONE_THREAD := CNNNOTES_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
# Unit tests run on two workers of one thread each (two threads each would oversubscribe two
# cores: thousands of tiny ops then wait for a core); the book is built once per run (a lock
# in tests/conftest.py); tests that need two threads set them themselves.
PARALLEL := -n 2 --dist loadgroup
# Chapter 9 is the one that trains; the others read recorded results.
TRAINS := book/09_training.ipynb
OTHERS := $(filter-out $(TRAINS),$(sort $(wildcard book/*.ipynb)))
CHAPTERS := $(TRAINS) $(OTHERS)
NBVAL := -m pytest --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg

.PHONY: book test check notebooks train benchmark clean lab

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

## book: build the website into _build/html (the main job)
book: $(STAMP)
	$(PY) scripts/vendor_assets.py
	$(VENV)/bin/jupyter-book build . -W -n --keep-going

## test: every test (lint, unit and doctests, site, notebook structure, nbval twice)
test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	env $(ONE_THREAD) $(PY) -m pytest $(PARALLEL)
	@# The notebooks twice, sharing one empty model cache. The first pass, as the outputs were
	@# made (same threads per kernel), trains chapter 9 live (so every test run does), then runs
	@# the other chapters, one at a time: two two-thread kernels on two cores took longer than
	@# one after the other (chapter 9 beside the rest: 544-551 s against 243 + 154 s; the rest
	@# two at a time: 284-300 s against 154 s). The second pass re-checks every stored output under
	@# other float kernels and one thread per kernel, and reuses that model
	@# (CNNNOTES_CACHE_ANY_KERNELS: chapter 9's training outputs are band-checked measurements,
	@# never compared digit for digit; see cnnnotes.training.cache), two chapters at a time.
	cache=$$(mktemp -d); trap 'rm -rf "$$cache"' EXIT; \
	CNNNOTES_CACHE=$$cache $(PY) $(NBVAL) $(TRAINS); \
	CNNNOTES_CACHE=$$cache $(PY) $(NBVAL) $(OTHERS); \
	env $(PORTABLE_ENV) $(ONE_THREAD) CNNNOTES_CACHE=$$cache CNNNOTES_CACHE_ANY_KERNELS=1 \
		$(PY) $(NBVAL) -n 2 --dist loadfile $(CHAPTERS)

## check: the quick loop for contributors (lint, unit tests, doctests; no book, no notebooks)
check: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	env $(ONE_THREAD) $(PY) -m pytest $(PARALLEL) -m "not site"

## notebooks: re-execute every chapter and store its outputs (the only way outputs are made)
notebooks: $(STAMP)
	$(PY) scripts/execute_notebooks.py

## train: the main training job from the command line
train: $(STAMP)
	TQDM_DISABLE= $(PY) -m cnnnotes train --model notes --epochs 5 --out runs/notes

## lab: open the chapters in JupyterLab from the project's environment
lab: $(STAMP)
	$(PY) -c "import jupyterlab" 2>/dev/null || $(PY) -m pip install --quiet jupyterlab
	$(VENV)/bin/jupyter lab book/

## clean: remove the built site and the cache of trained models (~/.cache/cnnnotes/runs)
clean:
	rm -rf _build _vendor build
	rm -rf "$${CNNNOTES_CACHE:-$$HOME/.cache/cnnnotes/runs}"
