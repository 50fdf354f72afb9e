# Every target sets itself up on a fresh machine: the virtualenv comes from pyproject.toml.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: venv test lint unit e2e demo chaos bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

venv: $(STAMP)

## make test: lint, type-check and the whole suite (unit, e2e, short chaos runs)
test: $(STAMP)
	$(PY) -m ruff check operator tests bench
	$(PY) -m mypy
	$(PY) -m pytest -q

lint: $(STAMP)
	$(PY) -m ruff check operator tests bench
	$(PY) -m mypy

unit: $(STAMP)
	$(PY) -m pytest -q tests/unit

e2e: $(STAMP)
	$(PY) -m pytest -q tests/e2e

## make demo: dev cluster + 3 operator replicas + examples, with a live view
demo: $(STAMP)
	$(VENV)/bin/recurringjob demo

clean:
	rm -rf $(VENV) .tools .pytest_cache .mypy_cache .ruff_cache
