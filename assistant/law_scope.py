"""Which laws' subject a question is about, read from the laws themselves (issue 19).

In a library of 1,500 laws, a question's words also occur in laws about other fields: 「罚款在多少钱以下可以当场作出处罚
决定？」 finds 海警法 and 道路交通安全法 (each has its own on-the-spot fines) before 行政处罚法第五十一条; 「对复议决定不服，要在
多长时间内去法院起诉？」 finds 矿山安全法. A law states its own subject in its title (行政处罚), its chapter headings
(学校保护, 网络保护) and its scope articles (「…适用本法」, 「本法所称…是指…」). A question whose words meet a law's subject
is about that law's field; a law whose subject the question does not touch at all is a law for another field (a
special law), and its passages should not answer before the general law's.

:class:`LawScopes` keeps, per legal document, the set of words of its title, headings and scope articles (the version
in force), and scores a question against each: the IDF-weighted share of the question's words found in the law's
subject (IDF over laws, so 法 or 规定 count for nothing and 复议 for a lot). Nothing here names a law: the table is
built from whatever documents are in the index.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from assistant.schema import LEGAL_TYPES
from assistant.textutil import tokens

#: An article that says what the law covers or what its terms mean.
SCOPE_ARTICLE = re.compile(r"适用本(?:法|条例|规定|办法|细则|决定)|本(?:法|条例|规定|办法|细则|决定)所称|适用范围")
_LABEL = re.compile(r"^第[一二三四五六七八九十百零〇]+(?:分编|[编章节])\s*")
_PREFIX = "中华人民共和国"


def _subject_words(text: str) -> set[str]:
    return {t for t in tokens(text) if len(t) > 1}


class LawScopes:
    """Per legal document, the words of its subject; built once per index load, on first use."""

    def __init__(self, table: dict, spans: Sequence[tuple[int, int, int]], hidden: np.ndarray,
                 scope_articles: int) -> None:
        """``table``: the chunk table's columns (keyword_index._columns); ``spans``: (file, first row, end row)."""
        bags: dict[str, set[str]] = {}
        heads: dict[str, set[str]] = {}
        seen_articles: Counter[str] = Counter()
        files, sections, articles, texts = table["files"], table["section"], table["article"], table["texts"]
        for f, a, b in spans:
            doc, doc_type = files[f]["doc"], files[f]["doc_type"]
            if doc_type not in LEGAL_TYPES:
                continue
            bag = bags.get(doc)
            if bag is None:
                bag = bags[doc] = _subject_words(doc.removeprefix(_PREFIX))
                heads[doc] = set()
            for i in range(a, b):
                if hidden[i]:
                    continue
                for part in sections[i].split(" > ") if sections[i] else ():
                    if part not in heads[doc]:
                        heads[doc].add(part)
                        bag |= _subject_words(_LABEL.sub("", part))
                if articles[i]:
                    seen_articles[doc] += 1
                    if seen_articles[doc] <= scope_articles and SCOPE_ARTICLE.search(texts[i]):
                        bag |= _subject_words(texts[i])
        self._index(bags)

    @classmethod
    def load(cls, path: Path) -> LawScopes:
        """The bags saved by :meth:`save` (a library's take 2 s of jieba to build: a one-question command reads them)."""
        scopes = cls.__new__(cls)
        scopes._index({law: set(words) for law, words in json.loads(path.read_text(encoding="utf-8")).items()})
        return scopes

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
        tmp.write_text(json.dumps({law: sorted(words) for law, words in self.bags.items()}, ensure_ascii=False),
                       encoding="utf-8")
        os.replace(tmp, path)

    def _index(self, bags: dict[str, set[str]]) -> None:
        self.bags = bags
        df: Counter[str] = Counter()
        for bag in bags.values():
            df.update(bag)
        n = max(len(bags), 1)
        self.idf = {t: math.log((n + 1) / (d + 0.5)) for t, d in df.items()}
        self._unknown = math.log(n + 1) if bags else 0.0

    def scores(self, question_words: Sequence[str], laws: Sequence[str]) -> dict[str, float]:
        """Law → the IDF-weighted share of the question's words that its subject has (0 … 1)."""
        words = {w for w in question_words if len(w) > 1}
        weights = {w: self.idf.get(w, self._unknown) for w in words}
        total = sum(weights.values())
        if not total:
            return {}
        return {law: sum(wt for w, wt in weights.items() if w in self.bags.get(law, ())) / total for law in laws}
