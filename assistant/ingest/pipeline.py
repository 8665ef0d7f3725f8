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
from collections import Counter, deque
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
from assistant.ingest.encoder import Encoder
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
    encoder = Encoder(store)
    writer = _Writer(store, store.settings.ingest_write_batch)
    # files prepared and handed to the encoder, not yet written: with worker processes the run reads, chunks and
    # submits up to ``ingest_lookahead`` passages ahead, so the workers encode while this process writes
    waiting: deque[tuple[_FileProgress, str | _Pending]] = deque()

    def finish_oldest() -> None:
        fp, item = waiting.popleft()
        outcome = item if isinstance(item, str) else item.finish(fp)
        writer.then(prog.finisher(fp, outcome))

    try:
        for i, path in enumerate(files):
            source = _source(path)
            if on_progress:
                on_progress(i / max(len(files), 1), _shown(path.name))
            fp = prog.start(i, _shown(path.name))
            if source in seen_sources:  # a symlink to a file this run already took
                report.skipped.append((_shown(path), f"与 {_shown(source)} 是同一个文件 / same file, already ingested"))
                waiting.append((fp, "跳过 skipped（同一个文件 / same file）"))
            else:
                seen_sources.add(source)
                waiting.append((fp, _ingest_one(path, source, known.get(source), owner_of_hash, store, report, prog,
                                                encoder, writer)))
            while waiting and (not encoder.ahead or encoder.in_flight() > store.settings.ingest_lookahead):
                finish_oldest()
        while waiting:
            finish_oldest()
        writer.flush()
    finally:
        encoder.close()
    prog.close()
    report.removed = _remove_vanished(given, seen_sources, known, store)
    report.chunks = store.count()
    if on_progress:
        on_progress(1.0, "done")
    return report


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
        self.vectors: list[np.ndarray] = []
        self.waiting: list[Callable[[], None]] = []

    def put(self, chunks: list[Chunk], metas: list[dict], vectors: list[np.ndarray]) -> None:
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
        self.store.add(chunks, metas, np.stack(vectors) if vectors else None)
        for action in waiting:
            action()


@dataclass
class _FileProgress:
    """A file's place in the run's progress lines ([3/40] name), kept for lines written after later files started."""

    tag: str
    name: str


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

    def _say(self, text: str, fp: _FileProgress | None = None) -> None:
        """A progress line of ``fp``'s file (default: the file being read now)."""
        tag, name = (fp.tag, fp.name) if fp else (self.tag, self.name)
        print(f"{tag} {name}: {text}", file=sys.stderr, flush=True)

    def start(self, i: int, name: str) -> _FileProgress:
        self.name, self.tag, self.last, self.index = name, f"[{i + 1}/{self.files}]", 0.0, i
        self.bar.set_postfix_str(name[:30])
        return _FileProgress(self.tag, name)

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

    def embedding(self, fp: _FileProgress, total: int) -> tqdm:
        return tqdm(total=total, desc=f"embed {fp.name[:24]}", unit="chunk", leave=False, file=sys.stderr,
                    disable=not self.enabled or self.lines or total < self.batch)

    def embedded(self, fp: _FileProgress, done: int, total: int) -> None:
        """``done`` of the file's ``total`` new passages written (or waiting in the writer for the next write)."""
        if self.lines and (done == total or time.monotonic() - self.last >= 1.0):
            self.last = time.monotonic()
            self._say(f"已嵌入 embedded {done}/{total}", fp)

    def finisher(self, fp: _FileProgress, outcome: str) -> Callable[[], None]:
        """What ends a file's progress: its outcome line and a step of the bar, run once its passages are written
        (``_Writer.then``), which may be after later files have started."""
        self.pages_done()

        def finish() -> None:
            if self.lines:
                self._say(outcome, fp)
            self.bar.update()

        return finish

    def close(self) -> None:
        self.bar.close()


def _ingest_one(path: Path, source: str, rec: FileRecord | None, owner_of_hash: dict[str, str], store: Store,
                report: IngestReport, prog: _Progress, encoder: Encoder, writer: _Writer) -> str | _Pending:
    """Skip, add or update one file, recording the outcome in ``report``; returns it for the progress line, or the
    file prepared for writing (its passages handed to ``encoder``), which ``_Pending.finish`` completes."""
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
    pending = _Pending(path, source, rec is not None, store, report, prog, writer)
    if failed := pending.attempt(lambda: pending.prepare(digest, encoder)):
        return failed
    return pending


class _Pending:
    """A file between its two steps: ``prepare`` (load, chunk, hand the new passages to the encoder) and ``finish``
    (their vectors to the writer, the file's old passages deleted, the outcome recorded)."""

    def __init__(self, path: Path, source: str, indexed: bool, store: Store, report: IngestReport, prog: _Progress,
                 writer: _Writer) -> None:
        self.path, self.source, self.name = path, source, _shown(path)
        #: the index holds passages of this source (an update, or a run stopped half-way): only then are its old
        #: passages looked up, and deleted once the new ones are in
        self.indexed = indexed
        self.store, self.report, self.prog, self.writer = store, report, prog, writer
        self.ids: set[str] = set()
        self.parts: list[tuple[list[Chunk], list[dict], Callable[[], list]]] = []
        self.new = 0

    def attempt(self, step: Callable[[], None]) -> str | None:
        """Run a step; a failure skips the file with its reason (returned for the progress line)."""
        try:
            step()
        except LoadError as e:
            self.report.skipped.append((self.name, e.reason))
            return f"跳过 skipped: {e.reason}"
        except Exception as e:  # a bug or a library failure on one file must not stop the run
            self.writer.drop(self.source)
            log.exception("failed to ingest %s", self.path)
            self.report.skipped.append((self.name, f"处理失败 / failed: {type(e).__name__}: {e}"))
            return "跳过 skipped（处理失败 / failed）"
        return None

    def finish(self, fp: _FileProgress) -> str:
        if failed := self.attempt(lambda: self._write(fp)):
            return failed
        self.report.embedded += self.new
        (self.report.updated if self.indexed else self.report.added).append(self.name)
        return "更新 updated" if self.indexed else "新增 added"

    def prepare(self, digest: str, encoder: Encoder) -> None:
        """Load and chunk the file, write what changed only in metadata, hand the new passages to ``encoder``.
        Pages left out of a scan are added to the report's notes."""
        path, source, store, prog = self.path, self.source, self.store, self.prog
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
        existing = store.existing_ids(c.id for c in chunks) if self.indexed else set()
        keep = [(c, m) for c, m in zip(chunks, metas) if c.id in existing]
        # Similar lengths share a batch: a sentence-transformers model pads each batch to its longest text.
        new = sorted(((c, m) for c, m in zip(chunks, metas) if c.id not in existing), key=lambda cm: len(cm[0].text))
        store.update_metadata([c.id for c, _ in keep], [m for _, m in keep])
        batch = store.settings.embedding_batch
        for i in range(0, len(new), batch):
            part = new[i : i + batch]
            self.parts.append(([c for c, _ in part], [m for _, m in part], encoder.submit([c.text for c, _ in part])))
        self.ids, self.new = {c.id for c in chunks}, len(new)
        self.report.notes += [(_shown(path), note) for note in doc.metadata.get("ocr_notes", [])]

    def _write(self, fp: _FileProgress) -> None:
        done = 0
        with self.prog.embedding(fp, self.new) as bar:
            for chunks, metas, vectors in self.parts:
                self.writer.put(chunks, metas, vectors())
                done += len(chunks)
                bar.update(len(chunks))
                self.prog.embedded(fp, done, self.new)
        self.parts = []
        if self.indexed:
            self.writer.flush()  # the new passages are in before the old ones go
            self.store.delete(set(self.store.ids_for_source(self.source)) - self.ids)


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
