"""File writing that every layer shares: owner-only appends, atomic replaces, hashes."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

_CHUNK = 8 << 20  # 8 MiB: large enough that hashing runs at disk speed


def append_line(path: Path, line: str) -> None:
    """Append one line to a log that only its owner may read, creating it (and its folder) if needed."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as fh:
        fh.write(line + "\n")


def replace_text(path: Path, text: str) -> None:
    """Write ``text`` beside ``path`` and move it into place: a reader never sees half a file."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()
