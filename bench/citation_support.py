"""How well `assistant check` flags a citation whose article says something else: the mismatch flag against
labelled citing sentences (data/eval/citations_labelled.jsonl), and the trade-off over the thresholds.

    python bench/citation_support.py [LABELLED.jsonl] [--index DIR]

A sentence is labelled faithful (the cited article says what the sentence claims) or unfaithful (another topic,
the neighbouring article's duty, another article of the same law, or an overclaim). Prints figures only.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from assistant import checker  # noqa: E402
from assistant.engine import Engine  # noqa: E402
from assistant.evaluate import load_questions  # noqa: E402
from assistant.settings import PROJECT_ROOT, Settings  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("labelled", nargs="?", default=str(PROJECT_ROOT / "data" / "eval" / "citations_labelled.jsonl"))
    ap.add_argument("--index", default=None)
    args = ap.parse_args()
    engine = Engine(Settings(**({"index_dir": Path(args.index)} if args.index else {})))
    engine.ensure_index(progress=False)

    rows = []
    for item in load_questions(args.labelled):
        cites = checker.check_text(engine, item["text"]).citations
        c = next((c for c in cites if c.resolved_title == item["cited"]["doc"]), None)
        rows.append((item, c))
    scored = [(item, c) for item, c in rows if c is not None and c.support is not None]
    print(f"{args.labelled}: {len(rows)} sentences, {len(scored)} with a support score")
    right = Counter()
    for item, c in scored:
        ok = c.mismatch == (item["label"] == "unfaithful")
        right[item["kind"], ok] += 1
        if not ok:
            print(f"  wrong: {item['id']} {item['kind']:<15} support {c.support:.2f} rival {c.rival or 0:.2f}  {item['text'][:50]}")
    kinds = sorted({k for k, _ in right})
    print("per kind (flag right / all): " + ", ".join(f"{k} {right[k, True]}/{right[k, True] + right[k, False]}" for k in kinds))
    total = sum(right.values())
    print(f"mismatch flag right: {sum(v for (k, ok), v in right.items() if ok)}/{total} "
          f"= {sum(v for (k, ok), v in right.items() if ok) / max(total, 1):.3f}   "
          f"(threshold {checker.MISMATCH_THRESHOLD}, rival margin {checker.RIVAL_MARGIN})")

    print("\ntrade-off (flag = support < threshold, or a rival article of the same law beats the cited one by margin,"
          "\nor the sentence gives a quantity the article does not; margin none = no rival comparison):")
    print(f"{'threshold':>9} {'margin':>7} {'right':>6} {'faithful flagged':>17} {'unfaithful missed':>18}")
    for th in (0.35, 0.40, 0.45, 0.50, 0.55):
        for margin in (0.0, 0.05, 0.10, None):
            ok = ff = um = 0
            for item, c in scored:
                flag = (c.support < th or (margin is not None and c.rival is not None and c.rival - c.support > margin)
                        or bool(c.unstated))
                faithful = item["label"] == "faithful"
                ok += flag != faithful
                ff += flag and faithful
                um += not flag and not faithful
            label = "none" if margin is None else f"{margin:.2f}"
            print(f"{th:>9.2f} {label:>7} {ok / len(scored):>6.3f} {ff:>17d} {um:>18d}")


if __name__ == "__main__":
    main()
