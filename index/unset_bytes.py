"""Zero the bytes that Chroma's vector index writes to disk without ever setting them.

Chroma's hnswlib allocates the index's level-0 and vector-length arrays with
malloc for the whole initial capacity (100 slots) and writes all of it when it
creates the files. The slots past the last element hold whatever that process's
heap held before: fragments of documents, questions, or the originals that
``--redact`` replaced. A slot is zeroed and filled when an element is added, so
only the part past the element count recorded in ``header.bin`` is stale.
Measured by running ingest with ``MALLOC_PERTURB_`` set: every such byte carried
the perturb pattern.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

# header.bin begins: int32 format version, then size_t offsetLevel0, max_elements,
# cur_element_count, size_data_per_element (hnswlib's persistHeader, no padding).
_HEADER = struct.Struct("<iQQQQ")
_VERSION = 1
_LENGTH_BYTES = 4  # one float per element


def zero_unused(chroma_dir: Path) -> int:
    """Zero the unset tail of every vector index under ``chroma_dir``; return how many bytes were not zero.

    Only for a folder whose writers are stopped or hold the ingest lock: a writer
    adding elements meanwhile could have its new slots zeroed.
    """
    changed = 0
    for header in Path(chroma_dir).glob("*/header.bin"):
        raw = header.read_bytes()
        if len(raw) < _HEADER.size:
            continue
        version, _, _, count, size = _HEADER.unpack_from(raw)
        if version != _VERSION:
            continue  # a format we do not know: leave it alone rather than guess
        changed += _zero_from(header.with_name("data_level0.bin"), count * size)
        changed += _zero_from(header.with_name("length.bin"), count * _LENGTH_BYTES)
    return changed


def _zero_from(path: Path, start: int) -> int:
    try:
        f = open(path, "r+b")
    except FileNotFoundError:
        return 0
    with f:
        f.seek(start)
        tail = f.read()
        dirty = len(tail) - tail.count(0)
        if dirty:
            f.seek(start)
            f.write(bytes(len(tail)))
            f.flush()
            os.fsync(f.fileno())
    return dirty
