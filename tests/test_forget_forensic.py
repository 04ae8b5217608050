"""Forget, re-ingest and purge leave no piece of the removed text in any file, byte by byte.

The real `assistant` commands (in this process), the real embedder and a real
Chroma. Documents hold unique Chinese and English sentences (names, numbers, code
words); after each step every file under the data folder is searched for every
piece of the removed text that the kept documents do not also hold (see
tests/forensic.py). A piece a file already held before any secret was ingested
(a word of jieba's dictionary, SQL in Chroma's schema, a chance match in the
embedder's weights) does not count for that file. The controls show that the
same scan finds the pieces when the wipe, or a part of it, is left out.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from forensic import pieces, scan, snapshot, summary
from index.search import indexed_text
from ingest.chunk import make_chunks
from ingest.load import load_document

SIZE, OVERLAP = 200, 40  # the CLI's defaults

KEPT_EN = (
    "Open models let a company run the system on its own machines, so the data stays inside the firm. "
    "The code is open, the weights are public, and anyone may audit how the model was trained. "
    "Closed models are sold as a service: the vendor keeps the weights and the customer sends the data.\n"
)
SECRET_ZH = (
    "这是一份机密备忘录，暗号是紫罗兰七号行动，负责人是赵明远。\n"
    "赵明远的银行账号是六二二二零二零八，备用联络人是钱秋菊，接头地点在青岚山庄东侧的枫叶茶馆。\n"
    "口令为雪豹归巢，回令为孤鸿踏雪，预算为四千三百七十二万元，须于腊月十九日前汇至澄江信托。\n"
)
SECRET_EN = (
    "Memo for Quentin Abernathy-Vasquez: the vault code is ZEPHYR-9431-KOALA.\n"
    "Account #7715-0042-8896 at Brightwater Savings belongs to Ottoline Fairweather; her PIN is #5093.\n"
)
EDIT_BEFORE = "公开的项目说明：本项目研究开源模型的部署成本。\n内部消息：项目代号是琥珀鲸鱼，联系人孙悦霖，电话分机八八四七。\n"
EDIT_AFTER = "公开的项目说明：本项目研究开源模型的部署成本。\n"
GONE = "Staff note: Wilhelmina Okonkwo-Draper keeps the spare key under tile #37B; alarm code JUNIPER-2218.\n"


# A forgotten file's name stays by design where forget says what it forgot
# (index/last_wipe.json); a document without a heading is titled by that name, so the
# name is no piece of its text to look for.
NAMES = [f"{stem}{ext}" for stem in ("kept_zh", "kept_en", "secret_zh", "secret_en", "edited", "gone") for ext in ("", ".txt")]


def removed_pieces(removed: list[str], kept: list[str]) -> dict[bytes, str]:
    return pieces(removed, kept + NAMES)


def texts(path: Path, source: str) -> list[str]:
    """Everything of a document the index may store: the file's text, and each chunk as stored and as indexed."""
    chunks = make_chunks(load_document(path, source), SIZE, OVERLAP)
    return [path.read_text(encoding="utf-8"), *(c.text for c in chunks), *(indexed_text(c) for c in chunks)]


def assert_clean(data: Path, removed: list[str], kept: list[str], baseline: dict[str, bytes]) -> int:
    wanted = removed_pieces(removed, kept)
    hits = scan(data, wanted, baseline)
    assert hits == [], summary(hits)
    return len(wanted)


@pytest.fixture(scope="module")
def onnx_export(tmp_path_factory):
    """The embedder's ONNX export, made once (half a minute) and copied into each data folder."""
    from assistant.llm.models import default_embedder_path
    from index.embed import SentenceTransformerEmbedder

    folder = tmp_path_factory.mktemp("onnx")
    SentenceTransformerEmbedder(default_embedder_path(), onnx_dir=folder).load()
    return folder


@pytest.fixture
def corpus(tmp_path, project_root):
    docs = tmp_path / "docs"
    docs.mkdir()
    shutil.copy(sorted((project_root / "corpus").glob("*.txt"))[0], docs / "kept_zh.txt")
    (docs / "kept_en.txt").write_text(KEPT_EN, encoding="utf-8")
    return docs


def _ingest_baseline(run_cli, docs: Path, data: Path, onnx: Path) -> dict[str, bytes]:
    shutil.copytree(onnx, data / "models" / "onnx")
    code, out, err = run_cli("ingest", "--data-dir", data, docs)
    assert code == 0, err
    return snapshot(data)


def _add_secrets(docs: Path) -> None:
    for name, text in (("secret_zh.txt", SECRET_ZH), ("secret_en.txt", SECRET_EN), ("edited.txt", EDIT_BEFORE), ("gone.txt", GONE)):
        (docs / name).write_text(text, encoding="utf-8")


@pytest.mark.model
def test_forget_reingest_and_purge_leave_no_piece_of_the_removed_text(run_cli, corpus, tmp_path, onnx_export):
    data = tmp_path / "data"
    baseline = _ingest_baseline(run_cli, corpus, data, onnx_export)
    kept = [*texts(corpus / "kept_zh.txt", "kept_zh.txt"), *texts(corpus / "kept_en.txt", "kept_en.txt")]
    _add_secrets(corpus)
    secret = {name: texts(corpus / name, name) for name in ("secret_zh.txt", "secret_en.txt", "edited.txt", "gone.txt")}
    code, out, err = run_cli("ingest", "--data-dir", data, corpus)
    assert code == 0 and "4 added" in out, err
    # The scan sees the secrets while they are indexed: it can find what it looks for.
    assert len({h.file for h in scan(data, removed_pieces(secret["secret_zh.txt"], kept), baseline)}) >= 2

    # forget: two documents, one Chinese, one English
    code, out, err = run_cli("forget", "--data-dir", data, "secret_zh.txt", "secret_en.txt")
    assert code == 0 and "its text is gone from the index files" in out, err
    n = assert_clean(data, secret["secret_zh.txt"] + secret["secret_en.txt"], kept + secret["edited.txt"] + secret["gone.txt"], baseline)
    assert n > 1000  # trigrams, 4-byte windows and UTF-16 forms of both documents

    # re-ingest: an edited file loses a sentence, a deleted file goes (the forgotten ones
    # go too, or this ingest of their folder would bring them back)
    for name in ("secret_zh.txt", "secret_en.txt"):
        (corpus / name).unlink()
    (corpus / "edited.txt").write_text(EDIT_AFTER, encoding="utf-8")
    (corpus / "gone.txt").unlink()
    code, out, err = run_cli("ingest", "--data-dir", data, corpus)
    assert code == 0 and "1 replaced, 1 removed" in out, err
    kept += texts(corpus / "edited.txt", "edited.txt")
    assert_clean(data, secret["edited.txt"] + secret["gone.txt"], kept, baseline)

    code, out, err = run_cli("privacy", "--json", "--data-dir", data)
    last = json.loads(out)["last_wipe"]
    assert last["by"] == "ingest" and last["chunks"] >= 2 and last["check"]["found"] == 0 and last["free_pages"] == 0

    # purge: nothing of the data folder is left to hold anything
    code, out, err = run_cli("purge", "--yes", "--data-dir", data)
    assert code == 0 and not data.exists()


@pytest.mark.model
def test_the_scan_finds_what_a_partial_wipe_leaves(run_cli, corpus, tmp_path, onnx_export, monkeypatch):
    """Controls: with no wipe, and with VACUUM alone (no merge of the full-text index), the
    same scan finds pieces of the forgotten text in Chroma's database; the full wipe, run
    after them on the same folder, leaves none."""
    from index.store import VectorStore

    data = tmp_path / "data"
    baseline = _ingest_baseline(run_cli, corpus, data, onnx_export)
    kept = [*texts(corpus / "kept_zh.txt", "kept_zh.txt"), *texts(corpus / "kept_en.txt", "kept_en.txt")]
    (corpus / "secret_zh.txt").write_text(SECRET_ZH, encoding="utf-8")
    secret = texts(corpus / "secret_zh.txt", "secret_zh.txt")
    wanted = removed_pieces(secret, kept)
    real_scrub = VectorStore.scrub

    def vacuum_only(self, ids):
        self._col.delete(ids=["\x00scrub-1", "\x00scrub-2"])
        subprocess.run([sys.executable, "-I", "-c", "import sqlite3, sys; sqlite3.connect(sys.argv[1]).execute('VACUUM')", str(self._db)], check=True)
        return {"files": True}

    for name, scrub in (("no wipe", lambda self, ids: {"files": True}), ("VACUUM alone", vacuum_only), ("full wipe", real_scrub)):
        monkeypatch.setattr(VectorStore, "scrub", scrub)
        code, out, err = run_cli("ingest", "--data-dir", data, corpus)
        assert code == 0, err
        code, out, err = run_cli("forget", "--data-dir", data, "secret_zh.txt")
        assert code == 0, err
        hits = scan(data, wanted, baseline)
        if name == "full wipe":
            assert hits == [], summary(hits)
        else:
            assert "index/chroma/chroma.sqlite3" in {h.file for h in hits}, f"{name}: {summary(hits)}"


# -- kill -9 in the middle of the wipe ----------------------------------------------------

FORGET_SCRIPT = """
import sys
sys.path[:0] = sys.argv[1:3]
from fakes import FakeEmbedder
from index.search import Index
from ingest.forget import forget
forget(Index(sys.argv[3], FakeEmbedder(), chunker="kill"), "secret.txt")
"""


def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def _big_index(root: Path, secret: str):
    """An index of 2,000 filler chunks and one secret document: its wipe takes long enough to be killed in."""
    from fakes import FakeEmbedder
    from index.search import Index
    from index.types import Chunk

    index = Index(root, FakeEmbedder(), chunker="kill")
    filler = [Chunk(f"f{i}", f"filler{i // 10}.txt", "", (), f"第{i}段：开源模型的部署成本与许可证条款各不相同，企业需要权衡利弊。" * 4, 0, 100, "h")
              for i in range(2000)]
    with index.lexical.deferred():
        for i in range(0, len(filler), 1000):
            index.add(filler[i : i + 1000])
    index.add([Chunk("s1", "secret.txt", "", (), secret, 0, len(secret), "s")])
    return index, filler


def test_kill_9_during_the_wipe_then_the_next_run_finishes_it(tmp_path, project_root):
    import signal
    import time

    from chromadb.api.client import SharedSystemClient

    root = tmp_path / "index"
    secret = SECRET_ZH.replace("\n", "")
    _, filler = _big_index(root, secret)
    SharedSystemClient.clear_system_cache()  # the killed process and the next one open the files afresh
    wanted = pieces([secret], [c.text for c in filler])
    assert scan(root, wanted)  # before: the scan finds the secret
    dictionary = {k: v for k, v in snapshot(root).items() if k.startswith("cache/")}  # jieba's, holds words of it
    proc = subprocess.Popen([sys.executable, "-c", FORGET_SCRIPT, str(project_root / "tests"), str(project_root), str(root)])
    wipe = []
    deadline = time.monotonic() + 120
    while not wipe and proc.poll() is None and time.monotonic() < deadline:
        wipe = [c for c in _children(proc.pid) if b"sqlite_wipe" in Path(f"/proc/{c}/cmdline").read_bytes()]
        time.sleep(0.005)
    assert wipe, "the forget ended before its wipe could be caught"
    time.sleep(0.01)  # into the merge or the VACUUM (on a fast machine the whole wipe takes under 0.05 s)
    for pid in (*wipe, proc.pid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:  # the wipe ended just now: the forget is killed before it clears wipe.pending
            pass
    proc.wait(30)
    assert (root / "wipe.pending").exists()

    # The next writer (here: a forget of a filler document) opens the index and finishes the wipe first.
    done = subprocess.run([sys.executable, "-c", FORGET_SCRIPT.replace("secret.txt", "filler0.txt"), str(project_root / "tests"),
                           str(project_root), str(root)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert not (root / "wipe.pending").exists()
    hits = scan(root, wanted, dictionary)
    assert hits == [], summary(hits)
    from fakes import FakeEmbedder
    from index.search import Index

    index = Index(root, FakeEmbedder(), chunker="kill")
    assert index.count() == len(filler) - 10 and "secret.txt" not in index.documents()
    assert index.search("部署成本", 3)


# -- a Chroma server ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def chroma(tmp_path_factory):
    """A real `chroma run` on loopback with its own data folder (tests/test_servers.py)."""
    from test_servers import chroma_server

    work = tmp_path_factory.mktemp("chroma-server")
    server = chroma_server(work / "db", work / "chroma.log").start()
    yield server, work / "db"
    server.stop()


@pytest.mark.model
def test_with_a_chroma_server_forget_wipes_what_it_can_reach_and_says_what_it_cannot(run_cli, corpus, tmp_path, onnx_export, chroma):
    """This machine's files are wiped; the server's database keeps pieces until its
    administrator runs index/sqlite_wipe.py on it (while it serves), which leaves none."""
    server, db_dir = chroma
    data = tmp_path / "data"
    url = ("--chroma-url", server.root)
    shutil.copytree(onnx_export, data / "models" / "onnx")
    code, out, err = run_cli("ingest", "--data-dir", data, *url, corpus)
    assert code == 0, err
    baseline, server_baseline = snapshot(data), snapshot(db_dir)
    kept = [*texts(corpus / "kept_zh.txt", "kept_zh.txt"), *texts(corpus / "kept_en.txt", "kept_en.txt")]
    (corpus / "secret_zh.txt").write_text(SECRET_ZH, encoding="utf-8")
    wanted = removed_pieces(texts(corpus / "secret_zh.txt", "secret_zh.txt"), kept)
    code, out, err = run_cli("ingest", "--data-dir", data, *url, corpus)
    assert code == 0 and "1 added" in out, err
    code, out, err = run_cli("forget", "--data-dir", data, *url, "secret_zh.txt")
    assert code == 0 and "until whoever runs that server wipes it" in out and "server's own files were not reached" in out, err

    assert scan(data, wanted, baseline) == []  # this machine: the BM25 index, manifest, logs, caches
    db = db_dir / "chroma.sqlite3"
    left = scan(db_dir, wanted, server_baseline)
    assert "chroma.sqlite3" in {h.file for h in left}, "the server's database was expected to keep pieces (the README says so)"
    wipe = subprocess.run([sys.executable, "-I", str(Path(__file__).parent.parent / "index" / "sqlite_wipe.py"), str(db)],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300)
    assert wipe.returncode == 0 and json.loads(wipe.stdout)["free_pages"] == 0, wipe.stdout + wipe.stderr
    hits = [h for h in scan(db_dir, wanted, server_baseline) if h.file == "chroma.sqlite3"]
    assert hits == [], summary(hits)
    code, out, err = run_cli("status", "--json", "--data-dir", data, *url)
    assert code == 0 and json.loads(out)["documents"] == 2  # the server serves on, from the wiped file


def _stored_vectors(index_dir: Path):
    """Every vector slot in use in Chroma's vector index files, as rows of a matrix."""
    import struct

    import numpy as np

    rows = []
    for header in index_dir.glob("chroma/*/header.bin"):
        _, _, _, count, size, label_at, data_at = struct.unpack_from("<iQQQQQQ", header.read_bytes())
        data = header.with_name("data_level0.bin").read_bytes()
        rows += [np.frombuffer(data, dtype="<f4", count=(label_at - data_at) // 4, offset=i * size + data_at) for i in range(count)]
    return np.array(rows)


@pytest.mark.parametrize("overwrite", [True, False])
def test_forget_overwrites_the_forgotten_vectors_and_search_still_finds_the_rest(tmp_path, monkeypatch, overwrite):
    """Chroma only marks a deleted vector; forget overwrites it (index.deleted_vectors).
    Without that step the forgotten vectors are still in the file, as the check shows."""
    import numpy as np
    from chromadb.api.client import SharedSystemClient

    from fakes import FakeEmbedder
    from index import deleted_vectors
    from index.search import Index, indexed_text
    from index.types import Chunk
    from ingest.forget import forget

    if not overwrite:
        monkeypatch.setattr(deleted_vectors, "replace_deleted", lambda path: 0)
    embedder = FakeEmbedder()
    index = Index(tmp_path / "index", embedder, chunker="v")
    kept = [Chunk(f"k{i}", f"kept{i % 3}.txt", "", (), f"保留的第{i}段文字。", 0, 9, "k") for i in range(40)]
    gone = [Chunk(f"g{i}", "secret.txt", "", (), f"机密的第{i}段：暗号紫罗兰。", 0, 12, "g") for i in range(5)]
    index.add(kept + gone)
    forget(index, "secret.txt")
    SharedSystemClient.clear_system_cache()

    stored = _stored_vectors(tmp_path / "index")
    stored = stored / np.maximum(np.linalg.norm(stored, axis=1, keepdims=True), 1e-9)
    best = lambda chunks: (np.array(embedder.embed([indexed_text(c) for c in chunks])) @ stored.T).max(axis=1)  # noqa: E731
    assert best(kept).min() > 0.999  # every kept vector is there, unchanged
    assert bool(best(gone).max() < 0.99) is overwrite
    reopened = Index(tmp_path / "index", embedder, chunker="v")
    for c, v in zip(kept, embedder.embed([indexed_text(c) for c in kept])):
        assert reopened.store.query(v, 1)[0][0] == c.id
