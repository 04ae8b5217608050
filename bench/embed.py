"""Embedding speed: the exact ONNX export against its int8 quantization, on the same chunks.

    .venv/bin/python bench/embed.py [--folder corpus] [--runs 3] [--json out.json]

Chunks the folder's text files as ingest does (default settings), then embeds all
chunks with each export, the runs alternating so that a busy machine slows both
alike. Prints chunks per second (median over runs), the int8/exact ratio, and how
close the int8 vectors are to the exact ones (cosine). Both exports are made in a
temp folder (torch is imported once, for the export).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from common import ROOT, median, save, table

from assistant.config import Settings
from assistant.llm.models import default_embedder_path
from index import embed
from index.search import indexed_text
from ingest.chunk import make_chunks
from ingest.load import load_document


def chunk_texts(folder: Path) -> list[str]:
    s = Settings.load({})
    texts = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        doc = load_document(path, path.name)
        texts += [indexed_text(c) for c in make_chunks(doc, s.chunk_size, s.chunk_overlap)]
    return texts


def exports(models: Path):
    """(exact, int8) _OnnxModel objects of the default embedder."""
    e = embed.SentenceTransformerEmbedder(default_embedder_path(), onnx_dir=models)
    e.load()
    int8 = embed._OnnxModel.open(e)
    exact_path = models / "exact.onnx"
    embed._torch_export(e._sentence_transformer(), exact_path)
    return embed._OnnxModel(exact_path, e.path, e.batch_size), int8


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--folder", type=Path, default=ROOT / "corpus")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--data-dir", type=Path, help="unused; accepted so bench/all.py can pass it")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    texts = chunk_texts(args.folder)
    with tempfile.TemporaryDirectory() as tmp:
        exact, int8 = exports(Path(tmp))
        rates = {"exact": [], "int8": []}
        vectors = {}
        for _ in range(args.runs):
            for name, model in (("exact", exact), ("int8", int8)):
                start = time.perf_counter()
                vectors[name] = model.encode(texts, False)
                rates[name].append(len(texts) / (time.perf_counter() - start))
    cosine = (vectors["exact"] * vectors["int8"]).sum(1)
    tokens = sorted(len(exact.tokenizer.encode(t).ids) for t in texts)
    rows = [{"weights": name, "chunks/s": median(r), "runs": len(r)} for name, r in rates.items()]
    print(f"{len(texts)} chunks from {args.folder} (median {tokens[len(tokens) // 2]} tokens)")
    print(table(rows, ["weights", "chunks/s", "runs"]))
    ratio = median(rates["int8"]) / median(rates["exact"])
    print(f"int8 / exact: {ratio:.2f}x; cosine of int8 to exact vectors: min {cosine.min():.3f}, median {median(cosine.tolist()):.3f}")
    save(args.json, {"folder": str(args.folder), "chunks": len(texts), "rates": rates, "ratio": ratio,
                     "cosine_min": float(cosine.min()), "cosine_median": float(median(cosine.tolist()))})


if __name__ == "__main__":
    main()
