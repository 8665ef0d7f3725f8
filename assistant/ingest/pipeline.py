"""Ingestion: files → documents → chunks → index, incremental and safe to interrupt.

Chunk ids are content hashes, so re-ingesting an unchanged file embeds nothing, and a changed file only
embeds the passages whose text changed. New passages are written before stale ones are deleted, and a
file counts as ingested only once all of its chunks are in; an interrupted run (even SIGKILL) therefore
leaves the index usable and the next run finishes the job. One ingest per index folder runs at a time
(``ingest_lock``). docs/robustness.md lists the faults this was tested against.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from tqdm import tqdm

from assistant.index_lock import ingest_lock, lock_folder
from assistant.schema import DOC_TYPES, Chunk
from assistant.store import FileRecord, Store, chunk_to_metadata
from assistant.ingest import ocr
from assistant.ingest.chunkers import chunk_document, document_kind
from assistant.ingest.loaders import LoadError, iter_files, load

log = logging.getLogger(__name__)


@dataclass
class IngestReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    #: (path, note) about files that were ingested without some part: a scanned page that was blank, unreadable
    #: or timed out, or left out because OCR is off.
    notes: list[tuple[str, str]] = field(default_factory=list)
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
        lines += [f"注意 note: {path}: {note}" for path, note in self.notes]
        return "\n".join(lines)

    def to_json(self) -> dict:
        return {
            "added": self.added, "updated": self.updated, "unchanged": self.unchanged, "removed": self.removed,
            "skipped": [{"path": p, "reason": r} for p, r in self.skipped],
            "notes": [{"path": p, "note": n} for p, n in self.notes],
            "embedded": self.embedded, "chunks": self.chunks,
        }


def file_hash(path: Path) -> str:
    """sha256 of the file, read in blocks: a huge file costs time here, not memory."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _source(path: str | Path) -> str:
    """The index's name for a file: its real path. ``os.path.realpath`` because Python 3.11's
    ``Path.resolve`` raises RuntimeError on a symlink loop."""
    return os.path.realpath(path)


def _shown(path: str | Path) -> str:
    """A path that can be printed and stored: bytes of a non-UTF-8 file name become \\xNN escapes."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


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
    so ``ingest(["new.docx"])`` adds one document without touching the rest. The exception: files that an
    interrupted run left half-indexed are finished (or dropped, when gone) whatever this run was given, so
    after any run that completes, every file in the index is complete. Raises :class:`IngestBusy` when
    another ingest is writing the same index folder.

    Scanned pages are recognised as they are loaded (``ASSISTANT_OCR*`` settings); ``on_progress`` and the
    progress lines then report each page, since a scan takes seconds per page.
    """
    with ingest_lock(lock_folder(store.settings)):
        try:
            return _ingest([Path(p) for p in paths], store, progress, on_progress)
        finally:
            ocr.release_worker()  # the OCR models' memory is not kept between runs (a web app's uploads)


def _ingest(given: list[Path], store: Store, progress: bool,
            on_progress: Callable[[float, str], None] | None) -> IngestReport:
    report = IngestReport()
    known = store.files()
    for p in given:
        if not p.exists() and _source(p) not in known:  # a vanished, indexed file is removed below
            why = "符号链接失效或循环 / broken symlink or symlink loop" if p.is_symlink() else "路径不存在 / path does not exist"
            report.skipped.append((_shown(p), why))
    problems: list[tuple[str, str]] = []
    files = iter_files([p for p in given if p.exists()], problems)
    report.skipped += [(_shown(p), why) for p, why in problems]
    listed = {_source(f) for f in files}
    files += [Path(s) for s, rec in known.items() if not rec.complete and s not in listed and os.path.exists(s)]
    # Content already indexed from a file that is still there: a byte-identical copy is a duplicate.
    owner_of_hash = {rec.file_hash: src for src, rec in known.items() if rec.complete and Path(src).exists()}
    seen_sources: set[str] = set()
    prog = _Progress(progress, len(files), store.settings.embedding_batch, on_progress)
    recent = RecentVectors(store.settings.ingest_reuse_vectors)
    writer = _Writer(store, store.settings.ingest_write_batch)
    for i, path in enumerate(files):
        source = _source(path)
        if on_progress:
            on_progress(i / max(len(files), 1), _shown(path.name))
        prog.start(i, _shown(path.name))
        if source in seen_sources:  # a symlink to a file this run already took
            report.skipped.append((_shown(path), f"与 {_shown(source)} 是同一个文件 / same file, already ingested"))
            outcome = "跳过 skipped（同一个文件 / same file）"
        else:
            seen_sources.add(source)
            outcome = _ingest_one(path, source, known.get(source), owner_of_hash, store, report, prog, recent, writer)
        writer.then(prog.finisher(outcome))
    writer.flush()
    prog.close()
    report.removed = _remove_vanished(given, seen_sources, known, store)
    report.chunks = store.count()
    if on_progress:
        on_progress(1.0, "done")
    return report


class RecentVectors:
    """The vectors of the last ``size`` distinct passage texts this run embedded, by text.

    A law library files the versions of one law side by side (未成年人保护法(2020-10-17).md, …(2024-04-26).md), and
    most of their articles are word for word the same: those are embedded once. Only recent texts are kept (float32,
    2 KB each), so memory stays flat however large the run.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self.vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self.reused = 0

    def embed(self, texts: list[str], embeddings) -> list[list[float]]:
        todo = list(dict.fromkeys(t for t in texts if t not in self.vectors))
        if todo:
            for t, v in zip(todo, embeddings.embed_documents(todo)):
                self.vectors[t] = np.asarray(v, dtype=np.float32)
        out = []
        for t in texts:
            self.vectors.move_to_end(t)
            out.append(self.vectors[t].tolist())
        self.reused += len(texts) - len(todo)
        while len(self.vectors) > self.size:
            self.vectors.popitem(last=False)
        return out


class _Writer:
    """Passages on their way to Chroma, written ``size`` at a time across files.

    A Chroma call costs far more than its passages: 6,442 library passages took 29 s written per file (42 a call)
    and 11 s written 512 a call (docs/benchmarks.md, 'Law library'); a library of small files written per file
    paid that 1,500 times. What must follow a file's last write — its progress line, so that "新增 added" still
    means the file is in — waits in ``then`` until that write. A run stopped before the final flush leaves the
    files whose passages were waiting incomplete in the index, and the next run finishes them, as after a kill.
    """

    def __init__(self, store: Store, size: int) -> None:
        self.store, self.size = store, size
        self.chunks: list[Chunk] = []
        self.metas: list[dict] = []
        self.vectors: list[list[float]] = []
        self.waiting: list[Callable[[], None]] = []

    def put(self, chunks: list[Chunk], metas: list[dict], vectors: list[list[float]]) -> None:
        self.chunks += chunks
        self.metas += metas
        self.vectors += vectors
        if len(self.chunks) >= self.size:
            self.flush()

    def then(self, action: Callable[[], None]) -> None:
        """Run ``action`` once everything put so far is written (now, when nothing waits)."""
        if self.chunks:
            self.waiting.append(action)
        else:
            action()

    def drop(self, source: str) -> None:
        """Forget the waiting passages of a file that failed: its earlier writes stay, as an incomplete file."""
        kept = [i for i, c in enumerate(self.chunks) if c.source != source]
        self.chunks = [self.chunks[i] for i in kept]
        self.metas = [self.metas[i] for i in kept]
        self.vectors = [self.vectors[i] for i in kept]

    def flush(self) -> None:
        chunks, metas, vectors, waiting = self.chunks, self.metas, self.vectors, self.waiting
        self.chunks, self.metas, self.vectors, self.waiting = [], [], [], []
        self.store.add(chunks, metas, vectors)
        for action in waiting:
            action()


class _Progress:
    """Progress on stderr. A terminal gets tqdm bars; anything else (a log file, a pipe, a supervisor) gets
    plain lines — ``[2/3] name: 已嵌入 embedded 16/43`` at most once a second and at each file's first and last
    batch, then ``[2/3] name: 新增 added`` — because carriage returns are noise there and lines show how far
    a run got (the fault tests kill ``assistant ingest`` on them)."""

    def __init__(self, enabled: bool, files: int, batch: int,
                 on_progress: Callable[[float, str], None] | None = None):
        self.enabled, self.files, self.batch, self.on_progress = enabled, files, batch, on_progress
        self.lines = enabled and not sys.stderr.isatty()
        self.bar = tqdm(total=files, desc="ingest", unit="file", disable=not enabled or self.lines, file=sys.stderr)
        self.name, self.tag, self.last, self.index = "", "", 0.0, 0
        self.pages: tqdm | None = None

    def _say(self, text: str) -> None:
        print(f"{self.tag} {self.name}: {text}", file=sys.stderr, flush=True)

    def start(self, i: int, name: str) -> None:
        self.name, self.tag, self.last, self.index = name, f"[{i + 1}/{self.files}]", 0.0, i
        self.bar.set_postfix_str(name[:30])

    def page(self, k: int, n: int, number: int) -> None:
        """Page ``number`` of the current file is about to be recognised, the k-th of n: a line per page (or a
        bar on a terminal), and the caller's callback — OCR takes seconds a page, so a scan needs both."""
        if self.lines:
            self._say(f"文字识别 OCR 第 {number} 页 ({k}/{n})")
        elif self.enabled:
            if self.pages is None:
                self.pages = tqdm(total=n, desc=f"OCR {self.name[:24]}", unit="page", leave=False, file=sys.stderr)
            self.pages.n = k - 1
            self.pages.refresh()
        if self.on_progress:
            # OCR is most of a scan's time: its pages take the file's share of the bar up to 90 %
            fraction = (self.index + 0.9 * (k - 1) / n) / max(self.files, 1)
            self.on_progress(fraction, f"{self.name}：文字识别 第{k}页，共{n}页")

    def pages_done(self) -> None:
        if self.pages is not None:
            self.pages.close()
            self.pages = None

    def embedding(self, total: int) -> tqdm:
        return tqdm(total=total, desc=f"embed {self.name[:24]}", unit="chunk", leave=False, file=sys.stderr,
                    disable=not self.enabled or self.lines or total < self.batch)

    def embedded(self, done: int, total: int) -> None:
        if self.lines and (done == total or time.monotonic() - self.last >= 1.0):
            self.last = time.monotonic()
            self._say(f"已嵌入 embedded {done}/{total}")

    def finisher(self, outcome: str) -> Callable[[], None]:
        """What ends the current file's progress: its outcome line and a step of the bar, run once its passages
        are written (``_Writer.then``), which may be after later files have started."""
        self.pages_done()
        tag, name = self.tag, self.name

        def finish() -> None:
            if self.lines:
                print(f"{tag} {name}: {outcome}", file=sys.stderr, flush=True)
            self.bar.update()

        return finish

    def close(self) -> None:
        self.bar.close()


def _ingest_one(path: Path, source: str, rec: FileRecord | None, owner_of_hash: dict[str, str], store: Store,
                report: IngestReport, prog: _Progress, recent: RecentVectors, writer: _Writer) -> str:
    """Skip, add or update one file, recording the outcome in ``report``; returns it for the progress line."""
    name = _shown(path)
    if name != str(path):  # Chroma, the report and the terminal all need text
        gbk = os.fsencode(path.name).decode("gb18030", "replace")
        report.skipped.append((name, f"文件名不是 UTF-8 编码（按 GBK 读作「{gbk}」），请改名后再导入 / "
                                     "file name is not UTF-8: rename the file"))
        return "跳过 skipped（文件名编码 / file name encoding）"
    try:
        digest = file_hash(path)
    except OSError as e:
        report.skipped.append((name, f"无法读取 / cannot read: {e.strerror or e}"))
        return "跳过 skipped"
    owner = owner_of_hash.setdefault(digest, source)
    if owner != source:
        report.skipped.append((name, f"与 {owner} 内容相同 / duplicate of that file"))
        return "跳过 skipped（重复 / duplicate）"
    # an unchanged file is left alone, unless it was classified with a kind this version no longer has (an index
    # made before 法规 was split into 行政法规 / 部门规章 / …): its passages keep their ids, only metadata is rewritten
    if rec and rec.file_hash == digest and rec.complete and rec.doc_type in DOC_TYPES:
        if not rec.stale_ids:
            report.unchanged.append(name)
            return "未变 unchanged"
        store.delete(rec.stale_ids)  # an update killed before its last step: the old version's passages
        report.updated.append(name)
        return "更新 updated（清除旧段落 / old passages removed）"
    try:
        report.embedded += _ingest_file(path, source, digest, store, prog, report.notes, recent, writer, rec is not None)
    except LoadError as e:
        report.skipped.append((name, e.reason))
        return f"跳过 skipped: {e.reason}"
    except Exception as e:  # a bug or a library failure on one file must not stop the run
        writer.drop(source)
        log.exception("failed to ingest %s", path)
        report.skipped.append((name, f"处理失败 / failed: {type(e).__name__}: {e}"))
        return "跳过 skipped（处理失败 / failed）"
    (report.updated if rec else report.added).append(name)
    return "更新 updated" if rec else "新增 added"


def _ingest_file(path: Path, source: str, digest: str, store: Store, prog: _Progress,
                 notes: list[tuple[str, str]], recent: RecentVectors, writer: _Writer, indexed: bool) -> int:
    """Load, chunk and hand one file to ``writer``; returns how many passages were embedded. Pages left out of a
    scan are added to ``notes``. ``indexed``: the index holds passages of this source (an update, or a run that
    was stopped half-way); only then are its old passages looked up, and deleted after the new ones are in."""
    doc = load(path, ocr=ocr.OcrOptions.from_settings(store.settings), on_page=prog.page)
    prog.pages_done()
    doc.source = source
    doc_type = document_kind(doc)
    chunks = chunk_document(doc, doc_type)
    if not chunks:
        raise LoadError(path, "没有可索引的文字 / no text to index")
    assign_ids(chunks)
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    info = " / ".join(doc.metadata.get("info", []))
    scanned = ocr.index_metadata(doc.metadata)  # which pages were recognised, where each page starts
    metas = []
    for c in chunks:
        meta = chunk_to_metadata(c)
        meta.update(file_hash=digest, file_chunks=len(chunks), ingested_at=now, doc_info=info, **scanned)
        metas.append(meta)
    existing = store.existing_ids(c.id for c in chunks) if indexed else set()
    keep = [(c, m) for c, m in zip(chunks, metas) if c.id in existing]
    # Similar lengths share a batch: the encoder pads each batch to its longest text.
    new = sorted(((c, m) for c, m in zip(chunks, metas) if c.id not in existing), key=lambda cm: len(cm[0].text))
    store.update_metadata([c.id for c, _ in keep], [m for _, m in keep])
    batch = store.settings.embedding_batch
    with prog.embedding(len(new)) as bar:
        for i in range(0, len(new), batch):
            part = new[i : i + batch]
            writer.put([c for c, _ in part], [m for _, m in part], recent.embed([c.text for c, _ in part], store.embeddings))
            bar.update(len(part))
            prog.embedded(i + len(part), len(new))
    if indexed:
        writer.flush()  # the new passages are in before the old ones go
        store.delete(set(store.ids_for_source(source)) - {c.id for c in chunks})
    notes += [(_shown(path), note) for note in doc.metadata.get("ocr_notes", [])]
    return len(new)


def _remove_vanished(paths: list[Path], seen: set[str], known: dict[str, FileRecord], store: Store) -> list[str]:
    """Sources under the given folders (or given as files) that are no longer there, and half-indexed
    sources whose file is gone, wherever they were."""
    roots = [Path(_source(p)) for p in paths]
    removed = []
    for source, rec in known.items():
        if source in seen:
            continue
        src = Path(source)
        if any(src == r or r in src.parents for r in roots) or (not rec.complete and not src.exists()):
            store.delete(store.ids_for_source(source))
            removed.append(source)
    return removed
