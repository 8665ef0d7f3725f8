"""What every chunker shares: packing sentences into passages that never end mid-sentence."""

from __future__ import annotations

import re

from assistant.schema import Chunk, Document
from assistant.textutil import sentence_spans

#: A Markdown heading line: ``#`` … ``######``, then its text.
MD_HEADING = re.compile(r"^(#{1,6})\s+(.*\S)\s*$", re.M)

#: Passages longer than this are split at sentence ends. Articles and report items are almost all shorter.
MAX_CHARS = 600


class HeadingPath:
    """The headings above the current position, by level: entering a heading drops those at its level and below."""

    def __init__(self) -> None:
        self._titles: dict[int, str] = {}

    def enter(self, level: int, title: str) -> None:
        self._titles = {lv: t for lv, t in self._titles.items() if lv < level}
        self._titles[level] = title

    def __str__(self) -> str:
        return " > ".join(self._titles[lv] for lv in sorted(self._titles))


def make_chunk(doc: Document, doc_type: str, start: int, end: int, section: str, article: str | None) -> Chunk:
    text = doc.text
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    context = " ".join(p for p in (doc.title, section.replace(" > ", " "), article or "") if p)
    return Chunk(
        text=text[start:end],
        doc=doc.title,
        source=doc.source,
        doc_type=doc_type,
        section=section,
        article=article,
        start=start,
        end=end,
        context=context,
    )


def split_span(doc: Document, doc_type: str, start: int, end: int, section: str, article: str | None,
               max_chars: int = MAX_CHARS) -> list[Chunk]:
    """One chunk for the span, or several cut at sentence ends when it is longer than ``max_chars``."""
    if not doc.text[start:end].strip():
        return []
    if end - start <= max_chars:
        return [make_chunk(doc, doc_type, start, end, section, article)]
    pieces: list[Chunk] = []
    piece_start = None
    piece_end = start
    for s, e in sentence_spans(doc.text, start, end):
        if piece_start is not None and e - piece_start > max_chars:
            pieces.append(make_chunk(doc, doc_type, piece_start, piece_end, section, article))
            piece_start = None
        if piece_start is None:
            piece_start = s
        piece_end = e
    if piece_start is not None:
        pieces.append(make_chunk(doc, doc_type, piece_start, piece_end, section, article))
    return pieces
