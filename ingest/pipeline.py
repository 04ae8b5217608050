"""Folders of documents -> the index, incrementally, by content hash.

Chroma is the record of what is indexed (every chunk carries its file's hash), so
a run that was killed halfway is repaired by the next one: a source whose chunks
do not all carry the file's current hash is simply redone.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable

from index.errors import SkipFile
from index.search import Index
from ingest.chunk import make_chunks
from ingest.load import SUFFIXES, content_hash, load_document


@dataclass
class Report:
    added: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, one-line reason)
    chunks_added: int = 0
    chunks_removed: int = 0
    redacted: dict[str, int] = field(default_factory=dict)  # kind of personal data -> count replaced
    seconds: float = 0.0

    def summary(self) -> str:
        return (
            f"{len(self.added)} added, {len(self.replaced)} replaced, {len(self.removed)} removed, "
            f"{len(self.unchanged)} unchanged, {len(self.skipped)} skipped "
            f"({self.chunks_added} chunks added, {self.chunks_removed} removed) in {self.seconds:.1f} s"
        ) + (f"; redacted {', '.join(f'{n} {kind}' for kind, n in sorted(self.redacted.items()))}" if self.redacted else "")


def discover(paths: Iterable[Path]) -> tuple[list[tuple[Path, str]], list[tuple[str, str]]]:
    """Files under the given paths as (path, source name), and what was skipped with why.

    A source name is the path relative to the folder that was named (a file named
    directly is known by its file name), so the same folder gives the same names
    wherever it lives.
    """
    found: dict[str, Path] = {}
    skipped: list[tuple[str, str]] = []
    for root in paths:
        root = Path(root)
        if root.is_file():
            candidates = [(root, root.name)]
        elif root.is_dir():
            candidates = [
                (p, p.relative_to(root).as_posix())
                for p in sorted(root.rglob("*"))
                if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
            ]
        else:
            skipped.append((str(root), "no such file or folder"))
            continue
        for path, source in candidates:
            if path.suffix.lower() not in SUFFIXES:
                skipped.append((str(path), f"unsupported file type {path.suffix or '(none)'}; supported: {' '.join(sorted(SUFFIXES))}"))
            elif source in found and found[source].resolve() != path.resolve():
                skipped.append((str(path), f"another file is already ingested as {source}"))
            else:
                found[source] = path
    return [(p, s) for s, p in found.items()], skipped


class Manifest:
    """Where each source came from and when it was ingested; used to notice vanished files."""

    def __init__(self, path: Path):
        self.path = path
        self.entries: dict[str, dict] = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}

    def save(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.entries, ensure_ascii=False, indent=1), encoding="utf-8")
        os.replace(tmp, self.path)


def _hashes_by_source(index: Index) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for c in index.store.chunks():
        out.setdefault(c.source, set()).add(c.doc_hash)
    return out


def _ids_of(index: Index, source: str) -> list[str]:
    return [c.id for c in index.chunks_of(source)]


def ingest(
    index: Index,
    paths: Iterable[Path],
    *,
    size: int,
    overlap: int,
    progress: bool = True,
    redact: bool = False,
) -> Report:
    """Bring the index in line with the files under ``paths``: add, replace, remove, skip.

    With ``redact``, personal data in each new or changed file is replaced by
    placeholders before anything is stored (see ingest.redact).
    """
    started = time.perf_counter()
    paths = [Path(p) for p in paths]
    report = Report()
    files, report.skipped = discover(paths)
    manifest = Manifest(index.root / "manifest.json")
    indexed = _hashes_by_source(index)

    from tqdm import tqdm

    for path, source in tqdm(files, desc="ingest", unit="file", disable=not progress, leave=False):
        try:
            raw = path.read_bytes()
        except OSError as err:
            report.skipped.append((str(path), f"cannot read: {err.strerror or err}"))
            continue
        digest = content_hash(raw, redact)
        if indexed.get(source) == {digest}:
            report.unchanged.append(source)
            manifest.entries.setdefault(source, {"path": str(path.resolve()), "ingested": _now()})
            continue
        try:
            doc = load_document(path, source, data=raw, redact=redact)
        except SkipFile as err:
            report.skipped.append((str(path), str(err)))
            continue
        for kind, n in doc.redacted.items():
            report.redacted[kind] = report.redacted.get(kind, 0) + n
        chunks = make_chunks(doc, size, overlap)
        old = set(_ids_of(index, source)) if source in indexed else set()
        # New chunks go in before old ones go out: a crash in between leaves
        # mixed hashes, which the next run sees and redoes.
        index.add(chunks)
        new = {c.id for c in chunks}
        index.remove(sorted(old - new))
        (report.replaced if source in indexed else report.added).append(source)
        report.chunks_added += len(new - old)
        report.chunks_removed += len(old - new)
        manifest.entries[source] = {"path": str(path.resolve()), "ingested": _now()}
        manifest.save()

    seen = {s for _, s in files}
    for source, entry in list(manifest.entries.items()):
        if source not in seen and _under(Path(entry["path"]), paths) and not Path(entry["path"]).exists():
            ids = _ids_of(index, source)
            index.remove(ids)
            report.removed.append(source)
            report.chunks_removed += len(ids)
            del manifest.entries[source]
    manifest.save()
    report.seconds = time.perf_counter() - started
    return report


def forget(index: Index, source: str) -> tuple[int, str | None]:
    """Remove one source's chunks from both indexes and wipe their text from the store's files.

    Returns how many chunks were removed and the path the source was ingested from.
    """
    ids = _ids_of(index, source)
    index.remove(ids, scrub=True)
    manifest = Manifest(index.root / "manifest.json")
    entry = manifest.entries.pop(source, None)
    if entry is not None:
        manifest.save()
    return len(ids), entry and entry.get("path")


def _under(path: Path, roots: list[Path]) -> bool:
    for root in roots:
        root = root.resolve()
        if path == root or root in path.parents:
            return True
    return False


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
