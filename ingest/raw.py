"""A file's raw bytes: read without being fooled by what took the file's place, and hashed.

Standard library only; below every other ingest module that touches the disk.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

from index.errors import SkipFile

MAX_BYTES = 50 * 1024 * 1024  # a "document" bigger than this is almost surely not one


def content_hash(data: bytes, redact: bool = False) -> str:
    """sha256 of the file's bytes. A redacted ingest hashes differently, so turning
    --redact on (or off) for a file already indexed redoes it instead of keeping the old text."""
    h = hashlib.sha256(b"redacted\0" if redact else b"")
    h.update(data)
    return h.hexdigest()


def read_file(path: Path, limit: int = MAX_BYTES) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes, or SkipFile with a one-line reason.

    Opened without blocking and checked with fstat on the open descriptor, so a
    named pipe, device or folder that took the file's place is refused instead of
    read (reading a FIFO would wait forever), and the size checked is that of the
    file actually read. Nothing is read from a file over the limit.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as err:
        raise SkipFile(f"cannot read file: {_os_reason(err)}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise SkipFile(f"not a regular file ({file_kind(st.st_mode)})")
        if st.st_size > limit:
            raise SkipFile(f"file too large ({st.st_size:,} bytes, over the {limit // 2**20} MB limit)")
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(limit + 1)  # the file may grow while it is read
    except OSError as err:
        raise SkipFile(f"cannot read file: {_os_reason(err)}") from None
    finally:
        os.close(fd)
    if len(data) > limit:
        raise SkipFile(f"file too large (over {limit // 2**20} MB)")
    return data


def file_kind(mode: int) -> str:
    for test, kind in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a named pipe"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device")):
        if test(mode):
            return kind
    return "a special file"


def _os_reason(err: OSError) -> str:
    return (err.strerror or str(err) or type(err).__name__).splitlines()[0]
