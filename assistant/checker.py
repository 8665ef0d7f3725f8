"""Citation checker: verify 《…》第N条 references against the corpus, and map which document cites which.

Every citation comes from :func:`assistant.citations.parse_citations` (the one parser) and is looked up through
:mod:`assistant.corpus_view` (the retriever's ``resolve``, as the chat does), so the checker, the chat and the answer
check agree on what a citation is. Functions take an engine or a :class:`~assistant.corpus_view.CorpusView`.
Status per citation:

- ``ok``: the document is in the corpus and every cited article exists (or only the title is cited);
- ``no_such_article``: the document is there, at least one cited article is not;
- ``document_not_in_corpus``: no indexed document has that name (never a guess: 刑法 is not 行政处罚法);
- ``ambiguous``: the name fits several documents (备案条例 → 法规规章备案条例 / 法规规章备案审查条例).

When the citing sentence also says what the article says, ``support`` compares the two (dense cosine through
the index's embedding model plus jieba-token overlap), ``rival`` does the same for the neighbouring articles and
the law's closest articles, and ``mismatch`` flags a likely misquote: weak support, a rival article that backs
the sentence better, or a quantity (a deadline, an age) the article does not state.

Each citation then gets ONE verdict (``verdict`` / ``verdict_text``), the thing a reader acts on: 正确, 条文存在，内容可能
不符（第四十条更相符）, 条文不存在（该法共 132 条）, 语料中无此文件 or 名称不明确 — never 正确 beside a warning. When the checked
text is a dated draft, ``version_note`` says whether a cited law was amended, replaced or not yet in force at that date.
"""

from __future__ import annotations

import bisect
import re
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

import numpy as np

from assistant import citations as cit
from assistant import messages as msg
from assistant.corpus_view import corpus_view
from assistant.ingest.ocr import ocr_label
from assistant.schema import LEGAL_TYPES, Chunk
from assistant.textutil import paragraph_spans, sentence_spans, tokens  # paragraph_spans: the chat's reading of 款
from assistant.versions import dated_lines

STATUSES = ("ok", "no_such_article", "document_not_in_corpus", "ambiguous")
#: The one verdict per citation: ``ok`` splits into ``ok`` and ``mismatch`` (the article exists, the sentence is
#: probably not what it says).
VERDICTS = ("ok", "mismatch", "no_such_article", "document_not_in_corpus", "ambiguous")

#: Repealed document → (the document that replaced it, the date it took effect). The corpus keeps the old text
#: on purpose (it was in force in 2022, the seed report's year) and its info lines do not say it was repealed
#: (法规规章备案条例 still reads "2002年1月1日 施行"), so the checker needs this fact from outside: SOURCES.md and
#: 法规规章备案审查条例第二十六条 ("2001年12月14日国务院发布的《法规规章备案条例》同时废止"). A note is added only when
#: the replacement is in the corpus too. Add a row when the corpus gains a document that replaces another.
REPLACED_BY: dict[str, tuple[str, str]] = {"法规规章备案条例": ("法规规章备案审查条例", "2024年11月1日")}
#: History lines the corpus files lack (data/corpus/SOURCES.md): 规章制定程序条例's block lists only the 2001
#: promulgation although its body is the 2017 revision; 法规规章备案审查条例's block is empty (dates from the source
#: file name and its 第二十六条). Used for version notes only; ``doc_info`` stays as the corpus has it.
HISTORY_SUPPLEMENT: dict[str, list[str]] = {
    "规章制定程序条例": ["2017年12月22日 中华人民共和国国务院令第695号修订", "2018年5月1日 施行"],
    "法规规章备案审查条例": ["2024年8月30日 公布", "2024年11月1日 施行"],
}

#: ``support`` below this → ``mismatch``. On data/eval/citations_test.txt correct paraphrases score 0.75–1.0 and
#: sentences citing the wrong article 0.12–0.36 (tests/test_checker.py). Loose wording ("学校受伤的责任") can fall
#: below it and a neighbouring article on the same topic can pass it: a flag for review, not a verdict.
MISMATCH_THRESHOLD = 0.45
#: ``rival`` more than this above ``support`` → ``mismatch``: another article of the same law (a neighbour, or one of
#: the law's articles closest in words) says what the sentence claims better than the cited one. Calibrated on
#: data/eval/citations_labelled.jsonl with bench/citation_support.py.
RIVAL_MARGIN = 0.05
RIVAL_NEIGHBOURS = 2  # articles on either side of the cited one that are compared
RIVAL_CLOSEST = 3  # and the law's articles that share most words with the claim
DENSE_WEIGHT = 0.5  # support = 0.5 · best dense cosine + 0.5 · IDF-weighted share of the claim's words in the article
#: Words that only announce a citation ("…第三条规定，" / "…明确要求"); they say nothing about its content.
_CITING_WORDS = frozenset({"规定", "明确", "要求", "指出", "提出", "作了", "作出", "载明", "所称", "所述", "上述", "相应",
                           "以下", "如下", "本法"})
_MIN_CONTENT_WORDS = 3  # fewer content words left after removing the citation → no paraphrase, no support score
_SELF = re.compile(r"[本该][\u4e00-\u9fff]{1,2}")  # 本法 / 该法 / 本条例 / 本规定 / 本法典 as the parser keeps them
OWN_DOCUMENT = msg.OWN_DOCUMENT  # what a draft's 本办法 / 本规定 resolves to when the draft has no title


@dataclass
class ArticleText:
    article: str
    text: str  # verbatim chunk text (a long article spans several chunks: one entry each)
    section: str


@dataclass
class CheckedCitation:
    raw: str
    start: int
    end: int
    title: str | None  # as written; for a bare 第N条 / 本法 the title it was attributed to
    resolved_title: str | None
    articles: list[str]
    status: str
    sentence: str
    article_texts: list[ArticleText] = field(default_factory=list)
    doc_info: str = ""
    note: str = ""
    support: float | None = None
    mismatch: bool | None = None  # None when no support was computed
    rival: float | None = None  # best support of another article of the same law
    rival_article: str | None = None
    unstated: list[str] = field(default_factory=list)  # quantities the sentence gives and the article does not
    verdict: str = ""  # one of VERDICTS: what the citation comes to
    verdict_text: str = ""  # the verdict in words, with its reason: 条文不存在（该法共 132 条）
    missing: list[str] = field(default_factory=list)  # cited articles (or 款/项: 第三十九条第三款) the document lacks
    article_count: int | None = None  # articles of the resolved document
    candidates: list[str] = field(default_factory=list)  # the documents an ambiguous name fits
    version: str | None = None  # the version the citation names (2021年修正), as written
    version_note: str = ""  # the cited version or the draft's date against the document's history
    rival_text: str = ""  # the text of rival_article, when it backs the sentence better
    paragraph: int = 0  # 1-based: the non-empty paragraph (line) of the checked text the citation is in


@dataclass
class CheckReport:
    citations: list[CheckedCitation]
    draft: dict[str, Any] = field(default_factory=dict)  # title / date / file of a checked draft (assistant.review)

    def summary(self) -> dict[str, Any]:
        """Counts by status (``ok`` includes the mismatches, as before) and by the one verdict each citation gets."""
        counts = {s: sum(c.status == s for c in self.citations) for s in STATUSES}
        return {"total": len(self.citations), **counts, "mismatch": sum(c.mismatch is True for c in self.citations),
                "verdicts": {v: sum(c.verdict == v for c in self.citations) for v in VERDICTS}}

    def absent(self) -> list[dict[str, Any]]:
        """Each cited document that is not in the corpus, once, with where it is cited (paragraph numbers)."""
        out: dict[str, dict[str, Any]] = {}
        for c in self.citations:
            if c.status == "document_not_in_corpus":
                title = (c.title or c.raw).strip()
                entry = out.setdefault(title, {"title": title, "count": 0, "paragraphs": []})
                entry["count"] += 1
                if c.paragraph and c.paragraph not in entry["paragraphs"]:
                    entry["paragraphs"].append(c.paragraph)
        return list(out.values())

    def to_json(self) -> dict[str, Any]:
        return {"citations": [asdict(c) for c in self.citations], "summary": self.summary(), "absent": self.absent(),
                "draft": self.draft}


def doc_note(title: str, info: str, titles) -> str:
    notes = [msg.CHECK_NOTE_REPEALED_INFO] if "废止" in info else []
    if (new := REPLACED_BY.get(title)) and new[0] in titles:
        notes.append(msg.CHECK_NOTE_REPLACED.format(date=new[1], new=new[0]))
    return "；".join(notes)


def check_text(engine, text: str, self_title: str | None = None, with_support: bool = True, *,
               own_title: str | None = None, own_articles: dict[str, str] | None = None,
               draft_date: date | None = None, paragraph_starts: list[int] | None = None) -> CheckReport:
    """Check every citation in ``text``.

    ``self_title``: the corpus document the text belongs to (``--doc``: 本法第X条 → it). ``own_articles``: the text's
    own articles (label → text) when it is a draft with 第N条 of its own; its 本办法 / 本规定 第N条 are then checked
    against them (``own_title`` names the draft). ``draft_date``: when the text was written, for version notes.
    ``paragraph_starts``: offsets where the text's paragraphs start (default: its non-empty lines).
    """
    r = corpus_view(engine)
    spans = sentence_spans(text)
    starts = [s for s, _ in spans]
    parsed = cit.parse_citations(text, r.titles)
    if paragraph_starts is None:
        paragraph_starts = [m.start() for m in re.finditer(r"^[^\n]*\S", text, re.M)]

    def sentence_of(pos: int) -> tuple[int, int]:
        i = bisect.bisect_right(starts, pos) - 1
        return spans[i] if i >= 0 and pos < spans[i][1] else (pos, pos)

    in_sentence: dict[tuple[int, int], list[cit.DocumentReference]] = defaultdict(list)
    for c in parsed:
        in_sentence[sentence_of(c.start)].append(c)
    out: list[CheckedCitation] = []
    named: dict[tuple[int, int], str] = {}  # sentence → the last title written in it so far
    for c in parsed:
        sent = sentence_of(c.start)
        name = c.title
        own = False
        if name and not _SELF.fullmatch(name):
            named[sent] = name
        elif name and name.startswith("本") and own_articles and c.articles:
            own = True  # a draft's 本办法第五条: its own article
        elif name and name.startswith("本") and self_title:
            name = self_title
        else:  # bare 第N条, or 该法 / 本法 outside a document: only a title earlier in the sentence names it
            name = named.get(sent)
            if name is None:
                continue
        paragraph = max(1, bisect.bisect_right(paragraph_starts, c.start))
        if own:
            item = _own_citation(c, text[sent[0] : sent[1]], own_title or OWN_DOCUMENT, own_articles)
            item.paragraph = paragraph
            out.append(_with_verdict(item, msg.KIND_DOCUMENT))
            continue
        lookup = r.resolve(c, name, when=draft_date)  # a law in versions: the one in force at the draft's date
        item = CheckedCitation(c.raw, c.start, c.end, name, lookup.title, list(c.articles),
                               lookup.reason or "ok", text[sent[0] : sent[1]], version=c.version, paragraph=paragraph,
                               missing=list(lookup.missing), candidates=list(lookup.candidates))
        if lookup.title:
            title = lookup.title
            # the info lines of the version checked against (a library holds several: assistant/versions.py)
            item.doc_info = lookup.chunks[0].extra.get("doc_info", "") if lookup.version and lookup.chunks else r.doc_info(title)
            # a document read from a scan: its quoted text may carry recognition errors (assistant/ingest/ocr.py)
            scanned = [label for ch in lookup.chunks if (label := ocr_label(ch.extra, ch.start, ch.end))]
            scanned = scanned or ([msg.CHECK_NOTE_SCANNED] if r.scanned(title) else [])
            newer = (msg.CHECK_NOTE_VERSION_AT.format(label=lookup.version.label,
                                                      newer="、".join(v.label for v in lookup.newer))
                     if lookup.version and lookup.newer else "")
            item.note = "；".join(filter(None, [doc_note(title, item.doc_info, r.titles), newer,
                                               *(msg.CHECK_NOTE_OCR.format(label=s) for s in dict.fromkeys(scanned))]))
            item.article_count = r.article_counts.get(title) or None
            item.article_texts = [ArticleText(ch.article, ch.text, ch.section) for ch in lookup.chunks]
            item.version_note = version_note(title, item.doc_info, c.version, draft_date, r.titles, bool(c.articles))
            if item.status == "ok" and (part := _missing_part(c, item.article_texts)):
                item.status, item.missing, item.verdict_text = "no_such_article", [part[0]], msg.CHECK_MISSING_PART.format(why=part[1])
            if with_support and item.status == "ok" and item.article_texts:
                claim = _residual(text, sent, in_sentence[sent])
                if len(set(tokens(claim)) - _CITING_WORDS) >= _MIN_CONTENT_WORDS:
                    scores = article_supports(r, claim, title, item.articles)
                    item.support = max(scores[a] for a in item.articles if a in scores)
                    rivals = {a: v for a, v in scores.items() if a not in item.articles}
                    if rivals:
                        item.rival_article = max(rivals, key=rivals.get)
                        item.rival = rivals[item.rival_article]
                    item.unstated = unstated_quantities(claim, [a.text for a in item.article_texts])
                    item.mismatch = is_mismatch(item.support, item.rival) or bool(item.unstated)
                    if item.rival is not None and item.rival - item.support > RIVAL_MARGIN:
                        item.rival_text = "\n\n".join(ch.text for ch in r.article(title, item.rival_article))
        kind = msg.KIND_LAW if r.titles.get(lookup.title or "") == "law" else msg.KIND_DOCUMENT
        out.append(_with_verdict(item, kind))
    return CheckReport(out)


def _own_citation(c: cit.DocumentReference, sentence: str, title: str, own_articles: dict[str, str]) -> CheckedCitation:
    """A draft's 本办法第N条, checked against the draft's own articles (no corpus document, no support score)."""
    missing = [a for a in c.articles if a not in own_articles]
    return CheckedCitation(
        c.raw, c.start, c.end, title, title, list(c.articles), "no_such_article" if missing else "ok", sentence,
        article_texts=[ArticleText(a, own_articles[a], "") for a in c.articles if a in own_articles],
        missing=missing, article_count=len(own_articles))


def _missing_part(c: cit.DocumentReference, texts: list[ArticleText]) -> tuple[str, str] | None:
    """A cited 款 or 项 the (single) article does not have, as (label, why): 第三十九条第三款 of a two-paragraph
    article, or 第二款第五项 where that paragraph lists four. Paragraphs are the article's blank-line-separated 款
    (read as the chat reads them), items the lines that start with （一）/(一)."""
    if not (c.paragraph or c.item) or len(c.articles) != 1 or not texts:
        return None
    whole = "\n\n".join(a.text for a in texts)
    paragraphs = [whole[s:e] for s, e in paragraph_spans(whole)]
    label = c.articles[0]
    if c.paragraph:
        kuan = f"第{cit.int_to_cn(c.paragraph)}款"
        if c.paragraph > len(paragraphs):
            return f"{label}{kuan}", msg.CHECK_NO_SUCH_PARAGRAPH.format(label=label, count=len(paragraphs), kuan=kuan)
        scope, label = paragraphs[c.paragraph - 1], f"{label}{kuan}"
    else:
        scope = whole
    items = len(re.findall(r"(?m)^\s*[（(][一二三四五六七八九十]+[）)]", scope))
    if c.item and c.item > items:
        xiang = f"第{cit.int_to_cn(c.item)}项"
        return f"{label}{xiang}", (msg.CHECK_NO_SUCH_ITEM.format(label=label, count=items, xiang=xiang) if items
                                   else msg.CHECK_NO_ITEMS.format(label=label))
    return None


def _with_verdict(c: CheckedCitation, kind: str) -> CheckedCitation:
    """Set the one verdict and its words; ``kind`` (该法 / 该文件) is how the count of articles is introduced."""
    if c.status == "ok":
        c.verdict = "mismatch" if c.mismatch else "ok"
        c.verdict_text = msg.CHECK_MISMATCH.format(reason=mismatch_reason(c)) if c.mismatch else LABELS["ok"]
    elif c.status == "no_such_article":
        c.verdict = c.status
        if not c.verdict_text:  # (set already when the article is there and its 款 or 项 is not)
            which = f"：{'、'.join(c.missing)}" if len(c.articles) > 1 and c.missing else ""
            count = msg.CHECK_ARTICLE_COUNT.format(kind=kind, count=c.article_count) if c.article_count else ""
            c.verdict_text = msg.CHECK_NO_SUCH_ARTICLE.format(which=which, count=count)
    elif c.status == "ambiguous" and c.candidates:
        c.verdict = c.status
        c.verdict_text = msg.CHECK_AMBIGUOUS.format(candidates='或'.join(f'《{t}》' for t in c.candidates))
    else:
        c.verdict, c.verdict_text = c.status, LABELS.get(c.status, c.status)
    return c


# --- versions -----------------------------------------------------------------------------------------

_DATE = re.compile(r"(\d{4})年(\d{1,2})月(\d{1,2})日")


def history(title: str, info: str) -> list[tuple[date, str, str]]:
    """(date, event, line) per dated history line, oldest first; event is 通过 / 公布 / 施行 / 修正 / 修订 / 废止.
    A 宪法修正案 line counts as 修正 (it amends the constitution). Adds HISTORY_SUPPLEMENT's lines."""
    out = []
    for when, line in dated_lines([*(info or "").split(" / "), *HISTORY_SUPPLEMENT.get(title, [])]):
        event = next((e for e in ("废止", "修订", "修正", "施行", "公布", "通过") if e in line), "")
        out.append((when, event, line.strip()))
    return sorted(out, key=lambda x: x[0])


_PAIRS = {"）": "（", ")": "(", "》": "《", "〉": "〈", ">": "<", "】": "【", "]": "[", "”": "“", "」": "「"}


def balanced(text: str) -> str:
    """``text`` without brackets that have no partner — for display only (the corpus's 未保法 history line ends in a
    stray 「）」, a source artefact kept in the stored text)."""
    stack: list[int] = []
    drop: set[int] = set()
    for i, ch in enumerate(text):
        if ch in _PAIRS.values():
            stack.append(i)
        elif ch in _PAIRS:
            if stack and text[stack[-1]] == _PAIRS[ch]:
                stack.pop()
            else:
                drop.add(i)
    drop.update(stack)
    return "".join(ch for i, ch in enumerate(text) if i not in drop).strip(" \u3000")


_EVENT = re.compile(r"(?:第[一二三四五六七八九十]+次)?(?:修正|修订)(?!案)|公布施行|通过|公布|施行|废止")


def history_lines(info: str) -> list[str]:
    """The history lines of ``doc_info`` as shown to people: stray brackets and padding removed."""
    return [balanced(line) for line in (info or "").split(" / ") if line.strip(" \u3000")]


def latest_event(info: str) -> str:
    """The newest history line in a few characters, for a narrow column: 2024年4月26日 第二次修正."""
    lines = history_lines(info)
    if not lines:
        return ""
    line = lines[-1]
    when = _DATE.search(line)
    events = _EVENT.findall(line)
    event = "修正案通过" if "修正案" in line else (events[-1] if events else "")
    return f"{when.group()} {event}".strip() if when else line[:20]


def _cn_date(d: date) -> str:
    return f"{d.year}年{d.month}月{d.day}日"


def version_note(title: str, info: str, cited: str | None, draft_date: date | None, titles,
                 articles: bool = True) -> str:
    """What a reader of a draft must know about the version of ``title`` the corpus holds.

    ``cited`` (2015年修正, from the citation): a year that is not the corpus version's year means the text the
    draft quotes may differ. ``articles``: whether the citation names articles (then their numbers may have moved). ``draft_date``: amendments after it (the corpus text is newer than the draft: an
    article number may have moved), a document not yet published or in force then, or one already replaced.
    """
    events = history(title, info)
    notes = []
    changes = [(d, e) for d, e, _ in events if e in ("修正", "修订")]
    current = changes[-1] if changes else next(((d, e) for d, e, _ in events if e in ("通过", "公布")), None)
    if cited and current and (year := re.search(r"\d{4}", cited)) and int(year.group()) != current[0].year:
        between = [f"{_cn_date(d)}{e}" for d, e in changes if int(year.group()) < d.year and d < current[0]]
        notes.append(f"所引为{cited}版；语料中是{_cn_date(current[0])}{current[1]}后的文本"
                     + (f"（其间另有{'、'.join(between)}）" if between else "") + "，条文编号和内容可能不同")
    if draft_date:
        when = _cn_date(draft_date)
        first = next((d for d, e, _ in events if e in ("通过", "公布")), None)
        in_force = next((d for d, e, _ in events if e == "施行"), None)
        after = [f"{_cn_date(d)}{e}" for d, e in changes if d > draft_date]
        if first and first > draft_date:
            notes.append(f"成文日期（{when}）时该文件尚未公布（{_cn_date(first)}公布）")
        elif in_force and in_force > draft_date and not changes:
            notes.append(f"成文日期（{when}）时该文件尚未施行（{_cn_date(in_force)}起施行）")
        elif after:
            notes.append(f"成文日期（{when}）之后，该文件于{'、'.join(after)}：语料中是修改后的文本"
                         + ("，所引条文可能是旧版编号，请按成文时的版本核对" if articles else ""))
        if (new := REPLACED_BY.get(title)) and new[0] in titles:
            m = _DATE.search(new[1])
            if m and date(int(m[1]), int(m[2]), int(m[3])) <= draft_date:
                notes.append(f"成文日期（{when}）时该文件已废止（{new[1]}起由《{new[0]}》取代）")
    return "；".join(notes)


def _residual(text: str, sent: tuple[int, int], cites: list[cit.DocumentReference]) -> str:
    """The sentence without its citations: what it claims the cited articles say."""
    parts, pos = [], sent[0]
    for c in sorted(cites, key=lambda c: c.start):
        parts.append(text[pos : max(pos, c.start)])
        pos = max(pos, c.end)
    return "".join(parts) + text[pos : sent[1]]


def is_mismatch(support: float, rival: float | None) -> bool:
    """The citation probably does not back the claim: weak support, or another article of the law backs it better."""
    return support < MISMATCH_THRESHOLD or (rival is not None and rival - support > RIVAL_MARGIN)


_QUANTITY = re.compile(r"([0-9０-９]+|[零〇一二两三四五六七八九十百千万]+)\s*(?:个)?(工作日|日|天|小时|个月|月|周岁|岁|年|%|％|倍)")
_UNIT = {"天": "日", "％": "%", "岁": "周岁"}


def _quantities(text: str) -> dict[tuple[int, str], str]:
    out = {}
    for m in _QUANTITY.finditer(text):
        try:
            out[(cit.cn_to_int(m.group(1)), _UNIT.get(m.group(2), m.group(2)))] = m.group()
        except ValueError:
            continue
    return out


def unstated_quantities(claim: str, article_texts: list[str]) -> list[str]:
    """Quantities (九十日, 15个工作日, 二十四小时) the claim gives that the cited article does not: a wrong deadline or
    age is the overclaim word overlap cannot see. Digits and Chinese numerals compare equal (15 = 十五)."""
    stated = _quantities(" ".join(article_texts))
    return [raw for key, raw in _quantities(claim).items() if key not in stated]


def rival_articles(engine, claim: str, title: str, cited: list[str]) -> list[str]:
    """Articles of the same law to compare the cited ones with: their neighbours (the commonest slip is citing the
    article next to the right one) and the law's articles that share the most rare words with the claim."""
    r = corpus_view(engine)
    order = list(dict.fromkeys(c.article for c in r.chunks_of(title) if c.article))
    index = {a: i for i, a in enumerate(order)}
    near = {order[j] for a in cited if a in index
            for j in range(index[a] - RIVAL_NEIGHBOURS, index[a] + RIVAL_NEIGHBOURS + 1) if 0 <= j < len(order)}
    closest = [c.article for c in r.closest(claim, title, 20) if c.article]
    near.update(list(dict.fromkeys(a for a in closest if a not in cited))[:RIVAL_CLOSEST])
    return [a for a in order if a in near and a not in cited]


def article_supports(engine, claim: str, title: str, cited: list[str]) -> dict[str, float]:
    """How well ``claim`` matches each cited and each rival article, in [0, 1]: the mean of two signals.

    Dense: the best cosine between the claim and the article or one of its paragraphs. Lexical: the share of the
    claim's jieba words found in the article, weighted by the index's IDF so that common words (学校, 应当) weigh
    little and a wrong article on the same topic scores low. One embedding batch for all of them.
    """
    r = corpus_view(engine)
    labels = [a for a in cited if r.article(title, a)] + rival_articles(r, claim, title, cited)
    by_article = {a: [ArticleText(a, c.text, c.section) for c in r.article(title, a)] for a in labels}
    passages = {a: _passages(texts) for a, texts in by_article.items()}
    flat = [p for ps in passages.values() for p in ps]
    vectors = np.asarray(r.embed([claim, *flat]), dtype=float)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True) + 1e-12
    cosines = iter(vectors[1:] @ vectors[0])
    words = set(tokens(claim)) - _CITING_WORDS
    total = sum(r.idf(w) for w in words)
    out = {}
    for a, ps in passages.items():
        dense = max(float(next(cosines)) for _ in ps)
        found = set(tokens(" ".join(ps)))
        lexical = sum(r.idf(w) for w in words & found) / total if total > 0 else 0.0
        out[a] = round(min(1.0, max(0.0, DENSE_WEIGHT * dense + (1 - DENSE_WEIGHT) * lexical)), 4)
    return out


def _passages(article_texts: list[ArticleText]) -> list[str]:
    """An article's text and, when it has several, each of its paragraphs (a sentence often paraphrases one 款)."""
    passages = []
    by_article: dict[str, list[str]] = defaultdict(list)
    for a in article_texts:
        by_article[a.article].append(a.text)
    for label, texts in by_article.items():
        whole = "\n\n".join(texts).removeprefix(label).strip()
        paragraphs = [p.strip() for p in re.split(r"\n\s*\n", whole) if p.strip()]
        passages += [whole, *paragraphs] if len(paragraphs) > 1 else [whole]
    return passages


# --- ingested documents -------------------------------------------------------------------------------

def find_document(engine, name: str) -> str:
    """The indexed document called ``name`` (full title or a name resolve_title accepts); ValueError if none/several."""
    titles = corpus_view(engine).titles
    found = [name] if name in titles else cit.resolve_title(name, titles)
    if len(found) != 1:
        what = msg.CHECK_SEVERAL_DOCUMENTS if found else msg.CHECK_NO_DOCUMENT
        shown = name if len(name) <= 60 else msg.CHECK_LONG_NAME.format(start=name[:60], length=len(name))  # a pasted paragraph is no title
        raise ValueError(f"{what}：{shown}" + (f"（{'、'.join(found)}）" if found else ""))
    return found[0]


def _checked_chunks(engine, title: str, with_support: bool) -> list[tuple[Chunk, CheckedCitation]]:
    """Citations of an indexed document, passage by passage (passages end at sentence ends, so no sentence is
    cut). Offsets are shifted into the document's text; the info lines before the body are not checked."""
    pairs = []
    r = corpus_view(engine)
    for chunk in sorted(r.chunks_of(title), key=lambda c: c.start):
        for item in check_text(r, chunk.text, title, with_support).citations:
            item.start, item.end = item.start + chunk.start, item.end + chunk.start
            item.paragraph = 0  # lines of a passage are no paragraphs of the document; its section says where
            pairs.append((chunk, item))
    return pairs


def check_document(engine, name: str, with_support: bool | None = None) -> CheckReport:
    """Check an indexed document by title. By default support is scored for reports and other texts only: a law's
    references (违反本法第十一条规定的，由…处分) state consequences, not what the cited article says."""
    title = find_document(engine, name)
    if with_support is None:
        with_support = corpus_view(engine).titles[title] not in LEGAL_TYPES
    return CheckReport([item for _, item in _checked_chunks(engine, title, with_support)])


def citation_map(engine) -> dict[str, Any]:
    """For every indexed document: what it cites and where; and which passages of other documents cite it.
    A document's references to itself (本法第X条) are left out of both lists."""
    cites: dict[str, dict[str, dict]] = {t: {} for t in corpus_view(engine).titles}
    cited_by: dict[str, list[dict]] = defaultdict(list)
    for title in sorted(cites):
        for chunk, item in _checked_chunks(engine, title, with_support=False):
            if item.resolved_title == title:
                continue
            where = " > ".join(p for p in (chunk.section, chunk.article or "") if p) or msg.CHECK_MAP_PREFACE
            entry = cites[title].setdefault(item.resolved_title or item.title or "", {
                "title": item.title, "resolved_title": item.resolved_title,
                "in_corpus": item.status in ("ok", "no_such_article"), "sections": [], "count": 0})
            entry["count"] += 1
            if where not in entry["sections"]:
                entry["sections"].append(where)
            passage = {"doc": title, "section": where, "text": chunk.text}
            if item.resolved_title and passage not in cited_by[item.resolved_title]:
                cited_by[item.resolved_title].append(passage)
    return {"documents": [{"doc": t, "cites": list(cites[t].values()), "cited_by": cited_by.get(t, [])}
                          for t in sorted(cites)]}


# --- plain-text output for the CLI -------------------------------------------------------------------

LABELS = msg.LABELS
#: Short names of the verdicts (legends, highlight colours); ``verdict_text`` adds each citation's reason.
VERDICT_LABELS = msg.VERDICT_LABELS


def mismatch_reason(c) -> str:
    """Why a citation is flagged, in words (``c`` is a CheckedCitation or its JSON dict)."""
    get = c.get if isinstance(c, dict) else lambda k: getattr(c, k)
    reasons = []
    support, rival = get("support"), get("rival")
    if rival is not None and support is not None and rival - support > RIVAL_MARGIN:
        reasons.append(msg.CHECK_REASON_RIVAL.format(article=get('rival_article')))
    if get("unstated"):
        reasons.append(msg.CHECK_REASON_UNSTATED.format(quantities='、'.join(get('unstated'))))
    return "；".join(reasons) or msg.CHECK_REASON_WEAK


def summary_text(result: dict[str, Any]) -> str:
    """The summary line of a ``to_json()`` result, by verdict, then each cited document not in the corpus once with
    the paragraphs it is cited in. The CLI, the tab and the review report all print this."""
    s = result["summary"]
    v = s.get("verdicts") or {}
    line = msg.CHECK_SUMMARY.format(total=s["total"], **{k: v.get(k, 0) for k in VERDICTS})
    if absent := result.get("absent"):
        line += msg.CHECK_SUMMARY_ABSENT + "；".join(f"《{a['title']}》（{_where(a)}）" for a in absent)
    return line


def _where(absent: dict[str, Any]) -> str:
    """第3段、第7段 — or, for a document checked with --doc (no paragraph numbers), how many times."""
    return "、".join(msg.CHECK_WHERE_PARAGRAPH.format(n=n) for n in absent["paragraphs"]) or msg.CHECK_WHERE_COUNT.format(count=absent["count"])


def format_report(report: CheckReport) -> str:
    """Plain text for the CLI: one line per citation with its one verdict, then the article texts."""
    lines = []
    for i, c in enumerate(report.citations, 1):
        support = msg.CHECK_SUPPORT.format(support=c.support) if c.support is not None else ""
        lines.append(f"[{i}] {c.raw}  →  {c.verdict_text}{support}")
        if c.resolved_title and c.resolved_title != c.title:
            lines.append(msg.CHECK_DOCUMENT.format(title=c.resolved_title))
        for text in (c.doc_info, c.note, c.version_note):
            if text:
                lines.append(f"    {text}")
        lines += ["    " + a.text.replace("\n\n", "\n    ") for a in c.article_texts]
        if c.rival_text:
            lines.append(msg.CHECK_BETTER_ARTICLE.format(article=c.rival_article, support=c.rival) + c.rival_text.replace("\n\n", "\n    "))
    if report.draft.get("date"):
        lines.append(msg.CHECK_DRAFT_DATE.format(date=report.draft['date']))
    lines.append(summary_text(report.to_json()))
    return "\n".join(lines)


def format_map(cmap: dict[str, Any]) -> str:
    lines = []
    for d in cmap["documents"]:
        if not d["cites"] and not d["cited_by"]:
            continue
        lines.append(f"《{d['doc']}》")
        for c in d["cites"]:
            where = "；".join(c["sections"][:5]) + ("…" if len(c["sections"]) > 5 else "")
            mark = "" if c["in_corpus"] else msg.CHECK_MAP_ABSENT
            lines.append(msg.CHECK_MAP_CITES.format(title=c['resolved_title'] or c['title'], mark=mark, count=c['count'], where=where))
        for p in d["cited_by"]:
            lines.append(msg.CHECK_MAP_CITED_BY.format(doc=p['doc'], section=p['section']))
    return "\n".join(lines)
