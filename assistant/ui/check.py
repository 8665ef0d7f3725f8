"""The 引用核查 (citation check) tab: paste a text or pick an ingested report, check its citations, see a table.

``citations_html`` is pure (the JSON of ``assistant check --json`` in, HTML out) and is tested without a browser;
``build_check_tab`` only wires Gradio components to :mod:`assistant.checker`. The app adds the tab with::

    with gr.Tab("引用核查", id="check"):
        build_check_tab(lambda: state.engine if state.ready.is_set() else None)

(an ``Engine`` works too; a callable lets the tab exist before the index is loaded).
"""

from __future__ import annotations

import html
import logging
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gradio as gr

from assistant import checker, review
from assistant.schema import LEGAL_TYPES

log = logging.getLogger(__name__)

STATUS_LABELS = checker.LABELS  # ok → 正确, no_such_article → 条文不存在, …
MAX_CHARS = 200_000  # a pasted text longer than this is refused (a whole book is not a citation check)

#: Inline styles: the HTML component does not apply a <style> block in its value. One colour per verdict; the
#: mismatch is a warning (amber), a missing article an error (red).
COLORS = {"ok": "#1a7f37", "mismatch": "#9a6700", "no_such_article": "#c62828", "ambiguous": "#b35900",
          "document_not_in_corpus": "#6e7781"}
_CELL = "border:1px solid #ddd;padding:4px 6px;vertical-align:top;text-align:left"
_COLUMNS = (("#", "2em"), ("引用", ""), ("核查结果", "11em"), ("语料中的文件", "9em"), ("版本", "7.5em"),
            ("支持度", "3.5em"), ("条文原文", "32%"))


def _e(text: Any) -> str:
    return html.escape(str(text or ""))


def _history(info: str) -> str:
    """The newest history event in a few characters (2024年4月26日 第二次修正), the full history folded under it,
    stray brackets of the source removed (display only)."""
    lines = checker.history_lines(info)
    if not lines:
        return "—"
    rest = "<br>".join(_e(s) for s in lines)
    return (f"<details class='history'><summary>{_e(checker.latest_event(info))}</summary>"
            f"<div style='font-size:12px;color:#555'>{rest}</div></details>")


def _articles(items: list[dict]) -> str:
    return "".join(
        f"<details><summary>{_e(a['article'])}</summary><div class='article' style='white-space:pre-wrap'>"
        f"{_e(a['text'])}</div></details>"
        for a in items
    ) or "—"


def verdict_of(c: dict) -> tuple[str, str]:
    """(verdict, its words) of a citation dict; older results without the fields are read from status/mismatch."""
    if c.get("verdict"):
        return c["verdict"], c.get("verdict_text") or checker.VERDICT_LABELS[c["verdict"]]
    if c.get("mismatch"):
        return "mismatch", f"条文存在，内容可能不符（{checker.mismatch_reason(c)}）"
    return c["status"], STATUS_LABELS.get(c["status"], c["status"])


def citations_html(result: dict | None, message: str = "") -> str:
    """HTML table of a ``CheckReport.to_json()`` result; ``message`` (escaped) replaces it when given.

    One verdict per citation, in its colour: 正确 never stands beside a warning. Notes on the document's version
    (repealed, amended after the draft's date) follow the verdict in small print: they qualify it, not contradict it.
    """
    if message:
        return f"<p>{_e(message)}</p>"
    if result is None:
        return "<p>在左侧粘贴文字、上传文稿或选择一份已导入的报告，然后点击“核查引用”。</p>"
    cites = result.get("citations", [])
    if not cites:
        return "<p>没有发现法律法规引用（《…》或“…法第N条”）。</p>"
    if "verdicts" not in result["summary"]:  # an older result: count the verdicts here
        result = {**result, "summary": {**result["summary"], "verdicts": {
            v: sum(verdict_of(c)[0] == v for c in cites) for v in checker.VERDICTS}}}
    head = "".join(f"<p class='check-summary' style='margin:2px 0'>{_e(line)}</p>"
                   for line in checker.summary_text(result).split("\n"))
    rows = []
    for i, c in enumerate(cites, 1):
        status = c["status"]
        verdict, words = verdict_of(c)
        label = (f"<span class='verdict verdict-{_e(verdict)}' style='color:{COLORS.get(verdict, '#000')};"
                 f"font-weight:bold'>{_e(words)}</span>")
        for cls, text in (("note", c.get("note")), ("version-note", c.get("version_note"))):
            if text:
                label += f"<br><span class='{cls}' style='color:#b35900;font-size:12px'>{_e(text)}</span>"
        support = "—" if c.get("support") is None else f"{c['support']:.2f}"
        quote = f"{_e(c['raw'])}<div class='sentence' style='color:#666;font-size:12px'>{_e(c.get('sentence'))}</div>"
        articles = _articles(c.get("article_texts", []))
        if c.get("rival_text"):
            articles += (f"<details class='rival'><summary>{_e(c.get('rival_article'))}（更相符，支持度 "
                         f"{c.get('rival') or 0:.2f}）</summary><div class='article' style='white-space:pre-wrap'>"
                         f"{_e(c['rival_text'])}</div></details>")
        cells = [str(i), quote, label, _e(c.get("resolved_title") or "—"), _history(c.get("doc_info", "")), support,
                 articles]
        rows.append(f"<tr class='cite-row' data-status='{_e(status)}' data-verdict='{_e(verdict)}'>"
                    + "".join(f"<td style='{_CELL}'>{cell}</td>" for cell in cells) + "</tr>")
    head_row = "".join(f"<th style='{_CELL};width:{w}'>{name}</th>" if w else f"<th style='{_CELL}'>{name}</th>"
                       for name, w in _COLUMNS)
    table = ("<table class='cite-table' style='border-collapse:collapse;width:100%;font-size:14px;table-layout:auto'>"
             f"<thead><tr>{head_row}</tr></thead><tbody>" + "".join(rows) + "</tbody></table>")
    return head + table


def report_choices(engine) -> list[str]:
    """Ingested documents that are not laws or regulations (reports, drafts), for the dropdown."""
    if engine is None:
        return []
    return sorted(t for t, kind in engine.retriever.titles.items() if kind not in LEGAL_TYPES)


def run_check(engine, text: str | None, doc: str | None) -> str:
    """The pasted text when there is one, else the chosen report → HTML. Never raises."""
    return run_review(engine, text, doc)[0]


#: Where the tab writes the files it offers for download; folders older than this are removed on the next review.
DOWNLOADS = Path(tempfile.gettempdir()) / "assistant-check"
KEEP_DOWNLOADS_S = 3600


def _download_folder() -> Path:
    """A fresh folder for one review's files; old ones are removed first (downloads are fetched at once)."""
    DOWNLOADS.mkdir(exist_ok=True)
    for old in DOWNLOADS.iterdir():
        try:
            if time.time() - old.stat().st_mtime > KEEP_DOWNLOADS_S:
                shutil.rmtree(old, ignore_errors=True)
        except OSError:
            pass
    folder = DOWNLOADS / uuid.uuid4().hex
    folder.mkdir()
    return folder


def _stem(name: str) -> str:
    """A file name's stem that is safe to reuse for the downloads."""
    stem = Path(name).stem.strip(". ") or "文稿"
    return "".join(ch if ch.isalnum() or ch in "（）()_-" else "_" for ch in stem)[:60]


def run_review(engine, text: str | None, doc: str | None, upload: str | None = None,
               written: str | None = None) -> tuple[str, list[str] | None]:
    """An uploaded draft, else the pasted text, else the chosen report → (HTML table, files to download: the
    annotated draft and the report as .csv and .docx; for a chosen report the report only). Never raises."""
    if engine is None:
        return citations_html(None, "索引尚未就绪，请稍后再试。"), None
    text = (text or "").strip()
    try:
        when = review.parse_date(written) if (written or "").strip() else None
        if upload:
            name = Path(upload).name
            if Path(name).suffix.lower() not in review.SUFFIXES:
                return citations_html(None, f"不支持的文稿类型：{name}（可上传 .docx、.txt、.md、.pdf）"), None
            draft = review.read_draft(upload)
            draft.name = name
        elif text:
            if len(text) > MAX_CHARS:
                return citations_html(None, f"文字过长（{len(text)} 字，上限 {MAX_CHARS} 字）。"), None
            draft, name = review.draft_from_text(text, "粘贴的文字"), "粘贴的文字.txt"
        elif doc:
            result = checker.check_document(engine, doc).to_json()
            folder = _download_folder()
            files = [folder / f"{_stem(doc)}_核查报告.csv", folder / f"{_stem(doc)}_核查报告.docx"]
            for f in files:
                review.write_report(result, f)
            return citations_html(result), [str(f) for f in files]
        else:
            return citations_html(None, "请粘贴要核查的文字、上传文稿，或选择一份报告。"), None
        result = review.check_draft(engine, draft, when).to_json()
        folder = _download_folder()
        stem = _stem(name)
        files = [folder / f"{stem}_批注.docx", folder / f"{stem}_核查报告.csv", folder / f"{stem}_核查报告.docx"]
        review.annotate(draft, result, files[0])
        review.write_report(result, files[1])
        review.write_report(result, files[2])
        return citations_html(result), [str(f) for f in files]
    except ValueError as e:  # an unreadable draft, a bad date, a document no longer in the index
        return citations_html(None, str(e)), None
    except Exception as e:  # keep the page usable; the console gets the traceback
        log.exception("citation check failed")
        return citations_html(None, f"核查出错：{type(e).__name__}"), None


def map_html(cmap: dict[str, Any] | None) -> str:
    """The cross-reference map (``assistant check --map --json``) as a table: each document, what it cites, and
    which passages of other documents cite it."""
    if not cmap:
        return ""
    rows = []
    for d in cmap["documents"]:
        if not d["cites"] and not d["cited_by"]:
            continue
        cites = "<br>".join(
            f"《{_e(c['resolved_title'] or c['title'])}》" + ("" if c["in_corpus"] else "<span style='color:#777'>（语料中无此文件）</span>")
            + f" ×{c['count']}<div style='color:#666;font-size:12px'>{_e('；'.join(c['sections'][:5]))}"
            + ("…" if len(c["sections"]) > 5 else "") + "</div>"
            for c in d["cites"]) or "—"
        cited_by = "<br>".join(f"《{_e(p['doc'])}》 {_e(p['section'])}" for p in d["cited_by"]) or "—"
        rows.append(f"<tr class='map-row'><td style='{_CELL}'>《{_e(d['doc'])}》</td>"
                    f"<td style='{_CELL}'>{cites}</td><td style='{_CELL}'>{cited_by}</td></tr>")
    head = "".join(f"<th style='{_CELL}'>{h}</th>" for h in ("文件", "它引用的文件（位置）", "引用它的段落"))
    return (f"<table class='map-table' style='border-collapse:collapse;width:100%;font-size:14px'>"
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>")


def build_check_tab(engine) -> dict[str, Any]:
    """Create the tab's components inside the current ``gr.Blocks``/``gr.Tab`` context; returns them by name.

    ``engine``: an ``Engine``, or a zero-argument callable returning one (or None while the index loads).
    """
    get: Callable[[], Any] = engine if callable(engine) else (lambda: engine)
    gr.Markdown("核查文字中的法律法规引用：文件是否在语料中、条文是否存在、条文原文，以及引用句与条文内容是否相符。"
                "上传文稿（.docx / .txt / .md / .pdf）可下载批注稿（每处引用按结果着色并附批注）和核查报告。")
    with gr.Row():
        text = gr.Textbox(label="粘贴要核查的文字", lines=8, scale=3, elem_id="check-text",
                          placeholder="例如：根据《中华人民共和国未成年人保护法》第三十九条，学校应当建立学生欺凌防控工作制度。")
        with gr.Column(scale=2):
            upload = gr.File(label="或上传文稿（优先于文字框）", file_count="single", type="filepath",
                             file_types=list(review.SUFFIXES), elem_id="check-file")
            written = gr.Textbox(label="成文日期（可选，如 2022-06-01；留空则取文稿末尾的日期）", max_lines=1,
                                 elem_id="check-date")
            doc = gr.Dropdown(report_choices(get()), value=None, label="或选择已导入的报告（文字框为空时核查）",
                              elem_id="check-doc")
    button = gr.Button("核查引用", variant="primary", elem_id="check-button")
    result = gr.HTML(citations_html(None), elem_id="check-result")
    downloads = gr.File(label="下载：批注稿与核查报告", file_count="multiple", interactive=False, visible=False,
                        elem_id="check-downloads")

    with gr.Accordion("引用关系：各文件引用了哪些文件、被哪些段落引用", open=False):
        map_button = gr.Button("生成引用关系表", elem_id="map-button")
        map_result = gr.HTML("", elem_id="map-result")

    private = {"api_visibility": "private"}

    def review_click(t, d, f, w):
        page, files = run_review(get(), t, d, f, w)
        return page, gr.update(value=files, visible=bool(files))

    button.click(review_click, [text, doc, upload, written], [result, downloads], concurrency_limit=4, **private)
    map_button.click(lambda: map_html(checker.citation_map(get())) if get() else "索引尚未就绪。", None, map_result,
                     concurrency_limit=1, **private)
    doc.focus(lambda: gr.update(choices=report_choices(get())), None, doc, queue=False, show_progress="hidden",
              **private)
    return {"text": text, "doc": doc, "upload": upload, "date": written, "button": button, "result": result,
            "downloads": downloads, "map": map_result}
