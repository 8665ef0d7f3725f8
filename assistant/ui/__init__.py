"""The Gradio web app: chat with cited passages, a sources panel, filters, the corpus list and uploads.

Only presentation lives here: every question and every ingest goes through :class:`assistant.engine.Engine`.

- :mod:`~assistant.ui.render`: the pure functions that turn answers and documents into HTML/Markdown (no Gradio,
  no engine), so they are unit-tested without a browser;
- :mod:`~assistant.ui.state`: :class:`AppState` (the engine, loaded in the background; the example questions it
  answers), upload and password checks;
- :mod:`~assistant.ui.chat`: the Blocks app (chat, sources, corpus, uploads, the ``/ask`` and ``/status`` API);
- :mod:`~assistant.ui.check`: the 引用核查 (citation check) tab;
- :mod:`~assistant.ui.i18n`: Gradio's own words in Chinese (translations for its frontend, a page script for the rest);
- :mod:`~assistant.ui.server`: CSS, Chinese pages, :func:`create_app` and :func:`serve`.

Start with ``python app.py`` or ``assistant serve``.
"""

from __future__ import annotations

import os

# The one environment write of the project: no usage analytics / version check from a closed network.
# Before any submodule: they import gradio.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from assistant.ui.chat import ERROR_TITLE, INTERNAL_ERROR, WAITING, build_app, guarded  # noqa: E402
from assistant.ui.i18n import GRADIO_ZH_CN, HARDCODED, TRANSLATE_SCRIPT, gradio_i18n  # noqa: E402
from assistant.ui.render import (  # noqa: E402
    ALL,
    NO_ANSWER_NOTE,
    SOURCES_PLACEHOLDER,
    TYPE_CODES,
    TYPE_LABELS,
    UNKNOWN_ISSUER,
    answer_markdown,
    context_title,
    corpus_html,
    corpus_summary,
    highlight,
    issuer,
    md_escape,
    neighbours,
    source_group,
    sources_html,
    sources_panel,
    stream_pieces,
    type_code,
    where_label,
)
from assistant.ui.server import (  # noqa: E402
    CSS,
    PIN_CHINESE,
    THEME_FONTS,
    ChinesePages,
    create_app,
    pin_chinese,
    serve,
)
from assistant.ui.state import (  # noqa: E402
    BUILDING,
    BUILT,
    EXAMPLES,
    LOAD_FAILED,
    LOADING_EXISTING,
    LOADING_MODEL,
    NOT_READY,
    UPLOAD_FINISHING,
    UPLOAD_SUFFIXES,
    UPLOADING,
    AppState,
    EngineUnavailable,
    ExamplesError,
    FailureThrottle,
    load_examples,
    loading_message,
    password_ok,
    progress_text,
    safe_upload_name,
    upload_target,
    visitor_text,
)

__all__ = [
    "ALL", "AppState", "BUILDING", "BUILT", "CSS", "ChinesePages", "ERROR_TITLE", "EXAMPLES", "EngineUnavailable",
    "ExamplesError", "FailureThrottle", "GRADIO_ZH_CN", "HARDCODED", "TRANSLATE_SCRIPT", "UPLOADING", "UPLOAD_FINISHING",
    "gradio_i18n", "load_examples", "progress_text", "UNKNOWN_ISSUER", "corpus_summary", "issuer",
    "INTERNAL_ERROR", "LOADING_EXISTING", "LOADING_MODEL", "LOAD_FAILED", "NOT_READY", "NO_ANSWER_NOTE",
    "PIN_CHINESE", "SOURCES_PLACEHOLDER", "THEME_FONTS", "TYPE_CODES", "TYPE_LABELS", "UPLOAD_SUFFIXES", "WAITING",
    "answer_markdown", "build_app", "context_title", "corpus_html", "create_app", "guarded", "highlight",
    "loading_message", "md_escape", "neighbours", "password_ok", "pin_chinese", "safe_upload_name", "serve",
    "source_group", "sources_html", "sources_panel", "stream_pieces", "type_code", "upload_target", "visitor_text",
    "where_label",
]
