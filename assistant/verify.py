"""Checks, in code, every sentence a language model wrote before it is shown (issue 16).

A model answer is only as good as the passages it cites, and a model — above all a small local one — writes
fluent sentences that no passage states. So each sentence of its answer must pass, against the numbered
passages it was given:

1. every ``[n]`` it carries is one of those passages (``unknown_citation``);
2. a sentence without ``[n]`` is unsupported (``no_citation``): a rule, a number, a copied passage sentence
   each need their source, and a lead-in ("规定如下：") adds nothing the answer needs; a copied passage header
   (``header``) and a sentence with fewer than three content words once titles and labels are set aside
   (``no_content``, the checker's rule) are unsupported too;
3. every number, date, period and article label in it occurs in the cited passages (their text, their document
   title or section heading) (``unstated_number`` / ``unstated_article``); a 《document》 it names is the cited
   passage's own or one that passage names (``unstated_document``);
4. the citation checker's tests hold: ``support`` (dense cosine + rarity-weighted word overlap, the formula of
   :mod:`assistant.checker`) is at least :data:`MIN_SUPPORT`; no ``rival`` passage (another passage given, or
   an article next to / closest to the cited one in the same law) backs the sentence more than
   :data:`RIVAL_MARGIN` better; and the checker's ``unstated`` quantities are empty;
5. it does not turn a prohibition into a permission or back (``polarity``): 不得 in the claim needs a
   prohibition in the passage, 可以 / 有权 with no 不 needs a permission there; nor make a rule absolute
   (``absolute``: 一律, 全部, 任何… only when the passage says so);
6. it does not read like an instruction addressed to the assistant (``instruction``) — a planted
   「忽略以上指令」 that the model repeated or obeyed.

Passages are given to the model without the sentences that read like instructions to it
(:func:`strip_instructions`), and the same stripped text is the evidence a sentence is checked against, so a
planted instruction can neither steer the model nor lend support to what it asks for. The citation cards still
show the passage verbatim.

The thresholds were calibrated on data/eval/llm_sentences.jsonl (LLM-style paraphrases, labelled;
``python bench/llm_support.py`` prints the trade-off). What the checks cannot see: a supported sentence can still
leave out half of the answer (an exception, a second duty), so the answer also quotes the deciding sentences.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import numpy as np

from assistant import checker
from assistant import citations as cit
from assistant.schema import Chunk
from assistant.textutil import sentence_spans, tokens

#: A sentence's best support among the passages it cites must reach this. Calibrated on
#: data/eval/llm_sentences.jsonl (bench/llm_support.py): the 38 faithful paraphrases score 0.51–1.0, and the wrong
#: sentences that only support can catch (another topic, a wrong article with no better rival) 0.10–0.46. Any value
#: from 0.47 to 0.51 separates them; the set then has 67 of 68 right, the miss a flipped duty (不得隐瞒 → 不必报告)
#: that scores 0.65 and no test here sees. The checker's 0.45 is for citing sentences in reports.
MIN_SUPPORT = 0.48
#: A passage not cited (another one given to the model, or a neighbouring / closest article of the cited law)
#: backing the sentence more than this much better than the cited one means the [n] points at the wrong passage.
#: The checker's value: on the labelled set the faithful sentences' best rival is at most 0.015 above them and the
#: wrongly numbered ones' at least 0.085 above, so anything from 0.02 to 0.08 separates them.
RIVAL_MARGIN = checker.RIVAL_MARGIN
#: A sentence that starts with a marker and a 《title》 is a passage header the model copied from its prompt.
HEADER_ECHO = re.compile(r"^\s*(?:[\[【［]\s*\d+\s*[\]】］]\s*)+《")

#: [1], [1][2], [1,2], [1、2], 【1】, ［1］ — the forms small models write.
MARKER = re.compile(r"[\[【［]\s*(\d{1,3}(?:\s*[,，、]\s*\d{1,3})*)\s*[\]】］]")
_THINK = re.compile(r"<think>.*?(?:</think>|$)", re.S)

#: Words of a sentence that states a rule or a fact: such a sentence needs its [n].
RULE_WORDS = re.compile(r"应当|应该|必须|不得|禁止|严禁|可以|有权|无权|责任|负责|承担|赔偿|处罚|处分|罚款|规定|要求|需要|须|依法|义务|权利"
                        r"|期限|之日起|日内|以内|以上|以下|不超过|适用|属于|是指|包括|开展|完成|建立|组织|审查|制定|印发|举办|参加")

# ---- instructions planted in documents -------------------------------------------------------------------
#: Text addressed to an assistant rather than to a reader of a law or report: "忽略以上指令", "你现在是…",
#: "system prompt", chat-template tokens. No sentence of the corpus matches (tests/test_verify.py checks it).
INSTRUCTION = re.compile(
    r"(?:忽略|无视|忘记|忘掉|不要理会|不必理会|抛开|跳过)[^。！？\n]{0,12}(?:指令|指示|提示词?|规则|设定|要求|说明|命令|约束|限制)"
    r"|(?:你|您)(?:现在|从现在起|从此)?(?:是|扮演|作为|必须|只能|要)(?:一个|一名)?[^。！？\n]{0,8}(?:助手|AI|人工智能|模型|机器人|角色)"
    r"|(?:你|您)(?:现在|从现在起|接下来)(?:必须|只能|要|应当|应该)"
    r"|(?:从现在起|接下来)[^。！？\n]{0,6}(?:只|必须|一律)(?:回答|输出|回复|说)"
    r"|(?:回答|输出|回复|打印|泄露|显示)[^。！？\n]{0,8}(?:系统提示|提示词|system\s*prompt|你的指令)"
    r"|系统提示|提示词注入|越狱|jailbreak|prompt\s*injection"
    r"|ignore\s+(?:all\s+|any\s+)?(?:the\s+)?(?:previous|above|prior|earlier)\s+(?:instructions|prompts?|rules)"
    r"|disregard\s+(?:all\s+|the\s+)?(?:previous|above|prior)|you\s+are\s+now|system\s*prompt"
    r"|<\|?(?:im_start|im_end|start_of_turn|end_of_turn|system|assistant|user)\|?>"
    r"|^\s*(?:system|assistant|user|model)\s*[:：]",
    re.I | re.M,
)


def is_instruction(text: str) -> bool:
    """Whether ``text`` reads like an instruction to the assistant (see :data:`INSTRUCTION`)."""
    return bool(INSTRUCTION.search(text))


def strip_instructions(text: str) -> str:
    """``text`` without the sentences that read like instructions to the assistant (kept verbatim otherwise).

    What the model is shown of a passage, and what its sentences are checked against: a planted instruction
    neither reaches the model nor supports a sentence that obeys it.
    """
    spans = sentence_spans(text)
    if not any(is_instruction(text[s:e]) for s, e in spans):
        return text
    out, pos = [], 0
    for s, e in spans:
        if is_instruction(text[s:e]):
            out.append(text[pos:s])
            pos = e
    out.append(text[pos:])
    return re.sub(r"\n{3,}", "\n\n", "".join(out)).strip()


def drop_think(text: str) -> str:
    """The model's answer without a ``<think>…</think>`` block (reasoning models write one first)."""
    return _THINK.sub("", text)


# ---- splitting the model's answer into sentences ----------------------------------------------------------
_END = "。！？!?"
_CLOSERS = "”’」』）)\"'"


class SentenceSplitter:
    """Cuts a streamed answer into sentences: after 。！？ or a line break, with the closing quotes and the
    ``[n]`` markers that follow the mark (``……制止。[1]``) kept with the sentence they belong to.

    Not at ；: 应当承担侵权责任；但是…的，不承担侵权责任[1]。 is one claim with one citation. A sentence is
    released only when the text after it shows it is complete (or at :meth:`flush`), so a marker arriving in
    the next piece of the stream still joins it.
    """

    def __init__(self) -> None:
        self.buffer = ""

    def feed(self, piece: str) -> list[str]:
        self.buffer += piece
        out = []
        while (cut := self._cut(final=False)) is not None:
            out.append(self.buffer[:cut])
            self.buffer = self.buffer[cut:]
        return [s for s in (x.strip() for x in out) if s]

    def flush(self) -> list[str]:
        rest, self.buffer = self.buffer.strip(), ""
        return split_sentences(rest) if rest else []

    def _cut(self, final: bool) -> int | None:
        text = self.buffer
        for i, ch in enumerate(text):
            if ch == "\n":
                if text[:i].strip():
                    return i + 1
                continue
            if ch not in _END:
                continue
            j = i + 1
            while True:  # closing quotes, spaces and markers that follow the end mark
                while j < len(text) and (text[j] in _CLOSERS or text[j] in " \t"):
                    j += 1
                m = MARKER.match(text, j)
                if m:
                    j = m.end()
                    continue
                break
            if j < len(text):
                if text[j] in "[【［" and not final and "]" not in text[j:] and "】" not in text[j:] and "］" not in text[j:]:
                    return None  # a marker is still arriving
                if text[j] in _END:
                    continue  # "！！" or "。。": the sentence goes on to the last mark
                return j
            return j if final else None
        return None


def split_sentences(text: str) -> list[str]:
    """The sentences of a whole answer (see :class:`SentenceSplitter`)."""
    sp = SentenceSplitter()
    sp.buffer = text
    out = []
    while (cut := sp._cut(final=True)) is not None and cut > 0:
        out.append(sp.buffer[:cut])
        sp.buffer = sp.buffer[cut:]
    out.append(sp.buffer)
    return [s for s in (x.strip() for x in out) if s]


def markers(sentence: str) -> list[int]:
    """The passage numbers a sentence cites, in order, each once."""
    nums: list[int] = []
    for m in MARKER.finditer(sentence):
        nums += [int(x) for x in re.split(r"\s*[,，、]\s*", m.group(1))]
    return list(dict.fromkeys(nums))


def claim_of(sentence: str) -> str:
    """The sentence without its markers and list bullet: what it claims."""
    return re.sub(r"^\s*(?:[-*•·]|\d+[.．、])\s*", "", MARKER.sub("", sentence)).strip()


# ---- numbers, periods, dates, article labels ---------------------------------------------------------------
_CN = "零〇一二两三四五六七八九十百千万亿"
_UNITS = ("个工作日|工作日|个月|小时|分钟|周岁|岁|学年|学期|年度|年|月|日|天|周|时|点|分|万元|亿元|元|%|％|倍|人次|人|名|份|件|项|次|所|家|起"
          "|期|批|届|种|类|级|个|位|篇|场|张|册|门|节课|课时|学时|平方米|米|公里|千米")
#: A number with its unit. Digits count on their own; Chinese numerals only with a unit (一律, 统一, 一些 are words).
_QUANTITY = re.compile(
    rf"(?<!第)(?:百分之\s*(?P<pct>[0-9０-９.．{_CN}]+)"
    rf"|(?P<dig>[0-9０-９]+(?:[.．][0-9０-９]+)?)\s*(?P<du>{_UNITS})?"
    rf"|(?P<cn>[{_CN}]+)\s*(?P<cu>{_UNITS}))"
)
#: 第N条 / 第N款 / 第N项 / 第N章 / 第N节 / 第N编 (digits or Chinese numerals).
_LABEL = re.compile(rf"第\s*([0-9０-９{_CN}]+)\s*(条|款|项|章|节|编)")
_UNIT_ALIAS = {"天": "日", "％": "%", "岁": "周岁", "个工作日": "工作日", "名": "人"}
_TITLE = re.compile(r"《([^《》\n]{2,60})》")
_FULLWIDTH = str.maketrans("０１２３４５６７８９．", "0123456789.")


def _value(raw: str) -> float | None:
    raw = raw.translate(_FULLWIDTH).strip()
    try:
        return float(raw) if re.fullmatch(r"[0-9]+(?:\.[0-9]+)?", raw) else float(cit.cn_to_int(raw))
    except (ValueError, TypeError, KeyError, AttributeError):
        return None


def quantities(text: str) -> list[tuple[str, float, str | None]]:
    """(as written, value, unit or None) of every number in ``text`` that is not an article label."""
    text = _LABEL.sub(" ", text)
    out = []
    for m in _QUANTITY.finditer(text):
        if m.group("pct") is not None:
            raw, unit = m.group("pct"), "%"
        elif m.group("dig") is not None:
            raw, unit = m.group("dig"), m.group("du")
        else:
            raw, unit = m.group("cn"), m.group("cu")
        value = _value(raw)
        if value is not None:
            out.append((m.group().strip(), value, _UNIT_ALIAS.get(unit, unit) if unit else None))
    return out


def labels(text: str) -> set[tuple[int, str]]:
    """(number, 条/款/项/章/节/编) of every article-type label in ``text``."""
    out = set()
    for m in _LABEL.finditer(text):
        value = _value(m.group(1))
        if value is not None:
            out.add((int(value), m.group(2)))
    return out


def evidence_text(chunk: Chunk) -> str:
    """What a sentence citing ``chunk`` may take its numbers and labels from: the passage as the model saw it
    (instructions removed) with the header it was given (document title, section, article)."""
    return " ".join([chunk.doc, chunk.section or "", chunk.article or "", strip_instructions(chunk.text)])


def unstated_numbers(claim: str, evidence: str) -> list[str]:
    """Numbers (with their unit) in ``claim`` that ``evidence`` does not give: 十五日 where it says 三十日,
    2023年 where it says 2022年. 15 and 十五 compare equal; a bare number matches any unit."""
    stated = quantities(evidence)
    with_unit = {(v, u) for _, v, u in stated}
    values = {v for _, v, _ in stated}
    out = []
    for raw, value, unit in quantities(claim):
        if raw in evidence:
            continue
        if (unit is None and value in values) or (unit is not None and (value, unit) in with_unit):
            continue
        if unit in ("月", "周岁") and (value, {"月": "个月", "周岁": "周岁"}[unit]) in with_unit:
            continue
        out.append(raw)
    return out


def unstated_labels(claim: str, evidence: str) -> list[str]:
    """Article / paragraph / chapter labels in ``claim`` that ``evidence`` does not contain."""
    have = labels(evidence)
    return [m.group() for m in _LABEL.finditer(claim)
            if (v := _value(m.group(1))) is not None and (int(v), m.group(2)) not in have]


def unstated_documents(claim: str, chunks: Sequence[Chunk]) -> list[str]:
    """《titles》 in ``claim`` that are neither a cited passage's document nor named in a cited passage."""
    out = []
    for m in _TITLE.finditer(claim):
        name = re.sub(r"^中华人民共和国", "", m.group(1).strip())
        if not any(name in c.doc or name in c.text for c in chunks):
            out.append(m.group())
    return out


# ---- polarity -----------------------------------------------------------------------------------------------
_NEGATIVE = re.compile(r"不得|禁止|严禁|不准|不能|不可以|不允许|不应|无权|不予|不承担|不负|免除|无需|不需要|不必|不属于|不是")
_PERMISSIVE = re.compile(r"(?<![不得])(?:可以|有权|允许|准许|能够)")  # not 不得允许 / 不可以
#: Words that make a rule absolute. A sentence that has one the passage lacks claims more than it says
#: (学校一律承担全部赔偿责任 against 未尽到职责的，应当承担侵权责任).
_ABSOLUTE = re.compile(r"一律|全部|所有|一切|任何|完全|绝对|无论如何|必定|概不")


def polarity_conflict(claim: str, evidence: str) -> bool:
    """The claim forbids what the passage never forbids, or permits while the passage only forbids.

    Word overlap and embeddings score 学校可以开除学生 high against 不得开除; this cheap test catches the flip.
    """
    if _NEGATIVE.search(claim):
        return not _NEGATIVE.search(evidence)
    if _PERMISSIVE.search(claim):
        return not _PERMISSIVE.search(evidence) and bool(_NEGATIVE.search(evidence))
    return False


def absolute_words(claim: str, evidence: str) -> list[str]:
    """Absolute words (一律, 全部, 任何…) in ``claim`` that ``evidence`` does not use."""
    return list(dict.fromkeys(m.group() for m in _ABSOLUTE.finditer(claim) if m.group() not in evidence))


# ---- support ------------------------------------------------------------------------------------------------
def _pieces(text: str) -> list[str]:
    """The passage, its paragraphs and its sentences: a model sentence usually restates one of them."""
    text = text.strip()
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
    sentences = [text[s:e] for s, e in sentence_spans(text)]
    return list(dict.fromkeys([text, *paragraphs, *sentences]))


def support_scores(engine, claim: str, texts: dict[Any, str]) -> dict[Any, float]:
    """How well ``claim`` matches each text, in [0, 1] — the checker's formula (:func:`checker.article_supports`):
    ``DENSE_WEIGHT`` × the best cosine with the text or one of its paragraphs / sentences, plus the rest × the
    IDF-weighted share of the claim's words (citing words such as 规定 left out) found in the text. One embedding
    batch for all texts."""
    r = engine.retriever
    pieces = {key: _pieces(t) for key, t in texts.items() if t.strip()}
    flat = [p for ps in pieces.values() for p in ps]
    if not flat:
        return {key: 0.0 for key in texts}
    vectors = np.asarray(engine.store.embeddings.embed_documents([claim, *flat]), dtype=float)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True) + 1e-12
    cosines = iter(vectors[1:] @ vectors[0])
    words = set(tokens(claim)) - checker._CITING_WORDS
    total = sum(r.idf(w) for w in words)
    out = {key: 0.0 for key in texts}
    for key, ps in pieces.items():
        dense = max(float(next(cosines)) for _ in ps)
        found = set(tokens(ps[0]))
        lexical = sum(r.idf(w) for w in words & found) / total if total > 0 else 0.0
        w = checker.DENSE_WEIGHT
        out[key] = round(min(1.0, max(0.0, w * dense + (1 - w) * lexical)), 4)
    return out


def _article_text(engine, title: str, article: str) -> str:
    return "\n\n".join(c.text for c in engine.retriever.articles.get((title, article), []))


def rival_texts(engine, claim: str, cited: Sequence[Chunk], others: Iterable[Chunk]) -> dict[str, str]:
    """Texts that could back the claim instead of the cited passages: the other passages given to the model, and
    for a cited law article the checker's rivals (its neighbours and the law's closest articles by keywords)."""
    cited_ids = {c.id for c in cited}
    cited_articles = {(c.doc, c.article) for c in cited if c.article}
    out: dict[str, str] = {}
    for c in others:
        if c.id not in cited_ids and (c.doc, c.article) not in cited_articles:
            out[f"passage:{c.id}"] = strip_instructions(c.text)
    for title in dict.fromkeys(c.doc for c in cited if c.article):
        labels_ = [c.article for c in cited if c.doc == title and c.article]
        for a in checker.rival_articles(engine, claim, title, labels_):
            if (title, a) not in cited_articles:
                out.setdefault(f"article:{title}:{a}", _article_text(engine, title, a))
    return out


# ---- one sentence ---------------------------------------------------------------------------------------------
@dataclass
class CheckedSentence:
    """One sentence of a model answer and the verdict on it."""

    text: str  # as the model wrote it, markers included
    citations: list[int]
    supported: bool
    reasons: list[str] = field(default_factory=list)  # why not (empty when supported)
    support: float | None = None
    rival: float | None = None
    claim_kind: str = "claim"  # "claim" (cited), "filler" (connective text without [n]), "quote" (verbatim)

    @property
    def claim(self) -> str:
        return claim_of(self.text)

    def to_json(self) -> dict[str, Any]:
        return {"text": self.text, "citations": self.citations, "supported": self.supported}


def check_sentence(engine, sentence: str, passages: dict[int, Chunk], min_support: float = MIN_SUPPORT,
                   rival_margin: float = RIVAL_MARGIN) -> CheckedSentence:
    """The verdict on one sentence of a model answer, given the numbered passages the model was shown."""
    nums = markers(sentence)
    claim = claim_of(sentence)
    out = CheckedSentence(sentence, nums, True)
    reasons = out.reasons
    if is_instruction(claim):
        reasons.append("instruction")
    if not nums:  # every claim needs its [n]; connective text adds nothing an answer needs
        out.claim_kind = "filler"
        reasons.append("no_citation")
        out.supported = False
        return out
    if HEADER_ECHO.match(sentence):
        reasons.append("header")  # the model copied a passage's header line ("[2] 《…》 第三章 …")
    unknown = [n for n in nums if n not in passages]
    if unknown:
        reasons.append("unknown_citation:" + ",".join(map(str, unknown)))
    cited = [passages[n] for n in nums if n in passages]
    if not cited:
        out.supported = False
        return out
    evidence = " ".join(evidence_text(c) for c in cited)
    if bad := unstated_numbers(claim, evidence):
        reasons.append("unstated_number:" + "、".join(bad))
    if bad := unstated_labels(claim, evidence):
        reasons.append("unstated_article:" + "、".join(bad))
    if bad := unstated_documents(claim, cited):
        reasons.append("unstated_document:" + "、".join(bad))
    # the checker's quantity test, on the same evidence; 第二天 is an ordinal there, not a period of 二天
    if bad := checker.unstated_quantities(re.sub(rf"第[0-9０-９{_CN}]+", "第", claim), [evidence]):
        reasons.append("unstated:" + "、".join(bad))
    if polarity_conflict(claim, evidence):
        reasons.append("polarity")
    if bad := absolute_words(claim, evidence):
        reasons.append("absolute:" + "、".join(bad))
    bare = claim
    for m in list(_TITLE.finditer(claim)) + list(_LABEL.finditer(claim)):
        bare = bare.replace(m.group(), " ")
    if len(set(tokens(bare)) - checker._CITING_WORDS) < checker._MIN_CONTENT_WORDS:
        out.support = 0.0
        reasons.append("no_content")  # a heading or a bare label says nothing to support (the checker's own rule)
    else:
        own = {f"cited:{c.id}": strip_instructions(c.text) for c in cited}
        rivals = rival_texts(engine, bare, cited, passages.values())
        scores = support_scores(engine, bare, {**own, **rivals})
        out.support = max(scores[k] for k in own)
        out.rival = max((scores[k] for k in rivals), default=None)
        if out.support < min_support:
            reasons.append(f"weak_support:{out.support:.2f}")
        if out.rival is not None and out.rival - out.support > rival_margin:
            reasons.append(f"rival:{out.rival:.2f}")
    out.supported = not reasons
    return out


# ---- the labelled set the thresholds were calibrated on ---------------------------------------------------------
def labelled_passage(engine, spec: dict[str, str]) -> Chunk:
    """The passage a labelled item names: ``{"doc", "article"}`` (the article's first passage) or ``{"doc", "find"}``
    (the passage of that document containing the snippet)."""
    r = engine.retriever
    if spec.get("article"):
        return r.articles[(spec["doc"], spec["article"])][0]
    return next(c for c in r.chunks_of(spec["doc"]) if spec["find"] in c.text)


def labelled_cases(engine, path) -> list[tuple[dict[str, Any], dict[int, Chunk]]]:
    """data/eval/llm_sentences.jsonl as (item, numbered passages): the item's passage is [1], its "others" [2]…"""
    import json

    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                item = json.loads(line)
                specs = [item["passage"], *item.get("others", [])]
                out.append((item, {n: labelled_passage(engine, s) for n, s in enumerate(specs, 1)}))
    return out
