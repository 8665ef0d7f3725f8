"""Answers that answer: the deciding sentence, on-point citations, report sections as lists (assistant/compose.py).

Real questions of the failure shapes users hit, on the real corpus; a second, differently structured report
checks that plan / problems / list answers follow heading words, not one report's numbering.
"""

from __future__ import annotations

import json
import re

import pytest

from assistant.textutil import normalize_ws
from conftest import FIXTURES, REPORT_NAME

CIVIL_CODE = "中华人民共和国民法典"
MINORS = "中华人民共和国未成年人保护法"
_MARKER = re.compile(r"\[\d+\]$")


def cited(answer) -> list[tuple[str, str | None]]:
    return [(c.chunk.doc, c.chunk.article) for c in answer.citations]


def body_lines(answer) -> list[str]:
    return answer.answer.split("\n")[1:]


@pytest.mark.parametrize("question, article", [
    ("小孩在学校摔伤了，学校有责任吗？", None),
    ("三岁孩子在幼儿园被磕伤，谁来负责？", "第一千一百九十九条"),
    ("初二的孩子上体育课时在学校受伤了，学校要承担责任吗？", "第一千二百条"),
    ("学生在学校打架受伤，学校要担责吗？", None),
])
def test_liability_questions_quote_the_article_that_assigns_liability_first(engine, question, article):
    answer = engine.ask(question)
    assert answer.found, answer.answer
    first_doc, first_article = cited(answer)[0]
    assert first_doc == CIVIL_CODE and first_article in {"第一千一百九十九条", "第一千二百条", "第一千二百零一条"}
    if article:  # the article for the child's age is cited (第一千二百零一条, about third parties, may rank first)
        assert (CIVIL_CODE, article) in cited(answer)
    assert "责任" in body_lines(answer)[0]
    # no definitions article (学生欺凌 / 密切接触未成年人的单位) mixed in
    assert (MINORS, "第一百三十条") not in cited(answer)


def test_a_clause_cut_at_a_semicolon_keeps_its_but_clause(engine):
    answer = engine.ask("5岁的孩子在幼儿园玩滑梯摔伤了，幼儿园要赔吗？")
    assert "能够证明尽到教育、管理职责的，不承担侵权责任" in answer.answer


def test_the_clock_time_asked_in_everyday_words_is_the_sentence_quoted(engine):
    answer = engine.ask("晚上几点以后游戏公司就不能再让未成年人玩网游了？")
    assert answer.found
    assert "二十二时至次日八时" in body_lines(answer)[0]


def test_permission_answers_lead_with_the_deciding_sentence(engine):
    answer = engine.ask("孩子能不能带手机进教室上课？")
    assert re.search(r"不得|禁止|可以|应当", body_lines(answer)[0])
    assert "手机" in body_lines(answer)[0]


def test_weaker_passages_join_only_with_the_questions_own_words(engine):
    answer = engine.ask("孩子在学校被同学欺负了，学校应该怎么处理？")
    assert answer.citations[0].chunk.article == "第三十九条"
    assert len(answer.citations) <= 2
    for c in answer.citations:
        quoted = "".join(c.chunk.text[s:e] for s, e in c.quoted)
        assert "欺凌" in quoted, quoted


@pytest.mark.parametrize("question", [
    "小孩在学校摔伤了，学校有责任吗？", "教育局明年有什么打算？", "柳州市教育局2022年法治政府建设存在哪些问题？",
    "教师有哪些权利？", "2022年审查了多少份重大行政决策？", "孩子几岁要上小学？", "哪些事情不能申请行政复议？",
])
def test_lead_line_names_every_cited_document_and_article_and_no_line_is_a_bare_heading(engine, question):
    answer = engine.ask(question)
    assert answer.found, answer.answer
    lead = answer.answer.split("\n")[0]
    for c in answer.citations:
        assert f"《{c.chunk.doc}》" in lead
        if c.chunk.article:
            assert c.chunk.article in lead
    headings = {normalize_ws(c.chunk.section.split(" > ")[-1]) for c in answer.citations}
    for line in body_lines(answer):
        text = _MARKER.sub("", line.removeprefix("- "))
        assert normalize_ws(text).rstrip("。") not in headings, line


def _section_chunks(engine, doc: str, words: str) -> list:
    return [c for c in engine.retriever.chunks if c.doc == doc and re.search(words, c.section.split(" > ")[0])]


@pytest.mark.parametrize("question, heading", [
    ("教育局明年有什么打算？", "工作计划"), ("下一步工作计划是什么？", "工作计划"),
    ("报告里说工作还存在哪些不足？", "存在问题"), ("教育局自己觉得去年法治工作还有哪些短板？", "存在问题"),
])
def test_plan_and_problems_questions_list_every_item_of_that_section(engine, question, heading):
    answer = engine.ask(question)
    section = _section_chunks(engine, REPORT_NAME, heading)
    assert len(section) == 3
    assert {c.chunk.id for c in answer.citations} == {c.id for c in section}
    lines = body_lines(answer)
    assert len(lines) == 3 and all(line.startswith("- （") for line in lines), answer.answer


def test_a_topical_plan_question_lists_only_the_items_on_its_topic(engine):
    answer = engine.ask("明年局里在教育执法这一块有啥新打算？")
    assert [c.chunk.section.split(" > ")[-1] for c in answer.citations] == ["（二）提高行政执法水平"]


def test_what_was_done_lists_the_whole_section(engine):
    answer = engine.ask("2022年教育局在禁毒教育上都搞了哪些活动？")
    lines = body_lines(answer)
    assert len(lines) >= 2 and all(line.startswith("- ") for line in lines)
    for snippet in ("参观广西（柳州）禁毒教育基地", "应知应会", "五个一", "全国青少年禁毒知识竞赛"):
        assert snippet in answer.answer


def test_list_question_over_a_law_quotes_the_lead_in_and_every_item(engine, articles_of):
    answer = engine.ask("老师有哪些情况会被学校处分甚至解聘？")
    article = articles_of("教师法")["第三十七条"]
    items = re.findall(r"^（[一二三四五六七八九十]+）.*$", article, re.M)
    assert len(items) == 3
    for item in items:
        assert f"- {item}" in answer.answer


SECOND = [json.loads(line) for line in (FIXTURES / "second_report_questions.jsonl").read_text(encoding="utf-8").splitlines()
          if line.strip()]


@pytest.mark.parametrize("item", SECOND, ids=[q["id"] for q in SECOND])
def test_a_differently_structured_report_is_answered_by_its_heading_words(two_reports_engine, item):
    answer = two_reports_engine.ask(item["question"])
    assert answer.found, answer.answer
    missing = [s for s in item["quote"] if normalize_ws(s) not in normalize_ws(answer.answer)]
    assert not missing, answer.answer
    assert {c.chunk.doc for c in answer.citations} == {"河池市金城江区司法局2023年法治政府建设年度报告"}
    if item["type"] in ("plan", "problems", "list"):
        assert all(line.startswith("- ") for line in body_lines(answer)), answer.answer
