"""Start-up, latency, memory and quality against corpus size: the shared corpus replicated 1×, 10×, 100×.

    python bench/scale.py                          # 1× and 10×, embedded Chroma
    python bench/scale.py --scales 1,10,100 --server --plot docs/scale.png --json docs/scale.json
    python bench/scale.py --scales 1 --files 3     # a reduced corpus (the first 3 files): what tests/test_scale.py runs
    python bench/scale.py --library ../shared/corpus/law_library --work /tmp/lib   # a law library beside the corpus

``--library DIR`` (issue 19) measures a real library of distinct texts instead of copies: the ingest of the bundled
report and laws plus DIR in a fresh process (wall time and peak RSS, no embedding cache), a one-question ``ask``
against ``import chromadb``, warm p50 / p95, and the answer-quality sets (``--sets``) with the library and without
it (an index of the bundled corpus alone, built in --work too). ``--library-index`` reuses an index built before.

A scale-s corpus is the shared corpus plus s-1 copies of every file under a distinct title (《X（副本k）》,
file name likewise), so the originals keep their titles and the dev questions keep their answers. Copies repeat
passage texts, so an embedding cache keyed by passage text (SQLite in assistant.cachedir.cache_dir, kept between
runs) embeds each distinct text once; ingest throughput is therefore everything but the embedding (chunking,
tokenising, Chroma writes, the keyword index) — add the first ingest's embedding rate (bench/speed.py) for a
corpus of distinct texts.

Per scale and mode it measures: ingest throughput (passages/s), index size on disk (Chroma + keyword index),
cold start (``assistant ask`` in a fresh process, wall-clock median of 3, against ``python -c "import chromadb"``),
peak RSS of that process, warm p50 / p95 over data/eval/dev.jsonl after ``Engine.warm()`` and that process's RSS,
and retrieval quality (hit@1 / hit@5 / MRR strict, and hit@5 counting a copy of the expected passage as a hit).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from assistant.settings import BUNDLED_CORPUS, Settings  # noqa: E402

PY = sys.executable
ASSISTANT = str(Path(PY).with_name("assistant"))
QUESTION = "2022年审查了多少份重大行政决策？"
DEV = ROOT / "data" / "eval" / "dev.jsonl"


class CachedEmbeddings:
    """Any langchain-style embeddings with a persistent cache keyed by sha1(text): repeated texts embed once."""

    def __init__(self, inner, path: Path) -> None:
        self.inner, self.misses = inner, 0
        self.db = sqlite3.connect(path)
        self.db.execute("CREATE TABLE IF NOT EXISTS v (h TEXT PRIMARY KEY, vec BLOB) WITHOUT ROWID")

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        import numpy as np

        keys = [hashlib.sha1(t.encode()).hexdigest() for t in texts]
        found = {}
        for i in range(0, len(keys), 500):
            part = keys[i : i + 500]
            found.update(self.db.execute(f"SELECT h, vec FROM v WHERE h IN ({','.join('?' * len(part))})", part))
        todo = sorted({k: t for k, t in zip(keys, texts) if k not in found}.items())
        if todo:
            vecs = self.inner.embed_documents([t for _, t in todo])
            self.misses += len(todo)
            rows = [(k, np.asarray(v, dtype=np.float64).tobytes()) for (k, _), v in zip(todo, vecs)]
            self.db.executemany("INSERT OR REPLACE INTO v VALUES (?, ?)", rows)
            self.db.commit()
            found.update(rows)
        return [np.frombuffer(found[k], dtype=np.float64).tolist() for k in keys]

    def embed_query(self, text: str) -> list[float]:
        return self.inner.embed_query(text)


def make_corpus(folder: Path, scale: int, files: int | None) -> int:
    """The shared corpus (or its first ``files`` files) plus scale-1 renamed copies; returns the file count."""
    sources = sorted((BUNDLED_CORPUS / "reports").glob("*.txt")) + sorted((BUNDLED_CORPUS / "regulations").glob("*.md"))
    sources = sources[:files] if files else sources
    for k in range(scale):
        for src in sources:
            text = src.read_text(encoding="utf-8")
            name = src.stem if k == 0 else f"{src.stem}（副本{k}）"
            if k:  # a .md file's title is its "# " line, a .txt file's its name; the first line changes either way
                first, rest = text.split("\n", 1)
                text = f"{first.rstrip()}（副本{k}）\n{rest}"
            out = folder / f"part{k // 50:02d}" / f"{name}{src.suffix}"  # folders of ≤ 50 copies
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(text, encoding="utf-8")
    return len(sources) * scale


def du(*paths: Path) -> int:
    return sum(f.stat().st_size for p in paths if p.exists() for f in p.rglob("*") if f.is_file())


def timed_run(cmd: list[str], env: dict) -> tuple[float, int, str, float]:
    """Wall seconds, peak RSS (bytes), stdout and CPU seconds (user + system) of one fresh process; RSS and CPU
    come from GNU time when it is installed (else 0). CPU time is the steadier figure on a shared machine."""
    gnu_time = shutil.which("time") or ("/usr/bin/time" if Path("/usr/bin/time").exists() else None)
    full = [gnu_time, "-f", "@@rss %M %U %S"] + cmd if gnu_time else cmd
    t0 = time.perf_counter()
    proc = subprocess.run(full, env=env, capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - t0
    if proc.returncode:
        raise RuntimeError(f"{cmd} failed: {proc.stderr[-2000:]}")
    m = re.search(r"@@rss (\d+) ([\d.]+) ([\d.]+)", proc.stderr)
    if not m:
        return wall, 0, proc.stdout, 0.0
    return wall, int(m.group(1)) * 1024, proc.stdout, float(m.group(2)) + float(m.group(3))


class _Server:
    """``chroma run`` on a free loopback port."""

    def __init__(self, path: Path) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        chroma = shutil.which("chroma") or str(Path(PY).with_name("chroma"))
        self.proc = subprocess.Popen([chroma, "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(self.port)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError("chroma run did not start")

    def rss(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
        return 0

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=60)


def measure(scale: int, mode: str, work: Path, files: int | None, repeats: int) -> dict:
    from assistant.embeddings import get_embeddings
    from assistant.engine import Engine
    from assistant.cachedir import cache_dir

    corpus = work / f"corpus-{scale}"
    n_files = make_corpus(corpus, scale, files)
    index = work / f"index-{scale}-{mode}"
    server = _Server(work / f"server-{scale}") if mode == "server" else None
    env = {**os.environ, "ASSISTANT_INDEX_DIR": str(index)}
    overrides: dict = {"index_dir": index, "docs_dirs": [corpus]}
    if server:
        env.update(ASSISTANT_CHROMA_HOST="127.0.0.1", ASSISTANT_CHROMA_PORT=str(server.port))
        overrides.update(chroma_host="127.0.0.1", chroma_port=server.port)
    try:
        emb = CachedEmbeddings(get_embeddings(Settings().embedding_model), cache_dir() / "scale-embeddings.sqlite3")
        engine = Engine(Settings(_env_file=None, **overrides), embeddings=emb)
        t0 = time.perf_counter()
        report = engine.ingest([corpus], progress=False)
        t_ingest = time.perf_counter() - t0
        assert not report.skipped, report.summary()
        del engine
        size = du(index) + (du(work / f"server-{scale}") if server else 0)
        if server:
            size += du(cache_dir() / "keyword" / f"{Settings().collection}-use-m3")
        cold, cold_cpu, base, base_cpu, rss_cold = [], [], [], [], 0
        for _ in range(repeats):  # interleaved, so both see the same machine load
            wall, _, _, cpu = timed_run([PY, "-c", "import chromadb"], env)
            base.append(wall)
            base_cpu.append(cpu)
            wall, rss, out, cpu = timed_run([ASSISTANT, "ask", QUESTION], env)
            assert "9份" in out, out
            cold.append(wall)
            cold_cpu.append(cpu)
            rss_cold = max(rss_cold, rss)
        _, rss_warm, out, _ = timed_run([PY, __file__, "--_warm", json.dumps({**{k: str(v) for k, v in overrides.items()
                                                                          if k != "docs_dirs"}, "scale": scale})], env)
        warm = json.loads(out.strip().splitlines()[-1])
        return {"scale": scale, "mode": mode, "files": n_files, "passages": report.chunks, "embedded": emb.misses,
                "ingest_s": round(t_ingest, 1), "passages_per_s": round(report.chunks / t_ingest, 1),
                "index_mb": round(size / 2**20, 1), "cold_s": round(statistics.median(cold), 2),
                "import_chromadb_s": round(statistics.median(base), 2),
                "cold_ratio": round(statistics.median(cold) / statistics.median(base), 2),
                "cold_cpu_s": round(statistics.median(cold_cpu), 2), "import_chromadb_cpu_s": round(statistics.median(base_cpu), 2),
                "cold_cpu_ratio": round(statistics.median(cold_cpu) / max(statistics.median(base_cpu), 0.01), 2),
                "cold_rss_mb": round(rss_cold / 2**20), "warm_rss_mb": round(rss_warm / 2**20),
                "server_rss_mb": round(server.rss() / 2**20) if server else None, **warm}
    finally:
        if server:
            server.stop()


def warm_child(spec: dict) -> None:
    """In a fresh process: open, warm, then latency and quality over the dev set (prints one JSON line)."""
    from assistant.engine import Engine
    from assistant.evaluate import first_hit_rank, load_questions, percentile

    overrides = {k: v for k, v in spec.items() if k in ("index_dir", "chroma_host")}
    if "chroma_port" in spec:
        overrides["chroma_port"] = int(spec["chroma_port"])
    engine = Engine(Settings(_env_file=None, **overrides))
    engine.warm()
    copies = int(spec["scale"])
    questions = load_questions(DEV)
    engine.ask(questions[0]["question"])
    ms, ranks, any_copy = [], [], []
    for q in questions:
        ans = engine.ask(q["question"])
        ms.append(ans.ms)
        if q.get("answerable", True) and q.get("expected"):
            ranks.append(first_hit_rank(ans, q["expected"]))
            alike = [{**e, "doc": d} for e in q["expected"]
                     for d in [e["doc"]] + [f"{e['doc']}（副本{k}）" for k in range(1, copies)]]
            any_copy.append(first_hit_rank(ans, alike))
    n = len(ranks)
    print(json.dumps({
        "warm_p50_ms": round(statistics.median(ms), 1), "warm_p95_ms": round(percentile(ms, 0.95), 1),
        "hit@1": round(sum(r == 1 for r in ranks) / n, 3), "hit@5": round(sum(r is not None and r <= 5 for r in ranks) / n, 3),
        "mrr": round(sum(1 / r for r in ranks if r) / n, 3),
        "hit@5_any_copy": round(sum(r is not None and r <= 5 for r in any_copy) / n, 3),
        "keyword_index": engine.retriever.keyword_source}))


QUALITY_SETS = "laws_dev,answers,answers_dev2,answers_holdout,laws_holdout,dev,library_dev,library_holdout"


def library_row(library: Path, work: Path, repeats: int, sets: list[str], index: Path | None) -> dict:
    """The law library beside the bundled corpus, measured as a user meets it (see the module docstring)."""
    corpus = [BUNDLED_CORPUS / "reports", BUNDLED_CORPUS / "regulations"]
    row: dict = {"library": str(library)}
    if index is None:
        index = work / "library-index"
        shutil.rmtree(index, ignore_errors=True)
        env = {**os.environ, "ASSISTANT_INDEX_DIR": str(index)}
        wall, rss, out, cpu = timed_run([ASSISTANT, "ingest", *map(str, corpus), str(library), "--quiet", "--json"], env)
        report = json.loads(out[out.index("{"):])
        row.update(ingest_s=round(wall, 1), ingest_cpu_s=round(cpu, 1), ingest_peak_mb=round(rss / 2**20),
                   passages=report["chunks"], skipped=len(report["skipped"]))
        print(json.dumps(row, ensure_ascii=False), flush=True)
    # the library ranked after the bureau's own documents (Settings.library_dirs), as a deployment would set it
    env = {**os.environ, "ASSISTANT_INDEX_DIR": str(index), "ASSISTANT_LIBRARY_DIRS": str(library)}
    cold, base, rss_cold = [], [], 0
    for _ in range(repeats):  # interleaved, so both see the same machine load
        base.append(timed_run([PY, "-c", "import chromadb"], env)[0])
        wall, rss, out, _ = timed_run([ASSISTANT, "ask", QUESTION], env)
        assert "9份" in out, out
        cold.append(wall)
        rss_cold = max(rss_cold, rss)
    row.update(cold_s=round(statistics.median(cold), 2), import_chromadb_s=round(statistics.median(base), 2),
               cold_ratio=round(statistics.median(cold) / statistics.median(base), 2), cold_rss_mb=round(rss_cold / 2**20))
    _, rss_warm, out, _ = timed_run([PY, __file__, "--_warm", json.dumps({"index_dir": str(index), "scale": 1})], env)
    row.update(json.loads(out.strip().splitlines()[-1]), warm_rss_mb=round(rss_warm / 2**20))
    print(json.dumps(row, ensure_ascii=False), flush=True)
    base_index = work / "corpus-index"
    if not (base_index / "chroma.sqlite3").exists():
        timed_run([ASSISTANT, "ingest", *map(str, corpus), "--quiet"], {**os.environ, "ASSISTANT_INDEX_DIR": str(base_index)})
    row["quality"] = quality(index, base_index, sets, library)
    return row


def quality(index: Path, base_index: Path, sets: list[str], library: Path) -> dict:
    """Per question set: 'right', quotes of the expected sentence and hit@1, with the library and without it."""
    from assistant.engine import Engine
    from assistant.evaluate import evaluate

    out: dict = {}
    for label, folder in (("library", index), ("corpus", base_index)):
        engine = Engine(Settings(_env_file=None, index_dir=folder, library_dirs=[library] if label == "library" else []))
        for name in sets:
            r = evaluate(engine, ROOT / "data" / "eval" / f"{name}.jsonl")
            by_type = r["by_type"]
            out.setdefault(name, {})[label] = {
                "right": round(r["right"], 3), "quotes": round(r["answer_quotes_expected"], 3),
                "hit@1": round(r["hit@1"], 3), "verbatim": r["citations_verbatim"],
                "typed_quotes": {t: round(v["answer_quotes_expected"], 3) for t, v in by_type.items()},
                "two_versions": r["two_version_answers"], "wrong": [x["id"] for x in r["rows"] if not x["right"]]}
            print(name, label, out[name][label]["right"], out[name][label]["quotes"], flush=True)
    return out


def library_table(row: dict) -> str:
    lines = [f"ingest {row.get('ingest_s', '—')} s (CPU {row.get('ingest_cpu_s', '—')} s), peak {row.get('ingest_peak_mb', '—')} MB, "
             f"{row.get('passages', '—')} passages; one-question ask {row['cold_s']} s = {row['cold_ratio']}× import chromadb "
             f"({row['import_chromadb_s']} s), {row['cold_rss_mb']} MB; warm p50 / p95 {row['warm_p50_ms']} / "
             f"{row['warm_p95_ms']} ms, {row['warm_rss_mb']} MB", "",
             "| set | right with library | right without | quotes with | quotes without | hit@1 with | hit@1 without |",
             "|---|---|---|---|---|---|---|"]
    for name, q in row["quality"].items():
        a, b = q["library"], q["corpus"]
        lines.append(f"| {name} | {a['right']} | {b['right']} | {a['quotes']} | {b['quotes']} | {a['hit@1']} | {b['hit@1']} |")
    return "\n".join(lines)


def table(rows: list[dict]) -> str:
    head = ("| scale | mode | passages | ingest passages/s | index MB | cold start s (import chromadb s) "
            "| cold start CPU s (import chromadb) | cold RSS MB | warm p50 / p95 ms | warm RSS MB | hit@1 | hit@5 | MRR "
            "| hit@5 any copy |")
    lines = [head, "|" + "---|" * 14]
    for r in rows:
        lines.append(f"| {r['scale']}× | {r['mode']} | {r['passages']} | {r['passages_per_s']} | {r['index_mb']} | "
                     f"{r['cold_s']} ({r['import_chromadb_s']}) | {r.get('cold_cpu_s')} ({r.get('import_chromadb_cpu_s')}) | "
                     f"{r['cold_rss_mb']} | {r['warm_p50_ms']} / {r['warm_p95_ms']} | "
                     f"{r['warm_rss_mb']}{' + server ' + str(r['server_rss_mb']) if r['server_rss_mb'] else ''} | "
                     f"{r['hit@1']} | {r['hit@5']} | {r['mrr']} | {r['hit@5_any_copy']} |")
    return "\n".join(lines)


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    for mode in sorted({r["mode"] for r in rows}):
        rs = sorted((r for r in rows if r["mode"] == mode), key=lambda r: r["passages"])
        x = [r["passages"] for r in rs]
        a.plot(x, [r["warm_p50_ms"] for r in rs], "o-", label=f"warm p50 ({mode})")
        a.plot(x, [r["warm_p95_ms"] for r in rs], "s--", label=f"warm p95 ({mode})")
        a.plot(x, [1000 * r["cold_s"] for r in rs], "^-", label=f"cold start ({mode})")
        b.plot(x, [r["cold_rss_mb"] for r in rs], "^-", label=f"one-question process ({mode})")
        b.plot(x, [r["warm_rss_mb"] for r in rs], "o-", label=f"warm app process ({mode})")
    sizes = sorted({r["passages"] for r in rows})
    for ax, label in ((a, "milliseconds"), (b, "peak RSS, MB")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(sizes, [f"{n:,}" for n in sizes], minor=False)
        ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
        ax.set_xlabel("passages in the index")
        ax.set_ylabel(label)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    a.set_title("latency")
    b.set_title("memory")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scales", default="1,10")
    ap.add_argument("--server", action="store_true", help="also run each scale against a `chroma run` server")
    ap.add_argument("--files", type=int, help="use only the first N corpus files (a quick run)")
    ap.add_argument("--repeats", type=int, default=3, help="cold starts per point (the median is reported)")
    ap.add_argument("--json", help="write the rows here")
    ap.add_argument("--plot", help="write a PNG here (needs matplotlib)")
    ap.add_argument("--work", help="build corpora and indexes here (default: a temporary folder)")
    ap.add_argument("--keep", action="store_true", help="leave the indexes in --work (to profile them afterwards)")
    ap.add_argument("--table-from", help="only print the table (and --plot) of rows saved earlier with --json")
    ap.add_argument("--library", help="a law library folder, measured beside the bundled corpus (issue 19)")
    ap.add_argument("--library-index", help="with --library: an index of it built before (skips the ingest)")
    ap.add_argument("--sets", default=QUALITY_SETS, help="with --library: question sets of data/eval to score")
    ap.add_argument("--_warm", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args._warm:
        return warm_child(json.loads(args._warm))
    if args.library:
        work = Path(args.work or tempfile.mkdtemp(prefix="scale-library-"))
        work.mkdir(parents=True, exist_ok=True)
        row = library_row(Path(args.library), work, args.repeats, [s for s in args.sets.split(",") if s],
                          Path(args.library_index) if args.library_index else None)
        if args.json:
            Path(args.json).write_text(json.dumps(row, ensure_ascii=False, indent=1))
        print(library_table(row))
        return None
    if args.table_from:
        rows = json.loads(Path(args.table_from).read_text())
        print(table(rows))
        return plot(rows, Path(args.plot)) if args.plot else None
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.work or tmp)
        for scale in [int(s) for s in args.scales.split(",")]:
            for mode in ["embedded"] + (["server"] if args.server else []):
                row = measure(scale, mode, work, args.files, args.repeats)
                print(json.dumps(row, ensure_ascii=False), flush=True)
                rows.append(row)
                if args.json:
                    Path(args.json).write_text(json.dumps(rows, ensure_ascii=False, indent=1))
                if not args.keep:
                    shutil.rmtree(work / f"index-{scale}-{mode}", ignore_errors=True)
                    shutil.rmtree(work / f"server-{scale}", ignore_errors=True)
            shutil.rmtree(work / f"corpus-{scale}", ignore_errors=True)
    print(table(rows))
    if args.plot:
        plot(rows, Path(args.plot))


if __name__ == "__main__":
    main()
