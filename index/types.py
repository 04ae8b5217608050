"""Small immutable records passed between the index, ingest and the assistant."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Chunk:
    """A span of one document's cleaned text.

    ``start``/``end`` are character offsets into that cleaned text, so
    ``cleaned[start:end] == text`` always holds.
    """

    id: str
    source: str  # file name relative to the ingested folder, with "/" separators
    title: str
    headings: tuple[str, ...]  # heading path from the top of the document down to this chunk
    text: str
    start: int
    end: int
    doc_hash: str = ""  # sha256 of the raw file the chunk came from
    # Where in the original file: (("page", 3), ("page_end", 4)), (("slide", 2),),
    # (("sheet", "名单"), ("row", 2), ("row_end", 9)); empty for plain text.
    location: tuple[tuple[str, int | str], ...] = ()


@dataclass(frozen=True)
class Hit:
    """A chunk returned by a search, with its fused score (higher is better)."""

    chunk: Chunk
    score: float
