"""The document library as the web page manages it: listing, uploads kept on disk, re-ingesting.

Uploads are kept in ``settings.uploads_dir`` (owner-only) so that re-ingesting and
forgetting work on them like on any other ingested file.
"""

from __future__ import annotations

import os
import re
import tempfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from index.errors import Error, SkipFile
from index.search import Index
from ingest.formats import check_content
from ingest.load import SUFFIXES
from ingest.raw import content_hash, read_file
from ingest.manifest import Manifest

UPLOAD_LIMIT = 10 * 1024 * 1024  # bytes; a text document this large is almost surely a mistake
NAME_MAX = 100  # characters of the stem kept in a saved name
NAME_BYTES = 200  # and at most this many bytes of it: file systems allow 255 per name, and 100 CJK characters are 300


class UploadRefused(Error):
    """An upload that is not stored. ``key`` and ``params`` let the page say why in its own language."""

    def __init__(self, key: str, message: str, **params):
        super().__init__(message)
        self.key = key
        self.params = params


@dataclass(frozen=True)
class Row:
    title: str
    source: str
    chunks: int
    chars: int
    ingested: str  # ISO time in UTC, "" when the manifest does not know


def rows(index: Index) -> list[Row]:
    entries = Manifest(index.root / "manifest.json").entries
    return [
        Row(d.title, d.source, d.chunks, d.chars, entries.get(d.source, {}).get("ingested", ""))
        for d in index.documents().values()
    ]


def safe_name(name: str) -> str:
    """A file name that stays inside the uploads folder: no folders, no leading dot, no odd characters.

    Letters of any script are kept, so a Chinese file keeps its Chinese name.
    """
    base = unicodedata.normalize("NFC", PurePosixPath(name.replace("\\", "/")).name)
    stem, dot, suffix = base.rpartition(".")
    if not dot:
        stem, suffix = base, ""
    stem = re.sub(r"[^\w\-. ()（）]+", "_", stem).strip(" ._")[:NAME_MAX]
    while len(stem.encode("utf-8")) > NAME_BYTES:
        stem = stem[:-1]
    stem = stem.strip(" ._") or "upload"
    suffix = re.sub(r"[^\w]+", "", suffix).lower()
    return f"{stem}.{suffix}" if suffix else stem


def save_upload(src: Path, folder: Path, index: Index) -> Path:
    """Copy an uploaded file into ``folder`` under a safe name, readable by the owner only.

    Refused (UploadRefused): an unsupported type, a file over UPLOAD_LIMIT, content
    that is not text whatever its name says (binary data, an unknown encoding, an
    empty file), content already in the library (same sha256), or a name that a
    document from elsewhere holds.
    """
    name = safe_name(src.name)
    suffix = PurePosixPath(name).suffix
    if suffix not in SUFFIXES:
        raise UploadRefused("refused_type", f"{src.name}: unsupported file type {suffix or '(none)'}", suffix=suffix or "—")
    size = src.stat().st_size
    if size > UPLOAD_LIMIT:
        raise UploadRefused("refused_size", f"{src.name}: larger than {UPLOAD_LIMIT // 2**20} MB", mb=UPLOAD_LIMIT // 2**20)
    try:
        data = read_file(src, UPLOAD_LIMIT)
        check_content(suffix, data)  # the type is judged by the content, not by the name
    except SkipFile as err:
        if "too large" in str(err):  # it grew after the size check
            raise UploadRefused("refused_size", f"{src.name}: larger than {UPLOAD_LIMIT // 2**20} MB", mb=UPLOAD_LIMIT // 2**20) from None
        raise UploadRefused("refused_content", f"{src.name}: {err}", reason=str(err)) from None
    digests = {content_hash(data), content_hash(data, redact=True)}  # however the library was ingested
    same = next((d.source for d in index.documents().values() if d.doc_hash in digests), None)
    if same is not None:
        raise UploadRefused("duplicate", f"{src.name}: same content as {same}", source=same)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    target = folder / name
    if target.resolve().parent != folder.resolve():  # e.g. a symlink planted under that name
        raise UploadRefused("refused_name", f"{src.name}: not a usable file name", name=src.name)
    origin = Manifest(index.root / "manifest.json").entries.get(name, {}).get("path")
    if origin and Path(origin) != target.resolve():
        # Ingesting it would silently replace another file's document of the same name.
        raise UploadRefused("clash", f"{name}: a document of that name from {origin} is in the library", source=name)

    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".upload-")  # mkstemp creates it 0600
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, target)  # never a half-written document under the real name
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def origins(index: Index) -> list[Path]:
    """Where the library's documents came from, to be read again.

    A document named by its file name is re-read from that file; one found in a
    subfolder ("sub/a.txt") was ingested with its folder, which is re-read so it keeps its name.
    """
    paths: dict[Path, None] = {}
    for source, entry in Manifest(index.root / "manifest.json").entries.items():
        path = Path(entry["path"])
        depth = len(PurePosixPath(source).parts)
        paths[path if depth == 1 else path.parents[depth - 1]] = None
    return list(paths)


def page_image(index: Index, citation: dict, passage) -> bytes | None:
    """The cited PDF page as a JPEG with the passage marked, rendered from the file it was
    ingested from; None when that file is gone or changed since (its pages may have moved),
    or was ingested with --redact (the page would show what the index never holds)."""
    from ingest.pdf import page_image as render

    entry = Manifest(index.root / "manifest.json").entries.get(citation["source"], {})
    try:
        data = read_file(Path(entry["path"]))
    except (KeyError, SkipFile):
        return None
    if passage.chunk.doc_hash != content_hash(data):  # changed since, or ingested --redact: no originals shown
        return None
    return render(data, citation["page"], passage.text)
