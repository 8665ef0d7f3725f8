"""A large str → int table in SQLite, read one key at a time (jieba's dictionary, the USE tokenizer's prefixes)."""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable, Iterable
from pathlib import Path


class LazyTable:
    """A large str → int table read from SQLite one key at a time, for start-up.

    Why: jieba's 350k-word prefix dictionary (a 9 MB marshal file) and the USE tokenizer's 250k-prefix table
    take 0.1-2 s each to load, while one question needs a few hundred lookups. Values are the same table's,
    so results are unchanged. After ``limit`` distinct lookups (a long-running process, an ingest) ``load_full``
    is called once to put the whole table in this view's place, since per-key SQLite then costs more.
    """

    def __init__(self, db: Path, load_full: Callable[[], None], limit: int = 10_000) -> None:
        self._db = sqlite3.connect(f"file:{db}?mode=ro", uri=True, check_same_thread=False)
        self._lock = threading.Lock()
        self._memo: dict[str, int | None] = {}
        self._load_full, self._left = load_full, limit

    @staticmethod
    def write(db: Path, items: Iterable[tuple[str, int]], meta: dict[str, int] | None = None) -> None:
        """Create ``db`` atomically from (key, value) pairs, plus a few named integers."""
        tmp = db.with_name(f"{db.name}.tmp{os.getpid()}")
        tmp.unlink(missing_ok=True)
        con = sqlite3.connect(tmp)
        con.execute("CREATE TABLE kv (k TEXT PRIMARY KEY, v INTEGER) WITHOUT ROWID")
        con.execute("CREATE TABLE meta (k TEXT PRIMARY KEY, v INTEGER)")
        con.executemany("INSERT INTO kv VALUES (?, ?)", items)
        con.executemany("INSERT INTO meta VALUES (?, ?)", (meta or {}).items())
        con.commit()
        con.close()
        os.replace(tmp, db)

    def load_full(self) -> None:
        """Replace this view by the whole table now (a server's warm-up)."""
        with self._lock:
            self._left = -1
        self._load_full()

    def meta(self, key: str) -> int:
        with self._lock:
            return self._db.execute("SELECT v FROM meta WHERE k = ?", (key,)).fetchone()[0]

    def get(self, key: str, default=None):
        try:
            value = self._memo[key]
        except KeyError:
            with self._lock:
                row = self._db.execute("SELECT v FROM kv WHERE k = ?", (key,)).fetchone()
                value = self._memo[key] = row[0] if row else None
                self._left -= 1
                full = self._left == 0
            if full:
                self._load_full()
        return default if value is None else value

    def __contains__(self, key: str) -> bool:
        return self.get(key) is not None

    def __getitem__(self, key: str) -> int:
        value = self.get(key)
        if value is None:
            raise KeyError(key)
        return value
