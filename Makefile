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

# llama-cpp-python (the llm extra) compiles llama.cpp: portable x86 flags, because the default native build
# segfaults on some of these CPUs. About 4 minutes on 2 cores the first time; pip caches the wheel after that.
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON

# Debian's Chromium for the browser tests (no browser download), CJK fonts for readable screenshots; the llm extra
# for tests/test_llm.py (a real llama.cpp server with Gemma 3 270M, started and stopped by the test fixture).
setup-test: $(BIN)/python
	@if ! command -v chromium >/dev/null 2>&1; then \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium fonts-noto-cjk; fi
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/pip install --quiet -e '.[test,llm]'

index: setup
	$(BIN)/assistant ingest

run: index
	$(BIN)/python app.py

# The ingest and retrieval tests run a second time against a real `chroma run` (tests/conftest.py).
SERVER_TESTS := tests/test_pipeline.py tests/test_keyword_index.py tests/test_store.py \
	tests/test_retrieval_eval.py tests/test_answer.py tests/test_compose.py tests/test_article_questions.py \
	tests/test_checker.py

test: setup-test
	$(BIN)/python -m pytest -q
	ASSISTANT_TEST_CHROMA=server $(BIN)/python -m pytest -q $(SERVER_TESTS)

bench: setup
	$(BIN)/python bench/speed.py
	$(BIN)/python bench/quality.py
	$(BIN)/python bench/quality.py data/eval/answers.jsonl
	$(BIN)/python bench/citation_support.py
