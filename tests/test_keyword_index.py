"""The persisted keyword index: identical to rank_bm25, reopened instead of rebuilt, updated at ingest, rebuilt
when out of step with the collection, and shared by app instances through one real ``chroma run`` server."""

from __future__ import annotations

import shutil
from collections import defaultdict

import numpy as np
import pytest
from rank_bm25 import BM25Okapi
from scipy import sparse

from assistant import keyword_index
from assistant.textutil import bm25_tokens
from conftest import make_engine

FILING = "法规规章备案条例.md"
DRUGS = "中华人民共和国禁毒法.md"
QUESTIONS = ["法规规章备案条例第三条", "吸毒人员戒毒应当怎么办", "规章应当在公布后多少日内报送备案？", "禁毒法第九十九条"]


def _docs(corpus, folder, *names):
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copy(corpus / "regulations" / name, folder / name)
    return folder


def _reference(chunks):
    """What ``Retriever.reload`` computed before the index was persisted: BM25Okapi, then its weights."""
    corpus = [bm25_tokens(f"{c.context} {c.text}") for c in chunks]
    bm = BM25Okapi(corpus, k1=1.2, b=0.5)
    vocab, rows, cols, vals = {}, [], [], []
    for d, freqs in enumerate(bm.doc_freqs):
        norm = bm.k1 * (1 - bm.b + bm.b * bm.doc_len[d] / bm.avgdl)
        for t, f in freqs.items():
            rows.append(d)
            cols.append(vocab.setdefault(t, len(vocab)))
            vals.append(bm.idf.get(t, 0.0) * f * (bm.k1 + 1) / (f + norm))
    df = defaultdict(int)
    for toks in corpus:
        for t in set(toks):
            df[t] += 1
    return vocab, sparse.csc_matrix((vals, (rows, cols)), shape=(len(corpus), len(vocab))), dict(df), bm


def _same_as_reference(engine):
    r = engine.retriever
    chunks = sorted(engine.store.all_chunks(), key=lambda c: (c.source, c.start))
    assert r.chunks == chunks and r.by_id == {c.id: i for i, c in enumerate(chunks)}
    vocab, weights, df, bm = _reference(chunks)
    assert list(r.vocab.items()) == list(vocab.items())  # same columns, same order
    assert np.array_equal(r.weights.toarray(), weights.toarray())  # bit for bit
    assert {t: r.df.get(t) for t in r.vocab} == df
    for q in QUESTIONS:  # and the scores keyword search sums are rank_bm25's own
        toks = [t for t in bm25_tokens(q) if t in r.vocab]
        if toks:
            mine = np.asarray(r.weights[:, [r.vocab[t] for t in toks]].sum(axis=1)).ravel()
            assert np.allclose(mine, bm.get_scores(toks), rtol=1e-12, atol=0)


@pytest.mark.integration
def test_saved_index_is_rank_bm25_exactly_updated_at_ingest_and_reopened(corpus, tmp_path, capfd):
    docs = _docs(corpus, tmp_path / "docs", FILING)
    engine = make_engine(tmp_path / "index", [docs])
    engine.ingest(progress=False)
    assert engine.retriever.keyword_source == "updated"  # from the ingest's own writes, not a rebuild
    _same_as_reference(engine)

    again = make_engine(tmp_path / "index")  # a new process on the same folder
    assert again.retriever.keyword_source == "loaded"
    assert again.retriever.chunks == engine.retriever.chunks
    assert np.array_equal(again.retriever.weights.toarray(), engine.retriever.weights.toarray())
    for q in QUESTIONS:
        a, b = engine.ask(q).to_json(), again.ask(q).to_json()
        a.pop("ms"), b.pop("ms")
        assert a == b

    _docs(corpus, docs, DRUGS)  # a second file: only its passages are tokenised, and still exact
    report = engine.ingest([docs / DRUGS], progress=False)
    assert report.added and engine.retriever.keyword_source == "updated"
    _same_as_reference(engine)
    assert make_engine(tmp_path / "index").retriever.keyword_source == "loaded"
    assert "rebuild" not in capfd.readouterr().err


@pytest.mark.integration
def test_an_index_out_of_step_with_the_collection_is_rebuilt_with_a_message(corpus, tmp_path, capfd):
    docs = _docs(corpus, tmp_path / "docs", FILING)
    engine = make_engine(tmp_path / "index", [docs])
    engine.ingest(progress=False)
    capfd.readouterr()

    # an ingest killed after a write: the Store marked the collection's stamp, no index was saved after it
    victim = engine.retriever.chunks[0].id
    engine.store.delete([victim])
    assert keyword_index.collection_stamp(engine.store).startswith("writing")
    fresh = make_engine(tmp_path / "index")
    assert fresh.retriever.keyword_source == "rebuilt" and victim not in fresh.retriever.by_id
    assert "rebuilding it from" in capfd.readouterr().err
    _same_as_reference(fresh)
    assert make_engine(tmp_path / "index").retriever.keyword_source == "loaded"

    # a writer that bypasses the Store (older code): the chunk count gives it away
    fresh.store._collection.delete(ids=[fresh.retriever.chunks[-1].id])
    assert make_engine(tmp_path / "index").retriever.keyword_source == "rebuilt"


def test_two_instances_share_one_chroma_server_and_its_keyword_index(chroma_server, corpus, tmp_path, capfd):  # noqa: F811
    docs = _docs(corpus, tmp_path / "docs", FILING)
    server = {"chroma_host": "127.0.0.1", "chroma_port": chroma_server}
    first = make_engine(tmp_path / "first", [docs], **server)
    first.ingest(progress=False)
    assert first.retriever.keyword_source == "updated"
    # the second instance has no local copy: it must come from the server, not from a rebuild
    shutil.rmtree(keyword_index._local_root(first.store))
    capfd.readouterr()
    second = make_engine(tmp_path / "second", **server)
    assert second.retriever.keyword_source == "loaded"
    assert "rebuild" not in capfd.readouterr().err
    assert second.retriever.chunks == first.retriever.chunks
    for q in QUESTIONS:
        a, b = first.ask(q).to_json(), second.ask(q).to_json()
        a.pop("ms"), b.pop("ms")
        assert a == b

    # the first instance ingests another law; the second picks up the published index without rebuilding
    _docs(corpus, docs, DRUGS)
    first.ingest([docs / DRUGS], progress=False)
    assert second.refresh() and second.retriever.keyword_source == "loaded"
    assert len(second.retriever.chunks) == first.store.count() > 22
    assert second.ask("禁毒法第二条").found
