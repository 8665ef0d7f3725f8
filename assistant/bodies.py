"""Which body a report belongs to, and which bodies a question names: read from the documents, no table of cities.

A work report's title names its body and year (柳州市教育局2022年法治政府建设情况报告, 中共重庆市委教育工作委员会
重庆市教育委员会2022年度…, 寧夏自治區2016年…). The places in that body name (柳州市, 重庆市, 宁夏自治区) and their
stems (柳州, 重庆, 宁夏) are the keys a question uses to name it. A question that names a known body is answered
from that body's reports; one that names a place or a body no report belongs to (杭州市教育局) must not be answered
from another body's report — "answering from another body's report is the same failure as citing the wrong law".

Only the documents' own titles and the structure of Chinese body names are used: administrative suffixes
(省/市/区/县/州/自治区…) and organisation words (教育局, 教委, 委员会…). Which words are places at all, for bodies
the corpus does not hold, comes from jieba's own dictionary (its ``ns`` tag), not from a list written here.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from functools import cache

import jieba

from assistant import jieba_setup  # noqa: F401  (jieba's dictionary, set up before jieba.lcut below)
from assistant.cachedir import cache_dir
from assistant.normalize import to_simplified

#: Administrative-division suffixes of Chinese place names (longest first).
PLACE_SUFFIX = ("特别行政区", "自治区", "自治州", "自治县", "省", "市", "区", "县", "州", "旗", "盟")
_PLACE = re.compile(rf"[\u4e00-\u9fff]{{1,7}}?(?:{'|'.join(PLACE_SUFFIX)})")
#: Organisation words of body names, longest first; removed before places are read from a body name, and after
#: a place in a question they make it a body (杭州市教育局), not only a place (杭州的学校).
ORG_WORDS = ("教育和体育局", "教育体育局", "教育工作委员会", "教育委员会", "教育厅", "教育局", "教体局", "教委",
             "司法局", "人民政府", "政府", "党组", "委员会", "市委", "区委", "县委", "局", "厅", "委")
_ORG = re.compile("|".join(ORG_WORDS))
_YEAR = re.compile(r"((?:19|20)\d\d|[〇零一二三四五六七八九]{4})\s*年")
_CN_DIGITS = {c: str(i) for i, c in enumerate("〇一二三四五六七八九")} | {"零": "0"}
#: Separators some file names put between a place and a body (九龙坡区_区教委…).
_SEPARATORS = re.compile(r"[\s_·—\-]+")
#: A question that asks across bodies (各地是怎么做的, 哪些教育局…, 各区县): Chinese words for "each / which places",
#: general grammar rather than words of the questions seen.
_BODY_KINDS = r"(?:地方|地区|区县|县区|城市|单位|部门|教育局|教委|教育部门)"
ACROSS = re.compile(rf"各地|各级|各个?{_BODY_KINDS}|(?:哪些|哪几个|多少个?){_BODY_KINDS}|(?:别的|其他){_BODY_KINDS}")
#: Place words that name the whole country: a question about 中国 or 全国 names no body whose report it wants.
NATIONWIDE = frozenset({"中国", "中华", "中华人民共和国", "全国", "我国", "国家", "中央"})


@dataclass(frozen=True)
class Profile:
    """A report's body as its title gives it."""

    doc: str
    body: str  # 柳州市教育局 (simplified)
    places: tuple[str, ...]  # every place of the body name, top level first (成都市, 成华区)
    year: int | None
    #: The years the report speaks of: its own, and those its text names (a 2022 report's 2023年工作计划).
    years: frozenset[int] = frozenset()

    @property
    def keys(self) -> tuple[str, ...]:
        """How a question names this body: its most specific place and that place's stem (成华区, 成华). The
        places above it (成都市) name another body (成都市教育局), not this one."""
        place = self.places[-1] if self.places else ""
        stem = _stem(place)
        return tuple(k for k in dict.fromkeys((place, stem)) if len(k) >= 2)


def _stem(place: str) -> str:
    for suffix in PLACE_SUFFIX:
        if place.endswith(suffix) and len(place) > len(suffix):
            return place[: -len(suffix)]
    return place


def _year(digits: str) -> int:
    return int("".join(_CN_DIGITS.get(c, c) for c in digits))


def title_body(title: str) -> str | None:
    """The body a title names, as written: the text before its year or before 关于 (柳州市教育局 from
    柳州市教育局2022年…报告, 郑州市教育局 from 郑州市教育局关于2022年…). None when the title starts with either or
    has neither (通知, 2023年工作要点): nothing is guessed."""
    year = _YEAR.search(title)
    cut = year.start() if year else -1
    about = title.find("关于")
    if about >= 0 and (cut < 0 or about < cut):
        cut = about
    if cut <= 0:
        return None
    body = _SEPARATORS.sub(" ", title[:cut]).strip()
    return body if len(body) >= 2 else None


def profile(title: str, text: str = "") -> Profile:
    """The body, places and year of a report from its title (traditional characters read as simplified), and
    the years its ``text`` names."""
    m = _YEAR.search(to_simplified(title))
    head = re.sub(r"\s", "", to_simplified(title_body(title) or "")).removeprefix("中共")
    places: list[str] = []
    for part in _ORG.sub("|", head).split("|"):
        pos = 0
        while m2 := _PLACE.search(part, pos):
            end = m2.end()
            # 广州 + 市: the lazy match stopped at a suffix inside the name (九龙坡区 + 区教委 is no such case)
            nxt = next((x for x in PLACE_SUFFIX if part.startswith(x, end)), None)
            if nxt and not m2.group().endswith(nxt):
                end += len(nxt)
            place = part[m2.start():end]
            if len(_stem(place)) >= 2 and place not in places:
                places.append(place)
            pos = end
    year = _year(m.group(1)) if m else None
    years = {_year(y) for y in _YEAR.findall(to_simplified(text))} | ({year} if year else set())
    return Profile(title, head, tuple(places), year, frozenset(years))


@cache
def _place_words() -> frozenset[str]:
    """jieba's place names (``ns``), read once from its dictionary and kept in the cache folder."""
    kept = cache_dir() / f"jieba-{jieba.__version__}-ns.txt"
    try:
        return frozenset(kept.read_text(encoding="utf-8").split())
    except OSError:
        pass
    words = []
    with open(os.path.join(os.path.dirname(jieba.__file__), "dict.txt"), encoding="utf-8") as f:
        for line in f:
            parts = line.split()
            if len(parts) == 3 and parts[2] == "ns":
                words.append(parts[0])
    try:
        kept.write_text("\n".join(words), encoding="utf-8")
    except OSError:
        pass
    return frozenset(words)


@dataclass
class Scope:
    """What a question names: the reports of the bodies it names, and the names that match no report."""

    docs: list[str] = field(default_factory=list)  # reports of the named bodies (and year, when given)
    bodies: list[str] = field(default_factory=list)  # the known body names matched
    unknown: list[str] = field(default_factory=list)  # places / bodies named that no report belongs to
    organisation: bool = False  # a body (教育局, 教委…) is named, not only a place: the question is about it
    year: int | None = None
    year_missing: bool = False  # the body is known but has no report of the year named
    #: Reports of another year that speak of the year named (a 2022 report's 2023年工作计划): they answer only with
    #: a sentence that names that year — what 柳州 did in 2023 is not in its 2022 report.
    mentioned: list[str] = field(default_factory=list)
    #: No body is named and the question asks across bodies (各地是怎么做的): every report that answers, in turn.
    across: bool = False

    @property
    def named(self) -> bool:
        return bool(self.docs or self.unknown or self.year_missing)


class Bodies:
    """The corpus's report bodies; ``scope(question)`` says which of them a question names."""

    def __init__(self, reports: dict[str, str]) -> None:
        """``reports``: title → text of every report in the corpus."""
        self.profiles = [profile(t, text) for t, text in reports.items()]
        keys: dict[str, list[Profile]] = {}
        for p in self.profiles:
            for k in p.keys:
                keys.setdefault(k, []).append(p)
        self.keys = dict(sorted(keys.items(), key=lambda kv: -len(kv[0])))  # longest key first
        self.docs = [p.doc for p in self.profiles]

    def scope(self, question: str) -> Scope:
        q = question
        scope = Scope()
        m = _YEAR.search(q)
        scope.year = _year(m.group(1)) if m else None
        matched: list[Profile] = []
        for key, profiles in self.keys.items():
            if key in q:
                matched += [p for p in profiles if p not in matched]
                for name in (key, *(x for p in profiles for x in p.places)):  # 成都市成华区: 成都市 is no other body
                    q = q.replace(name, "＃" * len(name))
        if matched:
            scope.bodies = list(dict.fromkeys(p.body for p in matched))
            scope.organisation = bool(re.search(rf"＃(?:{_ORG.pattern})", q))
            dated = matched
            if scope.year is not None:  # that year's report, else one that speaks of that year
                dated = ([p for p in matched if p.year == scope.year]
                         or [p for p in matched if p.year is None or scope.year in p.years])
                scope.mentioned = [p.doc for p in dated if p.year is not None and p.year != scope.year]
            scope.year_missing = not dated
            scope.docs = [p.doc for p in dated]
        scope.across = not matched and bool(ACROSS.search(q))
        scope.unknown = self._unknown_places(q)
        if scope.unknown and not matched:
            scope.organisation = any(re.match(_ORG.pattern, q[q.index(u) + len(u):]) for u in scope.unknown)
        return scope

    @staticmethod
    def _unknown_places(q: str) -> list[str]:
        """Places (jieba's ``ns`` words, or such a word with an administrative suffix) the question names."""
        places = _place_words()
        out = []
        for w in jieba.lcut(q):
            stem = _stem(w)
            if w in NATIONWIDE or stem in NATIONWIDE:
                continue
            if w in places or (stem != w and stem in places):
                out.append(w)
        return out


def unknown_body_message(scope: Scope, bodies: Bodies) -> str:
    """Why a question about a body the corpus holds no report of is not answered, and whose reports are here."""
    have = "、".join(dict.fromkeys(p.body for p in bodies.profiles)) or "（无）"
    if scope.year_missing:
        years = "、".join(str(p.year) for p in bodies.profiles if p.body in scope.bodies and p.year)
        return (f"现有文件中没有{'、'.join(scope.bodies)}{scope.year}年的报告（已收录的年份：{years or '不详'}），"
                f"无法回答这个问题。")
    return (f"现有文件中没有{'、'.join(scope.unknown)}的报告，无法回答这个问题（不会用其他机关的报告代替）。"
            f"已收录报告的机关：{have}。")
