"""Ingest speed and memory: the corpus (cold, nothing changed, one file changed),
then synthetic Chinese corpora of two sizes to show how time and memory grow, and
one 2 MB file of a single repeated sentence ("embedded" counts the texts the
embedder was given: identical chunks are embedded once).

    .venv/bin/python bench/ingest.py [--data-dir bench-data] [--sizes 2000,4000] [--json OUT]

Every run is a fresh process running the real ingest (as `assistant ingest`
does), timing where the time goes: reading and cleaning, chunking, embedding,
writing vectors to Chroma, BM25. Peak RSS is the process's own (VmHWM: getrusage's
maxrss would carry over the high-water mark of the process that started it). Synthetic
documents are sentences of the corpus reshuffled (about 600 characters, three or four chunks each),
so tokenization and embedding cost what real text costs.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from common import DEFAULT_DATA, ROOT, assistant, save, table

CHILD = r"""
import json, re, sys, time
from pathlib import Path
t0 = time.perf_counter()
from assistant.privacy.offline import go_offline; go_offline()
from assistant import config
from assistant.answer import Assistant
import ingest.pipeline as pipeline
phases = {}
def timed(name, fn):
    def wrapper(*args, **kwargs):
        t = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            phases[name] = phases.get(name, 0.0) + time.perf_counter() - t
    return wrapper
a = Assistant(config.load({"data_dir": sys.argv[1]}), progress=False)
opened = time.perf_counter()
pipeline.load_document = timed("read + clean", pipeline.load_document)
pipeline.make_chunks = timed("chunk", pipeline.make_chunks)
embedded = [0]
def counted(texts, **kw):
    embedded[0] += len(texts)
    return embed(texts, **kw)
embed = a.embedder.embed
a.embedder.embed = timed("embed", counted)
a.index.store.upsert = timed("write vectors", a.index.store.upsert)
a.index.lexical.add = timed("BM25 add", a.index.lexical.add)
a.index.lexical.save = timed("BM25 save", a.index.lexical.save)
r = a.ingest([Path(sys.argv[2])])
done = time.perf_counter()
print(json.dumps({"import + open s": opened - t0, "ingest s": done - opened, "phases": phases,
                  "embedded": embedded[0], "files": len(r.added) + len(r.replaced), "unchanged": len(r.unchanged), "chunks": r.chunks_added,
                  "index chunks": a.index.count(), "peak_rss_mb": int(re.search(r"VmHWM:\s+(\d+)", Path("/proc/self/status").read_text())[1]) / 1024}))
"""


def run(data_dir: Path, folder: Path) -> dict:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", CHILD, str(data_dir), str(folder)], capture_output=True, text=True, cwd=ROOT)
    if proc.returncode:
        sys.exit(proc.stderr.strip().splitlines()[-1])
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["wall s"] = time.perf_counter() - start
    return out


def fresh(data_dir: Path, models: Path) -> Path:
    """An empty data folder sharing the benchmark's models (the embedder's ONNX export)."""
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    (data_dir / "models").symlink_to(models.resolve())
    return data_dir


def synthetic(folder: Path, n: int, seed: int = 0) -> Path:
    if folder.is_dir() and len(list(folder.iterdir())) == n:
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    text = "".join(p.read_text(encoding="utf-8") for p in sorted((ROOT / "corpus").iterdir()))
    sentences = [s for s in re.split(r"(?<=[。！？])", text.replace("\n", "")) if len(s) > 8]
    rng = random.Random(seed)
    for i in range(n):
        body, paragraphs = [], []
        while sum(map(len, body)) < 600:
            body.append(rng.choice(sentences))
            if len(body) % 4 == 0:
                paragraphs.append("".join(body[-4:]))
        (folder / f"doc{i:05d}.txt").write_text(f"合成文档 {i}\n\n" + "\n\n".join(paragraphs), encoding="utf-8")
    return folder


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--sizes", default="2000,4000", help="synthetic corpus sizes in documents")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    assistant(args.data_dir)  # the models (and the embedder's export) exist before timing
    models, work = args.data_dir / "models", args.data_dir / "ingest"
    rows = []

    corpus = work / "corpus"
    shutil.rmtree(corpus, ignore_errors=True)
    shutil.copytree(ROOT / "corpus", corpus)
    d = fresh(work / "data-corpus", models)
    rows.append({"run": "corpus, cold", **run(d, corpus)})
    rows.append({"run": "corpus, nothing changed", **run(d, corpus)})
    first = sorted(corpus.iterdir())[0]
    first.write_text(first.read_text(encoding="utf-8") + "\n\n补充一段新的文字，说明本地部署的好处。", encoding="utf-8")
    rows.append({"run": "corpus, one file changed", **run(d, corpus)})

    for n in map(int, args.sizes.split(",")):
        folder = synthetic(work / f"synthetic-{n}", n)
        rows.append({"run": f"synthetic {n} docs, cold", **run(fresh(work / f"data-{n}", models), folder)})

    repeated = work / "repeated"
    shutil.rmtree(repeated, ignore_errors=True)
    repeated.mkdir(parents=True)
    sentence = "服务器每天凌晨自动备份一次数据，备份完成后向管理员发送通知。"
    (repeated / "log.txt").write_text((sentence + "\n") * (2_000_000 // len((sentence + "\n").encode("utf-8"))), encoding="utf-8")
    rows.append({"run": "2 MB, one sentence repeated", **run(fresh(work / "data-repeated", models), repeated)})

    phase_names = sorted({p for r in rows for p in r["phases"]})
    for r in rows:
        r["chunks/s"] = r["chunks"] / r["ingest s"] if r["chunks"] else 0.0
        r["ms/chunk"] = 1000 * r["ingest s"] / r["chunks"] if r["chunks"] else 0.0
        for p in phase_names:
            r[p] = r["phases"].get(p, 0.0)
    print("\ningest (seconds; peak RSS in MB)")
    print(table(rows, ["run", "files", "chunks", "embedded", "index chunks", "wall s", "import + open s", "ingest s", "chunks/s", "ms/chunk", "peak_rss_mb"]))
    print("\nwhere the ingest time goes (seconds)")
    print(table(rows, ["run", *phase_names]))
    big = [r for r in rows if r["run"].startswith("synthetic")]
    if len(big) == 2:
        a, b = big
        print(f"\ngrowth {a['run']} -> {b['run']}: chunks x{b['chunks'] / a['chunks']:.2f}, ingest time x{b['ingest s'] / a['ingest s']:.2f}, "
              f"peak RSS x{b['peak_rss_mb'] / a['peak_rss_mb']:.2f}")
    save(args.json, {"rows": rows})


if __name__ == "__main__":
    main()
