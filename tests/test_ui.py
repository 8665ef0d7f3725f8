"""The Gradio app: pure HTML builders, the example questions, the ``/ask`` API, and the page in Chromium.

The app runs as ``python app.py`` in a subprocess on a free port, on a *copy* of the session index built by
``conftest.engine`` (so the upload test can change it), with ASSISTANT_ADMIN_PASSWORD set. A second, small
app starts on an empty index to check that the index is built on first start.

Browser tests need Chromium at /usr/bin/chromium (Debian package ``chromium``; Chinese glyphs need
``fonts-noto-cjk``). They are skipped without it, unless CI is set. ``UPDATE_SCREENSHOTS=1`` also writes the
three user groups' screenshots to docs/screenshots/.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from assistant import ui
from assistant.answer import NOT_FOUND
from assistant.schema import Answer, Chunk, Citation, Hit

ROOT = Path(__file__).resolve().parents[1]
CORPUS = Path(__file__).resolve().parents[1] / "data" / "corpus"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PASSWORD = "test-admin-密码"
REPORT = "柳州市教育局2022年法治政府建设情况报告"
MINORS = "中华人民共和国未成年人保护法"
SCREENSHOT_NAMES = {"机关工作人员": "staff.png", "学生和家长": "students.png", "法律顾问": "advisors.png"}
NOTICE_NAME = "青蛙合唱节通知.txt"
NOTICE = ("柳州市教育局关于举办首届青蛙合唱节的通知\n\n各县区教育局、各中小学校：\n"
          "为丰富校园文化生活，市教育局定于2023年5月20日在柳州市第六十六中学举办首届“青蛙合唱节”。"
          "每所学校选派一支合唱队参赛，参赛曲目须为原创歌曲《紫色长颈鹿》。报名截止日期为2023年4月30日。\n\n"
          "柳州市教育局\n2023年3月1日\n")

# =============================================================================================
# Pure builders (no engine, no browser)
# =============================================================================================


def _chunk(text: str, n: int = 0, **kw) -> Chunk:
    base = dict(text=text, doc="测试法", source="/x/测试法.md", doc_type="law", section="第一章 总则",
                article="第一条", start=n * 100, end=n * 100 + len(text), id=f"c{n}")
    base.update(kw)
    return Chunk(**base)


def _answer(found: bool = True, text: str = "<b>x</b>") -> Answer:
    c = _chunk(text)
    return Answer(question="q", found=found, answer=f"{text}[1]" if found else NOT_FOUND,
                  citations=[Citation(n=1, chunk=c, quoted=[(0, 3)])] if found else [],
                  retrieved=[Hit(chunk=c, score=0.8765)])


def test_highlight_escapes_and_marks():
    assert ui.highlight("a<b>c&d", [(1, 4)]) == "a<mark>&lt;b&gt;</mark>c&amp;d"
    # overlapping and touching spans merge; out-of-range spans are clipped; empty spans vanish
    assert ui.highlight("abcdef", [(3, 5), (0, 2), (1, 3), (4, 99), (2, 2)]) == "<mark>abcdef</mark>"
    assert ui.highlight("abcdef", [(0, 1), (4, 5)]) == "<mark>a</mark>bcd<mark>e</mark>f"
    assert ui.highlight("abc", []) == "abc"


def test_sources_html_card():
    c1 = _chunk("第一条 <script>alert(1)</script>为了保护", n=1, id="c1")
    prev, nxt = _chunk("上一段&", n=0, id="c0", article=None), _chunk("下一段\"", n=2, id="c2", article="第二条")
    ans = Answer(question="q", found=True, answer="x[1]", citations=[Citation(n=1, chunk=c1, quoted=[(4, 12)])],
                 retrieved=[Hit(chunk=c1, score=0.5)])
    out = ui.sources_html(ans, {"c1": (prev, nxt)}, turn=3)
    assert 'id="src-3-1"' in out and out.count('class="src-card"') == 1 and ">[1]<" in out
    assert "<script>" not in out and "&lt;script&gt;" in out
    assert "<mark>&lt;script&gt;</mark>" in out  # span (4, 12) is exactly "<script>"
    assert "《测试法》" in out and ">法律<" in out and "第一章 总则 › 第一条" in out
    assert "相关度 0.50" in out
    assert "<details" in out and "上一段&amp;" in out and "下一段&quot;" in out
    assert "ctx-prev" in out and "ctx-next" in out


def test_sources_html_types_and_no_context():
    for code, label in ui.TYPE_LABELS.items():
        ans = _answer()
        ans.citations[0].chunk.doc_type = code
        out = ui.sources_html(ans)
        assert f">{label}<" in out and "<details" not in out  # no context given → no expander


def test_sources_html_not_found_has_no_cards():
    out = ui.sources_html(_answer(found=False))
    assert "src-card" not in out and "src-" in out and ui.NO_ANSWER_NOTE in out
    # found=False wins even if citations were (wrongly) present
    ans = _answer()
    ans.found = False
    assert "src-card" not in ui.sources_html(ans)
    assert ui.SOURCES_PLACEHOLDER in ui.sources_html(None)


def test_answer_markdown_links_and_escapes():
    md = ui.answer_markdown("第一条 *不得* <b>体罚</b>[1]\n1. 学生[2][9]", numbers=[1, 2])
    assert "[\\[1\\]](#src-1-1)" in md and "[\\[2\\]](#src-1-2)" in md
    assert "#src-1-9" not in md and "\\[9\\]" in md  # not a citation → plain, escaped
    assert "\\*不得\\*" in md and "\\<b\\>" in md and "1\\. 学生" in md
    # the third answer of the conversation links to its own cards
    assert "[\\[2\\]](#src-3-2)" in ui.answer_markdown("甲[2]", numbers=[2], turn=3)


def test_answer_markdown_list_items():
    text = ("根据《报告》“二、存在问题和原因”：\n"
            "- （一）决策程序有待加强：部分*科室* - 有偏差，…[1]\n"
            "- （二）执法人员[2]\n"
            "-不是列表项 # 1. x\n"
            "- 再一项[2]")
    lines = ui.answer_markdown(text, numbers=[1, 2], turn=2).split("\n")
    assert lines == [
        "根据《报告》“二、存在问题和原因”：",
        "- （一）决策程序有待加强：部分\\*科室\\* \\- 有偏差，…[\\[1\\]](#src-2-1)",
        "- （二）执法人员[\\[2\\]](#src-2-2)",
        "",  # a line after the list is its own paragraph, not a continuation of the last item
        "\\-不是列表项 \\# 1\\. x",
        "- 再一项[\\[2\\]](#src-2-2)",
    ]
    # text without items is unchanged by the list handling
    assert ui.answer_markdown("甲\n乙[1]", numbers=[1]) == "甲\n乙[\\[1\\]](#src-1-1)"


def test_md_escape_round_trip_of_plain_chinese():
    assert ui.md_escape("第三十九条 学校应当建立学生欺凌防控工作制度。") == "第三十九条 学校应当建立学生欺凌防控工作制度。"
    assert ui.md_escape("a_b#c") == "a\\_b\\#c"


def test_stream_pieces_never_split_markers():
    text = "甲乙丙丁[12]戊己庚辛壬癸[3]" * 20
    pieces = ui.stream_pieces(text, max_steps=15)
    assert pieces[-1] == text and len(pieces) <= 20
    assert all(len(a) < len(b) for a, b in zip(pieces, pieces[1:]))
    for p in pieces:
        assert not re.search(r"\[\d*$", p), p
    assert ui.stream_pieces("") == [""]
    listed = "根据报告：\n" + "- 一项措施的内容[1]\n" * 12
    assert not any(p.endswith("\n-") for p in ui.stream_pieces(listed, max_steps=40))  # "- " is never cut


def test_issuer_from_the_titles_of_the_bundled_reports(load_doc, corpus):
    """Every report in the corpus (the 2022 report and the 21 other bodies') gets its issuing body from its title,
    the text before the year or 关于; laws and regulations get none (their titles do not name it)."""
    reports = sorted((corpus / "reports").glob("*.txt")) + sorted((corpus / "other_bureaus").glob("*.txt"))
    assert len(reports) == 22
    bodies = {}
    for path in reports:
        title = load_doc(path).title
        body = bodies[title] = ui.issuer(title, "report")
        assert body and title.replace("_", " ").startswith(body), (title, body)
        assert not re.search(r"[\d年]|关于", body), (title, body)
    assert bodies[REPORT] == "柳州市教育局"
    assert bodies["郑州市教育局关于2022年法治政府建设工作情况的报告"] == "郑州市教育局"  # 关于 before the year
    assert bodies["嘉定区_关于未成年人保护工作情况的报告"] == "嘉定区"  # no year at all
    assert bodies["九龙坡区_区教委2021年度法治政府建设工作报告"] == "九龙坡区 区教委"
    assert bodies["寧夏自治區2016年法治政府建設報告"] == "寧夏自治區"
    for path in sorted((corpus / "regulations").glob("*.md")):
        assert ui.issuer(load_doc(path).title, "law") is None
        assert ui.issuer(load_doc(path).title, "admin_regulation") is None
    for title in ("青蛙合唱节通知", "关于举办首届青蛙合唱节的通知", "2023年工作要点", "二〇二三年工作要点"):
        assert ui.issuer(title, "other") is None, title
    assert ui.issuer("某县教育局二〇二三年工作总结", "report") == "某县教育局"


def test_corpus_table_groups_by_issuing_body(engine):
    """The real index (the 2022 report, the laws and regulations) plus rows for two other bodies' reports and a notice."""
    rows = engine.store.documents() + [
        {"doc": "郑州市教育局关于2022年法治政府建设工作情况的报告", "doc_type": "report", "chunks": 7},
        {"doc": "广州市教育局2021年法治政府建设年度报告", "doc_type": "report", "chunks": 9},
        {"doc": "广州市教育局2022年法治政府建设年度报告", "doc_type": "report", "chunks": 8},
        {"doc": "青蛙合唱节通知", "doc_type": "other", "chunks": 1},
    ]
    kinds = {code: sum(r["doc_type"] == code for r in rows) for code in ("law", "admin_regulation", "judicial")}
    out = ui.corpus_html(rows)
    assert (f"发布机关：广州市教育局（2 份）、柳州市教育局（1 份）、郑州市教育局（1 份）；另有 1 份标题未写明发布机关的文件；"
            f"法律 {kinds['law']} 部、行政法规 {kinds['admin_regulation']} 部、司法解释 {kinds['judicial']} 部"
            f"（法律法规的标题不含制定机关，按类型列出）。") in out
    heads = re.findall(r'<tr class="c-group"><th colspan="5">([^<]+)<span class="c-group-n">(\d+) 个文件', out)
    assert heads == [("广州市教育局", "2"), ("柳州市教育局", "1"), ("郑州市教育局", "1"), (ui.UNKNOWN_ISSUER, "1"),
                     ("法律", str(kinds["law"])), ("行政法规", str(kinds["admin_regulation"])),
                     ("司法解释", str(kinds["judicial"]))]
    assert out.count('<tr class="c-row"') == len(rows)
    assert f'<tr class="c-row" data-group="柳州市教育局"><td class="c-doc">{REPORT}</td>' in out


def test_source_groups_newest_first():
    first, second = _answer(text="第一段"), _answer(found=False)
    groups = [ui.source_group(1, "问<1>", first), ui.source_group(2, "问二", second)]
    panel = ui.sources_panel(groups)
    assert panel.index('id="turn-2"') < panel.index('id="turn-1"')  # newest first
    assert 'id="src-1-1"' in panel and "第一段" in panel and "问&lt;1&gt;" in panel
    assert ui.NO_ANSWER_NOTE in panel and "src-2-" not in panel  # the unanswered question: a note, no card
    assert ui.SOURCES_PLACEHOLDER in ui.sources_panel([])


def test_pin_chinese_goes_first_in_head():
    page = '<!doctype html>\n<html\n\tlang="en"\n\tstyle="margin: 0">\n\t<head>\n\t\t<meta charset="utf-8" />' \
           '<script type="module" src="./assets/index.js"></script></head><body><header>x</header></body></html>'
    out = ui.pin_chinese(page)
    assert '\tlang="zh-CN"' in out and 'lang="en"' not in out
    assert out.index(ui.PIN_CHINESE) < out.index("<meta charset") and out.count(ui.PIN_CHINESE) == 1
    assert "<header>x</header>" in out


def test_neighbours_stay_within_source():
    a0, a1, b0 = _chunk("a0", 0, id="a0", source="a"), _chunk("a1", 1, id="a1", source="a"), _chunk("b0", 0, id="b0", source="b")
    chunks = [a0, a1, b0]
    index = {c.id: i for i, c in enumerate(chunks)}
    assert ui.neighbours(chunks, index, a0) == (None, a1)
    assert ui.neighbours(chunks, index, a1) == (a0, None)
    assert ui.neighbours(chunks, index, b0) == (None, None)
    assert ui.neighbours(chunks, index, _chunk("zz", id="zz")) == (None, None)


def test_corpus_html_escapes():
    rows = [{"doc": "<i>法</i>", "doc_type": "admin_regulation", "chunks": 3, "info": "2019年通过 / 2020年<修正>",
             "ingested_at": "2024-01-02T03:04:05+00:00"}]
    out = ui.corpus_html(rows)
    assert "&lt;i&gt;法&lt;/i&gt;" in out and "2019年通过<br>2020年&lt;修正&gt;" in out
    assert ">行政法规<" in out and ">3<" in out and "2024-01-02" in out and "共 1 个文件，3 个段落" in out
    assert "还没有文件" in ui.corpus_html([])


def test_type_code_and_context_title():
    assert ui.type_code("全部") is None and ui.type_code("") is None and ui.type_code(None) is None
    assert ui.type_code("法律") == "law" and ui.type_code("报告") == "report" and ui.type_code("行政法规") == "admin_regulation"
    with pytest.raises(ValueError):
        ui.type_code("小说")
    assert ui.context_title(_answer(), "旧法") == "测试法"
    assert ui.context_title(_answer(found=False), "旧法") == "旧法"
    report_answer = _answer()
    report_answer.citations[0].chunk.article = None
    assert ui.context_title(report_answer, None) is None


# =============================================================================================
# The example questions answer correctly on the real index
# =============================================================================================

#: question → (found, documents one of the citations must come from, text the answer must contain)
EXPECTED = {
    "2022年审查了多少份重大行政决策？": (True, {REPORT}, "重大行政决策9份"),
    "教育局2022年在未成年人保护方面做了哪些工作？": (True, {REPORT}, "未成年人保护宣传月"),
    "禁毒知识竞赛的参与率和平均分是多少？": (True, {REPORT}, "平均分高达97分"),
    "学校对学生欺凌应该怎么处理？": (True, {MINORS}, "学生欺凌"),
    "学生在学校受到人身损害，学校承担什么责任？": (True, {"中华人民共和国民法典"}, "应当承担侵权责任"),
    "学校可以体罚学生吗？": (True, {"中华人民共和国义务教育法", MINORS, "中华人民共和国教师法"}, "体罚"),
    "《中华人民共和国未成年人保护法》第三十九条": (True, {MINORS}, "学校应当建立学生欺凌防控工作制度"),
    "民法典第一千二百条": (True, {"中华人民共和国民法典"}, "限制民事行为能力人在学校"),
    "行政诉讼法第三条第三款": (True, {"中华人民共和国行政诉讼法"}, "被诉行政机关负责人应当出庭应诉"),
}


def test_every_example_is_checked():
    shown = [q for qs in ui.EXAMPLES.values() for q in qs]
    assert set(shown) == set(EXPECTED)
    assert set(ui.EXAMPLES) == set(SCREENSHOT_NAMES)


@pytest.mark.parametrize("question", list(EXPECTED))
def test_example_answers(engine, question):
    found, docs, phrase = EXPECTED[question]
    ans = engine.ask(question)
    assert ans.found is found, ans.answer
    assert phrase in ans.answer
    if found:
        assert ans.citations and ans.citations[0].chunk.doc in docs, [c.chunk.doc for c in ans.citations]
    else:
        assert ans.citations == []
    if question.endswith("第三十九条"):
        assert ans.citations[0].chunk.article == "第三十九条"
    if question == "民法典第一千二百条":
        assert ans.citations[0].chunk.article == "第一千二百条"


def test_examples_name_no_city():
    """The built-in examples and title suit any bureau's deployment: no place name of the bundled corpus."""
    from assistant.settings import Settings

    places = {"柳州", "广西", "上海", "重庆", "郑州", "广州", "成都"}
    text = "".join(q for qs in ui.EXAMPLES.values() for q in qs) + Settings(_env_file=None).ui_title
    assert not [p for p in places if p in text]


def test_load_examples_from_a_file(tmp_path):
    f = tmp_path / "examples.json"
    f.write_text('{"家长": ["  学校可以体罚学生吗？ ", ""], "空组": [], "律师": ["民法典第一千二百条"]}', encoding="utf-8")
    assert ui.load_examples(f) == {"家长": ["学校可以体罚学生吗？"], "律师": ["民法典第一千二百条"]}
    assert ui.load_examples(None) == ui.EXAMPLES and ui.load_examples(None) is not ui.EXAMPLES


@pytest.mark.parametrize("content, message", [
    (None, "示例问题文件不存在"),
    ('{"家长": ["学校', "不是有效的 JSON：.*第 1 行"),
    ('["学校可以体罚学生吗？"]', "内容应当是"),
    ('{"家长": "学校可以体罚学生吗？"}', "「家长」的值应当是问题（文字）的列表"),
    ('{"家长": [1, 2]}', "「家长」的值应当是"),
    ('{"家长": [" "]}', "没有任何问题"),
    (b"\xff\xfe{", "不是 UTF-8 编码"),
])
def test_load_examples_rejects_bad_files_in_chinese(tmp_path, content, message):
    f = tmp_path / "examples.json"
    if isinstance(content, bytes):
        f.write_bytes(content)
    elif content is not None:
        f.write_text(content, encoding="utf-8")
    with pytest.raises(ui.ExamplesError, match=message) as err:
        ui.load_examples(f)
    assert str(f) in str(err.value)


def test_only_examples_the_index_answers_are_shown(engine, tmp_path):
    """Each example is asked once when the index is ready; those that come back found=false are not offered."""
    f = tmp_path / "examples.json"
    f.write_text(json.dumps({"家长": ["学校可以体罚学生吗？", "柳州明天会下雨吗？"], "律师": ["禁毒法第九十九条"],
                             "工作人员": ["2022年审查了多少份重大行政决策？"]}, ensure_ascii=False), encoding="utf-8")
    state = ui.AppState(engine.settings.model_copy(update={"ui_examples": f}), engine)
    assert state.shown_examples() == {"家长": ["学校可以体罚学生吗？"], "工作人员": ["2022年审查了多少份重大行政决策？"]}
    assert ui.AppState(engine.settings, engine).shown_examples() == ui.EXAMPLES  # every built-in one is answered


@pytest.mark.integration
def test_bad_examples_file_stops_the_app_with_a_chinese_message(tmp_path):
    """A deployment's broken examples file: exit status 2 and what is wrong, not a traceback."""
    bad = tmp_path / "examples.json"
    bad.write_text('{"家长": "学校可以体罚学生吗？"}', encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ASSISTANT_", "GRADIO_"))}
    env.update(ASSISTANT_UI_EXAMPLES=str(bad), ASSISTANT_INDEX_DIR=str(tmp_path / "index"), ASSISTANT_PORT=str(_free_port()))
    run = subprocess.run([sys.executable, str(ROOT / "app.py")], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 2, run.stderr
    assert "无法启动网页界面：示例问题文件中「家长」的值应当是问题（文字）的列表" in run.stderr
    assert "Traceback" not in run.stderr + run.stdout


# =============================================================================================
# AppState without a browser: not-ready answers, upload bookkeeping
# =============================================================================================


def test_questions_before_the_index_is_ready(tmp_path):
    from assistant.settings import Settings

    state = ui.AppState(Settings(_env_file=None, index_dir=tmp_path / "index"))  # not started: never ready
    with pytest.raises(ui.EngineUnavailable, match="索引尚未就绪：正在加载嵌入模型"):  # an error, not found=False
        state.ask("禁毒法第十三条", wait=0.2)
    status = state.status()
    assert status["ready"] is False and status["phase"] == "loading" and "建立" not in status["message"]
    assert state.titles() == [] and state.documents() == []


def test_progress_text_names_files_not_paths_and_never_the_sentinel():
    """``ingest`` reports each file, then (1.0, "done"): the visitor sees the file names and a Chinese last step."""
    assert ui.progress_text(0.5, "/srv/index/uploads/青蛙合唱节通知.txt") == "正在导入 青蛙合唱节通知.txt"
    assert ui.progress_text(1.0, "done") == ui.UPLOAD_FINISHING
    assert ui.progress_text(0.25, "a/b.md", ui.BUILDING, ui.BUILT) == "首次启动：正在建立索引 25%（b.md）"
    assert ui.progress_text(1.0, "done", ui.BUILDING, ui.BUILT) == ui.BUILT
    assert not re.search("[A-Za-z]{2,}", ui.BUILT + ui.UPLOAD_FINISHING)


def test_gradio_words_are_translated_for_zh_cn():
    """The translations go to Gradio's frontend under the locale the page is pinned to; all of them Chinese."""
    i18n = ui.gradio_i18n()
    assert i18n.translations_dict == {"zh-CN": ui.GRADIO_ZH_CN}
    for key in ("chatbot.copy_message", "common.complete", "status.queue_position"):  # a tester saw these
        assert key in ui.GRADIO_ZH_CN
    for text in [*ui.GRADIO_ZH_CN.values(), *ui.HARDCODED.values()]:
        words = re.sub(r"\{\w+\}", "", text)  # {position} and the like are filled in by Gradio
        assert re.search(r"[\u4e00-\u9fff]", words) and not re.search("[A-Za-z]{2,}", words), text
    assert ui.TRANSLATE_SCRIPT in ui.PIN_CHINESE


def test_ingest_uploads_keeps_bad_files_out(small_engine, tmp_path):
    eng = small_engine(upload_max_mb=0.01)  # 10 KB
    state = ui.AppState(eng.settings, eng)
    src = tmp_path / "in"
    src.mkdir()
    (src / NOTICE_NAME).write_text(NOTICE, encoding="utf-8")
    (src / "坏.pdf").write_bytes(b"not a pdf")
    (src / "程序.exe").write_bytes(b"MZ")
    (src / "大.txt").write_text("很长的文字。" * 4000, encoding="utf-8")
    seen = []
    msg = state.ingest_uploads([src / NOTICE_NAME, src / "坏.pdf", src / "程序.exe", src / "大.txt"],
                               lambda frac, name: seen.append(frac)).replace("\\", "")  # drop Markdown escapes
    uploads = eng.settings.index_dir / "uploads"
    assert sorted(p.name for p in uploads.iterdir()) == [NOTICE_NAME]
    assert f"✓ {NOTICE_NAME}" in msg and "✗ 坏.pdf" in msg and "不是 PDF 文件" in msg
    assert "✗ 程序.exe：不支持的文件类型" in msg and "✗ 大.txt：文件过大" in msg
    assert seen and seen[-1] == 1.0
    assert "青蛙合唱节通知" in state.titles()
    count = eng.store.count()
    assert state.ask("青蛙合唱节在哪里举办？").found

    # a broken file with the same name does not replace the good one, and the index is unchanged
    again = tmp_path / "again"
    again.mkdir()
    (again / NOTICE_NAME).write_bytes(b"")
    msg = state.ingest_uploads([again / NOTICE_NAME, again / NOTICE_NAME], lambda frac, name: None).replace("\\", "")
    assert f"✗ {NOTICE_NAME}：文件为空" in msg and "本次已上传同名文件" in msg and "没有导入任何文件" in msg
    assert (uploads / NOTICE_NAME).read_text(encoding="utf-8") == NOTICE
    assert eng.store.count() == count


# =============================================================================================
# The running app
# =============================================================================================


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, proc: subprocess.Popen, url: str, index_dir: Path, log: Path):
        self.proc, self.url, self.index_dir, self.log = proc, url, index_dir, log
        self.status_seen: list[dict] = []

    def log_tail(self, n: int = 4000) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")[-n:] if self.log.exists() else ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def start_app(workdir: Path, index_dir: Path, docs_dirs: list[Path], password: str | None,
              timeout: float = 900.0, **settings: str) -> Server:
    """``python app.py`` on a free port; returns once ``/status`` reports the index ready (bounded wait).
    ``settings``: more ASSISTANT_* variables (``ui_title="…"`` → ASSISTANT_UI_TITLE)."""
    import httpx
    from gradio_client import Client

    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ASSISTANT_", "GRADIO_"))}
    env.update(ASSISTANT_INDEX_DIR=str(index_dir), ASSISTANT_PORT=str(port), ASSISTANT_HOST="127.0.0.1",
               ASSISTANT_DOCS_DIRS=",".join(map(str, docs_dirs)), GRADIO_ANALYTICS_ENABLED="False",
               PYTHONUNBUFFERED="1", NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost")
    if password:
        env["ASSISTANT_ADMIN_PASSWORD"] = password
    env.update({f"ASSISTANT_{k.upper()}": v for k, v in settings.items()})
    log = workdir / f"app-{port}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, str(ROOT / "app.py")], cwd=workdir, env=env, stdout=out,
                                stderr=subprocess.STDOUT)
    server = Server(proc, f"http://127.0.0.1:{port}/", index_dir, log)
    deadline = time.monotonic() + timeout
    try:
        while True:  # the page is served before the engine has loaded
            if proc.poll() is not None:
                raise RuntimeError(f"app exited with {proc.returncode}:\n{server.log_tail()}")
            try:
                if httpx.get(server.url, timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"app did not answer on {server.url}:\n{server.log_tail()}")
            time.sleep(0.5)
        client = Client(server.url, verbose=False)
        while True:
            status = client.predict(api_name="/status")
            if not server.status_seen or status != server.status_seen[-1]:
                server.status_seen.append(status)
            if status["ready"]:
                break
            if status["error"]:
                raise RuntimeError(f"app failed to load: {status}\n{server.log_tail()}")
            if proc.poll() is not None or time.monotonic() > deadline:
                raise TimeoutError(f"index not ready: {status}\n{server.log_tail()}")
            time.sleep(1.0)
    except BaseException:
        server.stop()
        raise
    return server


@pytest.fixture(scope="module")
def app_server(request, tmp_path_factory):
    """The full app on a copy of the session index (or, without conftest's engine, a freshly built one)."""
    work = tmp_path_factory.mktemp("ui-app")
    index_dir = work / "index"
    try:
        engine = request.getfixturevalue("engine")
    except pytest.FixtureLookupError:
        engine = None
    if engine is not None:
        shutil.copytree(engine.settings.index_dir, index_dir)
    server = start_app(work, index_dir, [CORPUS / "reports", CORPUS / "regulations"], PASSWORD)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def client(app_server):
    from gradio_client import Client

    return Client(app_server.url, verbose=False)


# ---- the /ask API ---------------------------------------------------------------------------


def test_status_reports_the_full_index(client, engine):
    status = client.predict(api_name="/status")
    assert status["ready"] and status["error"] is None
    assert f"{len(engine.retriever.titles)} 个文件" in status["message"]
    assert f"{engine.store.count()} 个段落" in status["message"]


def test_get_status_is_a_plain_json_route(app_server, client):
    """``curl http://127.0.0.1:PORT/status``: the same object as the Gradio endpoint, as JSON, no client needed."""
    import httpx

    if shutil.which("curl"):
        run = subprocess.run(["curl", "-s", "-i", "--noproxy", "*", app_server.url + "status"], capture_output=True,
                             text=True, timeout=30)
        head, _, body = run.stdout.replace("\r\n", "\n").partition("\n\n")
        assert run.returncode == 0 and head.startswith("HTTP/1.1 200") and "application/json" in head.lower(), run.stdout
        got = json.loads(body)
    else:
        got = httpx.get(app_server.url + "status", timeout=30).json()
    assert got == client.predict(api_name="/status")
    assert set(got) == {"ready", "phase", "progress", "message", "error", "ingesting"}
    assert got["ready"] is True and got["phase"] == "ready" and got["message"].startswith("索引就绪：17 个文件")
    assert httpx.post(app_server.url + "status", timeout=30).status_code == 405  # GET only
    assert "text/html" in httpx.get(app_server.url, timeout=30).headers["content-type"]  # the page is still there


def test_api_lists_only_ask_follow_up_and_status(client):
    api = client.view_api(return_format="dict", print_info=False)
    assert set(api["named_endpoints"]) == {"/ask", "/follow_up", "/status"}
    assert not api["unnamed_endpoints"]
    params = [p["parameter_name"] for p in api["named_endpoints"]["/ask"]["parameters"]]
    assert params == ["question", "doc", "doc_type"]
    params = [p["parameter_name"] for p in api["named_endpoints"]["/follow_up"]["parameters"]]
    assert params == ["question", "history", "doc", "doc_type"]


def test_api_answers_a_follow_up_from_the_earlier_questions(client, engine):
    first = "孩子在学校被同学打伤了，学校要承担责任吗？"
    got = client.predict("如果孩子已经十六岁了呢？", first, "全部", "全部", api_name="/follow_up")
    want = engine.ask("如果孩子已经十六岁了呢？", history=[first]).to_json()
    assert got["found"] and got["standalone_question"] == want["standalone_question"] != got["question"]
    assert got["citations"] == want["citations"]


@pytest.mark.parametrize("question", ["《中华人民共和国未成年人保护法》第三十九条", "2022年审查了多少份重大行政决策？",
                                      "今天柳州天气怎么样"])
def test_api_ask_is_the_json_contract(client, engine, question):
    got = client.predict(question, "全部", "全部", api_name="/ask")
    assert set(got) == {"id", "question", "standalone_question", "found", "answer", "mode", "sentences", "note",
                        "citations", "retrieved", "ms"}
    want = engine.ask(question).to_json()
    for key in ("id", "question", "found", "answer", "citations"):
        assert got[key] == want[key], key
    assert [h["doc"] for h in got["retrieved"]] == [h["doc"] for h in want["retrieved"]]
    assert isinstance(got["ms"], (int, float))


def test_api_filters(client):
    got = client.predict("未成年人保护工作", "全部", "报告", api_name="/ask")
    assert got["found"] and {h["doc"] for h in got["retrieved"]} == {REPORT}
    got = client.predict("学校应当怎样开展禁毒教育？", "中华人民共和国禁毒法", "全部", api_name="/ask")
    assert got["found"] and {h["doc"] for h in got["retrieved"]} == {"中华人民共和国禁毒法"}
    got = client.predict("学校应当怎样开展禁毒教育？", "全部", "law", api_name="/ask")  # English codes work too
    assert got["retrieved"] and all(h["doc"].startswith("中华人民共和国") for h in got["retrieved"])


def test_pages_are_pinned_to_chinese(app_server):
    """Every HTML page says zh-CN before Gradio's scripts read the browser language; the API is untouched."""
    import httpx

    for url in (app_server.url, app_server.url + "?view=api"):
        page = httpx.get(url, timeout=30).text
        assert page.count(ui.PIN_CHINESE) == 1 and re.search(r'<html\s+lang="zh-CN"', page)
        assert page.index(ui.PIN_CHINESE) < page.index('<script type="module"')


def test_api_rejects_bad_filters(client):
    with pytest.raises(Exception, match="未知的文件类型"):
        client.predict("问题", "全部", "小说", api_name="/ask")
    with pytest.raises(Exception, match="没有这个文件"):
        client.predict("问题", "不存在的法", "全部", api_name="/ask")


# ---- the page in Chromium -----------------------------------------------------------------


@pytest.fixture(scope="module")
def playwright():
    """One Playwright for the module (the sync API allows one at a time); browsers are launched from it."""
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} missing and CI is set: install the Debian package 'chromium'", pytrace=False)
        pytest.skip(f"{CHROMIUM} not found (apt-get install -y chromium); browser tests skipped")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright):
    b = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
    yield b
    b.close()


@pytest.fixture(scope="module")
def en_browser(playwright):
    """Chromium whose own language is English (``--lang=en-US``), as a visitor abroad or on an English system has."""
    b = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=[*CHROMIUM_ARGS, "--lang=en-US"])
    yield b
    b.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("screenshots")


@contextlib.contextmanager
def open_page(browser, app_server, locale: str, init_script: str | None = None):
    context = browser.new_context(viewport={"width": 1360, "height": 940}, locale=locale)
    if init_script:
        context.add_init_script(init_script)
    pg = context.new_page()
    pg.set_default_timeout(30_000)
    outside = []
    pg.on("request", lambda r: outside.append(r.url) if not r.url.startswith((app_server.url, "data:", "blob:")) else None)
    pg.goto(app_server.url)
    pg.wait_for_selector("#status :text('索引就绪')")
    yield pg
    context.close()
    assert outside == [], f"the page fetched from outside the app: {outside}"


@pytest.fixture
def page(browser, app_server):
    with open_page(browser, app_server, "zh-CN") as pg:
        yield pg


def save(page, path: Path, small: bool = False) -> None:
    """Screenshot; ``small`` re-encodes it with a 256-colour palette (for committed docs images)."""
    page.screenshot(path=str(path))
    if small:
        from PIL import Image

        with Image.open(path) as im:
            im.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)


def ask(page, question: str) -> None:
    bots = page.locator('#chat [data-testid="bot"]')
    before = bots.count()
    page.fill("#question textarea", question)
    page.keyboard.press("Enter")
    bots.nth(before).wait_for()


def last_bot(page):
    return page.locator('#chat [data-testid="bot"]').last


def wait_answer(page, phrase: str) -> None:
    """Wait until the last answer contains ``phrase`` and has stopped growing (it is streamed)."""
    from playwright.sync_api import expect

    expect(last_bot(page)).to_contain_text(phrase, timeout=30_000)
    deadline, previous, same = time.monotonic() + 30, None, 0
    while same < 3:
        text = last_bot(page).inner_text()
        same = same + 1 if text == previous else 0
        previous = text
        assert time.monotonic() < deadline, "the answer kept changing"
        page.wait_for_timeout(150)


def choose(page, elem_id: str, option: str) -> None:
    page.click(f"#{elem_id} input")
    page.get_by_role("option", name=option, exact=True).click()
    from playwright.sync_api import expect

    expect(page.locator(f"#{elem_id} input")).to_have_value(option)


@pytest.mark.browser
def test_report_question(page, shots):
    from playwright.sync_api import expect

    expect(page).to_have_title("政策文件问答")  # the default title names no body
    expect(page.locator("#heading h2")).to_have_text("政策文件问答")

    ask(page, "2022年审查了多少份重大行政决策？")
    wait_answer(page, "今年共审查重大行政决策9份，行政规范性文件5份，党内规范性文件1份。")
    cards = page.locator("#sources .src-card")
    expect(cards).to_have_count(1)
    card = page.locator("#src-1-1")
    expect(card.locator(".src-title")).to_have_text(f"《{REPORT}》")
    expect(card.locator(".src-type")).to_have_text("报告")
    expect(card.locator(".src-where")).to_contain_text("1．严格法治审查工作")
    expect(card.locator("mark")).to_have_text("今年共审查重大行政决策9份，行政规范性文件5份，党内规范性文件1份。")
    expect(card.locator(".src-score")).to_contain_text("相关度")
    expect(page.locator("#examples")).to_be_hidden()
    # [1] links to the card
    link = last_bot(page).locator('a[href="#src-1-1"]')
    expect(link).to_have_text("[1]")
    page.mouse.wheel(0, 2000)
    link.click()
    expect(page).to_have_url(re.compile(r"#src-1-1$"))
    expect(card).to_be_in_viewport()
    save(page, shots / "report.png")


@pytest.mark.browser
def test_article_question_context_and_follow_up(page, shots):
    from playwright.sync_api import expect

    ask(page, "《中华人民共和国未成年人保护法》第三十九条")
    wait_answer(page, "并配合相关部门依法处理。")
    expect(last_bot(page)).to_contain_text("第三十九条 学校应当建立学生欺凌防控工作制度")
    card = page.locator("#src-1-1")
    expect(card.locator(".src-title")).to_have_text(f"《{MINORS}》")
    expect(card.locator(".src-type")).to_have_text("法律")
    expect(card.locator(".src-where")).to_have_text("第三章 学校保护 › 第三十九条")
    expect(card.locator("mark").first).to_contain_text("学校应当建立学生欺凌防控工作制度")
    # the expander shows the neighbouring articles
    expect(card.locator(".ctx-prev")).to_be_hidden()
    card.locator("details summary").click()
    expect(card.locator(".ctx-prev")).to_contain_text("第三十八条")
    expect(card.locator(".ctx-next")).to_contain_text("第四十条")
    save(page, shots / "article.png")

    ask(page, "那第四十条呢？")
    wait_answer(page, "第四十条")
    expect(last_bot(page)).to_contain_text(f"《{MINORS}》第四十条规定")
    newest = page.locator("#sources .src-turn").first  # newest first, each answer's cards under its question
    expect(newest.locator(".src-q")).to_contain_text("那第四十条呢？")
    expect(newest.locator(".src-card").first).to_have_attribute("id", re.compile(r"^src-2-"))
    expect(page.locator("#src-2-1 .src-title")).to_have_text(f"《{MINORS}》")
    expect(page.locator("#src-2-1 .src-where")).to_contain_text("第四十条")
    expect(page.locator("#src-2-1 mark").first).to_contain_text("第四十条 学校、幼儿园应当建立预防性侵害、性骚扰未成年人工作制度")
    expect(page.locator("#sources .src-turn")).to_have_count(2)
    save(page, shots / "follow_up.png")

    # a marker of the FIRST answer still leads to the first answer's own card, below the newer group
    link = page.locator('#chat [data-testid="bot"]').first.locator('a[href^="#src-"]').first
    href = link.get_attribute("href")
    assert href.startswith("#src-1-"), href
    page.mouse.wheel(0, 2000)
    link.click()
    expect(page).to_have_url(re.compile(f"{href}$"))
    target = page.locator(href)
    expect(target).to_be_in_viewport()
    expect(target.locator(".src-where")).to_contain_text("第三十九条")
    expect(target.locator(".src-text")).to_contain_text("学校应当建立学生欺凌防控工作制度")
    assert target.evaluate("e => e.closest('.src-turn').dataset.turn") == "1"
    save(page, shots / "follow_up_first_marker.png")


@pytest.mark.browser
def test_out_of_scope_question_shows_no_cards(page, shots):
    from playwright.sync_api import expect

    ask(page, "今天柳州天气怎么样")
    wait_answer(page, NOT_FOUND)
    expect(page.locator("#sources .src-none")).to_have_text(ui.NO_ANSWER_NOTE)
    expect(page.locator("#sources .src-card")).to_have_count(0)
    expect(page.locator("#sources mark")).to_have_count(0)
    expect(last_bot(page).locator("a")).to_have_count(0)
    save(page, shots / "not_found.png")


@pytest.mark.browser
def test_no_such_article(page):
    from playwright.sync_api import expect

    ask(page, "禁毒法第九十九条")
    wait_answer(page, "《中华人民共和国禁毒法》中没有第九十九条")
    expect(page.locator("#sources .src-card")).to_have_count(0)
    expect(page.locator("#sources .src-none")).to_be_visible()


#: A question whose answer is a list (a report's problems): the lead line, then one "- " item per problem.
LIST_QUESTION = "柳州市教育局2022年法治政府建设存在哪些问题？"


@pytest.mark.browser
def test_list_answer_renders_as_bullets(page, client, shots):
    """Every "- " line of the answer is a real list item in the chat, its [n] markers still links."""
    from playwright.sync_api import expect

    answer = client.predict(LIST_QUESTION, "全部", "全部", api_name="/ask")["answer"]  # same engine as the page
    items = [line[2:] for line in answer.split("\n") if line.startswith("- ")]
    assert len(items) >= 2, f"expected a list answer:\n{answer}"
    ask(page, LIST_QUESTION)
    wait_answer(page, items[-1])
    lis = last_bot(page).locator("li")
    expect(lis).to_have_count(len(items))
    assert lis.all_inner_texts() == items  # the item text shown literally, "[n]" included
    for li, item in zip(lis.all(), items):
        expect(li.locator('a[href^="#src-1-"]')).to_have_count(len(re.findall(r"\[\d+\]", item)))
    expect(last_bot(page).locator("ul")).to_have_count(1)
    save(page, shots / "list_answer.png")


@pytest.mark.browser
def test_context_expander_stays_above_the_footer(page, shots):
    """Long neighbouring passages scroll inside the sources panel; the footer stays uncovered and clickable."""
    from playwright.sync_api import expect

    ask(page, "《中华人民共和国未成年人保护法》第三十九条")
    wait_answer(page, "并配合相关部门依法处理。")
    card = page.locator("#src-1-1")
    card.locator("details summary").click()
    nxt = card.locator(".ctx-next")
    expect(nxt).to_contain_text("第四十条")
    panel, footer = page.locator("#sources"), page.locator("footer")
    assert panel.evaluate("e => e.scrollHeight > e.clientHeight"), "the context is expected to overflow the panel"
    footer_top = footer.bounding_box()["y"]
    assert panel.bounding_box()["y"] + panel.bounding_box()["height"] <= footer_top + 0.5
    nxt.scroll_into_view_if_needed()  # reachable by scrolling the panel, and then still above the footer
    box = nxt.bounding_box()
    assert box["y"] + box["height"] <= footer_top + 0.5, (box, footer_top)
    api = footer.locator("button.show-api")
    api.scroll_into_view_if_needed()
    hit = page.evaluate("""b => { const r = b.getBoundingClientRect();
        return b.contains(document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2)); }""", api.element_handle())
    assert hit, "something covers the footer"
    save(page, shots / "context_open.png")


#: ASCII words allowed on the page: the API link, and the file types and size unit the upload tab names.
ASCII_WORDS_OK = {"API", "txt", "md", "docx", "pdf", "html", "htm", "MB"}
_ATTRIBUTES = ["aria-label", "title", "placeholder", "alt"]

#: Every text node that shows and every attribute value that appears, as it stands 50 ms after the change (Gradio
#: writes some English that the page's translator rewrites at once: the visitor never sees that): catches words
#: that only flash by, such as the upload progress or the screen-reader announcement of a finished event.
_RECORD_ENGLISH = """(() => {
  window.__english = [];
  const WORD = /[A-Za-z]{2,}/, ATTRS = %s, pending = new Set();
  const check = () => {
    for (const n of pending) {
      if (!n.isConnected) continue;
      if (n.nodeType === 3) {
        const el = n.parentElement;
        if (el && !el.closest("script, style") && el.checkVisibility() && WORD.test(n.nodeValue))
          window.__english.push(["text", n.nodeValue.trim().slice(0, 200)]);
      } else if (n.nodeType === 1) {
        for (const a of ATTRS) { const v = n.getAttribute(a); if (v && WORD.test(v)) window.__english.push([a, v.slice(0, 200)]); }
      }
    }
    pending.clear();
  };
  const add = (n) => {
    pending.add(n);
    if (n.nodeType !== 1) return;
    const w = document.createTreeWalker(n, NodeFilter.SHOW_ELEMENT | NodeFilter.SHOW_TEXT);
    for (let m; (m = w.nextNode()); ) pending.add(m);
  };
  new MutationObserver((changes) => {
    for (const c of changes) c.type === "childList" ? c.addedNodes.forEach(add) : add(c.target);
    setTimeout(check, 50);
  }).observe(document, {subtree: true, childList: true, characterData: true, attributes: true, attributeFilter: ATTRS});
})();""" % _ATTRIBUTES

#: The page as it stands: the words of body.innerText (what shows, screen-reader-only text included) and of every
#: aria-label / title / placeholder / alt attribute, shown or not.
_PAGE_WORDS = r"""(attrs) => {
  const out = [];
  for (const w of document.body.innerText.match(/[A-Za-z]{2,}/g) || []) out.push(["text", w]);
  for (const el of document.querySelectorAll("*"))
    for (const a of attrs) for (const w of (el.getAttribute(a) || "").match(/[A-Za-z]{2,}/g) || []) out.push([a, w]);
  return out;
}"""


def english_words(found: list[list[str]]) -> set[str]:
    """(where, text) pairs → "where: word" for every ASCII word outside :data:`ASCII_WORDS_OK`."""
    return {f"{where}: {w}" for where, text in found for w in re.findall(r"[A-Za-z]{2,}", text)
            if w not in ASCII_WORDS_OK}


def boxes_overlap(a: dict, b: dict) -> bool:
    return a["x"] < b["x"] + b["width"] and b["x"] < a["x"] + a["width"] and \
        a["y"] < b["y"] + b["height"] and b["y"] < a["y"] + a["height"]


@pytest.mark.browser
def test_page_is_chinese_in_an_english_browser(en_browser, app_server, shots):
    """Chromium started with --lang=en-US and an en-US context: every word Gradio shows or puts in an attribute
    (tooltips, screen-reader labels and announcements, progress, hidden labels) is Chinese, on every tab."""
    from playwright.sync_api import expect

    with open_page(en_browser, app_server, "en-US", init_script=_RECORD_ENGLISH) as page:
        assert page.evaluate("Intl.DateTimeFormat().resolvedOptions().locale") == "en-US"
        expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
        footer = page.locator("footer")
        expect(footer).to_contain_text("通过 API 使用")
        expect(footer).to_contain_text("设置")
        ask(page, "学校对学生欺凌应该怎么处理？")
        wait_answer(page, "学生欺凌")
        bot = page.locator('#chat [data-testid="bot"]').last
        expect(bot).to_have_attribute("aria-label", re.compile(r"^回答：根据.*\[1\]", re.S))  # read as [1], not as a link
        expect(page.locator("#chat .message-buttons button").last).to_have_attribute(
            "title", ui.GRADIO_ZH_CN["chatbot.copy_message"])  # Gradio's own key, from our translations
        page.wait_for_timeout(1500)  # the screen-reader announcement of the finished answer
        seen = {"问答": page.evaluate(_PAGE_WORDS, _ATTRIBUTES)}
        save(page, shots / "english_browser.png")
        # the chat's clear button and the copy buttons stay off the messages
        messages = [m.bounding_box() for m in page.locator('#chat [data-testid="user"], #chat [data-testid="bot"]').all()]
        buttons = [b.bounding_box() for b in page.locator("#chat button").all() if b.is_visible()]
        assert len(messages) == 2 and buttons
        assert not [(m, b) for m in messages for b in buttons if boxes_overlap(m, b)]
        for tab in ("关于语料", "引用核查", "上传文件"):
            page.get_by_role("tab", name=tab).click()
            page.wait_for_timeout(1500)
            seen[tab] = page.evaluate(_PAGE_WORDS, _ATTRIBUTES)
            save(page, shots / f"english_browser_{tab}.png")
        expect(page.locator("#upload-files")).to_be_visible()
        english = {tab: sorted(english_words(found)) for tab, found in seen.items()}
        assert not any(english.values()), english
        flashed = sorted(english_words(page.evaluate("window.__english")))
        assert not flashed, flashed
        # the API docs stay one click away
        footer.get_by_text("通过 API 使用").click()
        expect(page.get_by_text("/ask").first).to_be_visible()


@pytest.mark.browser
def test_filters(page, shots):
    from playwright.sync_api import expect

    choose(page, "type-filter", "报告")
    ask(page, "未成年人保护工作")
    wait_answer(page, "未成年人保护宣传月")
    types = page.locator("#sources .src-type")
    expect(types.first).to_be_visible()
    assert set(types.all_inner_texts()) == {"报告"}

    choose(page, "type-filter", "全部")
    choose(page, "doc-filter", "中华人民共和国禁毒法")
    ask(page, "学校应当怎样开展禁毒教育？")
    wait_answer(page, "禁毒")
    titles = page.locator("#sources .src-turn").first.locator(".src-title")
    expect(titles.first).to_be_visible()
    assert set(titles.all_inner_texts()) == {"《中华人民共和国禁毒法》"}
    save(page, shots / "filters.png")


@pytest.mark.browser
def test_examples_per_user_group(page, shots):
    """Click each group's first example; screenshots go to docs/screenshots/ with UPDATE_SCREENSHOTS=1."""
    from playwright.sync_api import expect

    docs_dir = ROOT / "docs" / "screenshots"
    update_docs = os.environ.get("UPDATE_SCREENSHOTS") == "1"
    for group, questions in ui.EXAMPLES.items():
        expect(page.locator("#examples")).to_be_visible()
        expect(page.locator("#examples")).to_contain_text(group)
        for q in questions:
            expect(page.locator("#examples").get_by_role("button", name=q, exact=True)).to_be_visible()
        found, docs, phrase = EXPECTED[questions[0]]
        page.locator("#examples").get_by_role("button", name=questions[0], exact=True).click()
        wait_answer(page, phrase)
        expect(page.locator('#chat [data-testid="user"]').last).to_contain_text(questions[0])
        expect(page.locator("#src-1-1 .src-title")).to_have_text(re.compile("|".join(f"《{d}》" for d in docs)))
        expect(page.locator("#src-1-1 mark").first).to_be_visible()
        name = SCREENSHOT_NAMES[group]
        save(page, shots / name)
        if update_docs:
            docs_dir.mkdir(parents=True, exist_ok=True)
            save(page, docs_dir / name, small=True)
        page.click("#clear")
        expect(page.locator('#chat [data-testid="bot"]')).to_have_count(0)
        expect(page.locator("#sources .src-empty")).to_have_text(ui.SOURCES_PLACEHOLDER)


@pytest.mark.browser
def test_corpus_tab(page, engine, shots):
    from playwright.sync_api import expect

    page.get_by_role("tab", name="关于语料").click()
    rows = page.locator("#corpus table.corpus tbody tr.c-row")
    expect(rows).to_have_count(len(engine.store.documents()))
    expect(page.locator("#corpus")).to_contain_text(f"共 17 个文件，{engine.store.count()} 个段落")
    # whose documents these are: the body that issued the report, the laws and regulations by type
    expect(page.locator("#corpus .corpus-bodies")).to_contain_text("发布机关：柳州市教育局（1 份）；法律 ")
    groups = page.locator("#corpus tr.c-group")
    expect(groups).to_have_count(4)  # the kinds as the laws' history lines say who made them
    assert ([re.sub(r"\s*\d+ 个文件$", "", g) for g in groups.all_inner_texts()]
            == ["柳州市教育局", "法律", "行政法规", "司法解释"])
    minors = rows.filter(has_text=MINORS)
    counts = {r["doc"]: r["chunks"] for r in engine.store.documents()}
    expect(minors.locator("td.c-num")).to_have_text(str(counts[MINORS]))
    expect(minors.locator("td.c-info")).to_contain_text("1991年9月4日")
    expect(rows.filter(has_text=REPORT).locator("td").nth(1)).to_have_text("报告")
    expect(rows.filter(has_text=REPORT)).to_have_attribute("data-group", "柳州市教育局")
    save(page, shots / "corpus.png")


@pytest.mark.browser
def test_citation_check_tab(page, shots):
    from playwright.sync_api import expect

    page.get_by_role("tab", name="引用核查").click()
    page.locator("#check-text textarea").fill(
        "依照《中华人民共和国未成年人保护法》第三十九条，学校应当建立学生欺凌防控工作制度。"
        "禁毒法第九十九条另有规定。学校应落实《青少年法治教育大纲》。"
    )
    page.click("#check-button")
    rows = page.locator("#check-result tr.cite-row")
    expect(rows).to_have_count(3)
    expect(rows.nth(0)).to_have_attribute("data-status", "ok")
    expect(rows.nth(1)).to_have_attribute("data-status", "no_such_article")
    expect(rows.nth(2)).to_have_attribute("data-status", "document_not_in_corpus")
    expect(rows.nth(0)).to_contain_text("学校应当建立学生欺凌防控工作制度")
    save(page, shots / "check.png")

    page.get_by_text("引用关系：各文件引用了哪些文件").click()
    page.click("#map-button")
    report_row = page.locator("#map-result tr.map-row").filter(
        has=page.locator("td:first-child", has_text=f"《{REPORT}》"))
    expect(report_row).to_contain_text("青少年法治教育大纲")
    expect(report_row).to_contain_text("语料中无此文件")


#: Records what Gradio's progress overlays (status trackers) show while an event runs: [how many, their texts].
_RECORD_PROGRESS = """() => {
  window.__progress = [];
  const seen = new Set();
  const observer = new MutationObserver(() => {
    const shown = [...document.querySelectorAll('[data-testid="status-tracker"]')]
      .filter((e) => e.checkVisibility() && e.innerText.trim());
    const key = shown.map((e) => e.innerText.trim().replace(/\\s+/g, " ")).join(" | ");
    if (shown.length && !seen.has(key)) { seen.add(key); window.__progress.push([shown.length, key]); }
  });
  observer.observe(document.body, {subtree: true, childList: true, characterData: true});
}"""


@pytest.mark.browser
def test_citation_check_tab_reviews_an_uploaded_draft(page, tmp_path, shots):
    """Upload a .docx draft in the 引用核查 tab, download the annotated draft and the reports, open them."""
    import docx
    from playwright.sync_api import expect

    from assistant.review import HIGHLIGHT, read_report_csv
    from test_review import DRAFT_EXPECTED, FIXTURE, make_docx

    lines = [line for line in FIXTURE.read_text(encoding="utf-8").split("\n") if line.strip()]
    draft = tmp_path / "征求意见稿.docx"
    make_docx(lines, draft)
    page.get_by_role("tab", name="引用核查").click()
    page.set_input_files("#check-file input[type=file]", str(draft))
    expect(page.locator("#check-file")).to_contain_text("征求意见稿.docx")
    page.click("#check-button")
    rows = page.locator("#check-result tr.cite-row")
    expect(rows).to_have_count(len(DRAFT_EXPECTED), timeout=120_000)
    assert [r.get_attribute("data-verdict") for r in rows.all()] == [v for _, v, _ in DRAFT_EXPECTED]
    expect(rows.nth(7).locator(".verdict")).to_have_text("条文不存在（该法共 132 条）")
    expect(rows.nth(4).locator(".verdict")).to_have_text("条文存在，内容可能不符（第四十条更相符）")
    expect(page.locator("#check-result")).to_contain_text("语料中无此文件：《未成年人学校保护规定》（第10段、第13段）")
    links = page.locator("#check-downloads a")
    expect(links).to_have_count(3)
    save(page, shots / "check_upload.png")
    got = {}
    for i in range(3):
        with page.expect_download() as info:
            links.nth(i).click()
        got[info.value.suggested_filename] = tmp_path / info.value.suggested_filename
        info.value.save_as(got[info.value.suggested_filename])
    assert sorted(got) == ["征求意见稿_批注.docx", "征求意见稿_核查报告.csv", "征求意见稿_核查报告.docx"]
    annotated = docx.Document(str(got["征求意见稿_批注.docx"]))
    assert [p.text for p in annotated.paragraphs] == lines and len(annotated.comments) == len(DRAFT_EXPECTED) + 1
    colours = [r.font.highlight_color for p in annotated.paragraphs for r in p.runs if r.font.highlight_color]
    assert {c.name for c in colours} == {HIGHLIGHT[v] for _, v, _ in DRAFT_EXPECTED}
    rows_csv = read_report_csv(got["征求意见稿_核查报告.csv"])
    assert [r["引用"] for r in rows_csv] == [raw for raw, _, _ in DRAFT_EXPECTED]
    assert len(docx.Document(str(got["征求意见稿_核查报告.docx"])).tables[0].rows) == len(DRAFT_EXPECTED) + 1


@pytest.mark.browser
def test_upload_then_ask(page, app_server, tmp_path, shots):
    """Runs last: it adds a document to the app's index copy."""
    from playwright.sync_api import expect

    notice = tmp_path / NOTICE_NAME
    notice.write_text(NOTICE, encoding="utf-8")
    bad = tmp_path / "损坏的文件.pdf"
    bad.write_bytes(b"this is not a pdf")
    uploads = app_server.index_dir / "uploads"

    page.get_by_role("tab", name="上传文件").click()
    result = page.locator("#upload-result")
    page.set_input_files("#upload-files input[type=file]", [str(notice), str(bad)])
    expect(page.locator("#upload-files tbody tr")).to_have_count(2)
    page.fill("#upload-password input", "wrong password")
    page.click("#upload-button")
    expect(result).to_contain_text("密码错误")
    assert not uploads.exists() or not any(uploads.iterdir())

    page.fill("#upload-password input", PASSWORD)  # the chosen files stay selected
    page.evaluate(_RECORD_PROGRESS)
    page.click("#upload-button")
    expect(result).to_contain_text("导入完成：1 个文件已加入索引", timeout=120_000)
    progress = page.evaluate("window.__progress")
    assert progress, "no progress was shown during the upload"
    assert all(n == 1 for n, _ in progress), progress  # over the result only, not once per output
    assert not english_words([["progress", t] for _, t in progress]), progress  # 「正在导入 done」 was a bug
    expect(result).to_contain_text(f"✓ {NOTICE_NAME}")
    expect(result).to_contain_text(f"✗ {bad.name}")
    expect(result).to_contain_text("不是 PDF 文件")
    save(page, shots / "upload.png")
    assert (uploads / NOTICE_NAME).read_text(encoding="utf-8") == NOTICE
    assert sorted(p.name for p in uploads.iterdir()) == [NOTICE_NAME]  # the bad file left nothing behind
    expect(page.locator("#status")).to_contain_text("索引就绪：18 个文件")

    page.get_by_role("tab", name="问答").click()
    ask(page, "青蛙合唱节在哪里举办？")
    wait_answer(page, "在柳州市第六十六中学举办首届“青蛙合唱节”")
    expect(page.locator("#src-1-1 .src-title")).to_have_text("《青蛙合唱节通知》")
    expect(page.locator("#src-1-1 mark").first).to_be_visible()
    save(page, shots / "upload_answer.png")


# ---- first start on an empty index ------------------------------------------------------


@pytest.mark.browser
def test_first_start_builds_the_index(browser, tmp_path):
    """No index yet: the app comes up, builds it (progress on the console and in the page), then answers."""
    import httpx
    from playwright.sync_api import expect

    docs = tmp_path / "docs"
    docs.mkdir()
    shutil.copy(CORPUS / "reports" / f"{REPORT}.txt", docs)
    # a deployment's own title and examples: the laws are not indexed here, so the lawyers' examples are not shown
    examples = tmp_path / "examples.json"
    examples.write_text(json.dumps({"工作人员": ["2022年审查了多少份重大行政决策？", "明年有什么打算？"],
                                    "律师": ["民法典第一千二百条", "禁毒法第九十九条"]}, ensure_ascii=False), "utf-8")
    server = start_app(tmp_path, tmp_path / "index", [docs], password=None, timeout=600,
                       ui_title="某某局文件问答", ui_examples=str(examples))
    try:
        assert server.status_seen[-1]["message"].startswith("索引就绪：1 个文件，")
        assert httpx.get(server.url + "status", timeout=30).json()["phase"] == "ready"  # GET /status as well
        assert re.search("ingest|已嵌入", server.log_tail(20000))  # progress on the console (tqdm or plain lines)
        context = browser.new_context(viewport={"width": 1200, "height": 800})
        pg = context.new_page()
        pg.goto(server.url)
        expect(pg.locator("#status")).to_contain_text("索引就绪：1 个文件")
        expect(pg).to_have_title("某某局文件问答")
        expect(pg.locator("#heading h2")).to_have_text("某某局文件问答")
        shown = pg.locator("#examples button.example")
        expect(shown).to_have_count(2)
        assert shown.all_inner_texts() == ["2022年审查了多少份重大行政决策？", "明年有什么打算？"]
        expect(pg.locator("#examples")).not_to_contain_text("律师")
        shown.first.click()
        wait_answer(pg, "重大行政决策9份")
        # no admin password → upload is explained, not offered
        pg.get_by_role("tab", name="上传文件").click()
        expect(pg.locator("#upload-disabled")).to_contain_text("上传功能未启用")
        expect(pg.locator("#upload-files")).to_have_count(0)
        context.close()
    finally:
        server.stop()
