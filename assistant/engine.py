"""Wires the pieces together once per process: store → retriever → answerer, and ingestion into them.

The CLI, the Gradio UI and the benchmarks all go through an ``Engine``; none of them builds a store or a
retriever of its own.
"""

from __future__ import annotations

import time
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ContextManager, Iterable, Iterator

from assistant.answer import Answerer
from assistant.citations import cn_to_int
from assistant.keyword_index import collection_stamp
from assistant.llm import LLMAnswers
from assistant.retrieval import Retriever
from assistant.schema import Answer
from assistant.settings import Settings, get_settings
from assistant.store import Store
from assistant.jieba_setup import preload_dictionary

if TYPE_CHECKING:
    from langchain_core.embeddings import Embeddings

#: How often (seconds) ``ask`` checks whether another instance published a newer keyword index.
REFRESH_EVERY_S = 10.0


class Engine:
    """Opening is cheap (the keyword index is read from disk, the embedding model and jieba's dictionary load
    on first use), so a one-question command starts fast; a server calls :meth:`warm` once instead."""

    def __init__(self, settings: Settings | None = None, embeddings: Embeddings | None = None) -> None:
        self.settings = settings or get_settings()
        self.store = Store(self.settings, embeddings)
        self.retriever = Retriever(self.store, self.settings.retrieval, library_dirs=self.settings.library_dirs)
        self.answerer = Answerer(self.retriever, self.settings.min_score, self.settings.max_question_chars,
                                 self.settings.k, self.settings.answer, self.settings.compose)
        #: Answers written by a model and checked sentence by sentence, when ASSISTANT_LLM_BASE_URL is set.
        self.llm = LLMAnswers.from_settings(self)
        self._checked = time.monotonic()

    def warm(self) -> None:
        """Load the embedding model and jieba's whole dictionary now, so the first question's time is its own."""
        self.store.embeddings.embed_query("预热")
        if hasattr(self.store.embeddings, "preload"):
            self.store.embeddings.preload()
        preload_dictionary()
        self.retriever.article_counts  # the (title, 第N条) table, and each law's count (a "no such article" answer)
        self.retriever.mentioned_titles("预热")  # the tables of the titles' names a question may mention
        tuning = self.retriever.tuning
        if tuning.scope_weight and len(self.retriever.versions.laws) >= tuning.scope_min_laws:
            self.retriever.scopes  # each law's subject words, which rank laws against each other beside a library
        cn_to_int("一")  # cn2an: imported, and its patterns compiled, on the first article number otherwise (0.1 s)
        # read the memory-mapped vectors once: the first searches over a library otherwise wait on their pages (p95
        # 73 ms against 34 ms) — beside a large library the leading coordinates, which are what a search reads
        r = self.retriever
        read_first = r.coarse.coarse if r.coarse is not None else r.vectors
        if read_first is not None:
            float(read_first.sum())

    def refresh(self) -> bool:
        """Pick up a keyword index another instance published (shared Chroma server); True if it changed.

        Not while someone is writing (the stamp says "writing"): the writer publishes when it is done.
        """
        self._checked = time.monotonic()
        stamp = collection_stamp(self.store)
        if not stamp or stamp.startswith("writing") or stamp == self.retriever.keyword_index.stamp:
            return False
        self.retriever.reload()
        return True

    def ingest(self, paths: Iterable[str | Path] | None = None, progress: bool = True,
               on_progress: Callable[[float, str], None] | None = None):
        from assistant.ingest.pipeline import ingest

        report = ingest(list(paths) if paths else self.settings.docs_dirs, self.store, progress, on_progress)
        self.retriever.reload()
        if len(self.retriever.versions.laws) >= self.settings.retrieval.scope_min_laws:
            self.retriever.scopes  # a library: its laws' subjects are read now and saved, not at the first question
        return report

    def ensure_index(self, progress: bool = True, on_progress: Callable[[float, str], None] | None = None):
        """Build the index from the default folders when it is empty; returns the report or None."""
        if self.store.count() == 0:
            return self.ingest(None, progress, on_progress)
        return None

    def ask(self, question: str, history: list[str] | None = None, **kwargs: Any) -> Answer:
        """The final answer; ``history``: the conversation's earlier questions, oldest first (a follow-up is answered
        as the question it continues; LLM mode has the model rewrite it)."""
        *_, final = self.ask_stream(question, history=history, **kwargs)
        return final

    def ask_stream(self, question: str, history: list[str] | None = None, guard: ContextManager | None = None,
                   **kwargs: Any) -> Iterator[Answer]:
        """Partial answers while a model writes (``final`` False), then the final one; one answer without a model."""
        answer = None
        with guard or nullcontext():  # the retriever's views are renewed under the caller's lock, as they are read
            if time.monotonic() - self._checked > REFRESH_EVERY_S:
                self.refresh()
            if self.llm is None:
                answer = self.answerer.ask(question, history=history, **kwargs)
        if answer is not None:
            yield answer
            return
        yield from self.llm.ask_stream(question, history=history, guard=guard, **kwargs)
