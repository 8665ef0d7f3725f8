"""Shared fixtures: the read-only corpus, documents loaded from it, and ONE index of the whole corpus.

The corpus ships with the project (``data/corpus``: the 2022 report, the 16 laws it cites, other bodies' reports);
derived files (GBK copies, edited copies, corrupt files) are written to tmp folders at test time.

The ``engine`` fixture embeds the whole corpus once per session (tens of seconds). Tests must treat it as
read-only: a test that needs to change an index builds its own small one (see ``small_engine``).

``ASSISTANT_TEST_CHROMA=server`` runs the same tests against a real ``chroma run`` started for the session:
every index that ``make_engine`` opens is then a collection of that server (one per index folder) instead of
an embedded Chroma folder. ``make test`` runs the ingest and retrieval tests both ways.

Tiers (markers, set by :func:`pytest_collection_modifyitems` from the fixtures a test uses, or written on a test or
module): ``corpus`` (the whole-corpus index), ``browser`` (headless Chromium), ``server`` (a ``chroma run``),
``llm`` (the model server), ``integration`` (an index of its own, OCR, or a process started), and ``unit`` for the
rest: ``make test-fast`` (``pytest -m unit``) runs those in under a minute.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

import pytest

from assistant.schema import Document

CORPUS = Path(__file__).resolve().parents[1] / "data" / "corpus"
REPORTS = CORPUS / "reports"
REGULATIONS = CORPUS / "regulations"
REPORT_NAME = "柳州市教育局2022年法治政府建设情况报告"
REPORT_FILE = f"{REPORT_NAME}.txt"
CORPUS_PRESENT = REPORTS.is_dir() and REGULATIONS.is_dir()

if not CORPUS_PRESENT and os.environ.get("CI"):
    pytest.fail(f"bundled corpus missing at {CORPUS} (CI is set, so this is an error, not a skip)", pytrace=False)

#: An article heading: the label at the start of a paragraph, then one space (see SOURCES.md).
ARTICLE_LINE = re.compile(r"^(第[零〇一二三四五六七八九十百千]+条) ", re.MULTILINE)


def _require_corpus() -> None:
    if not CORPUS_PRESENT:
        pytest.skip(f"bundled corpus not found at {CORPUS}")


@pytest.fixture(scope="session")
def corpus() -> Path:
    _require_corpus()
    return CORPUS


@pytest.fixture(scope="session")
def report_path(corpus: Path) -> Path:
    return corpus / "reports" / REPORT_FILE


@pytest.fixture(scope="session")
def law_path(corpus: Path) -> Callable[[str], Path]:
    """'未成年人保护法' → the regulations file whose name ends with it (中华人民共和国 prefix optional)."""

    def find(name: str) -> Path:
        matches = [p for p in sorted((corpus / "regulations").glob("*.md")) if p.stem.endswith(name)]
        assert len(matches) == 1, f"{name!r} matches {matches}"
        return matches[0]

    return find


@pytest.fixture(scope="session")
def corpus_files(corpus: Path) -> list[Path]:
    return sorted((corpus / "reports").glob("*.txt")) + sorted((corpus / "regulations").glob("*.md"))


@cache
def _load(path: Path) -> Document:
    from assistant.ingest.loaders import load

    return load(path)


@pytest.fixture(scope="session")
def load_doc() -> Callable[[Path], Document]:
    """``assistant.ingest.loaders.load`` with a per-session cache. Treat the returned Document as read-only."""
    _require_corpus()
    return _load


@pytest.fixture(scope="session")
def report_doc(load_doc, report_path) -> Document:
    return load_doc(report_path)


@pytest.fixture(scope="session")
def law_doc(load_doc, law_path) -> Callable[[str], Document]:
    return lambda name: load_doc(law_path(name))


def article_texts(text: str) -> dict[str, str]:
    """Label → the article's text as the file has it, computed independently of the chunkers: from the
    label line up to the next article line, heading, or ``<!-- -->`` marker, trimmed of whitespace."""
    out: dict[str, str] = {}
    starts = [(m.start(), m.group(1)) for m in ARTICLE_LINE.finditer(text)]
    stops = sorted({m.start() for m in re.finditer(r"^(?:#|<!--)", text, re.MULTILINE)} | {s for s, _ in starts} | {len(text)})
    for start, label in starts:
        end = next(s for s in stops if s > start)
        assert label not in out, f"duplicate article line {label}"
        out[label] = text[start:end].strip()
    return out


@pytest.fixture(scope="session")
def split_articles() -> Callable[[str], dict[str, str]]:
    """``article_texts`` for tests: file text → {label: article text}."""
    return article_texts


@pytest.fixture(scope="session")
def articles_of(law_path) -> Callable[[str], dict[str, str]]:
    """'禁毒法' → {label: article text} straight from the file."""
    return lambda name: article_texts(law_path(name).read_text(encoding="utf-8"))


def assistant_exe() -> str:
    """The installed ``assistant`` console script (beside this Python, or on PATH)."""
    exe = Path(sys.executable).with_name("assistant")
    return str(exe) if exe.exists() else shutil.which("assistant") or pytest.fail("console script 'assistant' not found")


# ---------------------------------------------------------------- Chroma servers


@contextmanager
def chroma_run(data: Path) -> Iterator[int]:
    """A real ``chroma run`` (from the chromadb package) on a free loopback port, its data in ``data``."""
    chroma = shutil.which("chroma") or str(Path(sys.executable).with_name("chroma"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([chroma, "run", "--path", str(data), "--host", "127.0.0.1", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("chroma run did not start within 60 s", pytrace=False)
                time.sleep(0.3)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture
def chroma_server(tmp_path) -> Iterator[int]:
    """A Chroma server of this test's own; yields its port."""
    with chroma_run(tmp_path / "server-data") as port:
        yield port


SERVER_MODE = os.environ.get("ASSISTANT_TEST_CHROMA", "embedded") == "server"


@cache
def _session_server() -> int:
    """The server-mode session's ``chroma run``, started on first use and stopped at exit."""
    data = Path(tempfile.mkdtemp(prefix="chroma-session-"))
    server = chroma_run(data)
    port = server.__enter__()
    atexit.register(lambda: (server.__exit__(None, None, None), shutil.rmtree(data, ignore_errors=True)))
    return port


def _server_settings(index_dir: Path) -> dict:
    """In server mode: the session server, and a collection named after the index folder (so reopening a
    folder reopens its collection, and two folders never share one)."""
    name = "t" + hashlib.sha1(str(Path(index_dir).resolve()).encode()).hexdigest()[:20]
    return {"chroma_host": "127.0.0.1", "chroma_port": _session_server(), "collection": name}


# ---------------------------------------------------------------- indexes


def make_engine(index_dir: Path, docs_dirs: list[Path] | None = None, **settings):
    """An Engine on its own index folder; ``.env`` in the working directory is ignored. In server mode its
    index is the folder's collection on the session's server (unless the test names a server itself)."""
    from assistant.engine import Engine
    from assistant.settings import Settings

    if SERVER_MODE and "chroma_host" not in settings:
        settings = {**_server_settings(index_dir), **settings}
    return Engine(Settings(_env_file=None, index_dir=index_dir, docs_dirs=docs_dirs or [], **settings))


def engine_env(engine) -> dict[str, str]:
    """The environment under which an ``assistant`` subprocess opens ``engine``'s index (either mode)."""
    st = engine.settings
    env = {**os.environ, "ASSISTANT_INDEX_DIR": str(st.index_dir), "ASSISTANT_COLLECTION": st.collection}
    if st.chroma_host:
        env.update(ASSISTANT_CHROMA_HOST=st.chroma_host, ASSISTANT_CHROMA_PORT=str(st.chroma_port))
    return env


def copy_index(engine, index_dir: Path):
    """A writable copy of ``engine``'s index as a new Engine on ``index_dir``: the folder copied, or in server
    mode the collection's records (vectors included, so nothing is embedded again)."""
    if not engine.settings.chroma_host:
        shutil.copytree(engine.settings.index_dir, index_dir)
        return make_engine(index_dir)
    copy = make_engine(index_dir)
    got = engine.store._collection.get(include=["embeddings", "documents", "metadatas"])
    for i in range(0, len(got["ids"]), 1000):
        part = slice(i, i + 1000)
        copy.store._before_write(got["ids"][part])
        copy.store._collection.add(ids=got["ids"][part], embeddings=got["embeddings"][part],
                                   documents=got["documents"][part], metadatas=got["metadatas"][part])
    copy.retriever.reload()
    return copy


@pytest.fixture(scope="session")
def engine(corpus: Path, tmp_path_factory):
    """One index of the whole corpus (report + regulations), shared by the session. Do not modify it."""
    index_dir = tmp_path_factory.mktemp("corpus-index")
    eng = make_engine(index_dir, [corpus / "reports", corpus / "regulations"])
    report = eng.ingest(progress=False)
    assert report.skipped == [], report.summary()
    assert len(report.added) == 17, report.summary()
    return eng


@pytest.fixture
def small_engine(tmp_path) -> Callable[..., object]:
    """Factory for a throw-away Engine whose index lives under this test's tmp_path."""
    counter = iter(range(100))

    def build(index_dir: Path | None = None, **settings):
        return make_engine(index_dir or tmp_path / f"index{next(counter)}", **settings)

    return build


FIXTURES = Path(__file__).resolve().parent / "fixtures"

#: Laws of the bundled corpus in the small index (``laws_engine``): enough for the checker's unit tests (self
#: references, a neighbouring article, a deadline, version notes, a repealed regulation and its successor, an
#: ambiguous short name), a few hundred passages instead of the whole corpus's ~2,300.
SMALL_LAWS = ("中华人民共和国未成年人保护法", "中华人民共和国禁毒法", "中华人民共和国行政复议法", "法规规章备案条例",
              "法规规章备案审查条例", "规章制定程序条例")


@pytest.fixture(scope="session")
def laws_engine(corpus: Path, tmp_path_factory):
    """An index of a few bundled laws (SMALL_LAWS), built once per session in seconds. Read-only, like ``engine``."""
    eng = make_engine(tmp_path_factory.mktemp("laws-index") / "index")
    report = eng.ingest([corpus / "regulations" / f"{name}.md" for name in SMALL_LAWS], progress=False)
    assert len(report.added) == len(SMALL_LAWS) and report.skipped == [], report.summary()
    return eng


@pytest.fixture(scope="session")
def two_reports_engine(engine, tmp_path_factory):
    """The session index plus a second, differently structured work report (tests/fixtures/reports).

    Made from a copy of the session index, so only the new report is embedded. Read-only, like ``engine``.
    """
    eng = copy_index(engine, tmp_path_factory.mktemp("two-reports") / "index")
    report = eng.ingest([FIXTURES / "reports"], progress=False)
    assert len(report.added) == 1, report.summary()
    return eng


@pytest.fixture(scope="session")
def bureaus_engine(engine, corpus: Path, tmp_path_factory):
    """The session index plus the 21 other bodies' reports of data/corpus/other_bureaus (one in traditional
    characters): many reports side by side. Made from a copy of the session index; read-only, like ``engine``."""
    eng = copy_index(engine, tmp_path_factory.mktemp("bureaus") / "index")
    report = eng.ingest([corpus / "other_bureaus"], progress=False)
    assert len(report.added) == 21 and report.skipped == [], report.summary()
    return eng


# ---------------------------------------------------------------- tiers

#: Fixture → the tier of every test that uses it (directly or through another fixture). ``app_server``
#: (tests/test_ui.py) builds or copies the whole-corpus index for a subprocess, so it counts as ``corpus``.
TIER_FIXTURES = {
    "engine": "corpus", "two_reports_engine": "corpus", "bureaus_engine": "corpus", "app_server": "corpus",
    "playwright": "browser", "browser": "browser", "en_browser": "browser",
    "chroma_server": "server",
    "small_engine": "integration",
    "llm_server": "llm", "llm_engine": "llm",
}
TIERS = ("unit", "corpus", "browser", "server", "llm", "integration")


def pytest_collection_modifyitems(config, items) -> None:
    """Mark each test with its tiers from the fixtures it uses (and in server mode, ``server``); a test with none
    of the others is ``unit``. Markers written on a test or module (``@pytest.mark.browser``) count."""
    for item in items:
        have = {m.name for m in item.iter_markers()} & set(TIERS)
        add = {TIER_FIXTURES[f] for f in getattr(item, "fixturenames", ()) if f in TIER_FIXTURES}
        if SERVER_MODE:
            add.add("server")
        if not (have | add):
            add.add("unit")
        for name in sorted(add - have):
            item.add_marker(name)
