# freqfusion-edu: `make lab` opens the book, `make test` runs every test. `make help` lists all.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# Two installs, each with its own stamp: students get the book's packages ([book]: JupyterLab,
# widgets, matplotlib), tests and teachers everything ([dev]: + pytest, nbval, nbgrader,
# Playwright, transformers). [dev] contains [book], so its install stamps both.
BOOK_STAMP := $(VENV)/.installed-book
DEV_STAMP := $(VENV)/.installed-dev
# what the targets in mk/*.mk depend on (tests, classroom, benchmarks)
STAMP := $(DEV_STAMP)
PIP_INSTALL := $(PY) -m pip install --quiet -c constraints.txt
PORT ?= 8888
export PYTHONHASHSEED := 0
export FREQFUSION_EDU_MODE ?= fast

.DEFAULT_GOAL := help
.PHONY: help lab install install-book test test-core test-unit test-isa test-book check-notebooks clean

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall only when the project's metadata or pins change.
$(BOOK_STAMP): pyproject.toml constraints.txt | $(VENV)/bin/python
	$(PY) -m pip install --quiet --upgrade pip
	$(PIP_INSTALL) -e ".[book]"
	touch $(BOOK_STAMP)

$(DEV_STAMP): pyproject.toml constraints.txt | $(VENV)/bin/python
	$(PY) -m pip install --quiet --upgrade pip
	$(PIP_INSTALL) -e ".[dev]"
	touch $(DEV_STAMP) $(BOOK_STAMP)

install-book: $(BOOK_STAMP) ## create .venv (if missing) and install what the book needs ([book])

install: $(DEV_STAMP) ## create .venv (if missing) and install the package with every extra ([dev])

# JupyterLab refuses to run as root unless told; these machines run everything as root.
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root,)

# No display (a server, ssh, a container): do not try to open a browser, print the URL instead.
NO_BROWSER := $(if $(or $(DISPLAY),$(WAYLAND_DISPLAY),$(filter Darwin,$(shell uname -s))),,--no-browser)
LAB_FLAGS ?=

lab: $(BOOK_STAMP) ## open the book in JupyterLab (book/00_index.ipynb); PORT=8888 by default
	@echo "Open the http://localhost:$(PORT)/lab?token=... URL JupyterLab prints below (another port: make lab PORT=8890;"
	@echo "on a remote machine first run on your own: ssh -L $(PORT):localhost:$(PORT) USER@HOST). Stop with Ctrl-C."
	$(VENV)/bin/jupyter lab $(ALLOW_ROOT) $(NO_BROWSER) $(LAB_FLAGS) --ServerApp.root_dir=. --port=$(PORT) --ServerApp.port_retries=0 book/00_index.ipynb

# Markers (tests/conftest.py): retrain (re-trains a stored row), slow, book, classroom, browser.
CORE_TESTS := -m "not (retrain or slow or book or classroom or browser)"
# An x86-64 CPU with SSE4.1 only (every x86-64 CPU has it): other oneDNN, ATen and MKL kernels
# than this machine's. Must equal scripts/retrain_drift.py's SSE41_ENV (tests/test_makefile.py).
SSE41_KERNELS := ONEDNN_MAX_CPU_ISA=SSE41 ATEN_CPU_CAPABILITY=default MKL_ENABLE_INSTRUCTIONS=SSE4_2
CHEAPEST_RETRAIN := tests/arena/test_arena_cli.py::test_stored_full_run_reproduces_its_cheapest_row

test-core: $(STAMP) ## library unit tests and doctests: no re-training, notebooks, nbgrader or browser (minutes)
	$(PY) -m pytest -q tests freqfusion_edu $(CORE_TESTS)

test-unit: $(STAMP) ## every test under tests/ and the doctests but the browser's (includes re-training stored rows)
	$(PY) -m pytest -q tests freqfusion_edu --ignore=tests/browser -m "not (book or classroom or browser)"

test-isa: $(STAMP) ## the cheapest re-training test again with an SSE4.1-only CPU's kernels
	$(SSE41_KERNELS) $(PY) -m pytest -q $(CHEAPEST_RETRAIN)

test-book: $(STAMP) ## every chapter top to bottom under nbval (fast mode), then the tests that break chapters' checks
	$(PY) -m pytest -q --nbval-lax --nbval-current-env --nbval-cell-timeout=300 -p no:python book
	$(PY) -m pytest -q tests -m "book and not browser"

check-notebooks: $(STAMP) ## fail if any notebook is stored with outputs
	$(VENV)/bin/nbstripout --verify $$(git ls-files '*.ipynb')

test: check-notebooks test-unit test-isa test-book ## everything CI runs

clean: ## remove build outputs (keeps .venv)
	rm -rf build .pytest_cache

# Each subject (browser tests, classroom, benchmarks, ...) adds its targets in mk/<subject>.mk,
# and hooks into `make test` by adding itself as a prerequisite of `test`.
-include mk/*.mk
