"""Faults around a real ``assistant ingest``: SIGKILL at several points, two ingests on one index, bad files.

Everything here is a real subprocess of the console script on real corpus files copied to tmp folders, and
the index is read back with chromadb itself (no app code) to check it. Kill points are found from the
ingest's own progress lines on stderr (one line per embedded batch and per file when stderr is not a
terminal), so no test-only code path exists in the application. ``ASSISTANT_EMBEDDING_BATCH=8`` (an
ordinary setting) gives several batches per small file. docs/robustness.md summarises the results.
"""

from __future__ import annotations

import fcntl
import io
import json
import os
import random
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import assistant_exe

pytestmark = pytest.mark.integration  # ingests into indexes of its own, runs OCR or starts processes

REPORT = "柳州市教育局2022年法治政府建设情况报告.txt"  # 26 passages
TEACHERS = "中华人民共和国教师法.md"  # 43 passages, sorts first: 中 < 柳 < 法
FILING = "法规规章备案条例.md"  # 22 passages
#: Chroma written per embedding batch too (``ingest_write_batch``, 512 by default): the kills land between writes of
#: part of a file, the state these tests are about.
ENV = {**os.environ, "ASSISTANT_EMBEDDING_BATCH": "8", "ASSISTANT_INGEST_WRITE_BATCH": "8"}
EMBEDDED = re.compile(r"^\[(\d+)/(\d+)\] (.+): 已嵌入 embedded (\d+)/(\d+)$")


# ---------------------------------------------------------------- helpers


@dataclass
class Run:
    code: int
    out: str
    err: str
    max_rss_mb: float

    def report(self) -> dict:
        assert self.code == 0, self.err[-3000:]
        return json.loads(self.out)


def cli(*args: str | Path, cwd: Path, timeout: float = 300, env: dict[str, str] | None = None) -> Run:
    """Run the console script to the end; ``os.wait4`` gives the peak RSS of this child (or of a process it
    started and waited for, such as the OCR worker, if that was larger)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen([assistant_exe(), *map(str, args)], stdout=out, stderr=err, cwd=cwd,
                                env=env or ENV)
        watchdog = threading.Timer(timeout, proc.kill)
        watchdog.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            watchdog.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0), err.seek(0)
        return Run(proc.returncode, out.read().decode(), err.read().decode(), usage.ru_maxrss / 1024)


class Ingest:
    """A running ``assistant ingest`` whose stderr progress lines are read one by one."""

    def __init__(self, docs: list[Path], index: Path, cwd: Path):
        self.proc = subprocess.Popen([assistant_exe(), "ingest", *map(str, docs), "--index", str(index)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=cwd, env=ENV,
                                     text=True, encoding="utf-8")
        self.watchdog = threading.Timer(120, self.proc.kill)
        self.watchdog.start()
        self.lines: list[str] = []

    def wait_for(self, pred: Callable[[str], bool]) -> str:
        while line := self.proc.stderr.readline():
            self.lines.append(line.rstrip("\n"))
            if pred(self.lines[-1]):
                return self.lines[-1]
        pytest.fail("ingest ended before the expected progress line:\n" + "\n".join(self.lines[-30:]))

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def finish(self) -> int:
        rest = self.proc.stderr.read()
        self.lines += rest.splitlines()
        code = self.proc.wait()
        self.watchdog.cancel()
        self.proc.stderr.close()
        return code


@dataclass
class Snapshot:
    ids: list[str]  # as stored, duplicates included
    vector_ids: set[str]  # what a nearest-neighbour query over everything returns (the HNSW index)
    files: dict[str, tuple[int, int, int]]  # file name → (chunks stored, file_chunks recorded, distinct hashes)

    def assert_consistent(self) -> None:
        """Readable, no duplicate ids, the vector index holds exactly the stored chunks, one version per file,
        never more chunks than the file has."""
        assert len(self.ids) == len(set(self.ids)), "duplicate chunk ids"
        assert self.vector_ids == set(self.ids), "vector index and stored chunks differ"
        for name, (stored, expected, versions) in self.files.items():
            assert versions == 1 and stored <= expected, (name, stored, expected, versions)

    def incomplete(self) -> set[str]:
        return {name for name, (stored, expected, _) in self.files.items() if stored < expected}


def snapshot(index: Path) -> Snapshot:
    """Read an index folder with chromadb directly. Open each folder at most once per process (chromadb
    caches clients by path); to look at a state that a later run will continue from, snapshot a copy."""
    import chromadb
    from chromadb.config import Settings

    client = chromadb.PersistentClient(path=str(index), settings=Settings(anonymized_telemetry=False))
    collections = client.list_collections()
    if not collections:  # killed before the collection was created
        return Snapshot([], set(), {})
    (col,) = collections
    got = col.get(include=["metadatas", "embeddings"])
    vector_ids: set[str] = set()
    if got["ids"]:
        hits = col.query(query_embeddings=[got["embeddings"][0]], n_results=len(got["ids"]), include=[])
        vector_ids = set(hits["ids"][0])
    per_file: dict[str, list[dict]] = {}
    for meta in got["metadatas"]:
        per_file.setdefault(Path(meta["source"]).name, []).append(meta)
    files = {name: (len(ms), int(ms[0]["file_chunks"]), len({m["file_hash"] for m in ms}))
             for name, ms in per_file.items()}
    return Snapshot(list(got["ids"]), vector_ids, files)


def snapshot_copy(index: Path, tmp: Path) -> Snapshot:
    copy = tmp / f"copy-of-{index.name}"
    shutil.copytree(index, copy)
    return snapshot(copy)


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("faults")


@pytest.fixture(scope="module")
def docs(work, corpus) -> Path:
    """Three small real files; shared read-only by the tests that compare with ``clean``."""
    folder = work / "docs"
    folder.mkdir()
    shutil.copy(corpus / "reports" / REPORT, folder)
    for name in (TEACHERS, FILING):
        shutil.copy(corpus / "regulations" / name, folder)
    return folder


@pytest.fixture(scope="module")
def clean(work, docs) -> tuple[Snapshot, Run]:
    """An uninterrupted ingest of ``docs``: what every interrupted one must end up as."""
    run = cli("ingest", docs, "--index", work / "clean-index", "--json", "--quiet", cwd=work)
    assert len(run.report()["added"]) == 3
    snap = snapshot(work / "clean-index")
    snap.assert_consistent()
    assert snap.files == {TEACHERS: (43, 43, 1), REPORT: (26, 26, 1), FILING: (22, 22, 1)}
    return snap, run


def assert_same_as_clean(index: Path, clean_snap: Snapshot) -> None:
    snap = snapshot(index)
    snap.assert_consistent()
    assert sorted(snap.ids) == sorted(clean_snap.ids)
    assert snap.files == clean_snap.files


# ---------------------------------------------------------------- SIGKILL


def first_batch(line: str) -> bool:
    m = EMBEDDED.match(line)
    return bool(m) and int(m[4]) < int(m[5])


def holds_lock(run: Ingest, index: Path) -> None:
    """Before any progress line: wait until the lock file names this process (it is starting: imports done,
    Chroma about to open the folder and create the collection)."""
    lock, deadline = index / "ingest.lock", time.monotonic() + 60
    while not (lock.exists() and f"pid {run.proc.pid}," in lock.read_text()):
        assert time.monotonic() < deadline and run.proc.poll() is None, "ingest never took the lock"
        time.sleep(0.01)


KILL_POINTS: dict[str, Callable[[Ingest, Path], object]] = {
    "while-starting": holds_lock,
    "while-embedding": lambda run, _: run.wait_for(first_batch),  # the first file has 8 of its 43 passages
    "between-files": lambda run, _: run.wait_for(lambda line: line.endswith(f"{TEACHERS}: 新增 added")),
}
#: ``INGEST_KILL_TRIALS=20 pytest tests/test_ingest_faults.py -k random`` kills at 20 random moments
#: (0–3 s after the first embedded batch: in the encoder, in a Chroma write, between files, while deleting,
#: while the keyword index is saved at the end).
TRIALS = int(os.environ.get("INGEST_KILL_TRIALS", "0"))


def check_killed_then_rerun(run: Ingest, index: Path, rerun_paths: list[Path], clean: Snapshot, tmp_path: Path,
                            cwd: Path, may_have_ended: bool = False) -> Snapshot:
    """SIGKILL, check the index as the dead process left it (a copy), run again, compare with ``clean``."""
    run.signal(signal.SIGKILL)
    assert run.finish() in ((-signal.SIGKILL, 0) if may_have_ended else (-signal.SIGKILL,))
    # the dead process's lock file stays behind; the kernel released its lock, so it blocks nothing
    assert f"pid {run.proc.pid}," in (index / "ingest.lock").read_text()
    killed = snapshot_copy(index, tmp_path)
    killed.assert_consistent()

    again = cli("ingest", *rerun_paths, "--index", index, "--json", "--quiet", cwd=cwd).report()
    assert again["skipped"] == []
    assert again["embedded"] == len(clean.ids) - len(killed.ids)
    assert {Path(p).name for p in again["updated"]} == killed.incomplete()
    assert again["chunks"] == len(clean.ids)
    assert_same_as_clean(index, clean)
    return killed


@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_killed_ingest_is_completed_by_the_next_run(point, work, docs, clean, tmp_path):
    index = tmp_path / "index"
    run = Ingest([docs], index, cwd=work)
    KILL_POINTS[point](run, index)
    # after a kill while embedding, the next run is given only the two other files: the half-indexed one is
    # finished anyway (a run that completes leaves no incomplete file in the index, whatever it was given)
    rerun = [docs / REPORT, docs / FILING] if point == "while-embedding" else [docs]
    killed = check_killed_then_rerun(run, index, rerun, clean[0], tmp_path, work)
    if point == "while-embedding":
        assert killed.incomplete() == {TEACHERS}
    if point == "between-files":
        assert killed.files[TEACHERS] == (43, 43, 1)


@pytest.mark.skipif(TRIALS == 0, reason="set INGEST_KILL_TRIALS=N to kill ingests at N random moments")
@pytest.mark.parametrize("trial", range(max(TRIALS, 1)))
def test_killed_at_a_random_moment(trial, work, docs, clean, tmp_path):
    index = tmp_path / "index"
    run = Ingest([docs], index, cwd=work)
    run.wait_for(first_batch)
    time.sleep(random.Random(trial).uniform(0, 3))  # on an idle machine the run may be over by then: fine
    check_killed_then_rerun(run, index, [docs], clean[0], tmp_path, work, may_have_ended=True)


def test_half_indexed_file_that_vanished_is_dropped(work, corpus, tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    for name in (TEACHERS, FILING):
        shutil.copy(corpus / "regulations" / name, folder)
    index = tmp_path / "index"
    run = Ingest([folder / TEACHERS], index, cwd=work)
    run.wait_for(first_batch)
    run.signal(signal.SIGKILL)
    run.finish()
    (folder / TEACHERS).unlink()
    report = cli("ingest", folder / FILING, "--index", index, "--json", "--quiet", cwd=work).report()
    assert [Path(p).name for p in report["removed"]] == [TEACHERS]
    snap = snapshot(index)
    snap.assert_consistent()
    assert snap.files == {FILING: (22, 22, 1)}


# ---------------------------------------------------------------- two ingests on one index


def test_second_ingest_on_the_same_index_is_refused(work, docs, clean, tmp_path):
    """B starts while A is frozen (SIGSTOP) between two batches: B refuses at once, A then completes."""
    index = tmp_path / "index"
    a = Ingest([docs], index, cwd=work)
    a.wait_for(first_batch)
    a.signal(signal.SIGSTOP)
    try:
        b = cli("ingest", docs, "--index", index, "--json", cwd=work, timeout=120)
    finally:
        a.signal(signal.SIGCONT)
    assert b.code == 75, b.err
    assert b.out == ""
    assert "另一个导入正在写入这个索引" in b.err and f"pid {a.proc.pid}," in b.err and "Traceback" not in b.err
    assert a.finish() == 0, "\n".join(a.lines[-20:])
    assert_same_as_clean(index, clean[0])
    # and the lock is free again
    assert cli("ingest", docs, "--index", index, "--json", "--quiet", cwd=work).report()["embedded"] == 0


def test_ingest_lock_in_process(tmp_path):
    """The same lock for library callers (the web app's upload): re-entrant in a thread, refused in another."""
    from assistant.index_lock import IngestBusy, ingest_lock

    errors: list[BaseException] = []

    def other_thread() -> None:
        try:
            with ingest_lock(tmp_path):
                pass
        except BaseException as e:  # noqa: BLE001 - collected for the assertion below
            errors.append(e)

    with ingest_lock(tmp_path) as lock:
        with ingest_lock(tmp_path / "."):  # the same folder, spelled differently
            pass
        t = threading.Thread(target=other_thread)
        t.start()
        t.join()
        assert len(errors) == 1 and isinstance(errors[0], IngestBusy)
        assert f"pid {os.getpid()}," in str(errors[0]) and str(lock) in str(errors[0])
        fd = os.open(lock, os.O_RDONLY)  # another process would see it held, too
        try:
            with pytest.raises(BlockingIOError):
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(fd)
    with ingest_lock(tmp_path):  # released
        pass


# ---------------------------------------------------------------- bad files, through the real CLI


def _pdf(lines: list[str], **canvas_kw) -> bytes:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    buf = io.BytesIO()
    c = canvas.Canvas(buf, **canvas_kw)
    c.setFont("STSong-Light", 12)
    for i, line in enumerate(lines):
        c.drawString(40, 800 - 20 * i, line)
    if not lines:
        c.rect(40, 400, 200, 200, fill=1)  # a "scan": graphics, no text layer
    c.showPage()
    c.save()
    return buf.getvalue()


def _encrypted_pdf() -> bytes:
    import pypdf

    writer = pypdf.PdfWriter(clone_from=pypdf.PdfReader(io.BytesIO(_pdf(["第一条 机密文件的内容。"]))))
    writer.encrypt("user-password", "owner-password", algorithm="AES-256")
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


def _junk_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("junk.bin", random.Random(0).randbytes(2000))
    return buf.getvalue()


def test_bad_files_get_a_reason_and_the_rest_ingests(work, corpus, clean, tmp_path):
    folder = tmp_path / "docs"
    (folder / "子目录").mkdir(parents=True)
    report_text = (corpus / "reports" / REPORT).read_text(encoding="utf-8")
    good = {
        "法规规章 备案条例（2024 修订）.md": (corpus / "regulations" / FILING).read_bytes(),  # Chinese + spaces
        "报告 GB18030.txt": report_text.encode("gb18030"),
        "报告摘录 BOM.txt": b"\xef\xbb\xbf" + report_text[:600].encode("utf-8"),
    }
    bad = {  # name: (content, words the reason must contain)
        "空文件.txt": (b"", "文件为空"),
        "截图.txt": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(200), "png"),
        "乱码.txt": (random.Random(1).randbytes(4096), "二进制"),
        "截断.pdf": (_pdf(["第一页的文字内容"])[:700], "PDF 文件已损坏"),
        "加密.pdf": (_encrypted_pdf(), "加密"),
        "扫描件.pdf": (_pdf([]), "无文字层"),
        "垃圾.docx": (_junk_zip(), "不是 Word 文档"),
    }
    for name, data in {**good, **{n: d for n, (d, _) in bad.items()}}.items():
        (folder / name).write_bytes(data)
    with open(folder / "巨大 50MB.txt", "wb") as f:  # 50 MB of real text: refused by size, never read
        block = report_text.encode("utf-8")
        for _ in range(50 * 2**20 // len(block) + 1):
            f.write(block)
    (folder / "子目录" / "回到上级").symlink_to(folder, target_is_directory=True)  # a symlink loop
    (folder / "甲.md").symlink_to(folder / "乙.md")
    (folder / "乙.md").symlink_to(folder / "甲.md")  # a file-level loop
    gbk_name = os.fsencode(folder) + b"/" + "中文名.txt".encode("gbk")
    with open(gbk_name, "wb") as f:  # a file name in GBK bytes, as unzipped from a Windows archive
        f.write(report_text[:300].encode("utf-8"))

    index = tmp_path / "index"
    # OCR off: its worker process (about 430 MB at its peak) would count in the peak RSS measured below, which is
    # about the 50 MB file. The scan is then reported as it was before OCR; test_ocr.py ingests scans by CLI.
    no_ocr = {**ENV, "ASSISTANT_OCR": "false"}
    run = cli("ingest", folder, "--index", index, "--json", cwd=work, env=no_ocr)
    report = run.report()
    assert sorted(Path(p).name for p in report["added"]) == sorted(good)
    reasons = {p: r for p, r in ((d["path"], d["reason"]) for d in report["skipped"])}
    for name, (_, words) in bad.items():
        assert words in reasons.pop(str(folder / name)), name
    assert "文件过大" in reasons.pop(str(folder / "巨大 50MB.txt"))
    assert "循环" in reasons.pop(str(folder / "子目录" / "回到上级"))
    assert "循环" in reasons.pop(str(folder / "甲.md")) and "循环" in reasons.pop(str(folder / "乙.md"))
    why = reasons.pop(str(folder / "\\xd6\\xd0\\xce\\xc4\\xc3\\xfb.txt"))
    assert "文件名不是 UTF-8" in why and "中文名" in why  # read as GBK, so the user knows which file to rename
    assert reasons == {}
    # progress shown for every file, the huge one included
    assert re.search(r"\[\d+/\d+\] 巨大 50MB\.txt: 跳过 skipped: 文件过大", run.err), run.err[-2000:]

    snap = snapshot(index)
    snap.assert_consistent()
    assert set(snap.files) == set(good) and not snap.incomplete()
    # bounded memory: the 50 MB file costs nothing next to a clean ingest of three small files
    assert run.max_rss_mb < clean[1].max_rss_mb + 50, (run.max_rss_mb, clean[1].max_rss_mb)

    # the next run embeds nothing and reports the same files again; the plain summary prints every path
    again = cli("ingest", folder, "--index", index, "--quiet", cwd=work, env=no_ocr)
    assert again.code == 0, again.err[-2000:]
    assert f"未变 {len(good)}，删除 0，跳过 {len(report['skipped'])}；本次嵌入 0 段" in again.out
    assert "\\xd6\\xd0" in again.out and "巨大 50MB.txt" in again.out
