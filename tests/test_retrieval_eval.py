"""Retrieval helpers and the evaluation metrics, on the shared corpus index."""

from __future__ import annotations

import json

from assistant.evaluate import citation_is_verbatim, evaluate, first_hit_rank, format_report, percentile

MINORS = "中华人民共和国未成年人保护法"


def test_mentioned_titles_with_and_without_brackets(engine):
    r = engine.retriever
    assert r.mentioned_titles("未成年人保护法关于网络保护有哪些规定？") == [MINORS]
    assert r.mentioned_titles("《中华人民共和国禁毒法》对学校有什么要求") == ["中华人民共和国禁毒法"]
    assert r.mentioned_titles("学校对学生欺凌应该怎么处理？") == []


def test_bare_article_resolves_from_the_conversation(engine):
    r = engine.retriever
    assert r.lookup_articles("那第四十条呢？") is None  # no title, no context: not an article question
    lookup = r.lookup_articles("那第四十条呢？", default_title=MINORS)
    assert lookup.found and [c.article for c in lookup.chunks] == ["第四十条"]


def test_each_mode_ranks_with_its_own_scores(engine):
    q = "学校对学生欺凌应该怎么处理？"
    for mode in ("hybrid", "bm25", "dense"):
        hits = engine.retriever.search(q, k=5, mode=mode)
        assert len(hits) == 5
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
        assert all((h.bm25 is not None) if mode == "bm25" else True for h in hits)
        assert all((h.dense is not None) if mode == "dense" else True for h in hits)


def test_evaluate_on_a_small_question_set(engine, tmp_path):
    qs = tmp_path / "qs.jsonl"
    rows = [
        {"id": 1, "question": "2022年审查了多少份重大行政决策？", "answerable": True,
         "expected": [{"doc": "柳州市教育局2022年法治政府建设情况报告", "text": "今年共审查重大行政决策9份", "article": None}]},
        {"id": 2, "question": "禁毒法第九十九条", "answerable": False, "expected": []},
        {"id": 3, "question": "红烧肉怎么做才好吃？", "answerable": False, "expected": []},
    ]
    qs.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    result = evaluate(engine, qs, k=5)
    assert result["questions"] == 3
    assert result["hit@1"] == 1.0 and result["mrr"] == 1.0 and result["answer_quotes_expected"] == 1.0
    assert result["refusal_accuracy"] == 1.0 and result["false_refusals"] == 0
    assert result["citations_verbatim"] == 1.0
    assert "hit@1 1.000" in format_report(result)


def test_first_hit_rank_needs_the_right_document(engine):
    answer = engine.ask("学校对学生欺凌应该怎么处理？")
    right = [{"doc": MINORS, "text": "学校应当建立学生欺凌防控工作制度"}]
    wrong_doc = [{"doc": "中华人民共和国禁毒法", "text": "学校应当建立学生欺凌防控工作制度"}]
    assert first_hit_rank(answer, right) == 1
    assert first_hit_rank(answer, wrong_doc) is None


def test_citation_is_verbatim_checks_the_source_file(engine):
    chunk = engine.ask("未成年人保护法第三十九条").citations[0].chunk
    assert citation_is_verbatim(chunk)
    forged = type(chunk)(**{**chunk.__dict__, "text": chunk.text.replace("学校", "家庭", 1)})
    assert not citation_is_verbatim(forged)


def test_percentile():
    assert percentile([], 0.95) == 0.0
    assert percentile([5.0, 1.0, 3.0], 0.5) == 3.0
    assert percentile(list(map(float, range(1, 101))), 0.95) == 95.0
