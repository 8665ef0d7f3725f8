"""The app's state: the engine, built (and the index with it) in the background so the page is up at once;
the upload checks and the password comparison that guard it. No Gradio."""

from __future__ import annotations

import hmac
import json
import logging
import re
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from assistant.index_lock import IngestBusy
from assistant.schema import Answer, Chunk
from assistant.settings import Settings
from assistant.ui.render import md_escape, neighbours

log = logging.getLogger(__name__)

UPLOAD_SUFFIXES = (".txt", ".md", ".docx", ".pdf", ".html", ".htm", ".png", ".jpg", ".jpeg", ".tif", ".tiff")

#: Status lines. 正在加载 = opening an index that exists; 正在建立索引 = embedding documents into an empty one.
LOADING_EXISTING = "正在加载已有索引（读取段落、准备关键词检索、载入嵌入模型）…"
LOADING_MODEL = "正在加载嵌入模型…"
BUILDING = "首次启动：正在建立索引 {pct:.0f}%（{name}）"
BUILT = "首次启动：索引已建立，正在准备检索…"
#: Upload progress (the text Gradio shows over the upload result): one line per file, then the closing step.
UPLOADING = "正在导入 {name}"
UPLOAD_FINISHING = "正在更新检索…"
NOT_READY = "索引尚未就绪：{message}。请稍后再试。"
LOAD_FAILED = "索引加载失败，请联系管理员查看服务器日志。"


def progress_text(fraction: float, name: str, template: str = UPLOADING, done: str = UPLOAD_FINISHING) -> str:
    """The visitor's progress line for an ingest step. ``ingest`` reports each file by name and then
    ``(1.0, "done")``: that last step gets ``done`` (Chinese) instead of the English sentinel, and a file name
    never shows a path (:func:`safe_upload_name`)."""
    if fraction >= 1.0:
        return done
    return template.format(pct=fraction * 100, name=safe_upload_name(name))


#: The built-in example questions per user group (``ASSISTANT_UI_EXAMPLES`` replaces them). They name no city or
#: body: a deployment on other documents shows those its index answers (:meth:`AppState.shown_examples`).
#: Each one is checked against the bundled corpus in tests/test_ui.py.
EXAMPLES: dict[str, list[str]] = {
    "机关工作人员": [
        "2022年审查了多少份重大行政决策？",
        "教育局2022年在未成年人保护方面做了哪些工作？",
        "禁毒知识竞赛的参与率和平均分是多少？",
    ],
    "学生和家长": [
        "学校对学生欺凌应该怎么处理？",
        "学生在学校受到人身损害，学校承担什么责任？",
        "学校可以体罚学生吗？",
    ],
    "法律顾问": [
        "《中华人民共和国未成年人保护法》第三十九条",
        "民法典第一千二百条",
        "行政诉讼法第三条第三款",
    ],
}

_EXAMPLES_SHAPE = '{"用户组": ["问题", …], …}'


class ExamplesError(ValueError):
    """The example-questions file cannot be used; the message (Chinese, for the administrator) says why."""


def load_examples(path: Path | None) -> dict[str, list[str]]:
    """The example questions per user group: :data:`EXAMPLES`, or those of the JSON file ``path``.

    Blank questions and groups left empty are dropped; anything else that is not ``{"group": ["question", …]}``
    raises :class:`ExamplesError` naming the file and the problem, so a deployment learns at start-up, not from
    an empty examples area.
    """
    if path is None:
        return {group: list(questions) for group, questions in EXAMPLES.items()}
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ExamplesError(f"示例问题文件不存在：{path}") from None
    except UnicodeDecodeError:
        raise ExamplesError(f"示例问题文件不是 UTF-8 编码：{path}") from None
    except OSError as e:
        raise ExamplesError(f"示例问题文件无法读取：{path}（{e.strerror or e}）") from None
    except json.JSONDecodeError as e:
        raise ExamplesError(f"示例问题文件不是有效的 JSON：{path}，第 {e.lineno} 行第 {e.colno} 列附近有错。") from None
    if not isinstance(data, dict):
        raise ExamplesError(f"示例问题文件的内容应当是 {_EXAMPLES_SHAPE}：{path}")
    out: dict[str, list[str]] = {}
    for group, questions in data.items():
        if not isinstance(questions, list) or not all(isinstance(q, str) for q in questions):
            raise ExamplesError(f"示例问题文件中「{group}」的值应当是问题（文字）的列表，形如 {_EXAMPLES_SHAPE}：{path}")
        kept = [q.strip() for q in questions if q.strip()]
        if group.strip() and kept:
            out[group.strip()] = kept
    if not out:
        raise ExamplesError(f"示例问题文件中没有任何问题：{path}")
    return out


class EngineUnavailable(RuntimeError):
    """The engine is still loading (or failed to load). Never to be shown as "the documents do not answer"."""


def loading_message(settings: Settings) -> str:
    """What start-up is loading: an existing index (a Chroma server, or a folder holding one) or only the model."""
    existing = bool(settings.chroma_host) or (Path(settings.index_dir) / "chroma.sqlite3").is_file()
    return LOADING_EXISTING if existing else LOADING_MODEL


def password_ok(given: str | None, expected: str | None) -> bool:
    """Constant-time comparison (hmac.compare_digest), so the answer time does not leak how much matched."""
    if not expected:
        return False
    return hmac.compare_digest((given or "").encode("utf-8"), expected.encode("utf-8"))


class FailureThrottle:
    """A growing delay after wrong passwords: the n-th consecutive failure of a client waits n × ``base`` seconds
    (at most ``cap``) before it is answered; a success resets that client. With the upload handler's
    concurrency limit of 1, guesses are also serialised, so guessing costs real time, not only for one client.
    """

    def __init__(self, base: float, cap: float = 30.0) -> None:
        self.base, self.cap = base, cap
        self.failures: dict[str, int] = {}
        self._lock = threading.Lock()

    def failed(self, client: str) -> float:
        """Count a failure; returns the delay to apply now."""
        with self._lock:
            n = self.failures[client] = self.failures.get(client, 0) + 1
        return min(self.base * n, self.cap)

    def succeeded(self, client: str) -> None:
        with self._lock:
            self.failures.pop(client, None)


_PATHLIKE = re.compile(r"""(?<![^\s(（:：'"“])(?:[A-Za-z]:)?(?:[\\/][^\s\\/:：，,；;'"”)）]+){2,}[\\/]?""")


def visitor_text(text: str) -> str:
    """``text`` with anything that looks like a file-system path (two or more components) replaced by "…"."""
    return _PATHLIKE.sub("…", text)


def safe_upload_name(name: str) -> str:
    """The last component of an uploaded file's name (``/`` and ``\\`` both count), without NUL, control and
    reserved characters, leading dots or spaces, and at most 120 characters: never a path, never a dot file."""
    name = name.replace("\\", "/").split("/")[-1]
    name = re.sub(r'[\x00-\x1f\x7f:*?"<>|]', "", name).strip(" .")
    stem, dot, suffix = name.rpartition(".")
    if dot and len(suffix) <= 10:
        name = f"{stem[:110].rstrip(' .')}.{suffix}" if stem.strip(" .") else ""
    else:
        name = name[:120]
    return name or "upload.txt"


def upload_target(folder: Path, name: str) -> Path:
    """``folder / safe_upload_name(name)``, checked to resolve to a direct child of ``folder`` (not through a
    symlink that points elsewhere); ValueError otherwise."""
    target = folder / safe_upload_name(name)
    if target.resolve().parent != folder.resolve():
        raise ValueError(f"upload target outside {folder}: {target}")
    return target


class AppState:
    """Owns the Engine. ``start()`` loads it and builds a missing index in a thread; ``ready`` tells when done.

    ``lock`` guards the engine's in-memory views: a question holds it while it runs, an upload only for the
    moment it renews the retriever's views, so questions never wait for an ingest (see :meth:`ingest_uploads`).
    """

    def __init__(self, settings: Settings, engine=None) -> None:
        self.settings = settings
        self.engine = engine
        self.ready = threading.Event()
        self.lock = threading.RLock()
        self.ingest_lock = threading.Lock()  # one ingest at a time
        self.ingesting = False
        self.phase = "loading"  # loading → (building →) ready, or error
        self.progress = 0.0
        self.message = loading_message(settings)
        self.error: str | None = None
        self.throttle = FailureThrottle(settings.upload_fail_delay_s)
        self.examples = load_examples(settings.ui_examples)
        self.answered: set[str] | None = None  # the examples the index answers; None until it is ready
        if engine is not None:
            self._mark_ready()

    def start(self) -> None:
        if not self.ready.is_set():
            threading.Thread(target=self._load, name="index-builder", daemon=True).start()

    def _load(self) -> None:
        try:
            if self.engine is None:
                from assistant.engine import Engine

                self.engine = Engine(self.settings)
            warm = getattr(self.engine, "warm", None)  # model and dictionary now, not in the first question
            if warm is not None:
                warm()
            if self.engine.store.count() == 0:
                self.phase, self.message = "building", BUILDING.format(pct=0, name="…")
                self.engine.ensure_index(progress=True, on_progress=self._on_progress)
            self._mark_ready()
        except Exception:  # the console gets the traceback; visitors a message without paths
            log.exception("loading the engine failed")
            self.phase, self.error, self.message = "error", LOAD_FAILED, LOAD_FAILED

    def _on_progress(self, fraction: float, name: str) -> None:
        self.progress = fraction
        self.message = progress_text(fraction, name, BUILDING, BUILT)

    def _mark_ready(self) -> None:
        self.check_examples()  # first: until ready is set, /status must not say phase "ready"
        self.progress = 1.0
        self.phase = "ready"
        self.refresh_message()
        self.ready.set()

    def check_examples(self) -> None:
        """Ask every example question once (about 10 ms each) and keep those the index answers: an example that
        gets 「没有找到」 on this deployment's documents is not offered. A question that fails is left out and
        logged; the start-up goes on."""
        answered: set[str] = set()
        for q in dict.fromkeys(q for questions in self.examples.values() for q in questions):
            try:
                with self.lock:
                    if self.engine.ask(q).found:
                        answered.add(q)
            except Exception:
                log.exception("example question %r failed", q)
        self.answered = answered
        hidden = [q for questions in self.examples.values() for q in questions if q not in answered]
        if hidden:
            log.warning("示例问题未显示（当前索引无法回答）：%s", "；".join(hidden))

    def shown_examples(self) -> dict[str, list[str]]:
        """The example questions to show, per group (groups with none left are omitted); none before the check."""
        if self.answered is None:
            return {}
        shown = {g: [q for q in qs if q in self.answered] for g, qs in self.examples.items()}
        return {g: qs for g, qs in shown.items() if qs}

    def refresh_message(self) -> None:
        r = self.engine.retriever
        self.message = f"索引就绪：{len(r.titles)} 个文件，{len(r.chunks)} 个段落。"

    # ---- what the page and the API ask of the engine ----------------------------------------
    def status(self) -> dict[str, Any]:
        """``phase``: loading (opening an existing index) / building (embedding into an empty one) / ready / error."""
        return {"ready": self.ready.is_set(), "phase": self.phase, "progress": round(self.progress, 3),
                "message": self.message, "error": self.error, "ingesting": self.ingesting}

    def titles(self) -> list[str]:
        return sorted(self.engine.retriever.titles) if self.ready.is_set() else []

    def documents(self) -> list[dict[str, Any]]:
        return self.engine.store.documents() if self.ready.is_set() else []

    def require_ready(self, wait: float = 0.0) -> None:
        """Wait up to ``wait`` seconds for the engine; EngineUnavailable (with what is going on) if it is not there."""
        if self.error is None and not self.ready.wait(wait):
            if self.error is None:
                raise EngineUnavailable(NOT_READY.format(message=self.message.rstrip("。…")))
        if self.error is not None:
            raise EngineUnavailable(self.error)

    def ask(self, question: str, doc: str | None = None, doc_type: str | None = None,
            context_title: str | None = None, wait: float = 0.0, history: list[str] | None = None) -> Answer:
        """The engine's answer; EngineUnavailable while it is not loaded after ``wait`` seconds (never found=False).
        ``history``: the conversation's earlier questions (a follow-up is answered as the question it continues)."""
        self.require_ready(wait)
        with self.lock:
            return self.engine.ask(question, doc=doc, doc_type=doc_type, context_title=context_title, history=history)

    def ask_stream(self, question: str, doc: str | None = None, doc_type: str | None = None,
                   context_title: str | None = None, history: list[str] | None = None) -> Iterator[Answer]:
        """Partial answers while a configured model writes, then the final one (one answer without a model). The
        engine lock is held while the index is read, not while the model writes (Engine.ask_stream's guard)."""
        self.require_ready(0.0)
        yield from self.engine.ask_stream(question, history=history, guard=self.lock, doc=doc, doc_type=doc_type,
                                          context_title=context_title)

    def context(self, answer: Answer) -> dict[str, tuple[Chunk | None, Chunk | None]]:
        """Previous and next passage of each cited one (for the expander)."""
        with self.lock:
            r = self.engine.retriever
            return {c.chunk.id: neighbours(r.chunks, r.by_id, c.chunk) for c in answer.citations}

    def _reload_views(self) -> None:
        """Bring the retriever's in-memory views (chunks, BM25, article table) in step with the store after an
        ingest, under ``lock``: ``Retriever.reload`` assigns them one after another, and a question must not
        see half of them. It only applies this process's writes to the keyword index, so the lock is held for
        a fraction of a second; until then questions are answered from the views as they were (dense hits on
        passages they do not know yet are ignored)."""
        with self.lock:
            self.engine.retriever.reload()

    def ingest_uploads(self, files: Sequence[str | Path], on_progress: Callable[[float, str], None]) -> str:
        """Check, copy into ``index_dir/uploads`` and ingest; returns a Markdown report.

        Every limit is enforced here, on the server: type (suffix, then content via the loaders), size, and the
        name (:func:`upload_target`). A file that is rejected or fails to load leaves the uploads folder and the
        index as they were. The ingest writes to the store without the question lock; the retriever's views are
        renewed at the end (:meth:`_reload_views`), so questions keep being answered meanwhile.
        """
        limit = self.settings.upload_max_mb
        lines: list[str] = []
        accepted: list[tuple[Path, str]] = []  # (received file, safe name)
        for f in files:
            p = Path(f)
            name = safe_upload_name(p.name)
            if Path(name).suffix.lower() not in UPLOAD_SUFFIXES:
                lines.append(f"- ✗ {md_escape(name)}：不支持的文件类型（支持 {'、'.join(UPLOAD_SUFFIXES)}）")
            elif not p.is_file():
                lines.append(f"- ✗ {md_escape(name)}：文件没有上传成功")
            elif p.stat().st_size > limit * 2**20:
                lines.append(f"- ✗ {md_escape(name)}：文件过大（{p.stat().st_size / 2**20:.1f} MB，上限 {limit:g} MB）")
            else:
                accepted.append((p, name))
        if not accepted:
            return "\n".join(["**没有导入任何文件。**", *lines])
        from assistant.ingest.pipeline import ingest

        folder = Path(self.settings.index_dir) / "uploads"
        folder.mkdir(parents=True, exist_ok=True)
        with self.ingest_lock, tempfile.TemporaryDirectory(prefix="uploads-backup-") as backup:
            copies: dict[str, tuple[Path, Path | None]] = {}  # target → (copy, backup of the file it replaced)

            def undo(key: str) -> None:
                target, saved = copies.pop(key)
                if saved is not None:
                    shutil.copy2(saved, target)
                else:
                    target.unlink(missing_ok=True)

            self.ingesting = True
            try:
                for p, name in accepted:
                    target = upload_target(folder, name)
                    key = str(target.resolve())
                    if key in copies:
                        lines.append(f"- ✗ {md_escape(name)}：本次已上传同名文件")
                        continue
                    saved = None
                    if target.exists():
                        saved = Path(backup) / target.name
                        shutil.copy2(target, saved)
                    copies[key] = (target, saved)
                    shutil.copyfile(p, target)
                report = ingest([t for t, _ in copies.values()], self.engine.store, True, on_progress)
            except BaseException as e:
                for key in list(copies):
                    undo(key)
                if isinstance(e, IngestBusy):  # e.g. `assistant ingest` on the same folder; its message has paths
                    return "**没有导入任何文件。** 另一个导入正在写入这个索引，请等它结束后再试。"
                raise
            finally:
                self.ingesting = False
            self._reload_views()
            self.check_examples()  # a new document may answer an example; shown from the next page load
            for path, reason in report.skipped:  # undo the copy of every file that did not make it in
                key = str(Path(path).resolve())
                if key in copies:
                    undo(key)
                lines.append(f"- ✗ {md_escape(Path(path).name)}：{md_escape(visitor_text(reason))}")
            lines += [f"- ⚠ {md_escape(Path(p).name)}：{md_escape(visitor_text(n))}" for p, n in report.notes]  # OCR
            ok = [t for t, _ in copies.values()]
        head = [f"**导入完成：{len(ok)} 个文件已加入索引。**" if ok else "**没有导入任何文件。**"]
        head += [f"- ✓ {md_escape(t.name)}" for t in ok]
        summary = report.summary().splitlines()[0]
        return "\n".join([*head, *lines, "", md_escape(summary)])
