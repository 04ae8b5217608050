"""The imports run one way, as README's "How it works" draws the house: a module
imports only modules on lower lines of that picture (or on its own line's room)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# README's picture, top line first. A name ending in "/" is a folder and all it holds.
LINES = [
    ["assistant/cli.py"],
    ["assistant/commands.py"],
    ["assistant/serve/"],
    ["assistant/api/"],
    ["assistant/web/"],
    ["assistant/kb.py"],
    ["assistant/answer.py"],
    ["assistant/preview.py", "assistant/focus.py"],
    ["assistant/evaluation/", "assistant/privacy/"],
    ["assistant/retrieve.py", "assistant/evidence.py", "assistant/result.py"],
    ["assistant/llm/", "assistant/servers.py", "assistant/scope.py", "assistant/keys.py"],
    ["assistant/prompt.py", "assistant/cite.py", "assistant/config.py"],
    ["assistant/terminal.py", "assistant/instances.py"],
    ["ingest/"],
    ["index/"],
]


def _room(path: str) -> tuple[int, str] | None:
    for height, rooms in enumerate(LINES):
        for room in rooms:
            if path == room or (room.endswith("/") and path.startswith(room)):
                return height, room
    return None


def _module_path(name: str) -> str | None:
    base = ROOT / Path(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate.relative_to(ROOT).as_posix()
    return None


def _imports(path: Path):
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            yield from (f"{node.module}.{a.name}" for a in node.names)  # `from assistant import cite`


def test_every_module_has_a_place_in_the_picture():
    files = [p.relative_to(ROOT).as_posix() for d in ("assistant", "ingest", "index") for p in (ROOT / d).rglob("*.py")]
    assert files and [f for f in files if _room(f) is None and not f.endswith("__init__.py")] == []


def test_no_import_runs_up_the_picture():
    upward = []
    for d in ("assistant", "ingest", "index"):
        for path in (ROOT / d).rglob("*.py"):
            here = _room(path.relative_to(ROOT).as_posix())
            if here is None:
                continue
            for name in _imports(path):
                target = _module_path(name)
                there = _room(target) if target and target != path.relative_to(ROOT).as_posix() else None
                if there and there[1] != here[1] and there[0] <= here[0]:
                    upward.append(f"{path.relative_to(ROOT)} imports {name} ({there[1]} stands above or beside {here[1]})")
    assert upward == []


def test_the_picture_is_the_one_in_readme():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    picture = readme.split("## How it works", 1)[1].split("```")[1]
    rows = picture.strip("\n").splitlines()[1:]  # below the line that says assistant/
    drawn = [re.findall(r"(?<![\w.])(\w+\.py|\w+/)", row[:42]) for row in rows if row.strip()]
    named = [[r.split("/", 1)[1] if r.startswith("assistant/") else r for r in rooms] for rooms in LINES]
    assert [sorted(n) for n in drawn] == [sorted(n) for n in named]
