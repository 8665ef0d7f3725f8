"""The Gradio web app: chat with cited passages, a sources panel, filters, the corpus list and uploads.

Only presentation lives here: every question and every ingest goes through :class:`assistant.engine.Engine`.
The functions that turn answers and documents into HTML/Markdown are pure (no Gradio, no engine), so they
are unit-tested without a browser.

Start with ``python app.py`` or ``assistant serve``.
"""

from __future__ import annotations

import os

# The one environment write of the project: no usage analytics / version check from a closed network.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import functools  # noqa: E402
import hmac  # noqa: E402
import html  # noqa: E402
import logging  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import string  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, Callable, Iterator, Sequence  # noqa: E402

import gradio as gr  # noqa: E402
from starlette.middleware import Middleware  # noqa: E402

from assistant.schema import Answer, Chunk  # noqa: E402
from assistant.settings import Settings, get_settings  # noqa: E402
from assistant.ui_check import build_check_tab  # noqa: E402

log = logging.getLogger(__name__)

ALL = "全部"
TYPE_LABELS = {"report": "报告", "law": "法律", "regulation": "法规", "other": "其他"}
TYPE_CODES = {v: k for k, v in TYPE_LABELS.items()}
UPLOAD_SUFFIXES = (".txt", ".md", ".docx", ".pdf", ".html", ".htm")

#: Example questions per user group. Each one is checked against the real index in tests/test_ui.py.
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
        "禁毒法第九十九条",
    ],
}

NO_ANSWER_NOTE = "现有文件无法回答这个问题，因此没有引用来源。"
SOURCES_PLACEHOLDER = "提问后，这里会列出回答所引用的原文段落。"
#: Status lines. 正在加载 = opening an index that exists; 正在建立索引 = embedding documents into an empty one.
LOADING_EXISTING = "正在加载已有索引（读取段落、准备关键词检索、载入嵌入模型）…"
LOADING_MODEL = "正在加载嵌入模型…"
BUILDING = "首次启动：正在建立索引 {pct:.0f}%（{name}）"
NOT_READY = "索引尚未就绪：{message}。请稍后再试。"
WAITING = "请稍候：{message}"
LOAD_FAILED = "索引加载失败，请联系管理员查看服务器日志。"
INTERNAL_ERROR = "抱歉，服务器处理时出错了，请稍后再试。（详细信息已记录在服务器日志中）"

# ---------------------------------------------------------------------------------------------
# Pure builders: answer / documents → Markdown or HTML. No Gradio, no engine.
# ---------------------------------------------------------------------------------------------

_MD_SPECIAL = set(string.punctuation)
_MARKER = re.compile(r"\[(\d+)\]")
_ITEM = "- "  # an answer line that starts with this is a list item (measures, a plan, problems)


def md_escape(text: str) -> str:
    """Backslash-escape every ASCII punctuation mark, so document text is shown literally by Markdown."""
    return "".join("\\" + ch if ch in _MD_SPECIAL else ch for ch in text)


def answer_markdown(text: str, numbers: Sequence[int] | None = None, turn: int = 1) -> str:
    """The answer as chat Markdown: text escaped, each ``[n]`` marker a link to source card ``#src-{turn}-{n}``.

    Only markers whose number is in ``numbers`` (the citations) become links; ``None`` links them all.
    A line starting with "- " becomes a bullet item (the rest escaped as usual); a blank line ends the list
    before a following line of text, which Markdown would otherwise fold into the last item.
    """
    out: list[str] = []
    in_list = False
    for line in text.split("\n"):
        item = line.startswith(_ITEM)
        if in_list and not item and line.strip():
            out.append("")
        out.append("- " + _linked(line[len(_ITEM):], numbers, turn) if item else _linked(line, numbers, turn))
        in_list = item
    return "\n".join(out)


def _linked(text: str, numbers: Sequence[int] | None, turn: int) -> str:
    out, pos = [], 0
    for m in _MARKER.finditer(text):
        n = int(m.group(1))
        if numbers is not None and n not in numbers:
            continue
        out.append(md_escape(text[pos : m.start()]))
        out.append(f"[\\[{n}\\]](#src-{turn}-{n})")
        pos = m.end()
    out.append(md_escape(text[pos:]))
    return "".join(out)


def stream_pieces(text: str, max_steps: int = 30) -> list[str]:
    """Growing prefixes of ``text`` for incremental display; a ``[n]`` marker or an item's "- " is never cut."""
    if not text:
        return [""]
    step = max(8, -(-len(text) // max_steps))
    cuts, pos = [], 0
    markers = [(m.start(), m.end()) for m in re.finditer(rf"{_MARKER.pattern}|^{_ITEM}", text, re.MULTILINE)]
    while pos < len(text):
        pos = min(pos + step, len(text))
        for s, e in markers:
            if s < pos < e:
                pos = e
        cuts.append(pos)
    return [text[:c] for c in cuts]


def highlight(text: str, spans: Sequence[tuple[int, int]]) -> str:
    """``text`` HTML-escaped, the character ``spans`` wrapped in ``<mark>`` (overlaps merged, out of range clipped)."""
    merged: list[list[int]] = []
    for s, e in sorted((max(0, s), min(len(text), e)) for s, e in spans):
        if e <= s:
            continue
        if merged and s <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])
    out, pos = [], 0
    for s, e in merged:
        out.append(html.escape(text[pos:s]))
        out.append(f"<mark>{html.escape(text[s:e])}</mark>")
        pos = e
    out.append(html.escape(text[pos:]))
    return "".join(out)


def where_label(chunk: Chunk) -> str:
    """Section path and article, e.g. "第三章 学校保护 › 第三十九条"."""
    parts = [p.strip() for p in (chunk.section or "").split(" > ") if p.strip()]
    if chunk.article and chunk.article not in parts:
        parts.append(chunk.article)
    return " › ".join(parts)


def neighbours(chunks: Sequence[Chunk], index: dict[str, int], chunk: Chunk) -> tuple[Chunk | None, Chunk | None]:
    """The previous and next passage of the same source in ``chunks`` (sorted by source, start)."""
    i = index.get(chunk.id)
    if i is None:
        return None, None
    prev = chunks[i - 1] if i > 0 and chunks[i - 1].source == chunk.source else None
    nxt = chunks[i + 1] if i + 1 < len(chunks) and chunks[i + 1].source == chunk.source else None
    return prev, nxt


def sources_html(answer: Answer | None,
                 context: dict[str, tuple[Chunk | None, Chunk | None]] | None = None, turn: int = 1) -> str:
    """The cards of one answer (ids ``src-{turn}-{n}``), or the "documents do not answer" note.

    ``context`` maps a chunk id to its (previous, next) passages for the expander; missing → no expander.
    """
    if answer is None:
        return f'<div class="src-empty">{html.escape(SOURCES_PLACEHOLDER)}</div>'
    if not answer.found or not answer.citations:
        return f'<div class="src-none">{html.escape(NO_ANSWER_NOTE)}</div>'
    scores = {}
    for hit in answer.retrieved:
        scores.setdefault(hit.chunk.id, hit.score)
    cards = [_card(f"{turn}-{c.n}", c.n, c.chunk, c.quoted, scores.get(c.chunk.id), (context or {}).get(c.chunk.id))
             for c in answer.citations]
    return f'<div class="src-list">{"".join(cards)}</div>'


def source_group(turn: int, question: str, answer: Answer,
                 context: dict[str, tuple[Chunk | None, Chunk | None]] | None = None) -> str:
    """One answer's part of the sources panel: its question, then its cards (see :func:`sources_html`)."""
    return (f'<section class="src-turn" id="turn-{turn}" data-turn="{turn}">'
            f'<div class="src-q"><span class="src-q-n">第 {turn} 问</span>{html.escape(question)}</div>'
            f"{sources_html(answer, context, turn)}</section>")


def sources_panel(groups: Sequence[str]) -> str:
    """The sources panel: every answer's :func:`source_group`, newest first; the placeholder before any."""
    if not groups:
        return sources_html(None)
    return f'<div class="src-turns">{"".join(reversed(groups))}</div>'


def _card(key: str, n: int, chunk: Chunk, quoted: Sequence[tuple[int, int]], score: float | None,
          around: tuple[Chunk | None, Chunk | None] | None) -> str:
    type_code = chunk.doc_type if chunk.doc_type in TYPE_LABELS else "other"
    where = where_label(chunk)
    score_html = f'<span class="src-score">相关度 {score:.2f}</span>' if score is not None else ""
    parts = [
        f'<div class="src-card" id="src-{key}" data-n="{n}">',
        '<div class="src-head">',
        f'<span class="src-n">[{n}]</span> ',
        f'<span class="src-title">《{html.escape(chunk.doc)}》</span> ',
        f'<span class="src-type src-type-{type_code}">{TYPE_LABELS[type_code]}</span>',
        "</div>",
        f'<div class="src-where">{html.escape(where)}</div>' if where else "",
        f'<div class="src-text">{highlight(chunk.text, quoted)}</div>',
        f'<div class="src-meta">{score_html}</div>' if score_html else "",
    ]
    prev, nxt = around or (None, None)
    if prev is not None or nxt is not None:
        parts.append('<details class="src-context"><summary>查看上下文</summary>')
        if prev is not None:
            parts.append(f'<div class="ctx ctx-prev"><div class="ctx-label">上文 · {html.escape(where_label(prev))}</div>'
                         f"{html.escape(prev.text)}</div>")
        parts.append(f'<div class="ctx ctx-cur"><div class="ctx-label">本段</div>{html.escape(chunk.text)}</div>')
        if nxt is not None:
            parts.append(f'<div class="ctx ctx-next"><div class="ctx-label">下文 · {html.escape(where_label(nxt))}</div>'
                         f"{html.escape(nxt.text)}</div>")
        parts.append("</details>")
    parts.append("</div>")
    return "".join(parts)


def corpus_html(rows: Sequence[dict[str, Any]]) -> str:
    """The "about the corpus" table from ``Store.documents()`` rows."""
    if not rows:
        return '<div class="src-empty">索引中还没有文件。</div>'
    total = sum(int(r.get("chunks", 0)) for r in rows)
    order = {code: i for i, code in enumerate(TYPE_LABELS)}
    body = []
    for r in sorted(rows, key=lambda r: (order.get(r.get("doc_type", ""), len(order)), str(r.get("doc", "")))):
        label = TYPE_LABELS.get(r.get("doc_type", ""), "其他")
        when = (r.get("ingested_at") or "")[:10]
        info = "<br>".join(html.escape(x.strip()) for x in str(r.get("info") or "").split(" / ") if x.strip()) or "—"
        body.append(
            "<tr>"
            f'<td class="c-doc">{html.escape(str(r.get("doc", "")))}</td>'
            f'<td class="c-nowrap">{html.escape(label)}</td>'
            f'<td class="c-num c-nowrap">{int(r.get("chunks", 0))}</td>'
            f'<td class="c-info">{info}</td>'
            f'<td class="c-nowrap">{html.escape(when)}</td>'
            "</tr>"
        )
    return (
        f'<p class="corpus-sum">共 {len(rows)} 个文件，{total} 个段落。</p>'
        '<table class="corpus"><thead><tr><th>文件</th><th class="c-nowrap">类型</th><th class="c-nowrap">段落数</th>'
        '<th>日期与沿革</th><th class="c-nowrap">导入日期</th></tr></thead>'
        f'<tbody>{"".join(body)}</tbody></table>'
    )


def type_code(label: str | None) -> str | None:
    """"法律" / "law" → "law"; "全部" / "" / None → None (no filter). Unknown labels raise ValueError."""
    if not label or label in (ALL, "all"):
        return None
    if label in TYPE_CODES:
        return TYPE_CODES[label]
    if label in TYPE_LABELS:
        return label
    raise ValueError(f"未知的文件类型：{label}")


def context_title(answer: Answer, previous: str | None) -> str | None:
    """The document a bare "第N条" follow-up refers to: the first article citation's title, else the previous one."""
    for c in answer.citations:
        if c.chunk.article:
            return c.chunk.doc
    return previous


# ---------------------------------------------------------------------------------------------
# Runtime: the engine, built (and the index with it) in the background so the page is up at once.
# ---------------------------------------------------------------------------------------------


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
        self.message = BUILDING.format(pct=fraction * 100, name=safe_upload_name(name))

    def _mark_ready(self) -> None:
        self.progress = 1.0
        self.phase = "ready"
        self.refresh_message()
        self.ready.set()

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
            context_title: str | None = None, wait: float = 0.0) -> Answer:
        """The engine's answer; EngineUnavailable while it is not loaded after ``wait`` seconds (never found=False)."""
        self.require_ready(wait)
        with self.lock:
            return self.engine.ask(question, doc=doc, doc_type=doc_type, context_title=context_title)

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
        from ingest.pipeline import IngestBusy, ingest

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
            for path, reason in report.skipped:  # undo the copy of every file that did not make it in
                key = str(Path(path).resolve())
                if key in copies:
                    undo(key)
                lines.append(f"- ✗ {md_escape(Path(path).name)}：{md_escape(visitor_text(reason))}")
            ok = [t for t, _ in copies.values()]
        head = [f"**导入完成：{len(ok)} 个文件已加入索引。**" if ok else "**没有导入任何文件。**"]
        head += [f"- ✓ {md_escape(t.name)}" for t in ok]
        summary = report.summary().splitlines()[0]
        return "\n".join([*head, *lines, "", md_escape(summary)])


def guarded(fn: Callable) -> Callable:
    """Visitor-facing handlers: an unexpected exception becomes a generic Chinese gr.Error (no exception text, no
    paths, no stack trace); the traceback goes to the console. gr.Error messages written for visitors pass."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except Exception:
            log.exception("handler %s failed", fn.__name__)
            raise gr.Error(INTERNAL_ERROR) from None

    return wrapper


# ---------------------------------------------------------------------------------------------
# The Blocks app
# ---------------------------------------------------------------------------------------------

CSS = """
.gradio-container { max-width: 1400px !important; }
#status { font-size: 0.9em; color: var(--body-text-color-subdued); }
/* Gradio gives the block an inline overflow: visible; without !important an open 查看上下文 spills over the footer */
#sources { max-height: 640px; overflow-y: auto !important; padding-right: 4px; }
.src-turn + .src-turn { margin-top: 14px; padding-top: 10px; border-top: 1px dashed var(--border-color-primary); }
.src-q { font-size: 0.9em; margin-bottom: 6px; color: var(--body-text-color-subdued); }
.src-q-n { font-weight: 600; margin-right: 6px; color: var(--body-text-color); }
.src-empty, .src-none { padding: 12px; border-radius: 8px; background: var(--background-fill-secondary);
  color: var(--body-text-color-subdued); }
.src-none { border-left: 4px solid #d97706; color: var(--body-text-color); }
.src-card { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 10px 12px;
  margin-bottom: 10px; background: var(--background-fill-primary); scroll-margin-top: 8px; }
.src-card:target { outline: 2px solid #2563eb; }
.src-head { font-weight: 600; }
.src-n { color: #2563eb; }
.src-type { font-size: 0.8em; font-weight: 500; padding: 1px 6px; border-radius: 4px; margin-left: 4px;
  background: #e0e7ff; color: #3730a3; }
.src-type-report { background: #dcfce7; color: #166534; }
.src-type-regulation { background: #fef3c7; color: #92400e; }
.src-where { font-size: 0.85em; color: var(--body-text-color-subdued); margin: 2px 0 6px; }
.src-text, .ctx { white-space: pre-wrap; line-height: 1.6; }
.src-text mark { background: #fde68a; color: inherit; padding: 0 1px; }
.src-meta { font-size: 0.8em; color: var(--body-text-color-subdued); margin-top: 4px; }
.src-context summary { cursor: pointer; font-size: 0.85em; color: #2563eb; margin-top: 4px; }
.ctx { font-size: 0.9em; padding: 6px 8px; margin-top: 6px; border-radius: 6px;
  background: var(--background-fill-secondary); }
.ctx-cur { border-left: 3px solid #2563eb; }
.ctx-label { font-size: 0.8em; color: var(--body-text-color-subdued); }
.example-row { align-items: center; gap: 6px; flex-wrap: wrap !important; }
.example-row .example-group { flex: 0 0 100px !important; font-weight: 600; }
.example-row button.example { flex: 0 0 auto !important; white-space: nowrap; width: auto !important; }
#corpus table.corpus { border-collapse: collapse; width: 100%; font-size: 0.9em; border: none; }
#corpus table.corpus th, #corpus table.corpus td { border: none; border-bottom: 1px solid var(--border-color-primary);
  padding: 6px 8px; text-align: left; vertical-align: top; }
#corpus table.corpus .c-num { text-align: right; }
#corpus table.corpus .c-nowrap { white-space: nowrap; }
#corpus table.corpus .c-doc { font-weight: 600; min-width: 12em; }
"""

THEME_FONTS = ["Noto Sans CJK SC", "Source Han Sans SC", "PingFang SC", "Microsoft YaHei", "ui-sans-serif",
               "system-ui", "sans-serif"]


def build_app(state: AppState) -> gr.Blocks:
    settings = state.settings
    upload_on = bool(settings.admin_password)

    with gr.Blocks(title="柳州教育政策问答") as demo:
        gr.Markdown("## 柳州教育政策文件问答\n回答只摘录文件原文，每句后的 [n] 指向右侧的引用来源。")
        status = gr.Markdown("正在读取索引状态…", elem_id="status")
        ctx = gr.State(None)  # doc title a bare 第N条 follow-up refers to
        pending = gr.State("")  # the question being answered
        groups = gr.State([])  # the sources panel: one source_group per answer, oldest first

        with gr.Tabs():
            with gr.Tab("问答", id="chat"):
                with gr.Row():
                    with gr.Column(scale=3):
                        chatbot = gr.Chatbot(elem_id="chat", show_label=False, height=460, latex_delimiters=[],
                                             buttons=["copy"], feedback_options=None,
                                             placeholder="请在下面输入问题，或点击示例问题。")
                        with gr.Row(equal_height=True):
                            question = gr.Textbox(elem_id="question", show_label=False, scale=6,
                                                  placeholder="输入问题，按回车发送，例如：未成年人保护法第三十九条",
                                                  max_length=settings.max_question_chars * 2)
                            send = gr.Button("发送", variant="primary", scale=1, min_width=80, elem_id="send")
                            clear = gr.Button("清空", scale=1, min_width=80, elem_id="clear")
                        with gr.Column(elem_id="examples") as examples:
                            gr.Markdown("**示例问题**（点击即问）")
                            example_buttons: list[tuple[gr.Button, str]] = []
                            for group, questions in EXAMPLES.items():
                                with gr.Row(equal_height=True, elem_classes=["example-row"]):
                                    gr.Markdown(f"**{group}**", elem_classes=["example-group"], min_width=110)
                                    for q in questions:
                                        b = gr.Button(q, size="sm", variant="secondary", elem_classes=["example"],
                                                      scale=0, min_width=0)
                                        example_buttons.append((b, q))
                    with gr.Column(scale=2):
                        with gr.Row():
                            doc_filter = gr.Dropdown([ALL], value=ALL, label="按文件筛选", elem_id="doc-filter",
                                                     scale=3)
                            type_filter = gr.Dropdown([ALL, *TYPE_LABELS.values()], value=ALL, label="按类型筛选",
                                                      elem_id="type-filter", scale=1, min_width=100)
                        gr.Markdown("### 引用来源")
                        sources = gr.HTML(sources_panel([]), elem_id="sources")

            with gr.Tab("关于语料", id="corpus"):
                gr.Markdown("索引中的文件（法律法规的日期与沿革取自文件开头的说明）。")
                corpus = gr.HTML(corpus_html([]), elem_id="corpus")

            with gr.Tab("引用核查", id="check"):
                build_check_tab(lambda: state.engine if state.ready.is_set() else None)

            with gr.Tab("上传文件", id="upload"):
                if upload_on:
                    gr.Markdown(
                        f"上传 .txt / .md / .docx / .pdf / .html 文件加入索引（每个不超过 {settings.upload_max_mb:g} MB）。"
                        "文件保存在索引目录的 uploads 文件夹中；同名文件会被替换。"
                    )
                    password = gr.Textbox(label="管理员密码", type="password", elem_id="upload-password")
                    files = gr.File(label="选择文件", file_count="multiple", file_types=list(UPLOAD_SUFFIXES),
                                    elem_id="upload-files")
                    upload_btn = gr.Button("导入", variant="primary", elem_id="upload-button")
                    upload_result = gr.Markdown(elem_id="upload-result")
                else:
                    gr.Markdown("上传功能未启用：管理员设置环境变量 `ASSISTANT_ADMIN_PASSWORD` 后重启即可在此上传文件。",
                                elem_id="upload-disabled")

        timer = gr.Timer(1.0)

        # ---- handlers ---------------------------------------------------------------------------
        @guarded
        def refresh():
            """Status line, document choices and the corpus table; the timer stops once the index is ready."""
            if state.ready.is_set():
                return (state.message, gr.update(choices=[ALL, *state.titles()]), corpus_html(state.documents()),
                        gr.Timer(active=False))
            return state.message, gr.update(), gr.update(), gr.Timer(active=True)

        def take_question(text: str, history: list[dict]):
            q = (text or "").strip()
            if not q:
                return gr.update(), history, "", gr.update()
            history = [*(history or []), {"role": "user", "content": md_escape(q)}]
            return "", history, q, gr.update(visible=False)

        def respond(q: str, history: list[dict], doc: str, dtype: str, title: str | None,
                    done: list[str]) -> Iterator:
            """Streams the answer; its cards join the panel as a new group, so every earlier [n] still links."""
            history, done = list(history or []), list(done or [])
            if not q:
                yield history, gr.update(), title, done
                return
            history.append({"role": "assistant", "content": "正在查找相关条文…"})
            yield history, gr.update(), title, done
            deadline = time.monotonic() + settings.ask_wait_s
            while not state.ready.is_set() and state.error is None and time.monotonic() < deadline:
                history[-1] = {"role": "assistant", "content": md_escape(WAITING.format(message=state.message))}
                yield history, gr.update(), title, done  # the visitor sees what is loading, and its progress
                state.ready.wait(1.0)
            try:
                answer = state.ask(q, doc=None if doc in (None, "", ALL) else doc, doc_type=type_code(dtype),
                                   context_title=title)
            except Exception as e:  # show the failure in the chat, keep the page usable
                if not isinstance(e, EngineUnavailable):
                    log.exception("ask failed")
                text = str(e) if isinstance(e, EngineUnavailable) else INTERNAL_ERROR
                history[-1] = {"role": "assistant", "content": md_escape(text)}
                yield history, gr.update(), title, done
                return
            turn = len(done) + 1
            numbers = [c.n for c in answer.citations] if answer.found else []
            done.append(source_group(turn, q, answer, state.context(answer) if answer.found else None))
            panel = sources_panel(done)
            title = context_title(answer, title)
            for piece in stream_pieces(answer.answer):
                history[-1] = {"role": "assistant", "content": answer_markdown(piece, numbers, turn)}
                yield history, panel, title, done
                time.sleep(0.02)

        def reset():
            return [], sources_panel([]), None, [], "", gr.update(visible=True)

        @guarded
        def upload(file_list, pw: str, request: gr.Request, progress=gr.Progress()):
            """Password (constant time, slowed down after failures), then :meth:`AppState.ingest_uploads`."""
            unchanged = (gr.update(),) * 4
            if not settings.admin_password:
                return ("上传功能未启用。", *unchanged)
            client = getattr(getattr(request, "client", None), "host", None) or "?"
            if not password_ok(pw, settings.admin_password):
                delay = state.throttle.failed(client)
                log.warning("wrong upload password from %s, answered after %.1f s", client, delay)
                time.sleep(delay)
                return ("**密码错误**，没有导入任何文件。连续输错后每次等待的时间会越来越长。", *unchanged)
            state.throttle.succeeded(client)
            if not file_list:
                return ("请先选择要上传的文件。", *unchanged)
            if not state.ready.is_set():
                return ("索引尚未就绪，请稍后再上传。", *unchanged)
            paths = [f if isinstance(f, str) else getattr(f, "name", str(f)) for f in file_list]
            progress(0.0, desc="开始导入")
            report = state.ingest_uploads(paths, lambda frac, name: progress(frac, desc=f"正在导入 {name}"))
            state.refresh_message()
            return (report, gr.update(choices=[ALL, *state.titles()]), corpus_html(state.documents()),
                    gr.update(value=None), state.message)

        # ---- wiring -----------------------------------------------------------------------------
        private = {"api_visibility": "private"}
        ask_outputs = [chatbot, sources, ctx, groups]
        answering = []  # the streaming events, cancelled by 清空
        starts = [(trigger, take_question, [question, chatbot]) for trigger in (question.submit, send.click)]
        starts += [(button.click, lambda h, q=q: take_question(q, h), [chatbot]) for button, q in example_buttons]
        for trigger, fn, inputs in starts:
            answering.append(
                trigger(fn, inputs, [question, chatbot, pending, examples], queue=False, **private)
                .then(respond, [pending, chatbot, doc_filter, type_filter, ctx, groups], ask_outputs,
                      show_progress="hidden", concurrency_limit=8, **private)
            )
        clear.click(reset, None, [chatbot, sources, ctx, groups, question, examples], cancels=answering,
                    queue=False, **private)
        refresh_outputs = [status, doc_filter, corpus, timer]
        timer.tick(refresh, None, refresh_outputs, show_progress="hidden", **private)
        demo.load(refresh, None, refresh_outputs, show_progress="hidden", **private)
        if upload_on:
            upload_btn.click(upload, [files, password], [upload_result, doc_filter, corpus, files, status],
                             concurrency_limit=1, **private)

        # ---- the public API ---------------------------------------------------------------------
        @guarded
        def ask(question: str, doc: str = ALL, doc_type: str = ALL) -> dict:
            """回答一个问题，返回与 `assistant ask --json` 相同的 JSON（id, question, found, answer, citations, retrieved, ms）。

            服务刚启动、索引还在加载或建立时，最多等待 ASSISTANT_ASK_WAIT_S 秒（默认 60）再回答；仍未就绪则报错
            （gr.Error，客户端收到异常）「索引尚未就绪：正在加载已有索引（…）。请稍后再试。」或「…正在建立索引 N%…」，
            绝不返回 found=false。其他意外错误只给出通用提示，详情写入服务器日志。

            Args:
                question: 问题
                doc: 只在这个文件中查找（文件标题），"全部" 表示不限
                doc_type: 文件类型：全部 / 报告 / 法律 / 法规 / 其他（或 report / law / regulation / other）
            """
            try:
                code = type_code(doc_type)
            except ValueError as e:
                raise gr.Error(str(e)) from None
            try:
                state.require_ready(settings.ask_wait_s)
            except EngineUnavailable as e:
                raise gr.Error(str(e)) from None
            if doc and doc != ALL and doc not in state.engine.retriever.titles:
                raise gr.Error(f"索引中没有这个文件：{doc}")
            return state.ask(question, doc=None if doc in (None, "", ALL) else doc, doc_type=code).to_json()

        @guarded
        def status_api() -> dict:
            """索引状态：{ready, phase, progress, message, error, ingesting}。phase：loading（正在加载已有索引）/
            building（正在建立索引，progress 为进度）/ ready / error；ingesting：正在导入上传的文件（照常回答）。"""
            return state.status()

        gr.api(ask, api_name="ask", concurrency_limit=8)
        gr.api(status_api, api_name="status")

    return demo


#: First thing in <head>: Gradio's own words (footer, buttons, upload hints) follow ``navigator.language``, read
#: once when the page starts; reporting zh-CN there makes them Chinese whatever the browser's language.
PIN_CHINESE = ("<script>for (const [k, v] of [['language', 'zh-CN'], ['languages', ['zh-CN', 'zh']]]) "
               "Object.defineProperty(Navigator.prototype, k, {get: () => v, configurable: true});</script>")


def pin_chinese(page: str) -> str:
    """Gradio's HTML page with ``lang="zh-CN"`` and :data:`PIN_CHINESE` first in its <head>."""
    page = re.sub(r'(<html\b[^>]*?\blang=)"[^"]*"', r'\1"zh-CN"', page, count=1)
    return re.sub(r"<head\b[^>]*>", lambda m: m.group(0) + PIN_CHINESE, page, count=1)


class ChinesePages:
    """ASGI middleware: every HTML page the app serves goes through :func:`pin_chinese`; the rest passes as is."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET":
            return await self.app(scope, receive, send)
        start: dict | None = None
        body: list[bytes] = []

        async def rewrite(message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                headers = {k.lower(): v for k, v in message["headers"]}
                if headers.get(b"content-type", b"").startswith(b"text/html") and b"content-encoding" not in headers:
                    start = message  # held back until the body is complete
                    return
            elif message["type"] == "http.response.body" and start is not None:
                body.append(message.get("body", b""))
                if message.get("more_body"):
                    return
                page = pin_chinese(b"".join(body).decode("utf-8")).encode("utf-8")
                headers = [(k, v) for k, v in start["headers"] if k.lower() != b"content-length"]
                await send({**start, "headers": [*headers, (b"content-length", str(len(page)).encode())]})
                message = {"type": "http.response.body", "body": page}
            await send(message)

        await self.app(scope, receive, rewrite)


def create_app(settings: Settings | None = None, engine=None, start: bool = True) -> tuple[gr.Blocks, AppState]:
    """The Blocks app and its state; the engine (and a missing index) load in the background (``start``)."""
    state = AppState(settings or get_settings(), engine)
    if start:
        state.start()
    return build_app(state), state


def serve(settings: Settings | None = None, block: bool = True) -> gr.Blocks:
    """Start the web app on ``settings.host``:``settings.ui_port`` (default 127.0.0.1, i.e. this machine only).

    The engine starts loading once the server listens: on two cores the two would compete, and a visitor is
    better served by the page saying 正在加载 than by a refused connection. ``show_error=False``: visitors see
    only the messages written for them (gr.Error, see :func:`guarded`); exception details go to the console.
    """
    settings = settings or get_settings()
    demo, state = create_app(settings, start=False)
    demo.queue(default_concurrency_limit=1)
    print(f"启动网页界面：http://{settings.host}:{settings.ui_port}", flush=True)
    demo.launch(
        server_name=settings.host,
        server_port=settings.ui_port,
        show_error=False,
        ssr_mode=False,
        theme=gr.themes.Soft(font=THEME_FONTS, font_mono=["ui-monospace", "Consolas", "monospace"]),
        css=CSS,
        max_file_size=max(1, int(settings.upload_max_mb * 2**20)),  # bytes: "0.5mb" would not parse
        state_session_capacity=settings.ui_sessions,  # Gradio's 10,000: up to ~0.9 GB under API load
        app_kwargs={"middleware": [Middleware(ChinesePages)]},
        prevent_thread_lock=True,
        quiet=False,
    )
    print(loading_message(settings), flush=True)
    state.start()
    if block:
        demo.block_thread()
    return demo
