"""Scores a question set: retrieval (hit@1, hit@k, MRR), refusals, verbatim citations, latency.

A question set is JSONL: ``{"id", "question", "answerable", "expected": [{"doc", "text", "article"}]}``, and
optionally ``"type"`` (what the question asks for, see assistant/intent.py) and ``"quote"``: the snippets the
answer itself must contain — all of them (one per item for a list question).
A hit is a retrieved passage from the expected document that contains the expected text, whitespace ignored.
"""

from __future__ import annotations

import json
import statistics
from functools import lru_cache
from pathlib import Path

from assistant.bodies import profile
from assistant.ingest.loaders import load
from assistant.intent import classify
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


def answer_quotes(answer: Answer, question: dict) -> bool:
    """The answer text quotes what it must: every ``quote`` snippet, else one of the expected texts."""
    text = normalize_ws(answer.answer)
    if question.get("quote"):
        return all(normalize_ws(q) in text for q in question["quote"])
    return any(normalize_ws(e["text"]) in text for e in question.get("expected") or [])


def expected_passage(chunk, question: dict) -> bool:
    """A cited passage is an expected one: it holds an expected text, or a quote snippet of an expected document."""
    text = normalize_ws(chunk.text)
    expected = question.get("expected") or []
    if any(chunk.doc == e["doc"] and normalize_ws(e["text"]) in text for e in expected):
        return True
    docs = {e["doc"] for e in expected}
    return chunk.doc in docs and any(normalize_ws(q) in text for q in question.get("quote") or [])


@lru_cache(maxsize=256)
def _source_text(source: str) -> str:
    return normalize_ws(load(source).text)


def citation_is_verbatim(chunk) -> bool:
    """The quoted passage occurs, whitespace aside, in the document it names."""
    try:
        return normalize_ws(chunk.text) in _source_text(chunk.source)
    except Exception:
        return False


def other_body_citations(answer: Answer, question: dict, reports: list[str]) -> list[str]:
    """Reports the answer cites that belong to another body than the one the question names (question sets with
    a ``body`` field): a report neither expected nor of a body whose place the ``body`` names; none for a question
    naming no body."""
    named = question.get("body")
    if not named:
        return []
    expected = {e["doc"] for e in question.get("expected") or []}
    report_set = set(reports)
    return sorted({d for d in (c.chunk.doc for c in answer.citations) if d in report_set and d not in expected
                   and not any(k in named for k in profile(d).keys)})


def quotes_two_versions(answer: Answer) -> bool:
    """The answer cites the same article of the same law from two files: a reader cannot tell which text is in
    force (assistant/versions.py)."""
    seen: dict[tuple[str, str], str] = {}
    for c in answer.citations:
        if c.chunk.article and seen.setdefault((c.chunk.doc, c.chunk.article), c.chunk.source) != c.chunk.source:
            return True
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
            ans = engine.ask(q["question"], k=k, qid=q.get("id"), history=q.get("history") or None)
            rank = first_hit_rank(ans, q.get("expected") or [])
            answerable = bool(q.get("answerable", True))
            rows.append({
                "id": q.get("id"), "kind": q.get("kind"), "answerable": bool(q.get("answerable", True)),
                "type": q.get("type") or classify(q["question"]),
                "found": ans.found, "rank": rank, "ms": ans.ms,
                "quoted": answer_quotes(ans, q),
                "on_point": [expected_passage(c.chunk, q) for c in ans.citations],
                "verbatim": [citation_is_verbatim(c.chunk) for c in ans.citations],
                "other_body": other_body_citations(ans, q, engine.retriever.bodies.docs),
                "versions_twice": quotes_two_versions(ans),
                "answer": ans.answer, "reasons": ans.reasons,
            })
            row = rows[-1]
            # right: the expected sentence quoted from the named body's document, or refused when it does not say
            row["right"] = (ans.found and row["quoted"] and not row["other_body"]) if answerable else not ans.found
    finally:
        engine.retriever.mode = "hybrid"
    answerable = [r for r in rows if r["answerable"]]
    unanswerable = [r for r in rows if not r["answerable"]]
    cited = [v for r in rows for v in r["verbatim"]]
    by_type = {}
    for t in sorted({r["type"] for r in answerable}):
        group = [r for r in answerable if r["type"] == t]
        on_point = [v for r in group for v in r["on_point"]]
        by_type[t] = {"questions": len(group), "answer_quotes_expected": sum(r["quoted"] for r in group) / len(group),
                      "citation_precision": sum(on_point) / len(on_point) if on_point else None,
                      "hit@1": sum(1 for r in group if r["rank"] == 1) / len(group)}
    on_point = [v for r in answerable for v in r["on_point"]]
    ms = [r["ms"] for r in rows]
    n = max(len(answerable), 1)
    return {
        "file": str(path), "mode": mode, "k": k, "questions": len(rows),
        "hit@1": sum(1 for r in answerable if r["rank"] == 1) / n,
        f"hit@{k}": sum(1 for r in answerable if r["rank"]) / n,
        "mrr": sum(1 / r["rank"] for r in answerable if r["rank"]) / n,
        # the answer text itself quotes the expected passage's words (not just retrieves the passage)
        "answer_quotes_expected": sum(1 for r in answerable if r["quoted"]) / n,
        # cited passages (of answerable questions) that are expected passages
        "citation_precision": sum(on_point) / len(on_point) if on_point else None,
        "by_type": by_type,
        "refusal_accuracy": (sum(1 for r in unanswerable if not r["found"]) / len(unanswerable)) if unanswerable else None,
        "false_refusals": sum(1 for r in answerable if not r["found"]),
        "citations_verbatim": (sum(cited) / len(cited)) if cited else None,
        "right": sum(r["right"] for r in rows) / max(len(rows), 1),
        "other_body_answers": [r["id"] for r in rows if r["other_body"]],
        # answers that quote one article from two files (two versions of a law, or a law and its copy): issue 19
        "two_version_answers": [r["id"] for r in rows if r["versions_twice"]],
        "p50_ms": statistics.median(ms) if ms else 0.0,
        "p95_ms": percentile(ms, 0.95),
        "misses": [r["id"] for r in answerable if not r["rank"]],
        "wrong_answers": [r["id"] for r in unanswerable if r["found"]],
        "wrong_refusals": [r["id"] for r in answerable if not r["found"]],
        "not_quoted": [r["id"] for r in answerable if r["found"] and not r["quoted"]],
        "rows": rows,
    }


#: ``expect`` of an article question → Answer.reasons["article"] for a right answer.
ARTICLE_REASONS = {"article": "ok", "not_in_corpus": "document_not_in_corpus", "no_such_article": "no_such_article",
                   "which_document": "which_document"}


def evaluate_articles(engine, path: str | Path) -> dict:
    """Article questions (``{"id", "question", "doc", "article", "expect"}``): the share answered exactly (the named
    article of the named document, or the right refusal), and the answers that cite any other document's article."""
    rows = []
    for q in load_questions(path):
        ans = engine.ask(q["question"], qid=q.get("id"))
        cited = [(c.chunk.doc, c.chunk.article) for c in ans.citations]
        if q["expect"] == "article":
            exact = ans.found and bool(cited) and all(c == (q["doc"], q["article"]) for c in cited)
        else:
            exact = not ans.found and not cited and ans.reasons.get("article") == ARTICLE_REASONS[q["expect"]]
        exact = exact and not quotes_two_versions(ans)  # one article, one version of it
        wrong = [c for c in cited if c != (q.get("doc"), q.get("article"))]
        rows.append({"id": q.get("id"), "expect": q["expect"], "exact": exact, "wrong_citations": wrong,
                     "answer": ans.answer, "reason": ans.reasons.get("article")})
    kinds = sorted({r["expect"] for r in rows})
    return {
        "file": str(path), "questions": len(rows),
        "exact": sum(r["exact"] for r in rows) / max(len(rows), 1),
        "by_expect": {k: {"questions": sum(r["expect"] == k for r in rows),
                          "exact": sum(r["exact"] for r in rows if r["expect"] == k) / sum(r["expect"] == k for r in rows)}
                      for k in kinds},
        "citing_another_article": [r["id"] for r in rows if r["wrong_citations"]],
        "not_exact": [r["id"] for r in rows if not r["exact"]],
        "rows": rows,
    }


def format_article_report(result: dict) -> str:
    lines = [f"{result['file']} ({result['questions']} article questions)",
             f"exact {result['exact']:.3f}   answers citing another document's or article's text: "
             f"{len(result['citing_another_article'])}"]
    for k, g in result["by_expect"].items():
        lines.append(f"  {k:<16} {g['questions']:>3} q   exact {g['exact']:.3f}")
    for key in ("citing_another_article", "not_exact"):
        if result[key]:
            lines.append(f"{key}: {', '.join(map(str, result[key]))}")
    return "\n".join(lines)


def format_report(result: dict) -> str:
    k = result["k"]
    lines = [
        f"{result['file']} ({result['questions']} questions, mode {result['mode']})",
        f"hit@1 {result['hit@1']:.3f}   hit@{k} {result[f'hit@{k}']:.3f}   MRR {result['mrr']:.3f}"
        f"   answer quotes expected {result['answer_quotes_expected']:.3f}"
        f"   citation precision {_fmt(result['citation_precision'])}",
        f"refusal accuracy {_fmt(result['refusal_accuracy'])}"
        f"   false refusals {result['false_refusals']}",
        f"citations verbatim {_fmt(result['citations_verbatim'])}"
        f"   right (quoted or rightly refused) {result['right']:.3f}"
        f"   answers citing another body's report {len(result['other_body_answers'])}",
        f"p50 {result['p50_ms']:.1f} ms   p95 {result['p95_ms']:.1f} ms",
    ]
    for t, g in result["by_type"].items():
        lines.append(f"  {t:<11} {g['questions']:>3} q   quotes expected {g['answer_quotes_expected']:.3f}"
                     f"   citation precision {_fmt(g['citation_precision'])}   hit@1 {g['hit@1']:.3f}")
    for key in ("misses", "wrong_answers", "wrong_refusals", "not_quoted", "other_body_answers"):
        if result[key]:
            lines.append(f"{key}: {', '.join(map(str, result[key]))}")
    return "\n".join(lines)


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"
