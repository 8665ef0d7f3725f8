"""Answers that stay with the body a question names, across scripts and conversations (assistant/bodies.py,
assistant/conversation.py), on the real reports of data/corpus/other_bureaus beside the corpus."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.bodies import Bodies, profile
from assistant.conversation import detail, is_follow_up, standalone
from assistant.evaluate import answer_quotes, load_questions

EVAL = Path(__file__).resolve().parents[1] / "data" / "eval"


def _reports(engine) -> list[str]:
    return [t for t, kind in engine.retriever.titles.items() if kind == "report"]


# ---- bodies read from titles -------------------------------------------------------------------

@pytest.mark.parametrize("title, body, keys, year", [
    ("柳州市教育局2022年法治政府建设情况报告", "柳州市教育局", ("柳州市", "柳州"), 2022),
    ("成都市成华区教育局2020年度法治政府建设年度报告", "成都市成华区教育局", ("成华区", "成华"), 2020),
    ("寧夏自治區2016年法治政府建設報告", "宁夏自治区", ("宁夏自治区", "宁夏"), 2016),
    ("九龙坡区_区教委2021年度法治政府建设工作报告", "九龙坡区区教委", ("九龙坡区", "九龙坡"), 2021),
    ("中共重庆市委教育工作委员会重庆市教育委员会2022年度法治政府建设情况报告",
     "重庆市委教育工作委员会重庆市教育委员会", ("重庆市", "重庆"), 2022),
    ("郑州市教育局关于2022年法治政府建设工作情况的报告", "郑州市教育局", ("郑州市", "郑州"), 2022),
])
def test_profile_reads_body_place_and_year_from_the_title(title, body, keys, year):
    p = profile(title)
    assert (p.body, p.keys, p.year) == (body, keys, year)


def test_every_bundled_report_has_a_body_a_question_can_name(bureaus_engine):
    for title in _reports(bureaus_engine):
        p = profile(title)
        assert p.keys and p.body, title


def test_scope_of_questions(bureaus_engine):
    bodies = Bodies({t: "" for t in _reports(bureaus_engine)})
    s = bodies.scope("重庆教委2022年出台了什么办法？")
    assert s.docs == ["中共重庆市委教育工作委员会重庆市教育委员会2022年度法治政府建设情况报告"] and s.organisation
    s = bodies.scope("杭州市教育局2023年审查了几件规范性文件？")
    assert s.docs == [] and s.unknown == ["杭州市"] and s.organisation
    s = bodies.scope("成都市教育局做了什么？")  # 成都市 is a place of 成华区's body name, but another body
    assert s.docs == [] and s.unknown == ["成都市"]
    assert bodies.scope("广州市教育局2023年小学道德与法治课每周几课时？").year_missing
    assert not bodies.scope("学校门口能开网吧吗？").named
    assert not bodies.scope("中华人民共和国未成年人保护法第三十九条").named


# ---- answers ----------------------------------------------------------------------------------

def test_a_question_naming_a_body_is_answered_from_that_body_only(bureaus_engine):
    """For every report: a question in its body's words cites that report and no other body's."""
    reports = set(_reports(bureaus_engine))
    for title in sorted(reports):
        p = profile(title)
        name = p.keys[-1] + ("教育局" if "教" in p.body else "")
        ans = bureaus_engine.ask(f"{name}{p.year or ''}{'年' if p.year else ''}在法治宣传教育方面做了哪些工作？")
        cited = {c.chunk.doc for c in ans.citations} & reports
        assert cited <= {title}, (title, cited)


def test_a_body_with_no_report_is_refused_naming_the_bodies_that_have_one(bureaus_engine):
    ans = bureaus_engine.ask("杭州市教育局2023年审查了几件行政规范性文件？")
    assert not ans.found and not ans.citations
    assert "杭州市" in ans.answer and "柳州市教育局" in ans.answer and "郑州市教育局" in ans.answer
    ans = bureaus_engine.ask("广州市教育局2023年组织了几次法治培训？")  # its report is of 2021
    assert not ans.found and "2021" in ans.answer


def test_a_year_the_report_only_plans_for_answers_plans_only(bureaus_engine):
    """柳州's 2022 report speaks of 2023 in its plan: a 2023 plan question is answered from it, what was done in 2023
    is not (a sentence of the report or a heading over it must name the year)."""
    ans = bureaus_engine.ask("柳州市教育局2023年打算怎么提高行政执法水平？")
    assert ans.found and all("2023" in c.chunk.section for c in ans.citations)
    ans = bureaus_engine.ask("柳州市教育局2023年开展了哪些普法活动？")
    assert not ans.found and not ans.citations and "2022" in ans.answer


def test_a_named_report_without_plans_or_problems_does_not_answer_them(bureaus_engine):
    """双牌's report (its opening part) has no section on problems or plans: saying so beats quoting its opening."""
    ans = bureaus_engine.ask("双牌县教育局在法治建设上还有哪些短板？")
    assert not ans.found and not ans.citations and "双牌" in ans.answer and "问题和不足" in ans.answer
    ans = bureaus_engine.ask("柳州市教育局下一步在法治建设上有什么打算？")  # its report has a plan section
    assert ans.found and all("计划" in c.chunk.section for c in ans.citations)


def test_who_is_answered_when_the_report_names_the_person(bureaus_engine):
    ans = bureaus_engine.ask("双牌县教育局聘的法律顾问是谁？")
    assert ans.found and "蒋隆旭律师" in ans.answer
    assert not bureaus_engine.ask("柳州市教育局局长是谁？").found


def test_a_place_without_a_report_still_gets_the_law(bureaus_engine):
    ans = bureaus_engine.ask("杭州的学校可以没收学生的手机吗？")
    reports = set(_reports(bureaus_engine))
    assert ans.found and not {c.chunk.doc for c in ans.citations} & reports
    assert any(c.chunk.doc == "中华人民共和国未成年人保护法" for c in ans.citations)


def test_a_question_across_bodies_is_answered_report_by_report(bureaus_engine):
    """各区县 / 哪些教育局 asks across bodies: every report that answers, under its own title, beyond the top five."""
    ans = bureaus_engine.ask("各区县教育局是怎么落实行政执法三项制度的？")
    cited = list(dict.fromkeys(c.chunk.doc for c in ans.citations))
    assert ans.found and len(cited) >= 3 and set(cited) <= set(_reports(bureaus_engine))
    assert all(f"《{doc}》：" in ans.answer for doc in cited)


def test_traditional_report_answers_simplified_questions(bureaus_engine):
    title = "寧夏自治區2016年法治政府建設報告"
    ans = bureaus_engine.ask("宁夏自治区2016年法治政府建设有哪些成效？")
    assert ans.found and {c.chunk.doc for c in ans.citations} == {title}
    assert f"《{title}》" in ans.answer  # the title as written
    # the keyword index reads the traditional passage as simplified words
    chunk = bureaus_engine.retriever.chunks_of(title)[0]
    assert "建设" in bureaus_engine.retriever.terms(chunk) and "建設" in chunk.text


def test_several_reports_answer_one_by_one(bureaus_engine):
    ans = bureaus_engine.ask("各地教育局是怎么落实行政执法“三项制度”的？")
    docs = list(dict.fromkeys(c.chunk.doc for c in ans.citations))
    assert ans.found and len(docs) >= 2
    for d in docs:
        assert f"\n《{d}》：\n" in ans.answer


def test_report_questions_are_as_good_beside_other_reports(engine, bureaus_engine):
    """The 2022 report's own questions, asked by its staff naming their bureau: the other bodies' reports beside
    it cost nothing. (Asked without a body, several reports may answer side by side instead: see
    docs/benchmarks.md.)"""
    questions = [q for q in load_questions(EVAL / "answers.jsonl") if q.get("kind") == "report"]
    alone = sum(answer_quotes(engine.ask(q["question"]), q) for q in questions)
    named = sum(answer_quotes(bureaus_engine.ask(("" if "柳州" in q["question"] else "柳州市教育局") + q["question"]), q)
                for q in questions)
    assert named >= alone > 0


# ---- conversations -----------------------------------------------------------------------------

def test_follow_up_forms():
    assert is_follow_up("如果孩子已经十六岁了呢？") and is_follow_up("那老师呢？") and is_follow_up("要是十六岁呢")
    assert not is_follow_up("学校可以没收学生的手机吗？")
    assert detail("如果孩子已经十六岁了呢？") == "孩子已经十六岁了"
    q = standalone("那老师呢？", ["学生在学校能带手机吗？", "如果是初中生呢？"])
    assert q.startswith("学生在学校能带手机吗") and "初中生" in q and q.endswith("老师？")
    assert standalone("学校可以体罚学生吗？", ["孩子被打伤了怎么办？"]) == "学校可以体罚学生吗？"


def test_follow_up_is_answered_from_the_conversation(engine):
    first = "孩子在学校被同学打伤了，学校要承担责任吗？"
    ans = engine.ask("如果孩子已经十六岁了呢？", history=[first])
    assert ans.found and ans.standalone and ans.standalone.startswith(first.rstrip("？"))
    assert ans.to_json()["standalone_question"] == ans.standalone
    assert ("中华人民共和国民法典", "第一千二百条") in {(c.chunk.doc, c.chunk.article) for c in ans.citations}
    younger = engine.ask("要是孩子才六岁呢？", history=[first])
    assert ("中华人民共和国民法典", "第一千一百九十九条") in {(c.chunk.doc, c.chunk.article) for c in younger.citations}


def test_a_follow_up_with_a_topic_of_its_own_is_not_drowned_by_the_one_before(engine):
    """The follow-up's own words weigh more than the history's (retrieval.turn_weight): the question before it is
    about public comment (第十五条, 30日); this one is about the legality review (第二十六条, 7个工作日)."""
    ans = engine.ask("那决策草案送去合法性审查，要给审查机构留多长时间？", history=["重大行政决策要向社会公开征求意见吗？"])
    assert ans.found and ("重大行政决策程序暂行条例", "第二十六条") in {(c.chunk.doc, c.chunk.article) for c in ans.citations}
    assert "7个工作日" in ans.answer


# ---- held-out floors (first measurement in docs/benchmarks.md; never tuned on) -----------------------------

@pytest.mark.parametrize("name, floor", [("bodies_holdout", 0.75), ("laws_holdout", 0.55),
                                         ("laws_holdout2", 0.5), ("bodies_holdout2", 0.7),
                                         ("bodies3_holdout", 0.85), ("laws3_holdout", 0.55)])
def test_held_out_sets_stay_above_their_floor(bureaus_engine, name, floor):
    from assistant.evaluate import evaluate

    result = evaluate(bureaus_engine, EVAL / f"{name}.jsonl")
    assert result["right"] >= floor, result["right"]
    assert result["other_body_answers"] == [] and result["citations_verbatim"] == 1.0
