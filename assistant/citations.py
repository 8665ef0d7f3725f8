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
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache


__all__ = [
    "DocumentReference",
    "article_label",
    "article_number",
    "cn_to_int",
    "int_to_cn",
    "is_self_reference",
    "mentions",
    "parse_citations",
    "resolve_title",
    "title_aliases",
    "version_of",
]


@dataclass(frozen=True)
class DocumentReference:
    """One reference to a document written in a text (《…》第N条, 本法第N条, a bare 第N条): what :func:`parse_citations`
    finds. Not :class:`assistant.schema.Citation`, which is a passage an answer quotes."""

    raw: str  # the matched text, as written
    start: int  # offsets of raw in the input text
    end: int
    title: str | None  # as written, without 《》; None for a bare 第N条; "本法" etc. kept as written
    bracketed: bool  # the title was written inside 《》
    articles: tuple[str, ...]  # canonical labels, lists and ranges expanded; empty for a title alone
    paragraph: int | None  # 款; the first one written ("第一款、第二款" -> 1); None if several articles
    item: int | None  # 项; same rule as paragraph
    #: The version the citation names, as written: 2021年修正 in 《…》（2021年修正）第N条, 《…（2021年修正）》, 教育法2021年
    #: 修正版第N条. A draft that cites an older version than the corpus holds may mean a different article text.
    version: str | None = None


# --- numerals -------------------------------------------------------------------------------

_CN_DIGITS = "零〇一二两三四五六七八九十百千万"
_NUM = rf"[{_CN_DIGITS}0-9０-９]+"
_WS = r"[ \t\u3000]*"  # spaces, never a line break: a heading on the next line is no continuation


def _cn2an():
    """cn2an, imported on first use: it takes a tenth of a second, most questions name no article number."""
    import cn2an

    return cn2an


def cn_to_int(s: str) -> int:
    """"三十九" -> 39, "1200" -> 1200. Raises ValueError on anything that is not a plain numeral."""
    s = unicodedata.normalize("NFKC", s).strip()  # NFKC turns full-width digits into ASCII
    if re.fullmatch(r"[0-9]+", s):
        return int(s)
    if not re.fullmatch(rf"[{_CN_DIGITS}]+", s):
        raise ValueError(f"not a numeral: {s!r}")
    try:  # strict: "三三" or "十二三" are typos, not article numbers
        return int(_cn2an().cn2an(s.replace("两", "二").replace("〇", "零"), "strict"))
    except Exception as exc:  # cn2an raises its own error types for malformed numerals
        raise ValueError(f"not a numeral: {s!r}") from exc


def int_to_cn(n: int) -> str:
    """39 -> "三十九", 10 -> "十", 1201 -> "一千二百零一": the corpus's own spelling (checked in tests)."""
    if n < 0:
        raise ValueError("negative article number")
    return "零" if n == 0 else _cn2an().an2cn(n)


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

_SUFFIXES = ("法典", "法", "条例", "规定", "办法", "细则", "决定", "解释", "纲要", "大纲", "意见", "规则", "章程", "修正案")
_SUFFIX_RE = "|".join(_SUFFIXES)
#: Suffixes that name a document even in running text (mentions); 规定/办法/意见 there are mostly plain words.
_NAME_SUFFIXES = ("法", "法典", "条例", "修正案", "解释", "细则")
#: Classification words that legal databases write in front of a title (社会法 未成年人保护法, 【法律】…).
#: Never part of the name; longest first, so 宪法相关法 is not read as 宪法 + 相关法.
_CLASSES = "|".join(sorted(
    "宪法 宪法相关法 民法商法 民法典 行政法 经济法 社会法 刑法 诉讼与非诉讼程序法 法律 行政法规 司法解释 部门规章"
    " 地方性法规 法规 现行有效".split(), key=len, reverse=True))
_CN_ORDINAL = "第[一二三四五六七八九十]+次"
#: A version note written after a title: 2021年修正版, 2021, 修订版, 第二次修正后, 新版. Never part of the name,
#: and never 修正案 (a document of its own). Alternatives start differently, so matching cannot backtrack badly.
_VERSION_NOTE = (rf"(?:[0-9０-９]{{4}}年?(?:{_CN_ORDINAL})?(?:修正|修订|修改)?(?:版|本)?"
                 rf"|(?:{_CN_ORDINAL})?(?:修正|修订|修改)(?:版|本|后)|(?:最新|新|现行|旧)版)")
#: What may separate a title from its 第N条: a version note, （2021年修正）, 【…】, 的/里/中 (未保法的第三十九条), spaces.
_GAP = re.compile(rf"(?:{_VERSION_NOTE}|[（(][^（）()\n]{{1,20}}[)）]|【[^【】\n]{{1,20}}】|\[[^\[\]\n]{{1,20}}\]"
                  rf"|[ \t\u3000]|的|里面?|当?中)*$")
#: Words that may end right before a title: classification and version words (社会法|教育法, 最新|教育法, 修订版|…).
_BEFORE_NAME = re.compile(rf"(?:{_CLASSES}|版|新|现行|有效|修正|修订|修改|后)$")
#: The same noise at either end of a name given to resolve_title (after _norm: half-width, 【】 -> []).
_HEAD_NOISE = re.compile(rf"^(?:\[[^\[\]]*\]|(?:{_CLASSES}|(?:最新|新|现行|旧)版?|(?:[0-9]{{4}}年?)?(?:{_CN_ORDINAL})?"
                         rf"(?:修正|修订|修改)(?:版|本|后)?|[0-9]{{4}}年?版?)的?)[-—–_:|/·]*")
_TAIL_NOISE = re.compile(rf"(?:\([^()]*\)|\[[^\[\]]*\]|{_VERSION_NOTE})$")
#: A version note with a year or an amendment word in it (2021年修正, 2021修订版, 第二次修正后): what version_of keeps.
_VERSION_IN = re.compile(rf"[0-9０-９]{{4}}年?(?:{_CN_ORDINAL})?(?:修正|修订|修改)?(?:版|本|后|文本)?"
                         rf"|(?:{_CN_ORDINAL})?(?:修正|修订|修改)(?:版|本|后)?")
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


@lru_cache(maxsize=65536)
def title_aliases(title: str) -> frozenset[str]:
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
    return frozenset(a for a in aliases if len(a) >= 2)


@dataclass(frozen=True)
class _TitleIndex:
    """Lookups over one set of known titles, built once per set (a corpus of thousands of documents would
    otherwise normalise every title and alias for every name resolved)."""

    norms: dict[str, str]  # title → _norm(title), in the titles' order
    exact: dict[str, list[str]]  # _norm(title) → titles
    alias: dict[str, list[str]]  # _norm(alias) → titles
    longest_first: list[str]  # every alias, longest first (what parse_citations matches at an article's left)


@lru_cache(maxsize=8)
def _title_index(titles: tuple[str, ...]) -> _TitleIndex:
    norms, exact, alias = {}, defaultdict(list), defaultdict(list)
    for t in titles:
        norms[t] = _norm(t)
        exact[norms[t]].append(t)
        for a in dict.fromkeys(_norm(a) for a in title_aliases(t)):
            alias[a].append(t)
    longest = sorted({a for t in titles for a in title_aliases(t)}, key=len, reverse=True)
    return _TitleIndex(norms, dict(exact), dict(alias), longest)


def _index(known_titles: Iterable[str]) -> _TitleIndex:
    return _title_index(tuple(dict.fromkeys(known_titles)))


def resolve_title(name: str, known_titles: Iterable[str]) -> list[str]:
    """Full titles `name` refers to: exact match first, then alias match; [] if none, >1 = ambiguous.

    When nothing matches as written, a version note (（2017年修正）, 2021年修正版, 最新, 新) or a classification
    word in front (社会法, 【法律】, 行政法规 -) is dropped, one at a time, and the rest tried again: users and legal
    databases add them, but they never name a different document. Only such words are dropped, so 宪法修正案,
    高等教育法 or 行政复议法实施条例 stay names of documents that are not in the corpus.
    """
    return _resolve(_norm(name), _index(known_titles), abbreviations=True)


def _resolve(key: str, titles: _TitleIndex, abbreviations: bool) -> list[str]:
    """resolve_title on a normalised name. What is left after dropping a version note or a classification word
    must match a title or an alias when the dropped word was glued in front: 行政法规制定程序条例 minus 行政法规 is no
    abbreviation of 规章制定程序条例 (【法律】出庭应诉规定 still is one)."""
    exact = titles.exact.get(key, [])
    if exact or not key:
        return list(exact)
    hits = titles.alias.get(key, [])
    if hits:
        return list(hits)
    tail, head = _TAIL_NOISE.search(key), _HEAD_NOISE.match(key)
    separated = bool(head) and head.group()[-1] in "-—–_:|/·]"  # 【法律】… / 社会法 - …: clearly no part of the name
    for rest, abbreviated in ((key[: tail.start()] if tail else "", abbreviations),
                              (key[head.end() :] if head else "", abbreviations and separated)):
        if rest and rest != key and (hits := _resolve(rest, titles, abbreviated)):
            return hits
    return _abbreviation_of(key, titles) if abbreviations else []


def _abbreviation_of(key: str, titles: _TitleIndex) -> list[str]:
    """Titles that ``key`` abbreviates by dropping characters (出庭应诉规定 → 最高人民法院关于…出庭应诉若干问题的规定).

    Only for names of four or more characters with the same last character (法/例/定…), so 刑法 never turns
    into 行政处罚法; an abbreviation that fits two titles (备案条例) comes back ambiguous, never guessed.
    """
    if len(key) < 4:
        return []

    def subsequence(small: str, big: str) -> bool:
        it = iter(big)
        return all(ch in it for ch in small)

    return [t for t, n in titles.norms.items() if n[-1] == key[-1] and subsequence(key, n)]


# --- parsing ----------------------------------------------------------------------------------

_RANGE = r"至|到|[—–~～-]"
_SEP = rf"{_WS}(?:{_RANGE}|、|以及|和|及|与|或者|或){_WS}"
_SUF = r"之[一二三四五六七八九十]+"
_SUB = rf"(?:{_SEP}|{_WS})第{_WS}[（(]?{_WS}{_NUM}{_WS}[)）]?{_WS}[款项]"
_ART = rf"{_NUM}(?:{_SEP}{_NUM})*{_WS}条(?:{_SUF})?(?:{_SUB})*"
#: 第N条, then more articles (第 optional after a separator: "第三条至五条"), each with optional 款/项. The first 第
#: may be missing before Arabic digits (民法典1254条); such a match counts only right after a known title.
_CHAIN = re.compile(rf"(?:第{_WS}|(?<![第0-9０-９.．])(?=[0-9０-９]+{_WS}条)){_ART}(?:{_SEP}第?{_WS}{_ART})*")
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
    "|看看|说说|讲讲|介绍|了解|知道|那么|以及|或者|还有|对于|怎么|如何|什么|我国|现行|最新|告诉我|给出|列出"
    "|修正版|修订版|修正后|修订后|年修正|年修订|年修改"  # 2018年修正版教育法: the version note is no part of the name
)
#: Words ending like a title that are not one ("依法第三条", "按照有关规定第五条").
_NOT_TITLES = {"依法", "合法", "违法", "执法", "司法", "守法", "普法", "立法", "方法", "做法", "说法", "看法", "用法",
               "有关规定", "相关规定", "法律规定", "上述规定", "下列规定", "以下规定", *_SUFFIXES}
_LEAD_CHARS = set("即和与及或的在查问请那并对把将是呢吗了也还就看按依据从由给让")
#: 本法 / 该条例 / 这部法律 / 此规定: the document the text (or the conversation) is about, not a name.
_SELF_WORDS = r"(?:本|该|此|这部|这个|这一|那部)"
_SELF_REF = re.compile(rf"(?<!基){_SELF_WORDS}(?:法律|法规|{_SUFFIX_RE})$")  # 基本法 is a title, not "本法"
_ARTICLE_REF = rf"第[{_CN_DIGITS}0-9]+[条款项章节编]"


def version_of(text: str) -> str | None:
    """The version note in ``text`` (what stands between a title and its 第N条, or a title's bracketed tail):
    "（2021年修正）" → "2021年修正", "2018修订版" → "2018修订版"; None when it names no year and no amendment."""
    m = _VERSION_IN.search(text)
    return m.group() if m else None


def _guess_title(before: str) -> str | None:
    """Heuristic law name ending right at the end of `before` (no known titles matched).

    Takes the run of Han characters ending in a title suffix, cuts it after the last lead word
    ("根据", "请问" ...) or article reference, splits lists ("民法典和刑法" -> "刑法") and drops
    single leading particles. Returns None when no plausible name remains (e.g. a bare "规定").
    A name may quote another title when that quote is followed by 的/实施/若干 (最高人民法院关于适用《中华人民共和国
    行政诉讼法》的解释): that is a document of its own, not the quoted law."""
    run = re.search(r"(?:[\u4e00-\u9fff]*《[^《》\n]{1,60}》(?=的|实施|若干))?[\u4e00-\u9fff]{1,60}$", before)
    if not run or not run.group().endswith(_SUFFIXES):
        return None
    s = run.group()
    if m := _SELF_REF.search(s):
        return m.group()
    head = s[: s.rfind("关于")] if "关于" in s else s  # lead words after 关于 (关于适用…的解释) belong to the title
    s = re.split(rf"{_ARTICLE_REF}|{_LEAD_WORDS}", head)[-1] + s[len(head) :]
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
    return bool(re.search(rf"(?:{_LEAD_WORDS}|{_ARTICLE_REF})$", prefix) or _BEFORE_NAME.search(prefix))


def _alias_at_end(before: str, aliases: list[str]) -> str | None:
    """The longest known alias that ends `before` where a name may start (see _name_may_start_after)."""
    return next((a for a in aliases if before.endswith(a) and _name_may_start_after(before[: -len(a)])), None)


def _aliases(known_titles: Iterable[str]) -> list[str]:
    return _index(known_titles).longest_first


def is_self_reference(name: str) -> bool:
    """本法 / 该条例 / 本规定 …: the document the text belongs to, not a name."""
    return bool(re.fullmatch(rf"{_SELF_WORDS}(?:法律|法规|{_SUFFIX_RE})", name))


def mentions(text: str, known_titles: Iterable[str] = ()) -> list[tuple[int, int, str]]:
    """Document names written in `text`, in order, as (start, end, name): 《…》 titles, known aliases where a name
    may start, and heuristic names ending in 法/条例/修正案… (see _guess_title).

    A name inside a longer one is dropped, so 宪法修正案 mentions 宪法修正案 and not 宪法, and 《…》 mentions its
    whole title. Lets a bare 第N条 belong to the document the question named before it ("在教育法里，第五条…").
    """
    aliases = _aliases(known_titles)
    found = {(s, e, text[s + 1 : e - 1].strip()) for s, e in _bracket_spans(text) if text[s + 1 : e - 1].strip()}
    for end in range(2, len(text) + 1):
        before = text[max(0, end - 80) : end]
        name = _alias_at_end(before, aliases) or (_guess_title(before) if before.endswith(_NAME_SUFFIXES) else None)
        if name and not is_self_reference(name):
            found.add((end - len(name), end, name))
    inside = {m for m in found for o in found if o != m and o[0] <= m[0] and m[1] <= o[1]}
    return sorted(found - inside)


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


def parse_citations(text: str, known_titles: Iterable[str] = ()) -> list[DocumentReference]:
    """All citations in `text`, in order of appearance.

    A citation is a 《title》 (with or without following articles), or a chain of 第N条 with an
    optional unbracketed title right before it. With `known_titles`, the longest alias of a known
    title that ends right before 第 wins; otherwise a heuristic picks the law name (see _guess_title).
    """
    aliases = _aliases(known_titles)
    spans = _bracket_spans(text)
    by_end = {end: start for start, end in spans}
    found: dict[int, DocumentReference] = {
        s: DocumentReference(text[s:e], s, e, text[s + 1 : e - 1].strip(), True, (), None, None,
                    _bracketed_version(text[s + 1 : e - 1]))
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
        # 《title》第N条 is one citation, also with a version note or 的 between: 《…》（2021年修正）第N条, 教育法
        # 2021年修正版第N条, 未成年人保护法里第N条; the title is the name alone, raw runs from it to the articles.
        gap = len(_GAP.search(before).group()) if pos not in by_end else 0
        version = version_of(before[len(before) - gap :]) if gap else None
        link, before = pos - gap, before[: len(before) - gap]
        if link in by_end and by_end[link] in found:  # found holds the non-empty 《》 only
            start, bracketed = by_end[link], True
            title = text[start + 1 : link - 1].strip()
            version = version or found.pop(start).version
        elif known := _alias_at_end(before, aliases):
            title = known
        elif not m.group().startswith("第"):
            continue  # "3条" after anything but a known title is a count, not a citation
        else:
            title = _guess_title(before)
        if title and not bracketed:
            start = link - len(title)
            for s0, e0 in spans:  # a title quoted inside this one (…关于适用《行政诉讼法》的解释) is no citation of its own
                if start <= s0 and e0 <= link:
                    found.pop(s0, None)
        found[start] = DocumentReference(text[start : m.end()], start, m.end(), title, bracketed, articles, paragraph, item,
                                version)
    return [found[k] for k in sorted(found)]


def _bracketed_version(title: str) -> str | None:
    """The version note at the end of a bracketed title: 中华人民共和国教育法（2021年修正） → 2021年修正."""
    tail = re.search(r"[（(]([^（）()]{1,20})[)）]\s*$", title)
    return version_of(tail.group(1)) if tail else None
