"""LLM mode against extractive answers on answer-level question sets: quotes of the deciding sentence, refusals,
how often the model's answer was shown and how often it fell back, sentences kept / removed, time.

    python bench/llm_mode.py [SET.jsonl ...] [--base-url URL --model NAME] [--index DIR] [--json OUT]

Without --base-url it starts the local llama.cpp server with Gemma 3 270M (assistant/llm_local.py; the ``llm``
extra). Default set: data/eval/answers_holdout.jsonl. Prints figures only; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from collections import Counter
from contextlib import nullcontext
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from assistant.engine import Engine  # noqa: E402
from assistant.evaluate import evaluate  # noqa: E402
from assistant.settings import PROJECT_ROOT, Settings  # noqa: E402


def llm_stats(result: dict) -> dict:
    """Mode counts and the check's verdicts over the rows of an evaluate() run in LLM mode."""
    rows = [r for r in result["rows"] if r["found"]]
    asked = [r for r in rows if "llm" in r["reasons"]]
    shown = [r for r in asked if not r["reasons"].get("llm_fell_back")]
    checked = [c for r in asked for c in r["reasons"]["llm"]["checked"]]
    why = Counter(re.sub(r":.*", "", reason) for c in checked for reason in c["reasons"])
    return {"answered": len(rows), "model_asked": len(asked), "model_answer_shown": len(shown),
            "fell_back": len(asked) - len(shown), "sentences": len(checked),
            "sentences_kept": sum(c["supported"] for c in checked), "rejected_because": dict(why.most_common())}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("sets", nargs="*", default=[str(PROJECT_ROOT / "data" / "eval" / "answers_holdout.jsonl")])
    ap.add_argument("--base-url", default=None)
    ap.add_argument("--model", default=None)
    ap.add_argument("--index", default=None)
    ap.add_argument("--json", default=None, help="write the figures (and every LLM-mode answer) here")
    args = ap.parse_args()
    base = {"index_dir": Path(args.index)} if args.index else {}
    extractive = Engine(Settings(**base))
    extractive.ensure_index(progress=False)
    if args.base_url:
        server = nullcontext(args.base_url)
    else:
        from assistant.llm_local import gemma_model, llama_server

        folder = Path(tempfile.mkdtemp(prefix="llm-bench-"))
        server = llama_server(gemma_model(folder), folder / "server.log")
    out = {}
    with server as url:
        llm = Engine(Settings(**base, llm_base_url=url, llm_model=args.model))
        print(f"model server {url}")
        print(f"{'set':<22} {'mode':<11} {'n':>3} {'quotes':>7} {'refusals ok':>11} {'false ref':>9} {'p50 s':>6} "
              f"{'model shown':>11} {'fell back':>9} {'kept/sentences':>15}")
        for path in args.sets:
            name = Path(path).name
            ex = evaluate(extractive, path)
            lm = evaluate(llm, path)
            stats = llm_stats(lm)
            for label, r in (("extractive", ex), ("llm", lm)):
                extra = (f"{stats['model_answer_shown']:>11d} {stats['fell_back']:>9d} "
                         f"{stats['sentences_kept']:>7d}/{stats['sentences']:<7d}") if label == "llm" else ""
                refusals = r["refusal_accuracy"] if r["refusal_accuracy"] is not None else float("nan")
                print(f"{name:<22} {label:<11} {r['questions']:>3d} {r['answer_quotes_expected']:>7.3f} "
                      f"{refusals:>11.3f} {r['false_refusals']:>9d} {r['p50_ms'] / 1000:>6.1f} {extra}")
            print(f"{'':<22} rejection reasons (a sentence can have several): {stats['rejected_because']}")
            out[name] = {"extractive": {k: v for k, v in ex.items() if k != "rows"},
                         "llm": {k: v for k, v in lm.items() if k != "rows"} | {"stats": stats},
                         "llm_answers": [{"id": r["id"], "answer": r["answer"]} for r in lm["rows"]]}
    if args.json:
        Path(args.json).write_text(json.dumps(out, ensure_ascii=False, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
