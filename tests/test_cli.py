"""The real ``assistant`` console script, run as a subprocess.

Read-only commands (ask, eval, docs) point ``--index`` at the session index built by the ``engine`` fixture;
``ingest`` gets its own tmp index. The subprocesses run in a tmp working directory so that a developer's
``.env`` cannot redirect them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import assistant_exe

ROOT = Path(__file__).resolve().parents[1]
DEV_SET = ROOT / "data" / "eval" / "dev.jsonl"
ANSWER_KEYS = {"id", "question", "standalone_question", "found", "answer", "mode", "sentences", "note", "citations", "retrieved", "ms"}
CITATION_KEYS = {"n", "doc", "source", "section", "article", "text"}
HIT_KEYS = {"doc", "source", "section", "article", "text", "score"}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("cli-cwd")

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run([assistant_exe(), *map(str, args)], check=False, cwd=cwd, capture_output=True, text=True,
                              encoding="utf-8", timeout=300)
        if check:
            assert proc.returncode == 0, proc.stderr[-2000:]
        return proc

    return run


@pytest.fixture(scope="module")
def index(engine) -> Path:
    return engine.settings.index_dir


def assert_answer_shape(data: dict) -> None:
    assert set(data) == ANSWER_KEYS
    assert isinstance(data["found"], bool) and isinstance(data["answer"], str) and data["answer"]
    assert isinstance(data["ms"], (int, float)) and data["ms"] >= 0
    for c in data["citations"]:
        assert set(c) == CITATION_KEYS
        assert isinstance(c["n"], int) and isinstance(c["text"], str)
        assert c["text"] in Path(c["source"]).read_text(encoding="utf-8")
    for h in data["retrieved"]:
        assert set(h) == HIT_KEYS
        assert isinstance(h["score"], (int, float))


def test_ask_json(run, index):
    proc = run("ask", "《中华人民共和国未成年人保护法》第三十九条", "--json", "--index", index)
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1, proc.stdout
    data = json.loads(lines[0])
    assert_answer_shape(data)
    assert data["question"] == "《中华人民共和国未成年人保护法》第三十九条" and data["id"] is None
    assert data["found"] is True
    [citation] = data["citations"]
    assert citation["n"] == 1
    assert citation["doc"] == "中华人民共和国未成年人保护法"
    assert citation["article"] == "第三十九条"
    assert citation["section"] == "第三章 学校保护"
    assert citation["text"].startswith("第三十九条 学校应当建立学生欺凌防控工作制度")
    assert data["retrieved"] and data["retrieved"][0]["article"] == "第三十九条"


def test_ask_json_refusal(run, index):
    data = json.loads(run("ask", "今天柳州天气怎么样", "--json", "--index", index).stdout)
    assert_answer_shape(data)
    assert data["found"] is False and data["citations"] == []


def test_ask_text_output(run, index):
    out = run("ask", "民法典第1200条", "--index", index).stdout
    assert "第一千二百条 限制民事行为能力人在学校或者其他教育机构学习、生活期间受到人身损害" in out
    assert "[1] 《中华人民共和国民法典》" in out


def test_ask_without_question_fails(run, index):
    proc = run("ask", "--index", index, check=False)
    assert proc.returncode == 2
    assert "--batch" in proc.stderr


def test_ask_batch_json(run, index, tmp_path):
    questions = [
        {"id": "b1", "question": "民法典第1200条"},
        {"id": 2, "question": "今天柳州天气怎么样"},
        {"id": "b3", "question": "禁毒法第九十九条"},
        {"id": "b4", "question": "今年共审查重大行政决策多少份？"},
        {"id": "b5", "question": ""},
    ]
    batch = tmp_path / "questions.jsonl"
    batch.write_text("\n".join(json.dumps(q, ensure_ascii=False) for q in questions) + "\n\n", encoding="utf-8")
    proc = run("ask", "--batch", batch, "--json", "--index", index)
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == len(questions)
    answers = [json.loads(line) for line in lines]
    assert [a["id"] for a in answers] == [q["id"] for q in questions]
    assert [a["question"] for a in answers] == [q["question"] for q in questions]
    for a in answers:
        assert_answer_shape(a)
    assert [a["found"] for a in answers] == [True, False, False, True, False]
    assert answers[0]["citations"][0]["article"] == "第一千二百条"


def test_ask_batch_invalid_json(run, index, tmp_path):
    batch = tmp_path / "bad.jsonl"
    batch.write_text('{"id": 1, "question": "宪法第五条"}\n{not json\n', encoding="utf-8")
    proc = run("ask", "--batch", batch, "--json", "--index", index, check=False)
    assert proc.returncode == 2
    assert f"{batch}:2" in proc.stderr
    assert len(proc.stdout.strip().splitlines()) == 1  # the line before the bad one was answered


def test_eval_json(run, index):
    proc = run("eval", DEV_SET, "--json", "--index", index)
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1
    metrics = json.loads(lines[0])
    for key in ("hit@1", "hit@5", "mrr", "citations_verbatim"):
        assert isinstance(metrics[key], float) and 0.0 <= metrics[key] <= 1.0, key
    assert isinstance(metrics["refusal_accuracy"], float) and 0.0 <= metrics["refusal_accuracy"] <= 1.0
    assert metrics["hit@1"] <= metrics["hit@5"]
    assert metrics["mrr"] >= metrics["hit@1"] - 1e-9 and metrics["mrr"] <= metrics["hit@5"] + 1e-9
    questions = [json.loads(line) for line in DEV_SET.read_text(encoding="utf-8").splitlines() if line.strip()]
    answerable = sum(1 for q in questions if q["answerable"])
    assert metrics["questions"] == len(questions) == 90
    assert isinstance(metrics["false_refusals"], int) and 0 <= metrics["false_refusals"] <= answerable
    assert metrics["citations_verbatim"] == 1.0  # every quote is in its file: not a tunable number
    assert 0 < metrics["p50_ms"] <= metrics["p95_ms"]


def test_docs_json(run, index):
    rows = json.loads(run("docs", "--json", "--index", index).stdout)
    assert len(rows) == 17
    assert {"doc", "doc_type", "chunks", "source", "info", "ingested_at"} <= set(rows[0])
    by_doc = {r["doc"]: r for r in rows}
    assert by_doc["柳州市教育局2022年法治政府建设情况报告"]["doc_type"] == "report"
    assert by_doc["中华人民共和国民法典"]["chunks"] == 1260
    assert sorted(r["doc_type"] for r in rows).count("law") == 11


@pytest.mark.integration
def test_ingest_with_a_corrupt_file(run, tmp_path, corpus):
    docs = tmp_path / "docs"
    docs.mkdir()
    shutil.copy(corpus / "regulations" / "法规规章备案条例.md", docs)
    broken = docs / "坏文件.pdf"
    broken.write_bytes(b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog" + bytes(range(256)) * 4)
    index = tmp_path / "index"

    proc = run("ingest", docs, "--index", index, "--quiet")
    assert "坏文件.pdf" in proc.stdout
    assert "added 1" in proc.stdout and "skipped 1" in proc.stdout

    report = json.loads(run("ingest", docs, "--index", index, "--quiet", "--json").stdout)
    assert report["unchanged"] == [str(docs / "法规规章备案条例.md")]
    assert [s["path"] for s in report["skipped"]] == [str(broken)]
    assert report["skipped"][0]["reason"]
    assert report["embedded"] == 0 and report["chunks"] == 22

    data = json.loads(run("ask", "法规规章备案条例第三条", "--json", "--index", index).stdout)
    assert data["found"] and data["citations"][0]["article"] == "第三条"


@pytest.mark.integration
def test_missing_embedding_model_is_a_message_not_a_traceback(tmp_path):
    env = {**os.environ, "ASSISTANT_EMBEDDING_MODEL": str(tmp_path / "no-model")}
    proc = subprocess.run([assistant_exe(), "ask", "问题", "--index", str(tmp_path / "idx")], cwd=tmp_path, env=env,
                          capture_output=True, text=True, encoding="utf-8", timeout=300)
    assert proc.returncode == 2
    assert "not available on this machine" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_ask_without_a_question_is_a_usage_error(run):
    proc = run("ask", check=False)
    assert proc.returncode == 2 and "请给出问题" in proc.stderr


# --- hostile input: every command that takes user text ------------------------------------------------------

#: A paragraph of 4,000+ characters of real sentences with citations (no line breaks): the citation test text and
#: the 2022 report, each joined into one line. Far too long for a file name.
LONG_TEXT = "".join((ROOT / "data" / "eval" / "citations_test.txt").read_text(encoding="utf-8").splitlines()) + "".join(
    (ROOT / "data" / "corpus" / "reports" / "柳州市教育局2022年法治政府建设情况报告.txt").read_text(encoding="utf-8").split())
#: Control characters, emoji, bidi and zero-width marks around a real citation.
ODD_TEXT = "\x01\x07\x1b[31m控制\t字符😀🇨🇳\u202e\u200b《中华人民共和国未成年人保护法》第三十九条\ufeff\x7f"
#: Bytes that are not UTF-8 (a lone surrogate's CESU-8 form, 0xFF): Python turns them into \udcxx in argv.
BAD_BYTES = "根据禁毒法第十三条".encode() + b"\xed\xa0\x80\xff"
BINARY = bytes(range(256)) * 12 + b"\x00" * 100


def hostile_cases(tmp: Path) -> list[tuple[str, list, bytes | None]]:
    """(name, argv after the executable, stdin) for every command-line path that takes user text."""
    binary = tmp / "二进制.txt"
    binary.write_bytes(BINARY)
    odd_jsonl = tmp / "odd.jsonl"
    odd_jsonl.write_text("\n".join(json.dumps({"id": i, "question": q}) for i, q in enumerate(
        [LONG_TEXT, ODD_TEXT, "\u0000禁毒法第十三条\u0000", "\ud800孤立代理项\udfff", "😀" * 600])) + "\n", encoding="utf-8")
    bad_lines = tmp / "bad_lines.jsonl"
    bad_lines.write_text('{"id": 1, "question": "宪法第五条"}\n[1, 2]\n{"question": 5}\n', encoding="utf-8")
    long_path = str(tmp / ("很长的文件名" * 400 + ".txt"))
    return [
        ("check long text", ["check", LONG_TEXT], None),
        ("check odd text", ["check", ODD_TEXT], None),
        ("check non-UTF-8 argv", [b"check", BAD_BYTES], None),
        ("check long stdin", ["check", "-", "--json"], LONG_TEXT.encode()),
        ("check odd stdin", ["check", "-"], ODD_TEXT.encode() + BAD_BYTES + "\U0001f600".encode()),
        ("check binary stdin", ["check", "-"], BINARY),
        ("check empty stdin", ["check", "-"], b""),
        ("check binary file", ["check", str(binary)], None),
        ("check long path", ["check", long_path], None),
        ("check --doc long", ["check", "--doc", LONG_TEXT], None),
        ("check --doc odd", [b"check", b"--doc", ODD_TEXT.encode() + BAD_BYTES], None),
        ("ask long", ["ask", LONG_TEXT, "--json"], None),
        ("ask odd", [b"ask", ODD_TEXT.encode() + BAD_BYTES], None),
        ("ask --doc long", ["ask", "学生欺凌", "--doc", LONG_TEXT], None),
        ("ask --doc odd", [b"ask", "学生欺凌".encode(), b"--doc", ODD_TEXT.encode() + BAD_BYTES], None),
        ("ask --batch odd questions", ["ask", "--batch", str(odd_jsonl), "--json"], None),
        ("ask --batch bad lines", ["ask", "--batch", str(bad_lines)], None),
        ("ask --batch binary", ["ask", "--batch", str(binary)], None),
        ("ask --batch long path", ["ask", "--batch", long_path], None),
        ("ask --batch long text", ["ask", "--batch", LONG_TEXT], None),
        ("eval odd questions", ["eval", str(odd_jsonl), "--json"], None),
        ("eval binary", ["eval", str(binary)], None),
        ("eval long path", ["eval", LONG_TEXT], None),
        ("ingest binary", ["ingest", str(binary), "--quiet", "--index", str(tmp / "ingest-index")], None),
        ("ingest long path", ["ingest", long_path, "--quiet", "--index", str(tmp / "ingest-index")], None),
        ("ingest long text", ["ingest", LONG_TEXT, "--quiet", "--index", str(tmp / "ingest-index")], None),
    ]


def test_hostile_input_never_gives_a_traceback(engine, tmp_path):
    """Long (2,000+ characters), odd (control characters, NUL, lone surrogates, emoji) and binary input to every
    command: exit 0, or 2 with a clear message on stderr — never a traceback, never a crash in the output."""
    from conftest import engine_env

    assert len(LONG_TEXT) >= 2000
    env = {**engine_env(engine), "PYTHONIOENCODING": "utf-8"}
    outcomes = {}
    for name, argv, stdin in hostile_cases(tmp_path):
        proc = subprocess.run([assistant_exe(), *argv], cwd=tmp_path, env=env, input=stdin or b"",
                              capture_output=True, timeout=300, check=False)
        out, err = proc.stdout.decode("utf-8"), proc.stderr.decode("utf-8")  # always valid UTF-8
        assert "Traceback" not in out + err, (name, err[-3000:])
        assert proc.returncode in (0, 2), (name, proc.returncode, err[-3000:])
        if proc.returncode == 2:
            assert "错误" in err or re.search(r"[\u4e00-\u9fff]", err), (name, err)
            assert len(err) < 2000, (name, "the message should be short, not the whole input")
        outcomes[name] = (proc.returncode, out, err)

    from assistant.checker import check_text

    total = check_text(engine, LONG_TEXT, with_support=False).summary()["total"]
    assert total >= 45
    code, out, _ = outcomes["check long text"]
    assert code == 0 and f"共 {total} 处引用" in out and f"[{total}]" in out  # the table, not a file-name error
    data = json.loads(outcomes["check long stdin"][1])
    assert data["summary"]["total"] == total and data["citations"][0]["raw"] == "《中华人民共和国未成年人保护法》第三十九条"
    code, out, _ = outcomes["check odd text"]
    assert code == 0 and "[1] 《中华人民共和国未成年人保护法》第三十九条  →  " in out and "共 1 处引用" in out
    assert outcomes["check non-UTF-8 argv"][0] == 0 and "禁毒法第十三条" in outcomes["check non-UTF-8 argv"][1]
    for name, reason in [("check binary stdin", "标准输入"), ("check empty stdin", "标准输入为空"),
                         ("check binary file", "二进制"), ("ask --batch binary", "不是 UTF-8"),
                         ("eval binary", "不是 UTF-8"), ("ask --batch long path", "文件名过长"),
                         ("ask --batch long text", "文件名过长"), ("eval long path", "文件名过长"),
                         ("ingest long path", "文件名过长"), ("ingest long text", "文件名过长"),
                         ("check --doc long", "索引中没有这个文件"), ("check --doc odd", "索引中没有这个文件"),
                         ("ask --batch bad lines", "bad_lines.jsonl:2")]:
        assert outcomes[name][0] == 2 and reason in outcomes[name][2], (name, outcomes[name][2])
    assert "找不到文件" in outcomes["check long path"][2] or outcomes["check long path"][0] == 0
    answers = [json.loads(line) for line in outcomes["ask --batch odd questions"][1].splitlines()]
    assert [a["id"] for a in answers] == [0, 1, 2, 3, 4] and answers[0]["found"] is False  # too long: refused
    assert json.loads(outcomes["ask long"][1])["found"] is False
    assert outcomes["ask --batch bad lines"][1].count("\n") >= 1  # the good first line was answered
    code, out, _ = outcomes["ingest binary"]
    assert code == 0 and "二进制.txt" in out and "skipped 1" in out
