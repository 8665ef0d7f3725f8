"""The sentence check's thresholds against data/eval/llm_sentences.jsonl (LLM-style sentences, labelled).

    python bench/llm_support.py [--index DIR]

Prints every item's support, best rival and the reasons it was rejected, then accuracy at several values of
MIN_SUPPORT and RIVAL_MARGIN (assistant/verify.py). Asserts nothing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from assistant import verify  # noqa: E402
from assistant.engine import Engine  # noqa: E402
from assistant.settings import PROJECT_ROOT, Settings  # noqa: E402

SET = PROJECT_ROOT / "data" / "eval" / "llm_sentences.jsonl"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--index", default=None)
    args = ap.parse_args()
    engine = Engine(Settings(**({"index_dir": Path(args.index)} if args.index else {})))
    engine.ensure_index(progress=False)
    rows = []
    for item, passages in verify.labelled_cases(engine, SET):
        c = verify.check_sentence(engine, item["sentence"], passages, min_support=0.0, rival_margin=9.0)
        other = [r for r in c.reasons if not r.startswith(("weak_support", "rival"))]
        rows.append((item, c, other))
        print(f"{item['id']} {'+' if item['supported'] else '-'} {item['why']:<17} support {c.support if c.support is not None else float('nan'):.3f} "
              f"rival {c.rival if c.rival is not None else float('nan'):.3f}  {' '.join(other)}  {item['sentence'][:40]}")
    print(f"\n{len(rows)} sentences, {sum(i['supported'] for i, _, _ in rows)} labelled supported")
    print(f"{'min_support':>11} {'margin':>7} {'accuracy':>9} {'false accept':>13} {'false reject':>13}")
    for th in (0.40, 0.42, 0.45, 0.48, 0.50, 0.52, 0.55, 0.60):
        for margin in (0.05, 0.08, 0.10, 0.12, 0.15, 0.20):
            fa = fr = 0
            for item, c, other in rows:
                ok = not other and c.support is not None and c.support >= th and (
                    c.rival is None or c.rival - c.support <= margin)
                fa += ok and not item["supported"]
                fr += (not ok) and item["supported"]
            mark = "  ← current" if (th, margin) == (verify.MIN_SUPPORT, verify.RIVAL_MARGIN) else ""
            print(f"{th:>11.2f} {margin:>7.2f} {1 - (fa + fr) / len(rows):>9.3f} {fa:>13d} {fr:>13d}{mark}")


if __name__ == "__main__":
    main()
