"""Wires the pieces together once per process: store → retriever → answerer, and ingestion into them.

The CLI, the Gradio UI and the benchmarks all go through an ``Engine``; none of them builds a store or a
retriever of its own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable

from assistant.answer import Answerer
from assistant.retrieval import Retriever
from assistant.schema import Answer
from assistant.settings import Settings, get_settings
from assistant.store import Store
from assistant.textutil import tokens


class Engine:
    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()
        self.store = Store(self.settings)
        self.retriever = Retriever(self.store)
        self.answerer = Answerer(self.retriever, self.settings.min_score, self.settings.max_question_chars,
                                 self.settings.k)
        # Load the embedding model and jieba's dictionary now, so the first question's time is its own.
        self.store.embeddings.embed_query("预热")
        tokens("预热")

    def ingest(self, paths: Iterable[str | Path] | None = None, progress: bool = True,
               on_progress: Callable[[float, str], None] | None = None):
        from ingest.pipeline import ingest

        report = ingest(list(paths) if paths else self.settings.docs_dirs, self.store, progress, on_progress)
        self.retriever.reload()
        return report

    def ensure_index(self, progress: bool = True, on_progress: Callable[[float, str], None] | None = None):
        """Build the index from the default folders when it is empty; returns the report or None."""
        if self.store.count() == 0:
            return self.ingest(None, progress, on_progress)
        return None

    def ask(self, question: str, **kwargs) -> Answer:
        return self.answerer.ask(question, **kwargs)
