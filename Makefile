# The task runner CI also calls (.ci/run -> make test).
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: install run test lint eval bench clean

# torch first, pinned: 2.13.0 is the CPU build on this machine's disk; letting another package
# pull `torch` would fetch a multi-GB CUDA build.
install:
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e '.[test]'

run: install
	$(VENV)/bin/peelqa serve

test: install
	$(VENV)/bin/pytest -q

lint: install
	$(VENV)/bin/ruff check src tests
	$(VENV)/bin/ruff format --check src tests
	$(VENV)/bin/mypy src

eval: install
	$(VENV)/bin/peelqa eval ../shared/eval/dev.jsonl

clean:
	rm -rf index .pytest_cache .mypy_cache .ruff_cache
