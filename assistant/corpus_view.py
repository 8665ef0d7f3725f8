"""What the citation checker reads of an index, and nothing more: a small read-only view of the corpus.

:mod:`assistant.checker` takes an :class:`~assistant.engine.Engine` (or anything with this shape) and turns it into
a :class:`CorpusView` in one place, :func:`corpus_view`. So the checker depends on these few questions, not on the
retriever's tables, and its tests can run on an index of a few laws.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import TYPE_CHECKING, Any, Protocol

from assistant.schema import Chunk

if TYPE_CHECKING:
    from assistant.citations import DocumentReference
    from assistant.retrieval import ArticleLookup


class CorpusView(Protocol):
    """The corpus as the checker sees it."""

    @property
    def titles(self) -> Mapping[str, str]:
        """Every document's title → its kind (schema.DOC_TYPES)."""

    @property
    def article_counts(self) -> Mapping[str, int]:
        """Title → how many articles (第N条) the document has."""

    def doc_info(self, title: str) -> str:
        """The document's info lines (dates, history), as ingested; "" if none."""

    def scanned(self, title: str) -> bool:
        """Whether the document was read from a scan (OCR)."""

    def resolve(self, citation: DocumentReference, name: str, when: date | None = None) -> ArticleLookup:
        """``citation``'s document (written ``name``) and articles, looked up as the chat looks them up; a law in
        several versions answers from the version in force at ``when`` (a draft's date), else today's."""

    def chunks_of(self, title: str) -> list[Chunk]:
        """The document's passages in reading order."""

    def article(self, title: str, label: str) -> list[Chunk]:
        """The passages of one article (第N条) of the document; [] when it has no such article."""

    def closest(self, text: str, title: str, n: int) -> list[Chunk]:
        """The document's passages that share the most (rare) words with ``text``, best first (keyword search)."""

    def idf(self, word: str) -> float:
        """How rare a search token is in the index (BM25's IDF)."""

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """The index's embedding model on ``texts``."""


class EngineCorpus:
    """:class:`CorpusView` of an engine: its retriever's tables and its store's embedding model."""

    def __init__(self, retriever: Any, embeddings: Any) -> None:
        self._r = retriever
        self._embeddings = embeddings

    @property
    def titles(self) -> Mapping[str, str]:
        return self._r.titles

    @property
    def article_counts(self) -> Mapping[str, int]:
        return self._r.article_counts

    def doc_info(self, title: str) -> str:
        rows = [i for i in self._r.doc_rows.get(title, ()) if not self._r.hidden[i]]  # the version in force
        return self._r.chunks[rows[0]].extra.get("doc_info", "") if rows else ""

    def scanned(self, title: str) -> bool:
        rows = self._r.doc_rows.get(title)
        return bool(self._r.chunks[rows[0]].extra.get("ocr")) if rows else False

    def resolve(self, citation: DocumentReference, name: str, when: date | None = None) -> ArticleLookup:
        return self._r.resolve(citation, name, when=when)

    def chunks_of(self, title: str) -> list[Chunk]:
        return self._r.chunks_of(title)

    def article(self, title: str, label: str) -> list[Chunk]:
        versions = self._r.versions  # a law in several versions: the article of the version in force, once
        return versions.of_version(self._r.articles.get((title, label), []), versions.pick(title))

    def closest(self, text: str, title: str, n: int) -> list[Chunk]:
        return [self._r.chunks[i] for i, _ in self._r.keyword(text, n, allowed=[title])]

    def idf(self, word: str) -> float:
        return self._r.idf(word)

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        return self._embeddings.embed_documents(list(texts))


def corpus_view(source: Any) -> CorpusView:
    """The checker's view of ``source``: an engine (anything with ``retriever`` and ``store.embeddings``), or a
    :class:`CorpusView` already, returned as it is."""
    if hasattr(source, "retriever"):
        return EngineCorpus(source.retriever, source.store.embeddings)
    return source
