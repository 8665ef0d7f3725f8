"""Retrieval, answer and refusal quality on a question set: hybrid vs BM25-only vs dense-only, what the answers
quote and cite per question type, and the refusal trade-off at several thresholds.

    python bench/quality.py [QUESTIONS.jsonl] [--index DIR]

Builds the index from the default folders if it is empty. Prints figures only; asserts nothing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from assistant.engine import Engine  # noqa: E402
from assistant.evaluate import evaluate, load_questions  # noqa: E402
from assistant.settings import PROJECT_ROOT, Settings  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("questions", nargs="?", default=str(PROJECT_ROOT / "data" / "eval" / "dev.jsonl"))
    ap.add_argument("--index", default=None)
    ap.add_argument("--k", type=int, default=5)
    args = ap.parse_args()
    settings = Settings(**({"index_dir": Path(args.index)} if args.index else {}))
    engine = Engine(settings)
    engine.ensure_index(progress=False)

    print(f"question set: {args.questions}")
    print(f"{'mode':<8} {'hit@1':>6} {'hit@' + str(args.k):>6} {'MRR':>6} {'quotes':>7} {'cit.prec':>8} {'refused':>8} "
          f"{'false ref':>9} {'verbatim':>8} {'p50 ms':>7} {'p95 ms':>7}")
    results = {}
    for mode in ("hybrid", "bm25", "dense"):
        r = results[mode] = evaluate(engine, args.questions, k=args.k, mode=mode)
        print(f"{mode:<8} {r['hit@1']:>6.3f} {r[f'hit@{args.k}']:>6.3f} {r['mrr']:>6.3f} "
              f"{r['answer_quotes_expected']:>7.3f} {r['citation_precision'] or 0:>8.3f} "
              f"{r['refusal_accuracy'] or 0:>8.3f} {r['false_refusals']:>9d} {r['citations_verbatim'] or 0:>8.3f} "
              f"{r['p50_ms']:>7.1f} {r['p95_ms']:>7.1f}")
    print("(quotes: the answer quotes the expected sentence(s), every one for lists; cit.prec: cited passages that are "
          "expected passages)")

    print("\nhybrid, per question type (labelled type, else assistant.intent's):")
    print(f"{'type':<11} {'n':>3} {'quotes':>7} {'cit.prec':>8} {'hit@1':>6}")
    for t, g in results["hybrid"]["by_type"].items():
        print(f"{t:<11} {g['questions']:>3} {g['answer_quotes_expected']:>7.3f} {g['citation_precision'] or 0:>8.3f} "
              f"{g['hit@1']:>6.3f}")

    # Refusal trade-off: the whole answerability decision (score threshold + answer-type check) at
    # several thresholds, on the questions without an explicit article (those are decided by lookup).
    questions = [q for q in load_questions(args.questions) if q.get("kind") != "article"]
    n_out = sum(1 for q in questions if not q.get("answerable", True)) or 1
    print(f"\nrefusal trade-off ({len(questions)} questions without an explicit article; "
          f"current min_score {settings.min_score}):")
    print(f"{'min_score':>9} {'out-of-scope refused':>21} {'false refusals':>15}")
    for th in (0.40, 0.43, 0.45, 0.48, 0.50, 0.53, 0.55, 0.58):
        at = Engine(settings.model_copy(update={"min_score": th}))  # the setting varied, not the attribute
        found = [(at.ask(q["question"]).found, bool(q.get("answerable", True))) for q in questions]
        refused_out = sum(1 for f, a in found if not a and not f) / n_out
        false_ref = sum(1 for f, a in found if a and not f)
        print(f"{th:>9.2f} {refused_out:>21.3f} {false_ref:>15d}")


if __name__ == "__main__":
    main()
