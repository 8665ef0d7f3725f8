"""The index: a Chroma collection (embedded by default, a Chroma server when configured).

This is the only module that knows Chroma. Chroma is the single source of truth: every chunk is stored with
its verbatim text, its metadata and its dense vector; the keyword index (assistant/keyword_index.py) is derived
from them. File-level bookkeeping (hash, chunk count) rides on each chunk's
metadata, which lets ingestion tell complete, partial and stale files apart with no second store.
"""

from __future__ import annotations

from collections import defaultdict
from contextlib import closing
from pathlib import Path
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, Callable, Iterable

import chromadb
import numpy as np
from chromadb.config import Settings as ChromaSettings

from assistant.embeddings import Simplified, get_embeddings, model_slug
from assistant.schema import Chunk
from assistant.settings import Settings

if TYPE_CHECKING:  # 0.1 s of langchain imports at start-up otherwise
    from langchain_core.embeddings import Embeddings

#: Called as ``listener(store, ids, deleted)`` before every write reaches Chroma. The keyword index registers
#: itself here (assistant/keyword_index.py marks its saved copy stale and logs the ids), so the store
#: announces writes without importing the layer that listens to them.
WriteListener = Callable[["Store", Iterable[str], bool], None]
_write_listeners: list[WriteListener] = []
#: Called as ``listener(store, chunks, metadatas)`` once new chunks are in Chroma: the keyword index tokenises
#: them then, while the ingest embeds the next ones, instead of reading them all back after the ingest.
AddedListener = Callable[["Store", list[Chunk], list[dict[str, Any]]], None]
_added_listeners: list[AddedListener] = []


def add_write_listener(listener: WriteListener, added: AddedListener | None = None) -> None:
    """Register ``listener`` for every Store's writes, and ``added`` for the chunks each ``add`` wrote (once:
    registering them again changes nothing)."""
    if listener not in _write_listeners:
        _write_listeners.append(listener)
    if added is not None and added not in _added_listeners:
        _added_listeners.append(added)


_META_KEYS = ("doc", "source", "doc_type", "section", "article", "start", "end", "context")


@dataclass
class FileRecord:
    """What the index holds for one source file."""

    source: str
    file_hash: str
    file_chunks: int  # how many chunks the file had when it was ingested
    doc: str
    doc_type: str
    ids: list[str] = field(default_factory=list)
    info: str = ""
    ingested_at: str = ""
    #: chunks of this source left from another version of the file: an update killed before its final delete
    stale_ids: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return len(self.ids) == self.file_chunks


def chunk_to_metadata(chunk: Chunk) -> dict[str, Any]:
    meta = {k: getattr(chunk, k) for k in _META_KEYS}
    meta["article"] = meta["article"] or ""
    meta.update(chunk.extra)
    return meta


def metadata_to_chunk(chunk_id: str, text: str, meta: dict[str, Any]) -> Chunk:
    extra = {k: v for k, v in meta.items() if k not in _META_KEYS}
    return Chunk(
        id=chunk_id,
        text=text,
        doc=meta["doc"],
        source=meta["source"],
        doc_type=meta["doc_type"],
        section=meta.get("section", ""),
        article=meta.get("article") or None,
        start=int(meta["start"]),
        end=int(meta["end"]),
        context=meta.get("context", ""),
        extra=extra,
    )


def _read_sqlite(path: Path, read: Callable[[Any], Any]) -> Any:
    """``read(connection)`` on Chroma's SQLite file, opened read-only; None on any error (another Chroma version's
    schema, a missing file): the callers then ask Chroma's client."""
    import sqlite3

    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1.0)) as db:
            return read(db)
    except Exception:  # noqa: BLE001 - Chroma's client answers instead
        return None


def _sqlite_metadata(path: Path, collection: str) -> dict[str, Any] | None:
    """The collection's metadata from Chroma's SQLite file, or None (no such collection yet, a value this code does
    not read, any error)."""

    def read(db) -> dict[str, Any] | None:
        found = db.execute("SELECT id FROM collections WHERE name = ?", (collection,)).fetchone()
        if found is None:
            return None
        meta: dict[str, Any] = {}
        for key, *values in db.execute("SELECT key, str_value, int_value, float_value, bool_value FROM "
                                       "collection_metadata WHERE collection_id = ?", found):
            given = [v for v in values if v is not None]
            if len(given) != 1:
                return None
            meta[key] = bool(given[0]) if values[3] is not None else given[0]
        return meta

    return _read_sqlite(path, read)


def _sqlite_count(path: Path, collection: str) -> int | None:
    """The collection's passages as Chroma's metadata segment holds them, or None when that may not be the count:
    a write it has not applied yet, a schema this code does not know (another Chroma version), any error. Chroma
    applies every write to that segment before returning (its max_seq_id equals its log's), so when nothing is
    pending the rows there are the collection."""

    def read(db) -> int | None:
        row = db.execute(
            "SELECT s.id, COALESCE(m.seq_id, 0), c.id FROM collections c JOIN segments s ON s.collection = c.id "
            "LEFT JOIN max_seq_id m ON m.segment_id = s.id WHERE c.name = ? AND s.scope = 'METADATA'",
            (collection,)).fetchone()
        if row is None:
            return None
        segment, applied, collection_id = row
        logged = db.execute("SELECT MAX(seq_id) FROM embeddings_queue WHERE topic LIKE ?",
                            (f"%/{collection_id}",)).fetchone()[0]
        if logged is not None and logged > applied:
            return None
        return db.execute("SELECT COUNT(*) FROM embeddings WHERE segment_id = ?", (segment,)).fetchone()[0]

    return _read_sqlite(path, read)


class Store:
    def __init__(self, settings: Settings, embeddings: Embeddings | None = None) -> None:
        self.settings = settings
        #: the model the settings name (a worker process can load it too), not embeddings handed in
        self.default_embeddings = embeddings is None
        self.embeddings = Simplified(embeddings or get_embeddings(
            settings.embedding_model, settings.embedding_threads, settings.embedding_workers))
        self.collection_name = f"{settings.collection}-{model_slug(settings.embedding_model)}"
        if settings.chroma_host:
            self._collection  # a server that cannot be reached is a setting error, said before anything else runs
        else:
            settings.index_dir.mkdir(parents=True, exist_ok=True)

    @cached_property
    def client(self):
        """Chroma's client, made on first use: a question over an index with its keyword index and vectors saved
        (assistant/keyword_index.py) reads neither, and making it cost 0.2 s of a one-question command."""
        if self.settings.chroma_host:
            return chromadb.HttpClient(host=self.settings.chroma_host, port=self.settings.chroma_port)
        return chromadb.PersistentClient(
            path=str(self.settings.index_dir), settings=ChromaSettings(anonymized_telemetry=False)
        )

    @cached_property
    def _collection(self):
        # What langchain's Chroma(...) below does on creation; opened directly so that reading commands skip
        # importing langchain_chroma (1-2.5 s of imports at start-up).
        return self.client.get_or_create_collection(
            name=self.collection_name, embedding_function=None, configuration={"hnsw": {"space": "cosine"}}
        )

    @cached_property
    def vectors(self):
        """langchain's Chroma wrapper over the same collection; built on the first write."""
        from langchain_chroma import Chroma

        return Chroma(
            client=self.client,
            collection_name=self.collection_name,
            embedding_function=self.embeddings,
            collection_configuration={"hnsw": {"space": "cosine"}},
        )

    def _before_write(self, ids: Iterable[str], deleted: bool = False) -> None:
        """Every write marks the saved keyword index stale first and logs its ids (assistant/keyword_index.py,
        through ``add_write_listener``)."""
        for listener in _write_listeners:
            listener(self, ids, deleted)

    # ---- reading -------------------------------------------------------------------------------
    def metadata(self) -> dict[str, Any]:
        """The collection's metadata as stored now (the keyword index's stamp lives there); embedded, read from
        Chroma's SQLite file like ``count``, so that a question needs no Chroma client."""
        if not self.settings.chroma_host:
            meta = _sqlite_metadata(self.settings.index_dir / "chroma.sqlite3", self.collection_name)
            if meta is not None:
                return meta
        self._collection  # created on first use
        return self.client.get_collection(self.collection_name).metadata or {}

    def count(self) -> int:
        """Passages in the collection. Embedded, read from Chroma's SQLite file when possible (``_sqlite_count``):
        Chroma's own count() loads the collection's vector index first, 0.6 s for a library of 67,853 passages —
        most of what a one-question command spent in Chroma."""
        if not self.settings.chroma_host:
            n = _sqlite_count(self.settings.index_dir / "chroma.sqlite3", self.collection_name)
            if n is not None:
                return n
        return self._collection.count()

    def files(self) -> dict[str, FileRecord]:
        got = self._collection.get(include=["metadatas"])
        records: dict[str, FileRecord] = {}
        hashes: dict[str, list[tuple[str, str]]] = defaultdict(list)  # source → (chunk id, file hash)
        for chunk_id, meta in zip(got["ids"], got["metadatas"]):
            hashes[meta["source"]].append((chunk_id, meta.get("file_hash", "")))
            rec = records.get(meta["source"])
            if rec is None or (rec.file_hash != meta.get("file_hash") and meta.get("ingested_at", "") > rec.ingested_at):
                rec = records[meta["source"]] = FileRecord(
                    source=meta["source"],
                    file_hash=meta.get("file_hash", ""),
                    file_chunks=int(meta.get("file_chunks", 0)),
                    doc=meta["doc"],
                    doc_type=meta["doc_type"],
                    info=meta.get("doc_info", ""),
                    ingested_at=meta.get("ingested_at", ""),
                )
            if meta.get("file_hash") == rec.file_hash:
                rec.ids.append(chunk_id)
        for source, rec in records.items():
            rec.stale_ids = [i for i, h in hashes[source] if h != rec.file_hash]
        return records

    def ids_for_source(self, source: str) -> list[str]:
        return self._collection.get(where={"source": source}, include=[])["ids"]

    def existing_ids(self, ids: Iterable[str]) -> set[str]:
        ids = list(ids)
        return set(self._collection.get(ids=ids, include=[])["ids"]) if ids else set()

    def all_chunks(self) -> list[Chunk]:
        got = self._collection.get(include=["documents", "metadatas"])
        return [metadata_to_chunk(i, t, m) for i, t, m in zip(got["ids"], got["documents"], got["metadatas"])]

    def dense_search(self, vector: list[float], k: int, where: dict | None = None) -> list[tuple[str, float]]:
        """(chunk id, cosine similarity), best first. Chroma returns fewer than ``k`` when it holds fewer."""
        res = self._collection.query(query_embeddings=[vector], n_results=k, where=where or None, include=["distances"])
        return [(i, 1.0 - d) for i, d in zip(res["ids"][0], res["distances"][0])]

    def cosines(self, vector: list[float], ids: list[str]) -> dict[str, float]:
        """Cosine similarity of ``vector`` with the stored vectors of ``ids`` (passages the dense search did not
        return among its candidates, but keyword search put on top)."""
        if not ids:
            return {}
        res = self._collection.get(ids=ids, include=["embeddings"])
        q = np.asarray(vector, dtype=float)
        q /= np.linalg.norm(q) + 1e-12
        out = {}
        for i, v in zip(res["ids"], res["embeddings"]):
            v = np.asarray(v, dtype=float)
            out[i] = float(v @ q / (np.linalg.norm(v) + 1e-12))
        return out

    # ---- writing -------------------------------------------------------------------------------
    def add(self, chunks: list[Chunk], metadatas: list[dict[str, Any]],
            vectors: list[list[float]] | np.ndarray | None = None) -> None:
        """Store new chunks with their vectors (embedded here from their verbatim text when not given).

        Written straight to the collection, as langchain's ``Chroma.add_texts`` does (an upsert of ids, vectors,
        texts and metadata), so that the ingest can embed in small length-sorted batches and write in large ones
        (``Settings.ingest_write_batch``) and reuse the vectors of texts it has just embedded.
        """
        if chunks:
            self._before_write(c.id for c in chunks)
            if vectors is None:
                vectors = self.embeddings.embed_documents([c.text for c in chunks])
            self._collection.upsert(ids=[c.id for c in chunks], embeddings=vectors,
                                    documents=[c.text for c in chunks], metadatas=metadatas)
            for listener in _added_listeners:
                listener(self, chunks, metadatas)

    def update_metadata(self, ids: list[str], metadatas: list[dict[str, Any]]) -> None:
        """New offsets / file bookkeeping for chunks whose text did not change: no re-embedding."""
        if ids:
            self._before_write(ids)
            self._collection.update(ids=ids, metadatas=metadatas)

    def delete(self, ids: Iterable[str]) -> None:
        ids = list(ids)
        if ids:
            self._before_write(ids, deleted=True)
        for i in range(0, len(ids), 500):
            self._collection.delete(ids=ids[i : i + 500])

    def documents(self) -> list[dict[str, Any]]:
        """One row per ingested document, for the 'about the corpus' view and the CLI."""
        rows = []
        by_doc: dict[str, list[FileRecord]] = defaultdict(list)
        for rec in self.files().values():
            by_doc[rec.doc].append(rec)
        for doc, recs in sorted(by_doc.items()):
            rec = recs[0]
            rows.append(
                {"doc": doc, "doc_type": rec.doc_type, "chunks": sum(len(r.ids) for r in recs),
                 "source": rec.source, "info": rec.info, "ingested_at": rec.ingested_at}
            )
        return rows
