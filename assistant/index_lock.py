"""The ingest lock: one writer per index folder at a time.

Part of the index layer, beside the store and the keyword index: the ingest pipeline takes it around a run,
the CLI takes it before the engine opens Chroma, and the keyword index takes it to publish an index it
rebuilt while a "writing" stamp was left behind. It imports nothing above the index layer.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from assistant.cachedir import cache_dir

LOCK_NAME = "ingest.lock"


class IngestBusy(RuntimeError):
    """Another process (or thread) is ingesting into the same index folder."""

    def __init__(self, lock: Path, holder: str):
        super().__init__(f"另一个导入正在写入这个索引（{holder}），请等它结束后再试 / another ingest is writing "
                         f"this index ({holder}); try again when it has finished. 锁文件 lock file: {lock}")
        self.lock = lock
        self.holder = holder


_held: dict[str, int] = {}  # lock file → the thread of this process that holds it


def lock_folder(settings) -> Path:
    """Where the ingest lock of this index lives: the index folder, or, with a Chroma server (no local index
    folder), a folder per server in the cache — which serialises ingests started from this machine only."""
    if not settings.chroma_host:
        return Path(settings.index_dir)
    return cache_dir() / "locks" / f"{settings.chroma_host}_{settings.chroma_port}_{settings.collection}"


@contextmanager
def ingest_lock(index_dir: str | Path) -> Iterator[Path]:
    """Hold the ingest lock of an index folder, or raise :class:`IngestBusy` at once.

    ``flock`` rather than a pid file: the kernel drops the lock when its process exits or is killed, so a
    crashed ingest never leaves a stale lock (the file stays, with the last holder's pid, only for the
    message). Refuse rather than wait: a second writer would redo the same work, and a run queued behind a
    stuck one is worse than a clear message. Re-entrant in one thread, so the CLI takes it before Chroma
    opens the folder and the pipeline takes it again; another thread of the same process is refused, as
    flock locks belong to the open file, not the process.
    """
    lock = os.path.join(os.path.realpath(index_dir), LOCK_NAME)
    if _held.get(lock) == threading.get_ident():
        yield Path(lock)
        return
    os.makedirs(os.path.dirname(lock), exist_ok=True)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "pid ?"
            raise IngestBusy(Path(lock), holder) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}, since {datetime.now().isoformat(timespec='seconds')}\n".encode(), 0)
        _held[lock] = threading.get_ident()
        try:
            yield Path(lock)
        finally:
            del _held[lock]
    finally:
        os.close(fd)
