"""Chunks and their vectors in Chroma. The only module that imports chromadb.

Chroma is the source of truth for what is indexed: every chunk carries its
source, offsets and the hash of the file it came from, so the lexical index and
the document list can always be rebuilt from it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence

from index.errors import IndexMismatch, StoreError
from index.types import Chunk

COLLECTION = "chunks"
_BATCH = 1000  # Chroma caps the size of one add/get; stay well under it


def _to_meta(c: Chunk) -> dict:
    return {
        "source": c.source,
        "title": c.title,
        "headings": "\x1f".join(c.headings),  # metadata values must be scalars
        "start": c.start,
        "end": c.end,
        "doc_hash": c.doc_hash,
    }


def _from_record(cid: str, text: str, meta: dict) -> Chunk:
    headings = tuple(h for h in meta.get("headings", "").split("\x1f") if h)
    return Chunk(cid, meta["source"], meta.get("title", ""), headings, text, meta["start"], meta["end"], meta.get("doc_hash", ""))


class VectorStore:
    """A persistent Chroma collection that records which embedder and chunker built it."""

    def __init__(self, path: Path, build: dict[str, str]):
        import chromadb
        from chromadb.config import Settings

        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            # Telemetry off: nothing about the user's documents or usage leaves the machine.
            self._client = chromadb.PersistentClient(path=str(path), settings=Settings(anonymized_telemetry=False))
            # embedding_function=None: vectors always come from our embedder; Chroma's
            # default one would download an ONNX model on first use.
            self._col = self._client.get_or_create_collection(
                COLLECTION, embedding_function=None, metadata={"hnsw:space": "cosine", **build}
            )
        except Exception as err:
            raise StoreError(f"cannot open the vector store at {path}: {err}") from err
        self._check_build(build)

    def _check_build(self, build: dict[str, str]) -> None:
        recorded = {k: v for k, v in (self._col.metadata or {}).items() if k in build}
        if self._col.count() and recorded != build:
            diff = ", ".join(f"{k}: index has {recorded.get(k)!r}, settings say {v!r}" for k, v in build.items() if recorded.get(k) != v)
            raise IndexMismatch(f"the index was built differently ({diff}); rebuild it with: assistant ingest --rebuild")
        if recorded != build:  # empty collection: adopt the current settings
            self._col.modify(metadata={"hnsw:space": "cosine", **build})

    def count(self) -> int:
        return self._col.count()

    def ids(self) -> set[str]:
        out: set[str] = set()
        offset = 0
        while True:
            res = self._col.get(include=[], limit=_BATCH, offset=offset)
            out.update(res["ids"])
            if len(res["ids"]) < _BATCH:
                return out
            offset += _BATCH

    def upsert(self, chunks: Sequence[Chunk], vectors: Sequence[Sequence[float]]) -> None:
        for i in range(0, len(chunks), _BATCH):
            part = chunks[i : i + _BATCH]
            self._col.upsert(
                ids=[c.id for c in part],
                embeddings=[list(v) for v in vectors[i : i + _BATCH]],
                documents=[c.text for c in part],
                metadatas=[_to_meta(c) for c in part],
            )

    def delete(self, ids: Iterable[str]) -> None:
        ids = list(ids)
        for i in range(0, len(ids), _BATCH):
            self._col.delete(ids=ids[i : i + _BATCH])

    def query(self, vector: Sequence[float], k: int) -> list[tuple[str, float]]:
        """The k nearest chunk ids with cosine similarity (1 - cosine distance)."""
        n = self.count()
        if not n:
            return []
        res = self._col.query(query_embeddings=[list(vector)], n_results=min(k, n), include=["distances"])
        return [(cid, 1.0 - d) for cid, d in zip(res["ids"][0], res["distances"][0])]

    def get(self, ids: Sequence[str]) -> dict[str, Chunk]:
        out: dict[str, Chunk] = {}
        for i in range(0, len(ids), _BATCH):
            res = self._col.get(ids=list(ids[i : i + _BATCH]), include=["documents", "metadatas"])
            out.update({cid: _from_record(cid, t, m) for cid, t, m in zip(res["ids"], res["documents"], res["metadatas"])})
        return out

    def chunks(self, where: dict | None = None) -> list[Chunk]:
        """Every chunk (or those matching a metadata filter), in pages."""
        out: list[Chunk] = []
        offset = 0
        while True:
            res = self._col.get(where=where, include=["documents", "metadatas"], limit=_BATCH, offset=offset)
            out += [_from_record(cid, t, m) for cid, t, m in zip(res["ids"], res["documents"], res["metadatas"])]
            if len(res["ids"]) < _BATCH:
                return out
            offset += _BATCH
