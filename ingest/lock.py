"""One ingest or forget at a time per index: an exclusive lock on ``ingest.lock`` in its folder.

fcntl.flock, released by the kernel when the process dies, even by kill -9; a
second run waits, saying so. Taking the lock first finishes the wipe of a run
that was stopped before it wiped (ingest.wipe); releasing it zeroes the bytes
the vector store left unset, while no one else can write.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sys
from pathlib import Path
from typing import Iterator

from index.errors import StoreError
from index.search import Index
from ingest.wipe import WIPE_PENDING, Removals, wipe

LOCK_NAME = "ingest.lock"


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
            wipe(index, Removals(), by="recovery")
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
