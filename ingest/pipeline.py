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

One ingest or forget at a time per index: they hold an exclusive lock on
``ingest.lock`` in the index folder (fcntl.flock, released by the kernel when
the process dies, even by kill -9); a second one waits, saying so.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import re
import stat
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Iterator

from index.errors import SkipFile, StoreError
from index.files import replace_text
from index.search import Index
from ingest.chunk import make_chunks
from ingest.formats import FILE_SECONDS, Options
from ingest.load import SUFFIXES, content_hash, file_kind, load_document, read_file

log = logging.getLogger(__name__)

LOCK_NAME = "ingest.lock"
WIPE_PENDING = "wipe.pending"  # chunks were deleted and their text not yet wiped from the store's files
LAST_WIPE = "last_wipe.json"  # what the last wipe did and found: numbers only, no names, no text
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


# --------------------------------------------------------------------------- discovery

_UNSUPPORTED = f"supported: {' '.join(sorted(SUFFIXES))}"


def shown(path: Path | str) -> str:
    """A path as one printable line: control characters and undecodable bytes escaped."""
    s = str(path).encode("utf-8", "backslashreplace").decode("utf-8")
    return re.sub(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]", lambda m: repr(m.group(0))[1:-1], s)


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _link_problem(err: OSError) -> str:
    if err.errno == errno.ELOOP:
        return "symbolic link loop: not followed"
    if err.errno == errno.ENOENT:
        return "broken symbolic link: its target does not exist"
    return f"cannot follow symbolic link: {err.strerror or err}"


def _walk(root: Path) -> tuple[list[tuple[Path, str]], list[tuple[str, str]]]:
    """Regular files under the folder ``root`` as (path, name relative to root); hidden ones left out.

    Symbolic links are followed only to targets inside the folder (checked on the
    resolved path, so ``../`` and absolute targets are caught); a link to a file or
    folder already found under its own name is not followed twice, and a link to
    a folder that contains it (a loop) is reported, not walked. Links are looked at
    after the real tree, so a file keeps its real name when a link also reaches it.
    """
    real_root = os.path.realpath(root)
    files: list[tuple[Path, str]] = []
    skipped: list[tuple[str, str]] = []
    links: list[tuple[Path, str]] = []
    file_names: dict[str, str] = {}  # real path -> source name
    walked: dict[str, str] = {}  # real folder -> name it was walked under

    def walk(folder: Path, rel: str, real: str) -> None:
        walked[real] = rel or "the ingested folder itself"
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as err:
            skipped.append((shown(folder), f"cannot read folder: {err.strerror or err}"))
            return
        for e in entries:
            if e.name.startswith("."):
                continue
            path, name = folder / e.name, f"{rel}/{e.name}" if rel else e.name
            if e.is_symlink():
                links.append((path, name))
                continue
            try:
                st = e.stat(follow_symlinks=False)
            except OSError as err:
                skipped.append((shown(path), f"cannot read: {err.strerror or err}"))
                continue
            if stat.S_ISDIR(st.st_mode):
                walk(path, name, os.path.join(real, e.name))
            elif stat.S_ISREG(st.st_mode):
                files.append((path, name))
                file_names[os.path.join(real, e.name)] = name
            else:
                skipped.append((shown(path), f"not a regular file ({file_kind(st.st_mode)})"))

    walk(root, "", real_root)
    while links:
        path, name = links.pop(0)
        try:
            st = os.stat(path)  # follows the whole chain; ELOOP for a cycle of links
        except OSError as err:
            skipped.append((shown(path), _link_problem(err)))
            continue
        target = os.path.realpath(path)
        if not _inside(target, real_root):
            skipped.append((shown(path), f"symbolic link to {shown(target)}, outside the folder: not followed"))
        elif stat.S_ISDIR(st.st_mode):
            here = os.path.realpath(path.parent)
            if _inside(here, target):
                skipped.append((shown(path), f"symbolic link loop: points to {walked.get(target, shown(target))}, which contains it"))
            elif target in walked:
                skipped.append((shown(path), f"symbolic link to the folder {walked[target]}, ingested under that name"))
            else:
                walk(path, name, target)
        elif stat.S_ISREG(st.st_mode):
            if target in file_names:
                skipped.append((shown(path), f"symbolic link to {file_names[target]}, ingested under that name"))
            else:
                files.append((path, name))
                file_names[target] = name
        else:
            skipped.append((shown(path), f"not a regular file ({file_kind(st.st_mode)})"))
    return files, skipped


def discover(paths: Iterable[Path]) -> tuple[list[tuple[Path, str]], list[tuple[str, str]]]:
    """Files under the given paths as (path, source name), and what was skipped with why.

    A source name is the path relative to the folder that was named (a file named
    directly is known by its file name), so the same folder gives the same names
    wherever it lives. A file or folder named directly is followed even when it is
    a symbolic link: the user chose it.
    """
    found: dict[str, Path] = {}
    skipped: list[tuple[str, str]] = []
    for root in paths:
        root = Path(root)
        try:
            st = os.stat(root)
        except OSError as err:
            if os.path.islink(root):
                skipped.append((shown(root), _link_problem(err)))
            elif err.errno == errno.ENOENT:
                skipped.append((shown(root), "no such file or folder"))
            else:
                skipped.append((shown(root), f"cannot read: {err.strerror or err}"))
            continue
        if stat.S_ISDIR(st.st_mode):
            candidates, problems = _walk(root)
            skipped += problems
        elif stat.S_ISREG(st.st_mode):
            candidates = [(root, root.name)]
        else:
            skipped.append((shown(root), f"not a regular file ({file_kind(st.st_mode)})"))
            continue
        for path, source in candidates:
            suffix = next((s for s in (path.suffix, Path(os.path.realpath(path)).suffix) if s.lower() not in SUFFIXES), None)
            if suffix is not None:  # a link must also point at a supported type: the target is what is read
                skipped.append((shown(path), f"unsupported file type {suffix or '(none)'}; {_UNSUPPORTED}"))
            elif not _valid_name(source):
                skipped.append((shown(path), "the file name is not valid UTF-8: rename the file"))
            elif source in found and found[source].resolve() != path.resolve():
                skipped.append((shown(path), f"another file is already ingested as {shown(source)}"))
            else:
                found[source] = path
    return [(p, s) for s, p in found.items()], skipped


def _valid_name(source: str) -> bool:
    """Undecodable bytes in a name become lone surrogates in Python; the store needs real UTF-8."""
    try:
        source.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# --------------------------------------------------------------------------- the record

class Manifest:
    """Where each source came from and when it was ingested; used to notice vanished files.

    An entry is ``{"path", "ingested"}`` and, once all of the source's chunks are
    in the index, ``"hash"`` (the file's content hash) and ``"chunks"`` (their number).
    """

    def __init__(self, path: Path):
        self.path = path
        self.entries: dict[str, dict] = {}
        try:
            data = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
        except (OSError, ValueError) as err:
            # Saves are atomic, so this takes a damaged disk or a hand edit. The record
            # only says where documents came from: start afresh (the next ingest of a
            # folder fills it in again) and keep the damaged file for inspection.
            log.warning("manifest %s unreadable (%s); starting a new one", path, err)
            with contextlib.suppress(OSError):
                os.replace(path, path.with_name(path.name + ".damaged"))
            data = {}
        if isinstance(data, dict):
            self.entries = {k: v for k, v in data.items() if isinstance(v, dict) and isinstance(v.get("path"), str)}

    def save(self) -> None:
        replace_text(self.path, json.dumps(self.entries, ensure_ascii=False, indent=1))


@contextlib.contextmanager
def _flock(root: Path, quiet: bool) -> Iterator[None]:
    fd = os.open(root / LOCK_NAME, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "?"
            if not quiet:
                print(f"waiting for another ingest or forget on this index (process {holder}) to finish…", file=sys.stderr, flush=True)
            fcntl.flock(fd, fcntl.LOCK_EX)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


@contextlib.contextmanager
def locked(index: Index, *, quiet: bool = False) -> Iterator[None]:
    """Hold the index's ingest lock; wait (saying so on stderr) while another process holds it."""
    with _flock(index.root, quiet):
        sync = getattr(index, "sync", None)
        if sync is not None:
            sync()  # another process may have written since this index was opened
        if (index.root / WIPE_PENDING).exists():  # a run that deleted text was stopped before it wiped it
            wipe(index, _Removals(), by="recovery")
        try:
            yield
        except BaseException:
            with contextlib.suppress(StoreError):  # the first error is the one to report
                index.store.zero_unused()
            raise
        index.store.zero_unused()  # while no one else can write


def clear_index(root: Path) -> None:
    """Delete everything in the index folder (``ingest --rebuild``), waiting for a running ingest first."""
    import shutil

    with _flock(root, quiet=False):
        for entry in root.iterdir():
            if entry.name != LOCK_NAME:
                shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()


class _Removals:
    """The chunks one run deletes: their ids and text, for the wipe at the end of the run."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.texts: list[str] = []

    def remove(self, index: Index, chunks: list) -> None:
        if not chunks:
            return
        # Marked before the first delete: a run killed from here on leaves the marker,
        # and the next ingest or forget wipes before it does anything else.
        (index.root / WIPE_PENDING).touch()
        index.remove([c.id for c in chunks])
        self.ids += [c.id for c in chunks]
        self.texts += [c.text for c in chunks]


def wipe(index: Index, removed: _Removals, *, by: str) -> dict:
    """Wipe the deleted chunks' text from the store's files, check, and record what was done."""
    started = time.perf_counter()
    done = index.wipe(removed.ids, removed.texts)
    record = {"time": _now(), "by": by, "chunks": len(removed.ids), **done, "seconds": round(time.perf_counter() - started, 3)}
    replace_text(index.root / LAST_WIPE, json.dumps(record, indent=1))
    (index.root / WIPE_PENDING).unlink(missing_ok=True)
    return record


def last_wipe(root: Path) -> dict | None:
    """The record of the last wipe in the index folder ``root``, or None."""
    try:
        return json.loads((root / LAST_WIPE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _state_by_source(index: Index) -> dict[str, tuple[set[str], int]]:
    """Per source in Chroma: the set of file hashes its chunks carry, and how many chunks it has."""
    out: dict[str, tuple[set[str], int]] = {}
    for c in index.store.chunks():
        hashes, n = out.get(c.source, (set(), 0))
        hashes.add(c.doc_hash)
        out[c.source] = (hashes, n + 1)
    return out


# --------------------------------------------------------------------------- ingest

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
        manifest = Manifest(index.root / "manifest.json")
        removals = _Removals()
        try:
            indexed = _state_by_source(index)
            with index.lexical.deferred():  # one BM25 save per run, not one per document
                _ingest_files(index, files, indexed, manifest, report, removals, size=size, overlap=overlap, progress=progress,
                              redact=redact, ocr=ocr, file_seconds=file_seconds)

            seen = {s for _, s in files}
            for source, entry in list(manifest.entries.items()):
                if source not in seen and _under(Path(entry["path"]), paths) and not Path(entry["path"]).exists():
                    chunks = index.chunks_of(source)
                    removals.remove(index, chunks)
                    report.removed.append(source)
                    report.chunks_removed += len(chunks)
                    del manifest.entries[source]
            manifest.save()
            if removals.ids:  # the old text of replaced and removed files: once per run, not per file
                wipe(index, removals, by="ingest")
        except StoreError as err:
            raise StoreError(f"{_full(index.root)}{err}; {_AFTER_WRITE_FAILED}") from err
        except OSError as err:  # the BM25 file or the manifest could not be written
            raise StoreError(f"{_full(index.root)}cannot write the index in {index.root}: {err.strerror or err}; {_AFTER_WRITE_FAILED}") from err
    report.seconds = time.perf_counter() - started
    return report


def _full(root: Path) -> str:
    """"the disk is full: " when it nearly is (the store's own message may not say so), else ""."""
    import shutil

    try:
        free = shutil.disk_usage(root).free
    except OSError:
        return ""
    return f"the disk holding {root} is full ({free // 1024} KB free): " if free < 16 * 2**20 else ""


def _ingest_files(index: Index, files, indexed, manifest: Manifest, report: Report, removals: _Removals, *,
                  size, overlap, progress, redact, ocr, file_seconds) -> None:
    """Add, replace or repair each file that is not exactly as the index has it.

    Every source this run may write and the manifest does not know at its path
    enters the manifest first, in one save, before any chunk is written: a crash
    can then never leave chunks whose file nobody knows (and so could not remove
    once the file is gone). Entries completed later are saved every few seconds;
    one lost to a crash only costs the next run a re-chunking of that file.
    """
    from tqdm import tqdm

    planned = {source: _record_path(path) for path, source in files}
    intents = [s for s, where in planned.items() if manifest.entries.get(s, {}).get("path") != where]
    for source in intents:
        manifest.entries[source] = {"path": planned[source], "ingested": _now()}
    if intents:
        manifest.save()
    saved = time.perf_counter()
    for path, source in tqdm(files, desc="ingest", unit="file", disable=not progress, leave=False):
        try:
            raw = read_file(path)
        except SkipFile as err:
            report.skipped.append((shown(path), str(err)))
            continue
        digest = content_hash(raw, redact)
        hashes, count = indexed.get(source, (set(), 0))
        entry = manifest.entries[source]
        if hashes == {digest} and entry.get("hash") == digest and entry.get("chunks") == count \
                and not (ocr and entry.get("ocr_skipped")):  # scanned pages left out by --no-ocr are read now
            report.unchanged.append(source)
            continue
        try:
            doc = load_document(path, source, data=raw, redact=redact,
                                options=Options(ocr=ocr, progress=progress, seconds=file_seconds))
            chunks = make_chunks(doc, size, overlap)
        except SkipFile as err:
            report.skipped.append((shown(path), str(err)))
            report.ocr_skipped += getattr(err, "pages", 0)  # a scan with OCR off (formats.NeedsOcr)
            continue
        except Exception as err:  # a bug must cost one file, not the run
            log.exception("ingesting %s failed", shown(path))
            report.skipped.append((shown(path), f"could not be ingested ({type(err).__name__}: {str(err).splitlines()[0] if str(err) else 'no details'})"))
            continue
        for kind, n in doc.redacted.items():
            report.redacted[kind] = report.redacted.get(kind, 0) + n
        report.ocr_pages += doc.ocr_pages
        report.ocr_skipped += doc.ocr_skipped
        old = {c.id: c for c in index.chunks_of(source)} if hashes else {}
        # New chunks go in before old ones go out, and only those Chroma lacks (a
        # repair after a crash embeds nothing twice); a crash in between leaves
        # hashes or counts the manifest does not confirm, which the next run redoes.
        fresh = [c for c in chunks if old.get(c.id) != c]
        index.add(fresh)
        new = {c.id for c in chunks}
        stale = sorted(set(old) - new)
        removals.remove(index, [old[cid] for cid in stale])
        if not hashes:
            report.added.append(source)
        elif fresh or stale:
            report.replaced.append(source)
        else:
            report.unchanged.append(source)  # already complete: only the record was behind
        report.chunks_added += len(new - set(old))
        report.chunks_removed += len(stale)
        manifest.entries[source] = {"path": planned[source], "ingested": _now(), "hash": digest, "chunks": len(chunks),
                                    **({"ocr_skipped": doc.ocr_skipped} if doc.ocr_skipped else {})}
        if time.perf_counter() - saved > 10:  # a crash loses a bounded part of the record, not n² rewrites
            manifest.save()
            saved = time.perf_counter()
    for source in intents:  # skipped before any chunk was written: nothing to record
        if "hash" not in manifest.entries[source] and source not in indexed:
            del manifest.entries[source]


def forget(index: Index, source: str) -> tuple[int, str | None]:
    """Remove one source's chunks from both indexes and wipe their text from the store's files.

    Returns how many chunks were removed and the path the source was ingested from;
    what the wipe did and checked is in the index folder's LAST_WIPE record.
    """
    with locked(index, quiet=True):
        removals = _Removals()
        removals.remove(index, index.chunks_of(source))
        manifest = Manifest(index.root / "manifest.json")
        entry = manifest.entries.pop(source, None)
        if entry is not None:
            manifest.save()
        wipe(index, removals, by="forget")
    return len(removals.ids), entry and entry.get("path")


def _record_path(path: Path) -> str:
    """Where a source lives: its folder resolved, its own name kept, so that removing a
    symbolic link that was ingested removes its document too."""
    return os.path.join(os.path.realpath(path.parent), path.name)


def _under(path: Path, roots: list[Path]) -> bool:
    for root in roots:
        root = root.resolve()
        if path == root or root in path.parents:
            return True
    return False


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
