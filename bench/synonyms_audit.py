"""What each entry of the everyday-words map (assistant/synonyms.tsv) earns: answers with and without it.

For every entry, the questions of the answer-level sets whose text contains its phrase are answered twice, with
the map as it is and with that one entry removed; an entry "helps" a question when the expected sentence is quoted
with it and not without it (and "hurts" the other way round). Only questions containing the phrase can change, so
each entry costs a handful of questions. Prints one row per entry, dev and held-out apart:

    python bench/synonyms_audit.py [--index DIR] 

An entry that helps no held-out question and exactly one dev question was fitted to that question (issue 14);
docs/benchmarks.md records the run and what was dropped.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from assistant import synonyms  # noqa: E402
from assistant.engine import Engine  # noqa: E402
from assistant.evaluate import answer_quotes, load_questions  # noqa: E402
from assistant.settings import Settings  # noqa: E402

DEV = ("answers", "answers_dev2", "laws_dev", "bodies_dev")
HELD_OUT = ("answers_holdout", "laws_holdout", "bodies_holdout")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--index", default=None, help="index folder (default: the settings' index)")
    args = ap.parse_args()
    engine = Engine(Settings(**({"index_dir": Path(args.index)} if args.index else {})))
    sets = {name: [q for q in load_questions(ROOT / "data" / "eval" / f"{name}.jsonl") if q.get("answerable", True)]
            for name in DEV + HELD_OUT}

    def quoted(q: dict) -> bool:
        return answer_quotes(engine.ask(q["question"], history=q.get("history") or None), q)

    full = dict(synonyms.SYNONYMS)
    print("phrase\tdev_questions\theld_out_questions\tdev_helped\tdev_hurt\theld_out_helped\theld_out_hurt")
    for phrase in full:
        rows = {"dev": [0, 0, 0], "held_out": [0, 0, 0]}  # questions, helped, hurt
        for group, names in (("dev", DEV), ("held_out", HELD_OUT)):
            for name in names:
                for q in sets[name]:
                    text = " ".join([q["question"], *(q.get("history") or [])])
                    if phrase not in text:
                        continue
                    with_entry = quoted(q)
                    synonyms.SYNONYMS = {k: v for k, v in full.items() if k != phrase}
                    try:
                        without = quoted(q)
                    finally:
                        synonyms.SYNONYMS = full
                    rows[group][0] += 1
                    rows[group][1] += with_entry and not without
                    rows[group][2] += without and not with_entry
        d, h = rows["dev"], rows["held_out"]
        print(f"{phrase}\t{d[0]}\t{h[0]}\t{d[1]}\t{d[2]}\t{h[1]}\t{h[2]}", flush=True)


if __name__ == "__main__":
    main()
