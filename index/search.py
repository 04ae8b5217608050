"""The index as one object: Chroma vectors plus the BM25 side, kept in step, searched together."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from index import residue
from index.embed import Embedder, same_space
from index.lexical import LexicalIndex, tokenize
from index.store import COLLECTION, VectorStore
from index.types import Chunk, Hit

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Fusion:
    """Weighted reciprocal-rank fusion: score = sum of weight / (rrf_k + rank).

    Ranks, not raw scores, are fused because BM25 scores and cosine similarities
    live on unrelated scales. The weights were chosen on the dev questions
    (see README, "Retrieval"): lexical matching carries Chinese text.
    """

    dense: float = 0.2
    lexical: float = 1.0
    rrf_k: int = 5
    pool: int = 40  # candidates taken from each side before fusing


def indexed_text(chunk: Chunk) -> str:
    """What is embedded and tokenized for a chunk: its title and heading path give it context."""
    context = " / ".join(dict.fromkeys((chunk.title, *chunk.headings)))
    return f"{context}\n{chunk.text}" if context else chunk.text


@dataclass(frozen=True)
class DocInfo:
    source: str
    title: str
    doc_hash: str
    chunks: int
    chars: int


class Index:
    """Open (or create) the index under ``root``; refuse one built by another embedder or chunker.

    With ``chroma_url`` the vectors live on a Chroma server (``chroma_path``: that
    server's data folder when this machine started it, for ``forget`` to compact);
    the BM25 side always lives under ``root``, one per client, and follows the
    server's collection: before each search one small request reads the
    collection's write marker, and only when another client wrote since does it
    compare chunk ids and fetch what changed (see README, "Serving a team").
    """

    def __init__(self, root: Path, embedder: Embedder, *, chunker: str, chroma_url: str | None = None, chroma_path: Path | None = None,
                 collection: str = COLLECTION):
        root = Path(root)
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.root = root
        self.embedder = embedder
        build = {"embedder": embedder.id, "chunker": chunker}
        if chroma_url:
            self.store = VectorStore(chroma_path, build, url=chroma_url, collection=collection)
        else:
            self.store = VectorStore(root / "chroma", build, same_space=lambda recorded: same_space(recorded, embedder.id))
        self.lexical = LexicalIndex(root / "lexical.json", cache_dir=root / "cache")
        # Writers (ingest, forget) and searches may run on different threads (the web page
        # ingests while it answers): the BM25 side is only changed or read under this lock.
        self._lock = threading.RLock()
        self._seen: str | None = None  # the store's write marker the BM25 side is in step with
        if self.store.needs_vectors:
            self._rebuild_vectors()
        self._repair_lexical()

    def _rebuild_vectors(self) -> None:
        """Embed every stored chunk anew: the vector files were set aside (index.store)."""
        chunks = self.store.chunks()
        log.warning("the vector index in %s is made anew (%s): embedding its %d chunks",
                    self.root, self.store.needs_vectors, len(chunks))
        self.store.upsert(chunks, self._vectors([indexed_text(c) for c in chunks], progress=True), progress=True)
        self.store.vectors_rebuilt()

    def _repair_lexical(self) -> None:
        """Bring the BM25 side in step with Chroma, by chunk id (ids are content hashes).

        Chroma is written first, so after a crash the BM25 side may lag; with a shared
        server, other clients add and remove chunks. Only the difference is fetched.
        """
        with self._lock:
            seen = self.store.write_token()  # before the ids: a write after this changes it again
            stored, have = self.store.ids(), self.lexical.ids()
            if stored != have:
                self.lexical.remove(have - stored)
                fetched = self.store.get(sorted(stored - have))
                self.lexical.add((cid, indexed_text(fetched[cid])) for cid in sorted(fetched))
                self.lexical.save()
            self._seen = seen

    def sync(self) -> None:
        """Catch up with writes made by anyone else since the last look: one small request when there were none."""
        if self.store.write_token() != self._seen:
            self._repair_lexical()

    def count(self) -> int:
        return self.store.count()

    def close(self) -> None:
        self.store.close()

    def warm(self) -> None:
        """Load the embedding model and jieba's dictionary (~1 s each) before the first search."""
        self.embedder.load()
        tokenize("", self.root / "cache")

    def documents(self) -> dict[str, DocInfo]:
        docs: dict[str, DocInfo] = {}
        for c in self.store.chunks():
            d = docs.get(c.source)
            docs[c.source] = DocInfo(
                c.source, c.title, c.doc_hash, (d.chunks if d else 0) + 1, max(d.chars if d else 0, c.end)
            )
        return dict(sorted(docs.items()))

    def chunks_of(self, source: str) -> list[Chunk]:
        return sorted(self.store.chunks(where={"source": source}), key=lambda c: c.start)

    def with_following(self, hits: Sequence[Hit], n: int) -> list[Hit]:
        """Each hit followed by the next ``n`` chunks of its document ("small to big").

        Small chunks rank precisely, but a list or an argument often runs on past
        the chunk that matched; the model needs what follows to answer whole.
        Added chunks carry score 0 and sit right after the hit they extend.
        """
        if n <= 0:
            return list(hits)
        by_source: dict[str, list[Chunk]] = {}
        seen = {h.chunk.id for h in hits}
        out: list[Hit] = []
        for hit in hits:
            out.append(hit)
            if hit.chunk.source not in by_source:  # one read per document, however many hits it has
                by_source[hit.chunk.source] = self.chunks_of(hit.chunk.source)
            later = [c for c in by_source[hit.chunk.source] if c.start > hit.chunk.start][:n]
            for c in later:
                if c.id not in seen:
                    seen.add(c.id)
                    out.append(Hit(c, 0.0))
        return out

    def with_sections(self, hits: Sequence[Hit], top: int, limit: int, follow: int) -> list[Hit]:
        """The first ``top`` hits with their whole section (the chunks of the same document
        under the same heading path, in document order, at most ``limit`` from the section's
        start or from just before the hit), the others with their next ``follow`` chunks.

        A list asked for ("有哪些…") is the section a heading names, and its items run
        on well past the chunk that matched the question's words.
        """
        out: list[Hit] = []
        seen: set[str] = set()
        for rank, hit in enumerate(hits):
            if hit.chunk.id in seen:
                continue
            if rank >= top:
                extended = [h for h in self.with_following([hit], follow) if h.chunk.id not in seen]
            else:
                section = [c for c in self.chunks_of(hit.chunk.source) if c.headings == hit.chunk.headings]
                at = next((i for i, c in enumerate(section) if c.id == hit.chunk.id), 0)
                first = 0 if at < limit else at - 1
                extended = [hit if c.id == hit.chunk.id else Hit(c, 0.0)
                            for c in section[first : first + limit] if c.id not in seen]
            seen.update(h.chunk.id for h in extended)
            out += extended
        return out

    def add(self, chunks: Sequence[Chunk], *, progress: bool = False) -> None:
        if not chunks:
            return
        texts = [indexed_text(c) for c in chunks]
        vectors = self._vectors(texts, progress=progress)
        with self._lock:
            self.store.upsert(chunks, vectors, progress=progress)
            self.lexical.add(zip((c.id for c in chunks), texts))
            self.lexical.save()

    def _vectors(self, texts: list[str], *, progress: bool) -> list[list[float]]:
        unique = list(dict.fromkeys(texts))  # a repeated paragraph or page is embedded once
        vector_of = dict(zip(unique, self.embedder.embed(unique, progress=progress)))
        return [vector_of[t] for t in texts]

    def remove(self, ids: Sequence[str]) -> None:
        """Delete chunks from both indexes (their text stays in the store's files until ``wipe``)."""
        if not ids:
            return
        with self._lock:
            self.store.delete(ids)
            self.lexical.remove(ids)
            self.lexical.save()  # written anew and renamed: the old file's bytes are not kept

    def wipe(self, ids: Sequence[str], texts: Sequence[str]) -> dict:
        """After ``remove``, wipe the removed chunks' text from the store's files, then check:
        every file under this index's folder is searched for a sample of ``texts``.
        Slow (the store's database is rewritten): once per forget or ingest, not per document."""
        done = self.store.scrub(ids)
        self.store.zero_unused()
        return {**done, "check": residue.check(self.root, texts, self.store.contains)}

    def search(self, query: str, k: int, fusion: Fusion = Fusion(), *, expand: Callable[[str], str] | None = None,
               sources: frozenset[str] | None = None) -> list[Hit]:
        """The k best chunks for a query, fused from dense and lexical rankings; of the
        documents ``sources`` only, on both sides, when given (assistant.scope).

        ``expand`` may add words to the lexical query (e.g. a translation of an
        English question into the corpus language); the dense side sees the question as asked.
        """
        if not self.store.count() or not query.strip():
            return []
        self.sync()
        dense = self.store.query(self.embedder.embed([query])[0], fusion.pool, sources=sources) if fusion.dense else []
        lexical_query = f"{query} {expand(query)}" if expand else query
        only = self.store.ids_of(sources) if sources is not None and fusion.lexical else None
        with self._lock:
            lexical = self.lexical.search(lexical_query, fusion.pool, only=only) if fusion.lexical else []
        scores: dict[str, float] = {}
        for weight, ranking in ((fusion.dense, dense), (fusion.lexical, lexical)):
            for rank, (cid, _) in enumerate(ranking, 1):
                scores[cid] = scores.get(cid, 0.0) + weight / (fusion.rrf_k + rank)
        best = sorted(scores, key=scores.__getitem__, reverse=True)[:k]
        chunks = self.store.get(best)
        return [Hit(chunks[cid], scores[cid]) for cid in best if cid in chunks]
