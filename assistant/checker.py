"""Citation checker: verify 《…》第N条 references against the corpus, and map which document cites which.

Every citation comes from :func:`assistant.citations.parse_citations` (the one parser) and is looked up in the
retriever's tables (``titles``, ``articles``), so the checker, the chat and the answer check agree on what a
citation is. Status per citation:

- ``ok``: the document is in the corpus and every cited article exists (or only the title is cited);
- ``no_such_article``: the document is there, at least one cited article is not;
- ``document_not_in_corpus``: no indexed document has that name (never a guess: 刑法 is not 行政处罚法);
- ``ambiguous``: the name fits several documents (备案条例 → 法规规章备案条例 / 法规规章备案审查条例).

When the citing sentence also says what the article says, ``support`` compares the two (dense cosine through
the index's embedding model plus jieba-token overlap), ``rival`` does the same for the neighbouring articles and
the law's closest articles, and ``mismatch`` flags a likely misquote: weak support, a rival article that backs
the sentence better, or a quantity (a deadline, an age) the article does not state.
"""

from __future__ import annotations

import bisect
import re
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from assistant import citations as cit
from assistant.schema import Chunk
from assistant.textutil import sentence_spans, tokens
from ingest.ocr import ocr_label

STATUSES = ("ok", "no_such_article", "document_not_in_corpus", "ambiguous")

#: Repealed document → (the document that replaced it, the date it took effect). The corpus keeps the old text
#: on purpose (it was in force in 2022, the seed report's year) and its info lines do not say it was repealed
#: (法规规章备案条例 still reads "2002年1月1日 施行"), so the checker needs this fact from outside: SOURCES.md and
#: 法规规章备案审查条例第二十六条 ("2001年12月14日国务院发布的《法规规章备案条例》同时废止"). A note is added only when
#: the replacement is in the corpus too. Add a row when the corpus gains a document that replaces another.
REPLACED_BY: dict[str, tuple[str, str]] = {"法规规章备案条例": ("法规规章备案审查条例", "2024年11月1日")}

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


@dataclass
class CheckReport:
    citations: list[CheckedCitation]

    def summary(self) -> dict[str, int]:
        counts = {s: sum(c.status == s for c in self.citations) for s in STATUSES}
        return {"total": len(self.citations), **counts, "mismatch": sum(c.mismatch is True for c in self.citations)}

    def to_json(self) -> dict[str, Any]:
        return {"citations": [asdict(c) for c in self.citations], "summary": self.summary()}


def doc_note(title: str, info: str, titles) -> str:
    notes = ["文件信息中载有“废止”"] if "废止" in info else []
    if (new := REPLACED_BY.get(title)) and new[0] in titles:
        notes.append(f"已废止：自{new[1]}起由《{new[0]}》取代（语料保留的是废止前的文本）")
    return "；".join(notes)


def check_text(engine, text: str, self_title: str | None = None, with_support: bool = True) -> CheckReport:
    """Check every citation in ``text``. ``self_title``: the document the text belongs to (本法第X条 → it)."""
    r = engine.retriever
    infos = {doc: r.chunks[rows[0]].extra.get("doc_info", "") for doc, rows in r.doc_rows.items()}
    scans = {doc: bool(r.chunks[rows[0]].extra.get("ocr")) for doc, rows in r.doc_rows.items()}
    spans = sentence_spans(text)
    starts = [s for s, _ in spans]
    parsed = cit.parse_citations(text, r.titles)

    def sentence_of(pos: int) -> tuple[int, int]:
        i = bisect.bisect_right(starts, pos) - 1
        return spans[i] if i >= 0 and pos < spans[i][1] else (pos, pos)

    in_sentence: dict[tuple[int, int], list[cit.Citation]] = defaultdict(list)
    for c in parsed:
        in_sentence[sentence_of(c.start)].append(c)
    out: list[CheckedCitation] = []
    named: dict[tuple[int, int], str] = {}  # sentence → the last title written in it so far
    for c in parsed:
        sent = sentence_of(c.start)
        name = c.title
        if name and not _SELF.fullmatch(name):
            named[sent] = name
        elif name and name.startswith("本") and self_title:
            name = self_title
        else:  # bare 第N条, or 该法 / 本法 outside a document: only a title earlier in the sentence names it
            name = named.get(sent)
            if name is None:
                continue
        lookup = r.resolve(c, name)
        item = CheckedCitation(c.raw, c.start, c.end, name, lookup.title, list(c.articles),
                               lookup.reason or "ok", text[sent[0] : sent[1]])
        if lookup.title:
            title = lookup.title
            item.doc_info = infos.get(title, "")
            # a document read from a scan: its quoted text may carry recognition errors (ingest/ocr.py)
            scanned = [label for ch in lookup.chunks if (label := ocr_label(ch.extra, ch.start, ch.end))]
            scanned = scanned or (["扫描件，文字经OCR识别"] if scans.get(title) else [])
            item.note = "；".join(filter(None, [doc_note(title, item.doc_info, r.titles),
                                               *(f"{s}，引文可能有识别错误" for s in dict.fromkeys(scanned))]))
            item.article_texts = [ArticleText(ch.article, ch.text, ch.section) for ch in lookup.chunks]
            if with_support and item.status == "ok" and item.article_texts:
                claim = _residual(text, sent, in_sentence[sent])
                if len(set(tokens(claim)) - _CITING_WORDS) >= _MIN_CONTENT_WORDS:
                    scores = article_supports(engine, claim, title, item.articles)
                    item.support = max(scores[a] for a in item.articles if a in scores)
                    rivals = {a: v for a, v in scores.items() if a not in item.articles}
                    if rivals:
                        item.rival_article = max(rivals, key=rivals.get)
                        item.rival = rivals[item.rival_article]
                    item.unstated = unstated_quantities(claim, [a.text for a in item.article_texts])
                    item.mismatch = is_mismatch(item.support, item.rival) or bool(item.unstated)
        out.append(item)
    return CheckReport(out)


def _residual(text: str, sent: tuple[int, int], cites: list[cit.Citation]) -> str:
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
    r = engine.retriever
    order = list(dict.fromkeys(c.article for c in r.chunks_of(title) if c.article))
    index = {a: i for i, a in enumerate(order)}
    near = {order[j] for a in cited if a in index
            for j in range(index[a] - RIVAL_NEIGHBOURS, index[a] + RIVAL_NEIGHBOURS + 1) if 0 <= j < len(order)}
    closest = [r.chunks[i].article for i, _ in r.keyword(claim, 20, doc=title) if r.chunks[i].article]
    near.update(list(dict.fromkeys(a for a in closest if a not in cited))[:RIVAL_CLOSEST])
    return [a for a in order if a in near and a not in cited]


def article_supports(engine, claim: str, title: str, cited: list[str]) -> dict[str, float]:
    """How well ``claim`` matches each cited and each rival article, in [0, 1]: the mean of two signals.

    Dense: the best cosine between the claim and the article or one of its paragraphs. Lexical: the share of the
    claim's jieba words found in the article, weighted by the index's IDF so that common words (学校, 应当) weigh
    little and a wrong article on the same topic scores low. One embedding batch for all of them.
    """
    r = engine.retriever
    labels = [a for a in cited if (title, a) in r.articles] + rival_articles(engine, claim, title, cited)
    by_article = {a: [ArticleText(a, c.text, c.section) for c in r.articles[(title, a)]] for a in labels}
    passages = {a: _passages(texts) for a, texts in by_article.items()}
    flat = [p for ps in passages.values() for p in ps]
    vectors = np.asarray(engine.store.embeddings.embed_documents([claim, *flat]), dtype=float)
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
    titles = engine.retriever.titles
    found = [name] if name in titles else cit.resolve_title(name, titles)
    if len(found) != 1:
        what = "有多个文件匹配" if found else "索引中没有这个文件"
        raise ValueError(f"{what}：{name}" + (f"（{'、'.join(found)}）" if found else ""))
    return found[0]


def _checked_chunks(engine, title: str, with_support: bool) -> list[tuple[Chunk, CheckedCitation]]:
    """Citations of an indexed document, passage by passage (passages end at sentence ends, so no sentence is
    cut). Offsets are shifted into the document's text; the info lines before the body are not checked."""
    pairs = []
    for chunk in sorted(engine.retriever.chunks_of(title), key=lambda c: c.start):
        for item in check_text(engine, chunk.text, title, with_support).citations:
            item.start, item.end = item.start + chunk.start, item.end + chunk.start
            pairs.append((chunk, item))
    return pairs


def check_document(engine, name: str, with_support: bool | None = None) -> CheckReport:
    """Check an indexed document by title. By default support is scored for reports and other texts only: a law's
    references (违反本法第十一条规定的，由…处分) state consequences, not what the cited article says."""
    title = find_document(engine, name)
    if with_support is None:
        with_support = engine.retriever.titles[title] not in ("law", "regulation")
    return CheckReport([item for _, item in _checked_chunks(engine, title, with_support)])


def citation_map(engine) -> dict[str, Any]:
    """For every indexed document: what it cites and where; and which passages of other documents cite it.
    A document's references to itself (本法第X条) are left out of both lists."""
    cites: dict[str, dict[str, dict]] = {t: {} for t in engine.retriever.titles}
    cited_by: dict[str, list[dict]] = defaultdict(list)
    for title in sorted(cites):
        for chunk, item in _checked_chunks(engine, title, with_support=False):
            if item.resolved_title == title:
                continue
            where = " > ".join(p for p in (chunk.section, chunk.article or "") if p) or "前言"
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

LABELS = {"ok": "正确", "no_such_article": "条文不存在", "document_not_in_corpus": "语料中无此文件", "ambiguous": "名称不明确"}


def mismatch_reason(c) -> str:
    """Why a citation is flagged, in words (``c`` is a CheckedCitation or its JSON dict)."""
    get = c.get if isinstance(c, dict) else lambda k: getattr(c, k)
    if get("unstated"):
        return f"条文中没有“{'、'.join(get('unstated'))}”"
    support, rival = get("support"), get("rival")
    if rival is not None and support is not None and rival - support > RIVAL_MARGIN:
        return f"{get('rival_article')}更相符"
    return "条文内容与该句关联较弱"


def format_report(report: CheckReport) -> str:
    lines = []
    for i, c in enumerate(report.citations, 1):
        flag = f"  ⚠ 内容可能不符（{mismatch_reason(c)}）" if c.mismatch else ""
        support = f"  支持度 {c.support:.2f}" if c.support is not None else ""
        lines.append(f"[{i}] {c.raw}  →  {LABELS[c.status]}（{c.status}）{support}{flag}")
        if c.resolved_title and c.resolved_title != c.title:
            lines.append(f"    文件：《{c.resolved_title}》")
        for text in (c.doc_info, c.note):
            if text:
                lines.append(f"    {text}")
        lines += ["    " + a.text.replace("\n\n", "\n    ") for a in c.article_texts]
    s = report.summary()
    lines.append(f"共 {s['total']} 处引用：正确 {s['ok']}，条文不存在 {s['no_such_article']}，语料中无此文件 "
                 f"{s['document_not_in_corpus']}，名称不明确 {s['ambiguous']}；内容可能不符 {s['mismatch']}。")
    return "\n".join(lines)


def format_map(cmap: dict[str, Any]) -> str:
    lines = []
    for d in cmap["documents"]:
        if not d["cites"] and not d["cited_by"]:
            continue
        lines.append(f"《{d['doc']}》")
        for c in d["cites"]:
            where = "；".join(c["sections"][:5]) + ("…" if len(c["sections"]) > 5 else "")
            mark = "" if c["in_corpus"] else "（语料中无此文件）"
            lines.append(f"  引用 《{c['resolved_title'] or c['title']}》{mark} ×{c['count']}：{where}")
        for p in d["cited_by"]:
            lines.append(f"  被引 《{p['doc']}》 {p['section']}")
    return "\n".join(lines)
