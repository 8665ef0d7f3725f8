"""Parse legal citations (《title》, 第N条, 款/项, ranges, self-references) in Chinese text.

One parser serves two callers: the chat, which turns "未成年人保护法第四十条怎么规定" into a direct
article lookup, and the citation checker, which verifies that every article an answer cites exists.
Keeping a single implementation means both agree on what counts as a citation.

Article labels are canonical Chinese numerals ("第一千二百条"), the way the corpus writes its article
headings, so a label can be compared with a chunk's ``article`` field without further conversion.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

import cn2an

__all__ = [
    "Citation",
    "article_label",
    "article_number",
    "cn_to_int",
    "int_to_cn",
    "parse_citations",
    "resolve_title",
    "title_aliases",
]


@dataclass(frozen=True)
class Citation:
    raw: str  # the matched text, as written
    start: int  # offsets of raw in the input text
    end: int
    title: str | None  # as written, without 《》; None for a bare 第N条; "本法" etc. kept as written
    bracketed: bool  # the title was written inside 《》
    articles: tuple[str, ...]  # canonical labels, lists and ranges expanded; empty for a title alone
    paragraph: int | None  # 款; the first one written ("第一款、第二款" -> 1); None if several articles
    item: int | None  # 项; same rule as paragraph


# --- numerals -------------------------------------------------------------------------------

_CN_DIGITS = "零〇一二两三四五六七八九十百千万"
_NUM = rf"[{_CN_DIGITS}0-9０-９]+"
_WS = r"[ \t\u3000]*"  # spaces, never a line break: a heading on the next line is no continuation


def cn_to_int(s: str) -> int:
    """"三十九" -> 39, "1200" -> 1200. Raises ValueError on anything that is not a plain numeral."""
    s = unicodedata.normalize("NFKC", s).strip()  # NFKC turns full-width digits into ASCII
    if re.fullmatch(r"[0-9]+", s):
        return int(s)
    if not re.fullmatch(rf"[{_CN_DIGITS}]+", s):
        raise ValueError(f"not a numeral: {s!r}")
    try:  # strict: "三三" or "十二三" are typos, not article numbers
        return int(cn2an.cn2an(s.replace("两", "二").replace("〇", "零"), "strict"))
    except Exception as exc:  # cn2an raises its own error types for malformed numerals
        raise ValueError(f"not a numeral: {s!r}") from exc


def int_to_cn(n: int) -> str:
    """39 -> "三十九", 10 -> "十", 1201 -> "一千二百零一": the corpus's own spelling (checked in tests)."""
    if n < 0:
        raise ValueError("negative article number")
    return "零" if n == 0 else cn2an.an2cn(n)


def article_label(n: int, suffix: str = "") -> str:
    """39 -> "第三十九条"; (10, "之一") -> "第十条之一"."""
    return f"第{int_to_cn(n)}条{suffix}"


def article_number(label: str) -> int:
    """"第三十九条" / "第39条" / "第十条之一" -> the article number (39, 39, 10)."""
    m = re.match(rf"{_WS}第{_WS}({_NUM}){_WS}条", label)
    if not m:
        raise ValueError(f"not an article label: {label!r}")
    return cn_to_int(m.group(1))


# --- titles -----------------------------------------------------------------------------------

_SUFFIXES = ("法典", "法", "条例", "规定", "办法", "细则", "决定", "解释", "纲要", "大纲", "意见", "规则", "章程")
_SUFFIX_RE = "|".join(_SUFFIXES)
_BRACKETS = str.maketrans({"《": "<", "》": ">", "〈": "<", "〉": ">", "【": "[", "】": "]"})
#: Abbreviations that no prefix rule can derive. Kept explicit so that no name resolves by accident.
_SHORT_FORMS = {"中华人民共和国未成年人保护法": ("未保法",)}


def _norm(name: str) -> str:
    """Comparison key: no whitespace, no outer 《》, half-width brackets and digits (NFKC)."""
    s = unicodedata.normalize("NFKC", name).translate(_BRACKETS)
    s = re.sub(r"\s+", "", s)
    while s.startswith("<") and s.endswith(">") and s.count("<") == s.count(">"):
        s = s[1:-1]
    return s


def title_aliases(title: str) -> set[str]:
    """Names a full title is cited by: itself, without 中华人民共和国 (民法典, 宪法, 行政诉讼法 ...),
    without the issuing court, plus explicit short forms. Deliberately no fuzzy forms: 备案条例 must
    not silently mean either of 法规规章备案条例 / 法规规章备案审查条例."""
    t = title.strip()
    aliases = {t, *_SHORT_FORMS.get(t, ())}
    core = t.removeprefix("中华人民共和国")
    aliases.add(core)
    for court in ("最高人民法院", "最高人民检察院"):
        if core.startswith(court + "关于"):
            aliases.add(core.removeprefix(court))
    return {a for a in aliases if len(a) >= 2}


def resolve_title(name: str, known_titles: Iterable[str]) -> list[str]:
    """Full titles `name` refers to: exact match first, then alias match; [] if none, >1 = ambiguous.
    A trailing version note such as （2017年修正） is ignored when nothing matches with it."""
    titles = list(dict.fromkeys(known_titles))
    key = _norm(name)
    exact = [t for t in titles if _norm(t) == key]
    if exact or not key:
        return exact
    hits = [t for t in titles if key in {_norm(a) for a in title_aliases(t)}]
    if hits:
        return hits
    bare = re.sub(r"\([^()]*\)$", "", key)
    if bare != key:
        return resolve_title(bare, titles)
    return _abbreviation_of(key, titles)


def _abbreviation_of(key: str, titles: list[str]) -> list[str]:
    """Titles that ``key`` abbreviates by dropping characters (出庭应诉规定 → 最高人民法院关于…出庭应诉若干问题的规定).

    Only for names of four or more characters with the same last character (法/例/定…), so 刑法 never turns
    into 行政处罚法; an abbreviation that fits two titles (备案条例) comes back ambiguous, never guessed.
    """
    if len(key) < 4:
        return []

    def subsequence(small: str, big: str) -> bool:
        it = iter(big)
        return all(ch in it for ch in small)

    return [t for t in titles if _norm(t)[-1] == key[-1] and subsequence(key, _norm(t))]


# --- parsing ----------------------------------------------------------------------------------

_RANGE = r"至|到|[—–~～-]"
_SEP = rf"{_WS}(?:{_RANGE}|、|以及|和|及|与|或者|或){_WS}"
_SUF = r"之[一二三四五六七八九十]+"
_SUB = rf"(?:{_SEP}|{_WS})第{_WS}[（(]?{_WS}{_NUM}{_WS}[)）]?{_WS}[款项]"
_ART = rf"{_NUM}(?:{_SEP}{_NUM})*{_WS}条(?:{_SUF})?(?:{_SUB})*"
#: 第N条, then more articles (第 optional after a separator: "第三条至五条"), each with optional 款/项.
_CHAIN = re.compile(rf"第{_WS}{_ART}(?:{_SEP}第?{_WS}{_ART})*")
_TOKEN = re.compile(
    rf"(?P<nums>{_NUM}(?:{_SEP}{_NUM})*){_WS}条(?P<suf>{_SUF})?"
    rf"|第{_WS}[（(]?{_WS}(?P<sub>{_NUM}){_WS}[)）]?{_WS}(?P<kind>[款项])"
    rf"|(?P<rng>{_RANGE})"
)
_NUM_OR_RANGE = re.compile(rf"{_NUM}|{_RANGE}")
_MAX_RANGE = 300  # a longer "range" is more likely a misparse than a real citation

#: Words that precede a law name in running text or in a question; the name starts after the last one.
_LEAD_WORDS = (
    "根据|依照|依据|按照|遵照|违反|适用|参照|对照|属于|符合|请问|请教|查询|查看|查一下|看一下|一下"
    "|看看|说说|讲讲|介绍|了解|知道|那么|以及|或者|还有|对于|怎么|如何|什么|我国|现行"
)
#: Words ending like a title that are not one ("依法第三条", "按照有关规定第五条").
_NOT_TITLES = {"依法", "合法", "违法", "执法", "司法", "守法", "普法", "立法", "方法", "做法", "说法", "看法", "用法",
               "有关规定", "相关规定", "法律规定", "上述规定", "下列规定", "以下规定", *_SUFFIXES}
_LEAD_CHARS = set("即和与及或的在查问请那并对把将是呢吗了也还就看按依据从由给让")
_SELF_REF = re.compile(rf"(?<!基)(?:本|该)(?:{_SUFFIX_RE})$")  # 基本法 is a title, not "本法"
_ARTICLE_REF = rf"第[{_CN_DIGITS}0-9]+[条款项章节编]"


def _guess_title(before: str) -> str | None:
    """Heuristic law name ending right at the end of `before` (no known titles matched).

    Takes the run of Han characters ending in a title suffix, cuts it after the last lead word
    ("根据", "请问" ...) or article reference, splits lists ("民法典和刑法" -> "刑法") and drops
    single leading particles. Returns None when no plausible name remains (e.g. a bare "规定")."""
    run = re.search(r"[\u4e00-\u9fff]{1,60}$", before)
    if not run or not run.group().endswith(_SUFFIXES):
        return None
    s = run.group()
    if m := _SELF_REF.search(s):
        return m.group()
    s = re.split(rf"{_ARTICLE_REF}|{_LEAD_WORDS}", s)[-1]
    if m := re.match(rf".*(?:{_SUFFIX_RE})(?:和|与|及|或)(.+)$", s):
        s = m.group(1)
    while len(s) > 2 and s[0] in _LEAD_CHARS:
        s = s[1:]
    return None if s in _NOT_TITLES or len(s) < 2 else s


def _name_may_start_after(prefix: str) -> bool:
    """Whether a known alias may begin right after `prefix`: "高等|教育法" is 高等教育法 (not in the
    corpus), so the alias 教育法 must not match there; "存在|行政诉讼法" and "根据|行政诉讼法" are fine."""
    if not prefix or not re.match(r"[\u4e00-\u9fff]", prefix[-1]) or prefix[-1] in _LEAD_CHARS:
        return True
    return bool(re.search(rf"(?:{_LEAD_WORDS}|{_ARTICLE_REF})$", prefix))


def _bracket_spans(text: str) -> list[tuple[int, int]]:
    """Top-level 《...》 spans (end exclusive). Nested 《》/〈〉 stay inside the outer title;
    an unclosed 《 is dropped at the end of its line instead of swallowing the rest of the text."""
    spans: list[tuple[int, int]] = []
    depth = start = 0
    for i, ch in enumerate(text):
        if ch == "\n":
            depth = 0
        elif ch == "《":
            start = i if depth == 0 else start
            depth += 1
        elif ch == "》" and depth:
            depth -= 1
            if depth == 0:
                spans.append((start, i + 1))
    return spans


def _articles(chain: str) -> tuple[tuple[str, ...], int | None, int | None]:
    """Labels (lists and ranges expanded), first 款 and first 项 of one matched chain."""
    labels: list[str] = []
    numbers: set[int] = set()
    paragraph = item = None
    prev: tuple[int, str] | None = None
    pending_range = False
    for tok in _TOKEN.finditer(chain):
        if tok["rng"]:
            pending_range = True
        elif tok["sub"]:
            value = cn_to_int(tok["sub"])
            if tok["kind"] == "款" and paragraph is None:
                paragraph = value
            elif tok["kind"] == "项" and item is None:
                item = value
        else:
            parts = _NUM_OR_RANGE.findall(tok["nums"])
            for j, part in enumerate(parts):
                if re.fullmatch(_RANGE, part):
                    pending_range = True
                    continue
                n, suf = cn_to_int(part), (tok["suf"] or "") if j == len(parts) - 1 else ""
                if pending_range and prev and not prev[1] and not suf and prev[0] < n <= prev[0] + _MAX_RANGE:
                    labels.extend(article_label(k) for k in range(prev[0] + 1, n))
                    numbers.update(range(prev[0] + 1, n))
                labels.append(article_label(n, suf))
                numbers.add(n)
                prev, pending_range = (n, suf), False
    if len(numbers) != 1:  # 款/项 of one article among several would be misattributed
        paragraph = item = None
    return tuple(dict.fromkeys(labels)), paragraph, item


def parse_citations(text: str, known_titles: Iterable[str] = ()) -> list[Citation]:
    """All citations in `text`, in order of appearance.

    A citation is a 《title》 (with or without following articles), or a chain of 第N条 with an
    optional unbracketed title right before it. With `known_titles`, the longest alias of a known
    title that ends right before 第 wins; otherwise a heuristic picks the law name (see _guess_title).
    """
    aliases = sorted({a for t in known_titles for a in title_aliases(t)}, key=len, reverse=True)
    spans = _bracket_spans(text)
    by_end = {end: start for start, end in spans}
    found: dict[int, Citation] = {
        s: Citation(text[s:e], s, e, text[s + 1 : e - 1].strip(), True, (), None, None)
        for s, e in spans
        if text[s + 1 : e - 1].strip()
    }
    for m in _CHAIN.finditer(text):
        if any(s < m.start() < e for s, e in spans):
            continue  # "第…条" inside a 《》 title is part of the title
        try:
            articles, paragraph, item = _articles(m.group())
        except ValueError:
            continue  # malformed numeral such as 第十二三条: not a citation we can resolve
        pos = m.start()
        while pos > 0 and text[pos - 1] in " \t\u3000":  # spaces only: never look across a line break
            pos -= 1
        before = text[max(0, pos - 80) : pos]  # a bounded window keeps parsing linear in len(text)
        start, title, bracketed = m.start(), None, False
        link = pos  # 《title》第N条 is one citation, also with a version note: 《…》（2021年修正）第N条
        if pos not in by_end and (note := re.search(r"[（(][^（）()]{1,20}[)）]$", before)):
            link = pos - len(note.group())
        if link in by_end and by_end[link] in found:  # found holds the non-empty 《》 only
            start, bracketed = by_end[link], True
            title = text[start + 1 : link - 1].strip()
            found.pop(start, None)
        elif alias := next(
            (a for a in aliases if before.endswith(a) and _name_may_start_after(before[: -len(a)])), None
        ):
            title = alias
        else:
            title = _guess_title(before)
        if title and not bracketed:
            start = pos - len(title)
        found[start] = Citation(text[start : m.end()], start, m.end(), title, bracketed, articles, paragraph, item)
    return [found[k] for k in sorted(found)]
