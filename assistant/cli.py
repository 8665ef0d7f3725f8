"""Command line: ``assistant ingest | ask | eval | docs | check | serve``. Thin: every command calls the library."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from assistant.settings import Settings


def _print_json(obj) -> None:
    print(json.dumps(obj, ensure_ascii=False))


def _settings(args) -> Settings:
    return Settings(**({"index_dir": Path(args.index)} if getattr(args, "index", None) else {}))


def _engine(args, settings: Settings | None = None):
    from assistant.engine import Engine

    return Engine(settings or _settings(args))


def cmd_ingest(args) -> int:
    """Exit status 75 (EX_TEMPFAIL: try again later) when another ingest is writing the same index."""
    from ingest.pipeline import IngestBusy, ingest_lock, lock_folder

    settings = _settings(args)
    try:
        # Taken before the engine opens Chroma: a second writer must not even open a folder being written.
        with ingest_lock(lock_folder(settings)):
            report = _engine(args, settings).ingest(args.paths or None, progress=not args.quiet)
    except IngestBusy as e:
        print(f"错误 / error: {e}", file=sys.stderr)
        return 75
    if args.json:
        _print_json(report.to_json())
    else:
        print(report.summary())
    return 0


def cmd_ask(args) -> int:
    if not args.question and not args.batch:
        print("请给出问题，或用 --batch FILE.jsonl", file=sys.stderr)
        return 2
    engine = _engine(args)
    built = engine.ensure_index(progress=True)
    if built:
        print(f"索引为空，已从默认文件夹建立索引：\n{built.summary()}", file=sys.stderr)
    filters = {"doc": args.doc, "doc_type": args.type, "k": args.k}
    if args.batch:
        with open(args.batch, encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    item = json.loads(line)
                except json.JSONDecodeError as e:
                    print(f"{args.batch}:{lineno}: invalid JSON: {e}", file=sys.stderr)
                    return 2
                ans = engine.ask(item.get("question", ""), qid=item.get("id"), **filters)
                _print_json(ans.to_json()) if args.json else _print_text(ans)
        return 0
    if args.stream:
        _stream(engine, args.question, args.history, filters, args.json)
        return 0
    ans = engine.ask(args.question, history=args.history, **filters)
    _print_json(ans.to_json()) if args.json else _print_text(ans)
    return 0


def _stream(engine, question: str, history: list[str] | None, filters: dict, as_json: bool) -> None:
    """Print a model's checked sentences as they pass, then the rest of the answer and its sources.

    With --json: one line per partial answer (``{"partial": true, "answer", "mode"}``), then the final object.
    Without a model configured there is one, final, answer.
    """
    shown = ""
    for ans in engine.ask_stream(question, history=history, **filters):
        if as_json:
            _print_json(ans.to_json() if ans.final else {"partial": True, "answer": ans.answer, "mode": ans.mode})
            continue
        if not shown and ans.rewritten:
            print(f"（问题理解为：{ans.rewritten}）", flush=True)
        text = ans.answer
        delta = text[len(shown):] if text.startswith(shown) else ("\n" if shown else "") + text
        print(delta, end="" if not ans.final else "\n", flush=True)
        shown = text
        if ans.final:
            _print_text(ans, answer=False)


def _print_text(ans, answer: bool = True) -> None:
    if answer:
        if ans.rewritten:
            print(f"（问题理解为：{ans.rewritten}）")
        print(ans.answer)
    if ans.note:
        print(f"（{ans.note}）")
    for c in ans.citations:
        where = " > ".join(p for p in (c.chunk.section, c.chunk.article or "") if p)
        print(f"\n[{c.n}] 《{c.chunk.doc}》 {where}\n    {c.chunk.text}")
    mode = "，大模型撰写、逐句核对" if ans.mode == "llm" else ""
    print(f"\n({ans.ms:.0f} ms{mode})")


def cmd_eval(args) -> int:
    from assistant.evaluate import evaluate, evaluate_articles, format_article_report, format_report, load_questions

    engine = _engine(args)
    engine.ensure_index(progress=True)
    if any("expect" in q for q in load_questions(args.file)):  # a set of article questions
        result, text = evaluate_articles(engine, args.file), format_article_report
    else:
        result, text = evaluate(engine, args.file, k=args.k, mode=args.mode), format_report
    _print_json(result) if args.json else print(text(result))
    return 0


def cmd_docs(args) -> int:
    engine = _engine(args)
    rows = engine.store.documents()
    if args.json:
        _print_json(rows)
    else:
        for r in rows:
            print(f"{r['doc_type']:<10} {r['chunks']:>5}  {r['doc']}  {r['info'][:60]}")
    return 0


def cmd_check(args) -> int:
    from assistant import checker

    engine = _engine(args)
    engine.ensure_index(progress=True)
    if args.map:
        result = checker.citation_map(engine)
        _print_json(result) if args.json else print(checker.format_map(result))
        return 0
    try:
        if args.doc:
            report = checker.check_document(engine, args.doc)
        elif args.source:
            report = checker.check_text(engine, _text_or_file(args.source))
        else:
            print("请给出要核查的文字或文件，或用 --doc TITLE / --map", file=sys.stderr)
            return 2
    except ValueError as e:  # unknown --doc title, unreadable file
        print(e, file=sys.stderr)
        return 2
    _print_json(report.to_json()) if args.json else print(checker.format_report(report))
    return 0


def _text_or_file(arg: str) -> str:
    """The argument is a file path if such a file exists, else the text itself."""
    if not Path(arg).is_file():
        return arg
    from ingest.loaders import LoadError, load

    try:
        return load(arg).text
    except LoadError as e:
        raise ValueError(str(e)) from None


def cmd_serve(args) -> int:
    from assistant.ui import serve

    serve(Settings())
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="assistant", description="政策文件问答：带原文引用的回答")
    sub = p.add_subparsers(dest="command", required=True)

    def common(sp):
        sp.add_argument("--index", help="index folder (default: setting ASSISTANT_INDEX_DIR)")
        sp.add_argument("--json", action="store_true", help="machine-readable output")

    sp = sub.add_parser("ingest", help="add or update documents in the index")
    sp.add_argument("paths", nargs="*", help="files or folders (default: ASSISTANT_DOCS_DIRS)")
    sp.add_argument("--quiet", action="store_true", help="no progress bar")
    common(sp)
    sp.set_defaults(func=cmd_ingest)

    sp = sub.add_parser("ask", help="answer a question with cited passages")
    sp.add_argument("question", nargs="?")
    sp.add_argument("--batch", help="JSONL file of {id, question} lines; one JSON answer per line")
    sp.add_argument("--k", type=int, default=None, help="passages to retrieve (default 5)")
    sp.add_argument("--doc", help="only this document (title)")
    sp.add_argument("--type", choices=["report", "law", "regulation", "other"], help="only this document type")
    sp.add_argument("--stream", action="store_true",
                    help="print a model's checked sentences as they arrive (LLM mode; see docs/llm.md)")
    sp.add_argument("--history", action="append", metavar="QUESTION",
                    help="an earlier question of the conversation (repeatable, oldest first): LLM mode rewrites a "
                         "follow-up into a standalone question")
    common(sp)
    sp.set_defaults(func=cmd_ask)

    sp = sub.add_parser("eval", help="score a question set (JSONL with answerable/expected)")
    sp.add_argument("file")
    sp.add_argument("--k", type=int, default=5)
    sp.add_argument("--mode", choices=["hybrid", "bm25", "dense"], default="hybrid")
    common(sp)
    sp.set_defaults(func=cmd_eval)

    sp = sub.add_parser("docs", help="list the ingested documents")
    common(sp)
    sp.set_defaults(func=cmd_docs)

    sp = sub.add_parser("check", help="verify 《…》第N条 citations against the corpus")
    sp.add_argument("source", nargs="?", help="text to check, or a file path (if such a file exists)")
    sp.add_argument("--doc", help="check an ingested document (title)")
    sp.add_argument("--map", action="store_true", help="which document cites which, and where")
    common(sp)
    sp.set_defaults(func=cmd_check)

    sp = sub.add_parser("serve", help="start the Gradio app")
    sp.set_defaults(func=cmd_serve)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, ConnectionError) as e:  # configuration problems: a message, not a traceback
        print(f"错误 / error: {e}", file=sys.stderr)
        return 2
