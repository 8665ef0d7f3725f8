"""Which sentences answer the question, and in what shape: plain lines, or a list of items.

Pure functions over retrieved passages (no Chroma, no model): ``compose`` returns ``Part``s — spans of passage
text, each shown as one line of the answer with its [n] marker. Three rules keep the answer on point:

- a sentence of a lower-ranked passage joins only when it carries the question's own content words, not only
  words many passages have (学校, 未成年人, 应当: generic by document frequency, ``ComposeSettings.generic_df``);
- the sentence that decides the question's kind (a time for 多久/几点, 不得/可以 for 能不能, 责任 for 谁负责) is
  preferred, and for yes/no and liability questions it comes first;
- plan / problems questions are answered from the report section whose heading says so, every item of it
  (or the items on the question's topic), and list questions over a report from every section on the topic.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable, Protocol

from assistant.intent import INTENTS, Intent, action_share, asked_action, intent_terms, topic, unanswered_type
from assistant.normalize import to_simplified
from assistant.schema import Chunk, Hit
from assistant.settings import ComposeSettings
from assistant.textutil import normalize_ws, sentence_spans, tokens

#: The settings used when a caller passes none (the tuned numbers, each with its reason, are in ComposeSettings).
DEFAULT = ComposeSettings()
_ITEM = re.compile(r"[（(][一二三四五六七八九十]+[）)]")
_ENUMERATED = re.compile(r"(?:[一二三四五六七八九十]+是|[（(][一二三四五六七八九十]+[）)]|[0-9０-９]+[．.、]|首先|其次|再次|最后)")
#: After an enumeration, a sentence starting so adds one more item (……三是…。此外，全区建成…).
_ONE_MORE = re.compile(r"此外|另外|同时|还")
_END = re.compile(r"[。！？；：!?;:][”’」』）)]*$")
_NUMBER = re.compile(r"[0-9０-９%％]|[一二三四五六七八九十百千万]+[项份个名人起次条所期]")


class Corpus(Protocol):
    """What choosing sentences reads of the indexed corpus (``assistant.retrieval.Retriever`` is one): term
    statistics, the everyday-words map, and one document's passages. Nothing else, so a test can pass a few
    documents' worth of it."""

    chunks: list[Chunk]
    df: dict[str, int]

    def idf(self, token: str) -> float: ...

    def expand(self, question: str) -> list[str]: ...

    def chunks_of(self, doc: str) -> list[Chunk]: ...

    def similarity(self, question: str, sentences: list[str]) -> list[float]: ...


@dataclass
class Part:
    """One line of the answer: sentences of one passage, shown as a plain line or a list item."""

    hit: Hit
    spans: list[tuple[int, int]]
    label: str = ""  # a report item's heading, shown before its sentences
    bullet: bool = False


@dataclass
class Terms:
    """The question's words, weighted by rarity; ``specific`` are those that tie a sentence to this question."""

    weights: dict[str, float]
    specific: set[str] = field(default_factory=set)


def question_terms(question: str, kind: str, corpus: Corpus, tuning: ComposeSettings = DEFAULT) -> Terms:
    r = corpus
    extra = {t for term in [*r.expand(question), *intent_terms(question, kind)] for t in tokens(term)}
    words = set(tokens(question)) | extra
    n = max(len(r.chunks), 1)
    specific = {t for t in set(tokens(topic(question))) | extra
                if 0 < r.df.get(t, 0) <= max(tuning.generic_df * n, tuning.generic_min)}
    return Terms({t: r.idf(t) for t in words}, specific)


def clause_spans(text: str, tuning: ComposeSettings = DEFAULT) -> list[tuple[int, int]]:
    """Sentences of ``text``; a sentence is cut at ； only when it is long (``max_sentence``) or enumerates
    (一是…；二是…), and never before 但是: 应当承担侵权责任；但是，能够证明… loses its meaning when cut."""
    out: list[tuple[int, int]] = []
    for s, e in sentence_spans(text):
        if out and text[out[-1][1] - 1] in "；;" and "\n" not in text[out[-1][1]:s]:
            joined = (out[-1][0], e)
            if text.startswith("但", s) or (joined[1] - joined[0] <= tuning.max_sentence and not _ENUMERATED.match(text, s)):
                out[-1] = joined
                continue
        out.append((s, e))
    return out


def content_spans(chunk: Chunk, tuning: ComposeSettings = DEFAULT,
                  keep: Callable[[str], bool] | None = None) -> list[tuple[int, int]]:
    """The passage's sentences without heading lines, inline headings (1．严格法治审查工作。) or signatures/dates —
    unless ``keep`` says the line states what the question asks for (a signature names who made the report, a
    date line when)."""
    text = chunk.text
    heading = _bare(heading_label(chunk))
    out = []
    for s, e in clause_spans(text, tuning):
        sent = text[s:e]
        if not _END.search(sent) and len(sent) < 40 and not (keep and keep(sent)):
            continue  # a heading, a signature or a date line, not a sentence
        if heading and _bare(sent) == heading:
            continue
        out.append((s, e))
    return out


def _bare(text: str) -> str:
    return normalize_ws(text).rstrip("。：:")


def heading_label(chunk: Chunk) -> str:
    return chunk.section.split(" > ")[-1].strip() if chunk.section else ""


# ---- report sections: plan, problems, lists of what was done ---------------------------------------------

def _topic_score(text: str, doc: str, terms: Terms) -> float:
    """Weight of the question's own topic words in ``text``; words of the report's title (教育局, 法治, 建设) say
    nothing about which of its sections is meant."""
    topical = terms.specific - set(tokens(doc))
    return sum(terms.weights[t] for t in topical & set(tokens(text)))


def _leaves(chunks: list[Chunk]) -> list[Chunk]:
    """Chunks with no sub-heading below them: a section's introduction is not one of its items."""
    leaves = [c for c in chunks if not any(o.section.startswith(c.section + " > ") for o in chunks)]
    return leaves or chunks


def _on_topic(items: list, scores: list[float], keep: float) -> list:
    """The items about the question's topic, or all of them when the question names no topic of its own."""
    best = max(scores, default=0.0)
    return items if best <= 0 else [c for c, s in zip(items, scores) if s >= keep * best]


def _chunk_topic(chunk: Chunk, terms: Terms) -> float:
    return _topic_score(chunk.section + " " + chunk.text, chunk.doc, terms)


#: A run-in item (一是…二是…): the marker at the start of a clause. The item runs to the next marker, so its label
#: sentence (二是严监管。) comes with the sentences that say what was done.
_RUN_IN = re.compile(r"(?:^|(?<=[。；;：:，,\n]))\s*(?=[一二三四五六七八九十]是)")


def run_in_items(text: str) -> list[tuple[int, int]]:
    """(start, end) of each run-in item of a passage (一是…；二是…；三是…), or [] when it has fewer than two."""
    starts = [m.end() for m in _RUN_IN.finditer(text)]
    if len(starts) < 2:
        return []
    items = []
    for i, s in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else len(text)
        para = text.find("\n", s, end)  # the last item ends with its paragraph
        items.append((s, para if i + 1 == len(starts) and para > 0 else end))
    return items


def _run_in_parts(hit: Hit, items: list[tuple[int, int]], terms: Terms, tuning: ComposeSettings) -> list[Part]:
    text = hit.chunk.text
    parts = []
    for s, e in items:
        spans = [sp for sp in clause_spans(text[:e], tuning) if sp[1] > s]
        spans = [(max(a, s), b) for a, b in spans]
        if len(spans) > tuning.item_sentences:
            spans = spans[:1] + [sp for sp in spans[1:] if set(tokens(text[sp[0]:sp[1]])) & terms.specific]
        parts.append(Part(hit, spans, bullet=True))
    return parts


def _item_parts(hit: Hit, terms: Terms, whole: bool, tuning: ComposeSettings) -> list[Part]:
    """A report passage as list items: one item with its heading, or, for a passage that enumerates inline
    (一是……；二是……), one item per enumerated item."""
    chunk = hit.chunk
    if items := run_in_items(chunk.text):
        return _run_in_parts(hit, items, terms, tuning)
    spans = content_spans(chunk, tuning)
    enumerated = [(s, e) for s, e in spans if _ENUMERATED.match(chunk.text, s)]
    if len(enumerated) >= 2:
        enumerated += [(s, e) for s, e in spans if s > enumerated[-1][0] and _ONE_MORE.match(chunk.text, s)]
        return [Part(hit, [sp], bullet=True) for sp in enumerated]
    if not whole and len(spans) > 2:
        spans = [sp for sp in spans if set(tokens(chunk.text[sp[0]:sp[1]])) & terms.specific] or spans[:1]
    return [Part(hit, spans, label=heading_label(chunk), bullet=True)] if spans else []


def section_parts(intent: Intent, hits: list[Hit], chunks_of: Callable[[str], list[Chunk]], terms: Terms,
                  tuning: ComposeSettings = DEFAULT) -> list[Part] | None:
    """Plan / problems questions: the items of the report section whose heading has the type's words."""
    pattern = intent.section
    if pattern is None:
        return None
    reports = list(dict.fromkeys(h.chunk.doc for h in hits if h.chunk.doc_type == "report"))
    for doc in reports:
        chunks = [c for c in chunks_of(doc) if pattern.search(c.section)]
        if chunks:
            leaves = _leaves(chunks)
            chosen = _on_topic(leaves, [_chunk_topic(c, terms) for c in leaves], tuning.topic_keep)
            parts = [p for c in chosen for p in _item_parts(Hit(c, 1.0), terms, True, tuning)]
            if len(chosen) == 1:  # one passage enumerating inline: narrow its items the same way
                texts = ["".join(p.hit.chunk.text[s:e] for s, e in p.spans) for p in parts]
                parts = _on_topic(parts, [_topic_score(t, doc, terms) for t in texts], tuning.topic_keep)
            return parts
    return None


def report_list_parts(intent: Intent, hits: list[Hit], chunks_of: Callable[[str], list[Chunk]], terms: Terms,
                      tuning: ComposeSettings = DEFAULT) -> list[Part] | None:
    """"What was done on X": every section of the top report on the topic, not only the top passages.

    Plan and problems sections are left out: what was done is not what is planned or lacking.
    """
    if not hits or hits[0].chunk.doc_type != "report":
        return None
    skip = [i.section for i in INTENTS.values() if i.section is not None]
    pool = [c for c in chunks_of(hits[0].chunk.doc) if c.section != "前言"
            and not any(p.search(c.section) for p in skip)]
    top = next((h.chunk for h in hits[:3] if h.chunk in pool), None)
    if top is None:
        return None
    leaves = _leaves(pool)
    topic = {c.id: _chunk_topic(c, terms) for c in leaves}  # segments each passage once, not three times
    chosen = [c for c in _on_topic(leaves, [topic[c.id] for c in leaves], tuning.list_topic_keep)
              if topic[c.id] > 0 and c is not top]
    chosen = [top] + sorted(chosen, key=lambda c: -topic[c.id])
    chosen = sorted(chosen[:tuning.list_max_items], key=lambda c: c.start)
    if len(chosen) == 1:
        parts = _item_parts(Hit(top, 1.0), terms, True, tuning)
        if len(parts) == 1 and len(parts[0].spans) > 1:  # one passage: its sentences are the items
            return [Part(parts[0].hit, [sp], bullet=True) for sp in parts[0].spans]
        return parts
    return [p for c in chosen for p in _item_parts(Hit(c, 1.0), terms, c is top, tuning)]


# ---- sentences of laws and other passages ----------------------------------------------------------------

def _groups(chunk: Chunk, spans: list[tuple[int, int]]) -> dict[tuple[int, int], list[tuple[int, int]]]:
    """Lead-in sentence (…下列情形之一的：) → the items （一）（二）… that follow it."""
    groups: dict[tuple[int, int], list[tuple[int, int]]] = {}
    lead = None
    for sp in spans:
        sent = chunk.text[sp[0]:sp[1]]
        if _ITEM.match(sent) and lead is not None:
            groups[lead].append(sp)
        elif sent.rstrip().endswith(("：", ":")):
            lead = sp
            groups[lead] = []
        else:
            lead = None
    return {k: v for k, v in groups.items() if v}


def sentence_parts(question: str, intent: Intent, hits: list[Hit], terms: Terms,
                   tuning: ComposeSettings = DEFAULT,
                   similarity: Callable[[str, list[str]], list[float]] | None = None,
                   idf: Callable[[str], float] | None = None) -> list[Part]:
    """The best sentences of the top passages by rare-word overlap with the question, shaped by its type
    (``intent``: how many passages are read, the deciding sentence, how many sentences and passages)."""
    deciding = intent.deciding
    wants_number = bool(intent.wants_number and intent.wants_number.search(question))
    asked = unanswered_type(question, [])  # the kind of fact asked for (a count, a person…), if any
    keep = (lambda line: not unanswered_type(question, [to_simplified(line)])) if asked else None
    scored = []  # (score, rank, span, hit, deciding)
    matched: dict[str, float] = {}  # document → how well its best period is for the action asked
    action = asked_action(question) if intent.period_action else ""
    for rank, hit in enumerate(hits[: intent.read_passages]):
        text = hit.chunk.text
        for s, e in content_spans(hit.chunk, tuning, keep):
            words = set(tokens(text[s:e]))
            if rank > 0 and not words & terms.specific:
                continue  # a weaker passage joins only with the question's own words
            score = sum(w if t in terms.specific else tuning.generic_weight * w
                        for t, w in terms.weights.items() if t in words)
            decides = bool(deciding and deciding.search(text[s:e]))
            if decides:
                score *= tuning.deciding_boost
                if action and tuning.action_weight and idf is not None:
                    share = action_share(action, text[s:e], idf)
                    if share is not None:
                        score *= 1 + tuning.action_weight * share
                        matched[hit.chunk.doc] = max(matched.get(hit.chunk.doc, 0.0), share)
            if wants_number and _NUMBER.search(text[s:e]):
                score *= tuning.number_boost
            scored.append((score * hit.score ** tuning.passage_power, rank, (s, e), hit, decides))
    if matched:  # within each law, on the scale of its best match: the action picks the law's period, not the law
        scored = [(x[0] / (1 + tuning.action_weight * matched.get(x[3].chunk.doc, 0.0)), *x[1:]) for x in scored]
    if tuning.sentence_similarity and scored:
        cos = similarity(question, [x[3].chunk.text[x[2][0]:x[2][1]] for x in scored])
        scored = [(x[0] * max(c, 0.01) ** tuning.sentence_similarity, *x[1:]) for x, c in zip(scored, cos)]
    scored.sort(key=lambda x: -x[0])
    if not scored or scored[0][0] <= 0:  # nothing overlaps: the top passage's opening sentence
        spans = content_spans(hits[0].chunk, tuning) if hits else []
        return [Part(hits[0], [spans[0]])] if spans else []
    if intent.decided and any(x[4] for x in scored):
        scored = [x for x in scored if x[4]]  # a time question is answered by a sentence that states a time
    chosen = _choose(scored, intent, tuning)
    if asked and unanswered_type(question, [_simple(x) for x in chosen]):
        # the best sentences do not state the kind of fact asked for (多少天, 是谁): those of the passages read
        # that do, if any (else the answer is refused for want of it)
        stating = [x for x in scored if x[0] > 0 and not unanswered_type(question, [_simple(x)])]
        chosen = _choose(stating, intent, tuning) or chosen
    if intent.differ is not None:
        chosen = _without_repeats(chosen, intent.differ)
    first = next((x for x in chosen if x[4]), None)  # the deciding sentence first, then reading order
    chosen.sort(key=lambda x: (x is not first, x[1], x[2]))
    return _with_items(chosen, intent, tuning)


def _without_repeats(chosen: list, values: re.Pattern) -> list:
    """Without the reference library's sentences that state only values (periods) the bureau's own documents' chosen
    sentences already state: another field's law with the same 十五日 (矿山安全法, 注册会计师法 beside 行政诉讼法第四十五条)
    adds a citation and nothing else. One with a different value stays: a special rule, which the answer labels."""
    own = {v for x in chosen if not x[3].library for v in values.findall(_simple(x))}

    def repeats(x: tuple) -> bool:
        found = set(values.findall(_simple(x)))
        return bool(found) and found <= own

    return [x for x in chosen if not (x[3].library and repeats(x))]


def _simple(x: tuple) -> str:
    """A scored sentence's text, in simplified characters (what the answer-type patterns read)."""
    s, e = x[2]
    return to_simplified(x[3].chunk.text[s:e])


def _choose(scored: list, intent: Intent, tuning: ComposeSettings) -> list:
    """The best-scored sentences within the type's limits: those near the best, from at most ``max_passages``
    passages (a second passage only when nearly as good)."""
    if not scored:
        return []
    best = scored[0][0]
    chosen, passages = [], []
    for x in scored:
        if x[0] < tuning.keep_share * best or len(chosen) >= intent.max_sentences:
            break
        if x[1] not in passages:
            if len(passages) >= intent.max_passages or (passages and x[0] < tuning.other_passage * best):
                continue
            passages.append(x[1])
        chosen.append(x)
    return chosen


def _with_items(chosen: list, intent: Intent, tuning: ComposeSettings) -> list[Part]:
    """Keep enumerations whole: a lead-in brings its items, an item brings its lead-in (and, for a list
    question, its sibling items)."""
    parts: list[Part] = []
    seen: set[tuple[str, tuple[int, int]]] = set()

    def add(hit: Hit, sp: tuple[int, int], bullet: bool = False) -> None:
        if (hit.chunk.id, sp) not in seen:
            seen.add((hit.chunk.id, sp))
            parts.append(Part(hit, [sp], bullet=bullet))

    for _, _, sp, hit, _ in chosen:
        groups = _groups(hit.chunk, content_spans(hit.chunk, tuning))
        lead = sp if sp in groups else next((k for k, v in groups.items() if sp in v), None)
        if lead is None:
            add(hit, sp)
            continue
        add(hit, lead)
        items = groups[lead] if (lead == sp or intent.whole_enumeration) else [sp]
        for item in items:
            add(hit, item, bullet=True)
    return parts


#: How each answer shape (``Intent.shape``) is built before falling back to the best sentences.
SHAPES: dict[str, Callable[..., list[Part] | None]] = {"section": section_parts, "report_list": report_list_parts}


def compose(question: str, kind: str, hits: list[Hit], corpus: Corpus, tuning: ComposeSettings = DEFAULT) -> list[Part]:
    """The answer's parts for a question of this kind (see the module docstring).

    The words of a report's title (柳州市教育局, 2022年, 法治政府建设, 报告) say which document the question is about,
    not which of its sentences answers it: every sentence of that report stands under that title, so they do not
    count for choosing sentences (an opening sentence that repeats the body's name is no answer).
    """
    intent = INTENTS[kind]
    terms = question_terms(question, kind, corpus, tuning)
    title_words = {t for h in hits if h.chunk.doc_type == "report" for t in tokens(h.chunk.doc)}
    if title_words:
        terms = Terms({t: w for t, w in terms.weights.items() if t not in title_words}, terms.specific - title_words)
    if shape := SHAPES.get(intent.shape):
        parts = shape(intent, hits, corpus.chunks_of, terms, tuning)
        if parts:
            return parts
    return sentence_parts(question, intent, hits, terms, tuning, corpus.similarity, corpus.idf)
