"""Chinese text helpers shared by chunking, retrieval and answering: sentence spans and search tokens.

jieba's dictionary is set up by :mod:`assistant.jieba_setup`, the cache folder is :mod:`assistant.cachedir`, the
SQLite-backed table :mod:`assistant.lazytable`.
"""

from __future__ import annotations

import re
from functools import lru_cache

import jieba

from assistant import jieba_setup  # noqa: F401  (jieba's dictionary, installed before any text is cut)
from assistant.normalize import to_simplified

# A sentence ends at 。！？； (and ! ? ;), plus any closing quotes/brackets right after, or at a line break.
_SENTENCE_END = re.compile(r"[。！？；!?;][”’」』）)]*|\n+")
_SPACE = re.compile(r"\s+")
_HAN_RUN = re.compile(r"[\u4e00-\u9fff0-9a-zA-Z]+")
_PUNCT = re.compile(r"[\s\u200b\u3000，。、；：？！“”‘’（）《》〈〉【】\[\]()<>「」『』—…·,.;:?!\"'/\\|-]+")

#: Words too common in questions or in this corpus to say anything about relevance.
STOPWORDS = frozenset(
    """的 了 和 与 及 或 是 在 有 对 为 把 被 等 也 都 就 还 要 会 能 可以 应当 什么 怎么 怎样 如何 哪些 哪个 哪 多少 几
    吗 呢 吧 啊 么 请问 请 我 我们 你 你们 他 她 它 他们 这 那 这个 那个 这些 那些 一个 没有 是否 是不是 有没有 规定 有关
    相关 内容 方面 情况 问题 进行 开展 工作 怎么办 为什么 什么样 哪里 时候 多久 可 该 其 之 所 以 于 由 从 向 按照 根据
    依照 依法 中 上 下 里 后 前 时 去年 今年 说 讲 做 做了 做过 了解 告诉 一下 具体 主要 哪几 多 少 个 条 项 款""".split()
)


def normalize_ws(text: str) -> str:
    """Text without any whitespace: the form in which passages are compared for 'verbatim'."""
    return _SPACE.sub("", text.replace("\u200b", ""))


def sentence_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """(start, end) of each sentence of ``text[start:end]``, trimmed of surrounding whitespace."""
    end = len(text) if end is None else end
    spans: list[tuple[int, int]] = []
    pos = start
    for m in _SENTENCE_END.finditer(text, start, end):
        spans.append((pos, m.end()))
        pos = m.end()
    if pos < end:
        spans.append((pos, end))
    out = []
    for s, e in spans:
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if e > s:
            out.append((s, e))
    return out


@lru_cache(maxsize=1 << 17)
def _cut_block(block: str) -> tuple[str, ...]:
    return tuple(jieba.lcut_for_search(block))


def _cut(text: str) -> list[str]:
    """``jieba.lcut_for_search(text)``, cached per block.

    jieba cuts each run of Han characters, letters and digits (its ``re_han_default``) on its own and passes
    everything between them through, so cutting block by block gives the same words. Caching blocks rather
    than whole texts lets a clause that recurs across passages (a replicated corpus, a report quoting a law)
    be segmented once.
    """
    out: list[str] = []
    for block in jieba.re_han_default.split(text):
        if block:
            out += _cut_block(block)
    return out


def tokens(text: str) -> list[str]:
    """Search tokens: jieba's search-mode words plus single Han characters of unknown words, no stopwords.

    Search mode emits both 未成年人 and 未成年/成年人, so a question's wording and the law's wording meet
    more often than with plain ``lcut``. Traditional characters are read as simplified (OpenCC, about 6 µs per
    400 characters), so a traditional-script report and a simplified question meet on the same words.
    """
    out = []
    for w in _cut(to_simplified(text)):
        w = w.strip().lower()
        if not w or _PUNCT.fullmatch(w) or w in STOPWORDS:
            continue
        out.append(w)
    return out


def bm25_tokens(text: str) -> list[str]:
    """What the keyword index sees: jieba search-mode words plus character bigrams.

    Bigrams let a paraphrase still meet the law's wording half-way (学生欺凌 / 欺凌学生), which jieba's
    words alone miss; on the dev set the mix beat either alone (see docs/benchmarks.md).
    """
    grams = []
    for run in _HAN_RUN.findall(to_simplified(text).lower()):
        grams += [run[i : i + 2] for i in range(len(run) - 1)] or [run]
    return tokens(text) + grams


def paragraph_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each paragraph (款) of an article's text; paragraphs are separated by blank lines. The
    chat (assistant/answer.py) and the checker both read 款 with this, so they agree.

    Items （一）（二）… are part of the paragraph that introduces them, as in the official numbering of 款.
    """
    spans: list[tuple[int, int]] = []
    pos = 0
    for m in re.finditer(r"\n\s*\n", text + "\n\n"):
        if text[pos : m.start()].strip():
            is_item = re.match(r"\s*[（(][一二三四五六七八九十]+[）)]", text[pos:])
            if is_item and spans:
                spans[-1] = (spans[-1][0], m.start())
            else:
                spans.append((pos, m.start()))
        pos = m.end()
    return spans
