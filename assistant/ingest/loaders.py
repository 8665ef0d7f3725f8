"""Read one file (txt / md / docx / pdf / html, and scans: png / jpg / tif images) into a :class:`Document`.

``load`` raises :class:`LoadError` and nothing else, so callers can skip a bad file and report why.
For .txt/.md the text is the file's characters verbatim (only BOM and line endings are normalised),
because citations are checked against it.

PDF pages without a text layer and image files are read by OCR (:mod:`ingest.ocr`), page by page: a page
that cannot be read is left out with a note (``metadata["ocr_notes"]``), the rest of the document is kept.
Such documents record which pages were recognised and where each page starts in the text.
"""

from __future__ import annotations

import io
import logging
import os
import re
import zipfile
from collections.abc import Iterable
from pathlib import Path

import charset_normalizer
import docx
import filetype
import pypdf
from bs4 import BeautifulSoup
from bs4.dammit import EncodingDetector
from docx.table import Table

from assistant.ingest import ocr as ocr_mod
from assistant.ingest.ocr import OcrOptions, OcrUnavailable, PageProgress, PageText
from assistant.schema import Document
from assistant.settings import get_settings

#: Image suffix → the type ``filetype`` must find in the content.
IMAGE_SUFFIXES = {".png": "png", ".jpg": "jpg", ".jpeg": "jpg", ".tif": "tif", ".tiff": "tif"}
SUPPORTED_SUFFIXES = (".txt", ".md", ".markdown", ".docx", ".pdf", ".html", ".htm", *IMAGE_SUFFIXES)
_BINARY = (".pdf", ".docx", *IMAGE_SUFFIXES)
_OCR_OFF = "文字识别已关闭（ASSISTANT_OCR=false）"
MAX_BYTES = 50 * 1024 * 1024
#: Text limit per document. 民法典, the longest document of the corpus, has 11.2万 characters; 194万 made 18,576
#: passages, 10 minutes of embedding on 2 busy cores at 473 MB peak RSS (docs/robustness.md). A bigger "text"
#: is a dump or a compilation that should be split into its documents (answers cite one document each).
MAX_CHARS = 2_000_000
#: A .docx whose parts unpack to more than this is refused before python-docx inflates it (zip bomb).
MAX_UNZIPPED = 200 * 1024 * 1024

INFO_END = re.compile(r"^<!-- INFO END -->[ \t]*$", re.M)
_BLANK = " \t\r\n\u3000\u200b\ufeff\xa0"  # stripped from info lines and used for "no text"
_GB = {"gbk", "gb2312", "gb18030", "cp936", "euc_cn", "hz"}
_JUNK_TITLES = {"untitled", "document", "无标题", "无标题文档", "新建文档", "title", "标题", "none"}
_BLOCKS = ["p", "div", "section", "article", "main", "header", "footer", "aside", "h1", "h2", "h3",
           "h4", "h5", "h6", "li", "ul", "ol", "dl", "dt", "dd", "table", "tr", "blockquote", "pre",
           "form", "fieldset", "figure", "figcaption", "hr", "address", "center"]
_PARA, _BR = "\ue000", "\ue001"  # private-use sentinels for HTML block boundaries and <br>

# pypdf logs its repairs ("EOF marker not found") as warnings; the reason a file fails is reported by load().
logging.getLogger("pypdf").setLevel(logging.ERROR)


class LoadError(Exception):
    """A file that cannot be read. ``str()`` is ``"<path>: <reason>"``."""

    def __init__(self, path: str | Path, reason: str):
        super().__init__(str(path), reason)
        self.path = str(path)
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


class _Bad(Exception):
    """Internal: a reason for LoadError, raised by the helpers that do not know the path."""


def iter_files(paths: Iterable[str | Path], problems: list[tuple[str, str]] | None = None) -> list[Path]:
    """Expand folders (recursively, sorted, skipping hidden entries and Word ``~$`` lock files) to
    supported files. Explicit files are kept whatever their suffix; ``load`` reports them.

    Symlinked folders are followed (a linked folder of documents is common), but a folder is never entered
    twice, so a link back up the tree (a loop) ends the walk there instead of recursing until ELOOP. Such
    links, broken or looping file links and unreadable folders go to ``problems`` as (path, reason), so
    the caller can report them instead of dropping them silently.
    """
    out: list[Path] = []
    problems = [] if problems is None else problems

    def unreadable(e: OSError) -> None:
        problems.append((str(e.filename), f"无法读取文件夹 / cannot read folder: {e.strerror}"))

    for p in map(Path, paths):
        if not p.is_dir():
            out.append(p)
            continue
        found, entered = [], set()
        for root, dirs, files in os.walk(p, followlinks=True, onerror=unreadable):
            real = os.path.realpath(root)
            if real in entered:
                problems.append((root, f"符号链接指向已读过的文件夹 {real}（循环或重复），未再进入 / "
                                       "symlink loop or duplicate folder, not followed"))
                dirs[:] = []
                continue
            entered.add(real)
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            for f in files:
                if f.startswith((".", "~$")) or not f.lower().endswith(SUPPORTED_SUFFIXES):
                    continue
                full = os.path.join(root, f)
                if os.path.islink(full) and not os.path.exists(full):  # exists() follows the link
                    problems.append((full, "符号链接失效或循环 / broken symlink or symlink loop"))
                else:
                    found.append(Path(full))
        out += sorted(found)
    return list(dict.fromkeys(out))


def load(path: str | Path, max_bytes: int = MAX_BYTES, max_chars: int = MAX_CHARS, ocr: OcrOptions | None = None,
         on_page: PageProgress | None = None) -> Document:
    """``ocr``: whether and how scans are read (default: from the settings); ``on_page`` is called before each
    page that is recognised, for progress reports."""
    if ocr is None:
        ocr = OcrOptions.from_settings(get_settings())
    try:
        return _load(Path(path), str(path), max_bytes, max_chars, ocr, on_page)
    except _Bad as e:
        raise LoadError(path, str(e)) from None
    except Exception as e:  # any library failure on a malformed file
        what = {".pdf": "PDF 文件已损坏或不完整", ".docx": "docx 文件已损坏"}.get(Path(path).suffix.lower())
        if Path(path).suffix.lower() in IMAGE_SUFFIXES:
            what = "图片文件已损坏或不完整"
        raise LoadError(path, f"{what or '无法读取文件'}（{type(e).__name__}: {e}）") from e


def _load(p: Path, source: str, max_bytes: int, max_chars: int, ocr: OcrOptions,
          on_page: PageProgress | None) -> Document:
    if not p.exists():
        raise _Bad("文件不存在 (file not found)")
    if not p.is_file():
        raise _Bad("不是文件 (not a regular file)")
    suffix = p.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise _Bad(f"不支持的文件类型 (unsupported file type): {suffix or '无扩展名'}")
    size = p.stat().st_size
    # Refused from its size alone, before reading: memory stays bounded whatever lands in the folder.
    # A text file of more than 4 bytes per allowed character cannot fit (UTF-8 needs at most 4).
    limit = max_bytes if suffix in _BINARY else min(max_bytes, 4 * max_chars)
    if size > limit:
        raise _Bad(f"文件过大（{size / 2**20:.1f} MB，上限 {limit / 2**20:.1f} MB），未读取 / file too large")
    raw = p.read_bytes()
    if not raw:
        raise _Bad("文件为空")
    _check_kind(raw, suffix)
    if suffix in (".txt", ".md", ".markdown"):
        doc = _text(raw, p, source, suffix)
    else:
        if suffix == ".pdf":
            title, text, meta = _pdf(raw, ocr, on_page)
        elif suffix in IMAGE_SUFFIXES:
            title, text, meta = _image(raw, ocr, on_page)
        else:
            title, text, meta = {".docx": _docx}.get(suffix, _html)(raw)
        if "page_starts" not in meta:  # (pages read one by one are normalised page by page, keeping offsets)
            text = re.sub(r"\n(?:[ \t\u3000\xa0]*\n){2,}", "\n\n", _newlines(text)).strip("\n")
        body_start = meta.pop("body_start", 0)
        doc = Document(text, source, str(title).strip() if _meaningful(title) else p.stem, body_start, meta)
    if not doc.text.strip(_BLANK):
        raise _Bad("文件中没有文字 (no text)")
    if len(doc.text) > max_chars:
        raise _Bad(f"文字过长（{len(doc.text) / 1e4:.0f} 万字，上限 {max_chars / 1e4:.0f} 万字），"
                   "请拆分成单个文件 / text too long: split it into its documents")
    doc.metadata.setdefault("info", [])
    return doc


def _check_kind(raw: bytes, suffix: str) -> None:
    """Reject content that does not match the suffix (an image renamed .pdf, a zip renamed .txt …)."""
    kind = filetype.guess(raw[:8192])
    found = f"{kind.extension} ({kind.mime})" if kind else None
    if suffix == ".pdf":
        if kind is None and b"%PDF-" not in raw[:1024]:
            raise _Bad("不是 PDF 文件（缺少 %PDF 文件头）")
        ok = kind is None or kind.extension == "pdf"
    elif suffix == ".docx":
        if kind is None:
            raise _Bad("不是有效的 docx 文件（不是 zip 格式）")
        ok = kind.extension in ("docx", "zip")
    elif suffix in IMAGE_SUFFIXES:
        if kind is None:
            raise _Bad(f"不是有效的图片文件（{suffix}）/ not an image")
        ok = kind.extension == IMAGE_SUFFIXES[suffix]
    else:
        ok = kind is None
    if not ok:
        raise _Bad(f"文件内容是 {found}，与扩展名 {suffix} 不符")


def _newlines(s: str) -> str:
    return s.replace("\r\n", "\n").replace("\r", "\n")


def _decode(raw: bytes) -> tuple[str, str]:
    """Bytes → (text, encoding). UTF-8 first (BOM stripped); otherwise charset-normalizer,
    reading any GB-family guess as GB18030 (a superset of GBK/GB2312)."""
    if raw.startswith(b"\xef\xbb\xbf"):
        raw, bom = raw[3:], True
    else:
        bom = False
    try:
        text, enc = raw.decode("utf-8"), "utf-8-sig" if bom else "utf-8"
    except UnicodeDecodeError:
        if bom:
            raise _Bad("文件以 UTF-8 BOM 开头，但内容不是有效的 UTF-8") from None
        best = charset_normalizer.from_bytes(raw).best()
        if best is None:
            raise _Bad("无法识别文本编码（可能是二进制文件）") from None
        enc = "gb18030" if best.encoding.lower().replace("-", "_") in _GB else best.encoding
        try:
            text = raw.decode(enc)
        except (UnicodeDecodeError, LookupError) as e:
            raise _Bad(f"无法按 {enc} 解码: {e}") from None
    text = text.removeprefix("\ufeff")
    controls = len(re.findall(r"[\x01-\x08\x0e-\x19\x1b-\x1f]", text))  # \x1a: DOS end-of-file mark
    if "\x00" in text or controls > len(text) / 100:
        raise _Bad("文件包含二进制内容（不是文本文件）")
    return text, enc


def _text(raw: bytes, p: Path, source: str, suffix: str) -> Document:
    text, enc = _decode(raw)
    text = _newlines(text)
    fmt = "txt" if suffix == ".txt" else "md"
    title, body_start, info = None, 0, []
    if fmt == "md":
        m = INFO_END.search(text)
        if m:
            head = text[: m.start()].split("\n")
            body_start = min(m.end() + 1, len(text))
            h1 = next((i for i, line in enumerate(head) if line.startswith("# ")), None)
            if h1 is not None:
                title = head[h1][2:].strip(_BLANK)
            info = [s for i, line in enumerate(head) if i != h1 and (s := line.strip(_BLANK))]
        else:
            first = text.lstrip(_BLANK).split("\n", 1)[0]
            if first.startswith("# "):
                title = first[2:].strip(_BLANK)
    meta = {"format": fmt, "encoding": enc, "info": info}
    return Document(text, source, title or p.stem, body_start, meta)


def _meaningful(title: str | None) -> bool:
    t = (title or "").strip(_BLANK)
    return (len(t) >= 2 and t.lower() not in _JUNK_TITLES and not t.lower().startswith("microsoft word")
            and not re.search(r"\.(docx?|pdf|wps|txt|html?)$", t, re.I))


def _docx(raw: bytes) -> tuple[str | None, str, dict]:
    with zipfile.ZipFile(io.BytesIO(raw)) as z:  # python-docx's own errors name zip internals, not the problem
        parts = z.infolist()
        if "[Content_Types].xml" not in {i.filename for i in parts}:  # every Office (OPC) package has one
            raise _Bad("不是 Word 文档（zip 中没有 [Content_Types].xml）/ not a Word document")
        if sum(i.file_size for i in parts) > MAX_UNZIPPED:
            raise _Bad(f"docx 解压后超过 {MAX_UNZIPPED / 2**20:.0f} MB，未读取 / unpacks too large")
    d = docx.Document(io.BytesIO(raw))
    blocks = []
    for item in d.iter_inner_content():
        if isinstance(item, Table):
            rows = []
            for row in item.rows:
                cells = list(dict.fromkeys(row.cells))  # merged cells come back repeated
                rows.append("\t".join(c.text.replace("\n", " ") for c in cells))
            blocks.append("\n".join(rows))
        else:
            blocks.append(item.text)
    return d.core_properties.title, "\n\n".join(blocks), {"format": "docx", "encoding": None}


def _pdf(raw: bytes, ocr: OcrOptions, on_page: PageProgress | None) -> tuple[str | None, str, dict]:
    """Text layer page by page; pages without one (a scan, or a scanned page in a typed PDF) are rendered with
    pdfium and recognised. A typed PDF is joined exactly as before OCR existed, so its passages keep their ids."""
    reader = pypdf.PdfReader(io.BytesIO(raw))
    if reader.is_encrypted:  # owner-password-only PDFs open with the empty user password
        try:
            opened = reader.decrypt("")
        except Exception as e:  # e.g. AES without the `cryptography` package
            raise _Bad(f"PDF 已加密，无法解密 (encrypted: {e})") from None
        if not opened:
            raise _Bad("PDF 已加密，需要密码才能打开 (encrypted)")
    layers = [page.extract_text() or "" for page in reader.pages]
    title = reader.metadata.title if reader.metadata else None
    meta: dict = {"format": "pdf", "encoding": None, "pages": len(reader.pages)}
    scans = [i for i, t in enumerate(layers) if len(t.strip(_BLANK)) < ocr_mod.MIN_TEXT_LAYER_CHARS]
    if not scans:  # a typed PDF: read as it always was
        return title, "\n\n".join(layers), meta
    typed = any(t.strip(_BLANK) for t in layers)
    if not ocr.enabled:
        if not typed:  # not indexed: an empty document would only ever be a wrong hit
            raise _Bad(f"PDF 无文字层（可能是扫描件），{_OCR_OFF} / no text layer (scanned?) and OCR is off")
        pages = [PageText(i + 1, t) for i, t in enumerate(layers)]
        for i in scans:
            pages[i].note = f"第{i + 1}页没有文字层（扫描页），{_OCR_OFF}，未读取 / scanned page skipped, OCR is off"
        return _assembled(pages, meta, title, use_title=False)
    if len(scans) > ocr.max_pages:
        raise _Bad(f"需要文字识别的扫描页共 {len(scans)} 页，超过上限 {ocr.max_pages} 页（ASSISTANT_OCR_MAX_PAGES），"
                   "未读取；请拆分文件 / too many scanned pages")
    import pypdfium2

    pdf = pypdfium2.PdfDocument(raw)
    try:
        def render(i: int):
            def run():
                page = pdf[i]
                try:
                    w, h = page.get_size()
                    scale = min(ocr_mod.RENDER_DPI / 72, ocr_mod.PAGE_MAX_SIDE / max(w, h, 1.0))
                    return page.render(scale=scale).to_pil()
                finally:
                    page.close()
            return run

        try:
            read = ocr_mod.recognise_pages([(i + 1, render(i)) for i in scans], ocr, on_page)
        except OcrUnavailable as e:
            if not typed:
                raise _Bad(f"PDF 无文字层（可能是扫描件），{e} / no text layer and OCR unavailable") from None
            read = [PageText(i + 1, note=f"第{i + 1}页是扫描页，{e}，未读取") for i in scans]
    finally:
        pdf.close()
    by_number = {p.number: p for p in read}
    pages = []
    for i, layer in enumerate(layers):
        page = by_number.get(i + 1)
        if page is not None and not page.text and layer.strip(_BLANK):  # keep what little the layer has
            page.text, page.ocr = layer, False
        pages.append(page or PageText(i + 1, layer))
    # A scan's printed title beats its metadata title, which scanners and converters fill with the file name.
    return _assembled(pages, meta, title, use_title=True)


def _image(raw: bytes, ocr: OcrOptions, on_page: PageProgress | None) -> tuple[str | None, str, dict]:
    """A scanned page as PNG / JPEG / TIFF (a multi-page TIFF is a document of pages)."""
    from PIL import Image, ImageOps

    if not ocr.enabled:
        raise _Bad(f"图片文件需要文字识别，{_OCR_OFF} / image file and OCR is off")
    try:
        image = Image.open(io.BytesIO(raw))  # reads the header only
    except Image.DecompressionBombError:  # over twice PIL's own limit: refused before our check below
        raise _Bad("图片过大（像素过多）/ image too large") from None
    if image.width * image.height > ocr_mod.MAX_IMAGE_PIXELS:
        raise _Bad(f"图片过大（{image.width}×{image.height} 像素，上限 {ocr_mod.MAX_IMAGE_PIXELS / 1e6:.0f} 百万像素）"
                   " / image too large")
    frames = getattr(image, "n_frames", 1)
    if frames > ocr.max_pages:
        raise _Bad(f"图片共 {frames} 页，超过文字识别上限 {ocr.max_pages} 页（ASSISTANT_OCR_MAX_PAGES）/ too many pages")

    def frame(i: int):
        def run():
            image.seek(i)
            return ImageOps.exif_transpose(image)  # phone photos are stored sideways with an orientation tag
        return run

    try:
        pages = ocr_mod.recognise_pages([(i + 1, frame(i)) for i in range(frames)], ocr, on_page)
    except OcrUnavailable as e:
        raise _Bad(f"图片文件需要文字识别，{e}") from None
    meta = {"format": image.format.lower() if image.format else "image", "encoding": None, "pages": frames}
    return _assembled(pages, meta, None, use_title=True)


def _assembled(pages: list[PageText], meta: dict, title: str | None, use_title: bool) -> tuple[str | None, str, dict]:
    """(title, text, metadata) of a document read page by page; _Bad when no page gave any text. With
    ``use_title``, a title printed centred at the top of the first page names the document and is left out
    of its body, as a Markdown file's ``#`` line is."""
    doc = ocr_mod.assemble(pages)
    if not doc.text.strip(_BLANK):  # not indexed: an empty document would only ever be a wrong hit
        reasons = "；".join(doc.notes) or "没有文字"
        if meta["format"] == "pdf":
            raise _Bad(f"PDF 无文字层（可能是扫描件），文字识别也没有读出文字：{reasons} / no text layer (scanned?) "
                       "and no text recognised")
        raise _Bad(f"图片中没有识别出文字：{reasons} / no text recognised")
    meta.update(page_starts=doc.page_starts, ocr_pages=doc.ocr_pages, ocr_notes=doc.notes)
    if use_title and doc.title:
        meta["body_start"] = doc.body_start
        return doc.title, doc.text, meta
    return title, doc.text, meta


def _html(raw: bytes) -> tuple[str | None, str, dict]:
    declared = EncodingDetector.find_declared_encoding(raw, is_html=True)
    enc = None
    if declared:
        enc = "gb18030" if declared.lower().replace("-", "_") in _GB else declared
        try:
            html = raw.decode(enc).removeprefix("\ufeff")
        except (UnicodeDecodeError, LookupError):
            enc = None
    if enc is None:
        html, enc = _decode(raw)
    soup = BeautifulSoup(html, "lxml")
    for tag in soup(["script", "style", "nav", "noscript", "template"]):
        tag.decompose()
    h1 = soup.find("h1")
    titles = [soup.title.get_text() if soup.title else None, h1.get_text() if h1 else None]
    title = next((" ".join(t.split()) for t in titles if _meaningful(t)), None)
    if soup.head:
        soup.head.decompose()
    for br in soup.find_all("br"):
        br.replace_with(_BR)
    for cell in soup.find_all(["td", "th"]):
        cell.insert_after(" ")
    for tag in soup.find_all(_BLOCKS):
        tag.insert_before(_PARA)
        tag.insert_after(_PARA)
    text = re.sub(r"[ \t\r\n\f]+", " ", soup.get_text())
    text = re.sub(rf" *([{_PARA}{_BR}]) *", r"\1", text)
    text = re.sub(f"{_PARA}+", "\n\n", text).replace(_BR, "\n").strip()
    return title, text, {"format": "html", "encoding": enc}
