"""The keyword (BM25) index and chunk table, persisted beside the vector index and kept in step with it.

Why: rebuilding BM25 from every chunk at each start read the whole collection back from Chroma and looped
in Python over every (passage, token) pair — 2-3 s at the shared corpus, growing with it. Here the index is
saved once per ingest and opened in one read (the BM25 matrix memory-mapped), and an ingest updates it from
the passages it wrote and deleted rather than from all of them.

Chroma stays the single source of truth; this is a derived, rebuildable cache. Consistency is a stamp on
both sides: the collection's metadata holds ``keyword_index: <stamp>`` and the saved index carries the same
stamp. Every write through :class:`~assistant.store.Store` first replaces the collection's stamp with a
"writing" mark (so an ingest killed half-way, or a writer that never saved the index, is noticed: no saved
index matches), and a save sets a fresh stamp on both sides. A mismatch, a missing index or a chunk count
that differs from the collection's means a rebuild from all chunks, announced on stderr.

Where it lives: with the embedded index, in ``<index_dir>/keyword/<collection>/<stamp>/``; with a Chroma
server, in the server itself (a side collection ``<collection>.keyword`` holding the packed index — a tar,
zlib-compressed, base64 — in 4 MB metadata strings, one request each), so every app instance gets it from the shared state, plus a local copy per stamp in
:func:`assistant.cachedir.cache_dir` that later starts open without a download.

Scores are identical to ``rank_bm25.BM25Okapi(k1=1.2, b=0.5)``: the same idf (natural log, negative idfs
replaced by 0.25 × the mean idf summed in the same first-appearance order) and the same floating-point
operations in the same order, vectorised (tests/test_keyword_index.py compares them bit for bit).
"""

from __future__ import annotations

import base64
import io
import json
import math
import os
import shutil
import sys
import tarfile
import time
import uuid
import zlib
from collections import defaultdict
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Sequence
from typing import Any, Iterable

import numpy as np
import orjson
from scipy import sparse

from assistant.cachedir import cache_dir
from assistant.index_lock import IngestBusy, ingest_lock, lock_folder
from assistant.schema import Chunk
from assistant.store import Store, add_write_listener, metadata_to_chunk
from assistant.textutil import bm25_tokens
from assistant.vector_search import CoarseVectors, write_coarse

FORMAT = 3  # 2: per-file fields stored once per file, not on every chunk; 3: traditional text tokenised as simplified
STAMP_KEY = "keyword_index"
K1, B, EPSILON = 1.2, 0.5, 0.25  # rank_bm25.BM25Okapi(k1=1.2, b=0.5), its default epsilon
_PART = 4 << 20  # bytes of packed index per record in the server's side collection


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------- the index


@dataclass
class KeywordIndex:
    """Chunks sorted by (source, start), their BM25 term counts (CSR, each row's terms in order of first
    appearance) and the Okapi weight matrix (CSC) that ``Retriever.keyword`` sums columns of."""

    stamp: str
    ids: list[str]
    texts: list[str]
    metas: list[dict[str, Any]]
    vocab: list[str]  # column order = order of first appearance over the sorted chunks, as rank_bm25 has it
    tf: sparse.csr_matrix
    weights: sparse.csc_matrix

    #: The chunk table as columns (``_columns``): what is saved, and what the retriever reads per file, not per chunk.
    table: dict[str, Any] | None = None
    #: The passages' vectors in row order, L2-normalised, memory-mapped (``_save_vectors``); None: ask Chroma.
    vectors: np.ndarray | None = None
    #: Their coordinates on the leading directions, for a search that reads fewer rows (assistant/vector_search.py).
    coarse: CoarseVectors | None = None

    def chunks(self) -> ChunkTable:
        """The passages as :class:`~assistant.schema.Chunk` objects, each made when first read: a question reads a
        few dozen of a library's 66,000, and making them all took most of a one-question command's start."""
        return ChunkTable(self.ids, self.texts, self.metas)

    def columns(self) -> dict[str, Any]:
        if self.table is None:
            self.table = _columns(self.ids, self.texts, self.metas)
        return self.table

    def df(self) -> np.ndarray:
        return np.diff(self.weights.indptr)

    # ---- building ------------------------------------------------------------------------------
    @classmethod
    def build(cls, ids: list[str], texts: list[str], metas: list[dict[str, Any]], stamp: str = "") -> KeywordIndex:
        """From Chroma's rows (any order), each chunk tokenised (its search context and text)."""
        rows = _Compact()
        for cid, t, m in zip(ids, texts, metas):
            rows.add(cid, t, m)
        return cls._assemble(stamp, rows)

    def updated(self, deleted: set[str], fresh: _Compact) -> KeywordIndex:
        """This index without ``deleted`` and with the ``fresh`` rows added or replaced: only they were tokenised."""
        replaced = deleted | set(fresh.ids)
        if all(cid in replaced for cid in self.ids):  # nothing kept (a first ingest): the fresh rows as they are
            return self._assemble(self.stamp, fresh)
        rows = _Compact()
        old = rows.rows.ids_of(self.vocab)
        table = self.columns()
        indptr, indices, data = self.tf.indptr, self.tf.indices, self.tf.data
        for i, cid in enumerate(self.ids):
            if cid in replaced:
                continue
            s, e = indptr[i], indptr[i + 1]
            rows.add_kept(cid, self.texts[i], table["files"][table["file"][i]], [table[k][i] for k in _CHUNK_FIELDS],
                          old[indices[s:e]], np.asarray(data[s:e], dtype=np.int32))
        rows.extend(fresh)
        return self._assemble(self.stamp, rows)

    def terms(self, i: int) -> set[str]:
        """The distinct BM25 tokens of chunk ``i`` (what answering checks a question's words against)."""
        s, e = self.tf.indptr[i], self.tf.indptr[i + 1]
        return {self.vocab[j] for j in self.tf.indices[s:e]}

    @classmethod
    def _assemble(cls, stamp: str, c: _Compact) -> KeywordIndex:
        files, file, start = c.files, c.file, c.cols["start"]
        order = sorted(range(len(c.ids)), key=lambda i: (files[file[i]]["source"], int(start[i])))
        table: dict[str, Any] = {"ids": [c.ids[i] for i in order], "texts": [c.texts[i] for i in order],
                                 "file": [file[i] for i in order],
                                 **{k: [c.cols[k][i] for i in order] for k in _CHUNK_FIELDS}, "files": files}
        seq = [c.rows.ids[i] for i in order]
        flat = np.concatenate(seq) if seq else np.zeros(0, dtype=np.int64)
        data = np.concatenate([c.rows.counts[i] for i in order]) if seq else np.zeros(0, dtype=np.int32)
        # columns numbered in order of first appearance over the sorted rows (rank_bm25's order)
        uniq, first = np.unique(flat, return_index=True)
        by_first = uniq[np.argsort(first, kind="stable")]
        column = np.zeros(max(len(c.rows.terms), 1), dtype=np.int32)
        column[by_first] = np.arange(len(by_first), dtype=np.int32)
        names = c.rows.names()
        vocab = [names[t] for t in by_first.tolist()]
        indptr = np.zeros(len(seq) + 1, dtype=np.int64)
        np.cumsum([len(a) for a in seq], out=indptr[1:])
        tf = sparse.csr_matrix((data.astype(np.int32), column[flat].astype(np.int32), indptr),
                               shape=(len(seq), max(len(vocab), 1)))
        return cls(stamp, table["ids"], table["texts"], LazyRows(table), vocab, tf, _okapi(tf, len(vocab)), table)

    # ---- files ---------------------------------------------------------------------------------
    def save(self, folder: Path) -> None:
        """Write into ``folder`` (created; replaced atomically if it exists)."""
        tmp = folder.with_name(f"{folder.name}.tmp{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        (tmp / "chunks.json").write_bytes(orjson.dumps(self.columns()))
        (tmp / "vocab.json").write_text(json.dumps(self.vocab, ensure_ascii=False), encoding="utf-8")
        for name, m in (("tf", self.tf), ("w", self.weights)):
            for part in ("indptr", "indices", "data"):
                np.save(tmp / f"{name}_{part}.npy", getattr(m, part))
        (tmp / "meta.json").write_text(json.dumps({"format": FORMAT, "stamp": self.stamp, "chunks": len(self.ids),
                                                   "terms": len(self.vocab), "k1": K1, "b": B}))
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(tmp, folder)

    @classmethod
    def load(cls, folder: Path) -> KeywordIndex:
        """Open a saved index: one JSON read for the chunk table, the matrices memory-mapped."""
        head = json.loads((folder / "meta.json").read_text())
        if head.get("format") != FORMAT:
            raise ValueError(f"keyword index format {head.get('format')} (this version reads {FORMAT})")
        table = orjson.loads((folder / "chunks.json").read_bytes())  # 4× faster than json (chromadb requires it)
        metas = LazyRows(table)
        vocab = orjson.loads((folder / "vocab.json").read_bytes())
        n, v = len(table["ids"]), max(len(vocab), 1)
        arrays = {f"{name}_{part}": np.load(folder / f"{name}_{part}.npy", mmap_mode="r")
                  for name in ("tf", "w") for part in ("indptr", "indices", "data")}
        tf = sparse.csr_matrix((arrays["tf_data"], arrays["tf_indices"], arrays["tf_indptr"]), shape=(n, v), copy=False)
        w = sparse.csc_matrix((arrays["w_data"], arrays["w_indices"], arrays["w_indptr"]), shape=(n, v), copy=False)
        vectors = _open_vectors(folder, n)
        coarse = CoarseVectors.open(folder, n, vectors.shape[1]) if vectors is not None else None
        return cls(head["stamp"], table["ids"], table["texts"], metas, vocab, tf, w, table, vectors, coarse)

    def pack(self) -> bytes:
        """The saved files as one tar (what the server-side copy holds)."""
        tmp = cache_dir() / f"pack.{os.getpid()}.{uuid.uuid4().hex[:6]}"
        try:
            self.save(tmp)
            buf = io.BytesIO()
            with tarfile.open(fileobj=buf, mode="w") as tar:
                for f in sorted(tmp.iterdir()):
                    tar.add(f, arcname=f.name)
            return buf.getvalue()
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


#: Chunk fields that differ within a file; every other metadata field (doc, source, doc_type, doc_info,
#: file_hash, …) is the file's and is stored once per file — doc_info alone made a quarter of the table.
_CHUNK_FIELDS = ("section", "article", "start", "end", "context")


def _columns(ids: list[str], texts: list[str], metas: list[dict[str, Any]]) -> dict[str, Any]:
    """The chunk table as columns, with each file's own fields once."""
    files: dict[str, int] = {}
    file_metas: list[dict[str, Any]] = []
    table: dict[str, Any] = {"ids": ids, "texts": texts, "file": [], **{k: [] for k in _CHUNK_FIELDS}}
    for m in metas:
        i = files.get(m["source"])
        if i is None:
            i = files[m["source"]] = len(file_metas)
            file_metas.append({k: v for k, v in m.items() if k not in _CHUNK_FIELDS})
        table["file"].append(i)
        for k in _CHUNK_FIELDS:
            table[k].append(m.get(k, ""))
    table["files"] = file_metas
    return table


class LazyRows(Sequence):
    """``_columns`` undone on demand: row ``i`` is the metadata dict Chroma returns for chunk ``i``, made when read."""

    def __init__(self, table: dict[str, Any]) -> None:
        self.table = table

    def __len__(self) -> int:
        return len(self.table["ids"])

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        t = self.table
        return {**t["files"][t["file"][i]], **{k: t[k][i] for k in _CHUNK_FIELDS}}


class ChunkTable(Sequence):
    """The index's passages as a sequence of Chunks, each made on first access and then kept."""

    def __init__(self, ids: list[str], texts: list[str], metas: Sequence[dict[str, Any]]) -> None:
        self._ids, self._texts, self._metas = ids, texts, metas
        self._made: list[Chunk | None] = [None] * len(ids)

    def __len__(self) -> int:
        return len(self._ids)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        c = self._made[i]
        if c is None:
            c = self._made[i] = metadata_to_chunk(self._ids[i], self._texts[i], self._metas[i])
        return c

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and list(self) == list(other)


class _Rows:
    """Many chunks' term counts while an index is built: one shared term table, per chunk two small arrays (term
    ids in order of first appearance, counts). A dict of strings per chunk held about 10 KB per passage — most of
    a law library's 2.3 GB ingest peak; this holds about 1 KB."""

    def __init__(self) -> None:
        self.terms: dict[str, int] = {}
        self.ids: list[np.ndarray] = []
        self.counts: list[np.ndarray] = []

    def add(self, row: dict[str, int]) -> None:
        terms = self.terms
        self.ids.append(np.fromiter((terms.setdefault(t, len(terms)) for t in row), dtype=np.int64, count=len(row)))
        self.counts.append(np.fromiter(row.values(), dtype=np.int32, count=len(row)))

    def ids_of(self, vocab: list[str]) -> np.ndarray:
        """The table's ids of an existing index's columns."""
        terms = self.terms
        return np.fromiter((terms.setdefault(t, len(terms)) for t in vocab), dtype=np.int64, count=len(vocab))

    def names(self) -> list[str]:
        out = [""] * len(self.terms)
        for t, i in self.terms.items():
            out[i] = t
        return out


class _Compact:
    """Chunks as they arrive from Chroma, kept as the chunk table's columns (each file's own fields once, not on every
    chunk) with their term counts (``_Rows``). Chroma's metadata dicts of a library's 66,000 passages took 500 MB;
    they are read in batches and dropped (``_get_compact``)."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.texts: list[str] = []
        self.file: list[int] = []
        self.files: list[dict[str, Any]] = []
        self.by_source: dict[str, int] = {}
        self.cols: dict[str, list] = {k: [] for k in _CHUNK_FIELDS}
        self.rows = _Rows()

    def _file(self, meta: dict[str, Any]) -> int:
        f = self.by_source.get(meta["source"])
        if f is None:
            f = self.by_source[meta["source"]] = len(self.files)
            self.files.append({k: v for k, v in meta.items() if k not in _CHUNK_FIELDS and k != "bm25"})
        return f

    def add(self, cid: str, text: str, meta: dict[str, Any]) -> None:
        self.ids.append(cid)
        self.texts.append(text)
        self.file.append(self._file(meta))
        for k in _CHUNK_FIELDS:
            self.cols[k].append(meta.get(k, ""))
        self.rows.add(_tf_row(text, meta))

    def add_kept(self, cid: str, text: str, file_meta: dict[str, Any], values: list, ids: np.ndarray,
                 counts: np.ndarray) -> None:
        """A row of an existing index, already tokenised (its term ids in this table's numbering)."""
        self.ids.append(cid)
        self.texts.append(text)
        self.file.append(self._file(file_meta))
        for k, v in zip(_CHUNK_FIELDS, values):
            self.cols[k].append(v)
        self.rows.ids.append(ids)
        self.rows.counts.append(counts)

    def extend(self, other: _Compact, only: Iterable[int] | None = None) -> None:
        """Add ``other``'s rows (those at positions ``only``, when given), already tokenised."""
        names = other.rows.names()
        remap = self.rows.ids_of(names)
        for i in range(len(other.ids)) if only is None else only:
            cid = other.ids[i]
            self.add_kept(cid, other.texts[i], other.files[other.file[i]], [other.cols[k][i] for k in _CHUNK_FIELDS],
                          remap[other.rows.ids[i]], other.rows.counts[i])


def _tf_row(text: str, meta: dict[str, Any]) -> dict[str, int]:
    """Term counts of one chunk (its search context and text), in order of first appearance (what rank_bm25
    builds per document). The tokens are stored nowhere else: kept as a metadata string on every chunk, as
    indexes before this version did, they doubled Chroma's write time and made most of the chunk table
    (``_assemble`` drops such a string)."""
    row: dict[str, int] = {}
    for t in bm25_tokens(f"{meta.get('context', '')} {text}"):
        row[t] = row.get(t, 0) + 1
    return row


def group_weights(tf: sparse.csr_matrix, rows: np.ndarray) -> sparse.csc_matrix:
    """Okapi weights of ``rows`` as if they were an index of their own (their own IDF over the terms they contain,
    their own average length): the bureau's documents scored as they are without a law library beside them, where
    the library's 67,853 passages would otherwise set every word's IDF."""
    sub = tf[rows]
    n, terms = sub.shape
    if n == 0:
        return sparse.csc_matrix(sub.shape)
    df = np.bincount(sub.indices, minlength=terms)
    present = df > 0
    idf = np.log(n - df + 0.5) - np.log(df + 0.5)
    idf[present & (idf < 0)] = EPSILON * (idf[present].mean() if present.any() else 0.0)
    return _weighted(sub, idf)


def _okapi(tf: sparse.csr_matrix, terms: int) -> sparse.csc_matrix:
    """``rank_bm25.BM25Okapi`` weights per (chunk, term), the same float operations in the same order."""
    n = tf.shape[0]
    if n == 0 or terms == 0:
        return sparse.csc_matrix((n, max(terms, 1)))
    df = np.bincount(tf.indices, minlength=terms)
    idf, total, negative = [0.0] * terms, 0.0, []
    for t, freq in enumerate(df.tolist()):  # columns are numbered in first-appearance order: rank_bm25's sum order
        value = math.log(n - freq + 0.5) - math.log(freq + 0.5)
        idf[t] = value
        total += value
        if value < 0:
            negative.append(t)
    eps = EPSILON * (total / terms)
    for t in negative:
        idf[t] = eps
    return _weighted(tf, np.asarray(idf))


def _weighted(tf: sparse.csr_matrix, idf: np.ndarray) -> sparse.csc_matrix:
    """The Okapi weight of each (chunk, term) count in ``tf`` with these IDFs, as rank_bm25 computes it."""
    n = tf.shape[0]
    doc_len = np.asarray(tf.sum(axis=1)).ravel().astype(np.int64)
    avgdl = int(doc_len.sum()) / n
    f = np.asarray(tf.data, dtype=np.float64)
    norm = K1 * (1 - B + B * doc_len.astype(np.float64) / avgdl)
    row_of = np.repeat(np.arange(n), np.diff(tf.indptr))
    vals = idf[tf.indices] * f * (K1 + 1) / (f + norm[row_of])
    return sparse.csr_matrix((vals, tf.indices, tf.indptr), shape=tf.shape).tocsc()


# ------------------------------------------------------------------------------------- stamps and writes


@dataclass
class WriteLog:
    """What this process's Store wrote since its keyword index was last in step with the collection.

    The chunks it added are tokenised as they are written, on a thread of their own (``after_add``): an ingest's
    encoder releases the GIL in its matrix products, so tokenising 1,500 law passages beside it took 6.1 s where
    encoding then tokenising took 7.4 s, and the keyword index after an ingest no longer reads every new chunk
    back from Chroma to tokenise it at the end (73 s of a law library's ingest).
    """

    base: str | None = None  # the collection's stamp before the first write
    written: set[str] | None = None
    deleted: set[str] | None = None
    rows: _Compact | None = None  # the added chunks, tokenised
    fresh: dict[str, int] = field(default_factory=dict)  # chunk id → its row in ``rows``, while that row is current
    queued: int = 0  # rows handed to the thread so far
    pending: list[Future] = field(default_factory=list)
    pool: ThreadPoolExecutor | None = None

    def reset(self, base: str | None) -> None:
        """In step with the collection at stamp ``base``: nothing written since."""
        self.base, self.written, self.deleted = base, None, None
        self.rows, self.fresh, self.queued, self.pending = None, {}, 0, []

    def take_rows(self) -> tuple[_Compact, dict[str, int]]:
        """The tokenised added chunks, once the thread is done; none when it failed (they are read from Chroma)."""
        try:
            for f in self.pending:
                f.result()
        except Exception as e:  # noqa: BLE001 - only a shortcut is lost
            say(f"关键词预处理失败，改为从向量库读取 / tokenising while writing failed ({type(e).__name__}: {e})")
            return _Compact(), {}
        return self.rows or _Compact(), self.fresh


def _log(store: Store) -> WriteLog:
    log = getattr(store, "_keyword_log", None)
    if log is None:
        log = store._keyword_log = WriteLog()
    return log


def collection_stamp(store: Store) -> str:
    """The stamp in the collection's metadata as the server has it now (not as cached at open)."""
    return str(store.metadata().get(STAMP_KEY, ""))


def _set_stamp(store: Store, stamp: str) -> None:
    current = store.client.get_collection(store.collection_name).metadata or {}
    store._collection.modify(metadata={**current, STAMP_KEY: stamp})


def before_write(store: Store, ids: Iterable[str], deleted: bool = False) -> None:
    """Called by every Store write before it reaches Chroma: marks the saved index stale, logs the ids."""
    log = _log(store)
    if log.written is None:
        log.base = collection_stamp(store)
        log.written, log.deleted = set(), set()
        _set_stamp(store, f"writing {time.strftime('%Y-%m-%dT%H:%M:%S')} pid {os.getpid()}")
    ids = set(ids)
    for i in ids:  # a row tokenised earlier no longer says what Chroma holds
        log.fresh.pop(i, None)
    if deleted:
        log.deleted |= ids
        log.written -= ids
    else:
        log.written |= ids
        log.deleted -= ids


def after_add(store: Store, chunks: list[Chunk], metadatas: list[dict[str, Any]]) -> None:
    """Called by ``Store.add`` once ``chunks`` are in Chroma: tokenise them on the log's thread (``WriteLog``)."""
    log = _log(store)
    if log.rows is None:
        log.rows = _Compact()
    if log.pool is None:
        log.pool = ThreadPoolExecutor(1, thread_name_prefix="keyword-rows")
    for k, c in enumerate(chunks):
        log.fresh[c.id] = log.queued + k
    log.queued += len(chunks)
    rows, items = log.rows, [(c.id, c.text, m) for c, m in zip(chunks, metadatas)]
    log.pending.append(log.pool.submit(lambda: [rows.add(*item) for item in items]))


# Every Store write, in any process that has loaded this module (the engine imports it), reaches
# ``before_write`` first, and each add ``after_add``: the store announces writes, it does not import the keyword
# index.
add_write_listener(before_write, after_add)


# ---------------------------------------------------------------------------------------- where it lives


def _local_root(store: Store) -> Path:
    """Embedded: beside the vector index. Server: a per-collection cache; stamps are unique, so copies from
    different servers cannot be confused, and keeping only the latest bounds the disk used (another server's
    collection of the same name costs a re-download, nothing more)."""
    if store.settings.chroma_host:
        return cache_dir() / "keyword" / store.collection_name
    return store.settings.index_dir / "keyword" / store.collection_name


def _side_collection(store: Store):
    return store.client.get_or_create_collection(f"{store.collection_name}.keyword", embedding_function=None)


def _publish(store: Store, index: KeywordIndex, previous: KeywordIndex | None = None) -> None:
    """Save locally, upload to the server when there is one, then point the collection's stamp at it."""
    root = _local_root(store)
    index.save(root / index.stamp)
    if not store.settings.chroma_host:
        _save_vectors(store, index, root / index.stamp, previous)
    else:
        blob = base64.b64encode(zlib.compress(index.pack(), 1)).decode("ascii")
        parts = [blob[i : i + _PART] for i in range(0, len(blob), _PART)] or [""]
        side = _side_collection(store)
        for i, p in enumerate(parts):  # one request per part: the server limits a request's size
            side.add(ids=[f"{index.stamp}:{i}"], embeddings=[[1.0]],
                     metadatas=[{"stamp": index.stamp, "part": i, "parts": len(parts), "data": p}])
    _set_stamp(store, index.stamp)
    _log(store).reset(index.stamp)
    _prune(store, root, index.stamp)


VECTORS = "vectors.npy"
_VECTOR_BATCH = 2000  # ids per Chroma read


def _save_vectors(store: Store, index: KeywordIndex, folder: Path, previous: KeywordIndex | None) -> None:
    """The passages' vectors beside the keyword index, in its row order (embedded mode).

    A question's dense search is then exact cosines over this memory-mapped matrix (8–9 ms for a library of 67,853
    passages on one core), and a one-question command never opens Chroma's vector index: Chroma loads it on the
    collection's first read, 0.6 s of that library's start (docs/benchmarks.md, 'Law library'). Written in
    batches to a file, not through a memory map, so an ingest's peak memory does not grow by the matrix; rows the
    ``previous`` index had are copied from it, the others read from Chroma. A failure only costs the speed-up.
    Past ``dense_coarse_rows`` passages their coordinates on the leading directions are saved too: a question then
    reads those and a few hundred full rows (assistant/vector_search.py).
    """
    tmp = folder / f"{VECTORS}.tmp"
    try:
        if not index.ids:
            return
        old = previous.vectors if previous is not None else None
        row_of = {cid: i for i, cid in enumerate(previous.ids)} if old is not None else {}
        with open(tmp, "wb") as f:
            for a in range(0, len(index.ids), _VECTOR_BATCH):
                part = index.ids[a : a + _VECTOR_BATCH]
                missing = [c for c in part if c not in row_of]
                got = store._collection.get(ids=missing, include=["embeddings"]) if missing else {"ids": []}
                fresh = dict(zip(got["ids"], got.get("embeddings", [])))
                rows = np.stack([np.asarray(fresh[c], dtype=np.float32) if c in fresh else old[row_of[c]] for c in part])
                rows /= np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12)
                if a == 0:
                    np.lib.format.write_array_header_1_0(
                        f, {"descr": "<f4", "fortran_order": False, "shape": (len(index.ids), rows.shape[1])})
                f.write(rows.astype("<f4").tobytes())
        os.replace(tmp, folder / VECTORS)
        index.vectors = _open_vectors(folder, len(index.ids))
    except Exception as e:  # noqa: BLE001 - dense search falls back to Chroma's
        tmp.unlink(missing_ok=True)
        say(f"向量副本未能保存，语义检索改用向量库 / passage vectors not saved beside the keyword index "
            f"({type(e).__name__}: {e}); dense search asks Chroma")
        return
    tuning = store.settings.retrieval
    vectors = index.vectors
    if vectors is None or len(vectors) <= tuning.dense_coarse_rows or tuning.dense_coarse_dims >= vectors.shape[1]:
        return  # a full pass is cheap, or the copy would be no smaller
    try:
        write_coarse(vectors, folder, tuning.dense_coarse_dims)
        index.coarse = CoarseVectors.open(folder, len(vectors), vectors.shape[1])
    except Exception as e:  # noqa: BLE001 - only the speed-up is lost: every vector is read instead
        say(f"向量的主方向副本未能保存 / the vectors' coarse copy was not saved ({type(e).__name__}: {e}); "
            f"dense search reads every vector")


def _open_vectors(folder: Path, rows: int) -> np.ndarray | None:
    path = folder / VECTORS
    if not path.exists():
        return None
    vectors = np.load(path, mmap_mode="r")
    return vectors if vectors.ndim == 2 and vectors.shape[0] == rows else None


def _prune(store: Store, root: Path, keep: str) -> None:
    """Older saved copies go (a process still reading one keeps its open memory maps)."""
    for old in root.iterdir() if root.is_dir() else []:
        if old.name != keep and not old.name.startswith(f"{keep}."):
            shutil.rmtree(old, ignore_errors=True)
    if store.settings.chroma_host:
        side = _side_collection(store)
        stale = [i for i in side.get(include=[])["ids"] if not i.startswith(f"{keep}:")]
        if stale:
            side.delete(ids=stale)


def _fetch(store: Store, stamp: str) -> KeywordIndex | None:
    """The saved index with this stamp: the local copy, else (server mode) downloaded from the server."""
    folder = _local_root(store) / stamp
    if not (folder / "meta.json").exists() and store.settings.chroma_host:
        side = _side_collection(store)
        first = side.get(ids=[f"{stamp}:0"], include=["metadatas"])["metadatas"]
        if not first:
            return None
        metas = first + [m for i in range(1, first[0]["parts"])  # one part per request, as written
                         for m in side.get(ids=[f"{stamp}:{i}"], include=["metadatas"])["metadatas"]]
        if len(metas) != first[0]["parts"]:
            return None
        blob = zlib.decompress(base64.b64decode("".join(m["data"] for m in metas)))
        tmp = folder.with_name(f"{stamp}.tmp{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
            tar.extractall(tmp, filter="data")
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(tmp, folder)
    if not (folder / "meta.json").exists():
        return None
    index = KeywordIndex.load(folder)
    return index if index.stamp == stamp else None


# -------------------------------------------------------------------------------------------- the entry


@dataclass
class Opened:
    index: KeywordIndex
    how: str  # "current" / "loaded" / "updated" / "rebuilt": the tests read it


def open_index(store: Store, current: KeywordIndex | None = None) -> Opened:
    """The keyword index in step with the collection, by the cheapest route that is safe.

    1. ``current`` is still in step (same stamp, no writes since): keep it.
    2. This process wrote since ``current`` was in step and nobody else did: apply its writes (incremental).
    3. A saved copy carries the collection's stamp and has as many chunks as the collection: open it.
    4. Otherwise rebuild from every chunk in Chroma, say so on stderr, and save it with a fresh stamp.
    """
    log = _log(store)
    stamp = collection_stamp(store)
    count = store.count()
    if current is not None and log.written is None and stamp == current.stamp and len(current.ids) == count:
        return Opened(current, "current")
    if current is not None and log.written is not None and log.base == current.stamp:
        rows, fresh = log.take_rows()
        fetched = _get_compact(store, sorted(log.written - fresh.keys()))
        only = sorted(fresh[i] for i in log.written if i in fresh)
        if not fetched.ids and len(only) == len(rows.ids):  # each row tokenised once and current: no copy (a library's
            fetched = rows                                  # rows are 1 KB a passage)
        else:
            fetched.extend(rows, only=only)
        index = current.updated(log.deleted | log.written, fetched)
        if len(index.ids) == count:
            index.stamp = _new_stamp()
            _save_quietly(store, index, current)
            return Opened(index, "updated")
    if stamp and not stamp.startswith("writing"):
        try:
            saved = _fetch(store, stamp)
        except (OSError, ValueError, KeyError, tarfile.TarError, zlib.error) as e:
            say(f"关键词索引无法读取，重建中 / keyword index unreadable ({e}); rebuilding")
            saved = None
        if saved is not None and len(saved.ids) == count:
            log.reset(stamp)
            return Opened(saved, "loaded")
    if count:
        why = "索引正在写入或上次写入未完成" if stamp.startswith("writing") else "未找到与向量索引一致的关键词索引"
        say(f"{why}，正在从 {count} 段重建关键词索引 / keyword index missing or out of step with the collection "
            f"({stamp or 'no stamp'}); rebuilding it from {count} chunks")
    index = KeywordIndex._assemble(_new_stamp(), _get_compact(store, None))
    if not stamp.startswith("writing"):
        _save_quietly(store, index)
        return Opened(index, "rebuilt")
    # A "writing" stamp: an ingest is running, or one was killed. Publish only while holding the ingest lock
    # (so no writer is alive on this host); otherwise that ingest publishes when it finishes.
    try:
        with ingest_lock(lock_folder(store.settings)):
            _save_quietly(store, index)
    except IngestBusy:
        say("另一个导入正在写入，重建的关键词索引仅在内存中使用 / an ingest is writing; the rebuilt keyword index "
            "is used in memory only")
    return Opened(index, "rebuilt")


def _get_compact(store: Store, ids: list[str] | None, batch: int = 2000) -> _Compact:
    """Texts and metadata of ``ids`` (None: every chunk), fetched in batches and kept compact (``_Compact``)."""
    out = _Compact()
    if ids is None:
        ids = store._collection.get(include=[])["ids"]
    for i in range(0, len(ids), batch):
        got = store._collection.get(ids=ids[i : i + batch], include=["documents", "metadatas"])
        for cid, text, meta in zip(got["ids"], got["documents"], got["metadatas"]):
            out.add(cid, text, meta)
    return out


def _new_stamp() -> str:
    return f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:12]}"


def _save_quietly(store: Store, index: KeywordIndex, previous: KeywordIndex | None = None) -> None:
    """Publish; a read-only index folder or server only costs the next start a rebuild."""
    try:
        _publish(store, index, previous)
    except Exception as e:  # noqa: BLE001 - the in-memory index is right either way
        say(f"关键词索引未能保存 / keyword index not saved ({type(e).__name__}: {e})")


class DocFreq:
    """term → passages containing it, read through the vocabulary (``get`` only): a dict of a library's 202,000 terms
    took 0.06 s of every start."""

    def __init__(self, vocab: dict[str, int], counts: np.ndarray) -> None:
        self.vocab, self.counts = vocab, counts

    def get(self, term: str, default: int = 0) -> int:
        j = self.vocab.get(term)
        return default if j is None else int(self.counts[j])


def as_retriever_views(index: KeywordIndex) -> tuple[ChunkTable, dict[str, int], DocFreq]:
    """chunks, vocab (term → column) and df (term → passages containing it), as ``Retriever`` holds them."""
    vocab = dict(zip(index.vocab, range(len(index.vocab))))
    return index.chunks(), vocab, DocFreq(vocab, index.df())
