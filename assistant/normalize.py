"""The form of a question that retrieval and the citation parser see; the question shown back stays as typed.

The corpus is simplified Chinese, so a question in traditional characters (未成年人保護法第三十九條) would miss
the article lookup and fall through to fuzzy retrieval, which may quote another law's 第三十九条. Invisible
characters (zero-width spaces from copy-paste, bidi overrides, control codes) split words for jieba and the
parser without changing what the reader sees. Only the question is normalised: stored passages stay
verbatim, so every quote can still be found in its file.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache

import opencc

#: "article 39" / "Art. 39" in a mixed Chinese–English question → 第39条, which the citation parser reads.
_ENGLISH_ARTICLE = re.compile(r"(?<![A-Za-z])(?:article|art\.)\s*(\d{1,4})(?!\d)", re.IGNORECASE)
_KEEP_CONTROLS = {"\n", "\t"}
_SURROGATE = re.compile("[\ud800-\udfff]")


@cache
def _t2s() -> opencc.OpenCC:
    """OpenCC's traditional→simplified converter (character and phrase tables), loaded once per process."""
    return opencc.OpenCC("t2s")


def replace_surrogates(text: str) -> str:
    """Lone surrogates (bytes that were not UTF-8, e.g. a GBK terminal's argv) → U+FFFD, so the question can
    still be printed and sent as JSON; the encoder raises on them otherwise."""
    return _SURROGATE.sub("\ufffd", text)


def strip_invisible(text: str) -> str:
    """``text`` without format (Cf: U+200B, U+FEFF, U+202E …) and control (Cc) characters, line breaks kept."""
    return "".join(ch for ch in text if ch in _KEEP_CONTROLS or unicodedata.category(ch) not in ("Cf", "Cc"))


def to_simplified(text: str) -> str:
    """Traditional → simplified Chinese with OpenCC ``t2s``; identity on the corpus's own (simplified) text."""
    return _t2s().convert(text) if text else text


def for_matching(question: str) -> str:
    """The question as the matcher needs it: invisible characters dropped, traditional → simplified,
    "article N" → 第N条. Callers bound the length first: this is linear, but there is no reason to convert
    a question that is refused as too long."""
    text = to_simplified(strip_invisible(question)).strip()
    return _ENGLISH_ARTICLE.sub(r"第\1条", text)


def has_words(text: str) -> bool:
    """Whether ``text`` holds anything to search for (a Han character, letter or digit), not only
    punctuation, emoji or symbols; those get a request to rephrase instead of a search that cannot match."""
    return any(ch.isalnum() for ch in text)
