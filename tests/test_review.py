"""A legal advisor's review of a draft (assistant/review.py, ``assistant check FILE --annotate/--report``).

Two real drafts: the 2022 report made into a formatted .docx here (its 12 citations), and a draft written for these
tests with known faults (tests/fixtures/drafts/: a wrong article, a missing one, an amended law cited by its old
number, an overclaim, a document not in the corpus cited twice, an ambiguous name, the draft's own articles). The
annotated .docx is opened again with python-docx: every paragraph's text is byte-identical to the input's, every
character keeps its formatting, each citation is highlighted in its verdict's colour with a comment beside it, and
every verdict there and in the reports equals ``assistant check --json`` on the same text.
"""

from __future__ import annotations

import csv
import json
import subprocess
from pathlib import Path

import docx
import pytest
from docx.enum.text import WD_COLOR_INDEX
from docx.shared import Pt, RGBColor
from docx.text.run import Run

from assistant import checker, review
from conftest import REPORTS, REPORT_FILE, assistant_exe, engine_env

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "drafts" / "学生欺凌防治工作办法（征求意见稿）.txt"
W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
#: Run formats cycled over each paragraph's pieces, so that citations straddle runs of different formatting.
FORMATS = [{}, {"italic": True}, {"bold": True, "color": RGBColor(0x1F, 0x4E, 0x79)}, {"underline": True},
           {"size": Pt(14)}]

#: The faulty draft's citations, in order: (raw, verdict, what the verdict text or a note must say).
DRAFT_EXPECTED = [
    ("《中华人民共和国未成年人保护法》", "ok", "正确"),
    ("《中华人民共和国预防未成年人犯罪法》", "ok", "正确"),
    ("《中华人民共和国未成年人保护法》第一百三十条第三项", "ok", "正确"),
    ("《中华人民共和国未成年人保护法》第三十九条", "ok", "正确"),
    ("《中华人民共和国未成年人保护法》第三十九条", "mismatch", "条文存在，内容可能不符（第四十条更相符）"),  # wrong article
    ("《中华人民共和国未成年人保护法》第三十九条第三款", "mismatch", "条文存在，内容可能不符（条文中没有“二十四小时”）"),  # overclaim
    ("《中华人民共和国民法典》第一千一百九十九条、第一千二百条和第一千二百零一条", "ok", "正确"),
    ("《中华人民共和国未成年人保护法》第一百三十三条", "no_such_article", "条文不存在（该法共 132 条）"),  # missing
    ("《中华人民共和国行政复议法》第九条", "mismatch", "条文存在，内容可能不符（第二十条更相符"),  # old numbering
    ("《未成年人学校保护规定》第二十一条", "document_not_in_corpus", "语料中无此文件"),
    ("《中华人民共和国教育法》（2015年修正）第二十九条", "ok", "正确"),
    ("本办法第三条、第四条", "ok", "正确"),
    ("本办法第十五条", "no_such_article", "条文不存在（该文件共 12 条）"),
    ("备案条例第三条", "ambiguous", "名称不明确（可能是"),
    ("《未成年人学校保护规定》", "document_not_in_corpus", "语料中无此文件"),
]


# --- building and reading .docx files ----------------------------------------------------------------------


def make_docx(paragraphs: list[str], path: Path, piece: int = 11) -> None:
    """A .docx with one paragraph per string, each cut into runs of ``piece`` characters in changing formats (so
    that run boundaries fall inside citations), the first paragraph a bold title; core title unset."""
    d = docx.Document()
    for i, text in enumerate(paragraphs):
        p = d.add_paragraph()
        if i == 0:
            p.add_run(text).bold = True
            continue
        for j in range(0, len(text), piece):
            run = p.add_run(text[j : j + piece])
            fmt = FORMATS[(j // piece) % len(FORMATS)]
            run.italic, run.bold, run.underline = fmt.get("italic"), fmt.get("bold"), fmt.get("underline")
            if "color" in fmt:
                run.font.color.rgb = fmt["color"]
            if "size" in fmt:
                run.font.size = fmt["size"]
    d.save(str(path))


def char_formats(p) -> list[tuple]:
    """(character, bold, italic, underline, colour, size) for every character of a paragraph's text."""
    out = []
    for r in p.runs:
        f = r.font
        out += [(ch, r.bold, r.italic, r.underline, f.color.rgb if f.color.type else None, f.size) for ch in r.text]
    return out


def highlights(p) -> list[tuple[int, int, WD_COLOR_INDEX]]:
    """Maximal highlighted spans of a paragraph (offsets in its text) with their colour. A run without highlight —
    the empty comment-reference run after each citation too — ends a span."""
    spans, pos, joined = [], 0, False
    for r in p.runs:
        colour = r.font.highlight_color
        if colour is None:
            joined = False
        elif r.text:
            if joined and spans[-1][2] == colour:
                spans[-1] = (spans[-1][0], pos + len(r.text), colour)
            else:
                spans.append((pos, pos + len(r.text), colour))
            joined = True
        pos += len(r.text)
    return spans


def anchors(document) -> dict[int, tuple[int, str]]:
    """Comment id → (paragraph index, the text between its range start and end)."""
    out, active = {}, {}
    for i, p in enumerate(document.paragraphs):
        for el in p._p.iter():
            if el.tag == W + "commentRangeStart":
                active[int(el.get(W + "id"))] = (i, "")
            elif el.tag == W + "commentRangeEnd":
                out[int(el.get(W + "id"))] = active.pop(int(el.get(W + "id")))
            elif el.tag == W + "r":
                for cid, (k, text) in active.items():
                    active[cid] = (k, text + Run(el, p).text)
    return out


def paragraph_of(starts: list[int], offset: int) -> int:
    return max(i for i, s in enumerate(starts) if s <= offset)


def assert_annotated(src: Path, out: Path, result: dict) -> list:
    """The annotated .docx ``out`` against the draft ``src`` and the ``check --json`` result: same paragraph texts
    and character formats, one highlight per citation in its verdict's colour, one comment per citation anchored
    on exactly its text and giving its verdict, plus the summary comment. Returns the comments by citation."""
    before, after = docx.Document(str(src)), docx.Document(str(out))
    assert [p.text for p in after.paragraphs] == [p.text for p in before.paragraphs]  # byte-identical texts
    for p, q in zip(before.paragraphs, after.paragraphs):
        assert char_formats(q) == char_formats(p)  # runs split, formatting kept
    texts = [p.text for p in before.paragraphs]
    starts = [sum(len(t) + 1 for t in texts[:i]) for i in range(len(texts))]
    want: dict[int, list] = {}
    for c in result["citations"]:
        i = paragraph_of(starts, c["start"])
        colour = getattr(WD_COLOR_INDEX, review.HIGHLIGHT[c["verdict"]])
        want.setdefault(i, []).append((c["start"] - starts[i], c["end"] - starts[i], colour))
        assert texts[i][c["start"] - starts[i] : c["end"] - starts[i]] == c["raw"]
    got = {i: highlights(p) for i, p in enumerate(after.paragraphs) if highlights(p)}
    assert got == want
    comments = {c.comment_id: c for c in after.comments}
    where = anchors(after)
    assert set(where) == set(comments) and len(comments) == len(result["citations"]) + 1
    by_citation = []
    for c in result["citations"]:
        [cid] = [k for k, (i, text) in where.items() if i == paragraph_of(starts, c["start"]) and text == c["raw"]
                 and k not in [b.comment_id for b in by_citation]][:1]
        comment = comments[cid]
        assert comment.author == review.AUTHOR and comment.initials == review.INITIALS
        assert comment.text.startswith(f"核查结果：{c['verdict_text']}\n") or comment.text == f"核查结果：{c['verdict_text']}"
        by_citation.append(comment)
    [summary] = [c for c in comments.values() if c.text.startswith("引用核查汇总：")]
    first = next(i for i, t in enumerate(texts) if t.strip())
    assert where[summary.comment_id] == (first, texts[first])
    assert checker.summary_text(result).split("\n")[0] in summary.text and "绿色＝正确" in summary.text
    return by_citation


# --- running the command ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def run(engine, tmp_path_factory):
    cwd = tmp_path_factory.mktemp("review-cwd")

    def run(*args: str, code: int = 0, stdin: str | None = None) -> subprocess.CompletedProcess:
        proc = subprocess.run([assistant_exe(), "check", *map(str, args)], cwd=cwd, env=engine_env(engine),
                              input=stdin, capture_output=True, text=True, encoding="utf-8", timeout=300, check=False)
        assert proc.returncode == code, proc.stderr[-3000:]
        assert "Traceback" not in proc.stderr
        return proc

    return run


def verdicts(result: dict) -> list[tuple]:
    return [(c["raw"], c["paragraph"], c["verdict"], c["verdict_text"]) for c in result["citations"]]


def assert_reports(result: dict, csv_path: Path, docx_path: Path) -> None:
    """CSV and .docx reports hold the same rows as the JSON, and its summary line."""
    rows = review.read_report_csv(csv_path)
    assert [(r["引用"], r["段落"], r["核查结果"]) for r in rows] == [
        (c["raw"], str(c["paragraph"]), c["verdict_text"]) for c in result["citations"]]
    assert [r["语料中的文件"] for r in rows] == [c["resolved_title"] or "" for c in result["citations"]]
    with open(csv_path, encoding="utf-8-sig", newline="") as f:
        tail = [row for row in csv.reader(f) if row and row[0] == "汇总"]
    assert [row[1] for row in tail] == checker.summary_text(result).split("\n")
    d = docx.Document(str(docx_path))
    [table] = d.tables
    assert [cell.text for cell in table.rows[0].cells] == list(review.REPORT_COLUMNS)
    assert [[cell.text for cell in row.cells] for row in table.rows[1:]] == [
        [r[k] for k in review.REPORT_COLUMNS] for r in review.report_rows(result)]
    paragraphs = [p.text for p in d.paragraphs]
    assert all(line in paragraphs for line in checker.summary_text(result).split("\n"))


# --- the 2022 report as a .docx -------------------------------------------------------------------------------


def test_the_2022_report_as_a_docx(run, tmp_path):
    text = (REPORTS / REPORT_FILE).read_text(encoding="utf-8")
    paragraphs = [line for line in text.split("\n") if line.strip()]
    src = tmp_path / "2022年报告.docx"
    make_docx(paragraphs, src)
    out, report_csv, report_docx = tmp_path / "批注稿.docx", tmp_path / "报告.csv", tmp_path / "报告.docx"
    result = json.loads(run(src, "--annotate", out, "--report", report_csv, "--json").stdout)
    run(src, "--report", report_docx)
    assert result["summary"]["total"] == 12 and result["summary"]["verdicts"]["document_not_in_corpus"] == 11
    assert [c["verdict"] for c in result["citations"]].count("ok") == 1
    # the same verdicts as check --json on the same text (standard input) and on the original .txt
    same_text = json.loads(run("-", "--json", stdin="\n".join(paragraphs)).stdout)
    assert verdicts(same_text) == verdicts(result)
    from_txt = json.loads(run(REPORTS / REPORT_FILE, "--json").stdout)
    assert [c[::2] for c in verdicts(from_txt)] == [c[::2] for c in verdicts(result)]
    comments = assert_annotated(src, out, result)
    spc = comments[9]
    assert spc.text.split("\n")[0] == "核查结果：正确" and "2020年7月1日 施行" in spc.text
    assert "语料中没有《青少年法治教育大纲》" in comments[3].text
    assert_reports(result, report_csv, report_docx)
    summary = checker.summary_text(result)
    assert "《党政主要负责人履行推进法治建设第一责任人职责规定》（第8段、第41段）" in summary  # cited twice, listed once
    assert result["draft"]["date"] is None


# --- a draft with known faults ------------------------------------------------------------------------------


def test_a_draft_with_known_faults(run, tmp_path):
    lines = [line for line in FIXTURE.read_text(encoding="utf-8").split("\n") if line.strip()]
    src = tmp_path / "征求意见稿.docx"
    make_docx(lines, src, piece=7)
    out, report_csv, report_docx = tmp_path / "征求意见稿_批注.docx", tmp_path / "报告.csv", tmp_path / "报告.docx"
    proc = run(src, "--annotate", out, "--report", report_docx, "--json")
    assert "已写出批注稿（15 处引用已标注）" in proc.stderr
    result = json.loads(proc.stdout)
    run(src, "--report", report_csv)
    got = [(c["raw"], c["verdict"], c["verdict_text"]) for c in result["citations"]]
    assert [(raw, v) for raw, v, _ in got] == [(raw, v) for raw, v, _ in DRAFT_EXPECTED]
    for (raw, verdict, words), (_, _, expected) in zip(got, DRAFT_EXPECTED):
        assert words.startswith(expected), (raw, words)
    assert result["draft"] == {"title": "柳州市城南区中小学学生欺凌防治工作办法（征求意见稿）", "file": src.name,
                               "kind": "docx", "date": "2022-06-01", "own_articles": 12}
    assert result["absent"] == [{"title": "未成年人学校保护规定", "count": 2, "paragraphs": [10, 13]}]
    assert verdicts(json.loads(run("-", "--json", stdin="\n".join(lines)).stdout)) == verdicts(result)
    assert verdicts(json.loads(run(FIXTURE, "--json").stdout)) == verdicts(result)

    comments = assert_annotated(src, out, result)
    text = [c.text for c in comments]
    assert "第三十九条 学校应当建立学生欺凌防控工作制度" in text[3] and "支持度：1.00" in text[3]
    assert "更相符的条文：第四十条" in text[4] and "第四十条 学校、幼儿园应当建立预防性侵害" in text[4]
    assert "条文中没有该句所写的：二十四小时" in text[5]
    assert "《中华人民共和国未成年人保护法》中没有第一百三十三条" in text[7]
    # the amended law cited by its old number: the better article, and the revision after the draft's date
    assert "更相符的条文：第二十条" in text[8] and "六十日内提出行政复议申请" in text[8]
    assert "版本：成文日期（2022年6月1日）之后，该文件于2023年9月1日修订" in text[8]
    assert "版本：所引为2015年修正版；语料中是2021年4月29日修正后的文本" in text[10]
    assert "第三条　依照《中华人民共和国未成年人保护法》第三十九条" in text[11]  # the draft's own articles
    assert "语料中没有《未成年人学校保护规定》" in text[9] and "可能指多部文件" in text[13]
    assert_reports(result, report_csv, report_docx)
    rows = review.read_report_csv(report_csv)
    assert rows[8]["更相符的条文"].startswith("第二十条（") and "2023年9月1日修订" in rows[8]["版本与效力"]


def test_a_text_draft_becomes_a_new_docx(run, tmp_path):
    """.txt in: a new .docx with one paragraph per non-empty line, texts identical, citations marked."""
    out = tmp_path / "批注.docx"
    result = json.loads(run(FIXTURE, "--annotate", out, "--json").stdout)
    lines = [line for line in FIXTURE.read_text(encoding="utf-8").split("\n") if line.strip()]
    d = docx.Document(str(out))
    assert [p.text for p in d.paragraphs] == lines
    assert d.core_properties.title == lines[0]
    marked = [(p.text[s:e], colour) for p in d.paragraphs for s, e, colour in highlights(p)]
    assert marked == [(c["raw"], getattr(WD_COLOR_INDEX, review.HIGHLIGHT[c["verdict"]])) for c in result["citations"]]
    assert len(d.comments) == 16


def test_a_pdf_draft(engine, tmp_path):
    """A PDF's visual lines (citations broken over two lines) are joined into the draft's paragraphs again."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    lines = [line for line in FIXTURE.read_text(encoding="utf-8").split("\n") if line.strip()]
    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    path = tmp_path / "征求意见稿.pdf"
    c = canvas.Canvas(str(path))
    y = 800
    c.setFont("STSong-Light", 11)
    for para in lines:
        for i in range(0, len(para), 38):
            c.drawString(30, y, para[i : i + 38])
            y -= 16
            if y < 40:
                c.showPage()
                c.setFont("STSong-Light", 11)
                y = 800
    c.save()
    draft = review.read_draft(path)
    assert [draft.text[s:e] for s, e in draft.paragraphs] == lines and draft.written.isoformat() == "2022-06-01"
    result = review.check_draft(engine, draft).to_json()
    assert [(c["raw"], c["verdict"]) for c in result["citations"]] == [(raw, v) for raw, v, _ in DRAFT_EXPECTED]
    out = tmp_path / "批注.docx"
    assert review.annotate(draft, result, out) == 15
    assert [p.text for p in docx.Document(str(out)).paragraphs] == lines


def test_bad_files_and_outputs_are_refused_cleanly(run, tmp_path):
    """A message and exit 2, and nothing written, for: a corrupt .docx, an output in a missing folder, a report of
    the wrong type, an output over the draft itself, a bad --date, --annotate with --doc."""
    bad = tmp_path / "坏.docx"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    assert "docx" in run(bad, "--annotate", tmp_path / "x.docx", code=2).stderr
    src = tmp_path / "稿.docx"
    make_docx(["标题", "依照《中华人民共和国禁毒法》第十三条，学校应当开展禁毒宣传教育。"], src)
    original = src.read_bytes()
    assert "文件夹不存在" in run(src, "--annotate", tmp_path / "无" / "x.docx", code=2).stderr
    assert ".csv 或 .docx" in run(src, "--report", tmp_path / "r.txt", code=2).stderr
    assert "不能覆盖原稿" in run(src, "--annotate", src, code=2).stderr
    assert "无法识别的日期" in run(src, "--date", "去年", code=2).stderr
    assert "不能与 --doc" in run("--doc", "未成年人保护法", "--annotate", tmp_path / "y.docx", code=2).stderr
    assert src.read_bytes() == original and sorted(p.name for p in tmp_path.iterdir()) == ["坏.docx", "稿.docx"]
    out = tmp_path / "x.docx"
    result = json.loads(run(src, "--date", "2007-01-01", "--annotate", out, "--json").stdout)
    assert "尚未公布（2007年12月29日" in result["citations"][0]["version_note"]  # 禁毒法 was adopted later
    assert result["draft"]["date"] == "2007-01-01"


# --- without the engine: run splitting, tables, dates, own articles ----------------------------------------


def test_splitting_runs_keeps_every_format_tab_and_break(tmp_path):
    d = docx.Document()
    p = d.add_paragraph()
    a = p.add_run("根据《中华人")
    a.bold = True
    b = p.add_run("民共和国禁毒法》第\t十三")
    b.italic, b.font.size = True, Pt(15)
    b.add_break()
    c = p.add_run("条，学校应当")
    c.font.color.rgb = RGBColor(0xC0, 0, 0)
    before = char_formats(p)
    text = p.text
    s, e = text.index("《"), text.index("条") + 1
    runs = review._runs_for(p._p, s, e)
    assert "".join(Run(r, p).text for r in runs) == text[s:e] and len(runs) == 3
    assert p.text == text and char_formats(p) == before
    assert [r.text for r in p.runs] == ["根据", "《中华人", "民共和国禁毒法》第\t十三\n", "条", "，学校应当"]


def test_docx_paragraphs_include_tables_in_reading_order(tmp_path):
    d = docx.Document()
    d.add_paragraph("前文")
    table = d.add_table(rows=1, cols=2)
    table.cell(0, 0).text = "依照《中华人民共和国禁毒法》第十三条"
    table.cell(0, 1).text = "右格"
    d.add_paragraph("后文")
    path = tmp_path / "表.docx"
    d.save(str(path))
    draft = review.read_draft(path)
    assert draft.text == "前文\n依照《中华人民共和国禁毒法》第十三条\n右格\n后文"


def test_draft_dates_and_own_articles():
    assert str(review.draft_date(["正文。", "柳州市教育局", "二〇二二年六月一日"])) == "2022-06-01"
    assert str(review.draft_date(["（2023年12月31日）", "附件"])) == "2023-12-31"
    assert review.draft_date(["2022年6月1日召开会议。"]) is None  # a date in a sentence is no date line
    own = review.own_articles("标题\n第一条　为了……\n第二条 本办法适用于……\n第二章 附则\n第三条　本办法自发布之日起施行。")
    assert list(own) == ["第一条", "第二条", "第三条"] and own["第二条"] == "第二条 本办法适用于……"
    assert review.own_articles("《教育法》规定：\n第二十九条 学校行使下列权利：") == {}  # a quoted law article
    assert review.xml_safe("a\x01b\ud800") == "a\ufffdb\ufffd"


# --- a picture of an annotated draft (docs/screenshots/annotated_draft.png) ---------------------------------

#: Word's highlight colours as CSS.
CSS_HIGHLIGHT = {"BRIGHT_GREEN": "#7fff7f", "YELLOW": "#ffff66", "PINK": "#ff99e6", "GRAY_25": "#d0d0d0",
                 "TURQUOISE": "#80ffff"}


def annotated_html(path: Path) -> str:
    """The annotated .docx as Word shows it, in HTML: paragraphs with highlighted citations, each followed by the
    number of its comment, and the comments in a column beside them. Read with python-docx only."""
    import html

    document = docx.Document(str(path))
    comments = {c.comment_id: c for c in document.comments}
    numbers: dict[int, int] = {}
    body = []
    for p in document.paragraphs:
        parts = []
        for el in p._p.iter():
            if el.tag == W + "commentRangeStart":
                numbers.setdefault(int(el.get(W + "id")), len(numbers) + 1)
            elif el.tag == W + "r":
                run = Run(el, p)
                ref = el.find(f"{W}commentReference")
                if ref is not None:
                    parts.append(f"<sup class='ref'>[{numbers[int(ref.get(W + 'id'))]}]</sup>")
                elif run.text:
                    colour = run.font.highlight_color
                    style = f" style='background:{CSS_HIGHLIGHT[colour.name]}'" if colour else ""
                    bold = "font-weight:bold;" if run.bold else ""
                    parts.append(f"<span{style}><span style='{bold}'>{html.escape(run.text)}</span></span>")
        body.append(f"<p>{''.join(parts) or '&nbsp;'}</p>")
    notes = "".join(
        f"<div class='comment'><b>[{n}] {html.escape(comments[cid].author)}</b><br>"
        + "<br>".join(html.escape(line) for line in comments[cid].text.split("\n")) + "</div>"
        for cid, n in sorted(numbers.items(), key=lambda x: x[1]))
    return ("<!doctype html><html lang='zh-CN'><meta charset='utf-8'><style>"
            "body{font-family:'Noto Serif CJK SC','Noto Sans CJK SC',serif;margin:0;display:flex;gap:18px;"
            "background:#eee;padding:18px;font-size:14px}"
            ".page{background:#fff;width:720px;padding:36px 48px;box-shadow:0 0 4px #aaa;line-height:1.7}"
            ".page p{margin:0 0 6px}.ref{color:#c00;font-size:10px}"
            ".notes{width:520px;font-size:12px}.comment{background:#fff;border-left:4px solid #c00;padding:6px 8px;"
            "margin-bottom:8px;max-height:150px;overflow:hidden;box-shadow:0 0 2px #aaa}</style>"
            f"<div class='page'>{''.join(body)}</div><div class='notes'>{notes}</div></html>")


@pytest.mark.browser
def test_screenshot_of_an_annotated_draft(engine, tmp_path):
    """Renders the annotated fixture draft in Chromium; UPDATE_SCREENSHOTS=1 writes docs/screenshots/annotated_draft.png."""
    import os

    from test_ui import CHROMIUM, CHROMIUM_ARGS

    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found")
    from playwright.sync_api import sync_playwright

    lines = [line for line in FIXTURE.read_text(encoding="utf-8").split("\n") if line.strip()]
    src, out = tmp_path / "征求意见稿.docx", tmp_path / "批注.docx"
    make_docx(lines, src, piece=1000)  # plain runs: the picture shows the highlights, not the test's formats
    draft = review.read_draft(src)
    review.annotate(draft, review.check_draft(engine, draft).to_json(), out)
    page_html = tmp_path / "annotated.html"
    page_html.write_text(annotated_html(out), encoding="utf-8")
    shot = tmp_path / "annotated_draft.png"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1360, "height": 900})
        page.goto(page_html.as_uri())
        assert page.locator(".comment").count() == 16 and page.locator("sup.ref").count() == 16
        page.screenshot(path=str(shot), full_page=True)
        browser.close()
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        from PIL import Image

        target = Path(__file__).resolve().parents[1] / "docs" / "screenshots" / "annotated_draft.png"
        with Image.open(shot) as im:
            im.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(target, optimize=True)
