# make run   - set everything up (first time: several minutes) and open the chat on http://127.0.0.1:7860
# make test  - set everything up and run the test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export ANONYMIZED_TELEMETRY := False
export GRADIO_ANALYTICS_ENABLED := False

.PHONY: setup run test ingest doctor lint clean-index

setup: $(STAMP)
	@$(BIN)/rag model

# torch first, pinned: its CPU build is what 2.13.0 resolves to here; anything later that
# depends on torch then finds it satisfied. Everything else is pinned by constraints.txt.
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

ingest: setup
	$(BIN)/rag ingest

run: ingest
	$(BIN)/rag ui

test: setup
	$(BIN)/python -m pytest -q

doctor: setup
	$(BIN)/rag doctor

lint: setup
	$(BIN)/ruff check rag ui evals tests
	$(BIN)/mypy rag

clean-index:
	rm -rf index/chroma index/manifest.json index/corpus-*
