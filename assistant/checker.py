"""Citation checker: verify 《…》第N条 references against the corpus, and map which document cites which.

Every citation comes from :func:`assistant.citations.parse_citations` (the one parser) and is looked up in the
retriever's tables (``titles``, ``articles``), so the checker, the chat and the answer check agree on what a
citation is. Status per citation:

- ``ok``: the document is in the corpus and every cited article exists (or only the title is cited);
- ``no_such_article``: the document is there, at least one cited article is not;
- ``document_not_in_corpus``: no indexed document has that name (never a guess: 刑法 is not 行政处罚法);
- ``ambiguous``: the name fits several documents (备案条例 → 法规规章备案条例 / 法规规章备案审查条例).

When the citing sentence also says what the article says, ``support`` compares the two (dense cosine through
the index's embedding model plus jieba-token overlap) and ``mismatch`` flags a likely misquote.
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
    infos = {c.doc: c.extra.get("doc_info", "") for c in r.chunks}
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
            item.note = doc_note(title, item.doc_info, r.titles)
            item.article_texts = [ArticleText(ch.article, ch.text, ch.section) for ch in lookup.chunks]
            if with_support and item.status == "ok" and item.article_texts:
                claim = _residual(text, sent, in_sentence[sent])
                if len(set(tokens(claim)) - _CITING_WORDS) >= _MIN_CONTENT_WORDS:
                    item.support = support_score(engine, claim, item.article_texts)
                    item.mismatch = item.support < MISMATCH_THRESHOLD
        out.append(item)
    return CheckReport(out)


def _residual(text: str, sent: tuple[int, int], cites: list[cit.Citation]) -> str:
    """The sentence without its citations: what it claims the cited articles say."""
    parts, pos = [], sent[0]
    for c in sorted(cites, key=lambda c: c.start):
        parts.append(text[pos : max(pos, c.start)])
        pos = max(pos, c.end)
    return "".join(parts) + text[pos : sent[1]]


def support_score(engine, claim: str, article_texts: list[ArticleText]) -> float:
    """How well ``claim`` matches the cited articles, in [0, 1]: the mean of two signals.

    Dense: the best cosine between the claim and a cited article or one of its paragraphs (a sentence often
    paraphrases one 款). Lexical: the share of the claim's jieba words found in the articles, weighted by the
    index's IDF so that common words (学校, 应当) weigh little and a wrong article on the same topic scores low.
    """
    r = engine.retriever
    by_article: dict[str, list[str]] = defaultdict(list)
    for a in article_texts:
        by_article[a.article].append(a.text)
    passages = []
    for label, texts in by_article.items():
        whole = "\n\n".join(texts).removeprefix(label).strip()
        paragraphs = [p.strip() for p in re.split(r"\n\s*\n", whole) if p.strip()]
        passages += [whole, *paragraphs] if len(paragraphs) > 1 else [whole]
    vectors = np.asarray(engine.store.embeddings.embed_documents([claim, *passages]), dtype=float)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True) + 1e-12
    dense = float(np.max(vectors[1:] @ vectors[0]))
    words = set(tokens(claim)) - _CITING_WORDS
    found = set(tokens(" ".join(passages)))
    total = sum(r.idf(w) for w in words)
    lexical = sum(r.idf(w) for w in words & found) / total if total > 0 else 0.0
    return round(min(1.0, max(0.0, DENSE_WEIGHT * dense + (1 - DENSE_WEIGHT) * lexical)), 4)


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
    for chunk in sorted((c for c in engine.retriever.chunks if c.doc == title), key=lambda c: c.start):
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


def format_report(report: CheckReport) -> str:
    lines = []
    for i, c in enumerate(report.citations, 1):
        flag = "  ⚠ 内容可能不符" if c.mismatch else ""
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
