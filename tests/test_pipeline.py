"""Incremental ingestion into a real (embedded Chroma) index built from 2–3 corpus files copied to tmp_path.

Nothing here touches the session-wide corpus index: every test builds its own small one.
"""

from __future__ import annotations

import io
import multiprocessing
import shutil
from pathlib import Path

import numpy as np
import pytest

from assistant.store import Store
from assistant.ingest.loaders import load

REPORT_NAME = "柳州市教育局2022年法治政府建设情况报告"
TEACHERS = "中华人民共和国教师法.md"  # 43 articles
FILING = "法规规章备案条例.md"  # 22 articles


@pytest.fixture
def docs(tmp_path, corpus) -> Path:
    """A folder with copies of the report and two short laws."""
    folder = tmp_path / "docs"
    folder.mkdir()
    shutil.copy(corpus / "reports" / f"{REPORT_NAME}.txt", folder)
    for name in (TEACHERS, FILING):
        shutil.copy(corpus / "regulations" / name, folder)
    return folder


def chunks_by_source(engine) -> dict[str, list]:
    out: dict[str, list] = {}
    for c in engine.store.all_chunks():
        out.setdefault(c.source, []).append(c)
    return {s: sorted(cs, key=lambda c: c.start) for s, cs in out.items()}


def assert_index_matches_files(engine) -> None:
    """Every stored passage is the verbatim slice of its (current) source file at its stored offsets."""
    for source, chunks in chunks_by_source(engine).items():
        text = load(source).text
        for c in chunks:
            assert text[c.start : c.end] == c.text, (source, c.article, c.start)


def resolved(paths) -> set[str]:
    return {str(Path(p).resolve()) for p in paths}


def test_first_ingest_adds_and_second_is_idempotent(small_engine, docs):
    engine = small_engine()
    first = engine.ingest([docs], progress=False)
    assert resolved(first.added) == resolved(docs.iterdir())
    assert (first.updated, first.unchanged, first.removed, first.skipped) == ([], [], [], [])
    assert first.embedded == first.chunks == engine.store.count() > 43 + 22
    assert_index_matches_files(engine)
    records = engine.store.files()
    assert resolved(records) == resolved(docs.iterdir())
    assert all(r.complete for r in records.values())
    assert {r.doc_type for r in records.values()} == {"report", "law", "admin_regulation"}

    ids = sorted(c.id for c in engine.store.all_chunks())
    second = engine.ingest([docs], progress=False)
    assert second.embedded == 0
    assert sorted(c.id for c in engine.store.all_chunks()) == ids
    assert resolved(second.unchanged) == resolved(docs.iterdir())
    assert (second.added, second.updated, second.removed, second.skipped) == ([], [], [], [])
    assert second.chunks == first.chunks


def test_reopened_index_answers(small_engine, docs):
    engine = small_engine()
    engine.ingest([docs], progress=False)
    reopened = small_engine(index_dir=engine.settings.index_dir)
    assert reopened.store.count() == engine.store.count()
    answer = reopened.ask("教师法第八条")
    assert answer.found and answer.citations[0].chunk.article == "第八条"


def test_edited_article_reembeds_only_that_article(small_engine, docs, corpus):
    engine = small_engine()
    engine.ingest([docs], progress=False)
    before = {c.id: c for c in engine.store.all_chunks()}

    law = docs / TEACHERS
    text = law.read_text(encoding="utf-8")
    old = "第八条 教师应当履行下列义务"
    assert text.count(old) == 1
    law.write_text(text.replace(old, "第八条 教师应当认真履行下列各项义务"), encoding="utf-8")

    report = engine.ingest([docs], progress=False)
    assert resolved(report.updated) == resolved([law])
    assert len(report.unchanged) == 2 and report.added == [] and report.removed == []
    assert 1 <= report.embedded <= 2
    assert report.chunks == len(before)

    after = {c.id: c for c in engine.store.all_chunks()}
    new_ids = set(after) - set(before)
    assert len(new_ids) == report.embedded
    assert {after[i].article for i in new_ids} == {"第八条"}
    assert not any("教师应当履行下列义务" in c.text for c in after.values())
    eighth = [c for c in after.values() if c.article == "第八条" and c.doc == "中华人民共和国教师法"]
    assert len(eighth) == 1 and eighth[0].text.startswith("第八条 教师应当认真履行下列各项义务")
    # later articles moved by 4 characters: their offsets were updated without re-embedding
    assert_index_matches_files(engine)
    assert engine.store.files()[str(law.resolve())].complete

    answer = engine.ask("教师法第八条")
    assert answer.found and "认真履行下列各项义务" in answer.citations[0].chunk.text


def test_deleted_file_is_removed(small_engine, docs):
    engine = small_engine()
    engine.ingest([docs], progress=False)
    gone = docs / FILING
    source = str(gone.resolve())
    assert engine.store.ids_for_source(source)
    gone.unlink()

    report = engine.ingest([docs], progress=False)
    assert report.removed == [source]
    assert report.embedded == 0
    assert engine.store.ids_for_source(source) == []
    assert source not in engine.store.files()
    assert "法规规章备案条例" not in {c.doc for c in engine.retriever.chunks}
    assert "法规规章备案条例" not in {row["doc"] for row in engine.store.documents()}
    answer = engine.ask("法规规章备案条例第三条")
    assert not answer.found and answer.citations == []


def test_deleted_file_given_by_path_is_removed(small_engine, docs):
    engine = small_engine()
    gone = docs / FILING
    engine.ingest([gone], progress=False)
    gone.unlink()
    report = engine.ingest([gone], progress=False)
    assert report.removed == [str(gone.resolve())]
    assert engine.store.count() == 0


def test_ingesting_one_file_leaves_the_others_alone(small_engine, docs, tmp_path):
    engine = small_engine()
    engine.ingest([docs / TEACHERS, docs / FILING], progress=False)
    count = engine.store.count()
    report = engine.ingest([docs / f"{REPORT_NAME}.txt"], progress=False)
    assert len(report.added) == 1 and report.removed == []
    assert engine.store.count() > count
    assert len(engine.store.files()) == 3


def test_gbk_report(small_engine, tmp_path, corpus):
    folder = tmp_path / "gbk"
    folder.mkdir()
    raw = (corpus / "reports" / f"{REPORT_NAME}.txt").read_bytes()
    path = folder / f"{REPORT_NAME}.txt"
    path.write_bytes(raw.decode("utf-8").encode("gbk"))
    decoded = path.read_bytes().decode("gbk")

    engine = small_engine()
    report = engine.ingest([folder], progress=False)
    assert report.skipped == [] and len(report.added) == 1
    chunks = engine.store.all_chunks()
    assert len(chunks) > 20
    for c in chunks:
        assert c.doc == REPORT_NAME and c.doc_type == "report"
        assert c.text in decoded
        assert decoded[c.start : c.end] == c.text
    answer = engine.ask("今年共审查重大行政决策多少份？")
    assert answer.found and "9份" in answer.answer


def _corrupt_pdf() -> bytes:
    from reportlab.pdfgen import canvas

    buf = io.BytesIO()
    c = canvas.Canvas(buf)
    c.drawString(40, 800, "truncated")
    c.showPage()
    c.save()
    return buf.getvalue()[:600]  # cut off before the cross-reference table


def _png() -> bytes:
    return b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(200)


def test_bad_files_are_skipped_with_a_reason(small_engine, docs):
    broken = docs / "损坏的文件.pdf"
    broken.write_bytes(_corrupt_pdf())
    image = docs / "截图.txt"
    image.write_bytes(_png())

    engine = small_engine()
    report = engine.ingest([docs], progress=False)
    skipped = dict(report.skipped)
    assert set(skipped) == {str(broken), str(image)}
    assert "PDF" in skipped[str(broken)]
    assert "png" in skipped[str(image)] and ".txt" in skipped[str(image)]
    assert len(report.added) == 3
    assert str(broken) in report.summary() and str(image) in report.summary()
    assert {d["path"] for d in report.to_json()["skipped"]} == {str(broken), str(image)}
    assert str(broken.resolve()) not in engine.store.files()

    answer = engine.ask("教师法第七条")
    assert answer.found and answer.citations[0].chunk.article == "第七条"
    # and the next run reports them again instead of remembering them as ingested
    again = engine.ingest([docs], progress=False)
    assert set(dict(again.skipped)) == {str(broken), str(image)}
    assert again.embedded == 0


def test_duplicate_file_is_skipped(small_engine, docs):
    copy = docs / "中华人民共和国教师法（副本）.md"
    shutil.copy(docs / TEACHERS, copy)
    engine = small_engine()
    report = engine.ingest([docs], progress=False)
    assert len(report.skipped) == 1
    path, reason = report.skipped[0]
    assert path == str(copy)
    assert "duplicate" in reason and str(docs / TEACHERS) in reason
    assert len(report.added) == 3
    teachers = [c for c in engine.store.all_chunks() if c.doc == "中华人民共和国教师法"]
    assert len(teachers) == 43
    assert {c.source for c in teachers} == {str((docs / TEACHERS).resolve())}


def test_duplicate_added_later_is_skipped(small_engine, docs):
    engine = small_engine()
    engine.ingest([docs], progress=False)
    copy = docs / "a-copy-of-the-filing-regulation.md"  # sorts before the indexed original
    shutil.copy(docs / FILING, copy)
    report = engine.ingest([docs], progress=False)
    filing = [c for c in engine.store.all_chunks() if c.doc == "法规规章备案条例"]
    assert len(filing) == 22, "the index holds the regulation twice"
    assert [p for p, _ in report.skipped] == [str(copy)]
    assert len(engine.ask("法规规章备案条例第三条").citations) == 1


class Crash(Exception):
    """Stands in for whatever stops an ingest half-way (a killed process, a full disk)."""


@pytest.mark.parametrize("failure", [KeyboardInterrupt, Crash], ids=["interrupted", "error"])
def test_interrupted_ingest_is_finished_by_the_next_run(small_engine, docs, monkeypatch, failure):
    """Failure injection into our own Store.add: the teachers' law (43 passages) dies after its first batch of 8."""
    engine = small_engine(embedding_batch=8, ingest_write_batch=8)
    teachers = str((docs / TEACHERS).resolve())
    real_add = Store.add
    batches: list[int] = []

    def add_then_fail(self, chunks, metadatas, *vectors):
        if chunks and chunks[0].source == teachers:
            if batches:
                raise failure("simulated failure after the first batch")
            batches.append(len(chunks))
        return real_add(self, chunks, metadatas, *vectors)

    monkeypatch.setattr(Store, "add", add_then_fail)
    if failure is KeyboardInterrupt:
        with pytest.raises(KeyboardInterrupt):
            engine.ingest([docs], progress=False)
    else:
        report = engine.ingest([docs], progress=False)
        assert [p for p, _ in report.skipped] == [str(docs / TEACHERS)]
        assert "Crash" in report.skipped[0][1]
        assert len(report.added) == 2
    monkeypatch.setattr(Store, "add", real_add)
    assert batches == [8]

    # the index is usable: the partial file is known to be incomplete, and questions get answers
    record = engine.store.files()[teachers]
    assert not record.complete and len(record.ids) == 8 and record.file_chunks == 43
    engine.retriever.reload()
    stored = [c for c in engine.store.all_chunks() if c.source == teachers]
    assert len(stored) == 8
    answer = engine.ask(f"教师法{stored[0].article}")
    assert answer.found and answer.citations[0].chunk.text == stored[0].text

    report = engine.ingest([docs], progress=False)
    assert str(docs / TEACHERS) in report.updated
    assert report.embedded >= 43 - 8
    if failure is KeyboardInterrupt:  # the run stopped before the two files sorted after it
        assert len(report.added) == 2
    else:
        assert report.embedded == 43 - 8 and len(report.unchanged) == 2
    assert report.skipped == []
    assert all(r.complete for r in engine.store.files().values())
    teachers_chunks = [c for c in engine.store.all_chunks() if c.source == teachers]
    assert len(teachers_chunks) == 43
    assert engine.ask("教师法第四十条").found
    assert_index_matches_files(engine)

    final = engine.ingest([docs], progress=False)
    assert final.embedded == 0 and len(final.unchanged) == 3


def test_update_killed_before_its_last_delete_is_finished(small_engine, docs):
    """An update writes the new passages, then deletes the old ones. Killed in between, the file looks
    complete; the old passages must still go. The state is rebuilt with real store calls (the old 第八条
    put back after a complete update), then one ingest cleans it without embedding anything."""
    from assistant.store import chunk_to_metadata

    engine = small_engine()
    engine.ingest([docs], progress=False)
    law = docs / TEACHERS
    source = str(law.resolve())
    old = next(c for c in engine.store.all_chunks() if c.source == source and c.article == "第八条")
    text = law.read_text(encoding="utf-8")
    law.write_text(text.replace("第八条 教师应当履行下列义务", "第八条 教师应当认真履行下列各项义务"), encoding="utf-8")
    engine.ingest([docs], progress=False)
    count = engine.store.count()

    engine.store.add([old], [chunk_to_metadata(old)])
    record = engine.store.files()[source]
    assert record.complete and record.stale_ids == [old.id]

    report = engine.ingest([docs], progress=False)
    assert resolved(report.updated) == resolved([law]) and report.embedded == 0
    assert engine.store.count() == count and not engine.store.existing_ids([old.id])
    assert engine.store.files()[source].stale_ids == []
    assert_index_matches_files(engine)


def test_symlinks_in_the_docs_folder(small_engine, tmp_path, corpus):
    """A loop is reported and not followed; a second path to the same file is ingested once."""
    folder = tmp_path / "docs"
    (folder / "sub").mkdir(parents=True)
    shutil.copy(corpus / "regulations" / FILING, folder)
    (folder / "sub" / "loop").symlink_to(folder, target_is_directory=True)
    (folder / "sub" / "another name.md").symlink_to(folder / FILING)
    report = small_engine().ingest([folder], progress=False)
    skipped = dict(report.skipped)
    assert "循环" in skipped.pop(str(folder / "sub" / "loop"))
    ((path, reason),) = skipped.items()
    assert "同一个文件" in reason
    assert {path, *report.added} == {str(folder / FILING), str(folder / "sub" / "another name.md")}
    assert report.chunks == report.embedded == 22


def test_worker_processes_encode_what_this_process_would(small_engine, docs):
    """A run that hands its passages to worker processes (here from the first passage, a few files ahead) stores the
    same passages with the same vectors as one that encodes in this process, and leaves no worker behind."""
    here = small_engine(ingest_processes=1)
    there = small_engine(ingest_processes=2, ingest_processes_after=0, ingest_lookahead=16, embedding_batch=8)
    mine, theirs = here.ingest([docs], progress=False), there.ingest([docs], progress=False)
    assert sorted(theirs.added) == sorted(mine.added) and theirs.embedded == mine.embedded == 91
    a = here.store._collection.get(include=["embeddings"])
    b = there.store._collection.get(ids=a["ids"], include=["embeddings"])
    vectors = dict(zip(b["ids"], b["embeddings"]))
    assert len(vectors) == 91
    assert max(float(np.abs(np.asarray(v) - vectors[i]).max()) for i, v in zip(a["ids"], a["embeddings"])) < 1e-5
    assert not multiprocessing.active_children()
    assert there.ask("法规规章备案条例第三条").citations
