"""Folders of documents -> the index, incrementally, by content hash.

Chroma is the record of what is indexed (every chunk carries its file's hash);
the manifest records where each source came from and, once all of a source's
chunks are in, its hash and chunk count. A run that was killed at any point is
repaired by the next one:

- a source's manifest entry (its path) is saved before its first chunk is
  written, so a source whose file vanished while the index lacked its record
  can still be found and removed;
- a source counts as unchanged only when Chroma holds exactly the chunks the
  manifest says were completed for the file's current hash; anything else is
  redone, and redoing embeds only the chunks Chroma lacks and deletes the ones
  it should not have;
- the BM25 side is rebuilt from Chroma wherever it lags (index.search).

One ingest or forget at a time per index (ingest.lock). The steps live in
modules of their own: walking the input paths in ingest.walk, the manifest in
ingest.manifest, the wipe of deleted text in ingest.wipe, forgetting a source
in ingest.forget.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from index.errors import SkipFile, StoreError
from index.search import Index
from ingest.chunk import make_chunks
from ingest.formats import FILE_SECONDS, Options
from ingest.load import load_document
from ingest.lock import locked
from ingest.manifest import MANIFEST_NAME, Manifest, now, record_path
from ingest.raw import content_hash, read_file
from ingest.walk import discover, shown
from ingest.wipe import Removals, wipe

log = logging.getLogger(__name__)

_AFTER_WRITE_FAILED = (
    "what was indexed before this file is kept and the index still opens; "
    "free some space or make the data folder writable, then run the same command again"
)


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
    ocr_pages: int = 0  # scanned pages read by OCR
    ocr_skipped: int = 0  # scanned pages left out because OCR was off
    seconds: float = 0.0

    def summary(self) -> str:
        return (
            f"{len(self.added)} added, {len(self.replaced)} replaced, {len(self.removed)} removed, "
            f"{len(self.unchanged)} unchanged, {len(self.skipped)} skipped "
            f"({self.chunks_added} chunks added, {self.chunks_removed} removed) in {self.seconds:.1f} s"
        ) + (f"; redacted {', '.join(f'{n} {kind}' for kind, n in sorted(self.redacted.items()))}" if self.redacted else "") \
          + (f"; {self.ocr_pages} scanned page(s) read by OCR" if self.ocr_pages else "") \
          + (f"; {self.ocr_skipped} scanned page(s) without a text layer skipped (OCR off)" if self.ocr_skipped else "")


def ingest(
    index: Index,
    paths: Iterable[Path],
    *,
    size: int,
    overlap: int,
    progress: bool = True,
    redact: bool = False,
    ocr: bool = True,
    file_seconds: float = FILE_SECONDS,
) -> Report:
    """Bring the index in line with the files under ``paths``: add, replace, remove, skip.

    With ``redact``, personal data in each new or changed file is replaced by
    placeholders before anything is stored (see ingest.redact). A file that cannot
    be ingested is skipped with a one-line reason and the rest goes on; a write the
    index refuses (disk full, read-only folder) stops the run with a StoreError
    that says what to do, and what was written before it stays consistent.
    Scanned PDF pages are read by OCR unless ``ocr`` is False; reading one file may
    take at most ``file_seconds`` (checked between pages, slides and rows).
    """
    started = time.perf_counter()
    paths = [Path(p) for p in paths]
    report = Report()
    with locked(index, quiet=not progress):
        files, report.skipped = discover(paths)
        manifest = Manifest(index.root / MANIFEST_NAME)
        removals = Removals()
        try:
            indexed = _state_by_source(index)
            with index.lexical.deferred():  # one BM25 save per run, not one per document
                _ingest_files(index, files, indexed, manifest, report, removals, size=size, overlap=overlap, progress=progress,
                              redact=redact, ocr=ocr, file_seconds=file_seconds)
            _remove_vanished(index, {s for _, s in files}, paths, manifest, report, removals)
            manifest.save()
            if removals.ids:  # the old text of replaced and removed files: once per run, not per file
                wipe(index, removals, by="ingest")
        except StoreError as err:
            raise StoreError(f"{_full(index.root)}{err}; {_AFTER_WRITE_FAILED}") from err
        except OSError as err:  # the BM25 file or the manifest could not be written
            raise StoreError(f"{_full(index.root)}cannot write the index in {index.root}: {err.strerror or err}; {_AFTER_WRITE_FAILED}") from err
    report.seconds = time.perf_counter() - started
    return report


def _state_by_source(index: Index) -> dict[str, tuple[set[str], int]]:
    """Per source in Chroma: the set of file hashes its chunks carry, and how many chunks it has."""
    out: dict[str, tuple[set[str], int]] = {}
    for c in index.store.chunks():
        hashes, n = out.get(c.source, (set(), 0))
        hashes.add(c.doc_hash)
        out[c.source] = (hashes, n + 1)
    return out


def _remove_vanished(index: Index, seen: set[str], paths: list[Path], manifest: Manifest, report: Report,
                     removals: Removals) -> None:
    """Remove the sources this run did not find whose file, under one of ``paths``, is gone."""
    for source, entry in list(manifest.entries.items()):
        if source not in seen and _under(Path(entry["path"]), paths) and not Path(entry["path"]).exists():
            chunks = index.chunks_of(source)
            removals.remove(index, chunks)
            report.removed.append(source)
            report.chunks_removed += len(chunks)
            del manifest.entries[source]


def _full(root: Path) -> str:
    """"the disk is full: " when it nearly is (the store's own message may not say so), else ""."""
    import shutil

    try:
        free = shutil.disk_usage(root).free
    except OSError:
        return ""
    return f"the disk holding {root} is full ({free // 1024} KB free): " if free < 16 * 2**20 else ""


def _ingest_files(index: Index, files, indexed, manifest: Manifest, report: Report, removals: Removals, *,
                  size, overlap, progress, redact, ocr, file_seconds) -> None:
    """Add, replace or repair each file that is not exactly as the index has it.

    Every source this run may write and the manifest does not know at its path
    enters the manifest first, in one save, before any chunk is written: a crash
    can then never leave chunks whose file nobody knows (and so could not remove
    once the file is gone). Entries completed later are saved every few seconds;
    one lost to a crash only costs the next run a re-chunking of that file.
    """
    from tqdm import tqdm

    planned = {source: record_path(path) for path, source in files}
    intents = [s for s, where in planned.items() if manifest.entries.get(s, {}).get("path") != where]
    for source in intents:
        manifest.entries[source] = {"path": planned[source], "ingested": now()}
    if intents:
        manifest.save()
    saved = time.perf_counter()
    for path, source in tqdm(files, desc="ingest", unit="file", disable=not progress, leave=False):
        done = _ingest_file(index, path, source, indexed.get(source, (set(), 0)), manifest.entries[source], report, removals,
                            size=size, overlap=overlap, redact=redact, ocr=ocr, progress=progress, file_seconds=file_seconds)
        if done is None:
            continue
        manifest.entries[source] = {"path": planned[source], "ingested": now(), **done}
        if time.perf_counter() - saved > 10:  # a crash loses a bounded part of the record, not n² rewrites
            manifest.save()
            saved = time.perf_counter()
    for source in intents:  # skipped before any chunk was written: nothing to record
        if "hash" not in manifest.entries[source] and source not in indexed:
            del manifest.entries[source]


def _ingest_file(index: Index, path: Path, source: str, indexed: tuple[set[str], int], entry: dict, report: Report,
                 removals: Removals, *, size, overlap, redact, ocr, progress, file_seconds) -> dict | None:
    """One file: skipped, unchanged, or its chunks brought in line with it.

    ``indexed`` is (the hashes its chunks in Chroma carry, their number), ``entry``
    its manifest entry. Returns what its manifest entry gains once complete, or
    None when nothing was written (skipped or unchanged).
    """
    try:
        raw = read_file(path)
    except SkipFile as err:
        report.skipped.append((shown(path), str(err)))
        return None
    digest = content_hash(raw, redact)
    hashes, count = indexed
    if hashes == {digest} and entry.get("hash") == digest and entry.get("chunks") == count \
            and not (ocr and entry.get("ocr_skipped")):  # scanned pages left out by --no-ocr are read now
        report.unchanged.append(source)
        return None
    try:
        doc = load_document(path, source, data=raw, redact=redact,
                            options=Options(ocr=ocr, progress=progress, seconds=file_seconds))
        chunks = make_chunks(doc, size, overlap)
    except SkipFile as err:
        report.skipped.append((shown(path), str(err)))
        report.ocr_skipped += getattr(err, "pages", 0)  # a scan with OCR off (formats.NeedsOcr)
        return None
    except Exception as err:  # a bug must cost one file, not the run
        log.exception("ingesting %s failed", shown(path))
        report.skipped.append((shown(path), f"could not be ingested ({type(err).__name__}: {str(err).splitlines()[0] if str(err) else 'no details'})"))
        return None
    for kind, n in doc.redacted.items():
        report.redacted[kind] = report.redacted.get(kind, 0) + n
    report.ocr_pages += doc.ocr_pages
    report.ocr_skipped += doc.ocr_skipped
    _replace_chunks(index, source, chunks, bool(hashes), report, removals, progress)
    return {"hash": digest, "chunks": len(chunks), **({"ocr_skipped": doc.ocr_skipped} if doc.ocr_skipped else {})}


def _replace_chunks(index: Index, source: str, chunks: list, indexed: bool, report: Report, removals: Removals,
                    progress: bool) -> None:
    """Make ``chunks`` the source's chunks in the index; ``indexed``: Chroma holds some of it already."""
    old = {c.id: c for c in index.chunks_of(source)} if indexed else {}
    # New chunks go in before old ones go out, and only those Chroma lacks (a
    # repair after a crash embeds nothing twice); a crash in between leaves
    # hashes or counts the manifest does not confirm, which the next run redoes.
    fresh = [c for c in chunks if old.get(c.id) != c]
    index.add(fresh, progress=progress)
    new = {c.id for c in chunks}
    stale = sorted(set(old) - new)
    removals.remove(index, [old[cid] for cid in stale])
    if not indexed:
        report.added.append(source)
    elif fresh or stale:
        report.replaced.append(source)
    else:
        report.unchanged.append(source)  # already complete: only the record was behind
    report.chunks_added += len(new - set(old))
    report.chunks_removed += len(stale)


def _under(path: Path, roots: list[Path]) -> bool:
    for root in roots:
        root = root.resolve()
        if path == root or root in path.parents:
            return True
    return False
