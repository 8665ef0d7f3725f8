"""Recognised text lines of one page → paragraphs in reading order, from the boxes' geometry alone.

The OCR engine returns one box per run of text (usually a whole printed line) with no notion of paragraphs.
The chunkers need them: a law's article starts a paragraph (「第三条 …」), a report's heading starts a line
(「一、」「（一）」), and a sentence that wraps over three printed lines must come back as one line of text, or
sentence splitting, quoting and keyword search all see fragments. So the page is rebuilt the way a reader sees
it: boxes on one printed line are joined left to right, and a new paragraph starts where the printed page shows
one — an indented first line, a line that stops short of the right margin before it, a blank line's worth of
extra space, a centred line (titles, 章 headings), or a 第N条 / 一、 / （一） label after a sentence end.

Every distance is measured in character sizes of the page itself (median line height and character width), so
the same rules hold for any resolution or font size. Single-column pages only: a two-column page is read row by
row across both columns (rare in the policy documents this project serves).

Pure geometry, no model: tested on synthetic boxes as well as on real recognition output.
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

#: A box whose top edge is this many times longer than its height gives a reliable skew angle (short boxes —
#: a page number, one character — have corners too close together to measure a fraction of a degree).
SKEW_MIN_ASPECT = 4.0
#: Two boxes are on the same printed line when they overlap vertically by at least this part of the lower one.
SAME_ROW_OVERLAP = 0.5
#: Boxes of one printed line further apart than this many character widths get a space between them
#: (「第一条」 and its text detected as two boxes; a table's cells); closer ones are one run split by the detector.
SPACE_GAP_CHARS = 0.6
#: A line whose left edge is this many character widths right of the text's left margin is indented: a new
#: paragraph (Chinese paragraphs are indented by two characters; one leaves room for a slightly skewed scan).
INDENT_CHARS = 1.0
#: A line that ends this many character widths before the right margin ends its paragraph. Typeset lines may
#: stop up to a character short (a closing punctuation mark is not allowed to start the next line).
SHORT_LINE_CHARS = 1.5
#: Extra vertical space, in line heights beyond the page's usual gap, that counts as a blank line between paragraphs.
BLANK_LINE_HEIGHTS = 0.6
#: A line is centred (a title, a 章 heading) when its middle is within this many character widths of the
#: text's middle and it keeps at least CENTRED_MARGIN_CHARS clear of both margins.
CENTRE_TOLERANCE_CHARS = 1.5
CENTRED_MARGIN_CHARS = 2.0
#: Lines found to span less than this share of the page's width are not a text column to take margins from (a
#: page of a few short lines): the text is then taken as centred on the page. A4 text is 156 of 210 mm wide.
MIN_COLUMN_SHARE = 0.5
#: The top and bottom bands of the page, as a fraction of its height, where a bare number is a page number.
PAGE_NUMBER_BAND = 0.1
#: A title is at most this long (the longest title in the corpus has 38 characters).
TITLE_MAX_CHARS = 60

#: Labels that start a paragraph in laws and reports: 第N条 / 第N章 / 一、 / （一） / 1．
LABEL = re.compile(r"^(第[零〇一二三四五六七八九十百千0-9]+[条章节编]|[一二三四五六七八九十]+、|[（(][一二三四五六七八九十]+[)）]|[0-9]+[．.、])")
#: Where a sentence (or a clause that introduces a list) ends: a following label starts a new paragraph.
SENTENCE_END = "。；：！？!?;:」』”）)"
#: A law's article or chapter label at the start of a paragraph, glued to its text by the recogniser. Typed
#: texts (and the corpus, SOURCES.md) put one space after it, which is what the law chunker looks for.
LABEL_GLUED = re.compile(r"^(第[零〇一二三四五六七八九十百千]+(?:条(?:之[一二三四五六七八九十]+)?|分编|编|章|节))(?=[^\s，。、；：:,.）)])")
#: A page number printed alone in the top or bottom band: 「3」「- 3 -」「— 3 —」「第3页」「3/10」「第 3 页 共 10 页」.
PAGE_NUMBER = re.compile(r"^[-—–－~·\s]*(?:第\s*)?[0-9０-９]+(?:\s*页)?(?:\s*[/／]\s*[0-9０-９]+|\s*[,，]?\s*共\s*[0-9０-９]+\s*页)?[-—–－~·\s]*$")
#: The same label with a speck of noise beside it read as a mark (「第三条、国家保障…」 from a photocopy); not
#: before another label (「第三条、第四条规定的…」 is a sentence).
LABEL_SPECK = re.compile(r"^(第[零〇一二三四五六七八九十百千]+条(?:之[一二三四五六七八九十]+)?)[、.,，·:：;；](?=[\u4e00-\u9fff])(?!第)")
_ASCII_LETTER = re.compile(r"[A-Za-z]")
#: ASCII punctuation the recogniser may return for the full-width mark of Chinese text.
FULL_WIDTH = {",": "，", ";": "；", ":": "：", "?": "？", "!": "！", "(": "（", ")": "）"}
_CJK = "\u3400-\u9fff\uff08\uff09"
_ASCII_AFTER_CJK = re.compile(rf"([{_CJK}])([,;:?!()])")
_OPEN_BEFORE_CJK = re.compile(rf"\((?=[{_CJK}])")


@dataclass
class Box:
    """One recognised run of text: its corners (top-left, top-right, bottom-right, bottom-left, in pixels)."""

    points: Sequence[Sequence[float]]
    text: str
    score: float = 1.0


@dataclass
class Row:
    """One printed line after deskewing: its extent and its text."""

    x0: float
    y0: float
    x1: float
    y1: float
    text: str
    boxes: int = 1

    @property
    def height(self) -> float:
        return self.y1 - self.y0

    @property
    def middle(self) -> float:
        return (self.x0 + self.x1) / 2


@dataclass
class PageLayout:
    """A page's text as paragraphs, and how they meet the neighbouring pages."""

    paragraphs: list[str] = field(default_factory=list)
    #: Parallel to ``paragraphs``: printed as a centred line (titles and headings).
    centred: list[bool] = field(default_factory=list)
    #: The first line continues a paragraph from the previous page (flush left, no label, not centred).
    continues: bool = False
    #: The last line runs to the right margin without ending a sentence: the paragraph goes on overleaf.
    open_end: bool = False
    skew_degrees: float = 0.0
    dropped: list[str] = field(default_factory=list)  # page numbers left out

    @property
    def text(self) -> str:
        return "\n\n".join(self.paragraphs)

    def title(self) -> str | None:
        """The first paragraph when it is printed centred and reads like a document title, else None.

        Scanned files rarely carry a title of their own (a scanner names them ``scan0001.pdf``), so the
        printed one names the document, as a Markdown file's ``#`` line does.
        """
        if not self.paragraphs or not self.centred[0]:
            return None
        first = self.paragraphs[0]
        if len(first) > TITLE_MAX_CHARS or re.search(r"[。；;，,]", first) or LABEL.match(first):
            return None
        return first


def skew_angle(boxes: Sequence[Box]) -> float:
    """The page's rotation in radians: the median slope of the top edges of long boxes (0 when none)."""
    angles = []
    for b in boxes:
        (x0, y0), (x1, y1), _, (x3, y3) = b.points[:4]
        width, height = math.hypot(x1 - x0, y1 - y0), math.hypot(x3 - x0, y3 - y0)
        if height > 0 and width >= SKEW_MIN_ASPECT * height:
            angles.append(math.atan2(y1 - y0, x1 - x0))
    return statistics.median(angles) if angles else 0.0


def _rows(boxes: Sequence[Box], angle: float) -> list[Row]:
    """Boxes rotated by ``-angle`` (undoing the skew) and grouped into printed lines, top to bottom."""
    cos, sin = math.cos(angle), math.sin(angle)
    flat: list[Row] = []
    for b in boxes:
        if not b.text.strip():
            continue
        xs, ys = [], []
        for x, y in b.points[:4]:
            xs.append(x * cos + y * sin)
            ys.append(-x * sin + y * cos)
        flat.append(Row(min(xs), min(ys), max(xs), max(ys), b.text.strip()))
    flat.sort(key=lambda r: (r.y0 + r.y1) / 2)
    lines: list[list[Row]] = []
    for r in flat:
        for line in reversed(lines[-3:]):  # a line's boxes are neighbours in this order
            top, bottom = min(x.y0 for x in line), max(x.y1 for x in line)
            overlap = min(bottom, r.y1) - max(top, r.y0)
            if overlap >= SAME_ROW_OVERLAP * min(r.height, bottom - top):
                line.append(r)
                break
        else:
            lines.append([r])
    rows = []
    for line in lines:
        line.sort(key=lambda r: r.x0)
        height = statistics.median(r.height for r in line)
        text = line[0].text
        for prev, cur in zip(line, line[1:]):
            gap = cur.x0 - prev.x1
            text += (" " if gap > SPACE_GAP_CHARS * height else "") + cur.text
        rows.append(Row(line[0].x0, min(r.y0 for r in line), max(r.x1 for r in line), max(r.y1 for r in line),
                        text, len(line)))
    rows.sort(key=lambda r: (r.y0 + r.y1) / 2)
    return rows


def _char_width(rows: Sequence[Row]) -> float:
    """Median width per character over lines of some length (CJK characters are about square)."""
    widths = [(r.x1 - r.x0) / len(r.text) for r in rows if len(r.text) >= 6]
    return statistics.median(widths) if widths else statistics.median(r.height for r in rows)


def _join(a: str, b: str) -> str:
    """Two wrapped lines of one paragraph: Chinese joins without a space, a word broken over lines with one."""
    if a and b and _ASCII_LETTER.match(a[-1]) and _ASCII_LETTER.match(b[0]):
        return f"{a} {b}"
    return a + b


def normalise_paragraph(text: str) -> str:
    """One space after a leading 第N条 / 第N章 label, as typed law texts have it (the recogniser drops it), and
    full-width punctuation next to Chinese characters: the recogniser sometimes reads 「；」 as 「;」, and the
    sentence splitter and the quotation checks know the full-width marks of Chinese text."""
    text = LABEL_GLUED.sub(r"\1 ", LABEL_SPECK.sub(r"\1 ", text))
    text = _ASCII_AFTER_CJK.sub(lambda m: m.group(1) + FULL_WIDTH[m.group(2)], text)
    return _OPEN_BEFORE_CJK.sub("（", text)


def layout(boxes: Sequence[Box], page_width: float, page_height: float) -> PageLayout:
    """Paragraphs of one page from its recognised boxes (see the module docstring for the rules)."""
    angle = skew_angle(boxes)
    rows = _rows(boxes, angle)
    out = PageLayout(skew_degrees=math.degrees(angle))
    kept = []
    for r in rows:  # page numbers in the top and bottom bands are not part of the text
        band = PAGE_NUMBER_BAND * page_height
        if PAGE_NUMBER.match(r.text) and (r.y1 < band or r.y0 > page_height - band):
            out.dropped.append(r.text)
        else:
            kept.append(r)
    rows = kept
    if not rows:
        return out
    line_h = statistics.median(r.height for r in rows)
    char_w = _char_width(rows)
    widest = max(r.x1 - r.x0 for r in rows)
    body = [r for r in rows if r.x1 - r.x0 >= 0.5 * widest] or rows
    left = sorted(r.x0 for r in body)[len(body) // 10]
    right = sorted(r.x1 for r in body)[-1 - len(body) // 10]
    if len(body) < 3 or right - left < MIN_COLUMN_SHARE * page_width:
        # too few full lines to find the margins: take the text as centred on the page, as printed pages are
        half = max(page_width / 2 - min(r.x0 for r in rows), max(r.x1 for r in rows) - page_width / 2)
        left, right = page_width / 2 - half, page_width / 2 + half
    centre = (left + right) / 2
    gaps = [b.y0 - a.y1 for a, b in zip(rows, rows[1:])]
    usual_gap = statistics.median(gaps) if gaps else 0.0

    def centred(r: Row) -> bool:
        return (abs(r.middle - centre) <= CENTRE_TOLERANCE_CHARS * char_w
                and r.x0 - left >= CENTRED_MARGIN_CHARS * char_w and right - r.x1 >= CENTRED_MARGIN_CHARS * char_w)

    def indented(r: Row) -> bool:
        return r.x0 - left > INDENT_CHARS * char_w

    def short(r: Row) -> bool:
        return right - r.x1 > SHORT_LINE_CHARS * char_w

    paragraphs: list[list[Row]] = [[rows[0]]]
    for prev, cur in zip(rows, rows[1:]):
        blank = cur.y0 - prev.y1 > usual_gap + BLANK_LINE_HEIGHTS * line_h
        label = LABEL.match(cur.text) is not None
        if centred(prev) or centred(cur):  # a title wrapped over centred lines stays one; a heading does not join it
            new = centred(prev) != centred(cur) or blank or label
        else:
            new = blank or indented(cur) or short(prev) or (label and prev.text.endswith(tuple(SENTENCE_END)))
        if new:
            paragraphs.append([cur])
        else:
            paragraphs[-1].append(cur)
    for para in paragraphs:
        text = para[0].text
        for r in para[1:]:
            text = _join(text, r.text)
        out.paragraphs.append(normalise_paragraph(text))
        out.centred.append(all(centred(r) for r in para))
    first, last = rows[0], rows[-1]
    out.continues = not (indented(first) or centred(first) or LABEL.match(first.text))
    out.open_end = not (short(last) or centred(last) or last.text.endswith(tuple(SENTENCE_END)))
    return out
