"""Answers without an LLM: the sentences that answer, quoted verbatim from the passages, each with [n].

Whether to answer at all is decided from two signals (``Signals``) and from the kind of fact the question asks
for (``unanswered_type``), because one similarity threshold cannot separate answerable from out-of-scope
questions on this corpus.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from assistant.bodies import Scope, unknown_body_message
from assistant.citations import int_to_cn
from assistant.compose import compose
from assistant.conversation import standalone
from assistant.intent import INTENTS, classify, section_pattern, unanswered_type
from assistant import messages as msg
from assistant.messages import EMPTY, NO_WORDS, NOT_FOUND, TOO_LONG, VALUES_DIFFER
from assistant.normalize import for_matching, has_words, replace_surrogates, to_simplified
from assistant.retrieval import ArticleLookup, Retriever
from assistant.schema import LEGAL_TYPES, Answer, Citation, Hit
from assistant.settings import AnswerSettings, ComposeSettings
from assistant.synonyms import expansions
from assistant.textutil import paragraph_spans, tokens
from assistant.versions import VersionTable


@dataclass
class Signals:
    dense: float  # best cosine between the question and the passages
    coverage: float  # IDF-weighted share of the question's terms found in the top three passages
    margin: float = 0.0  # fused score of the top passage minus the second's (scores are scaled to top = 1)
    bm25: float = 0.0  # raw BM25 score of the top passage

    def score(self, tuning: AnswerSettings = AnswerSettings()) -> float:
        """One number; below the setting ``min_score`` the assistant says the documents do not answer.

        The dense similarity separates answerable from out-of-scope questions better than term coverage, which
        paraphrased law questions lack, but coverage still breaks ties for report questions
        (``AnswerSettings.coverage_weight``; bench/quality.py prints the trade-off).
        """
        return self.dense + self.coverage * tuning.coverage_weight

    def answerable(self, min_score: float, tuning: AnswerSettings = AnswerSettings()) -> bool:
        """Score above the threshold, or one passage that the keyword evidence singles out.

        USE gives short questions low cosines even when the words match one article squarely
        (学校门口能开网吧吗 → 未成年人保护法第五十八条, cosine 0.27); a decisive keyword match (the top passage far
        ahead of the next, with a high BM25 score) is then answer enough. Out-of-scope questions rarely have
        both: their BM25 scores are low, or several passages tie.
        """
        return (self.score(tuning) >= min_score
                or (self.margin >= tuning.decisive_margin and self.bm25 >= tuning.decisive_bm25))


def report_groups(hits: list[Hit], tuning: AnswerSettings = AnswerSettings(), across: bool = False) -> list[list[Hit]]:
    """The top passages grouped by report, when a report leads and others come close
    (``AnswerSettings.multi_report_share``; ``across_share`` when the question asks across bodies): "各地是怎么做的"
    is answered by several reports, and picking one would hide the others; [] otherwise (a law question, or one
    report far ahead)."""
    if not hits or hits[0].chunk.doc_type != "report":
        return []
    share = tuning.across_share if across else tuning.multi_report_share
    docs = list(dict.fromkeys(h.chunk.doc for h in hits
                              if h.chunk.doc_type == "report" and h.score >= share * hits[0].score))
    if len(docs) < 2:
        return []
    return [[h for h in hits if h.chunk.doc == d] for d in docs[:tuning.across_reports if across else tuning.max_reports]]


class Answerer:
    def __init__(self, retriever: Retriever, min_score: float = 0.4, max_chars: int = 500, k: int = 5,
                 tuning: AnswerSettings | None = None, compose_tuning: ComposeSettings | None = None) -> None:
        self.retriever = retriever
        self.tuning = tuning or AnswerSettings()
        self.compose_tuning = compose_tuning or ComposeSettings()
        self.min_score = min_score
        self.max_chars = max_chars
        self.k = k

    # ---- public --------------------------------------------------------------------------------
    def ask(self, question: str, k: int | None = None, doc: str | None = None, doc_type: str | None = None,
            context_title: str | None = None, qid=None, history: list[str] | None = None) -> Answer:
        """Answer one question. ``context_title`` resolves a bare 第N条 (follow-up questions); ``history`` is the
        conversation's earlier questions, oldest first: a follow-up that leans on them (如果…呢？) is answered as
        the question it continues, with the new detail (``Answer.standalone`` says how it was understood).

        Matching uses :func:`assistant.normalize.for_matching` (traditional → simplified, invisible characters
        dropped), so 未成年人保護法第三十九條 finds 未成年人保护法第三十九条; the answer keeps the question as typed.
        The length is checked before any conversion, so an oversized question costs nothing.
        """
        t0 = time.perf_counter()
        k = k or self.k
        question = replace_surrogates(question or "")
        q = question.strip()
        m = for_matching(q) if len(q) <= self.max_chars else q
        if not m:  # nothing, or only whitespace / zero-width characters
            ans = Answer(question=question, found=False, answer=EMPTY)
        elif len(q) > self.max_chars:
            ans = Answer(question=question, found=False, answer=TOO_LONG.format(limit=self.max_chars))
        elif not self.retriever.chunks:
            ans = Answer(question=question, found=False, answer=msg.INDEX_EMPTY)
        elif not has_words(m):  # punctuation / emoji only: no search can match, ask for words instead
            ans = Answer(question=q, found=False, answer=NO_WORDS)
        else:
            full = standalone(m, [for_matching(h) for h in history or [] if h and len(h) <= self.max_chars])
            lookup = self.retriever.lookup_articles(m, default_title=doc or context_title, ask_which=True)
            own = classify(m)
            kind = own if own != "fact" or full == m else classify(full)
            scope = self.retriever.bodies.scope(full) if not doc else Scope()
            section = INTENTS[kind].section
            if scope.year_missing or (scope.unknown and scope.organisation and not scope.docs) and not lookup:
                hits = []
                ans = Answer(q, False, unknown_body_message(scope, self.retriever.bodies),
                             reasons={"body": "not_in_corpus", "scope": scope.__dict__})
            elif section and scope.docs and not lookup and not unanswered_type(full, []) and not any(
                    section.search(c.section) for d in scope.docs for c in self.retriever.chunks_of(d)):
                # the named report has no plan / problems section, so nothing of it says so (a count question —
                # 定了几个抽查计划 — asks a fact about a plan and is answered as one)
                hits = []
                ans = Answer(q, False, msg.NO_SECTION.format(doc="》《".join(scope.docs), what=INTENTS[kind].section_name),
                             reasons={"section": "none", "scope": scope.__dict__})
            else:
                across = scope.across and not doc and not lookup
                hits = self.retriever.search(full, k=self.tuning.across_passages if across else k, doc=doc,
                                             doc_type=doc_type, kind=kind, docs=self._scope_docs(scope),
                                             turn=m)
                ans = (self._from_lookup(m, lookup, hits) if lookup
                       else self._extractive(full, kind, hits, several=not scope.named and not doc, across=across))
                if ans.found and _other_year_only(ans, scope):
                    scope.year_missing = True
                    ans = Answer(q, False, unknown_body_message(scope, self.retriever.bodies), retrieved=hits)
                if scope.named:
                    ans.reasons["scope"] = scope.__dict__
            ans.question = q
            if full != m:
                ans.standalone = full  # shown with the answer by the CLI and the chat (问题理解为：…)
        ans.id = qid
        ans.ms = (time.perf_counter() - t0) * 1000
        return ans

    def _scope_docs(self, scope: Scope) -> list[str] | None:
        """The documents a question about a body may be answered from: that body's reports when it names the body
        (柳州市教育局…), those reports and the laws when it names only a place (柳州的学校…); the laws alone when
        the place has no report here. Never another body's report."""
        if scope.docs and scope.organisation:
            return scope.docs
        if scope.docs or scope.unknown:
            reports = set(self.retriever.bodies.docs)
            return [d for d in self.retriever.titles if d not in reports or d in scope.docs]
        return None

    # ---- explicit articles ---------------------------------------------------------------------
    def _from_lookup(self, q: str, lookup: ArticleLookup, hits: list[Hit]) -> Answer:
        """The named article verbatim, or why not (no such document / article, which document?) — never another
        document's article of that number, so a refusal carries no citation."""
        name = (lookup.title or lookup.name or lookup.citation.title or "").replace("《", "〈").replace("》", "〉")
        articles = "、".join(lookup.citation.articles)
        if lookup.reason == "document_not_in_corpus":
            text = msg.ANSWER_DOC_NOT_IN_CORPUS.format(name=name, articles=articles)
            return Answer(q, False, text, retrieved=hits, reasons={"article": lookup.reason})
        if lookup.reason == "ambiguous":
            docs = "、".join(f"《{t}》" for t in lookup.candidates)
            text = msg.ANSWER_AMBIGUOUS.format(name=name, docs=docs)
            return Answer(q, False, text, retrieved=hits, reasons={"article": lookup.reason})
        if lookup.reason == "which_document":
            if lookup.candidates:
                docs = "、".join(f"《{t}》" for t in lookup.candidates)
                example = lookup.candidates[0].removeprefix("中华人民共和国") + lookup.citation.articles[0]
                text = msg.ANSWER_WHICH_DOCUMENT.format(articles=articles, docs=docs, example=example)
            else:
                text = msg.ANSWER_WHICH_DOCUMENT_NONE.format(articles=articles)
            return Answer(q, False, text, retrieved=hits, reasons={"article": lookup.reason})
        if not lookup.found:
            total = self.retriever.article_counts.get(lookup.title, 0)
            text = msg.ANSWER_NO_SUCH_ARTICLE.format(title=lookup.title, missing='、'.join(lookup.missing), total=total)
            return Answer(q, False, text, retrieved=hits, reasons={"article": lookup.reason})
        paragraph = lookup.citation.paragraph
        # a law in several versions: the head names the version quoted (assistant/versions.py)
        version = msg.ANSWER_VERSION.format(label=lookup.version.label) if lookup.version else ""
        if paragraph and len(lookup.chunks) == 1:  # 第三条第三款: quote that paragraph of the article
            chunk, article = lookup.chunks[0], lookup.citation.articles[0]
            spans = paragraph_spans(chunk.text)
            kuan = f"第{int_to_cn(paragraph)}款"
            if paragraph > len(spans):
                text = msg.ANSWER_NO_SUCH_PARAGRAPH.format(title=lookup.title, article=article, count=len(spans), kuan=kuan)
                return Answer(q, False, text, retrieved=hits, reasons={"article": "no_such_paragraph"})
            s, e = spans[paragraph - 1]
            head = msg.ANSWER_PARAGRAPH_HEAD.format(title=lookup.title, article=version + article, kuan=kuan)
            answer = f"{head}{chunk.text[s:e]}[1]"
            citations = [Citation(n=1, chunk=chunk, quoted=[(s, e)])]
        else:
            citations, parts = [], []
            for chunk in lookup.chunks:
                n = len(citations) + 1
                citations.append(Citation(n=n, chunk=chunk, quoted=[(0, len(chunk.text))]))
                parts.append(f"{chunk.text}[{n}]")
            answer = msg.ANSWER_ARTICLES_HEAD.format(title=lookup.title, articles=version + '、'.join(lookup.citation.articles)) + "\n".join(parts)
        if lookup.newer:
            answer += "\n" + msg.ANSWER_NEWER_VERSION.format(labels="、".join(v.label for v in lookup.newer),
                                                             label=lookup.version.label)
        retrieved = [Hit(chunk=c, score=1.0) for c in lookup.chunks]
        retrieved += [h for h in hits if h.chunk.id not in {c.id for c in lookup.chunks}]
        reasons = {"article": "ok"} | ({"version": lookup.version.label} if lookup.version else {})
        return Answer(q, True, answer, citations, retrieved[: max(len(hits), len(lookup.chunks))], reasons=reasons)

    # ---- extractive ----------------------------------------------------------------------------
    def signals(self, q: str, hits: list[Hit]) -> Signals:
        r = self.retriever
        terms = {t for t in tokens(q) if len(t) > 1 or r.df.get(t, 0)}
        top = hits[:3]
        bag = set()
        for h in top:
            bag |= r.terms(h.chunk)
        weights = {t: r.idf(t) for t in terms}
        total = sum(weights.values()) or 1.0
        # a question word also counts as found when a phrase containing it has its document term there
        phrases = expansions(q)
        alternatives = {t: [s for phrase, syns in phrases.items() if t in phrase or phrase in t for s in syns]
                        for t in terms}

        def found(term: str) -> bool:
            return term in bag or any(all(x in bag for x in tokens(s)) for s in alternatives[term])

        covered = sum(w for t, w in weights.items() if found(t))
        dense = max((h.dense for h in hits if h.dense is not None), default=0.0)
        margin = hits[0].score - hits[1].score if len(hits) > 1 else 0.0
        bm25 = (hits[0].bm25 or 0.0) if hits else 0.0
        return Signals(dense=dense, coverage=covered / total, margin=margin, bm25=bm25)

    def _extractive(self, q: str, kind: str, hits: list[Hit], several: bool = False, across: bool = False) -> Answer:
        """The composed answer, or NOT_FOUND. ``several``: no body is named, so when several reports answer, each
        answers in turn under its title (report_groups; ``across``: the question asks across bodies)."""
        sig = self.signals(q, hits)
        reasons = {"signals": sig.__dict__ | {"score": round(sig.score(self.tuning), 3)}, "kind": kind}
        if not hits or not (sig.answerable(self.min_score, self.tuning) or any(_in_kind_section(kind, h) for h in hits[:3])):
            return Answer(q, False, NOT_FOUND, retrieved=hits, reasons=reasons)
        citations: dict[str, Citation] = {}
        lines, quoted = [], []
        groups = report_groups(hits, self.tuning, across) if several else []
        parts, headers = [], {}  # headers: index of a group's first part → the line naming its report
        for group in groups or [hits]:
            composed = compose(q, kind, group, self.retriever, self.compose_tuning)
            if groups and composed:
                headers[len(parts)] = f"《{group[0].chunk.doc}》："
            parts += composed
        for i, part in enumerate(parts):
            if i in headers:
                lines.append(headers[i])
            chunk = part.hit.chunk
            c = citations.get(chunk.id)
            if c is None:
                c = citations[chunk.id] = Citation(n=len(citations) + 1, chunk=chunk)
            c.quoted.extend(part.spans)
            body = "".join(chunk.text[s:e] for s, e in part.spans)
            quoted.append(body)
            label = f"{part.label}：" if part.label and not body.startswith(part.label) else ""
            lines.append(f"{'- ' if part.bullet else ''}{label}{body}[{c.n}]")
        # the sentences we would quote must state the kind of fact asked for (a count, an amount, a time…)
        if missing := unanswered_type(q, [to_simplified(t) for t in quoted]):  # 壓減到…項 states a count too
            return Answer(q, False, NOT_FOUND, retrieved=hits, reasons=reasons | {"answer_type": missing})
        cited = list(citations.values())
        if (values := INTENTS[kind].differ) is not None and _values_differ(parts, values):
            lines.append(VALUES_DIFFER)
        legal = list(dict.fromkeys(c.chunk.doc for c in cited if c.chunk.doc_type in LEGAL_TYPES))
        # a law for another field quoted after the general one: labelled 特别规定 (assistant/law_scope.py)
        special = {d for d, f in self.retriever.scope_factors(q, legal).items() if f < 1 and d != legal[0]}
        return Answer(q, True, lead_line(cited, self.retriever.versions, special) + "\n".join(lines), cited, hits,
                      reasons=reasons | ({"special": sorted(special)} if special else {}))


def _other_year_only(ans: Answer, scope: Scope) -> bool:
    """The answer quotes a report of another year than the one asked about (see ``Scope.mentioned``) and none of
    its quoted sentences, or the headings they stand under (三、2023年工作计划), names that year."""
    if not scope.mentioned:
        return False
    from_mentioned = [c for c in ans.citations if c.chunk.doc in scope.mentioned]
    year = str(scope.year)
    return bool(from_mentioned) and not any(year in to_simplified(c.chunk.section + c.chunk.text[s:e])
                                            for c in from_mentioned for s, e in c.quoted)


def _values_differ(parts: list, values: re.Pattern) -> bool:
    """The quoted sentences state different values (periods) in different articles: the answer then says that
    they are for different actions (a wrong deadline is the most harmful answer), and each quoted sentence names
    its own action."""
    by_article: dict[tuple[str, str], set[str]] = {}
    for part in parts:
        chunk = part.hit.chunk
        text = "".join(chunk.text[s:e] for s, e in part.spans)
        by_article.setdefault((chunk.doc, chunk.article or chunk.section), set()).update(values.findall(text))
    stated = [v for v in by_article.values() if v]
    return len(stated) >= 2 and len(set().union(*stated)) >= 2


def _in_kind_section(kind: str, hit: Hit) -> bool:
    """A plan / problems question with a top passage in a report's plan / problems section: answer enough,
    even when the wording is far from the report's (明年有啥新打算 vs 2023年工作计划)."""
    section = section_pattern(kind)
    return bool(section and hit.chunk.doc_type == "report" and section.search(hit.chunk.section))


def lead_line(citations: list[Citation], versions: VersionTable | None = None, special: set[str] = frozenset()) -> str:
    """根据《A》第X条、第Y条，《B》“section”： — every cited document and article, in citation order; a law the
    corpus holds in several versions is named with the version quoted: 《A》（2024年4月26日修正）第X条."""
    where: dict[str, list[str]] = {}
    for c in citations:
        where.setdefault(c.chunk.doc, [])
    for doc in where:
        chunks = [c.chunk for c in citations if c.chunk.doc == doc]
        articles = list(dict.fromkeys(ch.article for ch in chunks if ch.article))
        if articles:
            where[doc] = articles
        elif label := _common_section(chunks):
            where[doc] = [label]
    named = {}
    for c in citations:
        v = versions.version(c.chunk) if versions is not None and versions.versioned(c.chunk.doc) else None
        named.setdefault(c.chunk.doc, msg.ANSWER_VERSION.format(label=v.label) if v else "")
    return msg.ANSWER_LEAD.format(where="，".join(
        f"《{doc}》{named[doc]}{'、'.join(labels)}{msg.ANSWER_SPECIAL_LAW if doc in special else ''}"
        for doc, labels in where.items()))


def _common_section(chunks) -> str:
    """The deepest heading all the chunks sit under ("三、2023年工作计划"), or "" when they share none."""
    paths = [c.section.split(" > ") for c in chunks if c.section and c.section != "前言"]
    if not paths:
        return ""
    common = []
    for level in zip(*paths):
        if len(set(level)) > 1:
            break
        common.append(level[0])
    return common[-1] if common else ""
