"""Answers from the shared whole-corpus index: explicit articles, refusals, verbatim citations, filters.

Uses the session ``engine`` (read-only). Asserts behaviour, not scores: which article is cited, whether the
assistant answers or refuses, and that every quoted passage is really in the file it names.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPORT_NAME = "柳州市教育局2022年法治政府建设情况报告"
MARKER = re.compile(r"\[(\d+)\]")


def assert_well_cited(answer) -> None:
    """[n] markers and citations agree; every quote is verbatim from the cited passage and its file."""
    numbers = [c.n for c in answer.citations]
    assert numbers == list(range(1, len(numbers) + 1))
    assert {int(n) for n in MARKER.findall(answer.answer)} == set(numbers)
    for c in answer.citations:
        text = Path(c.chunk.source).read_text(encoding="utf-8")
        assert c.chunk.text in text
        assert text[c.chunk.start : c.chunk.end] == c.chunk.text
        assert c.quoted, "each citation quotes something"
        for s, e in c.quoted:
            assert f"{c.chunk.text[s:e]}[{c.n}]" in answer.answer


# ---------------------------------------------------------------- explicit articles


@pytest.mark.parametrize(
    "question, law, label",
    [
        ("《中华人民共和国未成年人保护法》第三十九条", "未成年人保护法", "第三十九条"),
        ("未成年人保护法第四十条", "未成年人保护法", "第四十条"),
        ("未成年人保护法第四十条规定了什么？", "未成年人保护法", "第四十条"),
        ("民法典第1200条", "民法典", "第一千二百条"),
        ("预防未成年人犯罪法第6条的内容", "预防未成年人犯罪法", "第六条"),
        ("宪法第五条", "宪法", "第五条"),
    ],
)
def test_explicit_article_cites_exactly_that_article(engine, articles_of, law_path, question, law, label):
    answer = engine.ask(question)
    assert answer.found, answer.answer
    assert len(answer.citations) == 1
    cited = answer.citations[0].chunk
    assert cited.article == label
    assert Path(cited.source) == law_path(law)
    assert cited.text == articles_of(law)[label]
    assert cited.text in answer.answer
    assert f"《{cited.doc}》{label}" in answer.answer
    assert answer.retrieved[0].chunk.id == cited.id
    assert_well_cited(answer)


def test_paragraph_question_cites_the_article_and_quotes_that_paragraph(engine, articles_of):
    answer = engine.ask("行政诉讼法第三条第三款")
    assert answer.found
    citation = answer.citations[0]
    text = citation.chunk.text
    assert citation.chunk.article == "第三条"
    assert text == articles_of("行政诉讼法")["第三条"]
    third = "被诉行政机关负责人应当出庭应诉。不能出庭的，应当委托行政机关相应的工作人员出庭。"
    assert [text[s:e] for s, e in citation.quoted] == [third]
    assert f"{third}[1]" in answer.answer and "第三条第三款" in answer.answer
    assert "人民法院应当保障" not in answer.answer  # the first paragraph is not quoted
    assert_well_cited(answer)


def test_paragraph_that_does_not_exist_is_refused(engine):
    answer = engine.ask("行政诉讼法第三条第九款")
    assert not answer.found and answer.citations == []
    assert "没有第九款" in answer.answer


def test_long_article_is_cited_in_all_its_passages(engine, articles_of):
    """宪法第六十七条 is longer than one passage: every piece is cited, in order, and together they are the article."""
    answer = engine.ask("宪法第六十七条")
    assert answer.found
    assert len(answer.citations) >= 2
    assert {c.chunk.article for c in answer.citations} == {"第六十七条"}
    joined = "".join(c.chunk.text for c in answer.citations)
    assert re.sub(r"\s", "", joined) == re.sub(r"\s", "", articles_of("宪法")["第六十七条"])
    assert_well_cited(answer)


def test_nonexistent_article(engine):
    answer = engine.ask("禁毒法第九十九条")
    assert not answer.found
    assert answer.citations == []
    assert "没有第九十九条" in answer.answer
    assert "71" in answer.answer  # says how many articles the law does have
    assert "中华人民共和国禁毒法" in answer.answer


def test_article_number_just_past_the_end(engine):
    assert engine.ask("禁毒法第七十一条").found
    answer = engine.ask("《中华人民共和国禁毒法》第七十二条")
    assert not answer.found and answer.citations == []


@pytest.mark.parametrize("question", ["刑法第十七条", "刑法第十七条关于刑事责任年龄的规定", "学生伤害事故处理办法第十二条"])
def test_law_not_in_corpus(engine, question):
    answer = engine.ask(question)
    assert not answer.found
    assert answer.citations == []
    title = question.split("第")[0]
    assert f"没有《{title}》" in answer.answer
    # it does not quote some other law's article of the same number as if it were the answer
    assert "规定：" not in answer.answer


# ---------------------------------------------------------------- refusals and odd input


@pytest.mark.parametrize("question", ["今天柳州天气怎么样", "帮我推荐一只股票", "红烧肉怎么做"])
def test_out_of_scope_question_is_refused(engine, question):
    answer = engine.ask(question)
    assert not answer.found
    assert answer.citations == []
    assert "没有找到" in answer.answer


@pytest.mark.parametrize("question", ["", "   ", "\n\t", None])
def test_empty_question(engine, question):
    answer = engine.ask(question)
    assert not answer.found and answer.citations == [] and answer.retrieved == []
    assert answer.answer == "请输入问题。"
    assert answer.to_json()["found"] is False


def test_very_long_question(engine):
    question = ("学校发现学生欺凌应该怎么处理？" * 400)[:5000]
    assert len(question) == 5000
    answer = engine.ask(question)
    assert not answer.found and answer.citations == [] and answer.retrieved == []
    assert "问题太长" in answer.answer and "请精简" in answer.answer
    assert re.search(r"[\u4e00-\u9fff]", answer.answer)


def test_question_just_within_the_limit_is_answered_normally(engine):
    limit = engine.settings.max_question_chars
    question = "民法典第1200条" + "。" * (limit - len("民法典第1200条"))
    assert len(question) == limit
    answer = engine.ask(question)
    assert answer.found and answer.citations[0].chunk.article == "第一千二百条"


def test_question_id_and_timing(engine):
    answer = engine.ask("宪法第五条", qid="q-7")
    assert answer.id == "q-7"
    assert answer.ms > 0
    data = answer.to_json()
    assert data["id"] == "q-7" and data["question"] == "宪法第五条"


# ---------------------------------------------------------------- extractive answers


ANSWERABLE = [
    ("今年共审查重大行政决策多少份？", REPORT_NAME),
    ("柳州市第六十六中学是什么时候成立的？", REPORT_NAME),
    ("教育局聘请了哪家律师事务所做法律顾问？", REPORT_NAME),
    ("全国青少年禁毒知识竞赛的参与率是多少？", REPORT_NAME),
    ("学校对学生欺凌行为应当怎么做？", "中华人民共和国未成年人保护法"),
    ("行政机关负责人应当出庭应诉吗？", "最高人民法院关于行政机关负责人出庭应诉若干问题的规定"),
    ("教师有哪些权利？", "中华人民共和国教师法"),
]


@pytest.mark.parametrize("question, doc", ANSWERABLE, ids=[q for q, _ in ANSWERABLE])
def test_answers_quote_their_sources_verbatim(engine, question, doc):
    answer = engine.ask(question)
    assert answer.found, answer.answer
    assert answer.citations
    assert doc in {c.chunk.doc for c in answer.citations}
    assert_well_cited(answer)
    cited_ids = {c.chunk.id for c in answer.citations}
    assert cited_ids <= {h.chunk.id for h in answer.retrieved}, "citations come from the retrieved passages"
    assert len(answer.retrieved) <= engine.settings.k
    assert answer.answer.startswith("根据《")


def test_report_facts(engine):
    specialist = engine.ask("柳州市第六十六中学是什么时候成立的？")
    assert "2021年6月" in specialist.answer
    quiz = engine.ask("全国青少年禁毒知识竞赛的参与率是多少？")
    assert "参与率100%" in quiz.answer


@pytest.mark.parametrize(
    "question",
    [
        "今年共审查了多少份重大行政决策？",
        "教育局2022年审查了几份重大行政决策",
        "重大行政决策审查了几份？",
        "2022年教育局一共审了几份重大行政决策？",  # dev set r01
    ],
)
def test_staff_question_about_major_decisions(engine, question):
    answer = engine.ask(question)
    assert answer.found, answer.answer
    assert "9份" in answer.answer
    sentence = "今年共审查重大行政决策9份，行政规范性文件5份，党内规范性文件1份。"
    quoting = [c for c in answer.citations if sentence in c.chunk.text]
    assert quoting and quoting[0].chunk.doc == REPORT_NAME
    assert f"{sentence}[{quoting[0].n}]" in answer.answer
    assert_well_cited(answer)


# ---------------------------------------------------------------- filters


def test_doc_type_filter(engine):
    question = "禁毒教育"
    unfiltered = {h.chunk.doc_type for h in engine.ask(question).retrieved}
    assert len(unfiltered) > 1, "the filter tests below would prove nothing"
    for doc_type in ("report", "law", "admin_regulation"):
        answer = engine.ask(question, doc_type=doc_type)
        assert answer.retrieved, doc_type
        assert {h.chunk.doc_type for h in answer.retrieved} == {doc_type}
        assert all(c.chunk.doc_type == doc_type for c in answer.citations)


def test_doc_filter(engine):
    question = "学校发现学生欺凌应该怎么处理？"
    assert len({h.chunk.doc for h in engine.ask(question).retrieved}) > 1
    for doc in ("中华人民共和国未成年人保护法", "中华人民共和国预防未成年人犯罪法", REPORT_NAME):
        answer = engine.ask(question, doc=doc)
        assert answer.retrieved and {h.chunk.doc for h in answer.retrieved} == {doc}
        assert all(c.chunk.doc == doc for c in answer.citations)
    both = engine.ask(question, doc="中华人民共和国民法典", doc_type="law")
    assert both.retrieved and {h.chunk.doc for h in both.retrieved} == {"中华人民共和国民法典"}


def test_contradictory_filters_retrieve_nothing(engine):
    answer = engine.ask("禁毒教育", doc="中华人民共和国禁毒法", doc_type="report")
    assert answer.retrieved == []
    assert not answer.found and answer.citations == []


def test_k_limits_retrieved(engine):
    assert len(engine.ask("禁毒教育", k=2).retrieved) == 2
    assert len(engine.ask("禁毒教育", k=8).retrieved) == 8


def test_answer_json_contract(engine):
    data = engine.ask("《中华人民共和国未成年人保护法》第三十九条").to_json()
    assert set(data) == {"id", "question", "standalone_question", "found", "answer", "mode", "sentences", "note", "citations", "retrieved", "ms"}
    assert data["mode"] == "extractive" and all(s["supported"] and s["citations"] for s in data["sentences"])
    assert set(data["citations"][0]) == {"n", "doc", "source", "section", "article", "text"}
    assert set(data["retrieved"][0]) == {"doc", "source", "section", "article", "text", "score"}
    assert data["citations"][0]["section"] == "第三章 学校保护"


# ---------------------------------------------------------------- kind of fact asked for


@pytest.mark.parametrize(
    "question, kind",
    [
        ("2022年审查了多少份重大行政决策？", None),  # the passage says 9份
        ("行政规范性文件审查了多少件？", None),  # 件 is answered by 份
        ("专门学校教育矫治了多少个学生？", None),  # 135人
        ("被起诉了几次？", None),  # 1起
        ("教育局法治建设经费花了多少钱？", "amount"),
        ("教育局局长是谁？", "person"),
        ("有多少所中小学配备了法治副校长？", "count:所"),  # 第二所 is an ordinal, not a count
        ("查处了多少家校外培训机构？", "count:家"),
    ],
)
def test_unanswered_type_on_the_report(report_path, question, kind):
    from assistant.intent import unanswered_type

    # the whole report as the passages: a count, amount or name the report never states stays unanswered
    assert unanswered_type(question, [report_path.read_text(encoding="utf-8")]) == kind


@pytest.mark.parametrize(
    "question, passage, kind",
    [
        ("法治领导小组是谁当组长？", "成立了由局长任组长、分管领导任副组长的领导小组。", None),  # a post given the role
        ("法律顾问是谁？", "聘请双牌县峦山律师事务所蒋隆旭律师担任法律顾问。", None),  # a name next to a post
        ("那份报告是谁作的？", "嘉定区妇女儿童工作委员会常务副主任 姚芳", None),
        ("校长是谁？", "校长由县级人民政府教育行政部门依法聘任。", "person"),  # the post asked about is no answer
        ("局长叫什么名字？", "机关负责人积极出庭应诉，以实际行动贯彻落实规定。", "name"),
        ("报告是哪天作的？", "——2024年9月26日在上海市嘉定区第七届人民代表大会", None),
        ("报告是哪天作的？", "主任、各位副主任,各位委员:", "date"),
        ("受理后哪一天之前要作出决定？", "应当自受理申请之日起六十日内作出行政复议决定。", None),  # a period in a law
        ("醉驾会判几个月拘役？", "人民法院判处拘役或者有期徒刑时，应当依法折抵相应刑期。", "count:月"),
        ("起诉要在几个月内提出？", "应当自知道或者应当知道作出行政行为之日起六个月内提出。", None),
        ("作业每天最多多少分钟？", "延长期限最多不得超过三十日。", "count:分钟"),
        ("过了好几个月了，我还能申请吗？", "最长不得超过一年。", None),  # 好几个月 says "several", it does not ask
        ("矫治了多少个学生？", "完成三期学生共135人的教育矫治工作。", None),  # 个 is answered by any measure
        ("定了几个抽查计划？", "制定双随机抽查计划，联合检查。", "count:个"),
    ],
)
def test_who_which_day_and_how_many_months_need_that_fact(question, passage, kind):
    from assistant.intent import unanswered_type

    assert unanswered_type(question, [passage]) == kind


def test_plausible_but_absent_counts_are_refused(engine):
    for question in ("柳州市教育局2022年法治建设经费总共花了多少钱？", "2022年教育局查处了多少家违规校外培训机构？",
                     "柳州市第六十六中学的校长叫什么名字？"):
        answer = engine.ask(question)
        assert not answer.found and answer.citations == [], question


def test_a_decisive_keyword_match_answers_despite_a_low_cosine(engine):
    """A short question whose words single out one article: USE's cosine is low, the keyword evidence is not."""
    from assistant.answer import Signals

    answer = engine.ask("学校门口能开网吧吗？")
    signals = answer.reasons["signals"]
    assert signals["dense"] < 0.3 and signals["margin"] >= 0.4 and signals["bm25"] >= 40
    low = Signals(dense=signals["dense"], coverage=0.0, margin=signals["margin"], bm25=signals["bm25"])
    assert low.score() < engine.settings.min_score and low.answerable(engine.settings.min_score)
    assert not Signals(dense=signals["dense"], coverage=0.0, margin=0.1, bm25=signals["bm25"]).answerable(
        engine.settings.min_score)
    assert answer.found
    assert answer.citations[0].chunk.article == "第五十八条"
    assert "周边不得设置" in answer.answer


@pytest.mark.parametrize("question, doc, article, period", [
    ("对教育局的决定不服，多长时间内可以申请行政复议？", "中华人民共和国行政复议法", "第二十条", "六十日内提出行政复议申请"),
    ("对复议决定不服，要在多长时间内去法院起诉？", "中华人民共和国行政诉讼法", "第四十五条", "十五日内向人民法院提起诉讼"),
    ("要求听证的话，要在几天内提出来？", "中华人民共和国行政处罚法", "第六十四条", "五日内提出"),
    ("社区戒毒要多长时间？", "中华人民共和国禁毒法", "第三十三条", "期限为三年"),
])
def test_a_deadline_is_quoted_for_the_action_asked(engine, question, doc, article, period):
    """The laws give different periods for different actions (申请行政复议 六十日, 复议后起诉 十五日, 要求听证 五日); the first
    passage quoted is the one whose period is for the action the question names. 行政复议法第三十四条's 十五日 (suing after
    a review) quoted for 申请行政复议 was issue 14's most harmful answer."""
    ans = engine.ask(question)
    assert ans.found and period in ans.answer, ans.answer
    first = ans.citations[0].chunk
    assert (first.doc, first.article) == (doc, article), ans.answer
