# Two commands for a fresh machine: `make run` (set up, build the index, start the chat) and `make test`.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup setup-test index run test bench

$(BIN)/python:
	$(PY) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

setup: $(BIN)/python
	$(BIN)/pip install --quiet -e .

# Debian's Chromium for the browser tests (no browser download), CJK fonts for readable screenshots.
setup-test: $(BIN)/python
	@if ! command -v chromium >/dev/null 2>&1; then \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium fonts-noto-cjk; fi
	$(BIN)/pip install --quiet -e '.[test]'

index: setup
	$(BIN)/assistant ingest

run: index
	$(BIN)/python app.py

test: setup-test
	$(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python bench/speed.py
	$(BIN)/python bench/quality.py
	$(BIN)/python bench/quality.py data/eval/answers.jsonl
	$(BIN)/python bench/citation_support.py
