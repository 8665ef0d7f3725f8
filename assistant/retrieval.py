"""Finding passages: explicit article lookup first, else dense (Chroma) + BM25 (jieba + bigrams) fused.

Why not langchain's EnsembleRetriever: it returns documents without scores, and deciding whether to
answer needs both rankers' scores (the dense cosine in particular), and a weighted sum of the scores beat
reciprocal-rank fusion here. Chroma and the BM25 index each return their ranked candidates; ``fuse`` merges them.
"""

from __future__ import annotations

import math
import os
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from assistant import citations as cit
from assistant.bodies import Bodies
from assistant.intent import INTENTS, action_share, asked_action, intent_terms, kind_weight
from assistant.cachedir import cache_dir
from assistant.keyword_index import as_retriever_views, group_weights, open_index
from assistant.law_scope import LawScopes
from assistant.normalize import to_simplified
from assistant.schema import LEGAL_TYPES, Chunk, Hit
from assistant.settings import RetrievalSettings
from assistant.store import Store
from assistant.synonyms import expansions
from assistant.textutil import bm25_tokens, tokens
from assistant.versions import Version, VersionQuery, VersionTable, version_query

@dataclass
class ArticleLookup:
    """Result of a question that names an article: the passages, or why there are none."""

    citation: cit.DocumentReference
    title: str | None  # resolved corpus title
    found: bool
    chunks: list[Chunk] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # article labels not in the document
    #: "no_such_article" / "document_not_in_corpus" / "ambiguous" / "which_document" (no document named) / ""
    reason: str = ""
    #: The documents the caller may have meant: for "ambiguous" the titles the name fits, for "which_document"
    #: the documents that have every cited article — so the answer can ask instead of guessing.
    candidates: list[str] = field(default_factory=list)
    name: str = ""  # the document as the question (or the conversation) named it, for messages
    #: The version of the law the chunks are from (assistant/versions.py); None for a document with one version.
    version: Version | None = None
    #: Versions of the same law dated after ``version`` (the answer says a newer text exists).
    newer: list[Version] = field(default_factory=list)


class ArticleIndex(Mapping):
    """(title, article label) → the article's passages, from row numbers; the passages are made when read."""

    def __init__(self, rows: dict[tuple[str, str], list[int]], chunks) -> None:
        self.rows, self._chunks = rows, chunks

    def __getitem__(self, key: tuple[str, str]) -> list[Chunk]:
        return [self._chunks[i] for i in self.rows[key]]

    def __contains__(self, key: object) -> bool:
        return key in self.rows

    def __iter__(self):
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)


#: Sentence vectors kept by ``Retriever.similarity`` before the cache starts afresh (about 2 KB each with USE).
SENTENCE_CACHE = 20_000


def _bm25(w, cols: list[int]) -> np.ndarray:
    """BM25Okapi.get_scores of every row: the question's columns of the Okapi weights summed (a repeated token counts
    again), read straight from the CSC arrays — scipy's column slicing copies them first, 3× slower on a large
    corpus."""
    spans = [slice(w.indptr[j], w.indptr[j + 1]) for j in cols]
    return np.bincount(np.concatenate([w.indices[sl] for sl in spans]),
                       weights=np.concatenate([w.data[sl] for sl in spans]), minlength=w.shape[0])


class Retriever:
    """Holds the in-memory views of the index (chunks, BM25, article table); cheap to query, built once."""

    def __init__(self, store: Store, tuning: RetrievalSettings | None = None, mode: str = "hybrid",
                 library_dirs: list | None = None) -> None:
        self.store = store
        #: real paths of the reference-library folders (Settings.library_dirs), "/" ended for a prefix test
        self.library_roots = tuple(os.path.join(os.path.realpath(d), "") for d in library_dirs or ())
        self.tuning = tuning or RetrievalSettings()
        self.mode = mode  # hybrid / dense / bm25: the benchmarks compare them
        self._sentence_vectors: dict[str, list[float]] = {}  # sentence → embedding (``similarity``)
        self.reload()

    def reload(self) -> None:
        """Bring the in-memory views in step with the index: at start, after an ingest, or when another
        instance has published a newer keyword index (``Engine.refresh``).

        The chunk table and BM25 matrix come from ``keyword_index.open_index``: kept, updated with this
        process's writes, opened from the saved copy, or rebuilt from Chroma — never rebuilt at every start.
        ``keyword_source`` says which (the tests read it).
        """
        opened = open_index(self.store, getattr(self, "keyword_index", None))
        self.keyword_source = opened.how
        if opened.how == "current":
            return
        index = opened.index
        chunks, vocab, df = as_retriever_views(index)
        # per file, not per passage: the table is sorted by source, so each file's rows are one run
        table = index.columns()
        files, file_of = table["files"], table["file"]
        spans: list[tuple[int, int, int]] = []  # (file, first row, end row)
        for i, f in enumerate(file_of):
            if i == 0 or f != file_of[i - 1]:
                spans.append((f, i, i))
            spans[-1] = (f, spans[-1][1], i + 1)
        titles: dict[str, str] = {}  # doc title → doc_type
        doc_rows: dict[str, list[int]] = defaultdict(list)
        for f, a, b in spans:
            titles[files[f]["doc"]] = files[f]["doc_type"]
            doc_rows[files[f]["doc"]].extend(range(a, b))
        versions = VersionTable(files, spans, table["article"], table["texts"])
        texts = table["texts"]
        # assigned together at the end, so a question answered meanwhile sees the old views, not a mix
        self.keyword_index = index
        self.chunks = chunks  # made one by one when read (keyword_index.ChunkTable)
        self.by_id = {cid: i for i, cid in enumerate(table["ids"])}
        self.bm25 = index if chunks else None  # ``keyword`` reads "is there a keyword index at all"
        self.df = df  # term → passages containing it (``get``)
        # rank_bm25's Okapi weights as a sparse chunk × term matrix (keyword_index builds it): summing the
        # question's columns gives BM25Okapi.get_scores' numbers about twenty times faster than its Python loop
        self.vocab, self.weights = vocab, index.weights
        self.vectors = index.vectors  # the passages' vectors in row order, when saved beside the keyword index
        self.coarse = index.coarse  # their leading coordinates, beside a large library (assistant/vector_search.py)
        self.titles = titles
        self.doc_rows = doc_rows
        # rows of files in the reference library (Settings.library_dirs), ranked after the bureau's own documents
        self.in_library = np.zeros(len(chunks), dtype=bool)
        # a law the bureau keeps is its own in every version: the library's newer text of it is not ranked after it
        own_titles = {files[f]["doc"] for f, _, _ in spans if not files[f]["source"].startswith(self.library_roots)}
        for f, a, b in spans if self.library_roots else ():
            self.in_library[a:b] = files[f]["source"].startswith(self.library_roots) and files[f]["doc"] not in own_titles
        # Beside a library, the bureau's own documents are a pool of their own: their own candidates (``_best``) and
        # their keyword ranking by their own IDF, as they would be with no library; ``fuse`` compares both pools on
        # one scale, the library's after the bureau's (``library_weight``). One pool for both left the bureau's
        # laws out of the candidates of everyday questions (docs/benchmarks.md, 'Law library').
        self.own_rows: np.ndarray | None = None
        self.own_weights = None
        if self.in_library.any() and not self.in_library.all():
            self.own_rows = np.flatnonzero(~self.in_library)
            self.own_weights = group_weights(index.tf, self.own_rows)
        #: the rows each search ranks on their own (``_best``): the bureau's, then the library's; [None]: all as one
        self.pools: list[np.ndarray | None] = [None] if self.own_rows is None else [~self.in_library, self.in_library]
        self._table, self._spans = table, spans
        self._articles: ArticleIndex | None = None  # built on the first article lookup
        self._article_counts: dict[str, int] | None = None
        #: versions of each law; rows ordinary retrieval leaves out by default (older versions, duplicate parts)
        self.versions, self.hidden = versions, versions.superseded | versions.duplicate
        self._scopes: LawScopes | None = None  # built on the first search that weighs laws against each other
        self.bodies = Bodies({t: "\n".join(texts[i] for i in doc_rows[t])
                              for t, doc_type in titles.items() if doc_type == "report"})
        # titles as a simplified question names them (寧夏自治區… → 宁夏自治区…)
        self.simplified_titles = {to_simplified(t): t for t in titles}
        self._alias_starts: dict[str, list[tuple[str, str]]] | None = None

    @property
    def articles(self) -> ArticleIndex:
        """(title, 第N条) → that article's passages, of every version and file (``versions`` picks one); built on
        first use, so a question that names no article does not pay for a pass over the library."""
        if self._articles is None:
            rows: dict[tuple[str, str], list[int]] = defaultdict(list)
            files, labels = self._table["files"], self._table["article"]
            for f, a, b in self._spans:
                doc = files[f]["doc"]
                for i in range(a, b):
                    if labels[i]:
                        rows[(doc, labels[i])].append(i)
            self._articles = ArticleIndex(dict(rows), self.chunks)
        return self._articles

    @property
    def article_counts(self) -> dict[str, int]:
        """Title → its articles, each counted once in the version in force (older versions hold them too)."""
        if self._article_counts is None:
            counts: dict[str, int] = defaultdict(int)
            hidden = self.hidden
            for (doc, _), rows in self.articles.rows.items():
                if any(not hidden[i] for i in rows):
                    counts[doc] += 1
            self._article_counts = counts
        return self._article_counts

    def chunks_of(self, doc: str, version: Version | None = None) -> list[Chunk]:
        """One document's passages in reading order, without a pass over the whole corpus: of ``version``, or of
        the version in force when the law has several (never an article twice)."""
        rows = self.doc_rows.get(doc, ())
        if version is not None:
            dup = self.versions.duplicate
            return [self.chunks[i] for i in rows if self.chunks[i].source in version.sources and not dup[i]]
        return [self.chunks[i] for i in rows if not self.hidden[i]]

    def hidden_rows(self, question: str) -> np.ndarray:
        """Rows a search for ``question`` leaves out: other versions than the one it asks for, and duplicates."""
        query = version_query(question)
        return self.hidden if query is None else self.versions.hidden(query)

    @property
    def scopes(self) -> LawScopes:
        """Each law's subject words (assistant/law_scope.py), built on first use: a one-question command that
        needs no ranking among laws does not pay for it."""
        if self._scopes is None:
            path = cache_dir() / "law-scopes" / f"{self.store.collection_name}-{self.keyword_index.stamp}.json"
            try:
                self._scopes = LawScopes.load(path)
            except (OSError, ValueError):
                self._scopes = LawScopes(self._table, self._spans, self.hidden, self.tuning.scope_articles)
                try:
                    self._scopes.save(path)  # per keyword-index stamp: a new ingest gets new bags
                except OSError:
                    pass
        return self._scopes

    def scope_factors(self, question: str, laws: list[str]) -> dict[str, float]:
        """Law → the factor its passages' scores are multiplied by: 1 for the laws whose subject best matches the
        question, down to 1 - ``scope_weight`` for a law whose subject the question does not touch (a special law
        for another field). {} when fewer than two laws compete or no law's subject matches."""
        w = self.tuning.scope_weight
        if len(laws) < 2 or not w or len(self.versions.laws) < self.tuning.scope_min_laws:
            return {}
        scores = self.scopes.scores(tokens(" ".join([question, *self.expand(question)])), laws)  # 老师 → 教师 too
        best = max(scores.values(), default=0.0)
        if best <= 0:
            scores = {law: 1.0 for law in laws}  # no law's subject matches: the other preferences still apply
            best = 1.0
        share = self.tuning.scope_share * best  # at least this much of the best match: the question's field too
        factors = {law: 1 - w * max(0.0, 1 - s / share) for law, s in scores.items()}
        # a law (法律) that shares the question's subject states the rule before the regulations made under it
        rank = self.tuning.below_law
        if rank < 1 and any(self.titles.get(law) == "law" and scores[law] > 0 for law in laws):
            factors = {law: f * (1.0 if self.titles.get(law) == "law" else rank) for law, f in factors.items()}
        return factors

    # ---- signals used by answering -------------------------------------------------------------
    def terms(self, chunk: Chunk) -> set[str]:
        """The chunk's BM25 tokens (its context and text), read from the keyword index's row."""
        i = self.by_id.get(chunk.id)
        return self.keyword_index.terms(i) if i is not None else set(bm25_tokens(f"{chunk.context} {chunk.text}"))

    def idf(self, token: str) -> float:
        n = max(len(self.chunks), 1)
        return math.log((n + 1) / (self.df.get(token, 0) + 0.5))

    def similarity(self, question: str, sentences: list[str]) -> list[float]:
        """Cosine of the question and each sentence with the index's embedding model (vectors are normalised);
        sentence vectors are kept, so a passage read again costs nothing."""
        missing = [s for s in dict.fromkeys(sentences) if s not in self._sentence_vectors]
        if question not in self._sentence_vectors:
            missing.append(question)
        if missing:
            if len(self._sentence_vectors) > SENTENCE_CACHE:
                self._sentence_vectors.clear()
            for s, v in zip(missing, self.store.embeddings.embed_documents(missing)):
                self._sentence_vectors[s] = v
        q = self._sentence_vectors[question]
        return [sum(a * b for a, b in zip(q, self._sentence_vectors[s])) for s in sentences]

    def embed(self, text: str) -> list[float]:
        """``text``'s vector, kept with the sentence vectors: the question searched for is the question its answer's
        sentences are compared with (``similarity``), and it was encoded twice."""
        vector = self._sentence_vectors.get(text)
        if vector is None:
            if len(self._sentence_vectors) > SENTENCE_CACHE:
                self._sentence_vectors.clear()
            vector = self._sentence_vectors[text] = self.store.embeddings.embed_query(text)
        return vector

    @staticmethod
    def expand(question: str) -> list[str]:
        """The document terms that the question's everyday phrasing stands for (see synonyms.py)."""
        return [term for terms in expansions(question).values() for term in terms]

    # ---- explicit articles ---------------------------------------------------------------------
    def lookup_articles(self, question: str, default_title: str | None = None,
                        ask_which: bool = False) -> ArticleLookup | None:
        """The first citation in the question that names an article, resolved against the corpus.

        A bare 第N条 (or 本法第N条) belongs to the document the question names before it (在教育法里，第五条…), else
        to one it names after it (第五条在教育法里…), else to ``default_title`` (the conversation's or the filter's
        document). If it belongs to none, it is no article question (None) unless ``ask_which``: then the lookup
        says "which_document" and lists the documents that have the article, because answering from keyword
        search would quote some document's 第N条 as if it were the one asked about.
        """
        unattached = None
        query = version_query(question)
        for c in cit.parse_citations(question, self.titles):
            if not c.articles:
                continue
            name = c.title
            if name is None or cit.is_self_reference(name):
                named = cit.mentions(question, self.titles)
                before = [n for s, e, n in named if e <= c.start]
                after = [n for s, e, n in named if s >= c.end]
                name = before[-1] if before else after[0] if after else default_title
            if name is None:
                unattached = unattached or c
                continue
            return self.resolve(c, name, query)
        if unattached is None or not ask_which:
            return None
        have = [t for t in self.titles if all((t, a) in self.articles for a in unattached.articles)]
        return ArticleLookup(unattached, None, False, reason="which_document", candidates=have)

    def resolve(self, citation: cit.DocumentReference, name: str, query: VersionQuery | None = None,
                when=None) -> ArticleLookup:
        """``citation``'s document (called ``name``) and articles, looked up in the corpus.

        The one resolution step behind both chat questions that name an article and the citation checker. A law
        in several versions answers from ONE of them: the version ``query`` asks for (修订前, 2018年时), the one in
        force at ``when`` (a draft's date, for the checker), else the one in force today.
        """
        titles = cit.resolve_title(name, self.titles)
        if not titles:
            return ArticleLookup(citation, None, False, reason="document_not_in_corpus", name=name)
        if len(titles) > 1:
            return ArticleLookup(citation, None, False, reason="ambiguous", candidates=titles, name=name)
        title = titles[0]
        version = self.versions.pick(title, query, when)
        chunks, missing = [], []
        for label in citation.articles:
            found = self.versions.of_version(self.articles.get((title, label), []), version)
            if found:
                chunks.extend(found)
            else:
                missing.append(label)
        versioned = self.versions.versioned(title)
        return ArticleLookup(citation, title, not missing, chunks, missing, "no_such_article" if missing else "",
                             name=name, version=version if versioned else None,
                             newer=self.versions.newer(version) if versioned and version else [])

    def mentioned_titles(self, question: str) -> list[str]:
        """Corpus documents the question names (with or without 《》), for a soft boost."""
        found = []
        for c in cit.parse_citations(question, self.titles):
            if c.title:
                found += cit.resolve_title(c.title, self.titles)
        q = question.replace("中华人民共和国", "")
        starts = self.alias_starts
        named = {title for i in range(len(q) - 2) for alias, title in starts.get(q[i:i + 2], ()) if q.startswith(alias, i)}
        found += [t for t in self.simplified_titles.values() if t in named and t not in found]
        return found

    @property
    def alias_starts(self) -> dict[str, list[tuple[str, str]]]:
        """First two characters → (alias of three or more characters, title) for the titles as a simplified question
        names them: a question is read once, not once per title (1.2 ms a question beside a library of 1,500)."""
        if self._alias_starts is None:
            starts: dict[str, list[tuple[str, str]]] = defaultdict(list)
            for simple, title in self.simplified_titles.items():
                for a in cit.title_aliases(simple):
                    if len(a) >= 3:
                        starts[a[:2]].append((a, title))
            self._alias_starts = dict(starts)
        return self._alias_starts

    # ---- hybrid search -------------------------------------------------------------------------
    def allowed_docs(self, doc: str | None, doc_type: str | None, docs: list[str] | None = None) -> list[str] | None:
        """The documents a filter keeps: one document, a type, and/or a list (the reports of a body the question
        names, or every document but the reports); None when nothing is filtered."""
        if not doc and not doc_type and docs is None:
            return None
        keep = [doc] if doc else list(docs) if docs is not None else list(self.titles)
        if doc and docs is not None and doc not in docs:
            return []
        return [d for d in keep if not doc_type or self.titles.get(d) == doc_type]

    def _allowed(self, allowed: list[str] | None) -> np.ndarray | None:
        """The rows of the allowed documents, from the per-document rows (no pass over every chunk)."""
        if allowed is None:
            return None
        mask = np.zeros(len(self.chunks), dtype=bool)
        for d in allowed:
            mask[self.doc_rows.get(d, [])] = True
        return mask

    def _served(self, allowed: list[str] | None, hidden: np.ndarray | None) -> np.ndarray | None:
        """The rows a search may return: those of the allowed documents that are not hidden; None: every row."""
        mask = self._allowed(allowed)
        if hidden is not None and hidden.any():
            mask = ~hidden if mask is None else mask & ~hidden
        return mask

    def dense(self, question: str, n: int, allowed: list[str] | None = None,
              vector: list[float] | None = None, hidden: np.ndarray | None = None) -> list[tuple[int, float]]:
        """The ``n`` nearest passages; ``hidden`` rows (other versions, duplicates) are dropped after the search,
        which asks for more to make up for them, because a Chroma filter on every served row would be slow."""
        if allowed is not None and not allowed:
            return []
        vector = vector if vector is not None else self.embed(question)
        if self.vectors is not None:
            return self._exact_dense(vector, n, allowed, hidden)
        if allowed is not None:
            rows = np.flatnonzero(self._allowed(allowed) & ~hidden if hidden is not None else self._allowed(allowed))
            if len(rows) <= self.tuning.dense_exact_rows:
                # a few passages (one body's reports): their exact cosines, read by id — Chroma's filtered HNSW search
                # took 100–190 ms here against a library of 66,000
                ids = [self.chunks[i].id for i in rows]
                cos = self.store.cosines(vector, ids)
                return sorted(((self.by_id[i], c) for i, c in cos.items()), key=lambda x: -x[1])[:n]
        if allowed is not None and len(allowed) > self.tuning.dense_filter_docs:
            # a wide filter (every law but the reports) is slow inside Chroma: filter its neighbours here instead
            keep = self._allowed(allowed)
            hidden = ~keep if hidden is None else hidden | ~keep
            allowed = None
        where = None if allowed is None else {"doc": allowed[0]} if len(allowed) == 1 else {"doc": {"$in": allowed}}
        extra = hidden is not None and hidden.any()
        want = int(n * self.tuning.hidden_oversample) if extra else n
        hits = self.store.dense_search(vector, want, where)
        rows = [(self.by_id[i], s) for i, s in hits if i in self.by_id]
        if extra:
            rows = [(r, s) for r, s in rows if not hidden[r]]
        return rows[:n]

    def _exact_dense(self, vector: list[float], n: int, allowed: list[str] | None,
                     hidden: np.ndarray | None) -> list[tuple[int, float]]:
        """The ``n`` best rows by exact cosine over the saved vectors (``keyword_index._save_vectors``): no
        approximation, no filter inside Chroma, and Chroma's vector index is never loaded."""
        mask = self._served(allowed, hidden)
        q = self._unit(vector)
        few = mask is not None and np.count_nonzero(mask) * 8 < len(self.vectors)  # a few documents' rows
        if self.coarse is not None and not few:
            return self._best(self.coarse.scores(self.vectors, q, mask, self.pools, n, self.tuning.dense_shortlist), n)
        if few:  # only their rows
            rows = np.flatnonzero(mask)
            scores = np.full(len(self.vectors), -np.inf, dtype=np.float32)
            scores[rows] = self.vectors[rows] @ q
        else:  # copying most rows out of the matrix costs more than scoring them all (8–9 ms for 67,853)
            scores = self.vectors @ q
            if mask is not None:
                scores = np.where(mask, scores, -np.inf)
        return self._best(scores, n)

    @staticmethod
    def _unit(vector: list[float]) -> np.ndarray:
        q = np.asarray(vector, dtype=np.float32)
        return q / (np.linalg.norm(q) or 1.0)

    def cosines(self, vector: list[float], chunk_ids: list[str]) -> dict[str, float]:
        """Cosines of ``vector`` with these passages: from the saved vectors, else from Chroma."""
        if self.vectors is None:
            return self.store.cosines(vector, chunk_ids)
        q = self._unit(vector)
        return {cid: float(self.vectors[self.by_id[cid]] @ q) for cid in chunk_ids if cid in self.by_id}

    def keyword(self, question: str, n: int, allowed: list[str] | None = None,
                kind: str = "fact", hidden: np.ndarray | None = None) -> list[tuple[int, float]]:
        if self.bm25 is None:
            return []
        q = bm25_tokens(" ".join([question, *self.expand(question), *intent_terms(question, kind)]))
        cols = [self.vocab[t] for t in q if t in self.vocab]
        if not cols:
            return []
        scores = _bm25(self.weights, cols)
        if self.own_rows is not None:  # the bureau's pool ranked by its own IDF, on the shared scale at its best row
            own = _bm25(self.own_weights, cols)
            top = int(np.argmax(own))
            if own[top] > 0:
                scores[self.own_rows] = own * (scores[self.own_rows[top]] / own[top])
        mask = self._served(allowed, hidden)
        if mask is not None:
            scores = np.where(mask, scores, -np.inf)
        return [(i, s) for i, s in self._best(scores, n) if s > 0]

    def _best(self, scores: np.ndarray, n: int) -> list[tuple[int, float]]:
        """The best ``n`` rows by ``scores``, best first; beside a library, the best ``n`` of each pool."""
        out: list[tuple[int, float]] = []
        for pool in self.pools:
            s = scores if pool is None else np.where(pool, scores, -np.inf)
            if n < len(s):  # the best n without sorting the whole corpus
                part = np.argpartition(-s, n)[:n]
                top = part[np.argsort(-s[part], kind="stable")]
            else:
                top = np.argsort(-s, kind="stable")
            out += [(int(i), float(s[i])) for i in top if s[i] > -np.inf]
        return out

    def search(self, question: str, k: int = 5, doc: str | None = None, doc_type: str | None = None,
               mode: str | None = None, kind: str = "fact", docs: list[str] | None = None,
               turn: str | None = None) -> list[Hit]:
        """The top ``k`` passages; ``kind`` (assistant.intent) favours the passages that answer that kind of question.
        ``docs`` confines the search to those documents (the reports of the body a question names). ``turn``: the
        conversation's last question when ``question`` is it merged with the earlier ones — its words weigh
        ``turn_weight`` more than the history's, so a follow-up with a topic of its own is not drowned by the
        question before it."""
        mode = mode or self.mode
        n = max(self.tuning.candidates, k)
        allowed = self.allowed_docs(doc, doc_type, docs)
        turn = turn if turn and turn != question and self.tuning.turn_weight else None
        hidden = self.hidden_rows(question)
        vector = self.embed(question) if mode in ("hybrid", "dense") else None
        if vector is not None and turn:
            v = np.asarray(vector) + self.tuning.turn_weight * np.asarray(self.embed(turn))
            vector = (v / (np.linalg.norm(v) or 1.0)).tolist()
        dense = self.dense(question, n, allowed, vector, hidden) if vector is not None else []
        weighted = " ".join([question, *[turn] * round(self.tuning.turn_weight)]) if turn else question
        keyword = self.keyword(weighted, n, allowed, kind, hidden) if mode in ("hybrid", "bm25") else []
        boost = set(self.mentioned_titles(question)) if not doc else set()
        hits = self.fuse(dense, keyword, k, boost, kind, question)
        if vector is not None:  # keyword-only hits get their cosine too: answerability reads it
            cosines = self.cosines(vector, [h.chunk.id for h in hits if h.dense is None])
            for h in hits:
                h.dense = cosines.get(h.chunk.id, h.dense)
        return hits

    def action_factors(self, question: str, kind: str, rows: list[int]) -> dict[int, float]:
        """Row → its score's factor for a time question: within each law, the passages whose periods are for the action
        asked come first (行政复议法第二十条's 六十日内提出行政复议申请 before 第三十四条's 十五日内…提起行政诉讼 for 申请行政复议),
        on the scale of that law's best match, so which law answers is left to the other signals: another field's
        law that words the action as the question does (矿山安全法's 向人民法院起诉) is not preferred for it. The bureau's own
        documents only (``action_weight``)."""
        w = self.tuning.action_weight
        if not (w and question and INTENTS[kind].period_action):
            return {}
        action = asked_action(question)
        shares: dict[int, float] = {}
        best: dict[str, float] = defaultdict(float)
        for i in rows:
            if self.own_rows is None or not self.in_library[i]:
                share = action_share(action, self.chunks[i].text, self.idf) or 0.0
                shares[i] = share
                best[self.chunks[i].doc] = max(best[self.chunks[i].doc], share)
        return {i: (1 + w * share) / (1 + w * best[self.chunks[i].doc]) for i, share in shares.items()
                if best[self.chunks[i].doc]}

    def fuse(self, dense: list[tuple[int, float]], keyword: list[tuple[int, float]], k: int,
             boost: set[str] = frozenset(), kind: str = "fact", question: str = "") -> list[Hit]:
        """Weighted sum of the two rankers' scores, each scaled to [0, 1] over its own candidates.

        BM25 is divided by its best score; the cosines are min-max scaled over the dense candidates (USE's
        cosines sit in a narrow band, so raw values would barely move the sum). Keyword evidence weighs
        ``keyword_weight`` (RetrievalSettings): BM25 is stronger than the USE model on report facts, the dense side
        rescues paraphrases. Reciprocal-rank fusion was measured too (docs/benchmarks.md).
        Then the question's kind weighs in (``kind_weight``): a plan question prefers a report's plan section, and
        the laws whose subject matches the question come before laws for other fields (``scope_factors``).
        """
        dense_score, bm25_score = dict(dense), dict(keyword)
        top_bm25 = max(bm25_score.values(), default=1.0) or 1.0
        lo, hi = min(dense_score.values(), default=0.0), max(dense_score.values(), default=1.0)
        dense_scaled = {i: (s - lo) / ((hi - lo) or 1.0) for i, s in dense_score.items()}
        w = self.tuning.keyword_weight
        scores = {i: w * bm25_score.get(i, 0.0) / top_bm25 + (1 - w) * dense_scaled.get(i, 0.0)
                  for i in dense_score.keys() | bm25_score.keys()}
        laws = list(dict.fromkeys(self.chunks[i].doc for i in scores if self.chunks[i].doc_type in LEGAL_TYPES))
        scope = self.scope_factors(question, laws) if question and not boost else {}
        factors = self.action_factors(question, kind, list(scores))
        for i in scores:
            chunk = self.chunks[i]
            scores[i] *= factors.get(i, 1.0)
            if chunk.doc in boost:  # the question names this document
                scores[i] *= self.tuning.title_boost
            scores[i] *= kind_weight(kind, chunk) * scope.get(chunk.doc, 1.0)
            if self.in_library[i]:
                scores[i] *= self.tuning.library_weight
        scale = max(scores.values(), default=1.0) or 1.0
        hits = [Hit(chunk=self.chunks[i], score=s / scale, dense=dense_score.get(i), bm25=bm25_score.get(i),
                    library=bool(self.in_library[i])) for i, s in scores.items()]
        hits.sort(key=lambda h: -h.score)
        return hits[:k]
