"""Anything without report headings or articles: paragraphs packed into passages at sentence ends.

Markdown headings, when there are any, still name the section; they are never quoted as passages.
"""

from __future__ import annotations

import re

from assistant.schema import Chunk, Document
from assistant.ingest.chunkers.base import MAX_CHARS, MD_HEADING, HeadingPath, split_span

_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")


def chunk(doc: Document, doc_type: str, max_chars: int = MAX_CHARS) -> list[Chunk]:
    text = doc.text
    # Sections: [start, end) between markdown headings, with their heading path.
    bounds: list[tuple[int, str]] = [(doc.body_start, "")]
    path = HeadingPath()
    for m in MD_HEADING.finditer(text, doc.body_start):
        path.enter(len(m.group(1)), m.group(2))
        bounds.append((m.start(), str(path)))
    chunks: list[Chunk] = []
    for i, (start, section) in enumerate(bounds):
        end = bounds[i + 1][0] if i + 1 < len(bounds) else len(text)
        if section:  # skip the heading line itself
            start = text.find("\n", start, end) + 1 or end
        chunks += _pack_paragraphs(doc, doc_type, start, end, section, max_chars)
    return chunks


def _pack_paragraphs(doc: Document, doc_type: str, start: int, end: int, section: str, max_chars: int) -> list[Chunk]:
    """Neighbouring short paragraphs share a passage; a long one is cut at sentence ends."""
    paras = []
    pos = start
    for m in _PARAGRAPH_BREAK.finditer(doc.text, start, end):
        paras.append((pos, m.start()))
        pos = m.end()
    paras.append((pos, end))
    chunks: list[Chunk] = []
    group_start = group_end = None
    for s, e in paras:
        if not doc.text[s:e].strip():
            continue
        if group_start is not None and e - group_start > max_chars:
            chunks += split_span(doc, doc_type, group_start, group_end, section, None, max_chars)
            group_start = None
        if group_start is None:
            group_start = s
        group_end = e
    if group_start is not None:
        chunks += split_span(doc, doc_type, group_start, group_end, section, None, max_chars)
    return chunks
