"""A byte-level search of a folder for pieces of a text: what forget must leave nowhere.

A piece is every 3-character window of the text, every 4-byte window of its UTF-8
and each 3-character window in UTF-16-LE and UTF-16-BE, less those that the text
kept in the index also has (a piece both documents share proves nothing). Every
byte of every file is read: SQLite pages, free pages, WAL and journal files, the
vector index, JSON, logs, caches.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path


def windows(text: str) -> set[str]:
    return {text[i : i + 3] for i in range(len(text) - 2)}


def _byte_windows(data: bytes, n: int = 4) -> set[bytes]:
    return {data[i : i + n] for i in range(len(data) - n + 1)}


def _hex(piece: str | bytes) -> bool:
    """Made of hexadecimal digits only: every hash, id, time and size in the index files is
    written with these, so such a window proves nothing; the digits of a number are still
    looked for in the windows that join them to their neighbours ("#771", "15-0")."""
    return bool(re.fullmatch(rb"[0-9a-fA-F]+", piece if isinstance(piece, bytes) else piece.encode("utf-8")))


def pieces(removed: list[str], kept: list[str]) -> dict[bytes, str]:
    """The byte strings to look for (each with a label saying what it is) for texts ``removed``,
    leaving out what ``kept`` also holds. Each text is windowed on its own: a window
    across two chunks' boundary is stored nowhere."""
    kept_chars = set().union(*map(windows, kept)) if kept else set()
    kept_utf8 = set().union(*(_byte_windows(t.encode("utf-8")) for t in kept)) if kept else set()
    out: dict[bytes, str] = {}
    for text in removed:
        for w in windows(text) - kept_chars:
            if w.strip() and not _hex(w):
                out[w.encode("utf-8")] = f"trigram {w!r} (UTF-8)"
                out[w.encode("utf-16-le")] = f"trigram {w!r} (UTF-16-LE)"
                out[w.encode("utf-16-be")] = f"trigram {w!r} (UTF-16-BE)"
        for w in _byte_windows(text.encode("utf-8")) - kept_utf8:
            if not _hex(w):
                out.setdefault(w, f"4 bytes {w!r} of the UTF-8")
    return out


@dataclass(frozen=True)
class Hit:
    file: str  # relative to the scanned folder
    offset: int
    piece: bytes
    label: str

    def __str__(self) -> str:
        return f"{self.file} @ {self.offset}: {self.label}"


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under ``root``, relative name -> its bytes."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(Path(root).rglob("*")) if p.is_file() and not p.is_symlink()}


def scan(root: Path, wanted: dict[bytes, str], baseline: dict[str, bytes] | None = None) -> list[Hit]:
    """Every piece of ``wanted`` found in a file under ``root``.

    ``baseline`` (a snapshot taken before the removed text was ever ingested) says
    what a file held regardless: a piece that file already held then (a word of the
    tokenizer's dictionary, SQL in Chroma's schema, a chance match in binary data)
    does not count for that file.
    """
    hits = []
    for name, data in snapshot(root).items():
        before = (baseline or {}).get(name, b"")
        if data == before:
            continue  # unchanged: whatever it holds, it held before
        for piece, label in wanted.items():
            at = data.find(piece)
            if at >= 0 and piece not in before:
                hits.append(Hit(name, at, piece, label))
    return sorted(hits, key=lambda h: (h.file, h.offset))


def summary(hits: list[Hit], most: int = 12) -> str:
    files: dict[str, int] = {}
    for h in hits:
        files[h.file] = files.get(h.file, 0) + 1
    head = ", ".join(f"{f}: {n}" for f, n in sorted(files.items()))
    return f"{len(hits)} pieces found ({head})\n" + "\n".join(map(str, hits[:most]))
