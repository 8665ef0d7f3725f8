"""Work reports: headings 第一部分 / 一、 / （一） / 1． make a tree; each lowest heading with its text is one passage.

A passage starts at its heading line (so the heading words are searchable and quoted in place) and ends
before the next heading of any level; the section path names every heading above it.
"""

from __future__ import annotations

import re

from assistant.schema import Chunk, Document
from assistant.textutil import normalize_ws
from assistant.ingest.chunkers.base import HeadingPath, split_span

_NUM = "一二三四五六七八九十"
HEADINGS = (  # level, pattern at the start of a line
    (0, re.compile(rf"^第[{_NUM}]+部分")),
    (1, re.compile(rf"^[{_NUM}]+、")),
    (2, re.compile(rf"^[（(][{_NUM}]+[）)]")),
    (3, re.compile(r"^[0-9０-９]+[．.、]")),
)
_MAX_HEADING = 60


def _heading(line: str) -> tuple[int, str] | None:
    """(level, heading text) when the line starts with a heading label; the text stops at the first 。."""
    for level, pattern in HEADINGS:
        if pattern.match(line):
            title = re.split(r"[。；]", line, maxsplit=1)[0].strip()
            if len(title) <= _MAX_HEADING:
                return level, title
    return None


def looks_like_report(body: str) -> bool:
    levels = [h[0] for line in body.splitlines() if (h := _heading(line.strip()))]
    return levels.count(0) >= 2 or levels.count(1) >= 2 or levels.count(2) >= 2


def chunk(doc: Document, doc_type: str) -> list[Chunk]:
    text = doc.text
    # (offset, level, title) of every heading line in the body
    marks: list[tuple[int, int, str]] = []
    pos = doc.body_start
    for line in text[doc.body_start :].splitlines(keepends=True):
        h = _heading(line.strip())
        if h and not line[:1].isspace():
            marks.append((pos, h[0], h[1]))
        pos += len(line)

    chunks: list[Chunk] = []
    first = marks[0][0] if marks else len(text)
    chunks += _preamble(doc, doc_type, doc.body_start, first)
    path = HeadingPath()
    for i, (start, level, title) in enumerate(marks):
        end = marks[i + 1][0] if i + 1 < len(marks) else len(text)
        path.enter(level, title)
        section = str(path)
        body = text[start:end]
        if normalize_ws(body) == normalize_ws(title):  # a heading with nothing under it before the next one
            continue
        chunks += split_span(doc, doc_type, start, end, section, None)
    return chunks


def _preamble(doc: Document, doc_type: str, start: int, end: int) -> list[Chunk]:
    """Text before the first heading, without the title lines a .txt report starts with."""
    title = normalize_ws(doc.title)
    pos = start
    for para in re.split(r"(\n\s*\n)", doc.text[start:end]):
        key = normalize_ws(para)
        if key and key not in title:
            break
        pos += len(para)
    return split_span(doc, doc_type, pos, end, "前言", None)
