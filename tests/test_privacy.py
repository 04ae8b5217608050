"""Privacy, proven on the real product: no egress, nothing left behind, nothing kept.

The flow test runs the `assistant` console script as a user would, in a network
namespace with no interfaces (`unshare -n`) when the kernel allows it, with HOME
and TMPDIR pointed at empty folders so that any file written outside the data
folder shows up.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import struct
import subprocess
import sys
from pathlib import Path

import pytest


ASK = "开源大模型的盈利通常建立在什么基础上？"
CHAT = "闭源模型主要通过什么方式盈利？"
PERSONAL = "客户张三的手机是13812345678，邮箱zhangsan@corp.cn，服务器地址10.1.2.3。开源大模型可以在本地部署，数据不出企业。\n"
ORIGINALS = ["13812345678", "zhangsan@corp.cn", "10.1.2.3"]


def _namespace() -> tuple[list[str], str]:
    """The prefix that runs a command with no network at all, or [] and why not."""
    if not shutil.which("unshare"):
        return [], "unshare is not installed"
    probe = subprocess.run(["unshare", "-n", "true"], capture_output=True, text=True)
    if probe.returncode:
        return [], f"the kernel refuses a network namespace here: {probe.stderr.strip()}"
    return ["unshare", "-n", "--"], ""


# Inside the namespace: bring up loopback, start the page, wait until it answers, stop it.
UI_STEP = r"""
ip link set lo up
"$0" ui --port 7861 & pid=$!
"$1" - <<'PY'
import sys, time, urllib.request
for _ in range(600):
    try:
        page = urllib.request.urlopen("http://127.0.0.1:7861/", timeout=5).read()
        sys.exit(0 if b"gradio" in page.lower() else 3)
    except OSError:
        time.sleep(1)
sys.exit(4)
PY
code=$?; kill $pid; wait $pid; exit $code
"""


def _files(root: Path, skip: Path | None = None) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if skip is None or skip not in (p, *p.parents)}


def _holding(root: Path, needles: list[str]) -> list[str]:
    return sorted(
        str(p.relative_to(root)) for p in root.rglob("*")
        if p.is_file() and any(n.encode("utf-8") in p.read_bytes() for n in needles)
    )


@pytest.fixture(scope="module")
def flow(tmp_path_factory, gguf_path, project_root):
    """ingest, ask, chat, eval and privacy, each a fresh process, with the default data folder under an empty HOME."""
    root = tmp_path_factory.mktemp("flow")
    home, tmp, out = root / "home", root / "tmp", root / "eval-out"
    for d in (home, tmp):
        d.mkdir()
    data = home / ".local" / "share" / "private-assistant"
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "TMPDIR": str(tmp), "LANG": "C.UTF-8", "ASSISTANT_MODEL": str(gguf_path)}
    prefix, why = _namespace()
    exe = str(Path(sys.executable).parent / "assistant")
    steps = {
        "ingest": (["ingest"], None),
        "ask": (["ask", "--json", ASK], None),
        "chat": (["chat"], CHAT + "\n\n"),
        "eval": (["eval", "--questions", str(project_root / "eval" / "dev.jsonl"), "--limit", "1", "--out", str(out)], None),
    }
    if prefix and shutil.which("ip"):  # the page needs loopback, which a new namespace has down
        steps["ui"] = (["sh", "-c", UI_STEP, exe, sys.executable], None)
    steps["privacy"] = (["privacy", "--json"], None)
    before = (_files(home), _files(tmp))
    results = {}
    for name, (args, stdin) in steps.items():
        cmd = prefix + (args if name == "ui" else [exe, *args])
        results[name] = subprocess.run(cmd, env=env, input=stdin, capture_output=True, text=True, timeout=1200, cwd=root)
    return {"results": results, "before": before, "after": (_files(home, skip=data), _files(tmp)),
            "home": home, "data": data, "namespace": prefix, "why": why}


@pytest.mark.model
def test_every_command_works_with_no_network_at_all(flow):
    if not flow["namespace"]:
        pytest.skip(f"not in a network namespace: {flow['why']}")
    assert "ui" in flow["results"], "iproute2's ip is needed to bring up loopback for the page"
    for name, r in flow["results"].items():
        assert r.returncode == 0, f"{name} failed without a network:\n{r.stderr[-2000:]}"


@pytest.mark.model
def test_the_guard_refused_nothing_and_the_report_says_so(flow):
    for name, r in flow["results"].items():
        assert r.returncode == 0, f"{name}: {r.stderr[-2000:]}"
        assert "egress guard refused" not in r.stderr, name
    report = json.loads(flow["results"]["privacy"].stdout)
    assert report["guard"]["on"] is True
    assert report["guard"]["refused_since_install"] == 0
    assert report["data_dir"] == str(flow["data"])
    assert {m["role"] for m in report["models"]} == {"answers", "embeddings"}
    assert all(len(m["sha256"]) == 64 for m in report["models"])
    assert report["commands"] == {"forget": "assistant forget SOURCE", "purge": "assistant purge"}


@pytest.mark.model
def test_ask_reports_what_a_cloud_model_would_have_received(flow):
    answer = json.loads(flow["results"]["ask"].stdout)
    p = answer["privacy"]
    # The prompt held the question and the retrieved passages, none of which left.
    assert p["would_upload_bytes"] > len(ASK.encode()) + p["document_bytes"] > len(ASK.encode())
    assert p["sent_bytes"] == 0 and p["refused_attempts"] == 0
    since = json.loads(flow["results"]["privacy"].stdout)["since_install"]
    assert since["questions"] == 3  # ask, chat and one eval question
    assert since["would_upload_bytes"] > p["would_upload_bytes"] and since["sent_bytes"] == 0


@pytest.mark.model
def test_nothing_is_written_outside_the_data_folder(flow):
    home_before, tmp_before = flow["before"]
    home_after, tmp_after = flow["after"]
    assert home_after - {".local", ".local/share"} == home_before  # only the data folder's parents are new
    assert tmp_after == tmp_before == set()
    assert (flow["data"] / "index" / "chroma" / "chroma.sqlite3").is_file()


@pytest.mark.model
def test_the_data_folder_is_owner_only(flow):
    loose = [str(p) for p in [flow["data"], *flow["data"].rglob("*")] if stat.S_IMODE(p.lstat().st_mode) & 0o077]
    assert loose == []


@pytest.mark.model
def test_logs_hold_no_question_answer_or_document_text(flow):
    answer = json.loads(flow["results"]["ask"].stdout)
    needles = [ASK, CHAT, answer["answer"][:20], answer["retrieved"][0]["text"][:20]]
    assert (flow["data"] / "logs" / "usage.jsonl").is_file()
    assert _holding(flow["data"] / "logs", needles) == []


# -- redact, forget, purge ----------------------------------------------------------------


@pytest.fixture(scope="module")
def own_data(tmp_path_factory):
    return tmp_path_factory.mktemp("own-data")



@pytest.mark.model
def test_redacted_ingest_never_stores_the_originals(run_cli, own_data, tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "客户 记录.txt").write_text(PERSONAL, encoding="utf-8")
    code, out, err = run_cli("ingest", "--redact", "--data-dir", str(own_data), str(docs))
    assert code == 0, err
    assert "redacted 1 email, 1 ip, 1 phone" in out
    assert _holding(own_data, ORIGINALS) == []
    assert _holding(own_data, ["[电话号码]", "本地部署"])  # the rest of the text is indexed
    # The same file without --redact is a different ingest: the file is redone, not kept as is.
    code, out, err = run_cli("ingest", "--data-dir", str(own_data), str(docs))
    assert "1 replaced" in out and _holding(own_data, ORIGINALS)
    code, out, err = run_cli("forget", "--data-dir", str(own_data), "客户 记录.txt")
    assert code == 0 and "1 chunks removed" in out
    assert _holding(own_data, ORIGINALS + ["本地部署"]) == []


@pytest.mark.model
def test_forget_deletes_an_uploaded_copy_but_never_the_users_file(own_data, tmp_path):
    from assistant import config
    from assistant.answer import Assistant

    settings = config.load({"data_dir": own_data})
    settings.uploads_dir.mkdir(parents=True, exist_ok=True)
    uploaded, own = settings.uploads_dir / "上传.txt", tmp_path / "mine.txt"
    uploaded.write_text("上传的文件：开源模型的许可证。\n", encoding="utf-8")
    own.write_text("我自己的文件：闭源模型的订阅费。\n", encoding="utf-8")
    a = Assistant(settings, progress=False)
    a.ingest([uploaded, own])
    assert a.forget("上传.txt") == 1 and not uploaded.exists()
    assert a.forget("mine.txt") == 1 and own.exists()
    assert a.index.documents() == {}


def _unset_tails(chroma: Path) -> list[bytes]:
    """Per vector index: the bytes of data_level0.bin and length.bin past the element
    count in header.bin (int32 version, then size_t offset, capacity, count, slot size)."""
    tails = []
    for header in chroma.glob("*/header.bin"):
        _, _, _, count, size = struct.unpack_from("<iQQQQ", header.read_bytes())
        tails.append(header.with_name("data_level0.bin").read_bytes()[count * size :])
        tails.append(header.with_name("length.bin").read_bytes()[count * 4 :])
    return tails


@pytest.mark.model
def test_index_files_hold_no_unset_memory(tmp_path):
    """Chroma's vector index writes 100 slots of uninitialised heap when it creates its
    files (see index.unset_bytes). MALLOC_PERTURB_ fills such memory with a known byte,
    so any of it that reaches the disk shows, whatever the heap happened to hold."""
    docs, data = tmp_path / "docs", tmp_path / "d"
    docs.mkdir()
    (docs / "a.txt").write_text(PERSONAL, encoding="utf-8")
    env = {**os.environ, "MALLOC_PERTURB_": "165"}
    exe = str(Path(sys.executable).parent / "assistant")
    for args in (["ingest", str(docs)], ["forget", "a.txt"]):
        done = subprocess.run([exe, *args, "--data-dir", str(data)], env=env, capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, done.stderr
        tails = _unset_tails(data / "index" / "chroma")
        assert sum(map(len, tails)) > 100_000  # one chunk in 100 slots: almost all of it unset
        assert all(t == bytes(len(t)) for t in tails), args


def test_forget_refuses_an_unknown_name_and_touches_nothing(run_cli, tmp_path):
    code, out, err = run_cli("forget", "--data-dir", str(tmp_path / "d"), "nope.txt")
    assert code == 1 and "not in the index: nope.txt" in err


def test_purge_asks_first_and_removes_everything(run_cli, tmp_path, monkeypatch):
    data = tmp_path / "d"
    (data / "index").mkdir(parents=True)
    (data / "index" / "chroma.sqlite3").write_bytes(b"x" * 1000)
    (data / "models").mkdir()
    (data / "models" / "m.gguf").write_bytes(b"GGUF")
    monkeypatch.setattr(sys.stdin, "isatty", lambda: False)
    code, out, err = run_cli("purge", "--data-dir", str(data))
    assert code == 2 and "--yes" in err and (data / "index" / "chroma.sqlite3").exists()
    code, out, err = run_cli("purge", "--yes", "--keep-models", "--data-dir", str(data))
    assert code == 0 and sorted(p.name for p in data.iterdir()) == ["models"]
    code, out, err = run_cli("purge", "--yes", "--data-dir", str(data))
    assert code == 0 and not data.exists()


def test_debug_log_holds_text_only_when_asked(tmp_path):
    from types import SimpleNamespace

    from assistant import config
    from assistant.privacy import usage

    answer = SimpleNamespace(question=ASK, text="答案[1]", citations=[{"source": "a.txt"}], timings={})
    for on in (False, True):
        settings = config.load({"data_dir": tmp_path / str(on), "debug_log": on})
        usage.debug_record(settings, answer)
        assert (settings.logs_dir / "debug.jsonl").exists() is on
    assert ASK in (settings.logs_dir / "debug.jsonl").read_text(encoding="utf-8")
