"""The `assistant` command end to end: real Chroma, real embedder, real GGUF."""

import json
import os
import re
import subprocess
import sys

import pytest

from assistant import cli


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("assistant-data")


@pytest.mark.model
def test_ask_json_cites_the_gold_source(run_cli, data_dir, gguf_path):
    # The first ask ingests the bundled corpus into the empty index.
    code, out, err = run_cli("ask", "--json", "--data-dir", str(data_dir), "--model", str(gguf_path), "开源大模型的盈利通常建立在什么基础上？")
    assert code == 0, err
    assert "indexed the corpus: 5 added" in err
    answer = json.loads(out)
    assert set(answer) >= {"question", "answer", "refused", "citations", "retrieved", "timings", "model"}
    assert answer["refused"] is False
    assert "服务" in answer["answer"]
    assert answer["citations"] and {c["source"] for c in answer["citations"]} == {"002_f02664d2df2309cc.txt"}
    for c in answer["citations"]:
        assert set(c) >= {"n", "source", "chunk_id", "start", "end", "snippet"}
        assert f"[{c['n']}]" in answer["answer"]
        assert c["chunk_id"] in {r["chunk_id"] for r in answer["retrieved"]}
    t = answer["timings"]
    assert t["prompt_tokens"] > 0 and t["completion_tokens"] > 0 and t["total_ms"] >= t["ttft_ms"] > 0
    assert answer["model"]["sha256"] == "cc324af070c2"


@pytest.mark.model
def test_citation_offsets_point_into_the_cleaned_document(run_cli, data_dir, gguf_path):
    from assistant.config import PROJECT_ROOT
    from ingest.load import load_document

    code, out, err = run_cli("ask", "--json", "--data-dir", str(data_dir), "--model", str(gguf_path), "闭源模型主要通过什么方式盈利？")
    assert code == 0, err
    answer = json.loads(out)
    assert answer["refused"] is False
    assert any(c["source"] == "002_f02664d2df2309cc.txt" for c in answer["citations"])
    assert "许可证" in answer["answer"] or "订阅" in answer["answer"]
    for c in answer["citations"]:
        doc = load_document(PROJECT_ROOT / "corpus" / c["source"], c["source"])
        cited = doc.text[c["start"] : c["end"]]
        assert cited.startswith(c["snippet"])
        assert any(r["chunk_id"] == c["chunk_id"] and r["text"] in cited for r in answer["retrieved"])


@pytest.mark.model
def test_unanswerable_question_is_refused(run_cli, data_dir, gguf_path):
    code, out, err = run_cli("ask", "--json", "--data-dir", str(data_dir), "--model", str(gguf_path), "GPT-4o 的参数量是多少？")
    assert code == 0, err
    answer = json.loads(out)
    assert answer["refused"] is True
    assert answer["answer"] == "抱歉，所提供的文档中没有找到这个问题的答案。"
    assert answer["citations"] == []


@pytest.mark.model
def test_console_script_streams_an_answer_with_sources(data_dir, gguf_path, project_root):
    exe = os.path.join(os.path.dirname(sys.executable), "assistant")
    proc = subprocess.run(
        [exe, "ask", "--data-dir", str(data_dir), "--model", str(gguf_path), "为什么有人说LLaMA是“假装开源”？"],
        capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stderr
    assert "来源：" in proc.stdout and "004_c522dbecc065bacf.txt" in proc.stdout
    assert "Traceback" not in proc.stderr
    answer = proc.stdout.split("\n来源：")[0].strip()
    # Piped, the answer is printed once, checked: neither the stream nor a second copy under a label.
    assert answer and "核对后的回答" not in proc.stdout and "\x1b" not in proc.stdout
    first = answer.splitlines()[0]
    assert proc.stdout.count(first) == 1


@pytest.mark.model
def test_on_a_terminal_quotes_come_first_and_the_checked_answer_replaces_the_stream(data_dir, gguf_path):
    import fcntl
    import pty
    import select
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 120, 0, 0))  # a window of 50 rows of 120 columns
    exe = os.path.join(os.path.dirname(sys.executable), "assistant")
    proc = subprocess.Popen([exe, "ask", "--data-dir", str(data_dir), "--model", str(gguf_path), "开源大模型的盈利通常建立在什么基础上？"],
                            stdin=subprocess.DEVNULL, stdout=slave, stderr=subprocess.PIPE)
    os.close(slave)
    shown = b""
    while True:
        ready, _, _ = select.select([master], [], [], 600)
        try:
            piece = os.read(master, 65536) if ready else b""
        except OSError:  # the process closed its end
            piece = b""
        if not piece:
            break
        shown += piece
    os.close(master)
    assert proc.wait(60) == 0, proc.stderr.read()[-2000:]
    text = shown.decode("utf-8")
    quoted, _, after = text.partition("\x1b[J")  # the erase: once, after the quotes and the stream
    assert "资料原文（模型回答前）：" in quoted and "开源模型的盈利通常建立在服务和支持上。[1]" in quoted
    assert "\x1b[J" not in after and "资料原文" not in after and "核对后的回答" not in after
    assert "来源：" in after and "002_f02664d2df2309cc.txt" in after


def test_status_without_loading_models(run_cli, data_dir):
    code, out, err = run_cli("status", "--json", "--data-dir", str(data_dir))
    assert code == 0, err
    status = json.loads(out)
    assert status["data_dir"] == str(data_dir)
    assert status["llama_cpp_python"]


@pytest.mark.parametrize(
    "args, code, message",
    [
        (["ask", "   "], 2, "the question is empty"),
        (["ask", "--model", "/no/such/model.gguf", "问题"], 5, "model file not found"),
        (["ingest", "/no/such/folder"], 1, "no such file or folder"),
        (["ask", "--k", "0", "问题"], 2, "k must be at least 1"),
    ],
)
def test_errors_are_one_line_with_documented_codes(run_cli, tmp_path, args, code, message):
    got, out, err = run_cli(*args[:1], "--data-dir", str(tmp_path), *args[1:])
    assert got == code
    assert message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


@pytest.mark.model  # the ingest before it embeds with the real embedder
def test_corrupt_model_file_is_a_clear_error(run_cli, tmp_path):
    fake = tmp_path / "fake.gguf"
    fake.write_text("not a model")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.txt").write_text("开源大模型的代码是公开的。", encoding="utf-8")
    got, out, err = run_cli("ingest", "--data-dir", str(tmp_path / "d"), str(tmp_path / "docs"))
    assert got == 0, err
    got, out, err = run_cli("ask", "--data-dir", str(tmp_path / "d"), "--model", str(fake), "代码公开吗？")
    assert got == 5 and "not a GGUF file" in err and len(err.strip().splitlines()) == 1


def test_help_teaches(capsys):
    with pytest.raises(SystemExit) as exit:
        cli.main(["--help"])
    assert exit.value.code == 0
    out = capsys.readouterr().out
    for word in ("ingest", "ask", "chat", "status", "examples:", "ASSISTANT_"):
        assert word in out


@pytest.mark.model
def test_chat_rewrites_a_follow_up_before_retrieval(run_cli, monkeypatch, data_dir, gguf_path):
    turns = iter(["开源模型的盈利通常建立在什么基础上？", "那闭源模型呢？", ""])
    monkeypatch.setattr("builtins.input", lambda prompt="": next(turns))
    code, out, err = run_cli("chat", "--data-dir", str(data_dir), "--model", str(gguf_path))
    assert code == 0, err
    searched = [line for line in err.splitlines() if line.startswith("(searched for:")]
    assert len(searched) == 1 and "闭源" in searched[0]  # the follow-up became a standalone question
    assert out.count("来源：") == 2
    assert "002_f02664d2df2309cc.txt" in out.split("来源：")[2]


@pytest.mark.model
def test_eval_writes_reports_with_scores_in_range(run_cli, data_dir, gguf_path, project_root, tmp_path):
    lines = (project_root / "eval" / "dev.jsonl").read_text(encoding="utf-8").splitlines()
    picked = [json.loads(l) for l in lines if json.loads(l)["id"] in ("dev06", "dev17", "dev20")]
    questions = tmp_path / "three.jsonl"
    questions.write_text("\n".join(json.dumps(q, ensure_ascii=False) for q in picked) + "\n", encoding="utf-8")
    out = tmp_path / "report"
    code, stdout, err = run_cli("eval", "--data-dir", str(data_dir), "--model", str(gguf_path), "--questions", str(questions), "--out", str(out))
    assert code == 0, err
    assert "hit@5" in stdout and "kind=unanswerable" in stdout
    report = json.loads((out / "three" / "report.json").read_text(encoding="utf-8"))
    assert [q["id"] for q in report["questions"]] == ["dev06", "dev17", "dev20"]
    assert set(report["results"]) == {"overall", "kind=fact", "kind=unanswerable", "lang=en", "lang=zh"}
    for group in report["results"].values():
        for key, value in group.items():
            if key.endswith("_by") and value is not None:  # refusals per stage: "retrieval/model/checker" counts
                assert re.fullmatch(r"\d+/\d+/\d+", value), (key, value)
            elif value is not None and not key.endswith(("_ms_median", "_ms_p90", "_s_median", "_s_p90")) and key != "questions":
                assert 0.0 <= value <= 1.0, (key, value)
    assert report["results"]["kind=unanswerable"]["refusal"] == 1.0
    assert (out / "three" / "by_kind.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "![scores by kind](by_kind.png)" in (out / "three" / "report.md").read_text(encoding="utf-8")


def test_eval_rejects_a_bad_question_file(run_cli, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{not json\n")
    code, out, err = run_cli("eval", "--data-dir", str(tmp_path), "--questions", str(bad))
    assert code == 2 and "bad.jsonl:1: not a gold question" in err
