"""Overwrite the vectors of deleted chunks in Chroma's vector index files.

Chroma's hnswlib only marks a deleted element (a flag in its level-0 link list)
and keeps its vector, and so the numbers the embedder made from the forgotten
text, until a new element reuses the slot. Each such vector is replaced by the
vector of one of its live neighbours in the graph (zeros when it has none): the
slot then says nothing about the forgotten text, and a search walking through
the deleted node still finds itself near where it was.

Chroma keeps its own copy in memory and writes it out whole when it next saves
the index, so this runs after every write under the ingest lock (index.store).
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

# header.bin (Chroma's hnswlib): int32 version, size_t offsetLevel0, max_elements,
# cur_element_count, size_data_per_element, label_offset, offsetData, int32 maxlevel,
# uint32 enterpoint, size_t maxM, maxM0, M, double mult, size_t ef_construction.
_HEADER = struct.Struct("<iQQQQQQiIQQQdQ")
_VERSION = 1
_DELETED = 0x01  # bit of the third byte of an element's level-0 link list header


def replace_deleted(chroma_dir: Path) -> int:
    """Overwrite the vector of every deleted element under ``chroma_dir``; return how many were overwritten."""
    changed = 0
    for header in Path(chroma_dir).glob("*/header.bin"):
        raw = header.read_bytes()
        if len(raw) < _HEADER.size:
            continue
        version, offset0, _, count, size, label_at, data_at, *_ = _HEADER.unpack_from(raw)
        if version != _VERSION or offset0 != 0 or not data_at < label_at <= size:
            continue  # a layout we do not know: leave it alone rather than guess
        changed += _replace(header.with_name("data_level0.bin"), count, size, data_at, label_at)
    return changed


def _replace(path: Path, count: int, size: int, data_at: int, label_at: int) -> int:
    import mmap

    import numpy as np

    try:
        f = open(path, "r+b")
    except FileNotFoundError:
        return 0
    with f:
        count = min(count, os.fstat(f.fileno()).st_size // size)
        if not count:
            return 0
        with mmap.mmap(f.fileno(), count * size) as data:
            # One flag byte per slot, read as a strided view: no pass over the vectors themselves.
            flags = np.frombuffer(data, dtype=np.uint8, count=count * size)[2::size]
            deleted = np.flatnonzero(flags & _DELETED)
            changed = 0
            for i in map(int, deleted):
                slot = i * size
                links = struct.unpack_from("<H", data, slot)[0]
                neighbours = struct.unpack_from(f"<{links}I", data, slot + 4) if 4 + 4 * links <= data_at else ()
                live = next((n for n in neighbours if n < count and not flags[n] & _DELETED), None)
                vector = data[live * size + data_at : live * size + label_at] if live is not None else bytes(label_at - data_at)
                if data[slot + data_at : slot + label_at] != vector:
                    data[slot + data_at : slot + label_at] = vector
                    changed += 1
            del flags  # the view must go before the map can close
            if changed:
                data.flush()
    return changed
