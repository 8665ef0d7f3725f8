"""Chunkers, one module per kind of document, all with the signature ``chunk(doc, doc_type) -> list[Chunk]``.

Which chunker runs is decided by the document's structure (article lines, report headings), not only by
its title, so a law saved as .docx or a report saved as .md is still split the right way.
"""

from __future__ import annotations

import re

from assistant.normalize import to_simplified
from assistant.schema import Chunk, Document
from assistant.ingest.chunkers import generic, law, report

#: Who made a legal text, as its history lines (or its opening) say: the kind follows from the issuing body.
_NPC = re.compile(r"全国人民代表大会")
_LOCAL_CONGRESS = re.compile(r"(?:省|自治区|市|州|县)(?:第[一二三四五六七八九十]+届)?人民代表大会")
_STATE_COUNCIL = re.compile(r"国务院令|国务院(?:第\S{1,6}次)?常务会议")
_JUDICIAL = re.compile(r"最高人民(?:法院|检察院)(?:审判委员会|检察委员会)|法释〔|高检发释字")
_MINISTRY_ORDER = re.compile(r"(?:部|委员会|总局|署|局|行|办公厅)令(?:第|〔)|部务会议|委务会议|局务会议")
#: Titles: a report of a body's work; the kinds of document a bureau or a school issues itself.
_REPORT_TITLE = re.compile(r"报告|总结|情况|工作要点")
_NORMATIVE_TITLE = re.compile(r"(?:办法|规定|细则|规则|通知|方案|意见|决定|规范|制度|守则|公约|章程)(?:（[^）]*）|\([^)]*\))?$")
_PLACE_IN_TITLE = re.compile(r"^[\u4e00-\u9fff]{2,9}?(?:省|自治区|市|州|县|区)")


def document_kind(doc: Document) -> str:
    """What the document is (schema.DOC_TYPES), from who made it, then its title and structure.

    法律 is made by the 全国人民代表大会 or its 常务委员会; 行政法规 by the 国务院 (国务院令); 司法解释 by the 最高人民法院 /
    最高人民检察院; 部门规章 by a ministry's order (部令); 地方性法规 by a local people's congress. The history lines
    (``metadata["info"]``) and the opening of the text say which. A 办法 / 规定 / 通知 / 方案 that none of those made
    is a 规范性文件 (a bureau's or a school's own rules); a work report is a 报告. A 条例 with no history and no place
    in its title is a national 行政法规 (local 条例 name their place); a 中华人民共和国…法 is a 法律.
    """
    title = to_simplified(re.sub(r"[（(][^）)]*[）)]$", "", doc.title.strip()))
    body = doc.text[doc.body_start :]
    first_article = re.search(r"^\s*第[一二三四五六七八九十百零〇]+条", body, re.M)
    # the history lines, and what stands before the first article (a 公布令: 中华人民共和国国务院令 第713号…)
    made_by = to_simplified(" ".join(doc.metadata.get("info") or []) + " "
                            + (body[: first_article.start()] if first_article else "")[:500])
    if _JUDICIAL.search(made_by) or title.startswith(("最高人民法院关于", "最高人民检察院关于")):
        return "judicial"
    if _LOCAL_CONGRESS.search(made_by) and not _NPC.search(made_by):
        return "local_regulation"
    if _NPC.search(made_by) or (title.startswith("中华人民共和国") and title.endswith("法")):
        return "law"
    if _STATE_COUNCIL.search(made_by):
        return "admin_regulation"
    if _MINISTRY_ORDER.search(made_by):
        return "rule"
    if _REPORT_TITLE.search(title) and not law.looks_like_law(body):
        return "report"
    if title.endswith("条例") and not _PLACE_IN_TITLE.match(title):
        return "admin_regulation"
    if _NORMATIVE_TITLE.search(title) or law.looks_like_law(body):
        return "normative"
    if report.looks_like_report(body):
        return "report"
    return "other"


def chunk_document(doc: Document, doc_type: str | None = None) -> list[Chunk]:
    doc_type = doc_type or document_kind(doc)
    body = doc.text[doc.body_start :]
    if law.looks_like_law(body):
        return law.chunk(doc, doc_type)
    if report.looks_like_report(body):
        return report.chunk(doc, doc_type)
    return generic.chunk(doc, doc_type)
