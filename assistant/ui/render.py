"""Pure builders: answer / documents → Markdown or HTML. No Gradio, no engine, so they are unit-tested
without a browser."""

from __future__ import annotations

import html
import re
import string
from typing import Any, Sequence

from assistant.bodies import title_body
from assistant.ingest.ocr import ocr_label
from assistant.schema import LEGAL_TYPES, Answer, Chunk

ALL = "全部"
TYPE_LABELS = {"report": "报告", "law": "法律", "admin_regulation": "行政法规", "rule": "部门规章",
               "local_regulation": "地方性法规", "judicial": "司法解释", "normative": "规范性文件", "other": "其他"}
TYPE_CODES = {v: k for k, v in TYPE_LABELS.items()}

NO_ANSWER_NOTE = "现有文件无法回答这个问题，因此没有引用来源。"
SOURCES_PLACEHOLDER = "提问后，这里会列出回答所引用的原文段落。"

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


MODE_LABELS = {"llm": "大模型撰写，每句已与所引原文逐句核对", "extractive": "原文摘录"}


def mode_line(answer: Answer) -> str:
    """Which mode answered (LLM mode only), how a follow-up was understood, and any note — as chat Markdown."""
    parts = [f"回答方式：{MODE_LABELS.get(answer.mode, answer.mode)}"]
    if answer.standalone:
        parts.append(f"问题理解为：{answer.standalone}")
    if answer.note:
        parts.append(answer.note)
    return "\n\n" + "  \n".join(f"*{md_escape(p)}*" for p in parts)


def unescape_md(text: str) -> str:
    """The inverse of :func:`md_escape` (the chat history holds questions escaped)."""
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", text)


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
        f'<div class="src-ocr">{html.escape(ocr)}</div>' if (ocr := ocr_label(chunk.extra, chunk.start, chunk.end)) else "",
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


UNKNOWN_ISSUER = "标题未写明发布机关的文件"


def issuer(title: str, doc_type: str | None = None) -> str | None:
    """The body that issued a document, as its title names it (assistant.bodies.title_body); None for laws and
    regulations, whose titles do not name the body that made them (中华人民共和国未成年人保护法)."""
    return None if doc_type in LEGAL_TYPES else title_body(title)


def _group_label(row: dict[str, Any]) -> tuple[int, str]:
    """(order, label) of a document's group in the corpus table: bodies first, then unnamed, then each law type."""
    code = row.get("doc_type", "")
    if code in LEGAL_TYPES:
        return 2 + list(TYPE_LABELS).index(code), TYPE_LABELS[code]
    body = issuer(str(row.get("doc", "")), code)
    return (0, body) if body else (1, UNKNOWN_ISSUER)


def corpus_summary(rows: Sequence[dict[str, Any]]) -> str:
    """One sentence on whose documents are indexed: each issuing body with its count, then the laws and
    regulations by type (their titles do not name the body that made them)."""
    bodies: dict[str, int] = {}
    unknown = 0
    kinds: dict[str, int] = {}
    for r in rows:
        order, label = _group_label(r)
        if order == 0:
            bodies[label] = bodies.get(label, 0) + 1
        elif order == 1:
            unknown += 1
        else:
            kinds[label] = kinds.get(label, 0) + 1
    parts = []
    if bodies:
        parts.append("发布机关：" + "、".join(f"{b}（{n} 份）" for b, n in sorted(bodies.items(), key=lambda x: (-x[1], x[0]))))
    if unknown:
        parts.append(f"另有 {unknown} 份{UNKNOWN_ISSUER.removesuffix('的文件')}的文件")
    if kinds:
        ordered = sorted(kinds.items(), key=lambda kv: list(TYPE_LABELS.values()).index(kv[0]))
        parts.append("、".join(f"{k} {n} 部" for k, n in ordered) + "（法律法规的标题不含制定机关，按类型列出）")
    return "；".join(parts) + "。" if parts else ""


def corpus_html(rows: Sequence[dict[str, Any]]) -> str:
    """The "about the corpus" table from ``Store.documents()`` rows, grouped by issuing body (:func:`issuer`; laws
    and regulations by type), with a sentence naming the bodies first."""
    if not rows:
        return '<div class="src-empty">索引中还没有文件。</div>'
    total = sum(int(r.get("chunks", 0)) for r in rows)
    order = {code: i for i, code in enumerate(TYPE_LABELS)}
    groups: dict[tuple[int, str], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault(_group_label(r), []).append(r)
    body = []
    for (_, label), members in sorted(groups.items(), key=lambda g: (g[0][0], -len(g[1]), g[0][1])):
        body.append(f'<tr class="c-group"><th colspan="5">{html.escape(label)}'
                    f'<span class="c-group-n">{len(members)} 个文件</span></th></tr>')
        for r in sorted(members, key=lambda r: (order.get(r.get("doc_type", ""), len(order)), str(r.get("doc", "")))):
            type_label = TYPE_LABELS.get(r.get("doc_type", ""), "其他")
            when = (r.get("ingested_at") or "")[:10]
            info = "<br>".join(html.escape(x.strip()) for x in str(r.get("info") or "").split(" / ") if x.strip()) or "—"
            body.append(
                f'<tr class="c-row" data-group="{html.escape(label)}">'
                f'<td class="c-doc">{html.escape(str(r.get("doc", "")))}</td>'
                f'<td class="c-nowrap">{html.escape(type_label)}</td>'
                f'<td class="c-num c-nowrap">{int(r.get("chunks", 0))}</td>'
                f'<td class="c-info">{info}</td>'
                f'<td class="c-nowrap">{html.escape(when)}</td>'
                "</tr>"
            )
    return (
        f'<p class="corpus-sum">共 {len(rows)} 个文件，{total} 个段落。</p>'
        f'<p class="corpus-bodies">{html.escape(corpus_summary(rows))}</p>'
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
