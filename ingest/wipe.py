"""Wiping deleted chunks' text from the store's files, once per run, and the record of it.

A run that deletes chunks marks the index folder (WIPE_PENDING) before its first
delete and clears the mark once the wipe is done, so a run killed in between is
wiped by the next ingest or forget (ingest.lock) before it does anything else.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from index.files import replace_text
from index.search import Index
from ingest.manifest import now

WIPE_PENDING = "wipe.pending"  # chunks were deleted and their text not yet wiped from the store's files
LAST_WIPE = "last_wipe.json"  # what the last wipe did and found: numbers only, no names, no text


class Removals:
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


def wipe(index: Index, removed: Removals, *, by: str) -> dict:
    """Wipe the deleted chunks' text from the store's files, check, and record what was done."""
    started = time.perf_counter()
    done = index.wipe(removed.ids, removed.texts)
    record = {"time": now(), "by": by, "chunks": len(removed.ids), **done, "seconds": round(time.perf_counter() - started, 3)}
    replace_text(index.root / LAST_WIPE, json.dumps(record, indent=1))
    (index.root / WIPE_PENDING).unlink(missing_ok=True)
    return record


def last_wipe(root: Path) -> dict | None:
    """The record of the last wipe in the index folder ``root``, or None."""
    try:
        return json.loads((root / LAST_WIPE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
