"""Faults: kill -9 during ingest, two ingests at once, a full or read-only disk,
bad model files, an index built another way.

After every fault the next run repairs or completes, and then Chroma, the BM25
file and the manifest agree exactly with what a clean ingest of the same folder
gives. The kill -9 and concurrency tests run the real `assistant ingest` in
subprocesses (real embedder), so they carry the `model` marker; the disk tests
need root and `mount` (tmpfs with size=, read-only bind mounts) and are skipped,
with the reason, where that is refused.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from index.errors import StoreError
from index.search import Index
from ingest import lock
from ingest.chunk import make_chunks
from ingest.load import load_document
from ingest.manifest import Manifest
from ingest.pipeline import ingest

SIZE, OVERLAP = 200, 40  # the CLI's defaults
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "faults"
ASSISTANT = os.path.join(os.path.dirname(sys.executable), "assistant")


from conftest import needs_refused_overcommit  # noqa: E402
from fakes import FakeEmbedder  # noqa: E402


WORDS = "开源 闭源 模型 数据 隐私 企业 成本 许可证 社区 训练 部署 安全 审计 透明 创新 生态 算力 供应商".split()


def write_doc(path: Path, rng: random.Random, paragraphs: int = 6) -> None:
    lines = [f"文档{path.stem}"]
    for p in range(paragraphs):
        lines.append("".join("".join(rng.choice(WORDS) for _ in range(rng.randint(6, 14))) + "。" for _ in range(4)))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def expected_ids(folder: Path) -> dict[str, set[str]]:
    """What a clean ingest of the folder stores: chunk ids per source (ids do not depend on the embedder)."""
    out = {}
    for path in sorted(folder.rglob("*.txt")):
        source = path.relative_to(folder).as_posix()
        out[source] = {c.id for c in make_chunks(load_document(path, source), SIZE, OVERLAP)}
    return out


def chroma_state(index_dir: Path) -> dict[str, dict]:
    """Chunk id -> metadata, read straight from Chroma's files (no repair), after checking a vector search works."""
    import chromadb
    from chromadb.api.client import SharedSystemClient
    from chromadb.config import Settings
    from chromadb.errors import NotFoundError

    SharedSystemClient.clear_system_cache()  # another process wrote: read the files afresh
    try:
        client = chromadb.PersistentClient(path=str(index_dir / "chroma"), settings=Settings(anonymized_telemetry=False))
        try:
            col = client.get_collection("chunks")
        except NotFoundError:  # killed after Chroma made its files, before the collection: nothing indexed yet
            return {}
        got = col.get(include=["metadatas"])
        if got["ids"]:
            one = col.get(ids=got["ids"][:1], include=["embeddings"])
            hits = col.query(query_embeddings=[list(one["embeddings"][0])], n_results=min(5, len(got["ids"])))
            assert hits["ids"][0], "the vector index answers no query"
        return dict(zip(got["ids"], got["metadatas"]))
    finally:
        SharedSystemClient.clear_system_cache()


def bm25_ids(index_dir: Path) -> set[str] | None:
    path = index_dir / "lexical.json"
    return set(json.loads(path.read_text(encoding="utf-8"))["docs"]) if path.exists() else None


def check_agrees(index_dir: Path, folder: Path) -> dict[str, set[str]]:
    """Chroma, the BM25 file and the manifest agree exactly with a clean ingest of ``folder``."""
    metas = chroma_state(index_dir)
    by_source: dict[str, set[str]] = {}
    for cid, meta in metas.items():
        by_source.setdefault(meta["source"], set()).add(cid)
    want = expected_ids(folder)
    assert by_source == want, {s: (len(by_source.get(s, ())), len(want.get(s, ()))) for s in set(by_source) | set(want) if by_source.get(s) != want.get(s)}
    assert bm25_ids(index_dir) == set(metas), "the BM25 file and Chroma disagree"
    manifest = Manifest(index_dir / "manifest.json").entries
    assert set(manifest) == set(want)
    for source, entry in manifest.items():
        hashes = {m["doc_hash"] for m in metas.values() if m["source"] == source}
        assert hashes == {entry["hash"]} and entry["chunks"] == len(want[source]), source
        assert Path(entry["path"]) == (folder / source).resolve()
    starts = [(m["source"], m["start"]) for m in metas.values()]
    assert len(starts) == len(set(starts)), "two chunks at one offset"
    return by_source


def cli(*args, data_dir: Path, **kw) -> subprocess.Popen:
    return subprocess.Popen([ASSISTANT, *map(str, args), "--data-dir", str(data_dir)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, **kw)


# --------------------------------------------------------------------------- kill -9


def mutate(folder: Path, rng: random.Random, step: int) -> str:
    """Give the next run work of every kind: new, edited, deleted and renamed files."""
    if step == 0:
        folder.mkdir()
        for i in range(30):
            write_doc(folder / f"doc{i:02d}.txt", rng)
        return "30 new files"
    docs = sorted(folder.glob("*.txt"))
    edited = rng.sample(docs, 6)
    for path in edited:
        with path.open("a", encoding="utf-8") as f:
            f.write("".join(rng.choice(WORDS) for _ in range(40)) + f"。第{step}次修改。\n")
    gone = rng.sample([d for d in docs if d not in edited], 2)
    for path in gone:
        path.unlink()
    renamed = rng.choice([d for d in docs if d not in edited and d not in gone])
    renamed.rename(renamed.with_name(f"renamed{step}-{renamed.name}"))
    for i in range(3):
        write_doc(folder / f"new{step}-{i}.txt", rng)
    return "6 edited, 2 deleted, 1 renamed, 3 new"


class Watched:
    """A running `assistant ingest` whose progress bar ("12/30") is followed as it is drawn."""

    def __init__(self, folder: Path, data: Path):
        self.proc = cli("ingest", folder, data_dir=data)
        self.err = ""
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        while chunk := self.proc.stderr.read(1):
            self.err += chunk

    def done_files(self) -> tuple[int, int] | None:
        found = re.findall(r"(\d+)/(\d+) \[", self.err)
        return (int(found[-1][0]), int(found[-1][1])) if found else None

    def kill_when(self, kind: str, value: float, rng: random.Random) -> dict:
        """SIGKILL ``value`` seconds after start ("time"), or a random 0-0.4 s after ``value``
        files are done ("files"; value -1 = all of them, i.e. during removals and the final saves)."""
        started = time.monotonic()
        while self.proc.poll() is None and time.monotonic() - started < 600:
            progress = self.done_files()
            if kind == "time" and time.monotonic() - started >= value:
                break
            if kind == "files" and progress and progress[0] >= (progress[1] if value < 0 else value):
                time.sleep(rng.uniform(0, 0.4))
                break
            time.sleep(0.02)
        killed = self.proc.poll() is None
        if killed:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(60)
        self.reader.join(10)
        progress = self.done_files()
        return {"when": f"{value} s after start" if kind == "time" else ("after all files" if value < 0 else f"after {int(value)} files"),
                "killed": killed, "at_s": round(time.monotonic() - started, 1),
                "progress": f"{progress[0]}/{progress[1]} files done" if progress else "before the first file"}


@pytest.mark.model
def test_kill_9_at_many_points_then_the_next_run_repairs(tmp_path):
    rng = random.Random(8)
    folder, data = tmp_path / "docs", tmp_path / "data"
    results = []
    # Kill points: during start-up, during the first file (the embedder's ONNX export),
    # mid-folder while files are embedded and written, during the removals and final
    # saves, and twice in a row (the repairing run killed too).
    plan = [
        [("time", 0.8), ("time", 9.0), ("files", 1), ("files", 12)],
        [("files", 3)],
        [("files", 6)],
        [("files", 10), ("files", 0)],
        [("files", -1)],
        [("time", 3.0)],
        [("files", 5), ("files", 2)],
        [("files", 8)],
    ]
    for step, kills in enumerate(plan):
        work = mutate(folder, rng, step)
        row = {"step": step, "work": work, "kills": []}
        for kind, value in kills:
            state = Watched(folder, data).kill_when(kind, value, rng)
            if (data / "index" / "chroma").exists():
                try:
                    metas = chroma_state(data / "index")  # opens, answers a vector query
                except Exception as err:  # killed while Chroma saved its vector files: the next run must rebuild them
                    assert "hnsw segment reader" in str(err), err
                    state.update(vectors_unreadable=True)
                else:
                    bm25 = bm25_ids(data / "index")
                    want = {cid for ids in expected_ids(folder).values() for cid in ids}
                    state.update(chroma_chunks=len(metas), bm25_chunks=None if bm25 is None else len(bm25),
                                 bm25_behind=bm25 != set(metas), off_from_clean=len(set(metas) ^ want))
            row["kills"].append(state)
        repair = subprocess.run([ASSISTANT, "ingest", str(folder), "--data-dir", str(data)], capture_output=True,
                                text=True, timeout=600, stdin=subprocess.DEVNULL)
        assert repair.returncode == 0, repair.stderr[-3000:]
        assert "Traceback" not in repair.stderr
        row["next_run"] = next(line for line in repair.stdout.splitlines() if " added, " in line)
        by_source = check_agrees(data / "index", folder)
        row["after"] = f"{sum(map(len, by_source.values()))} chunks from {len(by_source)} documents: Chroma = BM25 = manifest = clean ingest"
        results.append(row)

    # Finally compare with a real clean ingest of the same folder in a fresh data folder.
    clean = subprocess.run([ASSISTANT, "ingest", str(folder), "--data-dir", str(tmp_path / "clean")], capture_output=True,
                           text=True, timeout=600, stdin=subprocess.DEVNULL)
    assert clean.returncode == 0, clean.stderr[-3000:]
    assert check_agrees(tmp_path / "clean" / "index", folder) == check_agrees(data / "index", folder)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "kill9.json").write_text(json.dumps(results, ensure_ascii=False, indent=1), encoding="utf-8")
    print()
    for row in results:
        for k in row["kills"]:
            print(f"step {row['step']} ({row['work']}): SIGKILL {k['when']} (at {k['at_s']} s, {k['progress']}, killed={k['killed']}); "
                  f"Chroma {k.get('chroma_chunks')} chunks, BM25 file {k.get('bm25_chunks')}, off from clean {k.get('off_from_clean')}")
        print(f"    next run: {row['next_run']} -> {row['after']}")
    kills = [k for row in results for k in row["kills"]]
    assert sum(k["killed"] for k in kills) >= len(kills) - 2, "most kill points must land while the ingest runs"


def vector_files(index_dir: Path) -> list[Path]:
    return sorted((index_dir / "chroma").glob("*/index_metadata.pickle"))


@pytest.mark.model
def test_vector_files_cut_short_are_rebuilt_from_the_stored_chunks_even_if_that_is_killed(tmp_path):
    """Chroma saves its vector index every two records, not atomically: a kill in the middle
    leaves a truncated file, and then Chroma itself fails on every call. The next run
    embeds the stored chunks anew; killed while it does, the run after it does it again."""
    rng = random.Random(5)
    folder, data = tmp_path / "docs", tmp_path / "data"
    folder.mkdir()
    for i in range(8):
        write_doc(folder / f"doc{i}.txt", rng)
    assert cli("ingest", folder, data_dir=data).wait(600) == 0
    before = check_agrees(data / "index", folder)

    def cut_short():
        (pickle,) = vector_files(data / "index")
        pickle.write_bytes(pickle.read_bytes()[: pickle.stat().st_size // 2])
        with pytest.raises(Exception, match="hnsw segment reader"):
            chroma_state(data / "index")

    cut_short()
    run = cli("ingest", folder, data_dir=data)
    err = run.communicate(timeout=600)[1]
    assert run.returncode == 0 and "Traceback" not in err, err[-2000:]
    assert "is made anew (a write of its vector files was cut short): embedding its" in err
    assert check_agrees(data / "index", folder) == before  # every chunk found again by a vector query
    assert not (data / "index" / "chroma" / "vectors-rebuilding").exists()

    cut_short()
    run = Watched(folder, data)
    started = time.monotonic()
    while "embedding its" not in run.err and run.proc.poll() is None and time.monotonic() - started < 300:
        time.sleep(0.01)
    assert run.proc.poll() is None, run.err[-2000:]
    run.proc.send_signal(signal.SIGKILL)
    run.proc.wait(60)
    assert (data / "index" / "chroma" / "vectors-rebuilding").exists()  # the rebuild is still owed
    run = cli("ingest", folder, data_dir=data)
    err = run.communicate(timeout=600)[1]
    assert run.returncode == 0 and "embedding its" in err, err[-2000:]
    assert check_agrees(data / "index", folder) == before
    assert not (data / "index" / "chroma" / "vectors-rebuilding").exists()


# --------------------------------------------------------------------------- two at once


@pytest.mark.model
def test_a_second_ingest_waits_for_the_first_and_nothing_is_lost(tmp_path):
    rng = random.Random(3)
    first, second, data = tmp_path / "first", tmp_path / "second", tmp_path / "data"
    first.mkdir()
    second.mkdir()
    for i in range(20):
        write_doc(first / f"a{i:02d}.txt", rng)
    for i in range(6):
        write_doc(second / f"b{i:02d}.txt", rng)
    a = cli("ingest", first, data_dir=data)
    lock_file = data / "index" / lock.LOCK_NAME
    deadline = time.monotonic() + 300
    while not (lock_file.exists() and lock_file.read_text().strip() == str(a.pid)):  # a holds the lock: it is ingesting
        assert a.poll() is None and time.monotonic() < deadline, a.communicate()[1][-2000:]
        time.sleep(0.1)
    b = cli("ingest", second, data_dir=data)
    out_b, err_b = b.communicate(timeout=600)
    out_a, err_a = a.communicate(timeout=600)
    assert a.returncode == 0 and b.returncode == 0, (err_a[-2000:], err_b[-2000:])
    assert f"waiting for another ingest or forget on this index (process {a.pid}) to finish" in err_b
    assert "20 added" in out_a and "6 added" in out_b
    # both folders, exactly, in all three records
    merged = tmp_path / "both"
    shutil.copytree(first, merged)
    shutil.copytree(second, merged, dirs_exist_ok=True)
    metas = chroma_state(data / "index")
    assert bm25_ids(data / "index") == set(metas)
    want = expected_ids(merged)
    got: dict[str, set[str]] = {}
    for cid, meta in metas.items():
        got.setdefault(meta["source"], set()).add(cid)
    assert got == want
    assert set(Manifest(data / "index" / "manifest.json").entries) == set(want)


def test_the_lock_makes_a_second_writer_wait(tmp_path):
    index = Index(tmp_path / "index", FakeEmbedder(), chunker="test")
    folder = tmp_path / "docs"
    folder.mkdir()
    write_doc(folder / "a.txt", random.Random(1))
    done = threading.Event()

    def second():
        ingest(index, [folder], size=SIZE, overlap=OVERLAP, progress=False)
        done.set()

    with lock.locked(index, quiet=True):
        t = threading.Thread(target=second)
        t.start()
        assert not done.wait(1.0), "the second ingest did not wait"
        assert index.count() == 0
    assert done.wait(60)
    t.join()
    assert index.count() > 0
    assert (tmp_path / "index" / lock.LOCK_NAME).stat().st_mode & 0o777 == 0o600


def test_rebuild_waits_for_a_running_ingest(tmp_path):
    index = Index(tmp_path / "index", FakeEmbedder(), chunker="test")
    cleared = threading.Event()
    with lock.locked(index, quiet=True):
        t = threading.Thread(target=lambda: (lock.clear_index(tmp_path / "index"), cleared.set()))
        t.start()
        assert not cleared.wait(1.0)
        assert (tmp_path / "index" / "chroma").exists()
    assert cleared.wait(30)
    t.join()
    assert [p.name for p in (tmp_path / "index").iterdir()] == [lock.LOCK_NAME]


# --------------------------------------------------------------------------- full or read-only disk


def _mount(*args) -> str | None:
    """Run mount; the reason it failed, or None."""
    if os.geteuid() != 0 or not shutil.which("mount"):
        return "needs root and mount"
    proc = subprocess.run(["mount", *args], capture_output=True, text=True)
    return None if proc.returncode == 0 else f"mount {' '.join(args)} refused: {proc.stderr.strip()}"


@pytest.fixture
def mounts():
    """Mount points to take down after the test, innermost first."""
    points: list[Path] = []
    yield points
    for point in reversed(points):
        subprocess.run(["umount", "-l", str(point)], capture_output=True)


def small_disk(path: Path, size: str, mounts) -> None:
    path.mkdir(parents=True, exist_ok=True)
    why = _mount("-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path))
    if why:
        pytest.skip(why)
    mounts.append(path)


def read_only(path: Path, mounts) -> None:
    why = _mount("--bind", str(path), str(path))
    if why:
        pytest.skip(why)
    mounts.append(path)
    why = _mount("-o", "remount,ro,bind", str(path))
    if why:
        pytest.skip(why)


def many_docs(folder: Path, n: int) -> None:
    folder.mkdir()
    rng = random.Random(5)
    for i in range(n):
        write_doc(folder / f"doc{i:03d}.txt", rng, paragraphs=12)


def test_disk_full_is_a_clear_error_and_the_index_recovers(tmp_path, mounts):
    disk = tmp_path / "disk"
    small_disk(disk, "1m", mounts)
    folder = tmp_path / "docs"
    many_docs(folder, 80)
    index = Index(disk / "index", FakeEmbedder(), chunker="test")
    with pytest.raises(StoreError) as err:
        ingest(index, [folder], size=SIZE, overlap=OVERLAP, progress=False)
    msg = str(err.value)
    assert "\n" not in msg and f"the disk holding {disk / 'index'} is full" in msg, msg
    assert "free some space" in msg and "run the same command again" in msg
    # space comes back: the index opens, what it holds is a subset of the clean result,
    # and the same command completes it exactly
    assert _mount("-o", "remount,size=64m", str(disk)) is None
    metas = chroma_state(disk / "index")
    want = expected_ids(folder)
    assert set(metas) <= {cid for ids in want.values() for cid in ids}
    reopened = Index(disk / "index", FakeEmbedder(), chunker="test")
    assert reopened.lexical.ids() == set(metas)
    report = ingest(reopened, [folder], size=SIZE, overlap=OVERLAP, progress=False)
    assert not report.skipped
    check_agrees(disk / "index", folder)


def test_a_full_disk_at_start_up_is_one_line_with_exit_4(tmp_path, mounts, run_cli):
    disk = tmp_path / "disk"
    small_disk(disk, "64k", mounts)
    filler = disk / "filler"
    with open(filler, "wb") as f:
        try:
            f.write(b"x" * (1 << 20))
        except OSError:
            pass
    code, out, err = run_cli("status", "--data-dir", disk / "data")
    assert code == 4 and err.count("\n") == 1 and err.startswith("error: "), err
    assert "No space left" in err or "disk is full" in err
    assert "Traceback" not in err


def test_a_read_only_data_folder_is_one_line_and_the_index_still_opens(tmp_path, mounts, run_cli):
    data = tmp_path / "data"
    folder = tmp_path / "docs"
    many_docs(folder, 3)
    index = Index(data / "index", FakeEmbedder(), chunker="test")
    ingest(index, [folder], size=SIZE, overlap=OVERLAP, progress=False)
    before = chroma_state(data / "index")
    del index
    read_only(data / "index", mounts)
    # the index folder alone read-only: the store cannot be opened for writing
    code, out, err = run_cli("status", "--data-dir", data)
    assert code == 4 and err.count("\n") == 1 and "readonly" in err.replace("read-only", "readonly").lower(), err
    with pytest.raises(StoreError):
        Index(data / "index", FakeEmbedder(), chunker="test")
    # the whole data folder read-only: refused before anything is opened
    read_only(data, mounts)
    code, out, err = run_cli("ingest", folder, "--data-dir", data)
    assert code == 4 and err.count("\n") == 1 and "Read-only file system" in err and "--data-dir" in err, err
    for point in reversed(mounts):
        assert subprocess.run(["umount", str(point)]).returncode == 0
    mounts.clear()
    assert chroma_state(data / "index") == before  # untouched, and it opens
    reopened = Index(data / "index", FakeEmbedder(), chunker="test")
    assert reopened.count() == len(before) and reopened.lexical.ids() == set(before)


# --------------------------------------------------------------------------- model files, index built another way


@pytest.fixture(scope="module")
def small_data(tmp_path_factory):
    """A data folder whose index holds one small document, built by the CLI's own embedder and chunker."""
    from assistant import cli

    root = tmp_path_factory.mktemp("faults-data")
    docs = root / "docs"
    docs.mkdir()
    (docs / "lake.txt").write_text("青松湖观测站建于2011年，位于北纬42度。观测站记录湖面结冰的日期。", encoding="utf-8")
    env = dict(os.environ)
    try:
        assert cli.main(["ingest", str(docs), "--data-dir", str(root / "data")]) == 0
    finally:
        os.environ.clear()
        os.environ.update(env)
    return root / "data"


def _one_line(err: str) -> str:
    """The error is one line at the end (a progress bar may come before it), and no traceback."""
    lines = [line for line in re.split(r"[\r\n]", err) if line.strip()]
    assert lines and lines[-1].startswith("error: ") and "Traceback" not in err, err
    assert not any(line.startswith("error") for line in lines[:-1]), err
    return lines[-1]


@pytest.mark.model  # small_data is ingested with the real embedder
def test_missing_or_non_gguf_model_says_what_to_do(run_cli, small_data, tmp_path):
    code, out, err = run_cli("ask", "青松湖观测站建于哪一年？", "--data-dir", small_data, "--model", tmp_path / "nope.gguf")
    assert code == 5 and "model file not found" in _one_line(err) and "--model" in err
    fake = tmp_path / "notes.gguf"
    fake.write_text("这不是模型。", encoding="utf-8")
    code, out, err = run_cli("ask", "青松湖观测站建于哪一年？", "--data-dir", small_data, "--model", fake)
    assert code == 5 and "not a GGUF file" in _one_line(err)


def test_default_model_parts_with_the_wrong_checksum_say_to_reinstall(run_cli, tmp_path, monkeypatch):
    from assistant.llm import models

    parts = []
    for n, data in enumerate([b"GGUF" + b"a" * 100, b"b" * 50], 1):
        parts.append(tmp_path / f"part{n}.bin")
        parts[-1].write_bytes(data)
    monkeypatch.setattr(models, "part_files", lambda: parts)
    monkeypatch.setattr(models, "DEFAULT_GGUF_SIZE", 154)
    monkeypatch.setattr(models, "DEFAULT_GGUF_SHA256", "0" * 64)
    code, out, err = run_cli("ask", "问题？", "--data-dir", tmp_path / "data")
    assert code == 5 and "wrong checksum" in _one_line(err) and "pip install --force-reinstall" in err
    assert not list((tmp_path / "data" / "models").glob("*.gguf"))


@pytest.mark.model
def test_truncated_or_templateless_gguf_says_what_to_do(run_cli, small_data, gguf_path, tmp_path):
    cut = tmp_path / "cut.gguf"
    with open(gguf_path, "rb") as src:
        cut.write_bytes(src.read(8 << 20))
    code, out, err = run_cli("ask", "青松湖观测站建于哪一年？", "--data-dir", small_data, "--model", cut)
    assert code == 5 and "truncated or corrupt" in _one_line(err) and "re-create or re-download" in err

    base = tmp_path / "base.gguf"  # the same model with its chat template's key renamed: a base model
    shutil.copyfile(gguf_path, base)
    with open(base, "r+b") as f:
        head = f.read(64 << 20)
        at = head.index(b"tokenizer.chat_template")
        f.seek(at + len(b"tokenizer.chat_templat"))
        f.write(b"X")
    code, out, err = run_cli("ask", "青松湖观测站建于哪一年？", "--data-dir", small_data, "--model", base)
    assert code == 5 and "is not a chat model" in _one_line(err) and "instruct GGUF" in err


@pytest.mark.model
@needs_refused_overcommit
def test_too_little_memory_for_the_context_says_lower_n_ctx(run_cli, small_data, gguf_path):
    code, out, err = run_cli("ask", "青松湖观测站建于哪一年？", "--data-dir", small_data, "--model", gguf_path, "--n-ctx", "8000000")
    assert code == 5 and "not enough memory" in _one_line(err) and "--n-ctx" in err


@pytest.mark.model
def test_an_index_built_another_way_is_refused_with_the_rebuild_command(run_cli, small_data, tmp_path):
    from assistant.llm.models import default_embedder_path

    code, out, err = run_cli("status", "--data-dir", small_data, "--chunk-size", "300")
    assert code == 3 and "assistant ingest --rebuild" in _one_line(err) and "chunker" in err
    other = tmp_path / "other-embedder"
    other.symlink_to(default_embedder_path(), target_is_directory=True)
    code, out, err = run_cli("ask", "问题？", "--data-dir", small_data, "--embed-model", other)
    assert code == 3 and "assistant ingest --rebuild" in _one_line(err) and "embedder" in err
    copy = tmp_path / "copy"
    shutil.copytree(small_data, copy)
    docs = Path(Manifest(copy / "index" / "manifest.json").entries["lake.txt"]["path"]).parent
    code, out, err = run_cli("ingest", docs, "--rebuild", "--chunk-size", "300", "--data-dir", copy)
    assert code == 0, err
    code, out, err = run_cli("status", "--data-dir", copy, "--chunk-size", "300")
    assert code == 0, err
