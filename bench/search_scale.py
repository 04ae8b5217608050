"""Search latency at scale: 10,000 and 100,000 chunks, dense, lexical and fused,
plus the rest of a warm question's own work (passages, prompt, token count, citation check).

    .venv/bin/python bench/search_scale.py [--data-dir bench-data] [--sizes 10000,100000] [--json OUT]

Chunks are synthetic: sentences of the corpus reshuffled, about 200 characters
each, so BM25 sees real Chinese vocabulary. Embedding 100,000 chunks would take
the better part of an hour here, so 500 distinct texts are embedded once
(cached) and every chunk's vector is one of them with a little noise: HNSW
search costs the same whatever the vectors mean. Each index is built once and
kept under DATA/scale-N. Queries are the dev questions; medians and p90 in ms.
"""

from __future__ import annotations

import argparse
import random
import re
import time
from pathlib import Path

from common import DEFAULT_DATA, ROOT, assistant, dev_questions, median, p90, save, table

ANSWER = "开源大模型的优势包括成本低、可定制[1]。闭源模型的服务更稳定[2]。"


def texts(n: int, seed: int = 1) -> list[str]:
    corpus = "".join(p.read_text(encoding="utf-8") for p in sorted((ROOT / "corpus").iterdir())).replace("\n", "")
    sentences = [s for s in re.split(r"(?<=[。！？])", corpus) if len(s) > 8]
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        t = ""
        while len(t) < 200:
            t += rng.choice(sentences)
        out.append(t[:240])
    return out


def build(a, root: Path, n: int):
    """An Index of n synthetic chunks under root (reused when complete)."""
    import numpy as np

    from index.search import Index
    from index.types import Chunk

    index = Index(root, a.embedder, chunker=f"scale-{n}")
    if index.count() == n:
        return index
    base_file = root.parent / "scale-base-vectors.npy"
    base_texts = texts(500, seed=2)
    if base_file.exists():
        base = np.load(base_file)
    else:
        base = np.array(a.embedder.embed(base_texts, progress=True), dtype=np.float32)
        np.save(base_file, base)
    rng = np.random.default_rng(0)
    body = texts(n)
    batch = 1000
    with index.lexical.deferred():
        for start in range(0, n, batch):
            chunks = [
                Chunk(f"s{i:06d}", f"doc{i // 10:05d}.txt", f"合成文档 {i // 10}", (), body[i], (i % 10) * 200, (i % 10) * 200 + len(body[i]), f"h{i // 10}")
                for i in range(start, min(n, start + batch))
            ]
            vectors = base[[i % len(base) for i in range(start, start + len(chunks))]] + rng.normal(0, 0.02, (len(chunks), base.shape[1])).astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            index.store.upsert(chunks, vectors.tolist())
            index.lexical.add((c.id, c.text) for c in chunks)
            print(f"  {start + len(chunks)}/{n} chunks", flush=True)
    return index


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    from assistant import cite, prompt
    from index.search import Fusion

    a = assistant(args.data_dir)
    a.index.warm()
    questions = [g.question for g in dev_questions() if g.lang == "zh"]
    fusions = {"dense": Fusion(dense=1.0, lexical=0.0), "lexical": Fusion(dense=0.0, lexical=1.0), "fused": a.fusion}
    indexes = {"corpus": a.index, **{f"{int(n):,}": build(a, args.data_dir / f"scale-{n}", int(n)) for n in args.sizes.split(",")}}
    rows = []
    for name, index in indexes.items():
        for q in questions[:2]:  # first searches build the BM25 arrays; not what a warm question pays
            index.search(q, a.settings.k, a.fusion)
        row = {"index": name, "chunks": index.count()}
        for fname, fusion in fusions.items():
            ms = []
            for q in questions:
                t = time.perf_counter()
                index.search(q, a.settings.k, fusion)
                ms.append((time.perf_counter() - t) * 1000)
            row[f"{fname} med"], row[f"{fname} p90"] = median(ms), p90(ms)
        overhead = []
        for q in questions:  # a warm question's own work, llama.cpp excluded
            t = time.perf_counter()
            hits = index.search(q, a.settings.k, a.fusion)
            messages, found, _ = a.fit(q, prompt.passages(index.with_following(hits, a.settings.follow)), "zh", [])
            cite.check(ANSWER, [p.text for p in found], cross_lingual=False)
            overhead.append((time.perf_counter() - t) * 1000)
        row["question overhead med"], row["question overhead p90"] = median(overhead), p90(overhead)
        rows.append(row)
        print(f"{name}: done", flush=True)
    cols = ["index", "chunks"] + [f"{f} {s}" for f in fusions for s in ("med", "p90")] + ["question overhead med", "question overhead p90"]
    print(f"\nsearch latency in ms over {len(questions)} Chinese dev questions (k={a.settings.k}; overhead = search + passages + prompt + token count + citation check)")
    print(table(rows, cols))
    save(args.json, {"rows": rows})


if __name__ == "__main__":
    main()
