"""The package's public face: three names, loaded on first use, and README's example runs."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest


def test_the_three_public_names_are_the_real_classes():
    import assistant
    from assistant.answer import Assistant
    from assistant.config import Settings
    from assistant.result import Answer

    assert (assistant.Assistant, assistant.Settings, assistant.Answer) == (Assistant, Settings, Answer)
    assert sorted(assistant.__all__) == ["Answer", "Assistant", "Settings"]
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        assistant.Nope  # noqa: B018


def test_importing_the_cli_does_not_load_the_pipeline():
    # The CLI installs its egress guard before anything heavy is imported: the package
    # must not import the pipeline (and with it the index and the models) on its own.
    code = "import sys, assistant.cli; print('assistant.answer' in sys.modules, 'chromadb' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def _readme_example(project_root: Path) -> str:
    text = (project_root / "README.md").read_text(encoding="utf-8")
    section = text.split("### From Python", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


@pytest.mark.model
def test_the_readme_library_example_answers_from_the_ingested_folder(project_root, tmp_path, gguf_path, monkeypatch, capsys):
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "lake.txt").write_text("青松湖观测站\n青松湖观测站建于2011年，位于北纬42度。观测站记录湖面结冰的日期。", encoding="utf-8")
    code = _readme_example(project_root)
    code = code.replace('Path("~/.local/share/private-assistant").expanduser()', "DATA").replace('Path("~/notes").expanduser()', "NOTES")
    code = code.replace("开源大模型有哪些优势？", "青松湖观测站建于哪一年？")
    assert "DATA" in code and "NOTES" in code and "青松湖" in code  # the README still reads as this test expects
    monkeypatch.setenv("ASSISTANT_MODEL", str(gguf_path))  # the session's model, not a second assembly
    scope = {"DATA": tmp_path / "data", "NOTES": notes}
    exec(compile(code, "README.md", "exec"), scope)
    answer = scope["answer"]
    assert not answer.refused and "2011" in answer.text
    assert [c["source"] for c in answer.citations] == ["lake.txt"]
    assert "2011" in capsys.readouterr().out  # streamed by on_token, then printed
