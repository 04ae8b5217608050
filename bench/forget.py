"""What forget's wipe costs at 1,000, 10,000 and 100,000 chunks.

    .venv/bin/python bench/forget.py [--data-dir bench-data] [--sizes 1000,10000,100000] [--repeat 3] [--json OUT]

Each index holds synthetic chunks (corpus sentences reshuffled, ~200 characters,
so Chroma's trigram index is as large as real text makes it) in documents of 10
chunks, with vectors from a hash of the text (384 dimensions, as the default
embedder's): the wipe's cost does not depend on what the vectors mean, and
embedding 100,000 chunks would take an hour. The BM25 side indexes character
pairs instead of jieba's words (a fifth of the build time): its file is about 3
times the size a real one has (1.9 KB a chunk, not 620 bytes), so the figures for
the delete and the self-check are upper bounds. Indexes are built once under
DATA/forget-N. Each repeat forgets one document, timing it, then adds it back.
The baseline, measured in the same run, is deleting a document without the wipe.
Medians in seconds.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import time
from collections import Counter
from pathlib import Path

from common import DEFAULT_DATA, median, save, table
from search_scale import texts

PER_DOC = 10
DIM = 384


class HashEmbedder:
    id = f"hash-{DIM}"

    def load(self):
        return self

    def embed(self, items, *, progress=False):
        import numpy as np

        out = []
        for t in items:
            v = np.random.default_rng(int.from_bytes(hashlib.sha256(t.encode()).digest()[:8], "little")).standard_normal(DIM)
            out.append((v / np.linalg.norm(v)).astype(np.float32).tolist())
        return out


def chunks(n: int):
    from index.types import Chunk

    return [Chunk(f"c{i:06d}", f"doc{i // PER_DOC:05d}.txt", f"doc{i // PER_DOC:05d}", (), t, 0, len(t), f"h{i // PER_DOC}")
            for i, t in enumerate(texts(n))]


def build(root: Path, n: int):
    from index.search import Index

    index = Index(root, HashEmbedder(), chunker=f"forget-{n}")
    if index.count() != n:
        every = chunks(n)
        t = time.perf_counter()
        for i in range(0, n, 1000):
            part = every[i : i + 1000]
            index.store.upsert(part, index.embedder.embed([c.text for c in part]))
            for c in part:  # character pairs instead of jieba's words (see above)
                index.lexical._insert(c.id, dict(Counter(c.text[j : j + 2] for j in range(len(c.text) - 1))))
            print(f"  building {n}: {i + len(part)}/{n} chunks, {time.perf_counter() - t:.0f} s", end="\r", flush=True)
        index.lexical.save()
        print()
    return index


def db_mb(root: Path) -> float:
    return sum(p.stat().st_size for p in (root / "chroma").rglob("*") if p.is_file()) / 1e6


def measure(root: Path, n: int, repeat: int) -> dict:
    from ingest.forget import forget
    from ingest.lock import locked
    from ingest.wipe import last_wipe

    index = build(root, n)
    size = db_mb(root)
    forgets, deletes, optimize, vacuum, check = [], [], [], [], []
    for r in range(repeat):
        doc = f"doc{(r * 37) % (n // PER_DOC):05d}.txt"
        kept = index.chunks_of(doc)
        t = time.perf_counter()
        with locked(index, quiet=True):
            index.remove([c.id for c in kept])  # the baseline: the delete alone
        deletes.append(time.perf_counter() - t)
        index.add(kept)
        t = time.perf_counter()
        forget(index, doc)
        forgets.append(time.perf_counter() - t)
        record = last_wipe(root)
        optimize.append(record["step_seconds"]["fts_optimize"])
        vacuum.append(record["step_seconds"]["vacuum"])
        check.append(record["check"]["seconds"])
        index.add(kept)
    return {"chunks": n, "store MB": size, "delete s": median(deletes), "forget s": median(forgets),
            "fts optimize s": median(optimize), "vacuum s": median(vacuum), "check s": median(check),
            "forget / delete": median(forgets) / median(deletes)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    os.environ.setdefault("TMPDIR", str(args.data_dir))  # SQLite's VACUUM writes its temporary copy there
    rows = [measure(args.data_dir / f"forget-{n}", n, args.repeat) for n in map(int, args.sizes.split(","))]
    columns = ["chunks", "store MB", "delete s", "forget s", "fts optimize s", "vacuum s", "check s", "forget / delete"]
    print(table(rows, columns))
    save(args.json, {"rows": rows})


if __name__ == "__main__":
    main()
