"""Citation parsing on real text: the 柳州 report, the law texts' own cross-references, user questions."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from assistant.citations import (
    DocumentReference,
    article_label,
    article_number,
    cn_to_int,
    int_to_cn,
    parse_citations,
    resolve_title,
    title_aliases,
)

CORPUS = Path(__file__).resolve().parents[1] / "data" / "corpus"
REPORT_NAME = "柳州市教育局2022年法治政府建设情况报告.txt"
HEADING = re.compile(r"^(第[零〇一二三四五六七八九十百千]+条) ", re.M)


@pytest.fixture(scope="module")
def corpus() -> Path:
    if not (CORPUS / "regulations").is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"bundled corpus missing at {CORPUS}")
        pytest.skip(f"bundled corpus not found at {CORPUS}")
    return CORPUS


@pytest.fixture(scope="module")
def laws(corpus: Path) -> dict[str, str]:
    """Full title (the file's `# ` first line) -> file text."""
    out = {}
    for path in sorted((corpus / "regulations").glob("*.md")):
        text = path.read_text(encoding="utf-8")
        first = text.splitlines()[0]
        assert first.startswith("# ")
        out[first[2:].strip()] = text
    return out


@pytest.fixture(scope="module")
def known(laws: dict[str, str]) -> list[str]:
    return list(laws)


@pytest.fixture(scope="module")
def report(corpus: Path) -> str:
    return (corpus / "reports" / REPORT_NAME).read_text(encoding="utf-8")


def line_with(text: str, needle: str) -> str:
    """The one corpus line containing `needle` (so the tests quote real sentences, not copies)."""
    lines = [ln for ln in text.splitlines() if needle in ln]
    assert lines, needle
    return lines[0]


def refs(line: str, known_titles: list[str] | tuple[str, ...] = ()) -> list[DocumentReference]:
    """Citations in a law line, without the line's own article heading ("第十六条 ...")."""
    heading = HEADING.match(line)
    return [c for c in parse_citations(line, known_titles) if not (heading and c.start == 0)]


def only(text: str, known_titles: list[str] | tuple[str, ...] = ()) -> DocumentReference:
    cits = parse_citations(text, known_titles)
    assert len(cits) == 1, cits
    return cits[0]


# --- numerals -----------------------------------------------------------------------------------


def test_numerals_round_trip_every_article_heading(laws: dict[str, str]) -> None:
    assert len(laws) >= 3
    total = 0
    for title, text in laws.items():
        labels = HEADING.findall(text)
        assert labels, title
        for i, label in enumerate(labels, start=1):
            n = article_number(label)
            assert n == i, (title, label)  # headings run 第一条.. without gaps
            assert article_label(cn_to_int(label[1:-1])) == label
            assert int_to_cn(n) == label[1:-1]
        total += len(labels)
    assert total > 2000  # the 民法典 alone has 1260


@pytest.mark.parametrize(
    ("cn", "n"),
    [("三十九", 39), ("一千二百零一", 1201), ("十", 10), ("1200", 1200), ("１２００", 1200), ("一百一十", 110),
     ("一千零一十", 1010), ("两", 2)],
)
def test_cn_to_int(cn: str, n: int) -> None:
    assert cn_to_int(cn) == n


@pytest.mark.parametrize(("n", "cn"), [(39, "三十九"), (1200, "一千二百"), (1201, "一千二百零一"), (10, "十"),
                                       (110, "一百一十"), (1010, "一千零一十"), (100, "一百")])
def test_int_to_cn(n: int, cn: str) -> None:
    assert int_to_cn(n) == cn


def test_labels() -> None:
    assert article_label(39) == "第三十九条"
    assert article_label(10, "之一") == "第十条之一"
    assert article_number("第三十九条") == 39
    assert article_number("第十条之一") == 10
    assert article_number("第1200条") == 1200
    for bad in ("abc", "第章", ""):
        with pytest.raises(ValueError):
            article_number(bad)
    with pytest.raises(ValueError):
        cn_to_int("三x")


# --- the report ------------------------------------------------------------------------------------

REPORT_TITLES = [
    "柳州市落实〈广西法治政府建设实施方案（2021—2025年）〉工作方案",
    "党政主要负责人履行推进法治建设第一责任人职责规定",
    "柳州市教育系统开展法治宣传教育的第八个五年规划（2021—2025年）",
    "青少年法治教育大纲",
    "广西壮族自治区〈青少年法治教育大纲〉实施办法",
    "柳州市教育局关爱保护未成年人工作实施方案",
    "柳州市学校小微权力清单和办学行为负面清单制度",
    "柳州市教育局内部管理制度汇编",
    "柳州市委教育工委 柳州市教育局重大教育决策社会稳定风险评估制度",
    "最高人民法院关于行政机关负责人出庭应诉若干问题的规定",
    "党政主要负责人履行推进法治建设第一责任人职责规定",
    "教育部关于加强教育行政执法工作的意见",
]


def test_every_bracketed_title_in_report(report: str, known: list[str]) -> None:
    cits = parse_citations(report, known)
    assert len(cits) == report.count("《") == report.count("》") == len(REPORT_TITLES)
    assert [c.title for c in cits] == REPORT_TITLES
    for c in cits:
        assert c.bracketed and c.articles == () and c.paragraph is None and c.item is None
        assert report[c.start : c.end] == c.raw == f"《{c.title}》"
    # only the 最高人民法院 规定 is in the corpus; the local plans are not
    resolved = {c.title: resolve_title(c.title, known) for c in cits}
    assert resolved["最高人民法院关于行政机关负责人出庭应诉若干问题的规定"] == [
        "最高人民法院关于行政机关负责人出庭应诉若干问题的规定"
    ]
    assert resolved["青少年法治教育大纲"] == []
    assert resolved["广西壮族自治区〈青少年法治教育大纲〉实施办法"] == []


def test_report_sentences(report: str) -> None:
    nested = line_with(report, "认真执行《柳州市落实")
    c = only(nested)
    assert c.title.startswith("柳州市落实〈广西") and c.title.endswith("〉工作方案")

    two = line_with(report, "《青少年法治教育大纲》及")
    assert [c.title for c in parse_citations(two)] == ["青少年法治教育大纲", "广西壮族自治区〈青少年法治教育大纲〉实施办法"]

    # "第二所专门学校", "第六十六中学", dates and percentages are not article citations
    for needle in ("第二所专门学校", "开学第一课", "参与率100%", "2023年9月前", "第一责任人职责"):
        sentence = line_with(report, needle)
        assert all(c.bracketed and not c.articles for c in parse_citations(sentence)), needle


# --- cross-references inside the law texts ------------------------------------------------------------


def test_self_references_point_at_existing_articles(laws: dict[str, str]) -> None:
    """What the citation checker does: every 本法/本条例/本规定 第N条 must exist in the same file."""
    checked = 0
    for title, text in laws.items():
        headings = set(HEADING.findall(text))
        for c in parse_citations(text):
            assert text[c.start : c.end] == c.raw
            if c.title and c.title.startswith("本"):
                assert c.title in ("本法", "本条例", "本规定"), c
                assert set(c.articles) <= headings, (title, c)
                checked += 1
    assert checked > 100


def test_law_text_cross_references(laws: dict[str, str], known: list[str]) -> None:
    ssl = laws["中华人民共和国行政诉讼法"]
    [c] = refs(line_with(ssl, "原告是符合本法第二十五条规定"))
    assert (c.title, c.articles) == ("本法", ("第二十五条",))
    [c] = refs(line_with(ssl, "解除本法第十二条第一款第十一项"))
    assert (c.title, c.articles, c.paragraph, c.item) == ("本法", ("第十二条",), 1, 11)

    cf = laws["中华人民共和国行政处罚法"]
    [c] = refs(line_with(cf, "依照本法第六十七条至第六十九条"))
    assert c.raw == "本法第六十七条至第六十九条"
    assert c.articles == ("第六十七条", "第六十八条", "第六十九条")
    [c] = refs(line_with(cf, "除依照本法第六十八条、第六十九条"))
    assert c.articles == ("第六十八条", "第六十九条")

    fy = laws["中华人民共和国行政复议法"]
    [c] = refs(line_with(fy, "本法第三十九条第一款第一项、第二项、第四项"))
    assert (c.articles, c.paragraph, c.item) == (("第三十九条",), 1, 1)

    mfd = laws["中华人民共和国民法典"]
    [c] = refs(line_with(mfd, "活动组织者的责任适用本法"))
    assert c.articles == ("第一千一百九十八条", "第一千一百九十九条", "第一千二百条", "第一千二百零一条")
    line = line_with(mfd, "第一编第六章第三节和本法第五百零六条")
    assert [(c.title, c.articles) for c in refs(line)] == [("本法", ("第五百零六条",))]

    court = laws["最高人民法院关于行政机关负责人出庭应诉若干问题的规定"]
    line = line_with(court, "属于行政诉讼法第三条第三款")
    for kt in ((), known):
        [c] = refs(line, kt)
        assert (c.title, c.articles, c.paragraph) == ("行政诉讼法", ("第三条",), 3)
    assert resolve_title(c.title, known) == ["中华人民共和国行政诉讼法"]
    [c] = refs(line_with(court, "参照本规定第六条第二款"))
    assert (c.title, c.articles, c.paragraph) == ("本规定", ("第六条",), 2)

    ba = laws["法规规章备案条例"]
    [c] = refs(line_with(ba, "报国务院依照立法法"))
    assert (c.title, c.articles, c.paragraph, c.item) == ("立法法", ("第八十六条",), 1, 2)
    [c] = refs(line_with(ba, "对《规章制定程序条例》第二条第二款"), known)
    assert c.raw == "《规章制定程序条例》第二条第二款、第八条第二款" and c.bracketed
    assert c.articles == ("第二条", "第八条") and c.paragraph is None  # 款 of two articles: not merged
    assert resolve_title(c.title, known) == ["规章制定程序条例"]
    line = line_with(laws["法规规章备案审查条例"], "符合本条例第二条和第八条第二款")
    assert [(c.title, c.articles, c.paragraph) for c in refs(line)] == [
        ("本条例", ("第二条", "第八条"), None),
        (None, ("第二条",), None),  # "不符合第二条规定的": bare, the caller resolves it to 本条例
        (None, ("第二条",), None),
        (None, ("第八条",), 2),  # "第八条第二款、第三款、第四款": first 款 kept
    ]

    # 《关于修改<…>的决定》 in a law header: half-width <> nested in 《》, one citation, no article
    header = line_with(ssl, "第一次修正")
    assert [c.title for c in parse_citations(header)] == ["关于修改<中华人民共和国行政诉讼法>的决定"]


# --- questions and synthetic forms -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "title", "articles"),
    [
        ("未成年人保护法第四十条怎么规定", "未成年人保护法", ("第四十条",)),
        ("民法典第1200条", "民法典", ("第一千二百条",)),
        ("根据行政诉讼法第三条第三款", "行政诉讼法", ("第三条",)),
        ("依照禁毒法第十三条规定", "禁毒法", ("第十三条",)),
        ("请问刑法第十七条怎么规定", "刑法", ("第十七条",)),
        ("查一下民法典第1200条", "民法典", ("第一千二百条",)),
        ("那么宪法第三十三条呢", "宪法", ("第三十三条",)),
        ("看看 教师法 第 三十七 条", "教师法", ("第三十七条",)),
        ("民法典和刑法第十条", "刑法", ("第十条",)),
        ("违反本法第十条", "本法", ("第十条",)),
        ("本条例第五条", "本条例", ("第五条",)),
        ("《未成年人保护法》第四十条", "未成年人保护法", ("第四十条",)),
        ("第三十九条、第四十条", None, ("第三十九条", "第四十条")),
        ("第三十九条和第四十条", None, ("第三十九条", "第四十条")),
        ("第一千一百九十九条至第一千二百零一条", None, ("第一千一百九十九条", "第一千二百条", "第一千二百零一条")),
        ("第1199条到第1201条", None, ("第一千一百九十九条", "第一千二百条", "第一千二百零一条")),
        ("第1199条—第1201条", None, ("第一千一百九十九条", "第一千二百条", "第一千二百零一条")),
        ("《民法典》第1199-1201条", "民法典", ("第一千一百九十九条", "第一千二百条", "第一千二百零一条")),
        ("第39、40条", None, ("第三十九条", "第四十条")),
        ("那第四十条呢？", None, ("第四十条",)),
        ("刑法第十条之一", "刑法", ("第十条之一",)),
        ("第十条之一至第十条之三", None, ("第十条之一", "第十条之三")),
        ("第三条至五条", None, ("第三条", "第四条", "第五条")),
        ("第五条至第三条", None, ("第五条", "第三条")),  # reversed: endpoints only, no expansion
        ("《中华人民共和国未成年人保护法》（2024年修正）第四十条", "中华人民共和国未成年人保护法", ("第四十条",)),
        ("依法第三条", None, ("第三条",)),
        ("按照有关规定第五条", None, ("第五条",)),
        ("怎么规定第四十条", None, ("第四十条",)),
    ],
)
def test_question_forms(text: str, title: str | None, articles: tuple[str, ...]) -> None:
    c = only(text)
    assert (c.title, c.articles) == (title, articles)
    assert text[c.start : c.end] == c.raw
    assert c.bracketed == text.startswith("《")


def test_paragraph_and_item() -> None:
    c = only("根据行政诉讼法第三条第三款")
    assert (c.raw, c.paragraph, c.item) == ("行政诉讼法第三条第三款", 3, None)
    c = only("民法典第1200条第2款第3项")
    assert (c.articles, c.paragraph, c.item) == (("第一千二百条",), 2, 3)
    c = only("第四十条 第二款")
    assert (c.raw, c.paragraph) == ("第四十条 第二款", 2)
    c = only("第三条第一款至第三款")
    assert (c.articles, c.paragraph) == (("第三条",), 1)


@pytest.mark.parametrize(
    "text",
    ["第一章 总则", "第二节 学校保护", "第七编 侵权责任", "适用前款和第三款的规定", "2022年6月", "作为全区第二所专门学校",
     "第十二届全国人民代表大会常务委员会第二十八次会议", "国务院令第713号", "第十二三条", "第三三条", "", "《", "》第三款", "《未闭合的书名"],
)
def test_not_articles(text: str) -> None:
    assert [c for c in parse_citations(text) if c.articles] == []


def test_robust_brackets() -> None:
    cits = parse_citations("《关于修改《行政诉讼法》的决定》第一条；《》第二条；《未闭合 第三条")
    assert [(c.title, c.bracketed, c.articles) for c in cits] == [
        ("关于修改《行政诉讼法》的决定", True, ("第一条",)),
        (None, False, ("第二条",)),
        (None, False, ("第三条",)),
    ]


def test_known_titles_pick_the_longest_alias(known: list[str]) -> None:
    # without known titles the heuristic cannot tell where the name starts; the aliases can
    c = only("认为行政机关存在行政诉讼法第三条", known)
    assert c.title == "行政诉讼法"
    c = only("预防未成年人犯罪法第四十一条", known)
    assert resolve_title(c.title, known) == ["中华人民共和国预防未成年人犯罪法"]
    c = only("法规规章备案条例第十条", known)
    assert resolve_title(c.title, known) == ["法规规章备案条例"]
    c = only("中华人民共和国民法典第1200条", known)
    assert c.title == "中华人民共和国民法典"
    # a known alias inside a longer unknown name is not that law: 高等教育法 is not 教育法
    c = only("依照高等教育法第五条", known)
    assert c.title == "高等教育法" and resolve_title(c.title, known) == []
    c = only("我国宪法第三十三条", known)
    assert resolve_title(c.title, known) == ["中华人民共和国宪法"]
    c = only("未保法第四十条", known)
    assert resolve_title(c.title, known) == ["中华人民共和国未成年人保护法"]


# --- titles ----------------------------------------------------------------------------------------


def test_title_aliases() -> None:
    assert title_aliases("中华人民共和国民法典") >= {"中华人民共和国民法典", "民法典"}
    assert "宪法" in title_aliases("中华人民共和国宪法")
    assert "关于行政机关负责人出庭应诉若干问题的规定" in title_aliases("最高人民法院关于行政机关负责人出庭应诉若干问题的规定")
    assert title_aliases("法规规章备案条例") == {"法规规章备案条例"}


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("未成年人保护法", ["中华人民共和国未成年人保护法"]),
        ("中华人民共和国未成年人保护法", ["中华人民共和国未成年人保护法"]),
        ("民法典", ["中华人民共和国民法典"]),
        ("宪法", ["中华人民共和国宪法"]),
        ("行政复议法", ["中华人民共和国行政复议法"]),
        ("行政诉讼法", ["中华人民共和国行政诉讼法"]),
        ("法规规章备案条例", ["法规规章备案条例"]),
        ("法规规章备案审查条例", ["法规规章备案审查条例"]),
        ("刑法", []),
        ("出庭应诉规定", ["最高人民法院关于行政机关负责人出庭应诉若干问题的规定"]),
        ("行政机关负责人出庭应诉规定", ["最高人民法院关于行政机关负责人出庭应诉若干问题的规定"]),
        ("本法", []),
        ("《 中华人民共和国 行政诉讼法 》", ["中华人民共和国行政诉讼法"]),
        ("中华人民共和国行政诉讼法（2017年修正）", ["中华人民共和国行政诉讼法"]),
        ("中华人民共和国行政诉讼法(2017年修正)", ["中华人民共和国行政诉讼法"]),
    ],
)
def test_resolve_title(name: str, expected: list[str], known: list[str]) -> None:
    assert resolve_title(name, known) == expected


def test_abbreviation_that_fits_two_titles_is_ambiguous(known: list[str]) -> None:
    # 备案条例 abbreviates both the repealed 法规规章备案条例 and its successor: never pick one
    assert sorted(resolve_title("备案条例", known)) == ["法规规章备案审查条例", "法规规章备案条例"]


def test_resolve_title_brackets_width() -> None:
    titles = ["柳州市落实〈广西法治政府建设实施方案（2021—2025年）〉工作方案"]
    assert resolve_title("柳州市落实<广西法治政府建设实施方案(2021—2025年)>工作方案", titles) == titles
    assert resolve_title("柳州市落实《广西法治政府建设实施方案（2021—2025年）》工作方案", titles) == titles
