"""Serving the app: theme and CSS, the middleware that makes Gradio's own words Chinese, start-up."""

from __future__ import annotations

import re
import sys
from typing import Any

import gradio as gr
from fastapi.routing import APIRoute
from starlette.middleware import Middleware

from assistant.settings import Settings, get_settings
from assistant.ui.chat import build_app
from assistant.ui.i18n import TRANSLATE_SCRIPT, gradio_i18n
from assistant.ui.state import AppState, ExamplesError, loading_message

CSS = """
.gradio-container { max-width: 1400px !important; }
#status { font-size: 0.9em; color: var(--body-text-color-subdued); }
/* Gradio gives the block an inline overflow: visible; without !important an open 查看上下文 spills over the footer.
   A framed box with its own scroll bar: a card cut at the bottom edge reads as "scroll for more", not as a page
   cut mid-line above the footer; the margin keeps the frame off the footer. */
#sources { max-height: 600px; overflow-y: auto !important; overscroll-behavior: contain; scrollbar-gutter: stable;
  padding: 8px 6px 8px 10px !important; border: 1px solid var(--border-color-primary) !important;
  border-radius: 8px; background: var(--background-fill-secondary); margin-bottom: 16px; }
/* The chat's clear (trash) button sits in its own row above the messages, not over the first one (Gradio
   positions it absolutely in the top right corner, where a long first question runs under it). */
#chat .top-panel { position: static; align-self: flex-end; flex: none; margin: 4px 4px 0 0; }
#chat .bubble-wrap { flex: 1 1 0; min-height: 0; height: auto; padding-top: 4px; }
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
.src-type-admin_regulation, .src-type-rule, .src-type-local_regulation, .src-type-judicial, .src-type-normative { background: #fef3c7; color: #92400e; }
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
#corpus table.corpus tr { border: none; }  /* Gradio's prose style draws a box round every row */
#corpus table.corpus th, #corpus table.corpus td { border: none; border-bottom: 1px solid var(--border-color-primary);
  padding: 6px 8px; text-align: left; vertical-align: top; }
#corpus table.corpus .c-num { text-align: right; }
#corpus table.corpus .c-nowrap { white-space: nowrap; }
#corpus table.corpus .c-doc { font-weight: 600; min-width: 12em; }
#corpus table.corpus tr.c-group th { padding-top: 14px; font-size: 1.05em; background: var(--background-fill-secondary); }
#corpus .c-group-n { font-weight: 400; font-size: 0.85em; margin-left: 8px; color: var(--body-text-color-subdued); }
"""

THEME_FONTS = ["Noto Sans CJK SC", "Source Han Sans SC", "PingFang SC", "Microsoft YaHei", "ui-sans-serif",
               "system-ui", "sans-serif"]


#: First thing in <head>: Gradio's own words (footer, buttons, upload hints) follow ``navigator.language``, read
#: once when the page starts; reporting zh-CN there makes them Chinese whatever the browser's language. Then the
#: script that turns the English Gradio writes without i18n into Chinese (:mod:`assistant.ui.i18n`).
PIN_CHINESE = ("<script>for (const [k, v] of [['language', 'zh-CN'], ['languages', ['zh-CN', 'zh']]]) "
               "Object.defineProperty(Navigator.prototype, k, {get: () => v, configurable: true});</script>"
               f"<script>{TRANSLATE_SCRIPT}</script>")


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


def status_route(state: AppState) -> APIRoute:
    """``GET /status`` on the web server itself: the index state as plain JSON (``curl http://HOST:PORT/status``),
    for a health check or a script without gradio_client. Same object as the Gradio API endpoint ``/status``."""

    def status() -> dict[str, Any]:
        return state.status()

    return APIRoute("/status", status, methods=["GET"], name="status",
                    summary="索引状态：{ready, phase, progress, message, error, ingesting}")


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
    only the messages written for them (gr.Error, see :func:`~assistant.ui.chat.guarded`); exception details go to the console.
    """
    settings = settings or get_settings()
    try:
        demo, state = create_app(settings, start=False)
    except ExamplesError as e:  # a deployment's own file: say what is wrong with it, no traceback
        print(f"无法启动网页界面：{e}（设置项 ASSISTANT_UI_EXAMPLES）", file=sys.stderr, flush=True)
        raise SystemExit(2) from None
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
        # FastAPI(routes=…): the route is registered before Gradio's own, so nothing of Gradio's can shadow it
        app_kwargs={"middleware": [Middleware(ChinesePages)], "routes": [status_route(state)]},
        i18n=gradio_i18n(),
        # no 「使用 Gradio 构建」 link and no run-history page (English, and it keeps visitors' questions in the browser)
        footer_links=["api", "settings"],
        run_history=False,
        prevent_thread_lock=True,
        quiet=False,
    )
    print(loading_message(settings), flush=True)
    state.start()
    if block:
        demo.block_thread()
    return demo
