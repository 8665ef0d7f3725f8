"""Chunkers, one module per kind of document, all with the signature ``chunk(doc, doc_type) -> list[Chunk]``.

Which chunker runs is decided by the document's structure (article lines, report headings), not only by
its title, so a law saved as .docx or a report saved as .md is still split the right way.
"""

from __future__ import annotations

import re

from assistant.schema import Chunk, Document
from ingest.chunkers import generic, law, report

_LAW_TITLE = re.compile(r"(法|法典)$")
_REGULATION_TITLE = re.compile(r"(条例|规定|办法|细则|规则|决定|解释|意见|纲要|大纲|章程|通知)$")
_REPORT_TITLE = re.compile(r"(报告|总结|情况|计划|要点)")


def classify(doc: Document) -> str:
    """report / law / regulation / other, from the title first and the structure second."""
    title = re.sub(r"[（(].*?[）)]$", "", doc.title.strip())
    if _REPORT_TITLE.search(title):
        return "report"
    if _LAW_TITLE.search(title):
        return "law"
    if _REGULATION_TITLE.search(title):
        return "regulation"
    body = doc.text[doc.body_start :]
    if law.looks_like_law(body):
        return "regulation"
    if report.looks_like_report(body):
        return "report"
    return "other"


def chunk_document(doc: Document, doc_type: str | None = None) -> list[Chunk]:
    doc_type = doc_type or classify(doc)
    body = doc.text[doc.body_start :]
    if law.looks_like_law(body):
        return law.chunk(doc, doc_type)
    if report.looks_like_report(body):
        return report.chunk(doc, doc_type)
    return generic.chunk(doc, doc_type)
