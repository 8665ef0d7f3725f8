"""Chunkers on the real corpus: the report tree, one passage per article, verbatim offsets, classification.

Expected values are computed from the files themselves (article lines, heading lines), never copied
from the chunkers' output.
"""

from __future__ import annotations

import re
from collections import Counter

import pytest

from assistant.ingest.chunkers import chunk_document, document_kind, generic, law, report
from assistant.ingest.chunkers.base import MAX_CHARS
from assistant.ingest.loaders import load

REPORT_NAME = "柳州市教育局2022年法治政府建设情况报告"
ARTICLE_LINE = re.compile(r"^(第[零〇一二三四五六七八九十百千]+条) ", re.MULTILINE)
#: A passage ends at the end of a sentence: 。！？； (and ASCII), optionally followed by closing quotes/brackets.
SENTENCE_END = re.compile(r"[。！？；!?;：:][”’」』）)]*$")
REPORT_HEADINGS = (
    re.compile(r"^[一二三四五六七八九十]+、"),
    re.compile(r"^（[一二三四五六七八九十]+）"),
    re.compile(r"^[0-9]+．"),
)
#: Laws whose articles are all shorter than MAX_CHARS: exactly one chunk per article.
ONE_CHUNK_PER_ARTICLE = ["未成年人保护法", "禁毒法", "教师法", "义务教育法", "民法典", "法规规章备案条例"]


def ends_sentence(doc, chunk) -> bool:
    """The chunk ends at a sentence end, or at a line break of the source (a heading-like line)."""
    return bool(SENTENCE_END.search(chunk.text)) or doc.text[chunk.end : chunk.end + 1] in ("\n", "")


# ---------------------------------------------------------------- the report


@pytest.fixture(scope="module")
def report_chunks(report_doc):
    return chunk_document(report_doc)


def test_report_is_chunked_by_its_heading_tree(report_doc, report_chunks):
    by_section = {c.section: c for c in report_chunks}
    assert len(by_section) == len(report_chunks), "each lowest heading is one passage"
    drug = by_section["一、2022年推进法治政府建设主要举措和成效 > （三）依法全面履行政府职能 > 5．广泛开展禁毒教育"]
    assert drug.text.startswith("5．广泛开展禁毒教育。")
    assert "参与率100%，平均分高达97分" in drug.text
    assert drug.article is None and drug.doc == REPORT_NAME and drug.doc_type == "report"
    # a level-2 heading with text directly under it (no numbered items) is a passage of its own
    enforce = by_section["一、2022年推进法治政府建设主要举措和成效 > （六）坚持严格规范公正文明执法"]
    assert enforce.text.startswith("（六）坚持严格规范公正文明执法\n\n定期开展行政执法人员集中业务学习")
    plan = by_section["三、2023年工作计划 > （三）夯实法治教育成果"]
    assert plan.text.endswith("并择优推荐申报全区依法治校示范校。")


def test_report_section_paths_follow_the_headings(report_chunks):
    for c in report_chunks[1:]:
        parts = c.section.split(" > ")
        assert 2 <= len(parts) <= 3, c.section
        for level, part in enumerate(parts):
            assert REPORT_HEADINGS[level].match(part), (c.section, part)
            assert not part.endswith("。")
        # the passage starts with its own (lowest) heading, quoted in place
        assert c.text.startswith(parts[-1]), (c.section, c.text[:30])


def test_report_every_lowest_heading_once_and_no_text_lost(report_doc, report_chunks):
    """Each non-blank line of the report is in exactly one passage, or is a heading named in section paths."""
    lines = [line.strip() for line in report_doc.text.splitlines() if line.strip()]
    title_lines, body_lines = lines[:2], lines[2:]
    assert "".join(title_lines) == REPORT_NAME
    headings_in_paths = {part for c in report_chunks for part in c.section.split(" > ")}
    for line in body_lines:
        holders = [c for c in report_chunks if line in c.text]
        if holders:
            assert len(holders) == 1, line
        else:
            assert line in headings_in_paths, f"line lost: {line[:40]}"


def test_report_preamble_and_title(report_doc, report_chunks):
    first = report_chunks[0]
    assert first.section == "前言"
    assert first.text.startswith("2022年，我局认真执行")
    assert first.text.endswith("现将工作情况汇报如下：")
    body_start = report_doc.text.index("2022年，我局认真执行")
    assert all(c.start >= body_start for c in report_chunks), "the title lines are not a passage"
    assert not any(c.text.startswith(("柳州市教育局2022年法治政府", "建设情况报告")) for c in report_chunks)
    assert [c.section for c in report_chunks].count("前言") == 1


def test_report_chunks_are_whole_sentences(report_doc, report_chunks):
    for c in report_chunks:
        assert c.text and c.text == c.text.strip()
        assert c.text[0] not in "。，、；：！？”）", c.text[:20]
        assert ends_sentence(report_doc, c), c.text[-20:]
        assert len(c.text) <= MAX_CHARS


def test_long_report_section_is_split_at_sentence_ends(tmp_path, report_doc):
    # The real sections are all short. Build a report whose one section is long, from the report's own
    # sentences (the numbered labels removed so that they stay one section).
    items = [re.sub(r"^[0-9]+．", "", line) for line in report_doc.text.splitlines() if re.match(r"^[0-9]+．", line)]
    long_body = "".join(items)
    assert len(long_body) > 3 * MAX_CHARS
    text = f"一、主要举措和成效\n{long_body}\n二、存在问题和原因\n部分学校的普法形式不够丰富，缺乏吸引力。\n"
    path = tmp_path / "某局2022年工作报告.txt"
    path.write_text(text, encoding="utf-8")
    doc = load(path)
    assert document_kind(doc) == "report"
    chunks = chunk_document(doc)
    first = [c for c in chunks if c.section == "一、主要举措和成效"]
    assert len(first) >= 4
    for c in first:
        assert c.text == doc.text[c.start : c.end]
        assert len(c.text) <= MAX_CHARS
        assert SENTENCE_END.search(c.text), c.text[-20:]
        assert c.text[0] not in "。，、；"
    assert first[0].text.startswith("一、主要举措和成效\n")
    # together the pieces are the whole section: nothing dropped, nothing repeated
    joined = "".join(c.text for c in first)
    assert re.sub(r"\s", "", joined) == re.sub(r"\s", "", "一、主要举措和成效" + long_body)
    assert [c.section for c in chunks][-1] == "二、存在问题和原因"


# ---------------------------------------------------------------- laws


@pytest.mark.parametrize("name", ONE_CHUNK_PER_ARTICLE)
def test_one_chunk_per_article(law_doc, split_articles, name):
    doc = law_doc(name)
    chunks = chunk_document(doc)
    labels = ARTICLE_LINE.findall(doc.text)
    assert len(chunks) == len(labels) == len(set(labels))
    assert [c.article for c in chunks] == labels
    expected = split_articles(doc.text)
    for c in chunks:
        assert c.text == expected[c.article]
        assert c.text.startswith(c.article + " ")
        assert c.doc_type in ("law", "admin_regulation", "judicial")


def test_every_law_has_each_article_exactly_once(corpus, load_doc, split_articles):
    """Long articles may be cut into several passages, but the articles themselves are all there, in order."""
    for path in sorted((corpus / "regulations").glob("*.md")):
        doc = load_doc(path)
        chunks = chunk_document(doc)
        labels = ARTICLE_LINE.findall(doc.text)
        seen = list(dict.fromkeys(c.article for c in chunks if c.article))
        assert seen == labels, path.stem
        expected = split_articles(doc.text)
        for label in labels:
            pieces = [c.text for c in chunks if c.article == label]
            assert re.sub(r"\s", "", "".join(pieces)) == re.sub(r"\s", "", expected[label]), (path.stem, label)
            assert pieces[0].startswith(label + " ")
            assert all(len(p) <= MAX_CHARS for p in pieces) or len(pieces) == 1


def test_continuation_paragraphs_and_items_stay_in_their_article(law_doc):
    chunks = {c.article: c for c in chunk_document(law_doc("未成年人保护法"))}
    fourth = chunks["第四条"].text
    assert fourth.startswith("第四条 保护未成年人，应当坚持最有利于未成年人的原则。")
    for item in ("（一）给予未成年人特殊、优先保护", "（六）保护与教育相结合。"):
        assert item in fourth
    assert fourth.endswith("（六）保护与教育相结合。")
    assert not any(c.text.startswith("（") for c in chunks.values())
    # a three-paragraph article keeps its later paragraphs (款)
    bullying = chunks["第三十九条"].text
    assert bullying.count("\n\n") == 2
    assert bullying.endswith("应当及时向公安机关、教育行政部门报告，并配合相关部门依法处理。")


def test_ascii_parenthesis_items_stay_in_their_article(law_doc):
    doc = law_doc("重大行政决策程序暂行条例")
    chunks = chunk_document(doc)
    items = re.findall(r"^\([一二三四五六七八九十]+\).*$", doc.text, re.MULTILINE)
    assert items
    for item in items:
        holders = [c for c in chunks if item in c.text]
        assert len(holders) == 1 and holders[0].article, item
    assert not any(c.text.startswith("(") for c in chunks)


def test_in_text_references_never_start_a_chunk(corpus, load_doc):
    refs = 0
    for path in sorted((corpus / "regulations").glob("*.md")):
        doc = load_doc(path)
        chunks = chunk_document(doc)
        starts = {c.start for c in chunks}
        for m in re.finditer(r"(?:依照|根据|违反|适用)?本(?:法|条例|规定)第[零〇一二三四五六七八九十百千]+条", doc.text):
            refs += 1
            inner = m.start() + m.group().index("第")
            assert inner not in starts and m.start() not in starts, (path.stem, m.group())
            assert any(c.start < m.start() and m.end() <= c.end for c in chunks), (path.stem, m.group())
        for c in chunks:
            if c.article and c.text.startswith("第"):  # a passage that opens an article opens at its label line
                assert c.text.startswith(c.article + " ")
                assert c.start == 0 or doc.text[c.start - 1] == "\n"
    assert refs > 50  # the corpus is full of them: the check above really ran


def test_reference_at_the_start_of_a_paragraph_is_not_an_article(tmp_path):
    text = (
        "# 某某条例\n\n2020年1月1日 公布\n\n<!-- INFO END -->\n\n## 第一章 总则\n\n"
        "第一条 为了规范管理，制定本条例。\n\n"
        "第二条 本条例适用于本市。\n\n第一条所称管理，包括监督和检查。\n\n"
        "第三条 本条例自公布之日起施行。"
    )
    path = tmp_path / "某某条例.md"
    path.write_text(text, encoding="utf-8")
    chunks = chunk_document(load(path))
    assert [c.article for c in chunks] == ["第一条", "第二条", "第三条"]
    assert chunks[1].text == "第二条 本条例适用于本市。\n\n第一条所称管理，包括监督和检查。"


def test_civil_code_parts_are_in_the_section_path(law_doc):
    chunks = {c.article: c for c in chunk_document(law_doc("民法典"))}
    assert chunks["第一千二百条"].section == "第七编 侵权责任 > 第三章 责任主体的特殊规定"
    assert "第七编 侵权责任" in chunks["第一千二百条"].section
    assert chunks["第一条"].section == "第一编 总则 > 第一章 基本规定"
    assert chunks["第二十七条"].section == "第一编 总则 > 第二章 自然人 > 第二节 监护"
    assert chunks["第二百零七条"].section.startswith("第二编 物权 > ")
    assert chunks["第一千二百六十条"].section == "附则"
    first_of_part = {"第一编 总则": "第一条", "第七编 侵权责任": "第一千一百六十四条"}
    for part, label in first_of_part.items():
        assert chunks[label].section.startswith(part)


def test_headings_are_normalised(corpus, load_doc, law_doc):
    minors = {c.article: c for c in chunk_document(law_doc("未成年人保护法"))}
    assert minors["第一条"].section == "第一章 总则"  # the file has "## 第一章 总 则"
    assert minors["第一百三十二条"].section == "第九章 附则"
    crime = {c.article: c for c in chunk_document(law_doc("预防未成年人犯罪法"))}
    assert crime["第一条"].section == "第一章 总则"  # the file has "## 第一章 总  则"
    heading_part = re.compile(r"第[一二三四五六七八九十百]+(?:编|分编|章|节) \S+|序言|附则")
    for path in sorted((corpus / "regulations").glob("*.md")):
        for c in chunk_document(load_doc(path)):
            for part in filter(None, c.section.split(" > ")):
                assert heading_part.fullmatch(part), (path.stem, c.section)


def test_civil_code_sub_part_headings_keep_label_and_name(law_doc):
    """'## 第一分编  通则' → '第一分编 通则', like '第一章  基本规定' → '第一章 基本规定'."""
    chunks = {c.article: c for c in chunk_document(law_doc("民法典"))}
    assert chunks["第二百零五条"].section == "第二编 物权 > 第一分编 通则 > 第一章 一般规定"
    assert chunks["第二百四十条"].section.startswith("第二编 物权 > 第二分编 所有权 > ")


def test_metadata_header_is_not_chunked(corpus, load_doc):
    for path in sorted((corpus / "regulations").glob("*.md")):
        doc = load_doc(path)
        chunks = chunk_document(doc)
        assert doc.body_start > 0
        assert all(c.start >= doc.body_start for c in chunks), path.stem
        header = doc.text[: doc.body_start]
        for c in chunks:
            assert "<!--" not in c.text and "INFO END" not in c.text
            assert not c.text.startswith("# ")
        for info in doc.metadata["info"]:
            if len(info) > 12:
                assert not any(info in c.text for c in chunks), (path.stem, info)
        assert header.startswith("# ")


def test_constitution_preamble(law_doc, law_path):
    doc = law_doc("宪法")
    chunks = chunk_document(doc)
    preamble = [c for c in chunks if c.section == "序言"]
    assert preamble and all(c.article is None for c in preamble)
    assert preamble[0].text.startswith("中国是世界上历史最悠久的国家之一。")
    assert chunks[: len(preamble)] == preamble  # the 序言 comes before 第一条
    assert chunks[len(preamble)].article == "第一条"
    raw = law_path("宪法").read_text(encoding="utf-8")
    assert "<!-- FORCE BREAK -->" in raw
    assert not any("FORCE BREAK" in c.text or "<!--" in c.text for c in chunks)
    # every paragraph of the 序言 is quoted somewhere, and the markers do end a passage
    body = raw.split("## 序言", 1)[1].split("## 第一章", 1)[0]
    paragraphs = [p.strip() for p in body.split("\n\n") if p.strip() and not p.startswith("<!--")]
    for p in paragraphs:
        assert sum(p in c.text for c in preamble) == 1, p[:20]
    for part in body.split("<!-- FORCE BREAK -->"):
        first_para = next(p.strip() for p in part.split("\n\n") if p.strip())
        assert any(c.text.startswith(first_para) for c in preamble)


def test_other_law_artifacts(law_doc):
    # the zero-width-space paragraph after the marker is not a passage
    for name in ("未成年人保护法", "行政复议法"):
        chunks = chunk_document(law_doc(name))
        assert chunks[0].article == "第一条"
        assert not any(c.text.strip("\u200b\u3000 \n") == "" or c.text.startswith("\u200b") for c in chunks)
    # a judicial interpretation's opening paragraph (no heading, no article) is kept, without an article
    court = chunk_document(law_doc("最高人民法院关于行政机关负责人出庭应诉若干问题的规定"))
    assert court[0].article is None and court[0].text.startswith("为进一步规范行政机关负责人出庭应诉活动")
    assert [c.article for c in court[1:]] == ARTICLE_LINE.findall(law_doc("最高人民法院关于行政机关负责人出庭应诉若干问题的规定").text)


# ---------------------------------------------------------------- every corpus file


def test_chunk_text_is_verbatim_slice(corpus_files, load_doc):
    for path in corpus_files:
        doc = load_doc(path)
        chunks = chunk_document(doc)
        assert chunks, path.stem
        previous_end = 0
        for c in chunks:
            assert c.text == doc.text[c.start : c.end], (path.stem, c.start)
            assert c.text.strip() == c.text and c.text
            assert c.start >= previous_end, "passages do not overlap and are in reading order"
            previous_end = c.end
            assert c.doc == doc.title and c.source == doc.source
            assert ends_sentence(doc, c), (path.stem, c.article, c.text[-20:])


def test_document_kind_corpus(corpus, corpus_files, load_doc):
    """Kinds from who made each text (data/corpus/SOURCES.md's issuing-body column), not from a title word."""
    got = {load_doc(p).title: document_kind(load_doc(p)) for p in corpus_files}
    assert Counter(got.values()) == {"law": 11, "admin_regulation": 4, "judicial": 1, "report": 1}
    assert got["最高人民法院关于行政机关负责人出庭应诉若干问题的规定"] == "judicial"
    assert got["法规规章备案审查条例"] == "admin_regulation"  # no history lines: a 条例 with no place in its title
    assert got["中华人民共和国宪法"] == "law" and got[REPORT_NAME] == "report"
    others = [load_doc(p) for p in sorted((corpus / "other_bureaus").glob("*.txt"))]
    assert {document_kind(d) for d in others} == {"report"}  # 寧夏自治區…報告 too (read as simplified)


@pytest.mark.parametrize("title, text, kind", [
    ("柳州市第一中学学生手机管理办法", "第一条 为规范学生手机管理，制定本办法。\n\n第二条 学生不得将手机带入课堂。", "normative"),
    ("关于做好2023年春季学期开学工作的规定", "各中小学：\n\n一、做好开学准备。\n\n二、加强安全管理。", "normative"),
    ("广西壮族自治区未成年人保护条例",
     "2020年11月27日广西壮族自治区第十三届人民代表大会常务委员会第二十次会议通过\n\n第一条 为了保护未成年人。", "local_regulation"),
    ("学生伤害事故处理办法", "中华人民共和国教育部令第12号\n\n第一条 为了积极预防、妥善处理在校学生伤害事故。", "rule"),
])
def test_document_kind_by_issuer(title, text, kind):
    from assistant.schema import Document

    assert document_kind(Document(text=text, source="x.txt", title=title)) == kind


def test_chunker_choice_follows_structure(report_doc, law_doc):
    assert report.looks_like_report(report_doc.text) and not law.looks_like_law(report_doc.text)
    civil = law_doc("民法典")
    assert law.looks_like_law(civil.text[civil.body_start :])


# ---------------------------------------------------------------- generic text


def test_markdown_without_headings_uses_generic_chunker(tmp_path, law_path, monkeypatch):
    # prose from the Constitution's 序言 (no articles, no report headings) plus one very long sentence
    raw = law_path("宪法").read_text(encoding="utf-8")
    body = raw.split("## 序言", 1)[1].split("## 第一章", 1)[0]
    paragraphs = [p.strip() for p in body.split("\n\n") if p.strip() and not p.startswith("<!--")]
    long_sentence = "，".join(["各级各类学校应当依法保障学生的合法权益"] * 40) + "。"
    assert len(long_sentence) > MAX_CHARS
    text = "\n\n".join(paragraphs[:3] + [long_sentence] + paragraphs[3:]) + "\n"
    path = tmp_path / "学习笔记.md"
    path.write_text(text, encoding="utf-8")
    doc = load(path)
    assert document_kind(doc) == "other"
    assert not law.looks_like_law(doc.text) and not report.looks_like_report(doc.text)

    calls = []
    real = generic.chunk
    monkeypatch.setattr(generic, "chunk", lambda d, t: calls.append(d) or real(d, t))
    chunks = chunk_document(doc)
    assert calls == [doc], "the generic chunker handled it"

    assert len(chunks) >= 4
    for c in chunks:
        assert c.text == doc.text[c.start : c.end]
        assert c.section == "" and c.article is None and c.doc_type == "other"
        assert SENTENCE_END.search(c.text), c.text[-10:]
        assert len(c.text) <= MAX_CHARS or c.text == long_sentence
    assert any(c.text == long_sentence for c in chunks)
    # short neighbouring paragraphs share a passage
    assert any(c.text.count("\n\n") >= 1 for c in chunks)
    # nothing lost
    assert re.sub(r"\s", "", "".join(c.text for c in chunks)) == re.sub(r"\s", "", text)


def test_generic_chunker_cuts_a_long_paragraph_at_sentence_ends(tmp_path, report_doc):
    sentences = [s for s in re.split(r"(?<=[。；])", report_doc.text.replace("\n", "")) if s]
    paragraph = "".join(s for s in sentences if not re.match(r"^[0-9一二三（]", s))[:2500]
    paragraph = paragraph[: paragraph.rindex("。") + 1]
    path = tmp_path / "摘录.md"
    path.write_text(paragraph, encoding="utf-8")
    doc = load(path)
    chunks = generic.chunk(doc, "other")
    assert len(chunks) >= 4
    for c in chunks:
        assert len(c.text) <= MAX_CHARS
        assert SENTENCE_END.search(c.text)
    assert "".join(c.text for c in chunks) == paragraph
