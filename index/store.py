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
# Chroma keeps every write, document text included, in a write-ahead log inside
# chroma.sqlite3 and only prunes it up to the last time the vector index was
# saved, which by default is every 1,000 records: a forgotten document's text
# would stay on disk. Saving every 2 records (the smallest value Chroma accepts)
# keeps the log to its last record; measured on 4,000 chunks it costs no ingest time.
_SYNC = 2
_HNSW = {"hnsw:space": "cosine", "hnsw:sync_threshold": _SYNC, "hnsw:batch_size": _SYNC}
_DELETE = 3  # Chroma's operation code for a delete in its log


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
        self._db = path / "chroma.sqlite3"
        try:
            # Telemetry off: nothing about the user's documents or usage leaves the machine.
            self._client = chromadb.PersistentClient(path=str(path), settings=Settings(anonymized_telemetry=False))
            # embedding_function=None: vectors always come from our embedder; Chroma's
            # default one would download an ONNX model on first use.
            self._col = self._client.get_or_create_collection(COLLECTION, embedding_function=None, metadata={**_HNSW, **build})
            if self._sync_threshold() > _SYNC and not self._col.count():  # made by an older version, still empty
                self._client.delete_collection(COLLECTION)
                self._col = self._client.create_collection(COLLECTION, embedding_function=None, metadata={**_HNSW, **build})
        except Exception as err:
            raise StoreError(f"cannot open the vector store at {path}: {err}") from err
        self._check_build(build)
        if self._sync_threshold() > _SYNC:
            raise IndexMismatch("the index was built by an older version that keeps deleted text in its log; rebuild it with: assistant ingest --rebuild")

    def _sync_threshold(self) -> int:
        return int((self._col.configuration_json or {}).get("hnsw", {}).get("sync_threshold", _SYNC))

    def _check_build(self, build: dict[str, str]) -> None:
        recorded = {k: v for k, v in (self._col.metadata or {}).items() if k in build}
        if self._col.count() and recorded != build:
            diff = ", ".join(f"{k}: index has {recorded.get(k)!r}, settings say {v!r}" for k, v in build.items() if recorded.get(k) != v)
            raise IndexMismatch(f"the index was built differently ({diff}); rebuild it with: assistant ingest --rebuild")
        if recorded != build:  # empty collection: adopt the current settings
            self._col.modify(metadata={**_HNSW, **build})

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

    def scrub(self, ids: Iterable[str]) -> None:
        """After deleting ``ids``, make their text unrecoverable from the store's files.

        Two deletes of ids that never exist make Chroma save its vector index and
        prune its log up to the last record; VACUUM then rewrites the database
        file so that freed pages no longer hold the old bytes.
        """
        import sqlite3

        self._col.delete(ids=["\x00scrub-1", "\x00scrub-2"])
        ids = list(ids)
        con = sqlite3.connect(self._db)
        try:
            left = 0
            for i in range(0, len(ids), 500):  # SQLite caps the number of parameters
                part = ids[i : i + 500]
                q = f"SELECT count(*) FROM embeddings_queue WHERE operation != ? AND id IN ({','.join('?' * len(part))})"
                left += con.execute(q, [_DELETE, *part]).fetchone()[0]
            if left:
                raise StoreError(f"{left} deleted chunks are still in the vector store's log; remove everything with: assistant purge")
            con.execute("VACUUM")
        except sqlite3.Error as err:
            raise StoreError(f"cannot compact the vector store {self._db}: {err}") from err
        finally:
            con.close()

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
