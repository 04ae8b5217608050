"""After a wipe, look for the removed text in the index's files, byte by byte.

A bounded sample, so that the check costs about one read of the files: up to
SAMPLES windows of WINDOW characters spread over the removed chunks, searched in
every file under the index folder as UTF-8. A window found in a file counts only
when no kept chunk holds it too (``kept`` answers that, e.g. through Chroma's own
full-text index). The tests scan for every piece of the text (tests/forensic.py).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Sequence

WINDOW = 6  # characters: 18 bytes of Chinese; long enough not to occur by chance in binary data
SAMPLES = 8


def sample(texts: Sequence[str]) -> list[str]:
    """Up to SAMPLES distinct windows, taken evenly across all the texts, skipping blank ones."""
    windows = [t[i : i + WINDOW] for t in texts for i in range(0, max(len(t) - WINDOW + 1, 0), WINDOW)]
    windows = [w for w in dict.fromkeys(windows) if len(w.strip()) == WINDOW]
    step = max(len(windows) / SAMPLES, 1)
    return [windows[int(i * step)] for i in range(min(SAMPLES, len(windows)))]


def check(root: Path, texts: Sequence[str], kept: Callable[[str], bool]) -> dict:
    """Scan every file under ``root`` for a sample of ``texts``; say what was looked at and found."""
    started = time.perf_counter()
    needles = sample(texts)
    encoded = [w.encode("utf-8") for w in needles]
    found: set[str] = set()
    files = size = 0
    for path in sorted(Path(root).rglob("*")):
        if not path.is_file() or path.is_symlink():
            continue
        try:
            data = path.read_bytes()
        except OSError:
            continue  # removed meanwhile (a temporary file)
        files += 1
        size += len(data)
        found.update(w for w, b in zip(needles, encoded) if w not in found and b in data)
    leaked = sorted(w for w in found if not kept(w))
    return {"files": files, "bytes": size, "pieces": len(needles), "found": len(leaked), "seconds": round(time.perf_counter() - started, 3)}
