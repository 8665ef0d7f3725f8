"""The Blocks app: the chat with its sources panel and filters, the corpus list, the check tab, uploads and
the public API (``/ask``, ``/status``). Every handler goes through :class:`~assistant.ui.state.AppState`."""

from __future__ import annotations

import functools
import logging
import time
from dataclasses import dataclass
from typing import Callable, Iterator

import gradio as gr

from assistant import messages as msg
from assistant.messages import ERROR_TITLE, INTERNAL_ERROR, WAITING
from assistant.ui.check import build_check_tab
from assistant.ui.render import (ALL, TYPE_LABELS, answer_markdown, context_title, corpus_html, md_escape, mode_line,
                                 source_group, sources_panel, stream_pieces, type_code, unescape_md)
from assistant.ui.state import UPLOAD_SUFFIXES, AppState, EngineUnavailable, password_ok, progress_text

log = logging.getLogger(__name__)



def visitor_error(message: str) -> gr.Error:
    """A gr.Error with a Chinese heading: the message box shows the title above the message."""
    return gr.Error(message, title=ERROR_TITLE)


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
            raise visitor_error(INTERNAL_ERROR) from None

    return wrapper


@dataclass
class ChatTab:
    """The 问答 tab's components that handlers read or update."""

    chatbot: gr.Chatbot
    question: gr.Textbox
    send: gr.Button
    clear: gr.Button
    examples: gr.Column
    examples_head: gr.Markdown
    example_rows: list[tuple[gr.Row, str]]
    example_buttons: list[tuple[gr.Button, str]]
    doc_filter: gr.Dropdown
    type_filter: gr.Dropdown
    sources: gr.HTML


@dataclass
class UploadTab:
    """The 上传文件 tab's components (only when an admin password is set)."""

    password: gr.Textbox
    files: gr.File
    button: gr.Button
    result: gr.Markdown


def build_chat_tab(state: AppState) -> ChatTab:
    """The 问答 tab: the chat, the question box, the example questions, the filters and the sources panel."""
    settings = state.settings
    with gr.Row():
        with gr.Column(scale=3):
            # every component gets a label, shown or not: Gradio's fallback is its English class name
            chatbot = gr.Chatbot(label=msg.UI_CHAT_LABEL, elem_id="chat", show_label=False, height=460,
                                 latex_delimiters=[],
                                 buttons=["copy"], feedback_options=None,
                                 placeholder=msg.UI_CHAT_PLACEHOLDER)
            with gr.Row(equal_height=True):
                question = gr.Textbox(label=msg.UI_QUESTION_LABEL, elem_id="question", show_label=False, scale=6,
                                      placeholder=msg.UI_QUESTION_PLACEHOLDER,
                                      max_length=settings.max_question_chars * 2)
                send = gr.Button(msg.UI_SEND, variant="primary", scale=1, min_width=80, elem_id="send")
                clear = gr.Button(msg.UI_CLEAR, scale=1, min_width=80, elem_id="clear")
            # Every configured example gets a button; only those the index answers are visible (known
            # once it is ready: refresh() then shows them, see AppState.shown_examples).
            shown = state.shown_examples()
            with gr.Column(elem_id="examples") as examples:
                examples_head = gr.Markdown(msg.UI_EXAMPLES_HEAD, visible=bool(shown))
                example_rows: list[tuple[gr.Row, str]] = []
                example_buttons: list[tuple[gr.Button, str]] = []
                for group, questions in state.examples.items():
                    with gr.Row(equal_height=True, elem_classes=["example-row"],
                                visible=group in shown) as row:
                        gr.Markdown(f"**{md_escape(group)}**", elem_classes=["example-group"],
                                    min_width=110)
                        for q in questions:
                            b = gr.Button(q, size="sm", variant="secondary", elem_classes=["example"],
                                          scale=0, min_width=0, visible=q in shown.get(group, ()))
                            example_buttons.append((b, q))
                    example_rows.append((row, group))
        with gr.Column(scale=2):
            with gr.Row():
                doc_filter = gr.Dropdown([ALL], value=ALL, label=msg.UI_DOC_FILTER, elem_id="doc-filter",
                                         scale=3)
                type_filter = gr.Dropdown([ALL, *TYPE_LABELS.values()], value=ALL, label=msg.UI_TYPE_FILTER,
                                          elem_id="type-filter", scale=1, min_width=100)
            gr.Markdown(msg.UI_SOURCES_HEAD)
            sources = gr.HTML(sources_panel([]), elem_id="sources")
    return ChatTab(chatbot, question, send, clear, examples, examples_head, example_rows, example_buttons,
                   doc_filter, type_filter, sources)


def build_corpus_tab() -> gr.HTML:
    """The 关于语料 tab: the table of indexed documents (filled by the refresh)."""
    gr.Markdown(msg.UI_CORPUS_INTRO)
    return gr.HTML(corpus_html([]), elem_id="corpus")


def build_upload_tab(state: AppState) -> UploadTab | None:
    """The 上传文件 tab: password and files when an admin password is set, else how to turn uploads on."""
    settings = state.settings
    if not settings.admin_password:
        gr.Markdown(msg.UI_UPLOAD_OFF_HELP,
                    elem_id="upload-disabled")
        return None
    gr.Markdown(msg.UI_UPLOAD_HELP.format(max_mb=settings.upload_max_mb))
    password = gr.Textbox(label=msg.UI_PASSWORD_LABEL, type="password", elem_id="upload-password")
    files = gr.File(label=msg.UI_FILES_LABEL, file_count="multiple", file_types=list(UPLOAD_SUFFIXES),
                    elem_id="upload-files")
    button = gr.Button(msg.UI_IMPORT, variant="primary", elem_id="upload-button")
    result = gr.Markdown(elem_id="upload-result")
    return UploadTab(password, files, button, result)


PRIVATE = {"api_visibility": "private"}


def wire_chat(state: AppState, chat: ChatTab, ctx: gr.State, pending: gr.State, groups: gr.State) -> None:
    """Questions (typed, or an example clicked) → the streamed answer and its sources; 清空 cancels and resets."""
    settings = state.settings

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
        history.append({"role": "assistant", "content": msg.UI_SEARCHING})
        yield history, gr.update(), title, done
        deadline = time.monotonic() + settings.ask_wait_s
        while not state.ready.is_set() and state.error is None and time.monotonic() < deadline:
            history[-1] = {"role": "assistant", "content": md_escape(WAITING.format(message=state.message))}
            yield history, gr.update(), title, done  # the visitor sees what is loading, and its progress
            state.ready.wait(1.0)
        llm = bool(settings.llm_base_url)
        earlier = [unescape_md(m["content"]) for m in history[:-2] if m.get("role") == "user"
                   and isinstance(m.get("content"), str)]
        try:
            for answer in state.ask_stream(q, doc=None if doc in (None, "", ALL) else doc,
                                           doc_type=type_code(dtype), context_title=title, history=earlier):
                if not answer.final:  # a model's checked sentences as they pass (LLM mode)
                    history[-1] = {"role": "assistant", "content": answer_markdown(answer.answer, [], 0)
                                   + mode_line(answer)}
                    yield history, gr.update(), title, done
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
        tail = mode_line(answer) if llm or answer.mode == "llm" or answer.note else ""
        for piece in stream_pieces(answer.answer) if answer.mode != "llm" else [answer.answer]:
            history[-1] = {"role": "assistant", "content": answer_markdown(piece, numbers, turn) + tail}
            yield history, panel, title, done
            time.sleep(0.02)

    def reset():
        return [], sources_panel([]), None, [], "", gr.update(visible=True)

    ask_outputs = [chat.chatbot, chat.sources, ctx, groups]
    answering = []  # the streaming events, cancelled by 清空
    starts = [(trigger, take_question, [chat.question, chat.chatbot])
              for trigger in (chat.question.submit, chat.send.click)]
    starts += [(button.click, lambda h, q=q: take_question(q, h), [chat.chatbot]) for button, q in chat.example_buttons]
    for trigger, fn, inputs in starts:
        answering.append(
            trigger(fn, inputs, [chat.question, chat.chatbot, pending, chat.examples], queue=False, **PRIVATE)
            .then(respond, [pending, chat.chatbot, chat.doc_filter, chat.type_filter, ctx, groups], ask_outputs,
                  show_progress="hidden", concurrency_limit=8, **PRIVATE)
        )
    chat.clear.click(reset, None, [chat.chatbot, chat.sources, ctx, groups, chat.question, chat.examples],
                     cancels=answering, queue=False, **PRIVATE)


def wire_refresh(state: AppState, demo: gr.Blocks, chat: ChatTab, status: gr.Markdown, corpus: gr.HTML,
                 timer: gr.Timer) -> None:
    """On load and every second until the index is ready: the status line, the document choices, the corpus table
    and the examples the index answers."""

    def example_updates() -> list:
        """Visibility of the examples' heading, group rows and buttons: those the index answers."""
        shown = state.shown_examples()
        return [gr.update(visible=bool(shown)),
                *(gr.update(visible=group in shown) for _, group in chat.example_rows),
                *(gr.update(visible=q in {x for qs in shown.values() for x in qs}) for _, q in chat.example_buttons)]

    unchanged_examples = [gr.update()] * (1 + len(chat.example_rows) + len(chat.example_buttons))

    @guarded
    def refresh():
        """Status line, document choices, the corpus table and the examples; the timer stops once the index is
        ready."""
        if state.ready.is_set():
            return (state.message, gr.update(choices=[ALL, *state.titles()]), corpus_html(state.documents()),
                    gr.Timer(active=False), *example_updates())
        return (state.message, gr.update(), gr.update(), gr.Timer(active=True), *unchanged_examples)

    refresh_outputs = [status, chat.doc_filter, corpus, timer, chat.examples_head,
                       *(row for row, _ in chat.example_rows), *(b for b, _ in chat.example_buttons)]
    timer.tick(refresh, None, refresh_outputs, show_progress="hidden", **PRIVATE)
    demo.load(refresh, None, refresh_outputs, show_progress="hidden", **PRIVATE)


def wire_upload(state: AppState, tab: UploadTab, doc_filter: gr.Dropdown, corpus: gr.HTML,
                status: gr.Markdown) -> None:
    """导入: the password, then the files into the index; the document choices, corpus table and status follow."""
    settings = state.settings

    @guarded
    def upload(file_list, pw: str, request: gr.Request, progress=gr.Progress()):
        """Password (constant time, slowed down after failures), then :meth:`AppState.ingest_uploads`."""
        unchanged = (gr.update(),) * 4
        if not settings.admin_password:
            return (msg.UI_UPLOAD_OFF, *unchanged)
        client = getattr(getattr(request, "client", None), "host", None) or "?"
        if not password_ok(pw, settings.admin_password):
            delay = state.throttle.failed(client)
            log.warning("wrong upload password from %s, answered after %.1f s", client, delay)
            time.sleep(delay)
            return (msg.UI_WRONG_PASSWORD, *unchanged)
        state.throttle.succeeded(client)
        if not file_list:
            return (msg.UI_NO_FILES, *unchanged)
        if not state.ready.is_set():
            return (msg.UI_UPLOAD_NOT_READY, *unchanged)
        paths = [f if isinstance(f, str) else getattr(f, "name", str(f)) for f in file_list]
        progress(0.0, desc=msg.UI_IMPORT_START)
        report = state.ingest_uploads(paths, lambda frac, name: progress(frac, desc=progress_text(frac, name)))
        state.refresh_message()
        return (report, gr.update(choices=[ALL, *state.titles()]), corpus_html(state.documents()),
                gr.update(value=None), state.message)

    tab.button.click(upload, [tab.files, tab.password], [tab.result, doc_filter, corpus, tab.files, status],
                     concurrency_limit=1, show_progress_on=[tab.result], **PRIVATE)


def add_public_api(state: AppState) -> None:
    """``/ask``, ``/follow_up`` and ``/status``: the API a script or another service calls."""
    settings = state.settings

    @guarded
    def ask(question: str, doc: str = ALL, doc_type: str = ALL) -> dict:
        """回答一个问题，返回与 `assistant ask --json` 相同的 JSON（id, question, found, answer, citations, retrieved, ms）。

        服务刚启动、索引还在加载或建立时，最多等待 ASSISTANT_ASK_WAIT_S 秒（默认 60）再回答；仍未就绪则报错
        （gr.Error，客户端收到异常）「索引尚未就绪：正在加载已有索引（…）。请稍后再试。」或「…正在建立索引 N%…」，
        绝不返回 found=false。其他意外错误只给出通用提示，详情写入服务器日志。

        Args:
            question: 问题
            doc: 只在这个文件中查找（文件标题），"全部" 表示不限
            doc_type: 文件类型：全部 / 报告 / 法律 / 行政法规 / 部门规章 / 地方性法规 / 司法解释 / 规范性文件 / 其他（或 schema.DOC_TYPES 的代码）
        """
        return _answer(question, doc, doc_type, "")

    @guarded
    def follow_up(question: str, history: str, doc: str = ALL, doc_type: str = ALL) -> dict:
        """回答对话中的追问：history 是同一对话中此前提过的问题，每行一个，从早到晚（「如果孩子已经十六岁了呢？」据此理解为
        上一问加上新的情况；回答的 standalone_question 说明如何理解）。其余参数与返回值同 /ask。

        Args:
            question: 问题
            history: 此前的问题，每行一个
            doc: 只在这个文件中查找（文件标题），"全部" 表示不限
            doc_type: 文件类型（同 /ask）
        """
        return _answer(question, doc, doc_type, history)

    def _answer(question: str, doc: str, doc_type: str, history: str) -> dict:
        """/ask and /follow_up: a separate endpoint for follow-ups, so that /ask keeps its three inputs (a raw HTTP
        client sends exactly the inputs an endpoint declares)."""
        try:
            code = type_code(doc_type)
        except ValueError as e:
            raise visitor_error(str(e)) from None
        try:
            state.require_ready(settings.ask_wait_s)
        except EngineUnavailable as e:
            raise visitor_error(str(e)) from None
        if doc and doc != ALL and doc not in state.engine.retriever.titles:
            raise visitor_error(msg.UI_NO_SUCH_DOC.format(doc=doc))
        earlier = [line.strip() for line in (history or "").splitlines() if line.strip()]
        return state.ask(question, doc=None if doc in (None, "", ALL) else doc, doc_type=code,
                         history=earlier or None).to_json()

    @guarded
    def status_api() -> dict:
        """索引状态：{ready, phase, progress, message, error, ingesting}。phase：loading（正在加载已有索引）/
        building（正在建立索引，progress 为进度）/ ready / error；ingesting：正在导入上传的文件（照常回答）。"""
        return state.status()

    gr.api(ask, api_name="ask", concurrency_limit=8)
    gr.api(follow_up, api_name="follow_up", concurrency_limit=8)
    gr.api(status_api, api_name="status")


def build_app(state: AppState) -> gr.Blocks:
    """The page: a heading and status line, four tabs (one builder each), then the handlers that join them."""
    settings = state.settings

    with gr.Blocks(title=settings.ui_title) as demo:
        gr.Markdown(f"## {md_escape(settings.ui_title)}\n" + (msg.UI_INTRO_LLM if settings.llm_base_url
                                                                else msg.UI_INTRO_EXTRACTIVE) + msg.UI_INTRO_SOURCES,
                    elem_id="heading")
        status = gr.Markdown(msg.UI_STATUS_READING, elem_id="status")
        ctx = gr.State(None)  # doc title a bare 第N条 follow-up refers to
        pending = gr.State("")  # the question being answered
        groups = gr.State([])  # the sources panel: one source_group per answer, oldest first

        with gr.Tabs():
            with gr.Tab(msg.UI_TAB_CHAT, id="chat"):
                chat = build_chat_tab(state)
            with gr.Tab(msg.UI_TAB_CORPUS, id="corpus"):
                corpus = build_corpus_tab()
            with gr.Tab(msg.UI_TAB_CHECK, id="check"):
                build_check_tab(lambda: state.engine if state.ready.is_set() else None)
            with gr.Tab(msg.UI_TAB_UPLOAD, id="upload"):
                upload = build_upload_tab(state)

        timer = gr.Timer(1.0)
        wire_chat(state, chat, ctx, pending, groups)
        wire_refresh(state, demo, chat, status, corpus, timer)
        if upload:
            wire_upload(state, upload, chat.doc_filter, corpus, status)
        add_public_api(state)

    return demo
