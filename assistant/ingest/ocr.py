"""Reading scanned pages and images: Chinese OCR with the models a pip package carries.

The engine is ``rapidocr-onnxruntime``: PaddleOCR's PP-OCRv4 Chinese text detection and recognition models and
its text-direction classifier, as ONNX files inside the wheel, run by onnxruntime on the CPU. Nothing is
downloaded at run time, so it works on a machine with no internet, like the embedding model.

Recognition runs in worker processes (``python -m ingest.ocr``), each one page at a time, for two reasons:
- the time limit per page (``ASSISTANT_OCR_PAGE_TIMEOUT_S``) can only be enforced by stopping the work, and a
  thread cannot be stopped — a process can be killed, and the next page gets a fresh one;
- native code that crashes on a malformed image takes down the worker, not the ingest (or the web app).
Two workers of one thread each (``ASSISTANT_OCR_WORKERS``) read two pages at once, so a scan can use both cores
of an otherwise idle 2-core machine; two threads in one worker doubled the CPU time per page instead
(docs/benchmarks.md). A worker loads the models once (under a second) and serves every page of an ingest run;
the pipeline stops them at the end of the run (:func:`release_worker`), so a long-running web app holds no OCR
memory (about 430 MB a worker at its peak) between uploads.

Line boxes come back with their text and confidence; :mod:`ingest.ocr_layout` rebuilds paragraphs from them,
and :func:`assemble` joins the pages of a document, keeping where each page starts so that a passage can name
its page. Documents with recognised text carry that in the index (:func:`index_metadata`), and the sources panel
and the citation checker say so (:func:`ocr_label`): a quotation from a scan may carry recognition errors.
"""

from __future__ import annotations

import atexit
import os
import pickle
import re
import select
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from assistant.ingest.ocr_layout import Box, PageLayout, layout

ENGINE_NAME = "rapidocr-onnxruntime (PP-OCRv4 ch)"
#: PDF pages are rendered at this resolution: 16 pt body text (三号, the usual size of official documents) is
#: 44 px high, 10.5 pt footnotes 29 px — the recogniser reads 48-px-high line images, so finer adds nothing.
RENDER_DPI = 200
#: Images (and rendered pages) are reduced to this longest side first: A4 at 200 dpi fits; a 600-dpi scan or a
#: phone photo only costs memory and transfer time beyond it.
PAGE_MAX_SIDE = 2400
#: Images with more pixels than this are refused before they are decoded (a decompression bomb; an A4 page at
#: 600 dpi has 35 million).
MAX_IMAGE_PIXELS = 80_000_000
#: The text detector sees the page reduced to this longest side (lines are then cut from the full page for
#: recognition; rapidocr enlarges the detector's input to a 736-px short side, about 1040 px long for A4).
#: PaddleOCR's own default. Per page it took 1.6 s of CPU against 1.9 s at 1280 and 3.0 s at 1754, with no
#: errors at any of them on 16 pt and 10.5 pt pages (bench/ocr.py --sweep).
DET_MAX_SIDE = 960
#: Line images recognised one at a time: batches of 6 (rapidocr's default) pad every line to the widest of the
#: batch, took 1.75× the CPU time per page here (3.3 s against 1.9 s) and made more errors (0.4 % against 0.1 %).
REC_BATCH = 1
#: Line images are squeezed to this share of their width (at the recogniser's 48-px height) before recognition:
#: its time grows with the width. At 0.75 a page took a fifth less CPU time than at full width, with no errors
#: on clean 16 pt and 10.5 pt pages either way; on photocopy-like pages the error rate was 1.0 % against 0.8 %
#: at full width (and 1.3 % at 0.6, which saved a quarter) — bench/ocr.py --sweep.
REC_WIDTH_SCALE = 0.75
#: The direction model is asked about every line, but only the page's majority counts: more than this share of
#: lines upside down turns the whole page. Turning single lines, as rapidocr does, misread a correct line as
#: upside down now and then, and that line was lost (10.5 pt test page).
UPSIDE_DOWN_SHARE = 0.5
#: Lines recognised with less confidence than this are dropped (rapidocr's own default threshold).
MIN_LINE_SCORE = 0.5
#: A page whose kept lines average less confidence than this is unreadable: clean print scores 0.95–1.0,
#: noisy scans 0.85–0.95, while speckle or a photograph read as "text" scores well below.
MIN_PAGE_SCORE = 0.75
#: A page with less than this share of dark pixels is blank (a sheet of paper with dust on it); an A4 page
#: with one short line of text has about 0.3 %.
BLANK_INK_SHARE = 0.0005
#: A pixel darker than this (0–255 grey) counts as ink for the blank-page test.
INK_LEVEL = 128
#: How long the worker may take to start (imports and loading three models; about 1 s here, far more when
#: the machine is busy). Not part of any page's time limit.
START_TIMEOUT_S = 120.0
#: A PDF page whose text layer has fewer non-blank characters than this is read as a scan: scanned pages have
#: no text layer, or only a page number or a stamp's text; a typed page has hundreds of characters.
MIN_TEXT_LAYER_CHARS = 20

_HEADER = struct.Struct("!Q")
_PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class OcrOptions:
    """What the loaders need to know about OCR; built from the settings (``ASSISTANT_OCR*``)."""

    enabled: bool = True
    page_timeout_s: float = 60.0
    threads: int = 1
    workers: int = 2
    max_pages: int = 200

    @classmethod
    def from_settings(cls, settings: Any) -> OcrOptions:
        return cls(enabled=settings.ocr, page_timeout_s=settings.ocr_page_timeout_s, threads=settings.ocr_threads,
                   workers=settings.ocr_workers, max_pages=settings.ocr_max_pages)


#: Called before each page is recognised: (1-based index among the pages being recognised, their number,
#: the page's number in the document).
PageProgress = Callable[[int, int, int], None]


class OcrError(Exception):
    """One page could not be recognised; ``str()`` says why, in words for the ingest report."""


class OcrUnavailable(OcrError):
    """The OCR engine cannot run here at all (package or system library missing)."""


@dataclass
class PageText:
    """One page of a document: its text and where it came from."""

    number: int  # 1-based page number in the document
    text: str = ""
    ocr: bool = False
    layout: PageLayout | None = None
    note: str = ""  # why the page gave no text (blank, unreadable, timed out, OCR off)
    seconds: float = 0.0
    score: float | None = None  # mean confidence of the recognised lines


# ---------------------------------------------------------------- the worker process


def _send(stream, obj: Any) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(data)))
    stream.write(data)
    stream.flush()


def _read_exact(fd: int, n: int, deadline: float | None) -> bytes:
    """``n`` bytes from ``fd``; TimeoutError once ``deadline`` (monotonic) passes, EOFError on a closed pipe."""
    buf = bytearray()
    while len(buf) < n:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise TimeoutError
        chunk = os.read(fd, min(n - len(buf), 1 << 20))
        if not chunk:
            raise EOFError
        buf += chunk
    return bytes(buf)


def _receive(fd: int, deadline: float | None) -> Any:
    (size,) = _HEADER.unpack(_read_exact(fd, _HEADER.size, deadline))
    return pickle.loads(_read_exact(fd, size, deadline))


class OcrWorker:
    """A ``python -m ingest.ocr`` process holding the models; :meth:`recognise` sends it one page."""

    def __init__(self, threads: int = 1, det_max_side: int = DET_MAX_SIDE, rec_batch: int = REC_BATCH,
                 rec_width_scale: float = REC_WIDTH_SCALE) -> None:
        """The last three are the module's constants; bench/ocr.py --sweep varies them."""
        self.threads = threads
        env = dict(os.environ)  # the child must import this package wherever the parent was started from
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_PROJECT_ROOT), env.get("PYTHONPATH")]))
        env["OMP_NUM_THREADS"] = str(threads)
        args = [sys.executable, "-m", "ingest.ocr", str(threads), str(det_max_side), str(rec_batch),
                str(rec_width_scale)]
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0, env=env)
        try:
            kind, value = _receive(self.proc.stdout.fileno(), time.monotonic() + START_TIMEOUT_S)
        except (TimeoutError, EOFError, pickle.UnpicklingError) as e:
            self.close()
            why = "启动超时" if isinstance(e, TimeoutError) else "启动后退出"
            raise OcrUnavailable(f"文字识别引擎{why} / OCR engine did not start") from None
        if kind != "ready":
            self.close()
            raise OcrUnavailable(f"文字识别引擎无法启动（{value}）/ OCR engine unavailable")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def recognise(self, image: np.ndarray, timeout: float) -> list[Box]:
        """Boxes of an RGB page image; OcrError when the page times out or fails (the worker is then gone)."""
        try:
            _send(self.proc.stdin, image)
            kind, value = _receive(self.proc.stdout.fileno(), time.monotonic() + timeout)
        except TimeoutError:
            self.close(kill=True)  # still working on the page: waiting for it would defeat the limit
            raise OcrError(f"识别超时（超过 {timeout:g} 秒）") from None
        except (EOFError, BrokenPipeError, OSError, pickle.UnpicklingError):
            code = self.proc.poll()
            self.close()
            raise OcrError(f"识别进程意外退出（退出码 {code}）") from None
        if kind != "ok":
            raise OcrError(f"识别失败（{value}）")
        return [Box(points, text, score) for points, text, score in value]

    def close(self, kill: bool = False) -> None:
        """End the worker: an idle one by closing its input (it exits), a busy one (``kill``) at once."""
        if self.proc.poll() is None and not kill:
            try:
                self.proc.stdin.close()
                self.proc.wait(timeout=2)
            except (OSError, subprocess.TimeoutExpired):
                pass
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass


class WorkerPool:
    """The process's workers: started on demand (as many as pages are being read at once, see
    :func:`recognise_pages`), reused across the pages and files of a run, replaced after a page killed one, all
    stopped by :meth:`release`. A worker serves one page at a time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: list[OcrWorker] = []
        self._busy: set[OcrWorker] = set()
        #: Why the engine could not start, remembered until release(): the next page would fail the same way,
        #: after waiting as long again.
        self.unavailable: str | None = None

    def checkout(self, threads: int) -> OcrWorker:
        with self._lock:
            if self.unavailable:
                raise OcrUnavailable(self.unavailable)
            while self._idle:
                worker = self._idle.pop()
                if worker.alive() and worker.threads == threads:
                    self._busy.add(worker)
                    return worker
                worker.close()
        try:
            worker = OcrWorker(threads)  # outside the lock: two pages may start their workers together
        except OcrUnavailable as e:
            self.unavailable = str(e)
            raise
        with self._lock:
            self._busy.add(worker)
        return worker

    def checkin(self, worker: OcrWorker) -> None:
        with self._lock:
            self._busy.discard(worker)
            if worker.alive():
                self._idle.append(worker)

    def start(self, threads: int, count: int) -> None:
        """Have ``count`` workers started and idle (bench/ocr.py times reading apart from starting)."""
        workers = [self.checkout(threads) for _ in range(count)]
        for worker in workers:
            self.checkin(worker)

    def workers(self) -> list[OcrWorker]:
        with self._lock:
            return [*self._idle, *self._busy]

    def release(self) -> None:
        with self._lock:
            workers, self._idle = self._idle, []
            self.unavailable = None
        for worker in workers:
            worker.close()


pool = WorkerPool()


def release_worker() -> None:
    """Stop the idle workers and forget a failed start (the end of an ingest run, and at exit)."""
    pool.release()


atexit.register(release_worker)


# ---------------------------------------------------------------- pages


def to_rgb(image) -> np.ndarray:
    """A PIL image as an RGB array, transparency flattened onto white and reduced to PAGE_MAX_SIDE."""
    from PIL import Image

    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, rgba)
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "F"):  # 16-bit and float greyscale scans
        arr = np.asarray(image, dtype=np.float64)
        span = float(arr.max() - arr.min()) or 1.0
        image = Image.fromarray(((arr - arr.min()) * 255 / span).astype(np.uint8))
    image = image.convert("RGB")
    if max(image.size) > PAGE_MAX_SIDE:
        image.thumbnail((PAGE_MAX_SIDE, PAGE_MAX_SIDE), Image.Resampling.LANCZOS)
    return np.asarray(image)


def ink_share(rgb: np.ndarray) -> float:
    """Share of dark pixels (measured on every 4th pixel each way: plenty for a page)."""
    grey = rgb[::4, ::4].mean(axis=2)
    return float((grey < INK_LEVEL).mean()) if grey.size else 0.0


def recognise_page(image, number: int, options: OcrOptions) -> PageText:
    """One page image → its paragraphs; a page that cannot be read comes back with ``note`` set, never raises
    (except OcrUnavailable, which concerns every page alike)."""
    started = time.monotonic()
    page = PageText(number, ocr=True)
    try:
        rgb = to_rgb(image)
    except Exception as e:  # a damaged frame of a TIFF, an unsupported mode
        page.note = f"第{number}页图像无法解码，已跳过（{type(e).__name__}）/ page image unreadable, skipped"
        return page
    if ink_share(rgb) < BLANK_INK_SHARE:
        page.note = f"第{number}页是空白页，已跳过 / blank page, skipped"
        return page
    worker = pool.checkout(options.threads)
    try:
        boxes = worker.recognise(rgb, options.page_timeout_s)
    except OcrError as e:
        page.note = f"第{number}页{e}，已跳过 / page skipped"
        page.seconds = time.monotonic() - started
        return page
    finally:
        pool.checkin(worker)
    page.seconds = time.monotonic() - started
    boxes = [b for b in boxes if b.score >= MIN_LINE_SCORE and b.text.strip()]
    if boxes:
        page.score = sum(b.score for b in boxes) / len(boxes)
    if not boxes or page.score < MIN_PAGE_SCORE:
        page.note = f"第{number}页未能识别出文字（图像不清晰或不是文字），已跳过 / no readable text, skipped"
        return page
    page.layout = layout(boxes, rgb.shape[1], rgb.shape[0])
    page.text = page.layout.text
    if not page.text:
        page.note = f"第{number}页未能识别出文字，已跳过 / no readable text, skipped"
    return page


def recognise_pages(images: Sequence[tuple[int, Callable[[], Any]]], options: OcrOptions,
                    on_page: PageProgress | None = None) -> list[PageText]:
    """Pages given as (number, function that renders the page image), recognised ``options.workers`` at a time.

    Pages are rendered here, in order (pdfium is not thread-safe), and only as many are rendered as workers are
    free, so memory holds at most that many page images. ``on_page`` is called as each page is handed out.
    """
    from concurrent.futures import Future, ThreadPoolExecutor

    slots = threading.BoundedSemaphore(max(1, options.workers))
    results: list[PageText | Future] = []
    with ThreadPoolExecutor(max(1, options.workers), thread_name_prefix="ocr") as executor:
        for k, (number, render) in enumerate(images, 1):
            slots.acquire()
            if on_page:
                on_page(k, len(images), number)
            try:
                image = render()
            except Exception as e:  # pdfium or PIL on a broken page
                slots.release()
                results.append(PageText(number, ocr=True, note=f"第{number}页无法渲染，已跳过（{type(e).__name__}: {e}）"
                                                                 " / page could not be rendered, skipped"))
                continue
            future = executor.submit(recognise_page, image, number, options)
            future.add_done_callback(lambda _: slots.release())
            results.append(future)
    return [r.result() if isinstance(r, Future) else r for r in results]  # re-raises OcrUnavailable


# ---------------------------------------------------------------- documents


@dataclass
class Assembled:
    """A document's text from its pages, with what the index and the report need about them."""

    text: str
    page_starts: list[tuple[int, int]] = field(default_factory=list)  # (page number, offset in text)
    ocr_pages: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    title: str | None = None  # the printed title, when the first page with text is a scan that shows one
    body_start: int = 0  # after that title


def _clean(text: str) -> str:
    """A page's text as the loaders normalise whole documents: LF line ends, at most one blank line in a row,
    no blank lines at either end — done per page here so that page offsets survive."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = re.sub(r"\n(?:[ \t\u3000\xa0]*\n){2,}", "\n\n", text)
    return text.strip(" \t\n\u3000\xa0")


def assemble(pages: Sequence[PageText]) -> Assembled:
    """Join pages with a blank line — or with nothing where a recognised paragraph runs on overleaf (its last
    line reaches the margin without a sentence end and the next page's first line is not indented)."""
    out = Assembled("")
    parts: list[str] = []
    pos = 0
    prev: PageText | None = None
    for page in pages:
        if page.note:
            out.notes.append(page.note)
        text = _clean(page.text)
        if not text:
            continue
        run_on = (prev is not None and prev.layout is not None and page.layout is not None
                  and prev.layout.open_end and page.layout.continues)
        sep = "" if run_on or not parts else "\n\n"
        parts.append(sep + text)
        out.page_starts.append((page.number, pos + len(sep)))
        pos += len(sep) + len(text)
        if page.ocr:
            out.ocr_pages.append(page.number)
        if out.title is None and prev is None and page.layout is not None:
            title = page.layout.title()
            if title and text.startswith(title):
                out.title = title
                out.body_start = min(len(text), len(title) + 2)  # the title, then its blank line
        prev = page
    out.text = "".join(parts)
    return out


# ---------------------------------------------------------------- the index and the reader


def index_metadata(doc_meta: dict[str, Any]) -> dict[str, Any]:
    """File-level metadata for every chunk of a document with recognised pages ({} for any other document).

    Stored per file, not per chunk (the keyword index keeps one copy of a file's fields), as strings Chroma
    accepts: ``ocr_pages`` "1,2,3" and ``page_starts`` "1:0,2:1534" — a chunk's pages follow from its offsets.
    """
    if not doc_meta.get("ocr_pages"):
        return {}
    return {
        "ocr": True,
        "ocr_pages": ",".join(map(str, doc_meta["ocr_pages"])),
        "page_starts": ",".join(f"{n}:{o}" for n, o in doc_meta["page_starts"]),
    }


def chunk_pages(extra: dict[str, Any], start: int, end: int) -> list[int]:
    """Page numbers that the span [start, end) of a document's text covers (empty without page data)."""
    pairs = []
    for item in str(extra.get("page_starts") or "").split(","):
        number, _, offset = item.partition(":")
        if number.isdigit() and offset.isdigit():
            pairs.append((int(offset), int(number)))
    pages = [n for i, (o, n) in enumerate(pairs)
             if o < max(end, start + 1) and (i + 1 == len(pairs) or pairs[i + 1][0] > start)]
    return pages


def ocr_label(extra: dict[str, Any], start: int, end: int) -> str:
    """「扫描件，文字经OCR识别（第2页）」 for a passage read from a scan, else ""."""
    ocr = {int(p) for p in str(extra.get("ocr_pages") or "").split(",") if p.strip().isdigit()}
    pages = [p for p in chunk_pages(extra, start, end) if p in ocr]
    if not extra.get("ocr") or not pages:
        return ""
    where = f"第{pages[0]}页" if len(pages) == 1 else f"第{pages[0]}–{pages[-1]}页"
    return f"扫描件，文字经OCR识别（{where}）"


# ---------------------------------------------------------------- python -m ingest.ocr (the worker)


def _recognise(engine, rgb: np.ndarray, det_max_side: int = DET_MAX_SIDE,
               rec_width_scale: float = REC_WIDTH_SCALE) -> list[tuple[list[list[float]], str, float]]:
    """Detection on the page reduced to ``det_max_side``; lines cut from the full page, squeezed to
    REC_WIDTH_SCALE and recognised. The direction model votes for the whole page (see UPSIDE_DOWN_SHARE).
    Boxes are in the coordinates of the page as it is read (turned, if it was upside down)."""
    import cv2

    bgr = np.ascontiguousarray(rgb[:, :, ::-1])
    h, w = bgr.shape[:2]
    if h < 32 or h * 8 < w:  # a strip of one line: the detector needs some height around it
        pad = max(32, w // 8) - h
        bgr = cv2.copyMakeBorder(bgr, 0, pad, 0, 0, cv2.BORDER_CONSTANT, value=(255, 255, 255))
        h = bgr.shape[0]
    scale = min(1.0, det_max_side / max(h, w))

    def lines(image: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
        small = cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))),
                           interpolation=cv2.INTER_AREA) if scale < 1 else image
        found, _ = engine.text_det(small)
        if found is None or len(found) == 0:
            return [], []
        boxes = [np.clip(np.asarray(b, dtype=np.float32) / scale, 0, [w - 1, h - 1]).astype(np.float32)
                 for b in engine.sorted_boxes(np.asarray(found))]
        return boxes, engine.get_crop_img_list(image, boxes)

    boxes, crops = lines(bgr)
    if not boxes:
        return []
    _, votes, _ = engine.text_cls([c.copy() for c in crops])
    if sum(label == "180" and score > engine.text_cls.cls_thresh for label, score in votes) > UPSIDE_DOWN_SHARE * len(votes):
        bgr = np.ascontiguousarray(bgr[::-1, ::-1])  # the page is upside down: turn it and read it again
        boxes, crops = lines(bgr)  # (boxes are then in the turned page's coordinates, as the layout needs)
    crops = [cv2.resize(c, (max(8, round(c.shape[1] * 48 / max(c.shape[0], 1) * rec_width_scale)), 48),
                        interpolation=cv2.INTER_AREA) for c in crops]
    results, _ = engine.text_rec(crops, False)
    return [(b.tolist(), str(r[0]), float(r[1])) for b, r in zip(boxes, results)]


def _worker_main() -> None:
    """Serve pages on stdin/stdout until stdin closes. Anything a library prints goes to stderr, not the pipe."""
    out = os.fdopen(os.dup(1), "wb", buffering=0)
    os.dup2(2, 1)
    given = [float(a) for a in sys.argv[1:5]]
    threads, det_max_side, rec_batch, rec_width_scale = given + [1, DET_MAX_SIDE, REC_BATCH, REC_WIDTH_SCALE][len(given):]
    threads, det_max_side, rec_batch = int(threads), int(det_max_side), int(rec_batch)
    try:
        from rapidocr_onnxruntime import RapidOCR

        engine = RapidOCR(intra_op_num_threads=threads, inter_op_num_threads=1, rec_batch_num=rec_batch)
    except Exception as e:  # missing package or system library (libGL for OpenCV)
        _send(out, ("error", f"{type(e).__name__}: {e}"))
        return
    _send(out, ("ready", ENGINE_NAME))
    fd = sys.stdin.fileno()
    while True:
        try:
            image = _receive(fd, None)
        except EOFError:
            return
        try:
            _send(out, ("ok", _recognise(engine, image, det_max_side, rec_width_scale)))
        except Exception as e:
            _send(out, ("error", f"{type(e).__name__}: {e}"))


if __name__ == "__main__":
    _worker_main()
