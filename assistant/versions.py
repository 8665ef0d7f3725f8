"""Versions and parts of one law, read from the passages' own metadata (issue 19).

A law library holds many laws in several versions: 未成年人保护法(2020-10-17).md and 未成年人保护法(2024-04-26).md are
both titled 中华人民共和国未成年人保护法. Quoting both copies of 第十九条 as two passages leaves a reader unable to tell
which text is in force, so every passage is tied to one **version** of its law:

- files with the same title and different version dates (the date in the file name, else the newest date of the
  history lines between ``# title`` and ``<!-- INFO END -->``) are versions of one law;
- files with the same title and the same (or no) date are **parts** of one version: 民法典's 8 parts, each titled
  中华人民共和国民法典, with article numbers continuing across them. A passage whose text another file of the same
  version already has (the whole 民法典 in one file beside its parts) is a duplicate and is not served twice.

The version in force is the newest one dated no later than today. Retrieval serves only it (and never a duplicate)
unless the question names a date (:func:`version_query`: 「2018年时」, 「修订前」, 「2020年版」).

Built from the chunks in memory when the retriever loads the index (no ingest change, no second store); only
documents of the legal types (schema.LEGAL_TYPES) have versions — a report is one version of itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import PurePath
from typing import Sequence

import numpy as np

from assistant.schema import LEGAL_TYPES, Chunk

#: 未成年人保护法(2024-04-26).md: the version date in a library file's name.
_NAME_DATE = re.compile(r"[（(](\d{4})-(\d{1,2})-(\d{1,2})[)）]")
_LINE_DATE = re.compile(r"(\d{4})年(\d{1,2})月(\d{1,2})日")
#: What a history line records, most telling first (a line that 修订 and 施行 is a 修订).
_EVENTS = ("修订", "修正", "通过", "公布", "发布", "施行")


@dataclass(frozen=True)
class VersionQuery:
    """Which version a question asks for: ``at`` a date, the ``previous`` one (修订前), or one ``named`` by year."""

    kind: str  # "at" / "previous" / "named"
    when: date | None = None
    year: int | None = None


#: 「修订前」「修改前」「旧的」「原来的」: the version before the newest one.
_PREVIOUS = re.compile(r"(?:修订|修改|修正|改)(?:之)?前|旧的|旧版|老版|原来的|原先的|以前的(?:版本|规定)|上一版")
#: 「2020年版」「2020年修订的」「2020年修正版」: the version of that year.
_NAMED = re.compile(r"(\d{4})\s*年(?:\d{1,2}月(?:\d{1,2}日)?)?\s*(?:的)?(?:修订|修正)?(?:版|的版本|修订的|修正的)")
#: 「2018年时」「2018年的规定」「2018年6月施行的」: the version in force at that date.
_AT = re.compile(r"(\d{4})\s*年(?:(\d{1,2})月(?:(\d{1,2})日)?)?\s*(?:时|的时候|那时|当时|的规定|施行的|有效的|生效的|的条文|的法律|规定的)")


def version_query(question: str) -> VersionQuery | None:
    """The version a question names, or None (then the version in force today answers).

    Only explicit cues count: a report question's 「2022年审查了…」 names no version of any law.
    """
    if m := _NAMED.search(question):
        return VersionQuery("named", year=int(m[1]))
    if m := _AT.search(question):
        year = int(m[1])
        try:
            when = date(year, int(m[2] or 12), int(m[3] or (31 if not m[2] else 28)))
        except ValueError:
            when = date(year, 12, 31)
        return VersionQuery("at", when=when)
    if _PREVIOUS.search(question):
        return VersionQuery("previous")
    return None


@dataclass
class Version:
    """One version of a law: its files (several when the law comes in parts) and its date."""

    law: str  # the law's title, shared by all its versions
    date: date | None
    label: str  # 2024年4月26日修正 (empty when the files carry no date)
    sources: list[str] = field(default_factory=list)
    in_force: bool = True  # the version a question is answered from by default
    newest: bool = True


def dated_lines(lines: Sequence[str]) -> list[tuple[date, str]]:
    """(date, line) per line that states a valid date (2024年4月26日), in order: a law's history lines. The
    checker reads the same lines (``checker.history``)."""
    out = []
    for line in lines:
        m = _LINE_DATE.search(line)
        if not m:
            continue
        try:
            out.append((date(int(m[1]), int(m[2]), int(m[3])), line))
        except ValueError:
            continue
    return out


def _history(info: str) -> list[tuple[date, str]]:
    """(date, event) per dated history line of ``doc_info`` (lines joined by " / " at ingest)."""
    lines = dated_lines((info or "").split(" / "))
    return [(when, next((e for e in _EVENTS if e in line), "")) for when, line in lines]


def source_version(source: str, info: str) -> tuple[date | None, str]:
    """A file's version date and label: the date in its name (the library's convention), else the newest dated
    history line that adopts or amends it (a 施行 line only when there is no other)."""
    events = _history(info)
    m = _NAME_DATE.search(PurePath(source).name)
    when = None
    if m:
        try:
            when = date(int(m[1]), int(m[2]), int(m[3]))
        except ValueError:
            when = None
    if when is None:
        made = [d for d, e in events if e and e != "施行"] or [d for d, _ in events]
        when = max(made, default=None)
    if when is None:
        return None, ""
    event = next((e for d, e in events if d == when and e), "")
    event = {"发布": "公布"}.get(event, event)
    return when, f"{when.year}年{when.month}月{when.day}日{event or '版'}"


class VersionTable:
    """Every legal document's versions, and per passage row whether retrieval serves it by default.

    Built from the chunk table's columns (``keyword_index._columns``): ``files`` (each file's own fields: doc,
    doc_type, source, doc_info), ``spans`` (file, first row, end row — each file's rows are one run), and the
    per-row ``articles`` and ``texts``, so opening a library does not make 66,000 passage objects.
    """

    def __init__(self, files: Sequence[dict], spans: Sequence[tuple[int, int, int]], articles: Sequence[str],
                 texts: Sequence[str], today: date | None = None) -> None:
        self.today = today or date.today()
        self.laws: dict[str, list[Version]] = {}
        self.of_source: dict[str, Version] = {}
        by_law: dict[str, dict[date | None, Version]] = {}
        for f, _, _ in spans:
            meta = files[f]
            if meta["source"] in self.of_source or meta["doc_type"] not in LEGAL_TYPES:
                continue
            when, label = source_version(meta["source"], meta.get("doc_info", ""))
            versions = by_law.setdefault(meta["doc"], {})
            v = versions.get(when)
            if v is None:
                v = versions[when] = Version(meta["doc"], when, label)
            v.sources.append(meta["source"])
            self.of_source[meta["source"]] = v
        for law, versions in by_law.items():
            ordered = sorted(versions.values(), key=lambda v: v.date or date.min)
            past = [v for v in ordered if v.date is None or v.date <= self.today]
            current = past[-1] if past else ordered[0]
            for v in ordered:
                v.in_force = v is current
                v.newest = v is ordered[-1]
            self.laws[law] = ordered
        n = spans[-1][2] if spans else 0
        # rows retrieval never serves: an older version's passage, or a text another file of the version has
        self.duplicate = np.zeros(n, dtype=bool)
        self.superseded = np.zeros(n, dtype=bool)
        self._spans = [(files[f]["source"], a, b) for f, a, b in spans]
        seen: dict[int, set[tuple[str, str]]] = {}
        for source, a, b in self._spans:
            v = self.of_source.get(source)
            if v is None:
                continue
            self.superseded[a:b] = not v.in_force
            if len(v.sources) > 1:  # parts of one law, or a whole copy beside them: texts may repeat
                mine = seen.setdefault(id(v), set())
                for i in range(a, b):
                    key = (articles[i] or "", texts[i])
                    if key in mine:
                        self.duplicate[i] = True
                    mine.add(key)

    @classmethod
    def from_chunks(cls, chunks: Sequence[Chunk], today: date | None = None) -> VersionTable:
        """The same from Chunk objects in table order (each file's rows together)."""
        files: list[dict] = []
        spans: list[tuple[int, int, int]] = []
        for i, c in enumerate(chunks):
            if not spans or files[spans[-1][0]]["source"] != c.source:
                files.append({"doc": c.doc, "doc_type": c.doc_type, "source": c.source,
                              "doc_info": c.extra.get("doc_info", "")})
                spans.append((len(files) - 1, i, i))
            spans[-1] = (spans[-1][0], spans[-1][1], i + 1)
        return cls(files, spans, [c.article or "" for c in chunks], [c.text for c in chunks], today)

    # ---- reading -------------------------------------------------------------------------------
    def versioned(self, law: str) -> bool:
        """Whether the corpus holds more than one version of ``law`` (then answers name the version)."""
        return len(self.laws.get(law, ())) > 1

    def version(self, chunk: Chunk) -> Version | None:
        return self.of_source.get(chunk.source)

    def pick(self, law: str, query: VersionQuery | None = None, when: date | None = None) -> Version | None:
        """The version of ``law`` a question (``query``) or a dated draft (``when``) is answered from."""
        versions = self.laws.get(law)
        if not versions:
            return None
        if query is not None and query.kind == "at":
            when = query.when
        if when is not None:
            past = [v for v in versions if v.date is None or v.date <= when]
            return past[-1] if past else versions[0]
        current = next(v for v in versions if v.in_force)
        if query is None:
            return current
        if query.kind == "previous":
            i = versions.index(current)
            return versions[i - 1] if i > 0 else current
        named = [v for v in versions if v.date is not None and v.date.year == query.year]
        return named[-1] if named else current

    def newer(self, version: Version) -> list[Version]:
        """The versions of the same law dated after ``version``."""
        return [v for v in self.laws.get(version.law, ()) if v.date and version.date and v.date > version.date]

    def of_version(self, chunks: Sequence[Chunk], version: Version | None) -> list[Chunk]:
        """``chunks`` (one article's passages from every file) narrowed to ``version``, from one file of it: a law in
        parts has each article once, a whole copy beside its parts repeats them."""
        if version is None:
            return list(chunks)
        mine = [c for c in chunks if c.source in version.sources]
        first = mine[0].source if mine else None
        return [c for c in mine if c.source == first]

    def hidden(self, query: VersionQuery | None = None) -> np.ndarray:
        """Rows ordinary retrieval leaves out: duplicates, and passages of versions other than the one the question
        asks for (the one in force, unless it names a date)."""
        if query is None:
            return self.superseded | self.duplicate
        keep = {id(v) for law in self.laws if (v := self.pick(law, query))}
        out = self.duplicate.copy()
        for source, a, b in self._spans:
            v = self.of_source.get(source)
            if v is not None and id(v) not in keep:
                out[a:b] = True
        return out
