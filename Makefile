# sertune developer tasks. `make test` on a fresh clone creates the environment first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: install test test-slow test-all lint format clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade "pip>=24"
	$(BIN)/python -m pip install -e ".[dev]"
	touch $(STAMP)

## The default suite: everything but the tests marked slow or gpu.
test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## Only the slow tests (real-corpus training runs and the like).
test-slow: $(STAMP)
	$(BIN)/python -m pytest -m slow $(PYTEST_ARGS)

## Everything, slow and gpu included.
test-all: $(STAMP)
	$(BIN)/python -m pytest -m "" $(PYTEST_ARGS)

LINT_PATHS := sertune recipes tests $(wildcard benchmarks)

lint: $(STAMP)
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)

format: $(STAMP)
	$(BIN)/ruff format $(LINT_PATHS)
	$(BIN)/ruff check --fix $(LINT_PATHS)

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache
