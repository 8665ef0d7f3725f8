"""Real scans for the OCR tests and bench/ocr.py: corpus text typeset on A4 pages with a Chinese font, optionally
degraded like a photocopy (rotation, blur, speckle, JPEG), saved as images or wrapped in an image-only PDF.

The layout follows the national standard for official documents (GB/T 9704): 16 pt body text, 28 characters
by 22 lines, paragraphs indented by two characters, a centred title and centred 章 headings, the page number
「— N —」 at the foot. The font is Debian's Noto CJK (fonts-noto-cjk, installed by ``make setup-test``), found
with fc-list. Nothing here is used by the application.
"""

from __future__ import annotations

import io
import random
import re
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter, ImageFont

A4_MM = (210, 297)
#: GB/T 9704 text area: 156 × 225 mm, 28 characters × 22 lines, so 16 pt characters on a 10.2 mm line pitch.
CHARS_PER_LINE = 28
LINES_PER_PAGE = 22
TEXT_MM = (156, 225)
TOP_MM, LEFT_MM = 37, 28
#: Characters that may not start a line (Chinese line-breaking rules): they stay at the end of the line before.
NO_LINE_START = "，。、；：？！）》」』”’%"


@dataclass
class Scan:
    """Pages typeset from ``paragraphs`` and what they say (for the error rate)."""

    title: str
    paragraphs: list[str]
    pages: list[Image.Image]

    @property
    def reference(self) -> str:
        return squeeze("".join([self.title, *self.paragraphs]))


@cache
def cjk_font() -> tuple[str, int]:
    """(file, face index) of a Simplified-Chinese Noto CJK face: Serif (closest to the 仿宋 of official
    documents) if installed, else Sans."""
    out = subprocess.run(["fc-list", "-f", "%{file}|%{index}|%{family}\n", ":lang=zh-cn"],
                         capture_output=True, text=True, check=False).stdout
    faces = [line.split("|") for line in out.splitlines() if line.count("|") == 2]
    for wanted in ("Noto Serif CJK SC", "Noto Sans CJK SC"):
        for file, index, family in sorted(faces):
            if wanted in family.split(",") and "Bold" not in file:
                return file, int(index)
    raise RuntimeError("no Simplified Chinese font found by fc-list: apt-get install fonts-noto-cjk")


def squeeze(text: str) -> str:
    """Text without whitespace: the character error rate compares what was read, not how it was spaced."""
    return re.sub(r"\s+", "", text)


def cer(hypothesis: str, reference: str) -> float:
    """Character error rate: Levenshtein distance / reference length, whitespace ignored on both sides."""
    a, b = squeeze(hypothesis), squeeze(reference)
    if not b:
        return float(bool(a))
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1] / len(b)


def law_chapter(path: Path, chapter: int = 1) -> tuple[str, list[str]]:
    """(title, paragraphs) of one chapter of a corpus law file: its ``##`` heading and every paragraph under it."""
    text = path.read_text(encoding="utf-8")
    title = text.split("\n", 1)[0].removeprefix("# ").strip()
    body = text.split("<!-- INFO END -->", 1)[1]
    parts = re.split(r"^## ", body, flags=re.M)
    section = parts[chapter]
    lines = [line.replace("\u200b", "").strip() for line in section.split("\n")]
    return title, [line for line in lines if line]


def law_paragraphs(path: Path, chars: int) -> tuple[str, list[str]]:
    """(title, the law's headings and paragraphs from the start, at least ``chars`` characters of them)."""
    text = path.read_text(encoding="utf-8")
    title = text.split("\n", 1)[0].removeprefix("# ").strip()
    out, total = [], 0
    for line in text.split("<!-- INFO END -->", 1)[1].split("\n"):
        line = line.replace("\u200b", "").removeprefix("## ").removeprefix("### ").strip()
        if line and not line.startswith(("#", "<!--")):
            out.append(line)
            total += len(line)
            if total >= chars:
                break
    return title, out


def _wrap(text: str, width: int, indent: int) -> list[str]:
    """Lines of at most ``width`` characters (the first ``indent`` shorter); a mark that may not start a line
    hangs at the end of the previous one, as typesetters do."""
    lines, pos, first = [], 0, True
    while pos < len(text):
        n = width - (indent if first else 0)
        end = min(len(text), pos + n)
        while end < len(text) and text[end] in NO_LINE_START:
            end += 1
        lines.append(text[pos:end])
        pos, first = end, False
    return lines


def typeset(title: str, paragraphs: list[str], dpi: int = 150, page_numbers: bool = True,
            chars_per_line: int = CHARS_PER_LINE, lines_per_page: int = LINES_PER_PAGE) -> list[Image.Image]:
    """Greyscale A4 pages: the title (if any) centred on the first, 第N章 headings centred, paragraphs indented
    by two characters, one character per cell of the grid. More characters per line make smaller print
    (42 × 40 is 10.5 pt, the size of footnotes and tables)."""
    mm = dpi / 25.4
    size = (round(A4_MM[0] * mm), round(A4_MM[1] * mm))
    pitch = TEXT_MM[1] * mm / lines_per_page
    char = TEXT_MM[0] * mm / chars_per_line
    file, index = cjk_font()
    body_font = ImageFont.truetype(file, round(char * 0.95), index=index)
    title_font = ImageFont.truetype(file, round(char * 1.35), index=index)
    left, top = LEFT_MM * mm, TOP_MM * mm
    right = left + TEXT_MM[0] * mm
    pages: list[Image.Image] = []
    draw = None
    line = lines_per_page

    def new_page() -> None:
        nonlocal draw, line
        if draw is not None and page_numbers:
            _footer(draw, len(pages), size, body_font, top + lines_per_page * pitch + pitch)
        pages.append(Image.new("L", size, 255))
        draw = ImageDraw.Draw(pages[-1])
        line = 0

    def centred(text: str, font: ImageFont.FreeTypeFont, lines: float) -> None:
        nonlocal line
        if line + lines > lines_per_page:
            new_page()
        width = draw.textlength(text, font=font)
        draw.text(((left + right - width) / 2, top + line * pitch), text, font=font, fill=0)
        line += lines

    new_page()
    if title:
        centred(title, title_font, 2)
    for para in paragraphs:
        if re.match(r"^第[一二三四五六七八九十]+[章节]", para):
            if line:
                line += 0.5
            centred(para, body_font, 1.5)
            continue
        for i, text in enumerate(_wrap(para, chars_per_line, 2)):
            if line + 1 > lines_per_page:
                new_page()
            x = left + (2 * char if i == 0 else 0)
            for k, ch in enumerate(text):  # one character per cell, like a typeset page
                draw.text((x + k * char, top + line * pitch), ch, font=body_font, fill=0)
            line += 1
    if page_numbers:
        _footer(draw, len(pages), size, body_font, top + lines_per_page * pitch + pitch)
    return pages


def _footer(draw: ImageDraw.ImageDraw, number: int, size: tuple[int, int], font, y: float) -> None:
    text = f"— {number} —"
    draw.text(((size[0] - draw.textlength(text, font=font)) / 2, y), text, font=font, fill=0)


def degrade(page: Image.Image, seed: int, degrees: float = 1.2, noise: float = 0.04, blur: float = 0.8,
            jpeg_quality: int = 40) -> Image.Image:
    """A photocopy-like scan of ``page``: slightly rotated, blurred, grey speckle, darker and lighter patches
    of ink, then JPEG-compressed."""
    rng = random.Random(seed)
    img = page.rotate(degrees, resample=Image.Resampling.BICUBIC, expand=False, fillcolor=255)
    img = img.filter(ImageFilter.GaussianBlur(blur))
    px = img.load()
    w, h = img.size
    for _ in range(int(w * h * noise)):
        x, y = rng.randrange(w), rng.randrange(h)
        px[x, y] = rng.choice((0, 80, 160, 255))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=jpeg_quality)
    return Image.open(io.BytesIO(buf.getvalue())).convert("L")


def save_pdf(pages: list[Image.Image], path: Path, dpi: int = 150) -> Path:
    """An image-only PDF: each page one picture, no text layer (what a scanner produces)."""
    pages[0].save(path, "PDF", save_all=True, append_images=pages[1:], resolution=dpi)
    return path
