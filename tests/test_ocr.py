"""OCR of scanned PDFs and images (assistant/ingest/ocr.py, ocr_layout.py) on real scans made here.

The scans are corpus text typeset on A4 pages with Debian's Noto CJK font (tests/scanmaker.py), some degraded
like a photocopy, saved as image-only PDFs or image files. The real engine reads them (rapidocr-onnxruntime with
the PP-OCRv4 models inside its wheel) in its real worker process, and the real pipeline indexes them. OCR takes a
few seconds a page on this machine, so the scans are short: the first chapter of 未成年人保护法 (3 pages) is read
once for the module, the other tests use a page or a few lines.
"""

from __future__ import annotations

import contextlib
import io
import re
import shutil
from pathlib import Path

import pytest
from PIL import Image

from assistant.schema import Document
from assistant.ingest import ocr
from assistant.ingest.chunkers import chunk_document
from assistant.ingest.loaders import LoadError, load
from assistant.ingest.ocr_layout import Box, layout, normalise_paragraph
from scanmaker import Scan, cer, degrade, law_chapter, save_pdf, squeeze, typeset

pytestmark = pytest.mark.integration  # ingests into indexes of its own, runs OCR or starts processes

LAW = "中华人民共和国未成年人保护法"
#: The error rate a cleanly printed page must stay under (the issue's bar); measured: 0–0.08 % on this chapter.
CLEAN_CER = 0.02
#: A photocopy-like page (1.2° rotation, blur, 4 % speckle, JPEG at quality 40); measured: 0.5 %.
NOISY_CER = 0.05


@pytest.fixture(scope="module")
def chapter(corpus) -> Scan:
    title, paragraphs = law_chapter(corpus / "regulations" / f"{LAW}.md", 1)
    return Scan(title, paragraphs, typeset(title, paragraphs))


@pytest.fixture(scope="module")
def scanned_law(chapter, tmp_path_factory):
    """The chapter as an image-only PDF in a documents folder, ingested by the pipeline into a small index;
    yields (engine, report, stderr of the run, on_progress calls, the PDF)."""
    from conftest import make_engine

    root = tmp_path_factory.mktemp("scanned-law")
    folder = root / "docs"
    folder.mkdir()
    pdf = save_pdf(chapter.pages, folder / "扫描件0001.pdf")
    engine = make_engine(root / "index")
    calls: list[tuple[float, str]] = []
    err = io.StringIO()
    with contextlib.redirect_stderr(err):  # not a terminal: one plain line per step
        report = engine.ingest([folder], progress=True, on_progress=lambda f, m: calls.append((f, m)))
    return engine, report, err.getvalue(), calls, pdf


def article_chunks(engine, doc: str) -> dict[str, str]:
    """Article → its passages' text joined, in document order."""
    out: dict[str, str] = {}
    for c in sorted((c for c in engine.store.all_chunks() if c.doc == doc), key=lambda c: c.start):
        if c.article:
            out[c.article] = out.get(c.article, "") + c.text
    return out


# ---------------------------------------------------------------- the scanned chapter, end to end


def test_scanned_chapter_is_ingested_page_by_page(scanned_law, chapter):
    engine, report, err, calls, pdf = scanned_law
    assert report.added == [str(pdf)] and report.skipped == [] and report.notes == []
    for k in (1, 2, 3):  # per-page progress on the terminal and through the callback
        assert f"[1/1] 扫描件0001.pdf: 文字识别 OCR 第 {k} 页 ({k}/3)" in err, err
        assert any(m == f"扫描件0001.pdf：文字识别 第{k}页，共3页" for _, m in calls), calls
    fractions = [f for f, _ in calls]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert "[1/1] 扫描件0001.pdf: 新增 added" in err

    chunks = engine.store.all_chunks()
    assert {c.doc for c in chunks} == {LAW}, "the printed title names the document, not the file name"
    assert {c.doc_type for c in chunks} == {"law"}
    assert all(c.extra["ocr"] is True and c.extra["ocr_pages"] == "1,2,3" for c in chunks)


def test_recognised_text_matches_the_source(scanned_law, chapter, corpus):
    """Every article of the chapter is a passage of its own, under 第一章 总则, and reads like the source."""
    engine, *_ = scanned_law
    from conftest import article_texts

    source = article_texts((corpus / "regulations" / f"{LAW}.md").read_text(encoding="utf-8"))
    got = article_chunks(engine, LAW)
    expected = [f"第{n}条" for n in "一二三四五六七八九十"] + ["第十一条", "第十二条", "第十三条", "第十四条"]
    assert list(got) == expected
    assert {c.section for c in engine.store.all_chunks()} == {"第一章 总则"}
    errors = {a: cer(got[a], source[a]) for a in expected}
    body = "".join(got[a] for a in expected)
    reference = "".join(source[a] for a in expected)
    rate = cer(body, reference)
    print(f"\nclean scan, 3 pages, {len(squeeze(reference))} characters: CER {rate:.4%}; worst article "
          f"{max(errors, key=errors.get)} {max(errors.values()):.2%}")
    assert rate < CLEAN_CER, errors
    assert max(errors.values()) < 0.05, errors


def test_article_question_about_the_scan_is_answered_from_it(scanned_law, corpus):
    engine, *_ = scanned_law
    from assistant import checker
    from assistant.ui.render import sources_html
    from conftest import article_texts

    third = article_texts((corpus / "regulations" / f"{LAW}.md").read_text(encoding="utf-8"))["第三条"]
    for question, kw in (("第三条是怎么规定的", {"doc": LAW}), (f"《{LAW}》第三条", {})):
        answer = engine.ask(question, **kw)
        assert answer.found, (question, answer.answer)
        chunk = answer.citations[0].chunk
        assert (chunk.doc, chunk.article) == (LAW, "第三条")
        assert cer(chunk.text, third) < CLEAN_CER, chunk.text
        assert "国家保障未成年人的生存权、发展权、受保护权、参与权等权利" in answer.answer
        assert ocr.ocr_label(chunk.extra, chunk.start, chunk.end) == "扫描件，文字经OCR识别（第1页）"
        assert "扫描件，文字经OCR识别（第1页）" in sources_html(answer)

    report = checker.check_text(engine, f"依照《{LAW}》第三条，未成年人享有生存权。", with_support=False)
    (item,) = report.citations
    assert item.status == "ok" and "扫描件，文字经OCR识别（第1页），引文可能有识别错误" in item.note


def test_article_across_a_page_break_is_one_paragraph(scanned_law):
    """Where a paragraph runs on overleaf the pages are joined without a break, and the passage names both pages."""
    engine, *_ = scanned_law
    chunks = sorted(engine.store.all_chunks(), key=lambda c: c.start)
    starts = [int(item.split(":")[1]) for item in chunks[0].extra["page_starts"].split(",")][1:]
    assert len(starts) == 2
    run_on = 0
    for offset in starts:
        for chunk in [c for c in chunks if c.start < offset < c.end]:  # a break inside an article
            assert len(ocr.chunk_pages(chunk.extra, chunk.start, chunk.end)) == 2
            assert "–" in ocr.ocr_label(chunk.extra, chunk.start, chunk.end)  # 「（第1–2页）」
            run_on += chunk.text[offset - chunk.start - 1] != "\n"
    assert run_on >= 1, "no page break fell inside a paragraph: the run-on join is not exercised"


def test_unchanged_scan_is_not_read_again(scanned_law):
    engine, _, _, _, pdf = scanned_law
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        again = engine.ingest([pdf.parent], progress=True)
    assert again.unchanged == [str(pdf)] and again.embedded == 0
    assert "文字识别" not in err.getvalue()


# ---------------------------------------------------------------- noisy scans, images, failures


def test_noisy_photocopy_as_jpeg(chapter, tmp_path):
    page = degrade(chapter.pages[0], seed=1)
    path = tmp_path / "photocopy.jpg"
    page.convert("RGB").save(path, quality=90)
    doc = load(path, ocr=ocr.OcrOptions())
    assert doc.title == LAW and doc.metadata["format"] == "jpeg" and doc.metadata["ocr_pages"] == [1]
    text = doc.text[doc.body_start:]
    reference = squeeze("".join(chapter.paragraphs))[: len(squeeze(text))]
    rate = cer(text, reference)
    print(f"\nnoisy page (1.2° rotation, blur, 4 % speckle, JPEG 40): CER {rate:.2%}")
    assert rate < NOISY_CER
    assert re.search(r"^第三条 国家保障未成年人", text, re.M), text[:600]


def test_blank_and_unreadable_pages_are_skipped_with_a_message(tmp_path, chapter):
    import numpy as np

    blank = Image.new("L", chapter.pages[0].size, 255)
    speckle = Image.fromarray((np.random.default_rng(0).random(blank.size[::-1]) < 0.5).astype(np.uint8) * 255)
    text_page = typeset("说明", ["本页只有一段文字，用于检验空白页和无法识别的页面被跳过。"], page_numbers=False)[0]
    pdf = save_pdf([blank, text_page, speckle], tmp_path / "有空白页的扫描件.pdf")
    doc = load(pdf, ocr=ocr.OcrOptions())
    assert "本页只有一段文字，用于检验空白页和无法识别的页面被跳过。" in doc.text
    assert doc.metadata["ocr_pages"] == [2]
    assert doc.metadata["page_starts"] == [(2, 0)]
    notes = doc.metadata["ocr_notes"]
    assert len(notes) == 2 and "第1页是空白页，已跳过" in notes[0] and "第3页未能识别出文字" in notes[1]

    only_blank = save_pdf([blank, speckle], tmp_path / "空白.pdf")
    with pytest.raises(LoadError, match="无文字层") as e:
        load(only_blank, ocr=ocr.OcrOptions())
    assert "第1页是空白页" in str(e.value) and "第2页未能识别出文字" in str(e.value)


def test_page_over_the_time_limit_is_skipped_and_the_next_page_read(tmp_path):
    """The limit kills the worker mid-page; the next page gets a fresh one. (A limit of 1 ms fails any page.)"""
    pages = typeset("标题", ["第一页的文字。"], page_numbers=False)
    slow = save_pdf(pages, tmp_path / "slow.pdf")
    with pytest.raises(LoadError, match=r"第1页识别超时（超过 0.001 秒），已跳过"):
        load(slow, ocr=ocr.OcrOptions(page_timeout_s=0.001))
    assert all(w.alive() for w in ocr.pool.workers())  # the one that timed out was killed and dropped
    assert "第一页的文字。" in load(slow, ocr=ocr.OcrOptions()).text


def test_mixed_pdf_reads_the_scanned_page_only(tmp_path):
    import pypdf
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    typed = io.BytesIO()
    c = canvas.Canvas(typed)
    c.setFont("STSong-Light", 14)
    c.drawString(60, 780, "第一页是打字的文本，带有文字层，直接读取，不做文字识别。")
    c.showPage()
    c.save()
    scanned = save_pdf(typeset("附件", ["第二页是扫描的图片，需要文字识别才能读出这一句话。"], page_numbers=False),
                       tmp_path / "scan-part.pdf")
    writer = pypdf.PdfWriter()
    for part in (io.BytesIO(typed.getvalue()), scanned):
        writer.append(pypdf.PdfReader(part))
    mixed = tmp_path / "混合.pdf"
    with open(mixed, "wb") as f:
        writer.write(f)

    seen: list[tuple[int, int, int]] = []
    doc = load(mixed, ocr=ocr.OcrOptions(), on_page=lambda k, n, number: seen.append((k, n, number)))
    assert seen == [(1, 1, 2)]
    assert doc.metadata["ocr_pages"] == [2] and [n for n, _ in doc.metadata["page_starts"]] == [1, 2]
    assert doc.text.startswith("第一页是打字的文本")
    assert "第二页是扫描的图片，需要文字识别才能读出这一句话。" in doc.text
    assert doc.title == "混合"  # the first page is typed: no printed title is looked for

    off = load(mixed, ocr=ocr.OcrOptions(enabled=False))
    assert "第二页" not in off.text and off.metadata["ocr_pages"] == []
    assert "第2页没有文字层（扫描页），文字识别已关闭（ASSISTANT_OCR=false）" in off.metadata["ocr_notes"][0]


def test_png_and_multipage_tiff(tmp_path):
    first = typeset("通知", ["一、各单位要按时报送材料。"], page_numbers=False)[0]
    second = typeset("", ["二、逾期不报的，予以通报。"], page_numbers=False)[0]
    png = tmp_path / "通知.png"
    first.save(png)
    doc = load(png, ocr=ocr.OcrOptions())
    assert doc.title == "通知" and doc.text[doc.body_start:] == "一、各单位要按时报送材料。"
    tif = tmp_path / "两页.tif"
    first.save(tif, save_all=True, append_images=[second], compression="tiff_lzw")
    doc = load(tif, ocr=ocr.OcrOptions())
    assert doc.metadata["ocr_pages"] == [1, 2] and doc.metadata["pages"] == 2
    assert "一、各单位要按时报送材料。" in doc.text and doc.text.endswith("二、逾期不报的，予以通报。")
    # the report chunker finds the 一、 / 二、 headings in recognised text
    chunks = chunk_document(doc)
    assert [c.section for c in chunks] == ["一、各单位要按时报送材料", "二、逾期不报的，予以通报"]


def test_upside_down_page_is_turned(tmp_path):
    """The direction model's majority vote turns a page scanned upside down; its lines come out in reading order."""
    page = typeset("通知", ["一、各单位要按时报送材料。", "二、逾期不报的，予以通报。"], page_numbers=False)[0]
    path = tmp_path / "倒置.png"
    page.rotate(180).save(path)
    doc = load(path, ocr=ocr.OcrOptions())
    assert doc.title == "通知"
    assert doc.text[doc.body_start:] == "一、各单位要按时报送材料。\n\n二、逾期不报的，予以通报。"


def test_ocr_off_skips_scans_with_the_reason(small_engine, tmp_path, chapter):
    folder = tmp_path / "docs"
    folder.mkdir()
    save_pdf(chapter.pages[:1], folder / "扫描件.pdf")
    chapter.pages[0].save(folder / "照片.png")
    engine = small_engine(ocr=False)
    report = engine.ingest([folder], progress=False)
    reasons = dict(report.skipped)
    assert report.added == [] and len(reasons) == 2
    assert "PDF 无文字层（可能是扫描件），文字识别已关闭（ASSISTANT_OCR=false）" in reasons[str(folder / "扫描件.pdf")]
    assert "图片文件需要文字识别，文字识别已关闭（ASSISTANT_OCR=false）" in reasons[str(folder / "照片.png")]
    assert ocr.pool.workers() == []  # none started, none left


def test_bad_images_get_a_clear_reason(tmp_path):
    fake = tmp_path / "截图.png"
    fake.write_bytes(b"%PDF-1.4 not an image")
    with pytest.raises(LoadError, match="与扩展名 .png 不符|不是有效的图片"):
        load(fake)
    truncated = tmp_path / "截断.png"
    buf = io.BytesIO()
    Image.new("L", (400, 300), 255).save(buf, "PNG")
    truncated.write_bytes(buf.getvalue()[:80])
    with pytest.raises(LoadError) as e:
        load(truncated, ocr=ocr.OcrOptions())
    assert str(truncated) in str(e.value)
    huge = tmp_path / "巨幅.png"
    Image.new("1", (9500, 9000), 1).save(huge)  # 85 megapixels, a few KB on disk
    with pytest.raises(LoadError, match="图片过大"):
        load(huge, ocr=ocr.OcrOptions())


def test_models_ship_in_the_wheel():
    """No download at run time: the three PP-OCRv4 models are files of the installed package, and the engine
    is configured with exactly those paths."""
    import rapidocr_onnxruntime
    from rapidocr_onnxruntime.utils import read_yaml

    package = Path(rapidocr_onnxruntime.__file__).parent
    config = read_yaml(str(package / "config.yaml"))
    for part in ("Det", "Cls", "Rec"):
        model = package / config[part]["model_path"]
        assert model.is_file() and model.stat().st_size > 500_000, model
    assert "ch_PP-OCRv4_rec_infer.onnx" in config["Rec"]["model_path"]


# ---------------------------------------------------------------- layout rules on synthetic boxes


def _box(x0: float, y0: float, x1: float, y1: float, text: str) -> Box:
    return Box([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], text)


def _lines(rows: list[tuple[float, str]], char: float = 30, left: float = 100, top: float = 100,
           pitch: float = 50) -> list[Box]:
    """Boxes of printed lines: (indent in characters, text), one character = ``char`` px."""
    return [_box(left + ind * char, top + i * pitch, left + (ind + len(t)) * char, top + i * pitch + char, t)
            for i, (ind, t) in enumerate(rows)]


def _typeset(*paragraphs: str, width: int = 20, indent: int = 2) -> list[tuple[int, str]]:
    """Rows of paragraphs set ``width`` characters wide, first lines indented: a text column 100–700 px."""
    rows = []
    for para in paragraphs:
        pos, first = 0, True
        while pos < len(para):
            n = width - (indent if first else 0)
            rows.append((indent if first else 0, para[pos : pos + n]))
            pos, first = pos + n, False
    return rows


FIRST = "第一条为了保护未成年人身心健康，保障未成年人合法权益，根据宪法，制定本法。"
SECOND = "第二条本法所称未成年人是指未满十八周岁的公民，本法另有规定的，依照其规定。"


def test_layout_paragraphs_from_indents_and_short_lines():
    page = layout(_lines(_typeset(FIRST, SECOND)), 800, 1700)
    assert page.paragraphs == [normalise_paragraph(FIRST), normalise_paragraph(SECOND)]
    assert page.paragraphs[0].startswith("第一条 为了")
    assert page.continues is False and page.open_end is False
    # without indents: the short last line, then a label after a sentence end, still end paragraphs
    flush = layout(_lines(_typeset(FIRST, SECOND, indent=0)), 800, 1700)
    assert flush.paragraphs == page.paragraphs


def test_layout_joins_across_pages_only_a_paragraph_that_runs_on():
    from assistant.ingest.ocr import PageText, assemble

    rows = _typeset(FIRST + FIRST[3:])
    end_open = layout(_lines(rows[:3]), 800, 1700)  # stops at a full line, mid-sentence
    start_flush = layout(_lines(rows[3:]), 800, 1700)
    start_indented = layout(_lines(_typeset(SECOND)), 800, 1700)
    assert end_open.open_end and start_flush.continues and not start_indented.continues
    doc = assemble([PageText(1, end_open.text, True, end_open), PageText(2, start_flush.text, True, start_flush)])
    assert doc.text == normalise_paragraph(FIRST + FIRST[3:])
    assert doc.page_starts == [(1, 0), (2, len(end_open.text))]
    doc = assemble([PageText(1, end_open.text, True, end_open),
                    PageText(2, start_indented.text, True, start_indented)])
    assert doc.text == end_open.text + "\n\n" + start_indented.text


def test_layout_undoes_skew_and_drops_page_numbers():
    import math

    boxes = _lines(_typeset(FIRST, SECOND))
    boxes.append(_box(350, 1600, 470, 1630, "— 3 —"))
    angle = math.radians(1.5)
    turned = [Box([[x * math.cos(angle) - y * math.sin(angle), x * math.sin(angle) + y * math.cos(angle)]
                   for x, y in b.points], b.text) for b in boxes]
    page = layout(turned, 800, 1700)
    assert round(page.skew_degrees, 1) == 1.5
    assert page.dropped == ["— 3 —"]
    assert page.paragraphs == [normalise_paragraph(FIRST), normalise_paragraph(SECOND)]


def test_layout_centred_title_and_heading_and_split_boxes():
    boxes = [_box(250, 100, 550, 140, "中华人民共和国某某法"),
             _box(310, 200, 400, 230, "第一章"), _box(430, 200, 490, 230, "总则"),  # one line, two boxes
             *_lines(_typeset(FIRST, SECOND), top=260)]
    page = layout(boxes, 800, 1700)
    assert page.paragraphs == ["中华人民共和国某某法", "第一章 总则", normalise_paragraph(FIRST),
                               normalise_paragraph(SECOND)]
    assert page.centred == [True, True, False, False]
    assert page.title() == "中华人民共和国某某法"


def test_normalise_paragraph():
    assert normalise_paragraph("第三条、国家保障") == "第三条 国家保障"
    assert normalise_paragraph("第三条、第四条规定的事项") == "第三条、第四条规定的事项"
    assert normalise_paragraph("第一章总则") == "第一章 总则"
    assert normalise_paragraph("(五)听取未成年人的意见;") == "（五）听取未成年人的意见；"
    assert normalise_paragraph("Article 3(a): ok") == "Article 3(a): ok"


def test_law_chunker_takes_bare_headings_as_sections():
    text = "第一章 总 则\n\n第一条 甲。\n\n第二条 乙。\n\n第二章 家庭保护\n\n第三条 丙。\n\n第四条 丁。"
    chunks = chunk_document(Document(text, "x", "某法", 0, {}))
    assert [(c.section, c.article, c.text) for c in chunks] == [
        ("第一章 总则", "第一条", "第一条 甲。"), ("第一章 总则", "第二条", "第二条 乙。"),
        ("第二章 家庭保护", "第三条", "第三条 丙。"), ("第二章 家庭保护", "第四条", "第四条 丁。")]


def test_cli_ingest_of_a_scan_reports_pages_and_notes(tmp_path):
    """`assistant ingest FOLDER` on a scan whose second page is blank: per-page progress lines on stderr, the
    file added, the blank page in the JSON report's notes."""
    import json
    import subprocess

    from conftest import assistant_exe, engine_env, make_engine

    folder = tmp_path / "docs"
    folder.mkdir()
    page = typeset("工作要点", ["一、完善制度建设。", "二、加强队伍建设。"], page_numbers=False)[0]
    save_pdf([page, Image.new("L", page.size, 255)], folder / "要点.pdf")
    env = engine_env(make_engine(tmp_path / "index"))
    proc = subprocess.run([assistant_exe(), "ingest", str(folder), "--json"], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "[1/1] 要点.pdf: 文字识别 OCR 第 1 页 (1/2)" in proc.stderr
    assert "[1/1] 要点.pdf: 文字识别 OCR 第 2 页 (2/2)" in proc.stderr
    assert "Traceback" not in proc.stderr
    report = json.loads(proc.stdout)
    assert report["added"] == [str(folder / "要点.pdf")] and report["skipped"] == []
    assert [n["note"].split("，")[0] for n in report["notes"]] == ["第2页是空白页"]


def test_upload_tab_reads_a_scan_with_page_progress(small_engine, tmp_path):
    """The upload tab's path (AppState.ingest_uploads): a scanned PDF is accepted, each page reported through the
    progress callback, the blank page listed in the result."""
    from assistant.ui.state import AppState

    engine = small_engine()
    state = AppState(engine.settings, engine)
    src = tmp_path / "in"
    src.mkdir()
    page = typeset("工作要点", ["一、完善制度建设。", "二、加强队伍建设。"], page_numbers=False)[0]
    save_pdf([page, Image.new("L", page.size, 255)], src / "要点.pdf")
    seen: list[str] = []
    msg = state.ingest_uploads([src / "要点.pdf"], lambda frac, name: seen.append(name)).replace("\\", "")
    assert "✓ 要点.pdf" in msg and "⚠ 要点.pdf：第2页是空白页，已跳过" in msg, msg
    assert "要点.pdf：文字识别 第1页，共2页" in seen and "要点.pdf：文字识别 第2页，共2页" in seen
    assert "工作要点" in state.titles()
