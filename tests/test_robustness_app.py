"""Robustness, security and load of the web app, on real processes: ``python app.py`` on a copy of the session
index (conftest ``engine``), driven over 127.0.0.1 with gradio_client and Gradio's HTTP API as the page uses it.

The module's app is started by the ``app`` fixture, which also records what a client sees right after the start
(while the index is still loading), so that test does not depend on the order the tests run in. The app runs
with ASSISTANT_HOST unset (the default binding is under test), an admin password, a 2 MB upload limit and a
0.5 s slow-down per wrong password. See docs/robustness.md for the table of what was tried.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from assistant import ui
from assistant.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench import load  # noqa: E402

PASSWORD = "robust-密码-1"
REPORT = "柳州市教育局2022年法治政府建设情况报告"
QUESTION = "2022年审查了多少份重大行政决策？"


@dataclass
class App:
    proc: subprocess.Popen
    url: str
    work: Path
    index_dir: Path
    log: Path
    statuses: list[dict] = field(default_factory=list)  # /status until ready, from the moment the page answered
    page_statuses: list[str] = field(default_factory=list)  # the page's status line (its load handler) meanwhile
    first_answer: object = None  # gradio_client's /ask right after start: the answer dict, or the exception

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


def fn_index(url: str, api_name: str) -> int:
    """The index of a page event (private events have no API name clients can use, but the page calls them so)."""
    config = httpx.get(f"{url}config", timeout=30).json()
    return next(d["id"] for d in config["dependencies"] if d.get("api_name") == api_name)


def queue_call(url: str, index: int, data: list, timeout: float = 180.0) -> dict:
    """Run a page event exactly as the browser does (queue/join, then the session's event stream)."""
    session = uuid.uuid4().hex[:12]
    with httpx.Client(base_url=f"{url}gradio_api/", timeout=timeout) as http:
        r = http.post("queue/join", json={"data": data, "fn_index": index, "session_hash": session,
                                          "event_data": None, "trigger_id": None})
        r.raise_for_status()
        with http.stream("GET", "queue/data", params={"session_hash": session}) as s:
            for line in s.iter_lines():
                if line.startswith("data:"):
                    msg = json.loads(line[5:])
                    if msg.get("msg") == "process_completed":
                        return msg
    raise RuntimeError("event stream ended without a result")


def http_upload(url: str, name: str, content: bytes) -> httpx.Response:
    """POST a file to Gradio's upload route, as the page's file picker does."""
    return httpx.post(f"{url}gradio_api/upload", files=[("files", (name, content, "application/octet-stream"))],
                      timeout=60)


def upload_event(app: App, paths_and_names: list[tuple[str, str]], password: str) -> dict:
    """The upload button's handler on files already POSTed (server path, name the browser gave)."""
    files = [{"path": p, "orig_name": n, "meta": {"_type": "gradio.FileData"}} for p, n in paths_and_names]
    return queue_call(app.url, fn_index(app.url, "upload"), [files, password])


def ask(url: str, question: str) -> tuple[str, object]:
    with httpx.Client() as http:
        return load.call(http, url, "ask", question, "全部", "全部", timeout=120)


@pytest.fixture(scope="module")
def app(engine, tmp_path_factory):
    """The app on a copy of the session index; records /status and a gradio_client /ask from its first second."""
    from gradio_client import Client

    work = tmp_path_factory.mktemp("robust-app")
    index_dir = work / "index"
    shutil.copytree(engine.settings.index_dir, index_dir)
    log = work / "app.log"
    proc, url = load.launch(index_dir, log, {"ASSISTANT_ADMIN_PASSWORD": PASSWORD, "ASSISTANT_UPLOAD_MAX_MB": "2",
                                             "ASSISTANT_UPLOAD_FAIL_DELAY_S": "0.5"})
    a = App(proc, url, work, index_dir, log)
    try:
        deadline = time.monotonic() + 300
        while True:  # the page is up before the engine: catch it as early as possible
            assert proc.poll() is None, a.log_text()
            assert time.monotonic() < deadline, a.log_text()
            try:
                if httpx.get(url, timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.05)

        def first_question() -> None:
            try:
                a.first_answer = Client(url, verbose=False).predict(QUESTION, "全部", "全部", api_name="/ask")
            except Exception as e:  # noqa: BLE001 — recorded, judged by the test
                a.first_answer = e

        asker = threading.Thread(target=first_question)
        asker.start()
        with httpx.Client() as http:
            while not (a.statuses and a.statuses[-1]["ready"]):
                assert time.monotonic() < deadline, (a.statuses, a.log_text())
                kind, status = load.call(http, url, "status", timeout=30)
                assert kind == "complete", status
                a.statuses.append(status)
                if not status["ready"]:
                    a.page_statuses.append(queue_call(url, fn_index(url, "refresh_1"), [])["output"]["data"][0])
                time.sleep(0.1)
        asker.join(timeout=120)
        yield a
    finally:
        load.stop(proc)


# =============================================================================================
# 1. While loading
# =============================================================================================


def test_ask_right_after_start_waits_and_answers(app):
    """/ask during loading waits for the engine (ASSISTANT_ASK_WAIT_S) and answers; it never says found=false."""
    assert isinstance(app.first_answer, dict), app.first_answer
    assert app.first_answer["found"] is True and "重大行政决策9份" in app.first_answer["answer"]
    assert app.first_answer["citations"][0]["doc"] == REPORT


def test_status_while_loading_says_loading_not_building(app):
    loading = [s for s in app.statuses if not s["ready"]]
    assert loading, f"the app was ready before its first /status: {app.statuses}"
    for s in loading:
        assert s["phase"] == "loading" and s["error"] is None, s
        assert s["message"] == ui.LOADING_EXISTING and "正在加载" in s["message"] and "建立" not in s["message"]
    assert ui.LOADING_EXISTING in app.page_statuses, app.page_statuses  # the page's status line says the same
    assert all(s == ui.LOADING_EXISTING or s.startswith("索引就绪") for s in app.page_statuses), app.page_statuses
    assert app.statuses[-1]["phase"] == "ready" and app.statuses[-1]["message"].startswith("索引就绪：17 个文件")


def test_loading_phases_and_errors_in_process(tmp_path, caplog):
    """Not ready after the wait → EngineUnavailable naming the phase; building shows %; a failed load hides paths."""
    state = ui.AppState(Settings(_env_file=None, index_dir=tmp_path / "none"))
    with pytest.raises(ui.EngineUnavailable, match="^索引尚未就绪：正在加载嵌入模型"):
        state.require_ready(0.05)
    state.phase = "building"
    state._on_progress(0.42, "中华人民共和国民法典.md")
    assert state.status()["message"] == "首次启动：正在建立索引 42%（中华人民共和国民法典.md）"

    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    broken = ui.AppState(Settings(_env_file=None, index_dir=blocker, docs_dirs=[]))
    broken._load()  # the real loading code, synchronously: Chroma cannot open a file as its folder
    status = broken.status()
    assert status["phase"] == "error" and status["error"] == ui.LOAD_FAILED and not status["ready"]
    assert str(tmp_path) not in json.dumps(status, ensure_ascii=False)
    assert str(blocker) in caplog.text  # the details are in the console log
    with pytest.raises(ui.EngineUnavailable, match=ui.LOAD_FAILED):
        broken.ask("问题", wait=5)


# =============================================================================================
# 3. Access
# =============================================================================================


def _listening(port: int) -> list[str]:
    """Local addresses (hex, as in /proc/net/tcp*) of the sockets listening on ``port``."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.rsplit(":", 1)
            if state == "0A" and int(hex_port, 16) == port:
                found.append(address)
    return found


def test_bound_to_loopback_by_default(app):
    assert Settings(_env_file=None).host == "127.0.0.1"
    port = int(app.url.rstrip("/").rsplit(":", 1)[1])
    assert _listening(port) == ["0100007F"]  # 127.0.0.1 only: not 0.0.0.0, not ::


def test_password_compare_and_slow_down(app):
    import inspect

    assert "hmac.compare_digest" in inspect.getsource(ui.password_ok)
    assert ui.password_ok("密码", "密码") and not ui.password_ok("密", "密码") and not ui.password_ok(None, "x")
    assert not ui.password_ok("", None) and not ui.password_ok("", "")  # no password set: nothing matches

    took = []
    for _ in range(2):
        t0 = time.monotonic()
        msg = upload_event(app, [], "wrong")
        took.append(time.monotonic() - t0)
        assert "密码错误" in msg["output"]["data"][0]
    assert took[0] >= 0.5 and took[1] >= 1.0, took  # n-th failure waits n × 0.5 s
    msg = upload_event(app, [], PASSWORD)  # the right password resets the count
    assert "请先选择要上传的文件" in msg["output"]["data"][0]
    t0 = time.monotonic()
    upload_event(app, [], "wrong again")
    assert 0.5 <= time.monotonic() - t0 < 1.0 + 0.5, "the count was not reset by the right password"
    assert app.log_text().count("wrong upload password from 127.0.0.1") == 3
    assert not (app.index_dir / "uploads").exists() or not any((app.index_dir / "uploads").iterdir())


@pytest.mark.parametrize("name, expected", [
    ("../../逃逸.txt", "逃逸.txt"), ("/etc/cron.d/x.md", "x.md"), ("..\\..\\win.txt", "win.txt"),
    ("C:\\Windows\\a.pdf", "a.pdf"), ("a\x00b.txt", "ab.txt"), ("..", "upload.txt"), ("", "upload.txt"),
    (".bashrc", "bashrc"), ("../.txt", "txt"), ("换\n行.txt", "换行.txt"), (" ..隐藏.md", "隐藏.md"),
    ("长" * 300 + ".txt", "长" * 110 + ".txt"),
])
def test_safe_upload_name(name, expected):
    assert ui.safe_upload_name(name) == expected


def test_upload_target_stays_in_folder(tmp_path):
    folder = tmp_path / "uploads"
    folder.mkdir()
    for name in ("../../x.txt", "/abs/y.txt", "..\\z.txt", "a/../../b.txt"):
        assert ui.upload_target(folder, name).parent == folder
    (folder / "link.txt").symlink_to(tmp_path / "elsewhere.txt")  # a planted symlink is not written through
    with pytest.raises(ValueError):
        ui.upload_target(folder, "link.txt")


def test_upload_names_cannot_escape_through_the_real_handler(app):
    sent = {"../../逃逸.txt": "逃逸", "/tmp/绝对路径.txt": "绝对路径", "..\\..\\反斜杠.txt": "反斜杠"}
    uploaded = []
    for name, word in sent.items():
        r = http_upload(app.url, name, f"关于{word}测试的通知\n\n{word}测试定于下周一举行。\n".encode())
        assert r.status_code == 200, r.text
        uploaded.append((r.json()[0], name))
    msg = upload_event(app, uploaded, PASSWORD)
    report = msg["output"]["data"][0].replace("\\", "")
    assert "导入完成：3 个文件已加入索引" in report, report
    uploads = app.index_dir / "uploads"
    assert sorted(p.name for p in uploads.iterdir()) == sorted(["逃逸.txt", "绝对路径.txt", "反斜杠.txt"])
    stray = [p for p in app.work.rglob("*.txt") if p.parent != uploads]
    assert stray == [] and not Path("/tmp/绝对路径.txt").exists()

    # a file the client did not upload (a path on the server) is refused, and the refusal names no path
    outside = Path(__file__).resolve().parents[1] / "data" / "corpus" / "reports" / f"{REPORT}.txt"
    msg = upload_event(app, [(str(outside), "x.txt")], PASSWORD)
    assert msg["success"] is False and str(outside.parent) not in json.dumps(msg, ensure_ascii=False)
    assert sorted(p.name for p in uploads.iterdir()) == sorted(["逃逸.txt", "绝对路径.txt", "反斜杠.txt"])


def test_size_and_type_limits_on_the_server(app):
    uploads = app.index_dir / "uploads"
    before = sorted(p.name for p in uploads.iterdir()) if uploads.exists() else []
    big = http_upload(app.url, "大文件.txt", "很长的文字。".encode() * 150_000)  # 2.6 MB > 2 MB, sent by hand
    assert big.status_code == 413 and "/tmp" not in big.text and str(app.work) not in big.text
    exe = http_upload(app.url, "程序.exe", b"MZ\x90\x00" + b"\x00" * 100)
    assert exe.status_code == 200  # Gradio stores it; the handler side refuses it
    png = http_upload(app.url, "图片.txt", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)  # an image renamed .txt
    msg = upload_event(app, [(exe.json()[0], "程序.exe")], PASSWORD)
    assert msg["success"] is False and "/tmp" not in str(msg["output"].get("error"))
    msg = upload_event(app, [(png.json()[0], "图片.txt")], PASSWORD)
    report = msg["output"]["data"][0].replace("\\", "")
    assert "没有导入任何文件" in report and "✗ 图片.txt" in report and "/tmp" not in report
    assert (sorted(p.name for p in uploads.iterdir()) if uploads.exists() else []) == before


def test_visitor_errors_are_generic(app):
    """An internal failure reaches the visitor as a Chinese sentence without paths or traceback; the console has it."""
    kind, message = ask_raw(app.url, ["问题", "全部", ["not", "a", "label"]])
    assert kind == "error" and message == ui.INTERNAL_ERROR
    assert "handler ask failed" in app.log_text() and "TypeError" in app.log_text()
    kind, message = ask_raw(app.url, ["问题", "全部", "小说"])  # a message written for visitors passes unchanged
    assert kind == "error" and "未知的文件类型：小说" in message


def ask_raw(url: str, data: list) -> tuple[str, object]:
    with httpx.Client() as http:
        return load.call(http, url, "ask", *data, timeout=60)


def test_visitor_text_hides_paths():
    assert ui.visitor_text("与 /srv/policy-docs/a.txt 内容相同") == "与 … 内容相同"
    assert ui.visitor_text("处理失败 / failed: OSError: '/root/x/y.pdf'") == "处理失败 / failed: OSError: '…'"
    assert ui.visitor_text("C:\\Users\\x\\a.docx 无法读取") == "… 无法读取"
    assert ui.visitor_text("报告/法律/法规，txt / md") == "报告/法律/法规，txt / md"  # not paths: kept


def test_hostile_names_on_disk_through_ingest_uploads(small_engine, tmp_path):
    """Names that are legal on Linux but hostile elsewhere, through the real handler code and a real index."""
    eng = small_engine()
    state = ui.AppState(eng.settings, eng)
    src = tmp_path / "in"
    src.mkdir()
    names = {"..\\..\\反斜杠.txt": "反斜杠.txt", "换\n行.md": "换行.md", " ..点开头.txt": "点开头.txt"}
    for i, name in enumerate(names):
        (src / name).write_text(f"第{i}份通知\n\n本通知的编号为第{i}号，内容为测试文件名处理。\n", encoding="utf-8")
    report = state.ingest_uploads([src / n for n in names], lambda f, n: None).replace("\\", "")
    uploads = eng.settings.index_dir / "uploads"
    assert sorted(p.name for p in uploads.iterdir()) == sorted(names.values()), report
    stray = [p for p in tmp_path.rglob("*") if p.parent not in (src, uploads) and any(
        w in p.name for w in ("反斜杠", "行", "点开头"))]
    assert stray == []


# =============================================================================================
# 2. Load: questions during an upload, and bench/load.py
# =============================================================================================

MASCOT = "本次读书节的吉祥物是一只名叫“墨墨”的蓝色河马。"


def reading_festival(paragraphs: int) -> str:
    """A generated notice of ``paragraphs`` distinct paragraphs (about 300 bytes each) plus one unique fact."""
    parts = ["柳州市教育局关于校园读书节活动情况的通报", ""]
    for i in range(1, paragraphs + 1):
        parts += [f"第{i}号学校读书节情况：该校组织学生阅读图书{i * 7 % 900 + 100}册，开展读书分享会{i % 17 + 3}场，"
                  f"评选“书香少年”{i % 23 + 5}名，家长参与{i * 13 % 400 + 50}人次。活动期间，学校图书馆延长开放时间，"
                  f"每周开放{i % 5 + 40}小时，并邀请本地作家到校讲座{i % 4 + 1}次，学生撰写读后感{i * 11 % 700 + 200}篇。", ""]
    parts.append(MASCOT)
    return "\n".join(parts)


def test_questions_are_answered_while_an_upload_is_ingested(app):
    """A larger upload is embedded for seconds; meanwhile /ask answers from the index as it was, without waiting."""
    r = http_upload(app.url, "读书节通报.txt", reading_festival(250).encode("utf-8"))  # ~75 KB, ~50 passages
    assert r.status_code == 200
    result: dict = {}
    uploader = threading.Thread(
        target=lambda: result.update(upload_event(app, [(r.json()[0], "读书节通报.txt")], PASSWORD)))
    t_start = time.monotonic()
    uploader.start()
    answered_during, latencies = 0, []
    with httpx.Client() as http:
        while uploader.is_alive() and time.monotonic() - t_start < 300:
            kind, status = load.call(http, app.url, "status", timeout=30)
            if not status["ingesting"]:
                time.sleep(0.1)
                continue
            t0 = time.monotonic()
            kind, got = load.call(http, app.url, "ask", QUESTION, "全部", "全部", timeout=120)
            latencies.append(time.monotonic() - t0)
            assert kind == "complete" and got["found"] and "重大行政决策9份" in got["answer"], got
            if load.call(http, app.url, "status", timeout=30)[1]["ingesting"]:
                answered_during += 1
    uploader.join(timeout=300)
    ingest_s = time.monotonic() - t_start
    report = result["output"]["data"][0].replace("\\", "")
    assert "导入完成：1 个文件已加入索引" in report, report
    assert answered_during >= 2, (answered_during, latencies, ingest_s)
    assert max(latencies) < max(10.0, ingest_s / 2), (latencies, ingest_s)  # never waited for the whole ingest
    kind, got = ask(app.url, "读书节的吉祥物是什么？")  # the new document, once swapped in
    assert kind == "complete" and got["found"] and "墨墨" in got["answer"], got
    assert got["citations"][0]["doc"] == "读书节通报"


def test_load_script_short_run(app):
    """bench/load.py against the running app: 4 clients × 5 s, zero errors, figures printed."""
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "load.py"), "--url", app.url, "--pid",
                          str(app.proc.pid), "--clients", "4", "--duration", "5", "--json"],
                         capture_output=True, text=True, timeout=180, cwd=ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    assert figures["errors"] == 0 and figures["requests"] >= 4, figures
    assert figures["p50_ms"] > 0 and figures["rps"] > 0 and figures["rss_before_mb"] > 100, figures
    refused = subprocess.run([sys.executable, str(ROOT / "bench" / "load.py"), "--url", "http://example.com/"],
                             capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert refused.returncode == 2 and "loopback" in refused.stderr  # never sends load elsewhere


def test_upload_while_another_ingest_holds_the_index(small_engine, tmp_path):
    """`assistant ingest` (or any other writer) holding the index: the upload is refused cleanly, nothing copied."""
    from assistant.index_lock import ingest_lock

    eng = small_engine()
    state = ui.AppState(eng.settings, eng)
    doc = tmp_path / "通知.txt"
    doc.write_text("关于放假的通知\n\n定于十月一日起放假七天。\n", encoding="utf-8")
    out: list[str] = []
    with ingest_lock(eng.settings.index_dir):
        worker = threading.Thread(target=lambda: out.append(state.ingest_uploads([doc], lambda f, n: None)))
        worker.start()
        worker.join(timeout=60)
    assert out and "另一个导入正在写入这个索引" in out[0] and str(tmp_path) not in out[0]
    assert not any((eng.settings.index_dir / "uploads").iterdir()) and not state.ingesting
