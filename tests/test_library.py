"""A law library beside the report (issue 19): versions of one law, parts of one law, special laws for other fields.

``data/law_library_sample/`` holds 27 files of the library (data/LAW_LIBRARY_SAMPLE.md says which and where from),
copied byte for byte: 未成年人保护法 in its 2020 and 2024 versions, 行政复议法 in 2017 and 2023, 职业教育法 and
国防教育法 in two versions each, 互联网上网服务营业场所管理条例 in two, six of 民法典's parts (each titled
中华人民共和国民法典, article numbers continuing), and laws for other fields that have their own fines and deadlines
(海警法, 道路交通安全法, 矿山安全法, 治安管理处罚法). It is ingested once per session with the bundled report.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from assistant.evaluate import citation_is_verbatim
from assistant.settings import RetrievalSettings
from assistant import vector_search
from assistant.vector_search import CoarseVectors, write_coarse
from assistant.versions import VersionQuery, source_version, version_query
from tests.conftest import REPORT_NAME, REPORTS, make_engine

pytestmark = pytest.mark.integration

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "law_library_sample"
MINORS = "中华人民共和国未成年人保护法"
REVIEW = "中华人民共和国行政复议法"


@pytest.fixture(scope="session")
def library(tmp_path_factory):
    # a library of 20 laws stands for 1,500: laws' subjects are weighed from the first one on (scope_min_laws), with
    # the weight the mechanism is tested at (the default is off: docs/benchmarks.md, 'Law library')
    # and the coarse copy of the vectors a library of 67,853 passages gets (dense_coarse_rows), written for 5,000
    eng = make_engine(tmp_path_factory.mktemp("library") / "index", [REPORTS, SAMPLE],
                      retrieval=RetrievalSettings(scope_min_laws=0, scope_weight=0.5, dense_coarse_rows=0))
    report = eng.ingest(progress=False)
    assert report.skipped == [] and len(report.added) == 28, report.summary()
    return eng


def ask(engine, question: str):
    ans = engine.ask(question)
    for c in ans.citations:  # a wrong citation is worse than none: every quoted passage is in its file
        assert citation_is_verbatim(c.chunk), (question, c.chunk.source, c.chunk.text[:60])
    return ans


def test_version_cues_in_questions():
    assert version_query("2018年时的规定是什么？") == VersionQuery("at", when=date(2018, 12, 31))
    assert version_query("修订前的第九条") == VersionQuery("previous")
    assert version_query("2020年版未成年人保护法第九条") == VersionQuery("named", year=2020)
    assert version_query("2022年审查了多少份重大行政决策？") is None  # a report's year names no version


def test_version_date_from_file_name_and_history():
    info = "1991年9月4日 …通过 / 2020年10月17日 第十三届全国人民代表大会常务委员会第二十二次会议第二次修订"
    assert source_version("/x/未成年人保护法(2020-10-17).md", info) == (date(2020, 10, 17), "2020年10月17日修订")
    assert source_version("/x/中华人民共和国未成年人保护法.md", info) == (date(2020, 10, 17), "2020年10月17日修订")


def test_versions_and_parts_are_one_law(library):
    v = library.retriever.versions
    minors = v.laws[MINORS]
    assert [x.label for x in minors] == ["2020年10月17日修订", "2024年4月26日修正"]
    assert [x.in_force for x in minors] == [False, True]
    civil = v.laws["中华人民共和国民法典"]
    assert len(civil) == 1 and len(civil[0].sources) == 6  # parts of one version, not six versions
    # 民法典 第一千一百六十五条 is in its 侵权责任编; article numbers continue across the parts
    ans = ask(library, "民法典第一千一百六十五条是怎么规定的？")
    assert ans.found and len(ans.citations) == 1 and ans.citations[0].chunk.source.endswith("侵权责任编.md")
    assert library.retriever.article_counts[MINORS] == 132  # each article once, not once per version


def test_article_question_quotes_one_version_and_names_it(library):
    ans = ask(library, "未成年人保护法第九条的内容是什么？")
    assert ans.found and len(ans.citations) == 1, ans.answer
    assert ans.citations[0].chunk.source.endswith("未成年人保护法(2024-04-26).md")
    assert "2024年4月26日修正" in ans.answer.splitlines()[0] and "妇女儿童工作的机构" in ans.answer
    assert "更新的版本" not in ans.answer


def test_before_the_revision_quotes_the_older_version(library):
    ans = ask(library, "修订前的未成年人保护法第九条是怎么规定的？")
    assert ans.found and len(ans.citations) == 1, ans.answer
    assert ans.citations[0].chunk.source.endswith("未成年人保护法(2020-10-17).md")
    assert "2020年10月17日修订" in ans.answer and "协调机制" in ans.answer
    assert "更新的版本：2024年4月26日修正" in ans.answer  # and it says a newer text exists
    # a date the question names: the version in force then
    ans = ask(library, "2018年时的行政复议法第九条是怎么规定的？")
    assert len(ans.citations) == 1 and ans.citations[0].chunk.source.endswith("行政复议法(2017-09-01).md")
    assert "六十日内提出行政复议申请" in ans.answer


def test_ordinary_questions_see_the_version_in_force_once(library):
    ans = ask(library, "哪个机构负责未成年人保护工作的组织、协调、指导、督促？")
    sources = {h.chunk.source for h in ans.retrieved if h.chunk.doc == MINORS}
    assert sources and all(s.endswith("(2024-04-26).md") for s in sources), sources
    keys = [(h.chunk.doc, h.chunk.article, h.chunk.text) for h in ans.retrieved]
    assert len(keys) == len(set(keys))


SPECIAL = ("中华人民共和国海警法", "中华人民共和国道路交通安全法", "中华人民共和国矿山安全法", "中华人民共和国治安管理处罚法",
           "互联网上网服务营业场所管理条例")


@pytest.mark.parametrize("question, doc, article", [
    ("罚款在多少钱以下可以当场作出处罚决定？", "中华人民共和国行政处罚法", "第五十一条"),
    ("对复议决定不服，要在多长时间内去法院起诉？", "中华人民共和国行政诉讼法", "第四十五条"),
    pytest.param("学校旁边能开网吧吗？", MINORS, "第五十八条", marks=pytest.mark.xfail(
        reason="the regulation on 网吧 matches the question's subject better than 未成年人保护法 and every one of its "
        "passages carries 网吧's legal term in its title; its rank below the law (RetrievalSettings.below_law) is not "
        "enough (docs/benchmarks.md, 'Law library')", strict=True)),
])
def test_the_general_law_answers_before_special_ones(library, question, doc, article):
    """The general law's article is quoted, and no law for another field (海警, 道路交通, 矿山…) comes before it."""
    ans = ask(library, question)
    assert ans.found, ans.answer
    cited = [(c.chunk.doc, c.chunk.article) for c in ans.citations]
    assert (doc, article) in cited, ans.answer
    before = cited[: cited.index((doc, article))]
    assert not [d for d, _ in before if d in SPECIAL], ans.answer
    lead = ans.answer.splitlines()[0]
    for d in {d for d, _ in cited if d in SPECIAL}:  # a law for another field that follows is labelled as such
        assert f"《{d}》" in lead and lead.split(f"《{d}》")[1].split("，")[0].rstrip("：").endswith("（特别规定）"), lead


def test_checker_reads_the_version_in_force_at_the_draft_date(library):
    from assistant.checker import check_text

    text = "根据《中华人民共和国行政复议法》第九条，申请人可以自知道该具体行政行为之日起六十日内提出行政复议申请。"
    old = check_text(library, text, draft_date=date(2019, 5, 1)).citations[0]
    assert old.status == "ok" and "六十日内提出行政复议申请" in old.article_texts[0].text
    assert "2023年9月1日修订" in old.note  # the later revision is noted
    new = check_text(library, text, draft_date=date(2024, 5, 1)).citations[0]
    assert "表彰和奖励" in new.article_texts[0].text and "2023年9月1日修订" not in new.note


def test_beside_a_library_the_bureaus_documents_are_a_pool_of_their_own(library):
    """With the sample marked as a reference library (library_dirs), the report's passages are candidates of their
    own and ranked by the report's own IDF; a library law the bureau does not keep ranks after them, and both are
    still answered from the right document."""
    eng = make_engine(library.settings.index_dir, library_dirs=[SAMPLE],
                      retrieval=RetrievalSettings(scope_min_laws=0, scope_weight=0.5))
    r = eng.retriever
    assert set(r.own_rows.tolist()) == set(r.doc_rows[REPORT_NAME])
    assert not r.in_library[r.own_rows].any() and r.in_library.sum() == len(r.chunks) - len(r.own_rows)
    # a question in the report's words: the report's candidates are there even though the library has 20 laws' worth
    found = r.keyword("2022年审查了多少份重大行政决策？", 5)
    assert sum(not r.in_library[i] for i, _ in found) == 5 and len(found) == 10  # five of each pool
    report = ask(eng, "2022年审查了多少份重大行政决策？")
    assert report.found and report.citations[0].chunk.doc == REPORT_NAME and "9份" in report.answer
    law = ask(eng, "未成年人保护法第九条的内容是什么？")
    assert law.found and law.citations[0].chunk.source.endswith("未成年人保护法(2024-04-26).md")


@pytest.mark.parametrize("full_pass_share", [vector_search.FULL_PASS_SHARE, 10**9])
def test_dense_search_over_the_coarse_copy_finds_what_reading_every_vector_finds(library, tmp_path, monkeypatch,
                                                                                   full_pass_share):
    """Beside a large library a dense search reads the vectors' leading coordinates, then in full only the rows that
    can still be among the best (assistant/vector_search.py): the same passages as a full pass, in one pool and in
    the bureau's and the library's pools, served rows only — also with so few coordinates that most rows pass the
    bound (with the usual fallback to one full pass, and without it)."""
    monkeypatch.setattr(vector_search, "FULL_PASS_SHARE", full_pass_share)
    if library.retriever.vectors is None:
        pytest.skip("a Chroma server: no vectors are saved beside the keyword index")
    two_pools = make_engine(library.settings.index_dir, library_dirs=[SAMPLE]).retriever
    narrow_dir = tmp_path / "narrow"
    narrow_dir.mkdir()
    write_coarse(library.retriever.vectors, narrow_dir, 16)
    narrow = CoarseVectors.open(narrow_dir, len(library.retriever.chunks), library.retriever.vectors.shape[1])
    questions = ["孩子在学校被打伤了，学校要负责吗？", "对复议决定不服，多久可以起诉？", "2022年审查了多少份重大行政决策？",
                 "修订前的未成年人保护法第九条", "网吧能不能让未成年人进去？"]
    for r in (library.retriever, two_pools):
        saved = r.coarse
        assert saved is not None and saved.coarse.shape == (len(r.chunks), RetrievalSettings().dense_coarse_dims)
        try:
            for coarse in (saved, narrow):
                for q in questions:
                    vector = library.store.embeddings.embed_query(q)
                    hidden = r.hidden_rows(q)
                    r.coarse = coarse
                    got = r.dense(q, 20, None, vector, hidden)
                    r.coarse = None
                    full = r.dense(q, 20, None, vector, hidden)
                    assert len(got) == len(full) and {i for i, _ in got} == {i for i, _ in full}, q
                    assert not any(hidden[i] for i, _ in got)
        finally:
            r.coarse = saved


def test_a_library_law_repeating_the_bureaus_period_is_not_quoted_beside_it(library, monkeypatch):
    """Beside a reference library, another field's law that states the same period for the same action (矿山安全法's
    十五日内向人民法院起诉) adds a citation and nothing else: the answer quotes the bureau's 行政诉讼法 alone."""
    from assistant import compose

    eng = make_engine(library.settings.index_dir, library_dirs=[SAMPLE / "社会法"])  # 矿山安全法 is the library's
    question = "对复议决定不服，要在多长时间内去法院起诉？"
    ans = ask(eng, question)
    cited = {c.chunk.doc for c in ans.citations}
    assert "中华人民共和国行政诉讼法" in cited and not cited & set(SPECIAL), ans.answer
    monkeypatch.setattr(compose, "_without_repeats", lambda chosen, values: chosen)
    assert {c.chunk.doc for c in ask(eng, question).citations} & set(SPECIAL)  # what it prevents, on this sample
