"""Laws and regulations: one passage per article (第X条) with its continuation paragraphs and items.

Markdown headings ``#``/``##``/``###``/``####`` are 编/章/节 and make the section path; so does a bare heading
line (「第一章 总则」 as a .docx or a scanned page has it, with no ``#``: :data:`BARE_HEADING`). An article starts
only at a paragraph that begins with its label followed by a space, so in-text references such as
「依照本法第三十条」 are never taken for article starts. Text under a heading before the first article
(the Constitution's 序言) becomes passages without an article.
"""

from __future__ import annotations

import re

from assistant.schema import Chunk, Document
from assistant.ingest.chunkers.base import MD_HEADING, HeadingPath, split_span

ARTICLE = re.compile(r"^(第[零〇一二三四五六七八九十百千]+条(?:之[一二三四五六七八九十]+)?)[ \u3000]")
_BARE_HEADING = re.compile(r"^(第[一二三四五六七八九十百]+(?:分编|[编章节]))\s*(.*)$")
#: A 编/章/节 heading line without Markdown: the label, then a short name without sentence punctuation (a
#: sentence that happens to start with 「第二章」 has a verb and punctuation, and is longer).
BARE_HEADING = re.compile(r"^第[一二三四五六七八九十百]+(分编|[编章节])(?:[ \u3000]*[^\s，。；：、“”（）()]{1,20}(?:[ \u3000]+[^\s，。；：、“”]{1,10})*)?$")
#: Bare headings' levels, in the order 编 > 分编 > 章 > 节 (relative only: a file has either kind of heading).
_BARE_LEVELS = {"编": 1, "分编": 2, "章": 3, "节": 4}


def looks_like_law(body: str) -> bool:
    return sum(1 for line in body.splitlines() if ARTICLE.match(line)) >= 3


def _clean_heading(title: str) -> str:
    """'第二节  监  护' → '第二节 监护': the label and the name, without the source's inner spacing."""
    m = _BARE_HEADING.match(title)
    if m:
        name = re.sub(r"\s+", "", m.group(2))
        return f"{m.group(1)} {name}".strip()
    return re.sub(r"\s+", "", title)


def chunk(doc: Document, doc_type: str) -> list[Chunk]:
    text = doc.text
    chunks: list[Chunk] = []
    path = HeadingPath()
    open_start: int | None = None  # start of the article (or loose text) being collected
    open_article: str | None = None
    open_section = ""

    def close(end: int) -> None:
        nonlocal open_start
        if open_start is not None:
            chunks.extend(split_span(doc, doc_type, open_start, end, open_section, open_article))
        open_start = None

    pos = doc.body_start
    for line in text[doc.body_start :].splitlines(keepends=True):
        stripped = line.strip().replace("\u200b", "")
        heading = MD_HEADING.match(stripped)
        bare = None if heading else BARE_HEADING.match(stripped)
        article = ARTICLE.match(line)
        if stripped.startswith("<!--"):  # source markers such as <!-- FORCE BREAK --> end a passage
            close(pos)
        elif heading:
            close(pos)
            path.enter(len(heading.group(1)), _clean_heading(heading.group(2)))
        elif bare:
            close(pos)
            path.enter(_BARE_LEVELS[bare.group(1)], _clean_heading(stripped))
        elif article:
            close(pos)
            open_start, open_article = pos, article.group(1)
            open_section = str(path)
        elif stripped and open_start is None:  # loose text under a heading (序言, notes)
            open_start, open_article = pos, None
            open_section = str(path)
        pos += len(line)
    close(len(text))
    return chunks
