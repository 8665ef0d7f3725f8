"""How people ask → how the documents say it. Used on the keyword side only.

USE embeds the question as typed; BM25 only matches words the documents contain. Users say 欺负, 受伤,
多久, 开罚单; the laws say 欺凌, 人身损害, 日内, 当场作出行政处罚决定. Each entry maps a phrase found
anywhere in the question to terms of the documents. Kept to general legal and administrative vocabulary
and question forms (time limits, kinds, definitions), never to one question's answer.

The entries live in assistant/synonyms.tsv, each with where it came from and what it measurably earns on the dev and
held-out question sets (``python bench/synonyms_audit.py``); an entry that helped exactly one dev question, or hurt
more than it helped, was dropped.
"""

from __future__ import annotations

import csv
from pathlib import Path

#: The map's data file: one entry a line with its source and what it measurably earns (bench/synonyms_audit.py).
SYNONYMS_FILE = Path(__file__).resolve().with_suffix(".tsv")


def load(path: Path = SYNONYMS_FILE) -> dict[str, tuple[str, ...]]:
    """phrase → document terms, from the TSV (comment lines start with #; columns phrase, terms, source, measured)."""
    out: dict[str, tuple[str, ...]] = {}
    with open(path, encoding="utf-8") as f:
        rows = csv.DictReader((line for line in f if not line.startswith("#")), delimiter="\t")
        for row in rows:
            out[row["phrase"]] = tuple(t for t in row["terms"].split(",") if t)
    return out


SYNONYMS: dict[str, tuple[str, ...]] = load()


def expansions(question: str) -> dict[str, tuple[str, ...]]:
    """The entries whose phrase occurs in the question."""
    return {k: v for k, v in SYNONYMS.items() if k in question}
