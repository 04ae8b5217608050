"""Bad input: files, questions, uploads and settings.

Every bad file is ingested correctly or skipped with a one-line reason, and the
rest of the folder (and the index) is unaffected; every odd question gets an
answer or a clear message, never a traceback; uploads are judged by content and
stay inside the uploads folder; a bad setting names its key.

The index here is real (Chroma and BM25 in a temporary folder) but its vectors
come from a hashing stand-in for the embedder, so these tests take seconds.
"""

from __future__ import annotations

import errno
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from assistant.config import ConfigError
from index.errors import SkipFile
from index.search import Index
from ingest import pipeline
from ingest import raw as load  # read_file, and the os calls it makes, live in ingest.raw
from ingest.chunk import make_chunks
from ingest.load import load_document
from ingest.manifest import Manifest
from ingest.pipeline import ingest
from ingest.raw import MAX_BYTES

SIZE, OVERLAP = 200, 40


from fakes import FakeEmbedder  # noqa: E402


@pytest.fixture
def index(tmp_path):
    return Index(tmp_path / "index", FakeEmbedder(), chunker="test")


def run_ingest(index, *paths, **kw):
    return ingest(index, list(paths), size=SIZE, overlap=OVERLAP, progress=False, **kw)


def consistent(index) -> dict[str, set[str]]:
    """Chroma, the BM25 file on disk and the manifest agree exactly; chunk ids per source.

    Each source's chunks are exactly those a clean chunking of its file gives now."""
    chunks = index.store.chunks()
    ids = {c.id for c in chunks}
    assert len(ids) == len(chunks), "duplicate chunk ids"
    on_disk = json.loads((index.root / "lexical.json").read_text(encoding="utf-8"))["docs"]
    assert set(on_disk) == ids == index.lexical.ids(), "BM25 and Chroma disagree"
    by_source: dict[str, set[str]] = {}
    for c in chunks:
        by_source.setdefault(c.source, set()).add(c.id)
    manifest = Manifest(index.root / "manifest.json").entries
    assert set(manifest) == set(by_source), "manifest and Chroma name different documents"
    for source, entry in manifest.items():
        mine = [c for c in chunks if c.source == source]
        assert {c.doc_hash for c in mine} == {entry["hash"]} and entry["chunks"] == len(mine)
        expected = make_chunks(load_document(Path(entry["path"]), source), SIZE, OVERLAP)
        assert {c.id for c in expected} == by_source[source], f"{source}: not what a clean ingest gives"
    return by_source


# --------------------------------------------------------------------------- files

SAMPLE_ZH = "开源大模型的代码是公开的，任何人都可以访问和修改。闭源模型由公司控制。\n"
SAMPLE_TW = "開源大模型與閉源大模型各有優勢。開源模型的程式碼是公開的，任何人都可以使用、修改和分發。\n"

# name -> (bytes, expected): ("ok", text the cleaned document must contain) or ("skip", words of the reason)
FILES: dict[str, tuple[bytes, tuple[str, str]]] = {
    "empty.txt": (b"", ("skip", "empty file")),
    "whitespace.txt": ("  \n\t\r\n\u3000 \n".encode("utf-8"), ("skip", "empty")),
    "binary-renamed.txt": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4, ("skip", "binary")),
    "elf.md": (b"\x7fELF\x02\x01\x01" + bytes(300), ("skip", "binary")),
    "truncated-utf8.txt": ((SAMPLE_ZH * 3).encode("utf-8")[:-2], ("ok", "闭源模型由公司控制。\n开源大模型")),
    "truncated-short.txt": ("数据隐私".encode("utf-8")[:-1], ("ok", "数据隐")),
    "gb18030.txt": (SAMPLE_ZH.encode("gb18030"), ("ok", SAMPLE_ZH.strip())),
    "gbk.txt": (SAMPLE_ZH.encode("gbk"), ("ok", SAMPLE_ZH.strip())),
    "big5.txt": (SAMPLE_TW.encode("big5"), ("ok", SAMPLE_TW.strip())),
    "utf16-bom.txt": (SAMPLE_ZH.encode("utf-16"), ("ok", SAMPLE_ZH.strip())),
    "utf16le-nobom.txt": (SAMPLE_ZH.encode("utf-16-le"), ("ok", SAMPLE_ZH.strip())),
    "utf16be-nobom.txt": (SAMPLE_ZH.encode("utf-16-be"), ("ok", SAMPLE_ZH.strip())),
    "utf16-truncated.txt": ((SAMPLE_ZH * 2).encode("utf-16-le")[:-1], ("ok", "闭源模型由公司控制")),
    "mixed-endings.txt": ("第一行。\r\n第二行。\r第三行。\n第四行。\u2028第五行。\n\r第六行。".encode(), ("ok", "第一行。\n第二行。\n第三行。\n第四行。\n第五行。\n\n第六行。")),
    "one-2mb-line.txt": (("开源模型" * 131072 + "结尾。").encode(), ("ok", "开源模型开源模型")),
    "nested.html": (("<html><body>" + "<div>" * 20000 + "<p>深层的正文。</p>" + "</div>" * 20000 + "</body></html>").encode(), ("ok", "深层的正文。")),
    "broken.html": ("<html><body><p>第一段<p>第二段<div>未闭合的<b>粗体</p></div></b> <!-- 未闭合的注释".encode(), ("ok", "第一段\n第二段\n未闭合的粗体")),
    "scripts.html": ("<html><head><style>p{color:red}</style><script>var s='秘密脚本';</script></head><body><p>正文可见。</p>"
                     "<script>document.write('<p>伪造</p>')</script><noscript>请启用脚本</noscript></body></html>".encode(), ("ok", "正文可见。")),
    "only-script.html": (b"<html><head><script>alert(1)</script></head><body><script>x()</script></body></html>", ("skip", "empty after cleaning")),
    "unsupported.odt": (b"PK\x03\x04 ...", ("skip", "unsupported file type .odt")),
    "truncated.pdf": (b"%PDF-1.4 ...", ("skip", "not a readable PDF")),
    "name with spaces.txt": ("带空格的文件名。".encode(), ("ok", "带空格的文件名。")),
    "中文 名字（草稿）.md": ("# 中文标题\n中文文件名的正文。".encode(), ("ok", "中文文件名的正文。")),
    "a;b|c&d$(rm -rf x)`id`'q\"*?[].txt": ("shell 元字符的文件名。".encode(), ("ok", "元字符的文件名。")),
    "-n.txt": ("以短横线开头的文件名。".encode(), ("ok", "以短横线开头")),
    "good.txt": ("这是一个完全正常的文件。".encode(), ("ok", "完全正常的文件。")),
}


def build_folder(root: Path, outside: Path) -> dict[str, tuple[str, str]]:
    """Every bad input in one folder; returns name -> expectation, the special files included."""
    root.mkdir()
    expected = {}
    for name, (data, want) in FILES.items():
        (root / name).write_bytes(data)
        expected[name] = want
    # special files
    os.mkfifo(root / "fifo.txt")  # reading it would block forever
    expected["fifo.txt"] = ("skip", "named pipe")
    (root / "folder.txt").mkdir()  # a folder with a text suffix is walked, not read
    (root / "sub").mkdir()
    (root / "sub" / "real.txt").write_text("子文件夹里的真实文件。", encoding="utf-8")
    expected["sub/real.txt"] = ("ok", "子文件夹里的真实文件。")
    (root / ".hidden.txt").write_text("隐藏文件通过链接公开。", encoding="utf-8")
    with open(root / "too-large.txt", "wb") as f:  # sparse: costs no disk, must not be read
        f.truncate(MAX_BYTES + 1)
    expected["too-large.txt"] = ("skip", "file too large")
    bad_name = os.fsencode(str(root)) + b"/latin1-\xe9t\xe9.txt"  # not UTF-8: a lone surrogate in Python
    with open(bad_name, "wb") as f:
        f.write("名字不是 UTF-8。".encode())
    expected[os.fsdecode(b"latin1-\xe9t\xe9.txt")] = ("skip", "not valid UTF-8")
    # symbolic links
    outside.write_text("文件夹外的秘密。", encoding="utf-8")
    os.symlink(outside, root / "outside-link.txt")
    expected["outside-link.txt"] = ("skip", "outside the folder")
    os.symlink("sub/real.txt", root / "inside-link.txt")
    expected["inside-link.txt"] = ("skip", "ingested under that name")
    os.symlink(".hidden.txt", root / "public.txt")
    expected["public.txt"] = ("ok", "隐藏文件通过链接公开。")
    os.symlink(".", root / "loop")
    expected["loop"] = ("skip", "symbolic link loop")
    os.symlink("..", root / "sub" / "up")
    expected["sub/up"] = ("skip", "symbolic link loop")
    os.symlink(outside.parent, root / "outside-folder")
    expected["outside-folder"] = ("skip", "outside the folder")
    os.symlink("..", root / "folder.txt" / "parent")
    expected["folder.txt/parent"] = ("skip", "symbolic link loop")
    os.symlink("nowhere.txt", root / "broken.txt")
    expected["broken.txt"] = ("skip", "broken symbolic link")
    os.symlink("cycle-b.txt", root / "cycle-a.txt")
    os.symlink("cycle-a.txt", root / "cycle-b.txt")
    expected["cycle-a.txt"] = expected["cycle-b.txt"] = ("skip", "symbolic link loop")
    return expected


@pytest.fixture
def alarm():
    """Fail instead of hanging (a FIFO read would block forever)."""
    signal.signal(signal.SIGALRM, lambda *_: pytest.fail("timed out: something blocked"))
    signal.alarm(120)
    yield
    signal.alarm(0)


def test_every_bad_file_is_ingested_correctly_or_skipped_with_one_line(index, tmp_path, alarm):
    before = tmp_path / "before"
    before.mkdir()
    (before / "kept.txt").write_text("早先已经索引的文档，不应受影响。", encoding="utf-8")
    run_ingest(index, before)
    kept = consistent(index)["kept.txt"]

    folder = tmp_path / "messy"
    expected = build_folder(folder, tmp_path / "secret.txt")
    report = run_ingest(index, folder)

    skipped = {}
    for path, why in report.skipped:
        assert why and "\n" not in why and "\n" not in path, (path, why)
        skipped[os.path.relpath(path, folder) if path.startswith(str(folder)) else path] = why
    ingested = set(report.added)
    for name, (outcome, words) in expected.items():
        shown = pipeline.shown(name)
        if outcome == "ok":
            assert name in ingested, (name, skipped.get(shown))
            doc = load_document(folder / name, name)
            assert words in doc.text, name
            assert all(c.text in doc.text for c in index.chunks_of(name))
        else:
            assert shown in skipped, (name, sorted(skipped))
            assert words in skipped[shown], (name, skipped[shown])
            assert name not in ingested
    assert "文件夹外的秘密" not in "".join(c.text for c in index.store.chunks())
    assert set(report.added) == {n for n, (o, _) in expected.items() if o == "ok"}
    by_source = consistent(index)
    assert by_source["kept.txt"] == kept  # nothing else affected

    again = run_ingest(index, folder)  # a second run: the same skips, nothing redone
    assert again.added == again.replaced == again.removed == []
    assert sorted(again.skipped) == sorted(report.skipped)
    assert consistent(index) == by_source


def test_a_skipped_name_prints_on_one_line(index, tmp_path):
    folder = tmp_path / "names"
    folder.mkdir()
    (folder / "two\nlines.pdf").write_bytes(b"%PDF")
    (folder / "ok\nname.txt").write_text("换行符出现在文件名里。", encoding="utf-8")
    report = run_ingest(index, folder)
    assert report.added == ["ok\nname.txt"]  # a legal name: ingested under it
    [(path, why)] = report.skipped
    assert "\n" not in path and "two\\nlines.pdf" in path


def test_a_fifo_or_device_named_directly_is_refused_not_read(index, tmp_path, alarm):
    fifo = tmp_path / "pipe.txt"
    os.mkfifo(fifo)
    report = run_ingest(index, fifo, Path("/dev/zero"), tmp_path / "missing.txt")
    reasons = dict(report.skipped)
    assert "named pipe" in reasons[str(fifo)]
    assert "character device" in reasons["/dev/zero"]
    assert reasons[str(tmp_path / "missing.txt")] == "no such file or folder"
    with pytest.raises(SkipFile, match="named pipe"):
        load_document(fifo, "pipe.txt")


def test_unreadable_file_is_skipped_with_the_os_reason(index, tmp_path, monkeypatch):
    """Root ignores file modes, so the refusal is simulated here; the next test uses real modes."""
    folder = tmp_path / "perm"
    folder.mkdir()
    (folder / "locked.txt").write_text("读不到的内容。", encoding="utf-8")
    (folder / "open.txt").write_text("读得到的内容。", encoding="utf-8")
    real_open = os.open

    def deny(path, flags, *args):
        if str(path).endswith("locked.txt"):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, flags, *args)

    monkeypatch.setattr(load.os, "open", deny)
    report = run_ingest(index, folder)
    assert report.added == ["open.txt"]
    assert report.skipped == [(str(folder / "locked.txt"), "cannot read file: Permission denied")]
    consistent(index)


FAKE_EMBEDDER_SRC = textwrap.dedent('''
    import json, sys
    from pathlib import Path
    sys.path.insert(0, "tests")  # run from the project root
    from fakes import FakeEmbedder
    from index.search import Index
    from ingest.pipeline import ingest
''')


def test_real_file_modes_without_root_privileges(tmp_path):
    """Run the ingest with root's permission-bypassing capabilities dropped
    (setpriv --bounding-set -dac_override,-dac_read_search), so mode 000 really refuses."""
    import shutil

    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root and setpriv to drop CAP_DAC_OVERRIDE")
    folder = tmp_path / "modes"
    (folder / "closed").mkdir(parents=True)
    (folder / "locked.txt").write_text("读不到的内容。", encoding="utf-8")
    (folder / "open.txt").write_text("读得到的内容。", encoding="utf-8")
    (folder / "closed" / "inner.txt").write_text("关着的文件夹里的内容。", encoding="utf-8")
    os.chmod(folder / "locked.txt", 0)
    os.chmod(folder / "closed", 0)
    script = FAKE_EMBEDDER_SRC + textwrap.dedent(f'''
        index = Index(Path({str(tmp_path / "index")!r}), FakeEmbedder(), chunker="test")
        r = ingest(index, [Path({str(folder)!r})], size=200, overlap=40, progress=False)
        print(json.dumps({{"added": r.added, "skipped": r.skipped}}))
    ''')
    proc = subprocess.run(
        ["setpriv", "--bounding-set", "-dac_override,-dac_read_search", sys.executable, "-c", script],
        capture_output=True, text=True, timeout=300, cwd=Path(__file__).resolve().parent.parent,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["added"] == ["open.txt"]
    assert sorted(map(tuple, out["skipped"])) == [
        (str(folder / "closed"), "cannot read folder: Permission denied"),
        (str(folder / "locked.txt"), "cannot read file: Permission denied"),
    ]


def test_a_file_that_vanishes_or_changes_during_ingest(index, tmp_path, monkeypatch):
    folder = tmp_path / "moving"
    folder.mkdir()
    for name in ("a.txt", "b.txt", "c.txt"):
        (folder / name).write_text(f"{name} 的第一版内容。", encoding="utf-8")
    real_read = pipeline.read_file

    def racing_read(path, *args):
        if path.name == "a.txt":
            path.unlink()  # gone between discovery and reading
        data = real_read(path, *args)
        if path.name == "b.txt":
            path.write_text("b.txt 的第二版内容，读完之后才写入。", encoding="utf-8")  # changed right after the read
        return data

    monkeypatch.setattr(pipeline, "read_file", racing_read)
    report = run_ingest(index, folder)
    assert report.added == ["b.txt", "c.txt"]
    assert report.skipped == [(str(folder / "a.txt"), "cannot read file: No such file or directory")]
    assert "第一版" in index.chunks_of("b.txt")[0].text  # the version read, with that version's hash
    monkeypatch.setattr(pipeline, "read_file", real_read)
    again = run_ingest(index, folder)
    assert again.replaced == ["b.txt"] and again.unchanged == ["c.txt"]
    assert "第二版" in index.chunks_of("b.txt")[0].text
    consistent(index)


def test_a_50_mb_text_file_is_cleaned_and_chunked_with_exact_offsets(tmp_path):
    """Decoding, cleaning and chunking 50 MB take seconds; embedding its ~270,000 chunks
    takes the embedder's time (see the note), so the vectors are not made here."""
    para = "开源大模型的代码是公开的，任何人都可以访问和修改。闭源模型由公司控制。\nOpen models are free. Closed ones charge fees!\n短标题\n"
    path = tmp_path / "big.txt"
    n = 50_000_000 // len(para.encode("utf-8"))
    path.write_bytes((para * n).encode("utf-8"))
    assert 49e6 < path.stat().st_size <= MAX_BYTES
    started = time.perf_counter()
    doc = load_document(path, "big.txt")
    chunks = make_chunks(doc, SIZE, OVERLAP)
    elapsed = time.perf_counter() - started
    assert elapsed < 120, elapsed
    assert len(chunks) > 100_000
    assert all(doc.text[c.start : c.end] == c.text for c in chunks)
    assert all(a.start < b.start for a, b in zip(chunks, chunks[1:]))


def test_a_file_that_becomes_a_fifo_after_discovery_is_not_read(tmp_path, alarm):
    path = tmp_path / "swap.txt"
    os.mkfifo(path)
    with pytest.raises(SkipFile, match="not a regular file"):
        load.read_file(path)


# --------------------------------------------------------------------------- questions


class FakeGenerator:
    """Counts a token per two characters and answers with passage 1's first sentence, cited."""

    n_ctx = 1024

    def __init__(self, model_path: Path):
        from assistant.llm.local import GenStats

        self.model_path = model_path
        self.last_stats = GenStats()
        self.prompts: list[list[dict]] = []

    def count_tokens(self, messages):
        return 8 + sum(len(m["content"]) for m in messages) // 2

    def stream(self, messages, *, max_tokens, temperature=0.0, stop=None, aside=False, watch=""):
        n = self.count_tokens(messages)
        if n + max_tokens > self.n_ctx:
            raise ValueError(f"prompt of {n} tokens + max_tokens {max_tokens} exceeds n_ctx {self.n_ctx}")
        self.prompts.append(messages)
        if aside:
            return iter(["开源 模型"])
        m = re.search(r"<<<\n(?:[^\n]*\n)?([^。\n]+。)", messages[-1]["content"])  # after the title line
        return iter([m.group(1)[:-1] + "[1]。" if m else "抱歉，所提供的文档中没有找到这个问题的答案。"])


@pytest.fixture
def assistant(tmp_path):
    """An Assistant over a real index (hashed vectors) and the fake generator."""
    from assistant import Assistant, Settings

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("开源与闭源\n开源模型的优势在于成本低廉。开源社区贡献了大量改进。\n闭源模型的优势在于服务稳定。", encoding="utf-8")
    model = tmp_path / "fake.gguf"
    model.write_bytes(b"GGUF" + bytes(16))
    settings = Settings.load({"data_dir": tmp_path / "data", "model": model, "n_ctx": 1024, "max_tokens": 128}, env={})
    a = Assistant(settings, progress=False, generator=FakeGenerator(model), embedder=FakeEmbedder())
    run_ingest(a.index, docs)
    return a


def test_quotes_from_the_documents_come_before_the_model_writes(assistant):
    events = []
    answer = assistant.ask("开源模型的优势是什么？", on_token=lambda t: events.append(("token", t)),
                           on_preview=lambda text, lang: events.append(("preview", text, lang)))
    assert events[0][0] == "preview" and events[0][2] == "zh" and "成本低廉" in events[0][1] and events[0][1].endswith("[1]")
    assert [e[0] for e in events[1:]] == ["token"] and not answer.refused
    events.clear()
    assistant.ask("开源模型的优势是什么？", on_token=lambda t: events.append(("token", t)))  # no callback: no quotes
    assert [e[0] for e in events] == ["token"]


WORDLESS = ["", "   \n\t  ", "？！。，……!!!", "😀🤔🙈", "\x00\x01\x02", "\u202e\u200b\ufeff"]


@pytest.mark.parametrize("question", WORDLESS, ids=["empty", "whitespace", "punctuation", "emoji", "controls", "invisible"])
def test_a_question_without_words_gets_a_clear_message_without_the_model(assistant, question):
    answer = assistant.ask(question)
    assert answer.refused and answer.notices == ["the question has no words to search for"]
    assert assistant.generator.prompts == []  # nothing was asked of the model
    json.dumps(answer.to_json(), ensure_ascii=False)


@pytest.mark.parametrize("question", [
    "开源模型的优势是什么？" * 2000,  # 22,000 characters
    "What are the advantages of open models? " * 500,  # 20,000 characters
    "开源模型 open source オープンソース 오픈 소스 модели 的优势？",  # mixed scripts
    "开源\x00模型\x07的\x1b[31m优势\u202e是\r\n什么？",  # control characters
    "开源\udcff模型的优势？",  # an undecodable byte from the command line (a lone surrogate)
    "🤖开源模型🤖的优势？😀",
])
def test_odd_questions_get_an_answer_and_every_prompt_fits(assistant, question):
    answer = assistant.ask(question)
    gen = assistant.generator
    assert gen.prompts, "the model was asked"
    for messages in gen.prompts:  # FakeGenerator raises if one did not fit
        for m in messages:
            assert not re.search("[\x00-\x08\x0b-\x1f\x7f\ud800-\udfff\u202e]", m["content"])
    json.dumps(answer.to_json(), ensure_ascii=False)  # no lone surrogate survives
    if len(question) > 5000:
        [notice] = [n for n in answer.notices if "cut" in n]
        assert re.fullmatch(r"the question was cut to its first \d+ of \d+ characters to fit the context window", notice)
        assert len(answer.question) < len(question)
    else:
        assert not answer.refused and answer.citations, answer.notices


def test_fit_cuts_a_question_that_alone_does_not_fit(assistant):
    from assistant import prompt

    found = prompt.passages(assistant.index.search("开源模型的优势", 2))
    question = "开源模型的优势是什么？" * 300  # 3,300 characters, ~1,650 fake tokens > 1024 - 128
    messages, kept, notices = assistant.fit(question, found, "zh", [])
    assert assistant.generator.count_tokens(messages) <= 1024 - 128
    assert any(n.startswith("cut the question") for n in notices) and len(kept) == 1


def test_cli_refuses_an_empty_question_in_one_line(run_cli, tmp_path):
    for question in ("", "   \t\n"):
        code, out, err = run_cli("ask", question, "--data-dir", tmp_path)
        assert code == 2 and err == "error: the question is empty\n"


@pytest.mark.model
def test_a_20000_character_question_through_the_real_model(run_cli, tmp_path, gguf_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("青松湖观测站建于2011年，位于北纬42度。观测站的主要任务是记录湖面结冰的日期。", encoding="utf-8")
    code, out, err = run_cli("ingest", docs, "--data-dir", tmp_path / "data")
    assert code == 0, err
    question = "青松湖观测站建于哪一年？" * 1700
    code, out, err = run_cli("ask", "--json", question, "--data-dir", tmp_path / "data", "--model", gguf_path)
    assert code == 0, err
    assert "Traceback" not in err
    answer = json.loads(out)
    assert any(n.startswith("the question was cut to its first") for n in answer["notices"])
    assert answer["timings"]["prompt_tokens"] + 512 <= 4096


# --------------------------------------------------------------------------- uploads


@pytest.fixture
def uploads(tmp_path, index):
    return tmp_path / "data" / "uploads"


@pytest.mark.parametrize("name", [
    "../../../../etc/cron.d/evil.md", "/etc/passwd.txt", "..\\..\\windows\\evil.txt", "%2e%2e%2fevil.md",
    "a\x00b.md", "..", ".", ".bashrc.txt", "子目录/../../逃逸.md", "名" * 300 + ".md", "😀" * 120 + ".txt",
])
def test_upload_names_cannot_leave_the_uploads_folder(tmp_path, index, uploads, name):
    from assistant.web import library

    safe = library.safe_name(name)
    assert "/" not in safe and "\\" not in safe and "\x00" not in safe and not safe.startswith(".")
    assert len(safe.encode("utf-8")) <= 255
    carrier = tmp_path / "incoming" / safe  # the browser's name, as the page hands it over
    carrier.parent.mkdir()
    carrier.write_text(f"上传的内容：{name!r}", encoding="utf-8")  # a usable file name (no OSError)
    if Path(safe).suffix not in (".txt", ".md"):
        with pytest.raises(library.UploadRefused):
            library.save_upload(carrier, uploads, index)
        return
    saved = library.save_upload(carrier, uploads, index)
    assert saved.parent.resolve() == uploads.resolve()
    assert sorted(p.name for p in uploads.iterdir()) == [saved.name]


@pytest.mark.parametrize("name, data, key", [
    ("photo.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 8, "refused_content"),
    ("archive.md", b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + bytes(range(256)) * 8, "refused_content"),
    ("program.html", b"\x7fELF\x02\x01\x01\x00" + bytes(500), "refused_content"),
    ("empty.txt", b"", "refused_content"),
    ("tool.exe", "正文。".encode(), "refused_type"),
])
def test_upload_type_is_judged_by_content_not_name(tmp_path, index, uploads, name, data, key):
    from assistant.web import library

    src = tmp_path / name
    src.write_bytes(data)
    with pytest.raises(library.UploadRefused) as refused:
        library.save_upload(src, uploads, index)
    assert refused.value.key == key and "\n" not in str(refused.value)
    from assistant.web.text import TEXT

    for words in TEXT.values():
        assert words[key].format(**refused.value.params)
    assert not uploads.exists() or not any(uploads.iterdir())


def test_upload_of_text_under_any_supported_name_is_kept(tmp_path, index, uploads):
    from assistant.web import library

    src = tmp_path / "page.txt"
    src.write_text("<html><body><p>其实是网页。</p></body></html>", encoding="utf-8")
    assert library.save_upload(src, uploads, index).read_text(encoding="utf-8").startswith("<html>")
    gbk = tmp_path / "notes.md"
    gbk.write_bytes("用GBK编码的笔记。".encode("gbk"))
    assert library.save_upload(gbk, uploads, index).name == "notes.md"


def test_upload_size_limit_and_duplicates_by_content(tmp_path, index, uploads, monkeypatch):
    from assistant.web import library

    first = tmp_path / "first.txt"
    first.write_text("同一份内容，换个名字再上传。", encoding="utf-8")
    saved = library.save_upload(first, uploads, index)
    run_ingest(index, saved)
    copy = tmp_path / "copy-with-another-name.md"
    copy.write_bytes(first.read_bytes())
    with pytest.raises(library.UploadRefused) as refused:
        library.save_upload(copy, uploads, index)
    assert refused.value.key == "duplicate" and refused.value.params == {"source": "first.txt"}
    big = tmp_path / "big.txt"
    big.write_text("大" * 100, encoding="utf-8")
    monkeypatch.setattr(library, "UPLOAD_LIMIT", 100)
    with pytest.raises(library.UploadRefused) as refused:
        library.save_upload(big, uploads, index)
    assert refused.value.key == "refused_size"
    assert sorted(p.name for p in uploads.iterdir()) == ["first.txt"]


def test_upload_from_a_fifo_is_refused_not_read(tmp_path, index, uploads, alarm):
    from assistant.web import library

    fifo = tmp_path / "pipe.txt"
    os.mkfifo(fifo)
    with pytest.raises(library.UploadRefused) as refused:
        library.save_upload(fifo, uploads, index)
    assert refused.value.key == "refused_content" and "named pipe" in str(refused.value)


# --------------------------------------------------------------------------- settings


@pytest.mark.parametrize("toml, key, problem", [
    ("k = 2.5", "k", "must be a int, got 2.5"),
    ("k = 'many'", "k", "must be a int"),
    ("k = true", "k", "must be a int"),
    ("temperature = 'hot'", "temperature", "must be a float"),
    ("temperature = nan", "temperature", "must be between 0 and 2"),
    ("n_ctx = -1", "n_ctx", "must be at least 512"),
    ("max_tokens = 4000", "max_tokens", "must leave at least 256 of n_ctx"),
    ("n_threads = -2", "n_threads", "must be 0 (all cores) or more"),
    ("dense_weight = -1.0", "dense_weight", "must be 0 or more"),
    ("lexical_weight = inf", "lexical_weight", "must be 0 or more"),
    ("redact = 'maybe'", "redact", "must be a bool"),
    ("chunk_size = 10", "chunk_size", "must be at least 50"),
    ("data_dir = '/elsewhere'", "data_dir", "unknown setting 'data_dir'"),
    ("colour = 'red'", "colour", "unknown setting 'colour'"),
    ("k = [", "config.toml", "not valid TOML"),
    ("k = 4\nk = 5", "config.toml", "not valid TOML"),
    ("[section]\nk = 4", "section", "unknown setting 'section'"),
])
def test_a_bad_settings_file_names_the_key_and_the_problem(tmp_path, toml, key, problem):
    from assistant import config

    (tmp_path / "config.toml").write_text(toml, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        config.load({}, env={"ASSISTANT_DATA_DIR": str(tmp_path)})
    msg = str(err.value)
    assert key in msg and problem in msg and "\n" not in msg, msg


def test_a_settings_file_that_is_not_text(tmp_path):
    from assistant import config

    (tmp_path / "config.toml").write_bytes(b"\xff\xfe\x00k = 1")
    with pytest.raises(ConfigError, match="config.toml: not valid TOML"):
        config.load({}, env={"ASSISTANT_DATA_DIR": str(tmp_path)})


def test_bad_values_from_flags_and_environment_name_their_origin(tmp_path, run_cli):
    from assistant import config

    with pytest.raises(ConfigError, match="ASSISTANT_K: k must be a int, got ''"):
        config.load({}, env={"ASSISTANT_DATA_DIR": str(tmp_path), "ASSISTANT_K": ""})
    code, out, err = run_cli("status", "--k", "0", "--data-dir", tmp_path)
    assert code == 2 and err == "error: invalid settings: k must be at least 1\n"
    code, out, err = run_cli("status", "--n-ctx", "600", "--data-dir", tmp_path)
    assert code == 2 and "max_tokens (512) must leave at least 256 of n_ctx (600)" in err and err.count("\n") == 1


# --------------------------------------------------------------------------- threads


def test_two_threads_ingesting_the_same_index_take_turns(index, tmp_path):
    """The web page may ingest an upload while the command line ingests a folder."""
    a, b = tmp_path / "a", tmp_path / "b"
    for folder, n in ((a, 6), (b, 6)):
        folder.mkdir()
        for i in range(n):
            (folder / f"{folder.name}{i}.txt").write_text(f"{folder.name} 文件夹的第{i}个文件。" * 20, encoding="utf-8")
    errors = []

    def work(folder):
        try:
            run_ingest(index, folder)
        except Exception as err:  # pragma: no cover - reported below
            errors.append(err)

    threads = [threading.Thread(target=work, args=(f,)) for f in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors
    assert len(consistent(index)) == 12
