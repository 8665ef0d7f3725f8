"""Sentence spans, search tokens and the phrase map, on real text from the corpus."""

from __future__ import annotations

from assistant.synonyms import SYNONYMS, expansions
from assistant.textutil import bm25_tokens, normalize_ws, sentence_spans, tokens


def test_sentence_spans_cover_a_report_paragraph(report_path):
    text = report_path.read_text(encoding="utf-8")
    start = text.index("5．广泛开展禁毒教育")
    end = text.index("\n", start)
    spans = sentence_spans(text, start, end)
    sentences = [text[s:e] for s, e in spans]
    assert normalize_ws("".join(sentences)) == normalize_ws(text[start:end])  # nothing lost
    assert all(not s.startswith(("。", "；", "，")) for s in sentences)
    assert all(s.endswith(("。", "；", "！", "？")) for s in sentences)
    assert sentences[0] == "5．广泛开展禁毒教育。"
    assert sentences[-1].endswith("参与率100%，平均分高达97分，真正做到组织到位、措施到位、宣传到位。")


def test_sentence_spans_keep_closing_quotes_with_their_sentence():
    text = "组织学校上好“开学第一课。”随后开展竞赛！"
    assert [text[s:e] for s, e in sentence_spans(text)] == ["组织学校上好“开学第一课。”", "随后开展竞赛！"]


def test_tokens_drop_question_words_and_keep_terms():
    words = tokens("学校对学生欺凌应该怎么处理？")
    assert "欺凌" in words and "学校" in words
    assert not {"怎么", "？", "对"} & set(words)


def test_bm25_tokens_add_character_bigrams():
    toks = bm25_tokens("防控学生欺凌")
    assert {"防控", "欺凌"} <= set(toks)  # jieba words
    assert {"控学", "生欺"} <= set(toks)  # bigrams across word boundaries


def test_normalize_ws_removes_every_kind_of_space():
    assert normalize_ws("第九十五条 符合条 件的\u3000\u200b人员\n") == "第九十五条符合条件的人员"


def test_expansions_map_everyday_words_to_the_laws_terms(articles_of):
    assert "欺凌" in expansions("孩子在学校老被同学欺负怎么办")["欺负"]
    assert expansions("今天天气怎么样") == {}
    # every term the map adds for these phrases is really used by the law it is meant to reach
    minors = "".join(articles_of("未成年人保护法").values())
    for phrase in ("欺负", "网吧", "手机", "网暴"):
        assert any(term in minors for term in SYNONYMS[phrase]), phrase
