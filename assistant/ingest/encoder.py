"""Passage vectors for one ingest run.

A run with much to embed hands its passages to worker processes, so that encoding goes on while this process
writes Chroma and tokenises the keyword index: both hold the GIL (a Chroma write of 512 passages, 0.7 s, let a
Python thread beside it run 3 % of the time), and with the encoder on threads of this process a law library's
ingest kept 1.25 of 2 cores busy (docs/benchmarks.md, 'Law library'). A small run (an upload, the bundled corpus)
encodes here: starting a worker costs about a second. The vectors of texts embedded a moment ago are reused: a
law library files a law's versions side by side, and their articles repeat word for word.
"""

from __future__ import annotations

import multiprocessing
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TYPE_CHECKING

import numpy as np

from assistant.embeddings import Simplified, get_embeddings

if TYPE_CHECKING:  # a worker imports this module: not chromadb with it
    from assistant.store import Store


#: Passages per work item: about a second of a worker's time. The executor keeps only a few items in the workers'
#: queue and feeds it from a thread of this process, which waits while this process holds the GIL (a Chroma write,
#: 0.7 s); items of one file's 32-passage batches left the workers idle then.
WORK_ITEM = 256


class Encoder:
    """``submit`` texts now, read their vectors later (``resolve``), in the order the run needs them."""

    def __init__(self, store: Store) -> None:
        s = store.settings
        self.embeddings = store.embeddings
        self.size = s.ingest_reuse_vectors
        # a worker loads the model the settings name; embeddings handed to the Store (a test's, a benchmark's cache)
        # are only known to this process
        self.model = (s.embedding_model, s.embedding_threads) if store.default_embeddings else None
        self.processes, self.after = s.ingest_processes, s.ingest_processes_after
        self.recent: OrderedDict[str, np.ndarray] = OrderedDict()
        self.flying: dict[str, Future | list[str]] = {}  # text → the batch being encoded with it, or ``gathered``
        self.batches: dict[Future, list[str]] = {}
        self.gathered: list[str] = []  # texts for the next work item of the workers
        self.pool: ProcessPoolExecutor | None = None
        self.submitted = 0

    @property
    def ahead(self) -> bool:
        """Whether encoding runs beside this process (then the run may prepare files ahead of writing them)."""
        return self.pool is not None

    def in_flight(self) -> int:
        return len(self.flying)

    def submit(self, texts: list[str]) -> Callable[[], list[np.ndarray]]:
        todo = [t for t in dict.fromkeys(texts) if t not in self.recent and t not in self.flying]
        if todo:
            self.submitted += len(todo)
            if self.pool is None and self.model and self.processes > 1 and self.submitted > self.after:
                self.pool = ProcessPoolExecutor(self.processes, mp_context=multiprocessing.get_context("spawn"),
                                                initializer=_start_worker, initargs=self.model)
            if self.pool is None:
                self._sent(todo, self._here_now(todo))
            else:
                self.gathered += todo
                for t in todo:
                    self.flying[t] = self.gathered
                if len(self.gathered) >= WORK_ITEM:
                    self._send()
        return lambda: self._resolve(texts)

    def close(self) -> None:
        """Stop the workers (their memory is not kept between runs)."""
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None

    def _send(self) -> None:
        """The gathered texts to the workers as one work item."""
        texts, self.gathered = self.gathered, []
        future = None
        if self.pool is not None:
            try:
                future = self.pool.submit(_encode_in_worker, texts)
            except (BrokenProcessPool, RuntimeError):
                self.close()
        self._sent(texts, future or self._here_now(texts))

    def _sent(self, texts: list[str], future: Future) -> None:
        self.batches[future] = texts
        for t in texts:
            self.flying[t] = future

    def _here_now(self, texts: list[str]) -> Future:
        done: Future = Future()
        done.set_result(self._here(texts))
        return done

    def _here(self, texts: list[str]) -> np.ndarray:
        return np.asarray(self.embeddings.embed_documents(texts), dtype=np.float32)

    def _resolve(self, texts: list[str]) -> list[np.ndarray]:
        out = []
        for t in texts:
            v = self.recent.get(t)
            if v is None:
                if self.flying.get(t) is self.gathered:
                    self._send()
                future = self.flying.get(t)
                if future is not None:
                    batch = self.batches[future]
                    try:
                        vectors = future.result()
                    except BrokenProcessPool:  # a worker died (killed, out of memory): encode here from now on
                        self.close()
                        vectors = self._here(batch)
                    for text, vector in zip(batch, vectors):
                        if self.flying.get(text) is future:
                            del self.flying[text]
                            self.recent[text] = vector
                    del self.batches[future]
                v = self.recent.get(t)
                if v is None:  # fallen out of ``recent`` since it was submitted
                    v = self._here([t])[0]
                    self.recent[t] = v
            self.recent.move_to_end(t)
            out.append(v)
        while len(self.recent) > self.size:
            self.recent.popitem(last=False)
        return out


_WORKER = None


def _start_worker(model: str, threads: int) -> None:
    global _WORKER
    _WORKER = Simplified(get_embeddings(model, threads, 1))


def _encode_in_worker(texts: list[str]) -> np.ndarray:
    return np.asarray(_WORKER.embed_documents(texts), dtype=np.float32)
