"""Ingestion: files → documents → chunks → index, incremental and safe to interrupt.

Chunk ids are content hashes, so re-ingesting an unchanged file embeds nothing, and a changed file only
embeds the passages whose text changed. New passages are written before stale ones are deleted, and a
file counts as ingested only once all of its chunks are in; an interrupted run therefore leaves the index
usable and the next run finishes the job.
"""

from __future__ import annotations

import hashlib
import logging
import sys
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable

from tqdm import tqdm

from assistant.schema import Chunk
from assistant.store import FileRecord, Store, chunk_to_metadata
from assistant.textutil import bm25_tokens
from ingest.chunkers import chunk_document, classify
from ingest.loaders import LoadError, iter_files, load

log = logging.getLogger(__name__)


@dataclass
class IngestReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    embedded: int = 0  # chunks embedded in this run
    chunks: int = 0  # chunks in the index after the run

    def summary(self) -> str:
        lines = [
            f"新增 {len(self.added)} 个文件，更新 {len(self.updated)}，未变 {len(self.unchanged)}，"
            f"删除 {len(self.removed)}，跳过 {len(self.skipped)}；本次嵌入 {self.embedded} 段，索引共 {self.chunks} 段。",
            f"added {len(self.added)}, updated {len(self.updated)}, unchanged {len(self.unchanged)}, "
            f"removed {len(self.removed)}, skipped {len(self.skipped)}; embedded {self.embedded} chunks, "
            f"{self.chunks} chunks in the index.",
        ]
        lines += [f"跳过 skipped: {path}: {reason}" for path, reason in self.skipped]
        return "\n".join(lines)

    def to_json(self) -> dict:
        return {
            "added": self.added, "updated": self.updated, "unchanged": self.unchanged, "removed": self.removed,
            "skipped": [{"path": p, "reason": r} for p, r in self.skipped],
            "embedded": self.embedded, "chunks": self.chunks,
        }


def file_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assign_ids(chunks: list[Chunk]) -> None:
    """id = hash of where the passage sits and what it says; identical twins get an occurrence number."""
    seen: Counter[str] = Counter()
    for c in chunks:
        key = "\x1f".join((c.source, c.section, c.article or "", c.text))
        seen[key] += 1
        c.id = hashlib.sha1(f"{key}\x1f{seen[key]}".encode()).hexdigest()[:32]


def ingest(
    paths: Iterable[str | Path],
    store: Store,
    progress: bool = True,
    on_progress: Callable[[float, str], None] | None = None,
) -> IngestReport:
    """Bring the index in line with ``paths`` (files or folders).

    Files that vanished from a given folder are removed from the index; files elsewhere are left alone,
    so ``ingest(["new.docx"])`` adds one document without touching the rest.
    """
    given = [Path(p) for p in paths]
    report = IngestReport()
    known = store.files()
    for p in given:
        if not p.exists() and str(p.resolve()) not in known:  # a vanished, indexed file is removed below
            report.skipped.append((str(p), "路径不存在 / path does not exist"))
    files = iter_files([p for p in given if p.exists()])
    # Content already indexed from a file that is still there: a byte-identical copy is a duplicate.
    owner_of_hash = {rec.file_hash: src for src, rec in known.items() if rec.complete and Path(src).exists()}
    seen_sources: set[str] = set()
    bar = tqdm(total=len(files), desc="ingest", unit="file", disable=not progress, file=sys.stderr)
    for i, path in enumerate(files):
        source = str(path.resolve())
        seen_sources.add(source)
        if on_progress:
            on_progress(i / max(len(files), 1), path.name)
        bar.set_postfix_str(path.name[:30])
        _ingest_one(path, source, known.get(source), owner_of_hash, store, report, progress)
        bar.update()
    bar.close()
    report.removed = _remove_vanished(given, seen_sources, known, store)
    report.chunks = store.count()
    if on_progress:
        on_progress(1.0, "done")
    return report


def _ingest_one(path: Path, source: str, rec: FileRecord | None, owner_of_hash: dict[str, str], store: Store,
                report: IngestReport, progress: bool) -> None:
    """Skip, add or update one file, recording the outcome in ``report``."""
    try:
        digest = file_hash(path)
    except OSError as e:
        report.skipped.append((str(path), f"无法读取 / cannot read: {e.strerror or e}"))
        return
    owner = owner_of_hash.setdefault(digest, source)
    if owner != source:
        report.skipped.append((str(path), f"与 {owner} 内容相同 / duplicate of that file"))
        return
    if rec and rec.file_hash == digest and rec.complete:
        report.unchanged.append(str(path))
        return
    try:
        report.embedded += _ingest_file(path, source, digest, store, progress)
    except LoadError as e:
        report.skipped.append((str(path), e.reason))
    except Exception as e:  # a bug or a library failure on one file must not stop the run
        log.exception("failed to ingest %s", path)
        report.skipped.append((str(path), f"处理失败 / failed: {type(e).__name__}: {e}"))
    else:
        (report.updated if rec else report.added).append(str(path))


def _ingest_file(path: Path, source: str, digest: str, store: Store, progress: bool) -> int:
    doc = load(path)
    doc.source = source
    doc_type = classify(doc)
    chunks = chunk_document(doc, doc_type)
    if not chunks:
        raise LoadError(path, "没有可索引的文字 / no text to index")
    assign_ids(chunks)
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    info = " / ".join(doc.metadata.get("info", []))
    metas = []
    for c in chunks:
        meta = chunk_to_metadata(c)
        meta.update(
            file_hash=digest, file_chunks=len(chunks), ingested_at=now, doc_info=info,
            bm25=" ".join(bm25_tokens(f"{c.context} {c.text}")),
        )
        metas.append(meta)
    existing = store.existing_ids(c.id for c in chunks)
    keep = [(c, m) for c, m in zip(chunks, metas) if c.id in existing]
    # Similar lengths share a batch: the encoder pads each batch to its longest text.
    new = sorted(((c, m) for c, m in zip(chunks, metas) if c.id not in existing), key=lambda cm: len(cm[0].text))
    store.update_metadata([c.id for c, _ in keep], [m for _, m in keep])
    batch = store.settings.embedding_batch
    with tqdm(total=len(new), desc=f"embed {path.name[:24]}", unit="chunk", leave=False,
              disable=not progress or len(new) < batch, file=sys.stderr) as bar:
        for i in range(0, len(new), batch):
            part = new[i : i + batch]
            store.add([c for c, _ in part], [m for _, m in part])
            bar.update(len(part))
    stale = set(store.ids_for_source(source)) - {c.id for c in chunks}
    store.delete(stale)
    return len(new)


def _remove_vanished(paths: list[Path], seen: set[str], known: dict, store: Store) -> list[str]:
    """Sources under the given folders (or given as files) that are no longer there."""
    roots = [p.resolve() for p in paths]
    removed = []
    for source in known:
        if source in seen:
            continue
        src = Path(source)
        if any(src == r or r in src.parents for r in roots):
            store.delete(store.ids_for_source(source))
            removed.append(source)
    return removed
