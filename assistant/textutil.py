"""Chinese text helpers shared by chunking, retrieval and answering: sentence spans and search tokens."""

from __future__ import annotations

import logging
import os
import re
import sqlite3
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable
from functools import lru_cache
from pathlib import Path

import jieba

from assistant.normalize import to_simplified

jieba.setLogLevel(logging.WARNING)
log = logging.getLogger(__name__)


def cache_dir() -> Path:
    """Where derived, rebuildable files of the installed libraries live (jieba's dictionary, the USE model's
    parsed tokenizer and unpacked weights): inside the venv, because they depend on its package versions and
    go away with it; a per-user temp folder when the venv is read-only (a container image built without them)."""
    for base in (Path(sys.prefix) / "var" / "policy-assistant", Path(tempfile.gettempdir()) / f"policy-assistant-{os.getuid()}"):
        try:
            base.mkdir(parents=True, exist_ok=True)
            if os.access(base, os.W_OK):
                return base
        except OSError:
            continue
    raise OSError("no writable cache folder")


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
    """Load jieba's whole dictionary now (a server, an ingest): no per-lookup SQLite afterwards."""
    if isinstance(jieba.dt.FREQ, LazyTable):
        jieba.dt.FREQ.load_full()


try:
    _install_dictionary()
except (OSError, sqlite3.Error) as e:  # a read-only machine: jieba's own loading, as before
    log.warning("jieba dictionary cache unavailable (%s); loading the full dictionary", e)

# A sentence ends at 。！？； (and ! ? ;), plus any closing quotes/brackets right after, or at a line break.
_SENTENCE_END = re.compile(r"[。！？；!?;][”’」』）)]*|\n+")
_SPACE = re.compile(r"\s+")
_HAN_RUN = re.compile(r"[\u4e00-\u9fff0-9a-zA-Z]+")
_PUNCT = re.compile(r"[\s\u200b\u3000，。、；：？！“”‘’（）《》〈〉【】\[\]()<>「」『』—…·,.;:?!\"'/\\|-]+")

#: Words too common in questions or in this corpus to say anything about relevance.
STOPWORDS = frozenset(
    """的 了 和 与 及 或 是 在 有 对 为 把 被 等 也 都 就 还 要 会 能 可以 应当 什么 怎么 怎样 如何 哪些 哪个 哪 多少 几
    吗 呢 吧 啊 么 请问 请 我 我们 你 你们 他 她 它 他们 这 那 这个 那个 这些 那些 一个 没有 是否 是不是 有没有 规定 有关
    相关 内容 方面 情况 问题 进行 开展 工作 怎么办 为什么 什么样 哪里 时候 多久 可 该 其 之 所 以 于 由 从 向 按照 根据
    依照 依法 中 上 下 里 后 前 时 去年 今年 说 讲 做 做了 做过 了解 告诉 一下 具体 主要 哪几 多 少 个 条 项 款""".split()
)


def normalize_ws(text: str) -> str:
    """Text without any whitespace: the form in which passages are compared for 'verbatim'."""
    return _SPACE.sub("", text.replace("\u200b", ""))


def sentence_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """(start, end) of each sentence of ``text[start:end]``, trimmed of surrounding whitespace."""
    end = len(text) if end is None else end
    spans: list[tuple[int, int]] = []
    pos = start
    for m in _SENTENCE_END.finditer(text, start, end):
        spans.append((pos, m.end()))
        pos = m.end()
    if pos < end:
        spans.append((pos, end))
    out = []
    for s, e in spans:
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if e > s:
            out.append((s, e))
    return out


@lru_cache(maxsize=1 << 17)
def _cut_block(block: str) -> tuple[str, ...]:
    return tuple(jieba.lcut_for_search(block))


def _cut(text: str) -> list[str]:
    """``jieba.lcut_for_search(text)``, cached per block.

    jieba cuts each run of Han characters, letters and digits (its ``re_han_default``) on its own and passes
    everything between them through, so cutting block by block gives the same words. Caching blocks rather
    than whole texts lets a clause that recurs across passages (a replicated corpus, a report quoting a law)
    be segmented once.
    """
    out: list[str] = []
    for block in jieba.re_han_default.split(text):
        if block:
            out += _cut_block(block)
    return out


def tokens(text: str) -> list[str]:
    """Search tokens: jieba's search-mode words plus single Han characters of unknown words, no stopwords.

    Search mode emits both 未成年人 and 未成年/成年人, so a question's wording and the law's wording meet
    more often than with plain ``lcut``. Traditional characters are read as simplified (OpenCC, about 6 µs per
    400 characters), so a traditional-script report and a simplified question meet on the same words.
    """
    out = []
    for w in _cut(to_simplified(text)):
        w = w.strip().lower()
        if not w or _PUNCT.fullmatch(w) or w in STOPWORDS:
            continue
        out.append(w)
    return out


def bm25_tokens(text: str) -> list[str]:
    """What the keyword index sees: jieba search-mode words plus character bigrams.

    Bigrams let a paraphrase still meet the law's wording half-way (学生欺凌 / 欺凌学生), which jieba's
    words alone miss; on the dev set the mix beat either alone (see docs/benchmarks.md).
    """
    grams = []
    for run in _HAN_RUN.findall(to_simplified(text).lower()):
        grams += [run[i : i + 2] for i in range(len(run) - 1)] or [run]
    return tokens(text) + grams


def paragraph_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each paragraph (款) of an article's text; paragraphs are separated by blank lines. The
    chat (assistant/answer.py) and the checker both read 款 with this, so they agree.

    Items （一）（二）… are part of the paragraph that introduces them, as in the official numbering of 款.
    """
    spans: list[tuple[int, int]] = []
    pos = 0
    for m in re.finditer(r"\n\s*\n", text + "\n\n"):
        if text[pos : m.start()].strip():
            is_item = re.match(r"\s*[（(][一二三四五六七八九十]+[）)]", text[pos:])
            if is_item and spans:
                spans[-1] = (spans[-1][0], m.start())
            else:
                spans.append((pos, m.start()))
        pos = m.end()
    return spans
