"""assistant.ingest.loaders on the real corpus and on derived files generated into tmp_path.

No copies of the corpus texts are stored in the repository: GBK/BOM/CRLF/docx/pdf/html variants are
built from the corpus files at test time.
"""

from __future__ import annotations

import io
import os
import random
import re
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # the project is not pip-installed in the venv
    sys.path.insert(0, str(ROOT))

from assistant.ingest.loaders import SUPPORTED_SUFFIXES, LoadError, iter_files, load  # noqa: E402

CORPUS = Path(__file__).resolve().parents[1] / "data" / "corpus"
REGULATIONS = sorted((CORPUS / "regulations").glob("*.md")) if CORPUS.is_dir() else []
REPORT_NAME = "柳州市教育局2022年法治政府建设情况报告"
MARKER = "<!-- INFO END -->"


@pytest.fixture(scope="session")
def corpus() -> Path:
    if not (CORPUS / "regulations").is_dir() or not (CORPUS / "reports").is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"corpus missing at {CORPUS}")
        pytest.skip(f"corpus missing at {CORPUS}")
    return CORPUS


@pytest.fixture(scope="session")
def report(corpus) -> Path:
    return corpus / "reports" / f"{REPORT_NAME}.txt"


@pytest.fixture(scope="session")
def report_text(report) -> str:
    return report.read_bytes().decode("utf-8")


def _paragraphs(text: str, n: int) -> list[str]:
    """The first n paragraphs of the report body that are long enough to be real sentences."""
    return [p.strip() for p in text.split("\n") if len(p.strip()) > 30][:n]


def _sentences(text: str, n: int) -> list[str]:
    """Short Chinese sentences (fit on one PDF line)."""
    parts = re.split(r"(?<=[。；])", text.replace("\n", ""))
    return [s for s in parts if 8 <= len(s) <= 30][:n]


# ---------------------------------------------------------------- corpus


def test_corpus_present(corpus):
    assert len(REGULATIONS) == 16


@pytest.mark.parametrize("path", REGULATIONS, ids=lambda p: p.stem)
def test_regulation_loads(path: Path):
    content = path.read_bytes().decode("utf-8")
    doc = load(path)
    assert doc.text == content
    assert doc.source == str(path)
    first, _, _ = content.partition("\n")
    assert first.startswith("# ") and doc.title == first[2:]
    assert doc.text[: doc.body_start].endswith(MARKER + "\n")
    assert doc.text.count(MARKER) == 1
    head = content[: content.index(MARKER)].split("\n")[1:]
    expected_info = [s for line in head if (s := line.strip().strip("\u200b").strip())]
    assert doc.metadata["info"] == expected_info
    assert all(line == line.strip(" \u3000\u200b") for line in doc.metadata["info"])
    assert doc.metadata["format"] == "md" and doc.metadata["encoding"] == "utf-8"


def test_regulation_info_details(corpus):
    minor = load(corpus / "regulations" / "中华人民共和国未成年人保护法.md")
    assert minor.title == "中华人民共和国未成年人保护法"
    assert any("2024年4月26日" in line for line in minor.metadata["info"])
    assert any("1991年9月4日" in line for line in minor.metadata["info"])
    assert minor.text[minor.body_start :].lstrip("\n").startswith("\u200b")  # artifact kept verbatim
    assert load(corpus / "regulations" / "法规规章备案审查条例.md").metadata["info"] == []
    civil = load(corpus / "regulations" / "中华人民共和国民法典.md")
    assert civil.title == "中华人民共和国民法典"
    assert "# 第七编 侵权责任" in civil.text[civil.body_start :]


def test_report_loads(report, report_text):
    doc = load(report)
    assert doc.title == REPORT_NAME == report.stem
    assert doc.text == report_text
    assert doc.body_start == 0
    assert doc.metadata["format"] == "txt" and doc.metadata["encoding"] == "utf-8"


# ---------------------------------------------------------------- encodings and line endings


def test_gbk_copy_of_report(tmp_path, report_text):
    p = tmp_path / f"{REPORT_NAME}.txt"
    p.write_bytes(report_text.encode("gbk"))
    doc = load(p)
    assert doc.text == report_text
    assert doc.title == REPORT_NAME
    assert doc.metadata["encoding"] == "gb18030"


def test_gb18030_regulation(tmp_path, corpus):
    # U+200B and U+3000 in this file are outside GBK: only GB18030 can encode it
    src = corpus / "regulations" / "中华人民共和国未成年人保护法.md"
    p = tmp_path / src.name
    p.write_bytes(src.read_bytes().decode("utf-8").encode("gb18030"))
    doc, orig = load(p), load(src)
    assert (doc.text, doc.title, doc.body_start, doc.metadata["info"]) == (
        orig.text, orig.title, orig.body_start, orig.metadata["info"])
    assert doc.metadata["encoding"] == "gb18030"


def test_gb18030_four_byte_characters(tmp_path, report_text):
    text = "𠮷㐀䶵 " + report_text[:400]
    p = tmp_path / "ext.txt"
    p.write_bytes(text.encode("gb18030"))
    assert load(p).text == text


def test_utf8_bom(tmp_path, report_text):
    p = tmp_path / "bom.txt"
    p.write_bytes(b"\xef\xbb\xbf" + report_text.encode("utf-8"))
    doc = load(p)
    assert doc.text == report_text
    assert doc.metadata["encoding"] == "utf-8-sig"


def test_bom_md_keeps_title(tmp_path):
    p = tmp_path / "t.md"
    p.write_bytes("\ufeff# 标题\n\n2020年1月1日 通过\n\n<!-- INFO END -->\n\n第一条 正文。".encode("utf-8"))
    doc = load(p)
    assert doc.title == "标题" and doc.metadata["info"] == ["2020年1月1日 通过"]
    assert doc.text[doc.body_start :] == "\n第一条 正文。"


@pytest.mark.parametrize("eol", ["\r\n", "\r"])
def test_crlf_and_cr(tmp_path, report_text, eol):
    p = tmp_path / "crlf.txt"
    p.write_bytes(report_text.replace("\n", eol).encode("gbk"))
    assert load(p).text == report_text


def test_crlf_markdown_body_start(tmp_path, corpus):
    src = corpus / "regulations" / "中华人民共和国教师法.md"
    p = tmp_path / src.name
    p.write_bytes(src.read_bytes().replace(b"\n", b"\r\n"))
    doc, orig = load(p), load(src)
    assert doc.text == orig.text and doc.body_start == orig.body_start


# ---------------------------------------------------------------- markdown without the marker


def test_markdown_without_headings(tmp_path):
    p = tmp_path / "笔记.md"
    p.write_text("第一段文字。\n\n第二段，没有标题。\n", encoding="utf-8")
    doc = load(p)
    assert (doc.title, doc.body_start, doc.metadata["info"]) == ("笔记", 0, [])
    assert doc.text == "第一段文字。\n\n第二段，没有标题。\n"


def test_markdown_leading_h1_without_marker(tmp_path):
    p = tmp_path / "x.md"
    p.write_text("\n\n# 某某办法\n\n第一条 内容。", encoding="utf-8")
    assert (load(p).title, load(p).body_start) == ("某某办法", 0)
    p.write_text("引言。\n\n# 后面的标题\n", encoding="utf-8")
    assert load(p).title == "x"


# ---------------------------------------------------------------- docx / pdf / html


def test_docx_round_trip(tmp_path, report_text):
    import docx

    paras = _paragraphs(report_text, 3)
    d = docx.Document()
    d.add_heading("柳州市教育局2022年法治政府建设情况报告", level=1)
    d.add_paragraph(paras[0])
    d.add_paragraph(paras[1])
    table = d.add_table(rows=2, cols=2)
    for r, row in enumerate([["项目", "数量"], ["行政复议", "3件"]]):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    d.add_paragraph("")
    d.add_paragraph(paras[2])
    p = tmp_path / "report.docx"
    d.save(p)
    doc = load(p)
    expected = "\n\n".join(
        ["柳州市教育局2022年法治政府建设情况报告", paras[0], paras[1], "项目\t数量\n行政复议\t3件", paras[2]])
    assert doc.text == expected
    assert doc.title == "report"  # no core title set
    assert doc.metadata["format"] == "docx"
    d.core_properties.title = "年度报告"
    d.save(p)
    assert load(p).title == "年度报告"


def _pdf(lines_per_page: list[list[str]], **canvas_kw) -> bytes:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    buf = io.BytesIO()
    c = canvas.Canvas(buf, **canvas_kw)
    for lines in lines_per_page:
        c.setFont("STSong-Light", 12)
        for i, line in enumerate(lines):
            c.drawString(40, 800 - 20 * i, line)
        if not lines:
            c.rect(40, 400, 200, 200, fill=1)  # a "scan": graphics only
        c.showPage()
    c.save()
    return buf.getvalue()


def test_pdf_extracts_chinese(tmp_path, report_text):
    sentences = _sentences(report_text, 4)
    assert len(sentences) == 4
    p = tmp_path / "report.pdf"
    p.write_bytes(_pdf([sentences[:2], sentences[2:]]))
    doc = load(p)
    flat = re.sub(r"\s+", "", doc.text)
    for s in sentences:
        assert re.sub(r"\s+", "", s) in flat
    assert "\n\n" in doc.text  # pages joined as paragraphs
    assert doc.title == "report"  # reportlab's default title "untitled" is not meaningful
    assert doc.metadata["format"] == "pdf" and doc.metadata["pages"] == 2


def test_pdf_metadata_title(tmp_path, report_text):
    import pypdf

    buf = _pdf([_sentences(report_text, 1)])
    w = pypdf.PdfWriter(clone_from=pypdf.PdfReader(io.BytesIO(buf)))
    w.add_metadata({"/Title": "法治政府建设情况报告"})
    p = tmp_path / "t.pdf"
    w.write(p)
    assert load(p).title == "法治政府建设情况报告"


def test_pdf_with_owner_password_only_opens(tmp_path, report_text):
    from reportlab.lib.pdfencrypt import StandardEncryption

    sentence = _sentences(report_text, 1)[0]
    p = tmp_path / "owner.pdf"
    p.write_bytes(_pdf([[sentence]], encrypt=StandardEncryption("", ownerPassword="owner", canPrint=0)))
    assert re.sub(r"\s+", "", sentence) in re.sub(r"\s+", "", load(p).text)


@pytest.mark.integration
def test_scanned_pdf(tmp_path):
    p = tmp_path / "scan.pdf"
    p.write_bytes(_pdf([[], []]))
    with pytest.raises(LoadError, match="无文字层（可能是扫描件") as e:
        load(p)
    assert str(p) in str(e.value) and "no text layer" in str(e.value)


def test_pdf_encrypted_with_a_user_password(tmp_path, report_text):
    import pypdf

    w = pypdf.PdfWriter(clone_from=pypdf.PdfReader(io.BytesIO(_pdf([_sentences(report_text, 1)]))))
    w.encrypt("user", "owner", algorithm="AES-256")
    p = tmp_path / "aes.pdf"
    w.write(p)
    with pytest.raises(LoadError, match="PDF 已加密，需要密码"):
        load(p)


HTML = """<!DOCTYPE html>
<html><head><meta charset="gbk"><title>柳州市教育局法治政府建设报告</title>
<style>p {{ color: red }}</style>
<script>var secret = "脚本内容";</script></head>
<body>
<nav><a href="/">首页</a> | <a href="/x">导航栏目</a></nav>
<h1>{title}</h1>
<p>{p1}</p>
<div>{p2}<br>
第二行</div>
<ul><li>条目一</li><li>条目 <b>二</b></li></ul>
<script>document.write("另一段脚本")</script>
</body></html>"""


def test_html_gbk(tmp_path, report_text):
    p1, p2 = _paragraphs(report_text, 2)
    p = tmp_path / "page.html"
    p.write_bytes(HTML.format(title="年度报告", p1=p1, p2=p2).encode("gbk"))
    doc = load(p)
    assert doc.text == f"年度报告\n\n{p1}\n\n{p2}\n第二行\n\n条目一\n\n条目 二"
    for dropped in ("脚本", "导航", "首页", "color", "secret"):
        assert dropped not in doc.text
    assert doc.title == "柳州市教育局法治政府建设报告"
    assert doc.metadata["format"] == "html" and doc.metadata["encoding"] == "gb18030"


def test_html_undeclared_gbk_and_h1_title(tmp_path, report_text):
    p1 = _paragraphs(report_text, 1)[0]
    html = f"<html><head><title> </title></head><body><h1>年度 报告</h1><p>{p1}</p></body></html>"
    p = tmp_path / "page.htm"
    p.write_bytes(html.encode("gbk"))
    doc = load(p)
    assert doc.text == f"年度 报告\n\n{p1}"
    assert doc.title == "年度 报告"


def test_html_table_rows_are_paragraphs(tmp_path):
    html = ("<html><body><table><tr><th>项目</th><th>数量</th></tr>"
            "<tr><td>行政复议</td><td>3件</td></tr></table></body></html>")
    p = tmp_path / "t.html"
    p.write_text(html, encoding="utf-8")
    assert load(p).text == "项目 数量\n\n行政复议 3件"


def test_utf16_with_bom(tmp_path, report_text):
    p = tmp_path / "notepad.txt"
    p.write_bytes(report_text[:500].encode("utf-16"))
    assert load(p).text == report_text[:500]


# ---------------------------------------------------------------- bad inputs


def _png() -> bytes:
    return b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(200)


def _zip(names: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in names.items():
            z.writestr(name, data)
    return buf.getvalue()


BAD = {
    "truncated.pdf": (lambda: _pdf([["第一页的文字内容"]])[:700], "损坏"),
    "random.pdf": (lambda: random.Random(0).randbytes(4096), "PDF"),
    "image.pdf": (_png, "png"),
    "image.docx": (_png, "png"),
    "plain-zip.docx": (lambda: _zip({"a.txt": b"hello"}), "不是 Word 文档"),
    "junk-zip.docx": (lambda: _zip({"x.bin": random.Random(2).randbytes(3000)}), "不是 Word 文档"),
    "broken-xml.docx": (lambda: _zip({"[Content_Types].xml": b"junk", "word/document.xml": b"<junk"}), "docx 文件已损坏"),
    "text.docx": (lambda: "不是docx".encode(), "docx"),
    "empty.txt": (lambda: b"", "文件为空"),
    "blank.md": (lambda: " \n\u3000\n\u200b\n".encode(), "no text"),
    "nul.txt": (lambda: "正文内容".encode() + b"\x00\x00\x01\x02" * 50 + "更多".encode(), "二进制"),
    "random.txt": (lambda: random.Random(1).randbytes(4096), ""),
    "archive.txt": (lambda: _zip({"a.txt": b"x" * 100}), "zip"),
    "data.xyz": (lambda: b"hello", "unsupported file type"),
    "noext": (lambda: b"hello", "unsupported file type"),
    "encrypted.pdf": (lambda: _pdf([["机密文字"]], encrypt="secret"), "加密"),
    "image.html": (_png, "png"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_inputs_raise_load_error(tmp_path, name):
    make, reason = BAD[name]
    p = tmp_path / name
    p.write_bytes(make())
    with pytest.raises(LoadError) as e:
        load(p)
    assert str(p) in str(e.value) and e.value.path == str(p)
    assert e.value.reason and reason in e.value.reason
    assert str(e.value) == f"{p}: {e.value.reason}"


def test_docx_zip_bomb_is_not_inflated(tmp_path):
    """A .docx whose parts unpack to more than MAX_UNZIPPED (here 201 MB of zeros, 200 KB on disk)."""
    from assistant.ingest.loaders import MAX_UNZIPPED

    p = tmp_path / "bomb.docx"
    with zipfile.ZipFile(p, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        with z.open("word/document.xml", "w", force_zip64=True) as f:
            block = bytes(2**20)
            for _ in range(MAX_UNZIPPED // 2**20 + 1):
                f.write(block)
    assert p.stat().st_size < 2**20
    with pytest.raises(LoadError, match="解压后超过"):
        load(p)


def test_50mb_text_is_refused_without_reading_it(tmp_path, report_text):
    """Bounded memory: the size is checked before a byte is read (traced allocations stay under 1 MB)."""
    import tracemalloc

    p = tmp_path / "巨大 文本.txt"
    block = report_text.encode("utf-8")
    with open(p, "wb") as f:
        for _ in range(50 * 2**20 // len(block) + 1):
            f.write(block)
    tracemalloc.start()
    try:
        with pytest.raises(LoadError, match="文件过大") as e:
            load(p)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2**20, peak
    assert "50.0 MB" in e.value.reason


def test_text_over_the_character_limit(tmp_path, report, report_text):
    from assistant.ingest.loaders import MAX_CHARS

    with pytest.raises(LoadError, match="文字过长.*请拆分"):  # read (under 4 bytes a character), then refused
        load(report, max_chars=len(report_text) - 1)
    assert len(load(report, max_chars=len(report_text)).text) == len(report_text)
    assert 4 * MAX_CHARS < 50 * 2**20  # a 50 MB text file is refused by its size alone


def test_chinese_name_with_spaces(tmp_path, report_text):
    p = tmp_path / "柳州 2022 年 报告（定稿 v2）.txt"
    p.write_text(report_text, encoding="utf-8")
    doc = load(p)
    assert doc.title == "柳州 2022 年 报告（定稿 v2）" and doc.source == str(p) and doc.text == report_text


def test_missing_directory_and_too_big(tmp_path, report):
    with pytest.raises(LoadError, match="不存在"):
        load(tmp_path / "nope.txt")
    with pytest.raises(LoadError):
        load(tmp_path)
    with pytest.raises(LoadError, match="过大") as e:
        load(report, max_bytes=1000)
    assert str(report) in str(e.value)


@pytest.mark.parametrize("suffix", SUPPORTED_SUFFIXES)
def test_junk_only_ever_raises_load_error(tmp_path, suffix):
    rng = random.Random(suffix)
    for i, blob in enumerate([rng.randbytes(n) for n in (1, 17, 3000)] + [b"%PDF-1.4\n" + rng.randbytes(500),
                                                                           b"PK\x03\x04" + rng.randbytes(500)]):
        p = tmp_path / f"junk{i}{suffix}"
        p.write_bytes(blob)
        try:
            load(p)
        except LoadError:
            pass


# ---------------------------------------------------------------- iter_files


def test_iter_files(tmp_path):
    root = tmp_path / "docs"
    files = ["b.md", "A.TXT", "sub/c.pdf", "sub/deeper/d.html", "sub/e.docx", ".hidden.md", ".git/x.md",
             "sub/.cache/y.txt", "notes.xyz", "sub/image.png", "sub/photo.gif", "~$lock.docx"]
    for f in files:
        (root / f).parent.mkdir(parents=True, exist_ok=True)
        (root / f).write_text("内容", encoding="utf-8")
    explicit = tmp_path / "unknown.xyz"
    explicit.write_text("x", encoding="utf-8")
    got = iter_files([root, explicit, root / "b.md", str(root / "sub")])
    assert got == [root / "A.TXT", root / "b.md", root / "sub/c.pdf", root / "sub/deeper/d.html",
                   root / "sub/e.docx", root / "sub/image.png", explicit]  # scans are read by OCR; .gif is not
    with pytest.raises(LoadError, match="unsupported file type"):
        load(got[-1])
    assert iter_files([]) == []
    assert iter_files([tmp_path / "missing.txt"]) == [tmp_path / "missing.txt"]


def test_iter_files_symlinks(tmp_path):
    """Linked folders are followed once; loops, a second link to a walked folder and dead links are reported."""
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "linked.md").write_text("内容", encoding="utf-8")
    root = tmp_path / "docs"
    (root / "sub").mkdir(parents=True)
    (root / "a.md").write_text("内容", encoding="utf-8")
    (root / "sub" / "up").symlink_to(root, target_is_directory=True)  # loop
    (root / "sub" / "self").symlink_to(root / "sub", target_is_directory=True)  # loop
    (root / "more").symlink_to(outside, target_is_directory=True)  # followed
    (root / "more-again").symlink_to(outside, target_is_directory=True)  # the same folder: once
    (root / "x.md").symlink_to(root / "y.md")
    (root / "y.md").symlink_to(root / "x.md")  # a file-level loop
    (root / "dead.txt").symlink_to(tmp_path / "gone.txt")
    problems: list[tuple[str, str]] = []
    got = iter_files([root], problems)
    assert got[0] == root / "a.md" and len(got) == 2
    assert got[1] in (root / "more" / "linked.md", root / "more-again" / "linked.md")
    reasons = dict(problems)
    assert "循环" in reasons.pop(str(root / "sub" / "up")) and "循环" in reasons.pop(str(root / "sub" / "self"))
    assert "重复" in reasons.pop(str(root / ("more-again" if got[1].parent.name == "more" else "more")))
    for name in ("x.md", "y.md", "dead.txt"):
        assert "符号链接失效或循环" in reasons.pop(str(root / name))
    assert reasons == {}
    assert iter_files([root]) == got  # problems is optional


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every folder")
def test_iter_files_unreadable_folder(tmp_path):
    (tmp_path / "locked").mkdir()
    (tmp_path / "ok.md").write_text("内容", encoding="utf-8")
    (tmp_path / "locked").chmod(0)
    try:
        problems: list[tuple[str, str]] = []
        assert iter_files([tmp_path], problems) == [tmp_path / "ok.md"]
        assert problems and "无法读取文件夹" in problems[0][1]
    finally:
        (tmp_path / "locked").chmod(0o755)
