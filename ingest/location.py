"""Where a span of cleaned text came from in the original file: page, slide, sheet and rows.

A document read from a paged or tabular format carries ``marks``: (offset into
the cleaned text, location in force from there on). A chunk's location is the
mark in force at its start, widened to the last mark before its end
(``page`` 3 to ``page_end`` 4). Plain text has no marks and its chunks no location.
"""

from __future__ import annotations

from bisect import bisect_right
from typing import Sequence

Location = tuple[tuple[str, int | str], ...]
Marks = tuple[tuple[int, Location], ...]

RANGED = ("page", "slide", "row")  # numbered keys that widen to KEY_end when a span crosses them


def span_location(marks: Marks, start: int, end: int) -> Location:
    if not marks:
        return ()
    offsets = [m[0] for m in marks]
    first = marks[max(0, bisect_right(offsets, start) - 1)][1]
    last = marks[max(0, bisect_right(offsets, max(start, end - 1)) - 1)][1]
    out = dict(first)
    for key, value in last:
        if key in RANGED and key in out and value != out[key]:
            out[f"{key}_end"] = value
    return tuple(out.items())


def merge(locations: Sequence[Location]) -> Location:
    """The location of joined spans, given in document order: the first's start, the last's end."""
    present = [dict(loc) for loc in locations if loc]
    if not present:
        return ()
    out = dict(present[0])
    last = present[-1]
    for key in RANGED:
        if key in out:
            end = last.get(f"{key}_end", last.get(key))
            if end is not None and end != out[key] and last.get("sheet") == out.get("sheet"):
                out[f"{key}_end"] = end
    return tuple(out.items())


def label(location: Location) -> str:
    """"p. 3", "pp. 3-4", "slide 2", "sheet 名单, rows 2-9": what the CLI and the page print."""
    loc = dict(location)
    parts = []
    if "sheet" in loc:
        parts.append(f"sheet {loc['sheet']}")
    for key, one, many in (("page", "p.", "pp."), ("slide", "slide", "slides"), ("row", "row", "rows")):
        if key in loc:
            end = loc.get(f"{key}_end")
            parts.append(f"{many} {loc[key]}-{end}" if end not in (None, loc[key]) else f"{one} {loc[key]}")
    return ", ".join(parts)
