"""Two knowledge bases for the tests of who sees what (the API's and the page's logins):
lake and town, each made from its own folder through the CLI, with a key for each."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXE = Path(sys.executable).parent / "assistant"
LAKE = "青岚湖观测站位于海拔3200米的高原上，建于2009年。站长林晓雯每年冬天测量三次冰层厚度，并把数据整理成年度报告。\n"
TOWN = "红杉镇图书馆建于1987年，馆长是周明远。图书馆藏书四万册，每周一闭馆，其余日子上午九点开门。\n"


def cli(data: Path, *args) -> str:
    done = subprocess.run([str(EXE), *map(str, args), "--data-dir", str(data)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return done.stdout


def make(data: Path, docs: Path) -> dict[str, str]:
    """lake (观测站.md) and town (图书馆.md) in ``data``; returns the keys: ann's reaches lake,
    bob's reaches town and is read-only."""
    for kb, name, text in (("lake", "观测站.md", LAKE), ("town", "图书馆.md", TOWN)):
        (docs / kb).mkdir()
        (docs / kb / name).write_text(text, encoding="utf-8")
        cli(data, "kb", "create", kb)
        cli(data, "ingest", "--kb", kb, docs / kb)
    return {"ann": cli(data, "api-key", "create", "--kb", "lake", "--name", "ann").strip(),
            "bob": cli(data, "api-key", "create", "--kb", "town", "--read-only", "--name", "bob").strip()}
