"""One tuned setting at several values, on several question sets: how each value answers.

    python bench/tuning.py retrieval.keyword_weight 0.6,0.7,0.8 data/eval/laws_dev.jsonl data/eval/answers.jsonl \
        --index DIR

The setting is named as in assistant/settings.py (``retrieval.keyword_weight``, ``compose.deciding_boost``,
``answer.multi_report_share``, ``min_score``…). Tune on dev sets only; run the held-out sets once, at the end.
Prints, per value, "right" (the expected sentence quoted with no other body's report cited, or rightly refused),
hit@1 and quotes for each set, and the sum of "right" over the sets.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from assistant.engine import Engine  # noqa: E402
from assistant.evaluate import evaluate  # noqa: E402
from assistant.settings import Settings  # noqa: E402


def with_setting(settings: Settings, name: str, value: str) -> Settings:
    """A copy of ``settings`` with the dotted setting ``name`` set to ``value`` (validated like the environment)."""
    data = settings.model_dump()
    *path, last = name.split(".")
    node = data
    for part in path:
        node = node[part]
    if last not in node:
        raise SystemExit(f"no setting {name!r}")
    node[last] = value
    return Settings.model_validate(data)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("setting")
    ap.add_argument("values", help="comma-separated")
    ap.add_argument("questions", nargs="+")
    ap.add_argument("--index", default=None)
    args = ap.parse_args()
    base = Settings(**({"index_dir": Path(args.index)} if args.index else {}))
    for value in args.values.split(","):
        engine = Engine(with_setting(base, args.setting, value))
        total, cells = 0.0, []
        for path in args.questions:
            r = evaluate(engine, path)
            total += r["right"]
            cells.append(f"{Path(path).stem} right {r['right']:.3f} hit@1 {r['hit@1']:.3f} cit.prec {r['citation_precision'] or 0:.3f} "
                         f"quotes {r['answer_quotes_expected']:.3f}")
        print(f"{args.setting}={value}  sum right {total:.3f}  |  " + "  |  ".join(cells), flush=True)


if __name__ == "__main__":
    main()
