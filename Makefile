# freqfusion-edu: `make lab` opens the book, `make test` runs every test. `make help` lists all.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PORT ?= 8888
export PYTHONHASHSEED := 0
export FREQFUSION_EDU_MODE ?= fast

.DEFAULT_GOAL := help
.PHONY: help lab install test test-unit test-book check-notebooks clean

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall only when the project's metadata or pins change.
$(STAMP): pyproject.toml constraints.txt | $(VENV)/bin/python
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

install: $(STAMP) ## create .venv (if missing) and install the package with every extra

# JupyterLab refuses to run as root unless told; these machines run everything as root.
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root,)

lab: $(STAMP) ## open the book in JupyterLab (book/00_index.ipynb); PORT=8888 by default
	$(VENV)/bin/jupyter lab $(ALLOW_ROOT) --ServerApp.root_dir=. --port=$(PORT) book/00_index.ipynb

test-unit: $(STAMP) ## unit tests and doctests
	$(PY) -m pytest -q tests freqfusion_edu --ignore=tests/browser

test-book: $(STAMP) ## run every chapter top to bottom under nbval (fast mode), with timings
	$(PY) -m pytest -q --nbval-lax --nbval-current-env --nbval-cell-timeout=300 -p no:python book

check-notebooks: $(STAMP) ## fail if any notebook is stored with outputs
	$(VENV)/bin/nbstripout --verify $$(git ls-files '*.ipynb')

test: check-notebooks test-unit test-book ## everything CI runs

clean: ## remove build outputs (keeps .venv)
	rm -rf build .pytest_cache

# Each subject (browser tests, classroom, benchmarks, ...) adds its targets in mk/<subject>.mk,
# and hooks into `make test` by adding itself as a prerequisite of `test`.
-include mk/*.mk
