"""The manifest: where each source was ingested from and, once complete, its hash and chunk count.

Chroma is the record of what is indexed; the manifest lets a later run notice a
file that vanished (and remove its chunks) and tell a complete source from one
a killed run left half done (see ingest.pipeline).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from datetime import datetime, timezone
from pathlib import Path

from index.files import replace_text

log = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.json"  # in the index folder


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


def record_path(path: Path) -> str:
    """Where a source lives: its folder resolved, its own name kept, so that removing a
    symbolic link that was ingested removes its document too."""
    return os.path.join(os.path.realpath(path.parent), path.name)


def now() -> str:
    """The time stamp of manifest entries and wipe records: UTC, to the second."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
