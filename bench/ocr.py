"""OCR figures: characters per second and character error rate on clean and noisy scanned pages, and the time to
ingest a 10-page scan into a fresh index.

    .venv/bin/python bench/ocr.py            # the figures in docs/benchmarks.md
    .venv/bin/python bench/ocr.py --sweep    # plus the settings behind assistant/ingest/ocr.py's constants

The scans are typeset here from 中华人民共和国未成年人保护法 (tests/scanmaker.py: A4, 16 pt, 28 × 22 characters as
official documents are set, Debian's Noto CJK font — `make setup-test` installs fonts-noto-cjk), saved as
image-only PDFs; the noisy ones are rotated 1.2°, blurred, speckled and JPEG-compressed like a photocopy.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from assistant.settings import BUNDLED_CORPUS  # noqa: E402
from assistant.ingest import ocr  # noqa: E402
from assistant.ingest.loaders import load  # noqa: E402
from scanmaker import cer, degrade, law_paragraphs, save_pdf, squeeze, typeset  # noqa: E402

LAW = BUNDLED_CORPUS / "regulations" / "中华人民共和国未成年人保护法.md"
#: Characters of the law typeset for the 10-page scan (about 600 a page with headings and short lines).
TEN_PAGES_CHARS = 6000


def read(pdf: Path, options: ocr.OcrOptions) -> tuple[str, float]:
    """(text, seconds) of loading ``pdf`` with OCR, the workers already started."""
    ocr.pool.start(options.threads, options.workers)  # their start is not part of reading
    t0 = time.perf_counter()
    doc = load(pdf, ocr=options)
    return doc.text, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pages", type=int, default=10, help="pages of the scan that is ingested (default 10)")
    ap.add_argument("--noisy", type=int, default=3, help="noisy pages whose error rate is measured (default 3)")
    ap.add_argument("--sweep", action="store_true", help="also time detection sizes, batch sizes and threads")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    title, paragraphs = law_paragraphs(LAW, TEN_PAGES_CHARS * args.pages // 10)
    pages = typeset(title, paragraphs)[: args.pages]
    reference = squeeze("".join([title, *paragraphs]))
    options = ocr.OcrOptions()
    out: dict = {"cpu_count": os.cpu_count(), "load_average": os.getloadavg()[0], "pages": len(pages)}
    with tempfile.TemporaryDirectory(prefix="bench-ocr-") as tmp:
        tmp_path = Path(tmp)
        clean_pdf = save_pdf(pages, tmp_path / "clean.pdf")
        ocr.release_worker()
        t0 = time.perf_counter()
        ocr.pool.start(options.threads, 1)
        out["worker_start_s"] = round(time.perf_counter() - t0, 2)
        text, seconds = read(clean_pdf, options)
        got = squeeze(text)
        out["clean"] = {"chars": len(got), "seconds": round(seconds, 1), "chars_per_s": round(len(got) / seconds),
                        "s_per_page": round(seconds / len(pages), 2), "cer": round(cer(got, reference[: len(got)]), 5)}
        if args.sweep:  # the same pages with one worker
            one = ocr.OcrOptions(workers=1)
            text, seconds = read(clean_pdf, one)
            out["clean_one_worker"] = {"seconds": round(seconds, 1), "s_per_page": round(seconds / len(pages), 2)}
        noisy = [degrade(p, seed=i) for i, p in enumerate(pages[: args.noisy])]
        text, seconds = read(save_pdf(noisy, tmp_path / "noisy.pdf"), options)
        got = squeeze(text)
        out["noisy"] = {"pages": len(noisy), "chars": len(got), "seconds": round(seconds, 1),
                        "chars_per_s": round(len(got) / seconds), "cer": round(cer(got, reference[: len(got)]), 5)}

        # the 10-page scan dropped into a documents folder and ingested into a fresh index, from a cold start
        from assistant.engine import Engine
        from assistant.settings import Settings

        folder = tmp_path / "docs"
        folder.mkdir()
        save_pdf(pages, folder / "未成年人保护法（扫描件）.pdf")
        engine = Engine(Settings(_env_file=None, index_dir=tmp_path / "index", docs_dirs=[folder]))
        engine.warm()  # the embedding model is loaded once per process, not per document
        ocr.release_worker()
        t0 = time.perf_counter()
        report = engine.ingest(progress=False)
        out["ingest"] = {"pages": len(pages), "seconds": round(time.perf_counter() - t0, 1),
                         "chunks": report.chunks, "added": len(report.added), "notes": len(report.notes)}
        answer = engine.ask("第三条是怎么规定的", doc=title)
        out["ingest"]["answer_article"] = answer.citations[0].chunk.article if answer.citations else None

        if args.sweep:
            out["sweep"] = sweep(pages[:2], reference, "16pt")
            out["sweep"] += sweep(noisy[:2], reference, "16pt noisy")
            small_title, small_paras = law_paragraphs(LAW, 3000)
            small = typeset(small_title, small_paras, dpi=200, chars_per_line=42, lines_per_page=40)[:1]
            out["sweep"] += sweep(small, squeeze("".join([small_title, *small_paras])), "10.5pt")
    if args.json:
        print(json.dumps(out, ensure_ascii=False, indent=1))
        return
    c, n, i = out["clean"], out["noisy"], out["ingest"]
    print(f"machine: {out['cpu_count']} cores, load average {out['load_average']:.1f}; "
          f"OCR worker start {out['worker_start_s']} s")
    print(f"clean  {out['pages']} pages: {c['chars']} chars in {c['seconds']} s = {c['chars_per_s']} chars/s "
          f"({c['s_per_page']} s/page, {ocr.OcrOptions().workers} workers), CER {c['cer']:.2%}")
    if "clean_one_worker" in out:
        print(f"clean  {out['pages']} pages with one worker: {out['clean_one_worker']['seconds']} s")
    print(f"noisy  {n['pages']} pages: {n['chars']} chars in {n['seconds']} s = {n['chars_per_s']} chars/s, "
          f"CER {n['cer']:.2%}")
    print(f"ingest {i['pages']}-page scan into a fresh index: {i['seconds']} s ({i['chunks']} passages); "
          f"「第三条是怎么规定的」 → {i['answer_article']}")
    for row in out.get("sweep", []):
        print("sweep", row)


def sweep(pages, reference: str, print_size: str) -> list[dict]:
    """Seconds per page and error rate for detection sizes, recognition batch sizes and thread counts."""
    from assistant.ingest.ocr_layout import layout

    rows = []
    images = [ocr.to_rgb(p) for p in pages]
    # (threads, detector's longest side, recognition batch, line width scale); the first is the default
    default = (1, ocr.DET_MAX_SIDE, ocr.REC_BATCH, ocr.REC_WIDTH_SCALE)
    settings = [default, (1, 960, 1, default[3]), (1, 1754, 1, default[3]), (1, default[1], 1, 0.6),
                (1, default[1], 1, 1.0), (1, default[1], 6, default[3]), (2, default[1], 1, default[3])]
    if print_size == "16pt noisy":
        settings = [default, settings[3], settings[4]]
    elif print_size != "16pt":
        settings = settings[:5]
    for threads, det, batch, width in settings:
        worker = ocr.OcrWorker(threads, det, batch, width)
        try:
            worker.recognise(images[0][:300], 60)  # warm-up
            cpu0, t0 = cpu_seconds(worker.proc.pid), time.perf_counter()
            texts = [layout(worker.recognise(img, 300), img.shape[1], img.shape[0]).text for img in images]
            wall, cpu = time.perf_counter() - t0, cpu_seconds(worker.proc.pid) - cpu0
        finally:
            worker.close()
        got = squeeze("".join(texts))
        rows.append({"print": print_size, "threads": threads, "det_max_side": det, "rec_batch": batch,
                     "rec_width_scale": width,
                     "s_per_page": round(wall / len(images), 2), "cpu_s_per_page": round(cpu / len(images), 2),
                     "cer": round(cer(got, reference[: len(got)]), 5)})
    return rows


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a running process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


if __name__ == "__main__":
    main()
