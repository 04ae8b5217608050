"""Retrieval quality on a gold file across chunking and fusion settings.

    .venv/bin/python bench/retrieval.py [--questions eval/dev.jsonl] [--sizes 200,300,400] [--json out.json]

Builds a throw-away index per chunk setting in a temp folder (real Chroma, real
embedder), then scores dense-only, lexical-only and fused rankings: hit@1/3/5/10
and MRR@10, for Chinese and English questions separately. English questions are
searched as asked (no translation), which shows why the assistant translates them.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistant.privacy.offline import go_offline  # noqa: E402

go_offline()

from assistant.evaluation.metrics import first_hit_rank, hit_at, load_gold, reciprocal_rank  # noqa: E402
from assistant.llm.models import default_embedder_path  # noqa: E402
from index.embed import SentenceTransformerEmbedder  # noqa: E402
from index.search import Fusion, Index  # noqa: E402
from ingest.pipeline import ingest  # noqa: E402

FUSIONS = {
    "dense": Fusion(dense=1.0, lexical=0.0),
    "lexical": Fusion(dense=0.0, lexical=1.0),
    "rrf 1:1 k60": Fusion(dense=1.0, lexical=1.0, rrf_k=60),
    "rrf .5:1 k10": Fusion(dense=0.5, lexical=1.0, rrf_k=10),
    "rrf .3:1 k10": Fusion(dense=0.3, lexical=1.0, rrf_k=10),
    "rrf .2:1 k5": Fusion(dense=0.2, lexical=1.0, rrf_k=5),
    "rrf .3:1 k2": Fusion(dense=0.3, lexical=1.0, rrf_k=2),
}


def score(index: Index, gold, fusion: Fusion) -> dict:
    rows = {}
    for g in gold:
        if not g.evidence:
            continue
        hits = index.search(g.question, 10, fusion)
        rank = first_hit_rank([h.chunk.text for h in hits], g.evidence)
        rows.setdefault(g.lang, []).append(rank)
    out = {}
    for lang, ranks in rows.items():
        out[lang] = {f"hit@{k}": statistics.mean(hit_at(r, k) for r in ranks) for k in (1, 3, 5, 10)}
        out[lang]["mrr@10"] = statistics.mean(reciprocal_rank(r) for r in ranks)
        out[lang]["n"] = len(ranks)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--questions", type=Path, default=ROOT / "eval/dev.jsonl")
    ap.add_argument("--corpus", type=Path, default=ROOT / "corpus")
    ap.add_argument("--sizes", default="200:40,300:60,400:80,500:100")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    gold = load_gold(args.questions)
    embedder = SentenceTransformerEmbedder(default_embedder_path())
    results = []
    for spec in args.sizes.split(","):
        size, overlap = map(int, spec.split(":"))
        with tempfile.TemporaryDirectory() as tmp:
            index = Index(Path(tmp), embedder, chunker=f"bench:{size}:{overlap}")
            ingest(index, [args.corpus], size=size, overlap=overlap, progress=False)
            for name, fusion in FUSIONS.items():
                res = score(index, gold, fusion)
                results.append({"size": size, "overlap": overlap, "chunks": index.count(), "fusion": name, **res})
    print(f"{'size':>5} {'ovl':>4} {'chunks':>6} {'fusion':<14} | zh hit@1 hit@3 hit@5 hit@10 mrr  | en hit@5 mrr")
    for r in results:
        zh, en = r.get("zh", {}), r.get("en", {})
        print(
            f"{r['size']:>5} {r['overlap']:>4} {r['chunks']:>6} {r['fusion']:<14} |    {zh['hit@1']:.2f}  {zh['hit@3']:.2f}  {zh['hit@5']:.2f}  {zh['hit@10']:.2f} {zh['mrr@10']:.2f} |"
            f"    {en.get('hit@5', 0):.2f} {en.get('mrr@10', 0):.2f}"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
