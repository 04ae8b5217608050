"""Chunks and their vectors in Chroma. With index.chroma_client, the only module that imports chromadb.

Chroma is the source of truth for what is indexed: every chunk carries its
source, offsets and the hash of the file it came from, so the lexical index and
the document list can always be rebuilt from it.

Two ways to reach it: the embedded store (a folder of this machine, the default)
or a Chroma server started with Chroma's own ``chroma run`` (``url``), which
several assistants may share. Every write also puts a fresh random value under
``writes`` in the collection's metadata, so a client can tell cheaply (one
small request) whether anyone changed the collection since it last looked.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Callable, Iterable, Sequence

from index.chroma_client import _first_line, _http_client, _server_error, _translated
from index.errors import Error, IndexMismatch, StoreError
from index.types import Chunk

COLLECTION = "chunks"  # the default knowledge base's; a Chroma server holds one collection per knowledge base
_BATCH = 1000  # Chroma caps the size of one add/get; stay well under it
# Chroma keeps every write, document text included, in a write-ahead log inside
# chroma.sqlite3 and only prunes it up to the last time the vector index was
# saved, which by default is every 1,000 records: a forgotten document's text
# would stay on disk. Saving every 2 records (the smallest value Chroma accepts)
# keeps the log to its last record; measured on 4,000 chunks it costs no ingest time.
_SYNC = 2
_HNSW = {"hnsw:space": "cosine", "hnsw:sync_threshold": _SYNC, "hnsw:batch_size": _SYNC}
WRITES = "writes"  # collection metadata key: a new random value after every write, by any client
# In the embedded store's folder while its vector files are being rebuilt (see VectorStore._set_aside_vectors).
REBUILDING = "vectors-rebuilding"


def _to_meta(c: Chunk) -> dict:
    meta = {
        "source": c.source,
        "title": c.title,
        "headings": "\x1f".join(c.headings),  # metadata values must be scalars
        "start": c.start,
        "end": c.end,
        "doc_hash": c.doc_hash,
    }
    if c.location:  # optional: chunks of plain text (and indexes made before it existed) have none
        meta["location"] = json.dumps(dict(c.location), ensure_ascii=False)
    return meta


def _from_record(cid: str, text: str, meta: dict) -> Chunk:
    headings = tuple(h for h in meta.get("headings", "").split("\x1f") if h)
    location = tuple(json.loads(meta["location"]).items()) if meta.get("location") else ()
    return Chunk(cid, meta["source"], meta.get("title", ""), headings, text, meta["start"], meta["end"], meta.get("doc_hash", ""), location)


class VectorStore:
    """A Chroma collection that records which embedder and chunker built it.

    ``url`` None: the embedded store in the folder ``path``. ``url`` given: a Chroma
    server; ``path`` is then the server's own data folder when this machine started
    it (``assistant serve``), so that ``scrub`` can compact its files, else None.
    """

    def __init__(self, path: Path | None, build: dict[str, str], *, url: str | None = None, collection: str = COLLECTION,
                 same_space: Callable[[str], bool] | None = None):
        # same_space(recorded embedder id): whether that embedder's vectors are this one's in
        # another precision; the embedded store's vectors are then made anew from its chunks.
        self._same_space = same_space
        self.url = url.rstrip("/") if url else None
        self.path = Path(path) if path is not None else None
        self._db = self.path / "chroma.sqlite3" if self.path is not None else None
        self._build = dict(build)
        self.collection = collection
        try:
            if self.url is None:
                self.path.mkdir(parents=True, exist_ok=True, mode=0o700)
                self._client = self._embedded_client()
            else:
                self._client = _http_client(self.url)
            self._open()
        except Error:
            raise
        except Exception as err:
            raise StoreError(self._explain(err, "opening the collection")) from err

    def _embedded_client(self):
        import chromadb
        from chromadb.config import Settings

        # Telemetry off: nothing about the user's documents or usage leaves the machine.
        return chromadb.PersistentClient(path=str(self.path), settings=Settings(anonymized_telemetry=False))

    def close(self) -> None:
        """Let go of the store. Chroma shares one client per folder within a process and drops it
        only when every user closed it: a folder deleted and made anew (kb delete, then create)
        would otherwise be read through the old client ("no such table")."""
        self._client.close()

    def _explain(self, err: BaseException, doing: str) -> str:
        if self.url:
            return _server_error(self.url, err, doing)
        return f"the vector store at {self.path} failed while {doing}: {_first_line(err)}"

    def _open(self) -> None:
        # embedding_function=None: vectors always come from our embedder; Chroma's
        # default one would download an ONNX model on first use.
        metadata = {**_HNSW, **self._build}
        self._col = self._client.get_or_create_collection(self.collection, embedding_function=None, metadata=metadata)
        if self._vectors_unreadable():
            self._set_aside_vectors("a write of its vector files was cut short")
        if self._sync_threshold() > _SYNC and not self._col.count():  # made by an older version, still empty
            self._client.delete_collection(self.collection)
            self._col = self._client.create_collection(self.collection, embedding_function=None, metadata=metadata)
        self._check_build(self._build)
        if self._sync_threshold() > _SYNC:
            raise IndexMismatch("the index was built by an older version that keeps deleted text in its log; rebuild it with: assistant ingest --rebuild")

    def _vectors_unreadable(self) -> bool:
        """Whether Chroma cannot read the collection's vector files. It saves them every two
        records (``_SYNC``) and not atomically: a kill or power cut in the middle leaves a
        truncated file, and then every call fails, counting included."""
        try:
            self._col.count()
            return False
        except Exception as err:
            if self.url is None and "hnsw segment reader" in str(err):
                return True
            raise

    def _set_aside_vectors(self, reason: str) -> None:
        """Delete the unreadable vector files. The chunks' text and metadata are in Chroma's
        SQLite file, which is transactional, so they are intact; until ``vectors_rebuilt``
        is called, ``needs_vectors`` says that their vectors must be upserted anew, also
        after a crash during the rebuild (the marker file stays)."""
        import shutil
        import sqlite3

        (self.path / REBUILDING).touch(mode=0o600)
        (self.path / REBUILDING).write_text(reason)
        with sqlite3.connect(f"file:{self._db}?mode=ro", uri=True) as db:
            segments = [row[0] for row in db.execute(
                "SELECT s.id FROM segments s JOIN collections c ON s.collection = c.id WHERE c.name = ? AND s.scope = 'VECTOR'",
                (self.collection,))]
        self._client.close()
        for segment in segments:
            shutil.rmtree(self.path / segment, ignore_errors=True)
        self._client = self._embedded_client()
        self._col = self._client.get_collection(self.collection, embedding_function=None)

    @property
    def needs_vectors(self) -> str:
        """Why every chunk's vector must be upserted anew, or "" when none must."""
        if self.path is None or self.url is not None or not (self.path / REBUILDING).exists():
            return ""
        return (self.path / REBUILDING).read_text() or "its vector files were set aside"

    def vectors_rebuilt(self) -> None:
        (self.path / REBUILDING).unlink(missing_ok=True)

    def _sync_threshold(self) -> int:
        return int((self._col.configuration_json or {}).get("hnsw", {}).get("sync_threshold", _SYNC))

    def _check_build(self, build: dict[str, str]) -> None:
        recorded = {k: v for k, v in (self._col.metadata or {}).items() if k in build}
        if self._col.count() and recorded != build:
            others = {k for k in build if recorded.get(k) != build[k]}
            if others == {"embedder"} and self.url is None and self._same_space and self._same_space(recorded.get("embedder") or ""):
                self._set_aside_vectors(f"it was embedded by {recorded.get('embedder')}, now {build['embedder']}")
                self._bump()
                return
            diff = ", ".join(f"{k}: index has {recorded.get(k)!r}, settings say {v!r}" for k, v in build.items() if recorded.get(k) != v)
            raise IndexMismatch(f"the index was built differently ({diff}); rebuild it with: assistant ingest --rebuild")
        if recorded != build:  # empty collection: adopt the current settings
            self._bump()

    def _bump(self) -> None:
        """Mark the collection as written. The hnsw settings live in its configuration, not
        here (and Chroma refuses to see hnsw:space again), so only ours are written."""
        self._col.modify(metadata={**self._build, WRITES: uuid.uuid4().hex})

    @_translated("checking for changes")
    def write_token(self) -> str:
        """The collection's current write marker: it changes whenever any client writes.

        Also notices a collection that another client deleted and made anew
        (``ingest --rebuild``): this store then follows the new one.
        """
        from chromadb.errors import NotFoundError

        try:
            col = self._client.get_collection(self.collection, embedding_function=None)
        except NotFoundError:  # deleted by another client's rebuild, not yet made anew
            col = None
        if col is None or col.id != self._col.id:
            self._open()
            col = self._col
        return str((col.metadata or {}).get(WRITES, ""))

    @property
    def files_note(self) -> str | None:
        """None when ``scrub`` can wipe the store's files; else what the user must know."""
        if self._db is not None:
            return None
        return (f"the Chroma server at {self.url} keeps its own files: the text is deleted there, but pieces of it "
                "stay in the server's SQLite file until whoever runs that server wipes it (while it runs): "
                f"python3 -I {Path(__file__).with_name('sqlite_wipe.py')} PATH/chroma.sqlite3 < /dev/null, "
                "PATH being its `chroma run --path`")

    @_translated("counting chunks")
    def count(self) -> int:
        return self._col.count()

    @_translated("listing chunks")
    def ids(self) -> set[str]:
        out: set[str] = set()
        offset = 0
        while True:
            res = self._col.get(include=[], limit=_BATCH, offset=offset)
            out.update(res["ids"])
            if len(res["ids"]) < _BATCH:
                return out
            offset += _BATCH

    @_translated("writing chunks")
    def upsert(self, chunks: Sequence[Chunk], vectors: Sequence[Sequence[float]], *, progress: bool = False) -> None:
        from tqdm import tqdm

        # Chroma writes ~1,000 chunks/s (text search index included): a large file shows it.
        with tqdm(total=len(chunks), desc="write", unit="chunk", disable=not progress, leave=False, delay=1.0) as bar:
            for i in range(0, len(chunks), _BATCH):
                part = chunks[i : i + _BATCH]
                self._col.upsert(
                    ids=[c.id for c in part],
                    embeddings=[list(v) for v in vectors[i : i + _BATCH]],
                    documents=[c.text for c in part],
                    metadatas=[_to_meta(c) for c in part],
                )
                bar.update(len(part))
        self._bump()

    @_translated("deleting chunks")
    def delete(self, ids: Iterable[str]) -> None:
        ids = list(ids)
        for i in range(0, len(ids), _BATCH):
            self._col.delete(ids=ids[i : i + _BATCH])
        self._bump()

    @_translated("wiping deleted text")
    def scrub(self, ids: Iterable[str]) -> dict:
        """After deleting ``ids``, make their text unrecoverable from the store's files.

        Two deletes of ids that never exist make Chroma save its vector index and
        prune its log up to the last record; index.sqlite_wipe then, in a process of
        its own, merges the full-text index, rewrites the database file and empties
        its write-ahead log. A server's files can be wiped only when this machine
        knows where they are (``path``): otherwise the deletes are all that happens.
        Returns what was done and checked (``files`` False: the server's files were not reached).
        """
        import json
        import subprocess
        import sys

        self._col.delete(ids=["\x00scrub-1", "\x00scrub-2"])
        if self._db is None:
            return {"files": False}
        script = Path(__file__).with_name("sqlite_wipe.py")
        try:  # -I: the standard library only, whatever PYTHONPATH says
            done = subprocess.run([sys.executable, "-I", str(script), str(self._db)], input=json.dumps(sorted(ids)),
                                  capture_output=True, text=True)
        except OSError as err:
            raise StoreError(f"cannot wipe the vector store {self._db}: {err.strerror or err}") from err
        try:
            report = json.loads(done.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            last = done.stderr.strip().splitlines()[-1:]  # e.g. a Python traceback's last line
            report = {"error": last[0] if last else f"the wipe stopped with exit status {done.returncode}"}
        if not report.get("ok"):
            hint = "; remove everything with: assistant purge" if report.get("log_records") else ""
            raise StoreError(f"cannot wipe the vector store {self._db}: {report.get('error', 'unknown failure')}{hint}")
        return {"files": True, **report}

    def zero_unused(self) -> None:
        """``clear_vector_files`` on the embedded store, only under the ingest lock: a Chroma
        server's files are written by a live process; ``assistant serve`` clears them when it stops it."""
        if self.url is None:
            try:
                clear_vector_files(self.path)
            except OSError as err:
                raise StoreError(f"cannot clear unused bytes in the vector store {self.path}: {err.strerror or err}") from err

    @_translated("searching the documents' text")
    def contains(self, text: str) -> bool:
        """Whether any chunk's text holds ``text`` (Chroma's own full-text index answers)."""
        return bool(self._col.get(where_document={"$contains": text}, limit=1, include=[])["ids"])

    @_translated("searching")
    def query(self, vector: Sequence[float], k: int, *, sources: Iterable[str] | None = None) -> list[tuple[str, float]]:
        """The k nearest chunk ids with cosine similarity (1 - cosine distance), of the
        documents ``sources`` only when given."""
        n = self.count()
        if not n:
            return []
        where = {"source": {"$in": sorted(sources)}} if sources is not None else None
        res = self._col.query(query_embeddings=[list(vector)], n_results=min(k, n), where=where, include=["distances"])
        return [(cid, 1.0 - d) for cid, d in zip(res["ids"][0], res["distances"][0])]

    @_translated("reading chunks")
    def get(self, ids: Sequence[str]) -> dict[str, Chunk]:
        out: dict[str, Chunk] = {}
        for i in range(0, len(ids), _BATCH):
            res = self._col.get(ids=list(ids[i : i + _BATCH]), include=["documents", "metadatas"])
            out.update({cid: _from_record(cid, t, m) for cid, t, m in zip(res["ids"], res["documents"], res["metadatas"])})
        return out

    @_translated("listing chunks")
    def ids_of(self, sources: Iterable[str]) -> set[str]:
        """The ids of the chunks of the documents ``sources``."""
        out: set[str] = set()
        where = {"source": {"$in": sorted(sources)}}
        offset = 0
        while True:
            res = self._col.get(where=where, include=[], limit=_BATCH, offset=offset)
            out.update(res["ids"])
            if len(res["ids"]) < _BATCH:
                return out
            offset += _BATCH

    @_translated("reading chunks")
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


def clear_vector_files(chroma_dir: Path) -> None:
    """Zero the bytes Chroma wrote to its vector index files without setting them (index.unset_bytes)
    and overwrite the vectors of deleted chunks (index.deleted_vectors). Only while nothing writes them."""
    from index.deleted_vectors import replace_deleted
    from index.unset_bytes import zero_unused

    zero_unused(chroma_dir)
    replace_deleted(chroma_dir)


def drop(url: str, collection: str = COLLECTION) -> None:
    """Delete the collection on the Chroma server at ``url`` (``ingest --rebuild``, ``kb delete``);
    other clients of that server notice at their next search and follow the new collection."""
    from chromadb.errors import NotFoundError

    try:
        _http_client(url).delete_collection(collection)
    except NotFoundError:
        pass
    except Exception as err:
        raise StoreError(_server_error(url.rstrip("/"), err, "deleting the collection")) from err


def collections(url: str) -> list[str]:
    """The names of the collections on the Chroma server at ``url``."""
    try:
        return [c if isinstance(c, str) else c.name for c in _http_client(url).list_collections()]
    except Exception as err:
        raise StoreError(_server_error(url.rstrip("/"), err, "listing the collections")) from err
