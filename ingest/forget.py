"""Forgetting one source: its chunks out of both indexes, its text wiped, its manifest entry gone."""

from __future__ import annotations

from index.search import Index
from ingest.lock import locked
from ingest.manifest import MANIFEST_NAME, Manifest
from ingest.wipe import Removals, wipe


def forget(index: Index, source: str) -> tuple[int, str | None]:
    """Remove one source's chunks from both indexes and wipe their text from the store's files.

    Returns how many chunks were removed and the path the source was ingested from;
    what the wipe did and checked is in the index folder's LAST_WIPE record.
    """
    with locked(index, quiet=True):
        removals = Removals()
        removals.remove(index, index.chunks_of(source))
        manifest = Manifest(index.root / MANIFEST_NAME)
        entry = manifest.entries.pop(source, None)
        if entry is not None:
            manifest.save()
        wipe(index, removals, by="forget")
    return len(removals.ids), entry and entry.get("path")
