"""The question-type table: users' own phrasings of each type, and the report headings each type is steered to."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.intent import TYPES, classify, intent_terms, kind_weight, section_pattern
from assistant.schema import Chunk

SECOND_REPORT = Path(__file__).parent / "fixtures" / "reports" / "河池市金城江区司法局2023年法治政府建设年度报告.txt"

PHRASINGS = {
    "liability": ["小孩在学校摔伤了，学校有责任吗？", "三岁孩子在幼儿园被磕伤，谁来负责？", "学生在学校打架受伤，学校要担责吗？",
                  "孩子把同学弄伤了，家长要赔钱吗？", "学校乱收费要承担什么法律责任？"],
    "permission": ["学校可以体罚学生吗？", "孩子能不能带手机进教室？", "学校是否允许占用寒暑假补课？", "网吧能让未成年人进吗？",
                   "未成年人可以买烟吗？"],
    "time": ["申请行政复议的期限是多久？", "晚上几点以后不能玩网络游戏？", "孩子几岁要上小学？", "教师申诉多长时间内要处理？",
             "公开征求意见一般几天？", "专门学校成立于哪一年？"],
    "procedure": ["孩子被欺负了怎么办？", "学校遇到欺凌应该怎么处理？", "重大行政决策要走什么程序？", "想申请复议要找谁？"],
    "definition": ["什么是专门教育？", "什么叫学生欺凌？", "毒品是指什么？", "重大行政决策事项是什么意思？"],
    "list": ["教育局2022年在未成年人保护方面做了哪些工作？", "教师有哪些权利？", "禁毒教育开展了什么活动？",
             "法律顾问制度有什么措施？"],
    "plan": ["教育局明年有什么打算？", "下一步工作计划是什么？", "今后准备怎么推进依法治校？", "2024年的工作重点是什么？"],
    "problems": ["报告里说存在哪些不足？", "法治工作还有什么短板？", "执法人员有什么问题？", "普法效果不好的原因是什么？",
                 "具体是哪些方面不好？", "教育局哪方面做得还不够？"],
    "fact": ["2022年审查了多少份重大行政决策？", "专门学校一共矫治了多少学生？", "教育局的法律顾问是哪家律师事务所？"],
}


@pytest.mark.parametrize("kind, question", [(k, q) for k, qs in PHRASINGS.items() for q in qs])
def test_users_phrasings_get_their_type(kind, question):
    assert classify(question) == kind


def test_every_type_has_phrasings():
    assert set(PHRASINGS) == set(TYPES)


def _sections(path: Path) -> set[str]:
    from assistant.ingest.chunkers import chunk_document
    from assistant.ingest.loaders import load

    return {c.section for c in chunk_document(load(path))}


def test_plan_and_problem_sections_are_found_by_heading_words_in_both_reports(report_path):
    """Two reports with different numbering (一、/（一） and 第一部分/一、/1.) and different heading words."""
    for path in (report_path, SECOND_REPORT):
        sections = _sections(path)
        plan = {s for s in sections if section_pattern("plan").search(s)}
        problems = {s for s in sections if section_pattern("problems").search(s)}
        assert plan and problems, path.name
        assert not plan & problems
        # every plan / problems section sits under one top heading, and nothing else matches
        assert len({s.split(" > ")[0] for s in plan}) == 1, plan
        assert len({s.split(" > ")[0] for s in problems}) == 1, problems
    assert any("2024年工作思路" in s for s in _sections(SECOND_REPORT) if section_pattern("plan").search(s))
    assert any("不足和薄弱环节" in s for s in _sections(SECOND_REPORT) if section_pattern("problems").search(s))


def _chunk(text: str, section: str = "", doc_type: str = "law") -> Chunk:
    return Chunk(text=text, doc="d", source="s", doc_type=doc_type, section=section, article=None, start=0, end=len(text))


def test_kind_weight_prefers_what_answers_the_kind():
    plan = _chunk("贯彻…", "三、2023年工作计划 > （一）提升依法行政能力", "report")
    done = _chunk("组织…", "一、2022年主要举措和成效 > （三）依法全面履行政府职能", "report")
    assert kind_weight("plan", plan) > kind_weight("plan", done) == 1.0
    assert kind_weight("fact", plan) == 1.0
    assert kind_weight("liability", _chunk("学校未尽到教育、管理职责的，应当承担侵权责任。")) > 1.0
    assert kind_weight("liability", _chunk("学校应当建立安全管理制度。")) == 1.0
    assert kind_weight("list", _chunk("第七条 教师享有下列权利:\n\n（一）进行教育教学活动；")) > 1.0


def test_liability_questions_bring_the_civil_capacity_of_the_childs_age():
    assert intent_terms("三岁孩子在幼儿园被磕伤，谁来负责？", "liability") == ["无民事行为能力人"]
    assert intent_terms("初二学生上体育课受伤，学校要赔吗？", "liability") == ["限制民事行为能力人"]
    assert intent_terms("15岁学生打架受伤，谁负责？", "liability") == ["限制民事行为能力人"]
    assert intent_terms("三岁孩子能上幼儿园吗？", "permission") == []
    assert intent_terms("什么叫学生欺凌？", "definition") == ["是指", "所称"]


@pytest.mark.parametrize("question, kind", [
    # a cue word in the story told before the question says nothing about what is asked
    ("我们打算暑假带孩子出去旅游，学校不批假合法吗？", "permission"),
    ("我计划给孩子转学到外地，转学手续怎么办？", "procedure"),
    ("学校负责人说孩子打架要记过，多长时间内可以申诉？", "time"),
    # a frame word sets the type wherever it stands
    ("下一步，局里在普法宣传上准备怎么做？", "plan"),
    ("明年在依法治校上，教育局有哪些安排？", "plan"),
])
def test_the_clauses_that_ask_decide_the_type(question, kind):
    assert classify(question) == kind


@pytest.mark.parametrize("text, actions", [
    # the time, then what it is for
    ("可以自收到决定书之日起或者行政复议期限届满之日起十五日内，依法向人民法院提起行政诉讼。", ["，依法向人民法院提起行政诉讼"]),
    ("可以自知道或者应当知道该行政行为之日起六十日内提出行政复议申请；但是法律规定的申请期限超过六十日的除外。",
     ["提出行政复议申请", "但是法律规定的申请期限超过的除外"]),  # a bare 的除外 takes the words before it
    # a bare verb after the time: the sentence's words before it say what it is for
    ("直接向人民法院提起诉讼的，应当自知道或者应当知道作出行政行为之日起六个月内提出。",
     ["直接向人民法院提起诉讼的，应当自知道或者应当知道作出行政行为之日起提出"]),
    ("社区戒毒的期限为三年。", ["社区戒毒的期限为"]),
    ("学校应当建立安全管理制度。", []),
])
def test_a_periods_action_is_read_from_how_laws_state_deadlines(text, actions):
    from assistant.intent import period_actions

    assert period_actions(text) == actions


@pytest.mark.parametrize("question, words", [
    ("对教育局的决定不服，多长时间内可以申请行政复议？", {"申请", "行政复议"}),
    ("收到行政复议决定书以后还是不服，想去法院起诉，有多长时间？", {"法院", "起诉"}),  # the clause before a bare one
    ("孩子被打了，那如果不走复议，直接去法院起诉要在多久以内？", {"直接", "法院", "起诉"}),  # the last asking clause
])
def test_the_action_a_time_question_asks_about(question, words):
    from assistant.intent import asked_action
    from assistant.textutil import tokens

    assert words <= set(tokens(asked_action(question)))
    assert "教育局" not in asked_action(question) and "决定书" not in asked_action(question)


def test_a_period_for_the_action_asked_matches_better_than_one_for_another_action():
    from assistant.intent import action_share, asked_action

    asked = asked_action("对教育局的决定不服，多长时间内可以申请行政复议？")
    idf = lambda t: 1.0  # noqa: E731 - every word alike: the shares alone decide
    apply = action_share(asked, "可以自知道该行政行为之日起六十日内提出行政复议申请。", idf)
    decide = action_share(asked, "行政复议机关应当自受理申请之日起六十日内作出行政复议决定。", idf)
    sue = action_share(asked, "可以自收到决定书之日起十五日内，依法向人民法院提起行政诉讼。", idf)
    assert apply > decide > sue
    assert action_share(asked, "学校应当建立安全管理制度。", idf) is None
