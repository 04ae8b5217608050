"""The project as a user installs it: a real wheel, not the editable checkout.

The wheel is built from a copy of the sources with `python -m build`, installed with
`pip install --no-deps` into a new virtual environment whose only view of the
dependencies is this environment's site-packages (a .pth line: nothing is downloaded
or rebuilt), and asked a question from another working directory. It passes only if
the wheel carries the bundled corpus and gold questions and the code finds them there.
"""

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SKIP = shutil.ignore_patterns(".git", ".venv", "data", "build", "dist", "test-artifacts", "bench-data", "__pycache__", "*.egg-info", ".pytest_cache")


def _run(cmd, **kw):
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, stdin=subprocess.DEVNULL, **kw)
    assert proc.returncode == 0, f"{cmd[:3]} exited {proc.returncode}: {proc.stderr[-2000:]}"
    return proc


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    src = tmp_path_factory.mktemp("src") / "project"
    shutil.copytree(ROOT, src, ignore=SKIP)
    dist = tmp_path_factory.mktemp("dist")
    # --no-isolation: build with this environment's setuptools instead of fetching one
    _run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist), str(src)])
    (built,) = dist.glob("private_assistant-*.whl")
    return built


def test_wheel_carries_the_corpus_and_the_gold_questions(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    corpus = sorted(p.name for p in (ROOT / "corpus").iterdir() if p.suffix == ".txt")
    assert corpus and {f"assistant/corpus/{n}" for n in corpus} <= names
    assert {"assistant/eval/dev.jsonl", "assistant/eval/questions.jsonl", "assistant/eval/followups.jsonl"} <= names
    assert not any(n.startswith(("tests/", "bench/", "corpus/", "eval/")) for n in names)


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory):
    env_dir = tmp_path_factory.mktemp("venv") / "env"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    py = env_dir / "bin" / "python"
    site = Path(_run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip())
    # The dependencies, seen through a path line; this environment's own .pth files (the
    # editable install of the checkout among them) are not processed from there.
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "--no-index", "--quiet", str(wheel)])
    return env_dir


def _clean_env() -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    return env


def test_installed_package_is_the_wheel_not_the_checkout(installed, tmp_path):
    out = _run([str(installed / "bin" / "python"), "-c", "import assistant, assistant.config as c; print(assistant.__file__); print(c.bundled('corpus'))"],
               cwd=tmp_path, env=_clean_env()).stdout.split()
    assert Path(out[0]).is_relative_to(installed) and Path(out[1]).is_relative_to(installed), out
    assert not Path(out[0]).is_relative_to(ROOT)


@pytest.mark.model
def test_installed_wheel_answers_from_the_bundled_corpus(installed, gguf_path, tmp_path):
    elsewhere = tmp_path / "somewhere-else"
    elsewhere.mkdir()
    data = tmp_path / "data"
    proc = _run([str(installed / "bin" / "assistant"), "ask", "--json", "--data-dir", str(data), "--model", str(gguf_path),
                 "开源大模型的盈利通常建立在什么基础上？"], cwd=elsewhere, env=_clean_env())
    answer = json.loads(proc.stdout)
    assert "indexed the corpus: 5 added" in proc.stderr
    assert answer["refused"] is False and answer["citations"]
    assert {c["source"] for c in answer["citations"]} <= {p.name for p in (ROOT / "corpus").iterdir()}
    # the documents were read from inside the installed package
    manifest = next(data.rglob("manifest.json")).read_text()
    assert str(installed) in manifest and str(ROOT / "corpus") not in manifest
