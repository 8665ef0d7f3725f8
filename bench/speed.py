"""Ingest and query speed on the real corpus, in-process (imports and model loading excluded).

    python bench/speed.py [--questions FILE.jsonl]

Prints: first ingest of the default folders into a fresh temporary index, re-ingest of the unchanged
corpus, opening the index in a new Engine, and warm per-question latency (p50 / p95) over the question set.
Asserts nothing. Start-up in a fresh process and larger corpora: bench/scale.py.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from assistant.engine import Engine  # noqa: E402
from assistant.evaluate import load_questions, percentile  # noqa: E402
from assistant.settings import PROJECT_ROOT, Settings  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--questions", default=str(PROJECT_ROOT / "data" / "eval" / "dev.jsonl"))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        engine = Engine(Settings(index_dir=Path(tmp)))
        engine.warm()  # load the model and jieba's whole dictionary outside the timings

        t0 = time.perf_counter()
        first = engine.ingest(progress=False)
        t_first = time.perf_counter() - t0
        t0 = time.perf_counter()
        again = engine.ingest(progress=False)
        t_again = time.perf_counter() - t0

        t0 = time.perf_counter()
        opened = Engine(engine.settings)  # what a new process pays to open the index (the saved keyword index)
        t_open = time.perf_counter() - t0

        questions = [q["question"] for q in load_questions(args.questions)]
        engine.ask(questions[0])
        ms = [engine.ask(q).ms for q in questions]

    print(f"documents: {len(first.added)}  chunks: {first.chunks}")
    print(f"first ingest:       {t_first:7.2f} s  ({first.embedded} chunks embedded, {first.chunks / t_first:.0f} chunks/s)")
    print(f"re-ingest, no change: {t_again:5.2f} s  ({again.embedded} embedded) = {100 * t_again / t_first:.1f} % of first")
    print(f"open index (new Engine): {t_open:.2f} s  (keyword index {opened.retriever.keyword_source})")
    print(f"warm query over {len(ms)} questions: p50 {statistics.median(ms):.1f} ms, p95 {percentile(ms, 0.95):.1f} ms")


if __name__ == "__main__":
    main()
