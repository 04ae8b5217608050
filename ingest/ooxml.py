"""Checks on a zip-based document (DOCX, PPTX, XLSX, EPUB) before any parser opens it.

Standard library only. A parser reads whatever a member claims to hold, so the
archive is refused up front when its members would unpack to far more than a
document holds (a zip bomb): zipfile never inflates a member past the size its
header declares, so checking the declared sizes bounds what is read. An
encrypted Office file is not a zip at all but an OLE container holding an
``EncryptedPackage`` stream; it is named as such instead of "corrupt".
"""

from __future__ import annotations

import io
import zipfile

from index.errors import SkipFile

MAX_UNPACKED = 512 * 2**20  # bytes all members may unpack to
MAX_RATIO = 200  # a member over 1 MB compressed more than this is not text or XML of a real document
MAX_MEMBERS = 20_000
_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def open_zip(data: bytes, kind: str) -> zipfile.ZipFile:
    """The archive, checked; SkipFile with a one-line reason for anything else."""
    if data[:8] == _OLE:
        if "EncryptedPackage".encode("utf-16-le") in data:
            raise SkipFile(f"password-protected {kind} file: save a copy without a password to ingest it")
        raise SkipFile(f"an old binary Office file, not {kind}: save it as {kind} to ingest it")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError) as err:
        raise SkipFile(f"not a valid {kind} file (corrupt or not a zip archive: {err})") from None
    if len(members) > MAX_MEMBERS:
        raise SkipFile(f"refused as a zip bomb: {len(members):,} members in one {kind} file")
    total = sum(m.file_size for m in members)
    worst = max(members, key=lambda m: m.file_size / max(m.compress_size, 1), default=None)
    if total > MAX_UNPACKED or (worst and worst.file_size > 2**20 and worst.file_size > MAX_RATIO * max(worst.compress_size, 1)):
        raise SkipFile(f"refused as a zip bomb: {total:,} bytes unpacked from {len(data):,} bytes")
    return archive
