"""Command line: ``assistant ingest | ask | eval | docs | check | serve``. Thin: every command calls the library."""

from __future__ import annotations

import argparse
import errno
import gc
import json
import os
import sys
from pathlib import Path

from assistant import messages as msg
from assistant.index_lock import IngestBusy, ingest_lock, lock_folder
from assistant.normalize import replace_surrogates
from assistant.schema import DOC_TYPES
from assistant.settings import Settings

#: Longest argument still tried as a path: Linux refuses longer names (ENAMETOOLONG), so longer text is text.
_MAX_PATH = 4096
#: A text argument that looks like a file name (no spaces, a document suffix) but names no file is a typo,
#: not a text to check: checking the nine characters "draft.docx" would report "no citations" and mislead.
_FILE_SUFFIXES = (".txt", ".md", ".markdown", ".docx", ".pdf", ".html", ".htm", ".jsonl", ".json")


def _print_json(obj) -> None:
    print(json.dumps(obj, ensure_ascii=False))


def _settings(args) -> Settings:
    return Settings(**({"index_dir": Path(args.index)} if getattr(args, "index", None) else {}))


def _engine(args, settings: Settings | None = None):
    from assistant.engine import Engine

    return Engine(settings or _settings(args))


def cmd_ingest(args) -> int:
    """Exit status 75 (EX_TEMPFAIL: try again later) when another ingest is writing the same index."""
    for p in args.paths:
        if why := _unusable_path(p):
            print(msg.CLI_BAD_PATH.format(path=_short(p), why=why), file=sys.stderr)
            return 2
    settings = _settings(args)
    try:
        # Taken before the engine opens Chroma: a second writer must not even open a folder being written.
        with ingest_lock(lock_folder(settings)):
            report = _engine(args, settings).ingest(args.paths or None, progress=not args.quiet)
    except IngestBusy as e:
        print(msg.CLI_ERROR.format(message=e), file=sys.stderr)
        return 75
    if args.json:
        _print_json(report.to_json())
    else:
        print(report.summary())
    return 0


def cmd_ask(args) -> int:
    if not args.question and not args.batch:
        print(msg.CLI_NO_QUESTION, file=sys.stderr)
        return 2
    lines = _read_text_file(args.batch, msg.CLI_QUESTION_FILE) if args.batch else None  # a bad file fails before the engine loads
    engine = _engine(args)
    built = None
    if engine.store.count() == 0:  # counted once: 7 ms beside a library
        gc.enable()  # the index is built first: an ingest's memory is collected as usual
        built = engine.ensure_index(progress=True)
    if built:
        print(msg.CLI_BUILT_INDEX.format(summary=built.summary()), file=sys.stderr)
    args.wrote = bool(built)
    filters = {"doc": _clean(args.doc), "doc_type": args.type, "k": args.k}
    if lines is not None:
        for lineno, line in enumerate(lines.splitlines(), 1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError as e:
                print(msg.CLI_BATCH_BAD_JSON.format(file=args.batch, line=lineno, error=e), file=sys.stderr)
                return 2
            history = item.get("history") or None if isinstance(item, dict) else None
            if not isinstance(item, dict) or not isinstance(item.get("question", ""), str) or (
                    history is not None and not (isinstance(history, list) and all(isinstance(h, str) for h in history))):
                print(msg.CLI_BATCH_BAD_LINE.format(file=args.batch, line=lineno), file=sys.stderr)
                return 2
            ans = engine.ask(item.get("question", ""), qid=item.get("id"), history=history, **filters)
            _print_json(ans.to_json()) if args.json else _print_text(ans)
        return 0
    if args.stream:
        _stream(engine, _clean(args.question), args.history, filters, args.json)
        return 0
    ans = engine.ask(_clean(args.question), history=args.history, **filters)
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
        if not shown and ans.standalone:
            print(msg.CLI_STANDALONE.format(question=ans.standalone), flush=True)
        text = ans.answer
        delta = text[len(shown):] if text.startswith(shown) else ("\n" if shown else "") + text
        print(delta, end="" if not ans.final else "\n", flush=True)
        shown = text
        if ans.final:
            _print_text(ans, answer=False)


def _print_text(ans, answer: bool = True) -> None:
    if answer:
        if ans.standalone:
            print(msg.CLI_STANDALONE.format(question=ans.standalone))
        print(ans.answer)
    if ans.note:
        print(msg.CLI_NOTE.format(note=ans.note))
    for c in ans.citations:
        where = " > ".join(p for p in (c.chunk.section, c.chunk.article or "") if p)
        print(msg.CLI_SOURCE.format(n=c.n, doc=c.chunk.doc, where=where, text=c.chunk.text))
    mode = msg.CLI_MODE_LLM if ans.mode == "llm" else ""
    print(msg.CLI_TIME.format(ms=ans.ms, mode=mode))


def cmd_eval(args) -> int:
    from assistant.evaluate import evaluate, evaluate_articles, format_article_report, format_report

    questions = _question_set(args.file)  # a bad file fails before the engine loads
    engine = _engine(args)
    engine.ensure_index(progress=True)
    if any("expect" in q for q in questions):  # a set of article questions
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
    from assistant import checker, review

    if (args.annotate or args.report) and (args.doc or args.map):
        raise ValueError(msg.CLI_CHECK_BAD_OPTIONS)
    written = review.parse_date(args.date) if args.date else None
    draft = None
    if args.source is not None and not args.doc and not args.map:
        draft = _draft(args.source)  # before the engine: a missing file or binary input costs nothing
    source = Path(draft.path) if draft and draft.path else None
    annotate = _output(args.annotate, (".docx",), source, msg.CLI_ANNOTATED_DRAFT) if args.annotate else None
    report_out = _output(args.report, (".csv", ".docx"), source, msg.CLI_REVIEW_REPORT) if args.report else None
    engine = _engine(args)
    engine.ensure_index(progress=True)
    if args.map:
        result = checker.citation_map(engine)
        _print_json(result) if args.json else print(checker.format_map(result))
        return 0
    if args.doc:
        report = checker.check_document(engine, _clean(args.doc))
    elif draft is not None:
        report = review.check_draft(engine, draft, written)
    else:
        print(msg.CLI_NOTHING_TO_CHECK, file=sys.stderr)
        return 2
    result = report.to_json()
    try:
        if annotate:
            n = review.annotate(draft, result, annotate)
            print(msg.CLI_WROTE_ANNOTATED.format(count=n, path=annotate), file=sys.stderr)
        if report_out:
            review.write_report(result, report_out)
            print(msg.CLI_WROTE_REPORT.format(path=report_out), file=sys.stderr)
    except OSError as e:
        raise ValueError(msg.CLI_CANNOT_WRITE.format(file=e.filename or '', error=e.strerror or e)) from None
    _print_json(result) if args.json else print(checker.format_report(report))
    return 0


def _draft(arg: str):
    """The draft to check: ``-`` is standard input, an existing file is read as a draft (.docx/.txt/.md/.pdf; other
    readable types as plain text), anything else is the text itself."""
    from assistant import review
    from assistant.ingest.loaders import LoadError, load

    if arg == "-":
        return review.draft_from_text(_stdin_text(), msg.CLI_STDIN)
    if not _is_file(arg):
        if Path(arg).suffix.lower() in _FILE_SUFFIXES and not any(ch.isspace() for ch in arg) and len(arg) < 300:
            raise ValueError(msg.CLI_FILE_NOT_FOUND.format(path=_short(arg)))
        return review.draft_from_text(_clean(arg))
    if Path(arg).suffix.lower() in review.SUFFIXES:
        return review.read_draft(arg)
    try:
        return review.draft_from_text(load(arg).text, Path(arg).name)
    except LoadError as e:
        raise ValueError(str(e)) from None


def _output(arg: str, suffixes: tuple[str, ...], source: Path | None, what: str) -> Path:
    """An output path, checked before any work: its type, an existing folder, and never the draft itself."""
    if _unusable_path(arg):
        raise ValueError(msg.CLI_OUT_BAD_NAME.format(what=what, path=_short(arg)))
    out = Path(arg)
    if out.suffix.lower() not in suffixes:
        raise ValueError(msg.CLI_OUT_BAD_TYPE.format(what=what, suffixes=msg.CLI_OUT_TYPE_SEPARATOR.join(suffixes),
                                                    path=_short(arg)))
    if not out.parent.is_dir():
        raise ValueError(msg.CLI_OUT_NO_FOLDER.format(what=what, folder=out.parent))
    if out.is_dir():
        raise ValueError(msg.CLI_OUT_IS_FOLDER.format(what=what, path=out))
    if source is not None and out.exists() and os.path.samefile(out, source):
        raise ValueError(msg.CLI_OUT_IS_SOURCE.format(what=what, path=out))
    return out


def _clean(text: str | None) -> str | None:
    """User text with lone surrogates (argv bytes that were not UTF-8) replaced by U+FFFD, one for one, so offsets
    still match; the embedding model and the terminal both refuse them."""
    return None if text is None else replace_surrogates(text)


def _short(text: str, n: int = 60) -> str:
    """The start of a long argument, printable, for a message."""
    text = replace_surrogates(text).replace("\x00", "\\0")
    return text if len(text) <= n else msg.CLI_SHORTENED.format(start=text[:n], length=len(text))


def _unusable_path(arg: str) -> str | None:
    """Why the OS cannot look ``arg`` up at all (too long, NUL byte), or None. A path that merely does not exist
    is fine here: the caller reports that in its own words."""
    if "\x00" in arg:
        return msg.CLI_NUL
    try:
        os.stat(arg)
    except OSError as e:
        if e.errno == errno.ENAMETOOLONG:
            return msg.CLI_NAME_TOO_LONG
    except ValueError as e:
        return str(e)
    return None


def _is_file(arg: str) -> bool:
    """``Path(arg).is_file()`` that answers False instead of raising for text that cannot be a path (too long,
    NUL, a component over 255 bytes): ``check`` takes the text itself then."""
    if len(arg) > _MAX_PATH or "\n" in arg or "\x00" in arg:
        return False
    try:
        return Path(arg).is_file()
    except (OSError, ValueError):
        return False


def _stdin_text() -> str:
    """Standard input as text, through the same reader as a .txt file: encoding detected (UTF-8, GBK …), binary
    content and oversized input refused with a reason."""
    import tempfile

    from assistant.ingest.loaders import MAX_BYTES, LoadError, load

    raw = sys.stdin.buffer.read(MAX_BYTES + 1)
    if not raw.strip():
        raise ValueError(msg.CLI_STDIN_EMPTY)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / msg.CLI_STDIN_FILE
        path.write_bytes(raw)
        try:
            return load(path).text
        except LoadError as e:
            raise ValueError(msg.CLI_STDIN_BAD.format(reason=e.reason)) from None


def _read_text_file(path: str, what: str) -> str:
    """A UTF-8 text file (question sets), or ValueError saying why not: missing, a folder, unreadable, binary."""
    if why := _unusable_path(path):
        raise ValueError(msg.CLI_CANNOT_READ.format(what=what, path=_short(path), why=why))
    try:
        raw = Path(path).read_bytes()
    except OSError as e:
        raise ValueError(msg.CLI_CANNOT_READ.format(what=what, path=_short(path), why=e.strerror or e)) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValueError(msg.CLI_NOT_UTF8.format(what=what, path=_short(path))) from None
    if "\x00" in text:
        raise ValueError(msg.CLI_BINARY.format(what=what, path=_short(path)))
    return text


def _question_set(path: str) -> list[dict]:
    """A question set for ``eval``, checked line by line so that a bad line is named instead of failing later."""
    from assistant.evaluate import ARTICLE_REASONS

    items = []
    for lineno, line in enumerate(_read_text_file(path, msg.CLI_QUESTION_SET).splitlines(), 1):
        if not line.strip():
            continue
        where = f"{_short(path)}:{lineno}"
        try:
            item = json.loads(line)
        except json.JSONDecodeError as e:
            raise ValueError(msg.CLI_SET_BAD_JSON.format(where=where, error=e)) from None
        if not isinstance(item, dict) or not isinstance(item.get("question"), str):
            raise ValueError(msg.CLI_SET_BAD_LINE.format(where=where))
        if "expect" in item and item["expect"] not in ARTICLE_REASONS:
            raise ValueError(msg.CLI_SET_BAD_EXPECT.format(where=where, reasons='、'.join(ARTICLE_REASONS)))
        expected = item.get("expected") or []
        if not isinstance(expected, list) or not all(
                isinstance(e, dict) and isinstance(e.get("doc"), str) and isinstance(e.get("text"), str) for e in expected):
            raise ValueError(msg.CLI_SET_BAD_EXPECTED.format(where=where))
        items.append(item)
    if not items:
        raise ValueError(msg.CLI_SET_EMPTY.format(path=_short(path)))
    if any("expect" in q for q in items) and not all("expect" in q for q in items):
        raise ValueError(msg.CLI_SET_MIXED.format(path=_short(path)))
    return items


def cmd_serve(args) -> int:
    from assistant.ui import serve

    serve(Settings())
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="assistant", description=msg.CLI_DESCRIPTION)
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
    sp.add_argument("--type", choices=list(DOC_TYPES), help="only this document type")
    sp.add_argument("--stream", action="store_true",
                    help="print a model's checked sentences as they arrive (LLM mode; see docs/llm.md)")
    sp.add_argument("--history", action="append", metavar="QUESTION",
                    help="an earlier question of the conversation (repeatable, oldest first): a follow-up (如果…呢？) "
                         "is answered as the question it continues")
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
    sp.add_argument("source", nargs="?", help="text to check, a file path (if such a file exists), or - for stdin")
    sp.add_argument("--doc", help="check an ingested document (title)")
    sp.add_argument("--map", action="store_true", help="which document cites which, and where")
    sp.add_argument("--annotate", metavar="OUT.docx",
                    help="write the draft back as .docx with each citation highlighted and commented")
    sp.add_argument("--report", metavar="OUT.csv|OUT.docx", help="write the review report (every citation, verdict, notes)")
    sp.add_argument("--date", help="the draft's date (2022-06-01) for version notes; default: its date line, if any")
    common(sp)
    sp.set_defaults(func=cmd_check)

    sp = sub.add_parser("serve", help="start the Gradio app")
    sp.set_defaults(func=cmd_serve)
    return p


def _exit_now(code: int) -> None:
    """End a command line's question without Python's teardown: freeing a law library's index objects took 0.4 s
    of a one-question ``ask`` (2.3 s against 1.9 s; docs/benchmarks.md, 'Law library'). Only after a command that
    wrote nothing, with its output flushed; ``main([...])`` called from Python returns as usual."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def main(argv: list[str] | None = None) -> int:
    # Text that cannot be encoded (a lone surrogate from a JSON escape or a non-UTF-8 argv byte) is written as \\udcxx
    # rather than raising in the middle of the output: a message or an answer is never lost to the terminal.
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    args = build_parser().parse_args(argv)
    if argv is None and args.func is cmd_ask and not args.batch:
        # One question from the console, then the process ends: Python's cyclic collector would only walk the index's
        # views, hundreds of thousands of new objects and none of them garbage (0.14 s of 1.4 s beside a law library;
        # docs/benchmarks.md, 'Law library').
        gc.disable()
    try:
        code = args.func(args)
        if argv is None and args.func is cmd_ask and not getattr(args, "wrote", True):
            _exit_now(code)
        return code
    except (ValueError, ConnectionError) as e:  # bad input or configuration: a message, not a traceback
        message = replace_surrogates(str(e))
        if len(message) > 600:  # a message that quotes a pasted text back: its start and end are enough
            message = f"{message[:300]} … {message[-200:]}"
        print(msg.CLI_ERROR.format(message=message), file=sys.stderr)
        return 2
