"""Knowledge bases and scoped questions: real Chroma, real embedder, the real GGUF where an answer is asked for."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from assistant.scope import ScopeError, resolve

TEAM_DOC = "星河公司的年度团建定在五月十八日，地点是杭州西湖。报名截止日期是四月三十日，由行政部统一安排大巴。"
TEAM_QUESTION = "星河公司的年度团建在哪个城市举行？"


# -- scope: pure -----------------------------------------------------------------------


DOCS = ["a.txt", "reports/2024/q1.pdf", "reports/2024/q2.pdf", "reports/2023/q4.pdf", "reports-old/x.txt"]


def test_no_scope_is_none():
    assert resolve(DOCS, {}) is None


def test_a_source_name_or_a_folder_of_names():
    assert resolve(DOCS, {}, sources=["a.txt"]) == {"a.txt"}
    assert resolve(DOCS, {}, under=["reports/2024"]) == {"reports/2024/q1.pdf", "reports/2024/q2.pdf"}
    # a folder is a whole path component: reports/ is not reports-old/
    assert resolve(DOCS, {}, under=["reports/"]) == {d for d in DOCS if d.startswith("reports/")}
    assert resolve(DOCS, {}, sources=["a.txt"], under=["reports/2023"]) == {"a.txt", "reports/2023/q4.pdf"}


def test_a_path_on_disk_is_matched_through_where_it_was_ingested(tmp_path):
    folder = tmp_path / "notes"
    folder.mkdir()
    note = folder / "n.md"
    note.write_text("x", encoding="utf-8")
    paths = {"n.md": os.path.join(os.path.realpath(folder), "n.md"), "a.txt": "/elsewhere/a.txt"}
    assert resolve(["n.md", "a.txt"], paths, sources=[str(note)]) == {"n.md"}
    assert resolve(["n.md", "a.txt"], paths, under=[str(folder)]) == {"n.md"}


def test_a_scope_that_matches_nothing_is_an_error_naming_it():
    with pytest.raises(ScopeError) as err:
        resolve(DOCS, {}, sources=["a.txt", "missing.pdf"], under=["nowhere"])
    assert "--source missing.pdf" in str(err.value) and "--under nowhere" in str(err.value)
    assert "a.txt" not in str(err.value)


# -- knowledge bases: the CLI ----------------------------------------------------------


@pytest.fixture(scope="module")
def folders(tmp_path_factory, project_root):
    """Two folders of different documents: the bundled articles, and one team note."""
    root = tmp_path_factory.mktemp("kb-docs")
    articles, team = root / "articles", root / "team"
    shutil.copytree(project_root / "corpus", articles)
    team.mkdir()
    (team / "团建通知.txt").write_text(TEAM_DOC, encoding="utf-8")
    (team / "sub").mkdir()
    (team / "sub" / "值班.txt").write_text("值班表：周一张伟，周二李娜，周三王强。值班电话由前台转接。", encoding="utf-8")
    return articles, team


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("kb-data")


def test_names_are_checked_and_unknown_kbs_are_one_line_errors(run_cli, tmp_path):
    code, _, err = run_cli("kb", "create", "Bad Name!", "--data-dir", tmp_path)
    assert code == 2 and "not a knowledge base name" in err
    code, _, err = run_cli("status", "--kb", "nope", "--data-dir", tmp_path)
    assert code == 2 and "no knowledge base 'nope'" in err and "assistant kb create nope" in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "kb" / "nope").exists()  # a typo makes nothing
    code, _, err = run_cli("kb", "delete", "default", "--yes", "--data-dir", tmp_path)
    assert code == 2 and "cannot be deleted" in err


def test_a_kb_that_cannot_be_made_is_not_left_half_made(run_cli, tmp_path):
    with socket.socket() as s:  # a loopback port nothing listens on
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}"
    for _ in range(2):  # the retry meets the same error, not "already exists"
        code, _, err = run_cli("kb", "create", "lake", "--chroma-url", url, "--data-dir", tmp_path)
        assert code == 4 and "already exists" not in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "kb" / "lake").exists()
    code, out, _ = run_cli("kb", "list", "--json", "--data-dir", tmp_path)
    assert code == 0 and [k["name"] for k in json.loads(out)] == ["default"]


@pytest.mark.model  # ingest embeds with the real embedder
def test_two_knowledge_bases_hold_only_their_own_documents(run_cli, data_dir, folders):
    articles, team = folders
    assert run_cli("ingest", articles, "--data-dir", data_dir)[0] == 0
    code, out, err = run_cli("kb", "create", "team", "--data-dir", data_dir)
    assert code == 0, err
    code, _, err = run_cli("kb", "create", "team", "--data-dir", data_dir)
    assert code == 2 and "already exists" in err
    code, out, err = run_cli("ingest", "--kb", "team", team, "--data-dir", data_dir)
    assert code == 0, err
    code, out, _ = run_cli("kb", "list", "--json", "--data-dir", data_dir)
    listed = {r["name"]: r for r in json.loads(out)}
    assert listed["default"]["documents"] == 5 and listed["team"]["documents"] == 2
    code, out, _ = run_cli("status", "--json", "--kb", "team", "--data-dir", data_dir)
    assert {s["source"] for s in json.loads(out)["sources"]} == {"团建通知.txt", "sub/值班.txt"}
    code, out, _ = run_cli("status", "--json", "--data-dir", data_dir)
    assert len(json.loads(out)["sources"]) == 5


@pytest.mark.model
def test_a_question_answered_in_one_kb_is_refused_in_the_other(run_cli, data_dir, folders, gguf_path):
    code, out, err = run_cli("ask", "--json", "--kb", "team", "--model", gguf_path, "--data-dir", data_dir, TEAM_QUESTION)
    assert code == 0, err
    answer = json.loads(out)
    assert not answer["refused"] and "杭州" in answer["answer"]
    assert {c["source"] for c in answer["citations"]} == {"团建通知.txt"}
    code, out, err = run_cli("ask", "--json", "--model", gguf_path, "--data-dir", data_dir, TEAM_QUESTION)
    assert code == 0, err
    answer = json.loads(out)
    assert answer["refused"] and "杭州" not in answer["answer"]
    assert all(r["source"].endswith(".txt") and "团建" not in r["text"] for r in answer["retrieved"])


@pytest.mark.model
def test_an_empty_kb_says_how_to_fill_it_instead_of_reading_the_bundled_corpus(run_cli, data_dir, gguf_path):
    assert run_cli("kb", "create", "empty", "--data-dir", data_dir)[0] == 0
    done = subprocess.run([sys.executable, "-m", "assistant.cli", "ask", "--kb", "empty", "--model", gguf_path,
                           "--data-dir", data_dir, "开源大模型有哪些优势？"], capture_output=True, text=True)
    assert done.returncode == 2 and "is empty" in done.stderr and "assistant ingest --kb empty" in done.stderr
    assert run_cli("kb", "delete", "empty", "--yes", "--data-dir", data_dir)[0] == 0


@pytest.mark.model
def test_ask_source_and_under_restrict_retrieval(run_cli, data_dir, gguf_path, folders):
    _, team = folders
    code, out, err = run_cli("ask", "--json", "--kb", "team", "--source", "sub/值班.txt", "--model", gguf_path,
                             "--data-dir", data_dir, TEAM_QUESTION)
    assert code == 0, err
    answer = json.loads(out)
    assert {r["source"] for r in answer["retrieved"]} == {"sub/值班.txt"}
    assert answer["refused"] and "杭州" not in answer["answer"]  # its answer is in the document left out
    code, out, err = run_cli("ask", "--json", "--kb", "team", "--under", team / "sub", "--model", gguf_path,
                             "--data-dir", data_dir, "周二谁值班？")
    assert code == 0, err
    answer = json.loads(out)
    assert {r["source"] for r in answer["retrieved"]} == {"sub/值班.txt"} and "李娜" in answer["answer"]
    code, out, err = run_cli("ask", "--kb", "team", "--source", "nope.txt", "--model", gguf_path, "--data-dir", data_dir, "周二谁值班？")
    assert code == 2 and "no indexed document matches --source nope.txt" in err and out == ""


@pytest.mark.model
def test_scoped_search_restricts_the_dense_and_the_lexical_side_alike(data_dir):
    from assistant import config
    from assistant.answer import Assistant
    from index.search import Fusion

    a = Assistant(config.load({"data_dir": data_dir, "kb": "team"}, env={}), progress=False)
    only = frozenset({"sub/值班.txt"})
    for fusion in (Fusion(dense=1.0, lexical=0.0), Fusion(dense=0.0, lexical=1.0)):
        everywhere = a.index.search(TEAM_DOC, 4, fusion)
        assert everywhere[0].chunk.source == "团建通知.txt"
        scoped = a.index.search(TEAM_DOC, 4, fusion, sources=only)
        assert {h.chunk.source for h in scoped} <= only


@pytest.mark.model
def test_kb_delete_wipes_its_text_and_leaves_the_others(run_cli, data_dir, folders):
    _, team = folders
    assert run_cli("kb", "create", "gone", "--data-dir", data_dir)[0] == 0
    assert run_cli("ingest", "--kb", "gone", team, "--data-dir", data_dir)[0] == 0
    code, out, err = run_cli("kb", "delete", "gone", "--data-dir", data_dir)  # stdin is not a terminal
    assert code == 2 and "--yes" in err and (data_dir / "kb" / "gone").is_dir()
    code, out, err = run_cli("kb", "delete", "gone", "--yes", "--data-dir", data_dir)
    assert code == 0, err
    assert "chunks removed" in out and "0 found" in out  # the wipe's own check
    assert not (data_dir / "kb" / "gone").exists()
    code, out, _ = run_cli("kb", "list", "--json", "--data-dir", data_dir)
    assert [r["name"] for r in json.loads(out)] == ["default", "team"]
    code, out, _ = run_cli("status", "--json", "--kb", "team", "--data-dir", data_dir)
    assert json.loads(out)["chunks"] > 0  # the same documents in another kb are untouched


# -- an index made by the release before knowledge bases --------------------------------

RELEASE = "7d8d559"  # the last commit before knowledge bases existed


@pytest.mark.model
def test_a_data_folder_of_the_previous_release_is_the_default_kb(run_cli, tmp_path, project_root, folders):
    old = tmp_path / "release"
    old.mkdir()
    archive = subprocess.run(["git", "-C", project_root, "archive", RELEASE], capture_output=True)
    if archive.returncode != 0:
        pytest.skip(f"this checkout lacks the release {RELEASE} (a shallow clone?)")
    subprocess.run(["tar", "-x", "-C", old], input=archive.stdout, check=True)
    data = tmp_path / "data"
    _, team = folders
    env = {**os.environ, "PYTHONPATH": str(old)}
    done = subprocess.run([sys.executable, "-m", "assistant.cli", "ingest", "--data-dir", data, team],
                          cwd=old, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert (data / "index" / "chroma").is_dir()
    code, out, err = run_cli("kb", "list", "--json", "--data-dir", data)
    assert code == 0, err
    made = re.search(r"index: (\d+) chunks from 2 documents", done.stdout + done.stderr)
    assert made, done.stdout + done.stderr
    assert json.loads(out) == [{"name": "default", "documents": 2, "chunks": int(made[1]), "created": ""}]
    # and it is searched after its vectors are made anew from its stored chunks (int8 weights), files unread
    from assistant import config
    from assistant.answer import Assistant

    a = Assistant(config.load({"data_dir": data}, env={}), progress=False)
    hits = a.retrieve(TEAM_QUESTION, sources=a.scope(sources=["团建通知.txt"])).hits
    assert hits and hits[0].chunk.source == "团建通知.txt"
