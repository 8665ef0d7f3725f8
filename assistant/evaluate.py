"""Scores a question set: retrieval (hit@1, hit@k, MRR), refusals, verbatim citations, latency.

A question set is JSONL: ``{"id", "question", "answerable", "expected": [{"doc", "text", "article"}]}``.
A hit is a retrieved passage from the expected document that contains the expected text, whitespace ignored.
"""

from __future__ import annotations

import json
import statistics
from functools import lru_cache
from pathlib import Path

from assistant.schema import Answer
from assistant.textutil import normalize_ws


def load_questions(path: str | Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def first_hit_rank(answer: Answer, expected: list[dict]) -> int | None:
    """1-based rank of the first retrieved passage that matches any expected passage."""
    for rank, hit in enumerate(answer.retrieved, 1):
        text = normalize_ws(hit.chunk.text)
        for exp in expected:
            if hit.chunk.doc == exp["doc"] and normalize_ws(exp["text"]) in text:
                return rank
    return None


@lru_cache(maxsize=256)
def _source_text(source: str) -> str:
    from ingest.loaders import load

    return normalize_ws(load(source).text)


def citation_is_verbatim(chunk) -> bool:
    """The quoted passage occurs, whitespace aside, in the document it names."""
    try:
        return normalize_ws(chunk.text) in _source_text(chunk.source)
    except Exception:
        return False


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def evaluate(engine, path: str | Path, k: int = 5, mode: str = "hybrid") -> dict:
    questions = load_questions(path)
    engine.retriever.mode = mode
    try:
        rows = []
        for q in questions:
            ans = engine.ask(q["question"], k=k, qid=q.get("id"))
            rank = first_hit_rank(ans, q.get("expected") or [])
            rows.append({
                "id": q.get("id"), "kind": q.get("kind"), "answerable": bool(q.get("answerable", True)),
                "found": ans.found, "rank": rank, "ms": ans.ms,
                "quoted": any(normalize_ws(e["text"]) in normalize_ws(ans.answer) for e in q.get("expected") or []),
                "verbatim": [citation_is_verbatim(c.chunk) for c in ans.citations],
                "answer": ans.answer, "reasons": ans.reasons,
            })
    finally:
        engine.retriever.mode = "hybrid"
    answerable = [r for r in rows if r["answerable"]]
    unanswerable = [r for r in rows if not r["answerable"]]
    cited = [v for r in rows for v in r["verbatim"]]
    ms = [r["ms"] for r in rows]
    n = max(len(answerable), 1)
    return {
        "file": str(path), "mode": mode, "k": k, "questions": len(rows),
        "hit@1": sum(1 for r in answerable if r["rank"] == 1) / n,
        f"hit@{k}": sum(1 for r in answerable if r["rank"]) / n,
        "mrr": sum(1 / r["rank"] for r in answerable if r["rank"]) / n,
        # the answer text itself quotes the expected passage's words (not just retrieves the passage)
        "answer_quotes_expected": sum(1 for r in answerable if r["quoted"]) / n,
        "refusal_accuracy": (sum(1 for r in unanswerable if not r["found"]) / len(unanswerable)) if unanswerable else None,
        "false_refusals": sum(1 for r in answerable if not r["found"]),
        "citations_verbatim": (sum(cited) / len(cited)) if cited else None,
        "p50_ms": statistics.median(ms) if ms else 0.0,
        "p95_ms": percentile(ms, 0.95),
        "misses": [r["id"] for r in answerable if not r["rank"]],
        "wrong_answers": [r["id"] for r in unanswerable if r["found"]],
        "wrong_refusals": [r["id"] for r in answerable if not r["found"]],
        "rows": rows,
    }


def format_report(result: dict) -> str:
    k = result["k"]
    lines = [
        f"{result['file']} ({result['questions']} questions, mode {result['mode']})",
        f"hit@1 {result['hit@1']:.3f}   hit@{k} {result[f'hit@{k}']:.3f}   MRR {result['mrr']:.3f}"
        f"   answer quotes expected {result['answer_quotes_expected']:.3f}",
        f"refusal accuracy {result['refusal_accuracy'] if result['refusal_accuracy'] is None else format(result['refusal_accuracy'], '.3f')}"
        f"   false refusals {result['false_refusals']}",
        f"citations verbatim {result['citations_verbatim'] if result['citations_verbatim'] is None else format(result['citations_verbatim'], '.3f')}",
        f"p50 {result['p50_ms']:.1f} ms   p95 {result['p95_ms']:.1f} ms",
    ]
    for key in ("misses", "wrong_answers", "wrong_refusals"):
        if result[key]:
            lines.append(f"{key}: {', '.join(map(str, result[key]))}")
    return "\n".join(lines)
