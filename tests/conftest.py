"""Shared fixtures: the read-only corpus, documents loaded from it, and ONE index of the whole corpus.

The corpus lives beside the project (``/work/shared/corpus``) and is never copied into the repository;
derived files (GBK copies, edited copies, corrupt files) are written to tmp folders at test time.

The ``engine`` fixture embeds the whole corpus once per session (tens of seconds). Tests must treat it as
read-only: a test that needs to change an index builds its own small one (see ``small_engine``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from functools import cache
from pathlib import Path

import pytest

from assistant.schema import Document

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
REPORTS = CORPUS / "reports"
REGULATIONS = CORPUS / "regulations"
REPORT_NAME = "柳州市教育局2022年法治政府建设情况报告"
REPORT_FILE = f"{REPORT_NAME}.txt"
CORPUS_PRESENT = REPORTS.is_dir() and REGULATIONS.is_dir()

if not CORPUS_PRESENT and os.environ.get("CI"):
    pytest.fail(f"shared corpus missing at {CORPUS} (CI is set, so this is an error, not a skip)", pytrace=False)

#: An article heading: the label at the start of a paragraph, then one space (see SOURCES.md).
ARTICLE_LINE = re.compile(r"^(第[零〇一二三四五六七八九十百千]+条) ", re.MULTILINE)


def _require_corpus() -> None:
    if not CORPUS_PRESENT:
        pytest.skip(f"shared corpus not found at {CORPUS}")


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
    from ingest.loaders import load

    return load(path)


@pytest.fixture(scope="session")
def load_doc() -> Callable[[Path], Document]:
    """``ingest.loaders.load`` with a per-session cache. Treat the returned Document as read-only."""
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
    import shutil
    import sys

    exe = Path(sys.executable).with_name("assistant")
    return str(exe) if exe.exists() else shutil.which("assistant") or pytest.fail("console script 'assistant' not found")


# ---------------------------------------------------------------- indexes


def make_engine(index_dir: Path, docs_dirs: list[Path] | None = None, **settings):
    """An Engine on its own index folder; ``.env`` in the working directory is ignored."""
    from assistant.engine import Engine
    from assistant.settings import Settings

    return Engine(Settings(_env_file=None, index_dir=index_dir, docs_dirs=docs_dirs or [], **settings))


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


@pytest.fixture(scope="session")
def two_reports_engine(engine, tmp_path_factory):
    """The session index plus a second, differently structured work report (tests/fixtures/reports).

    Made from a copy of the session index, so only the new report is embedded. Read-only, like ``engine``.
    """
    import shutil

    index_dir = tmp_path_factory.mktemp("two-reports") / "index"
    shutil.copytree(engine.settings.index_dir, index_dir)
    eng = make_engine(index_dir)
    report = eng.ingest([FIXTURES / "reports"], progress=False)
    assert len(report.added) == 1, report.summary()
    return eng
