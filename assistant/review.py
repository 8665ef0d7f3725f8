"""A legal advisor's review of a draft: read it, check its citations, give it back annotated, write a report.

``read_draft`` turns a .docx / .txt / .md / .pdf (or pasted text, ``draft_from_text``) into a :class:`Draft`: the
text that is checked, its paragraphs, its title, the date it was written and its own articles. ``check_draft`` runs
:func:`assistant.checker.check_text` on it, so ``assistant check FILE --json``, the annotated draft, the report and
the 引用核查 tab show the same verdicts. ``annotate`` writes the draft back as a .docx with every citation
highlighted in its verdict's colour and a Word comment beside it (the article, the support score, the better-fitting
article, version notes); ``write_report`` writes the table of citations as CSV or .docx.

The draft's own text is never changed: a .docx is annotated in place (runs are split at citation boundaries with
their formatting copied; only highlight colours, comment ranges and comments are added), so each paragraph's text
stays byte-identical. A .txt / .md / .pdf becomes a new .docx with one paragraph per non-empty line (a PDF's visual
lines are first joined into paragraphs).
"""

from __future__ import annotations

import csv
import io
import os
import re
import tempfile
from copy import deepcopy
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from assistant import checker
from assistant import messages as msg
from assistant import citations as cit
from assistant.ingest.loaders import LoadError, load

#: Highlight colour per verdict (Word's highlight palette has no orange; PINK stands out from YELLOW).
HIGHLIGHT = {"ok": "BRIGHT_GREEN", "mismatch": "YELLOW", "no_such_article": "PINK",
             "document_not_in_corpus": "GRAY_25", "ambiguous": "TURQUOISE"}
#: How the colours read in a legend (comments, report, README).
COLOUR_NAMES = msg.COLOUR_NAMES
AUTHOR, INITIALS = msg.REVIEW_AUTHOR, msg.REVIEW_INITIALS
SUFFIXES = (".docx", ".txt", ".md", ".pdf")
#: A comment is read beside the text: an article range (第1条至第300条) would make it a book.
MAX_COMMENT_CHARS = 3000
REPORT_COLUMNS = msg.REPORT_COLUMNS

_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
_CN_DIGIT = {"〇": 0, "零": 0, "一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
#: A paragraph that is only a date — how an official draft ends (its 成文日期): 2022年6月1日, 二〇二二年六月一日.
_DATE_LINE = re.compile(r"^[（(]?\s*([0-9]{4}|[〇零一二三四五六七八九]{4})\s*年\s*([0-9]{1,2}|[一二三四五六七八九十]{1,3})\s*月"
                        r"\s*([0-9]{1,2}|[一二三四五六七八九十]{1,3})\s*日\s*[）)]?$")
#: A draft's own article: a paragraph that starts with 第N条 and a space, as articles are laid out.
_OWN_ARTICLE = re.compile(r"(?m)^[ \t\u3000]*(第([零〇一二两三四五六七八九十百千0-9]+)条)[ \t\u3000]+\S")
_HEADING = re.compile(r"^(?:[一二三四五六七八九十]+、|[（(][一二三四五六七八九十]+[)）]|\d+[．.、]|第[一二三四五六七八九十百]+[章节条])")


class DraftError(ValueError):
    """A draft that cannot be read or written; the message says why, in Chinese."""


@dataclass
class Draft:
    """A draft to review. ``text`` is what is checked; ``paragraphs`` are (start, end) spans in it, one per paragraph
    (empty ones included for a .docx, so that index i is the document's i-th paragraph)."""

    text: str
    paragraphs: list[tuple[int, int]]
    title: str
    kind: str  # docx / txt / md / pdf / text
    name: str = ""  # the file name, for reports
    path: Path | None = None
    written: date | None = None  # the draft's date (its last date-only paragraph), for version notes
    own_articles: dict[str, str] = field(default_factory=dict)

    @property
    def paragraph_starts(self) -> list[int]:
        """Starts of the non-empty paragraphs: the checker numbers paragraphs 1, 2, … by these."""
        return [s for s, e in self.paragraphs if self.text[s:e].strip()]


def _cn_number(s: str) -> int:
    if s.isdigit():
        return int(s)
    if len(s) == 4 and all(ch in _CN_DIGIT for ch in s):  # 二〇二二: digit by digit
        return int("".join(str(_CN_DIGIT[ch]) for ch in s))
    return cit.cn_to_int(s)


def draft_date(paragraphs: list[str]) -> date | None:
    """The date a draft was written: its last paragraph that is only a date (2022年6月1日 / 二〇二二年六月一日 /
    （2022年6月1日）). None when there is none — a date inside a sentence is a fact, not the draft's date."""
    for text in reversed(paragraphs):
        m = _DATE_LINE.match(text.strip(" \t\u3000"))
        if m:
            try:
                return date(_cn_number(m[1]), _cn_number(m[2]), _cn_number(m[3]))
            except ValueError:
                continue
    return None


def parse_date(text: str) -> date:
    """A date typed by a person (--date, the tab's 成文日期 box): 2022-06-01, 2022/6/1, 2022年6月1日."""
    m = re.fullmatch(r"\s*(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?\s*", text or "")
    try:
        if m:
            return date(int(m[1]), int(m[2]), int(m[3]))
    except ValueError:
        pass
    shown = text if len(text) <= 40 else text[:40] + "…"
    raise DraftError(msg.REVIEW_BAD_DATE.format(shown=shown))


def own_articles(text: str) -> dict[str, str]:
    """The draft's own articles (label → text up to the next article or 第X章 heading), when it has them: at least
    two 第N条 paragraphs, the first one 第一条. A report that quotes one law article at a line start has none."""
    heads = [(m.start(), m.group(1), m.group(2)) for m in _OWN_ARTICLE.finditer(text)]
    labels = []
    for _, _, num in heads:
        try:
            labels.append(cit.article_label(_cn_number(num)))
        except ValueError:
            return {}
    if len(heads) < 2 or labels[0] != "第一条":
        return {}
    stops = sorted({m.start() for m in re.finditer(r"(?m)^[ \t\u3000]*第[一二三四五六七八九十百]+[章节编][ \t\u3000]", text)}
                   | {s for s, _, _ in heads} | {len(text)})
    out: dict[str, str] = {}
    for (start, _, _), label in zip(heads, labels):
        end = next(s for s in stops if s > start)
        out.setdefault(label, text[start:end].strip())
    return out


def _title(candidates: list[str], fallback: str) -> str:
    """A draft's title: the first non-empty paragraph when it reads like one (short, no sentence end)."""
    for text in candidates:
        t = text.strip(" \t\u3000")
        if t:
            return t if len(t) <= 60 and not re.search(r"[。；！？]", t) else fallback
    return fallback


def _spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each line of ``text``."""
    out, pos = [], 0
    for line in text.split("\n"):
        out.append((pos, pos + len(line)))
        pos += len(line) + 1
    return out


def _finish(draft: Draft) -> Draft:
    lines = [draft.text[s:e] for s, e in draft.paragraphs]
    draft.written = draft_date(lines)
    draft.own_articles = own_articles(draft.text)
    return draft


def draft_from_text(text: str, name: str = "") -> Draft:
    """Pasted text (or standard input): one paragraph per line, checked as it is."""
    spans = _spans(text)
    return _finish(Draft(text, spans, _title([text[s:e] for s, e in spans], checker.OWN_DOCUMENT), "text", name))


def _docx_paragraphs(document) -> list:
    """Every paragraph of the body in reading order, those of tables (nested ones too) included."""
    from docx.table import Table

    out = []

    def walk(container) -> None:
        for item in container.iter_inner_content():
            if isinstance(item, Table):
                seen = set()
                for row in item.rows:
                    for cell in row.cells:
                        if id(cell._tc) not in seen:  # a merged cell comes back once per grid column
                            seen.add(id(cell._tc))
                            walk(cell)
            else:
                out.append(item)

    walk(document)
    return out


def _pdf_paragraphs(text: str) -> list[str]:
    """A PDF's visual lines joined into paragraphs: a line that ends a sentence, a heading, or a blank line ends one
    (a citation broken over two lines is then whole again)."""
    paragraphs, current = [], ""
    for line in text.split("\n"):
        s = line.strip(" \t\u3000")
        if not s or (current and (_HEADING.match(s) or _DATE_LINE.match(s))):  # a date line: the draft's date
            if current:
                paragraphs.append(current)
            current = ""
            if not s:
                continue
        current += s
        if (re.search(r"[。！？；：:!?;」』”]$", s) or (_HEADING.match(current) and len(current) <= 30)
                or _DATE_LINE.match(current)):
            paragraphs.append(current)
            current = ""
    if current:
        paragraphs.append(current)
    return paragraphs


def read_draft(path: str | Path) -> Draft:
    """Read a draft file (.docx / .txt / .md / .pdf). Raises DraftError with the reason (the loader's checks: a
    corrupt, encrypted, scanned or binary file, a zip bomb, an oversized text)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise DraftError(msg.REVIEW_BAD_TYPE.format(suffix=suffix or msg.REVIEW_NO_SUFFIX))
    try:
        loaded = load(path)  # validates the file whatever its type; a .txt/.md keeps its text verbatim
    except LoadError as e:
        raise DraftError(str(e)) from None
    name = path.name
    if suffix == ".docx":
        import docx

        try:
            document = docx.Document(str(path))
        except Exception as e:  # checked by load() already; a second reader failing is still the file's fault
            raise DraftError(msg.REVIEW_BROKEN_DOCX.format(name=name, error=type(e).__name__)) from None
        texts = [p.text for p in _docx_paragraphs(document)]
        text = "\n".join(texts)
        spans, pos = [], 0
        for t in texts:
            spans.append((pos, pos + len(t)))
            pos += len(t) + 1
        title = document.core_properties.title or ""
        title = title.strip() if len(title.strip()) >= 2 else _title(texts, path.stem)
        return _finish(Draft(text, spans, title, "docx", name, path))
    if suffix == ".pdf":
        paragraphs = _pdf_paragraphs(loaded.text)
        text = "\n".join(paragraphs)
        return _finish(Draft(text, _spans(text), _title(paragraphs, path.stem), "pdf", name, path))
    text = loaded.text
    spans = _spans(text)
    return _finish(Draft(text, spans, _title([text[s:e] for s, e in spans], path.stem), suffix[1:], name, path))


def check_draft(engine, draft: Draft, written: date | None = None) -> checker.CheckReport:
    """Check a draft's citations: its own 本办法第N条 against its own articles, version notes against its date
    (``written`` overrides the date found in the draft)."""
    when = written or draft.written
    report = checker.check_text(engine, draft.text, own_title=draft.title, own_articles=draft.own_articles or None,
                                draft_date=when, paragraph_starts=draft.paragraph_starts)
    report.draft = {"title": draft.title, "file": draft.name or None, "kind": draft.kind,
                    "date": when.isoformat() if when else None, "own_articles": len(draft.own_articles)}
    return report


# --- the annotated .docx ----------------------------------------------------------------------------

def xml_safe(text: str) -> str:
    """Characters a .docx cannot hold (control characters, lone surrogates) → U+FFFD, one for one."""
    return _XML_BAD.sub("\ufffd", text)


def comment_text(c: dict[str, Any]) -> str:
    """What a reviewer reads beside a citation: the verdict, the article's text, the support score, the
    better-fitting article, version notes."""
    verdict = c.get("verdict_text") or c["status"]
    lines = [msg.COMMENT_VERDICT.format(verdict=verdict)]
    title = c.get("resolved_title")
    if c["status"] == "document_not_in_corpus":
        lines.append(msg.COMMENT_ABSENT.format(title=c.get('title') or c['raw']))
    elif c["status"] == "ambiguous":
        lines.append(msg.COMMENT_AMBIGUOUS.format(title=c.get('title')))
    if c.get("missing") and title:
        lines.append(msg.COMMENT_MISSING.format(title=title, articles='、'.join(c['missing'])))
    if c.get("article_texts"):
        shown = list(dict.fromkeys(a["article"] for a in c["article_texts"]))
        lines.append(msg.COMMENT_ARTICLE_TEXT.format(title=title, articles='、'.join(shown)))
        lines += [a["text"] for a in c["article_texts"]]
    if c.get("support") is not None:
        lines.append(msg.COMMENT_SUPPORT.format(support=c['support'], threshold=checker.MISMATCH_THRESHOLD))
    if c.get("unstated"):
        lines.append(msg.COMMENT_UNSTATED.format(quantities='、'.join(c['unstated'])))
    if c.get("rival_text"):
        lines.append(msg.COMMENT_BETTER.format(article=c['rival_article'], support=c.get('rival') or 0))
        lines.append(c["rival_text"])
    for key, label in (("note", msg.COMMENT_NOTE_LABEL), ("version_note", msg.COMMENT_VERSION_LABEL)):
        if c.get(key):
            lines.append(msg.COMMENT_LABELLED.format(label=label, text=c[key]))
    if c.get("doc_info"):
        lines.append(msg.COMMENT_HISTORY.format(event=checker.latest_event(c['doc_info'])))
    text = "\n".join(line for line in lines if line)
    if len(text) > MAX_COMMENT_CHARS:
        text = text[:MAX_COMMENT_CHARS] + msg.COMMENT_TRUNCATED
    return xml_safe(text)


def legend() -> str:
    return "；".join(msg.LEGEND_ITEM.format(colour=COLOUR_NAMES[v], label=checker.VERDICT_LABELS[v]) for v in checker.VERDICTS)


def _run_elements(p_elm) -> list:
    """The w:r elements whose text makes up ``paragraph.text``: direct runs and runs inside hyperlinks, in order."""
    from docx.oxml.ns import qn

    out = []
    for child in p_elm.iterchildren():
        if child.tag == qn("w:r"):
            out.append(child)
        elif child.tag == qn("w:hyperlink"):
            out.extend(child.iterchildren(qn("w:r")))
    return out


_TEXT_TAGS = ("t", "tab", "br", "cr", "noBreakHyphen", "ptab")


def _keep_part(r, lo: int, hi: int | None) -> None:
    """Cut run ``r`` down to its text [lo, hi): text elements outside are removed, a w:t that straddles a bound
    is trimmed, the run properties (formatting) stay, other content (a drawing, a field mark) stays with the
    side its position falls on."""
    from docx.oxml.ns import qn

    pos = 0
    for child in list(r.iterchildren()):
        if child.tag == qn("w:rPr"):
            continue
        local = child.tag.split("}")[-1]
        size = len(str(child)) if local in _TEXT_TAGS else 0
        start, end = pos, pos + size
        pos = end
        inside = (start >= lo and (hi is None or start < hi)) if size == 0 else (
            end > lo and (hi is None or start < hi))
        if not inside:
            r.remove(child)
        elif local == "t" and (start < lo or (hi is not None and end > hi)):
            text = child.text or ""
            child.text = text[max(0, lo - start): (hi - start) if hi is not None else None]
            child.set(qn("xml:space"), "preserve")


def _split_run(r, k: int):
    """Split run ``r`` at text offset ``k`` into two runs with the same formatting; returns the right one."""
    right = deepcopy(r)
    _keep_part(r, 0, k)
    _keep_part(right, k, None)
    r.addnext(right)
    return right


def _runs_for(p_elm, a: int, b: int) -> list:
    """The runs covering exactly [a, b) of the paragraph's text, splitting runs at a and b where needed."""
    for cut in (a, b):
        pos = 0
        for r in _run_elements(p_elm):
            n = len(r.text)
            if pos < cut < pos + n:
                _split_run(r, cut - pos)
                break
            pos += n
    out, pos = [], 0
    for r in _run_elements(p_elm):
        n = len(r.text)
        if n and a <= pos and pos + n <= b:
            out.append(r)
        pos += n
    return out


def _new_document(draft: Draft):
    """A .docx of a text draft: one paragraph per line (empty lines kept, so paragraph i is line i), the draft's
    title as the document title, a font that has Chinese glyphs."""
    import docx
    from docx.oxml.ns import qn

    document = docx.Document()
    normal = document.styles["Normal"]
    normal.font.name = "宋体"
    normal.element.get_or_add_rPr().get_or_add_rFonts().set(qn("w:eastAsia"), "宋体")
    body = document.element.body
    for p in list(body.iterchildren(qn("w:p"))):  # the template's empty first paragraph
        body.remove(p)
    for s, e in draft.paragraphs:
        if draft.text[s:e].strip():
            document.add_paragraph(xml_safe(draft.text[s:e]))
    document.core_properties.title = xml_safe(draft.title)[:255]
    return document


def annotate(draft: Draft, result: dict[str, Any], out: str | Path) -> int:
    """Write ``draft`` to ``out`` (.docx) with each citation of ``result`` (``check_draft(...).to_json()``)
    highlighted in its verdict's colour and a comment beside it, and a summary comment on the first paragraph.
    Returns the number of citations annotated. The file is written whole or not at all."""
    import docx
    from docx.enum.text import WD_COLOR_INDEX
    from docx.text.run import Run

    import bisect

    if draft.kind == "docx" and draft.path is not None:
        document = docx.Document(str(draft.path))
        paragraphs, spans = _docx_paragraphs(document), draft.paragraphs
    else:
        document = _new_document(draft)
        paragraphs, spans = list(document.paragraphs), [(s, e) for s, e in draft.paragraphs if draft.text[s:e].strip()]
    if len(paragraphs) != len(spans):
        raise DraftError(msg.REVIEW_CHANGED)
    starts = [s for s, _ in spans]
    done, last_end = 0, -1
    for c in sorted(result["citations"], key=lambda c: c["start"]):
        i = bisect.bisect_right(starts, c["start"]) - 1
        if i < 0 or c["start"] < last_end or c["end"] > spans[i][1]:
            continue  # overlapping or crossing a paragraph end: listed in the report, not marked
        p = paragraphs[i]
        runs = _runs_for(p._p, c["start"] - starts[i], c["end"] - starts[i])
        if not runs:
            continue
        verdict = c.get("verdict") or c["status"]
        for r in runs:
            Run(r, p).font.highlight_color = getattr(WD_COLOR_INDEX, HIGHLIGHT.get(verdict, "YELLOW"))
        document.add_comment([Run(runs[0], p), Run(runs[-1], p)], comment_text(c), author=AUTHOR, initials=INITIALS)
        done += 1
        last_end = c["end"]
    first = next((p for p in paragraphs if p.text.strip()), None)
    if first is not None:
        runs = _run_elements(first._p)
        summary = msg.COMMENT_SUMMARY.format(summary=checker.summary_text(result), legend=legend())
        if result.get("draft", {}).get("date"):
            summary += msg.COMMENT_DRAFT_DATE.format(date=result['draft']['date'])
        document.add_comment([Run(runs[0], first), Run(runs[-1], first)], xml_safe(summary), author=AUTHOR,
                             initials=INITIALS)
    _save(out, document.save)
    return done


def _save(out: str | Path, write) -> None:
    """Write through a temporary file in the target folder, then rename: a failure leaves no half-written file and
    an existing file is replaced only by a complete one."""
    out = Path(out)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=out.suffix, dir=out.parent)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# --- the report ---------------------------------------------------------------------------------------

def report_rows(result: dict[str, Any]) -> list[dict[str, str]]:
    """One row per citation, the columns of REPORT_COLUMNS, from a ``to_json()`` result (nothing recomputed)."""
    rows = []
    for i, c in enumerate(result["citations"], 1):
        better = c["rival_article"] if c.get("rival_text") else ""
        rows.append(dict(zip(REPORT_COLUMNS, (  # in the columns' order: 序号, 段落, 引用, 核查结果, …
            str(i), str(c.get("paragraph") or ""), c["raw"],
            c.get("verdict_text") or c["status"], c.get("resolved_title") or "",
            "、".join(c.get("articles") or []),
            "" if c.get("support") is None else f"{c['support']:.2f}",
            f"{better}（{c['rival']:.2f}）" if better else "",
            "；".join(x for x in (c.get("note"), c.get("version_note")) if x),
            c.get("sentence") or "",
        ), strict=True)))
    return rows


def _meta_lines(result: dict[str, Any]) -> list[str]:
    d = result.get("draft") or {}
    lines = [msg.REPORT_FILE.format(file=d['file']) if d.get("file") else "",
             msg.REPORT_TITLE_LINE.format(title=d['title']) if d.get("title") else "",
             msg.REPORT_DATE.format(date=d['date']) if d.get("date") else msg.REPORT_NO_DATE,
             msg.REPORT_CHECKED_ON.format(today=date.today().isoformat())]
    return [line for line in lines if line]


def write_report(result: dict[str, Any], out: str | Path) -> None:
    """The review report as .csv (UTF-8 with BOM, so that Excel reads the Chinese) or .docx: every citation with its
    verdict and notes, then the summary line and the documents not in the corpus, each once with where."""
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix == ".csv":
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(REPORT_COLUMNS)
        for row in report_rows(result):
            w.writerow([row[k] for k in REPORT_COLUMNS])
        w.writerow([])
        for line in checker.summary_text(result).split("\n"):
            w.writerow([msg.REPORT_SUMMARY_ROW, line])
        for line in _meta_lines(result):
            w.writerow([msg.REPORT_NOTE_ROW, line])
        data = buf.getvalue().encode("utf-8-sig")
        _save(out, lambda tmp: Path(tmp).write_bytes(data))
    elif suffix == ".docx":
        _save(out, lambda tmp: _report_docx(result).save(tmp))
    else:
        raise DraftError(msg.REVIEW_BAD_REPORT_TYPE.format(name=out.name))


def _report_docx(result: dict[str, Any]):
    import docx
    from docx.enum.section import WD_ORIENT
    from docx.oxml.ns import qn
    from docx.shared import Pt

    document = docx.Document()
    normal = document.styles["Normal"]
    normal.font.name, normal.font.size = "宋体", Pt(10)
    normal.element.get_or_add_rPr().get_or_add_rFonts().set(qn("w:eastAsia"), "宋体")
    section = document.sections[0]
    section.orientation = WD_ORIENT.LANDSCAPE
    section.page_width, section.page_height = section.page_height, section.page_width
    document.add_heading(msg.REPORT_HEADING, level=1)
    for line in _meta_lines(result):
        document.add_paragraph(xml_safe(line))
    for line in checker.summary_text(result).split("\n"):
        document.add_paragraph(xml_safe(line)).runs[0].bold = True
    rows = report_rows(result)
    table = document.add_table(rows=1, cols=len(REPORT_COLUMNS))
    table.style = "Table Grid"
    for cell, name in zip(table.rows[0].cells, REPORT_COLUMNS):
        cell.text = name
        cell.paragraphs[0].runs[0].bold = True
    for row in rows:
        cells = table.add_row().cells
        for cell, name in zip(cells, REPORT_COLUMNS):
            cell.text = xml_safe(row[name])
    document.add_paragraph(msg.REPORT_FOOTER.format(legend=legend()))
    document.core_properties.title = msg.REPORT_HEADING
    return document


def read_report_csv(path: str | Path) -> list[dict[str, str]]:
    """The citation rows of a CSV report (the summary rows after the blank line are left out)."""
    with open(path, encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f))
    out = []
    for row in rows[1:]:
        if not row:
            break
        out.append(dict(zip(rows[0], row)))
    return out
