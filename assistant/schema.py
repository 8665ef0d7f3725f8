"""Plain data passed along the pipeline: Document → Chunk → Hit → Answer.

These are the only types that cross module boundaries, so loaders, chunkers, the store, retrieval and
the UI can change independently. ``Answer.to_json`` is the stable JSON contract of ``assistant ask --json``.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

#: What a document is (assistant.ingest.chunkers.document_kind):
#: 报告, 法律, 行政法规, 部门规章, 地方性法规, 司法解释, 规范性文件, 其他.
DOC_TYPES = ("report", "law", "admin_regulation", "rule", "local_regulation", "judicial", "normative", "other")
#: The kinds that are legal texts (laws and the rules made under them), as opposed to reports and other documents.
LEGAL_TYPES = ("law", "admin_regulation", "rule", "local_regulation", "judicial")


@dataclass
class Document:
    """One loaded file. ``text`` is the decoded file content; chunk offsets point into it."""

    text: str
    source: str  # file path as given to the loader
    title: str
    #: Where the body starts (after a ``<!-- INFO END -->`` metadata block), 0 when there is none.
    body_start: int = 0
    #: Document-level facts: ``info`` (history/date lines), ``format`` (txt/md/docx/pdf/html), ``encoding``.
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class Chunk:
    """A passage. ``text`` is verbatim ``document.text[start:end]``; ``context`` is what is added for search."""

    text: str
    doc: str
    source: str
    doc_type: str
    section: str  # heading path, " > " separated
    article: str | None
    start: int
    end: int
    context: str = ""  # title / section / article, used for keyword search, never shown as quoted text
    id: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Hit:
    chunk: Chunk
    score: float  # fused score, higher is better
    dense: float | None = None  # cosine similarity, when the dense ranker saw it
    bm25: float | None = None  # raw BM25 score, when the keyword ranker saw it
    library: bool = False  # a passage of the reference library (Settings.library_dirs), not of the bureau's documents

    def to_json(self) -> dict[str, Any]:
        c = self.chunk
        return {
            "doc": c.doc,
            "source": c.source,
            "section": c.section,
            "article": c.article,
            "text": c.text,
            "score": round(self.score, 4),
        }


@dataclass
class Citation:
    """A passage an answer quotes, numbered [n]. (A reference written in a text is
    :class:`assistant.citations.DocumentReference`.)"""

    n: int
    chunk: Chunk
    #: Character spans inside ``chunk.text`` of the sentences the answer quotes (for highlighting).
    quoted: list[tuple[int, int]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        c = self.chunk
        return {
            "n": self.n,
            "doc": c.doc,
            "source": c.source,
            "section": c.section,
            "article": c.article,
            "text": c.text,
        }


@dataclass
class Answer:
    question: str
    found: bool
    answer: str
    citations: list[Citation] = field(default_factory=list)
    retrieved: list[Hit] = field(default_factory=list)
    ms: float = 0.0
    id: Any = None
    #: Why the assistant answered or refused (signals and their values); not part of the JSON contract.
    reasons: dict[str, Any] = field(default_factory=dict)
    #: The question as it was understood and answered, when that differs from the one typed: a follow-up joined to
    #: the question it continues (extractive), or rewritten by the model with its legal terms (LLM mode); else None.
    standalone: str | None = None
    #: "extractive" (sentences quoted verbatim) or "llm" (a model's sentences, each checked: assistant/verify.py).
    mode: str = "extractive"
    #: The answer's sentences with their [n] and whether they passed the check; None → derived from the lines.
    sentences: list[dict[str, Any]] | None = None
    #: Shown with the answer: why the mode is not the configured one (the model server did not answer…).
    note: str = ""
    #: False for the partial answers a stream yields before the last one.
    final: bool = True

    def sentence_list(self) -> list[dict[str, Any]]:
        """Per sentence: its text, the [n] it cites and ``supported``. An extractive answer's lines are quoted
        verbatim, so each is supported by construction; a refusal has none."""
        if self.sentences is not None:
            return self.sentences
        if not self.found:
            return []
        out = []
        for line in self.answer.split("\n"):
            nums = [int(n) for n in _MARKER.findall(line)]
            if nums:
                out.append({"text": line, "citations": list(dict.fromkeys(nums)), "supported": True})
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "question": self.question,
            "standalone_question": self.standalone,
            "found": self.found,
            "answer": self.answer,
            "mode": self.mode,
            "sentences": self.sentence_list(),
            "note": self.note,
            "citations": [c.to_json() for c in self.citations],
            "retrieved": [h.to_json() for h in self.retrieved],
            "ms": round(self.ms, 2),
        }


_MARKER = re.compile(r"\[(\d+)\]")


def as_dict(obj: Any) -> dict[str, Any]:
    return asdict(obj)
