"""jieba's dictionary, set up once on import: read lazily from a SQLite copy in the cache folder (built on first
use), or jieba's own loading when no cache folder is writable. :mod:`assistant.textutil` imports this before it
cuts any text."""

from __future__ import annotations

import logging
import sqlite3

import jieba

from assistant.cachedir import cache_dir
from assistant.lazytable import LazyTable

jieba.setLogLevel(logging.WARNING)
log = logging.getLogger(__name__)


def _full_dictionary() -> None:
    """jieba's own loading (its marshal cache kept in :func:`cache_dir`, not in /tmp), into a separate Tokenizer
    whose table then replaces the current one in one assignment: a thread cutting meanwhile never sees it empty."""
    full = jieba.Tokenizer()
    full.tmp_dir = jieba.dt.tmp_dir
    full.initialize()
    jieba.dt.total = full.total
    jieba.dt.FREQ = full.FREQ
    jieba.dt.initialized = True


def _install_dictionary() -> None:
    """Point jieba at the lazily read dictionary, building its SQLite copy on first use."""
    folder = cache_dir()
    jieba.dt.tmp_dir = str(folder)
    db = folder / f"jieba-{jieba.__version__}-kv.sqlite3"
    if not db.exists():
        _full_dictionary()
        LazyTable.write(db, jieba.dt.FREQ.items(), {"total": jieba.dt.total})
        return  # this process already holds the whole dictionary
    table = LazyTable(db, _full_dictionary)
    with jieba.dt.lock:
        jieba.dt.FREQ = table
        jieba.dt.total = table.meta("total")
        jieba.dt.initialized = True


def preload_dictionary() -> None:
    """Load jieba's whole dictionary now (a server, an ingest): no per-lookup SQLite afterwards; and its
    part-of-speech table (0.4 s, read by a 是谁 question's check for a name: assistant.intent)."""
    if isinstance(jieba.dt.FREQ, LazyTable):
        jieba.dt.FREQ.load_full()
    import jieba.posseg as posseg  # binds posseg only: a bare ``import jieba.posseg`` would make jieba local here

    posseg.lcut("预热")


try:
    _install_dictionary()
except (OSError, sqlite3.Error) as e:  # a read-only machine: jieba's own loading, as before
    log.warning("jieba dictionary cache unavailable (%s); loading the full dictionary", e)
