"""Where the time of a cold `assistant ask` goes, phase by phase, in fresh processes.

    .venv/bin/python bench/cold_ask.py [--data-dir bench-data] [--runs 3] [--baseline REV] [--json OUT] [QUESTION]

Each run is a new Python process that does what `assistant ask` does, stamping
each phase: interpreter start and imports, opening the index, loading the
embedder and jieba, retrieval, waiting for the GGUF, building the prompt, prompt
processing (to the first token). "start-up" is process start to
the start of prompt processing: what the user waits for before llama.cpp works.

The index and model are prepared first if missing; so is the saved system turn
(assistant.llm.prefix), which a first run writes and later runs read. With
``--baseline REV`` the same child runs against that git revision of the project
too, interleaved run by run, so the two are measured under the same load.
Prints medians and writes them as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import json, sys, time
stamps = {}
def mark(name):
    stamps[name] = time.time()
from assistant.privacy.offline import go_offline; go_offline()
from assistant import config, prompt
from assistant.answer import Assistant
mark("imports")
settings = config.load({"data_dir": sys.argv[1]})
question = sys.argv[2]
try:
    a = Assistant(settings, progress=False, preload=True)
except TypeError:  # a revision without the background model load
    a = Assistant(settings, progress=False)
mark("open index")
a.index.warm()
mark("load embedder + jieba")
hits = a.index.search(question, settings.k, a.fusion)
found = prompt.passages(a.index.with_following(hits, settings.follow))
mark("retrieval")
gen = a.generator
mark("load GGUF (what is left of it)")
messages, found, _ = a.fit(question, found, prompt.language(question), [])
mark("build prompt")
stream = gen.stream(messages, max_tokens=settings.max_tokens)
next(stream)
mark("prompt processing")
stream.close()  # what follows the first token is generation speed: bench/generation.py
print(json.dumps({"stamps": stamps, "prompt_tokens": gen.last_stats.prompt_tokens, "completion_tokens": gen.last_stats.completion_tokens, "backend": getattr(a.embedder, "backend", "sentence-transformers")}))
"""


def run_child(code_dir: Path, data_dir: str, question: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(code_dir)}
    spawned = time.time()
    proc = subprocess.run([sys.executable, "-c", CHILD, data_dir, question], capture_output=True, text=True, cwd=code_dir, env=env)
    if proc.returncode:
        sys.exit(f"{code_dir}: " + proc.stderr.strip().splitlines()[-1])
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    phases, prev = {}, spawned
    for name, t in out["stamps"].items():
        phases[name] = (t - prev) * 1000
        prev = t
    phases["start-up (process start to prompt processing)"] = (out["stamps"]["build prompt"] - spawned) * 1000
    phases["total"] = (prev - spawned) * 1000
    return {"phases": phases, "prompt_tokens": out["prompt_tokens"], "completion_tokens": out["completion_tokens"], "backend": out["backend"]}


def checkout(rev: str) -> Path:
    where = Path(tempfile.mkdtemp(prefix="bench-baseline-"))
    archive = subprocess.run(["git", "archive", rev], cwd=ROOT, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(where)], input=archive, check=True)
    return where


def medians(runs: list[dict]) -> dict:
    return {k: statistics.median(r["phases"][k] for r in runs) for k in runs[0]["phases"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("question", nargs="?", default="开源大模型的盈利通常建立在什么基础上？")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--data-dir", default=str(ROOT / "bench-data"), help="the benchmarks' data folder (default bench-data)")
    ap.add_argument("--baseline", metavar="REV", help="also measure this git revision, interleaved")
    ap.add_argument("--json", type=Path, help="write the medians here")
    args = ap.parse_args()

    # the index and model exist before anything is timed (built in another process)
    subprocess.run([sys.executable, str(ROOT / "bench" / "common.py"), args.data_dir], check=True)
    variants = {"current": ROOT}
    if args.baseline:
        variants = {f"baseline {args.baseline}": checkout(args.baseline), **variants}
    runs: dict[str, list[dict]] = {name: [] for name in variants}
    for i in range(args.runs):
        for name, code in variants.items():
            runs[name].append(run_child(code, args.data_dir, args.question))
            print(f"run {i + 1}/{args.runs} {name}: {runs[name][-1]['phases']['total'] / 1000:.1f} s", file=sys.stderr)

    table = {name: medians(r) for name, r in runs.items()}
    names = list(table)
    print(f"\ncold ask, median of {args.runs} fresh processes each: {args.question}")
    print(f"  {'phase (ms)':<48}" + "".join(f"{n:>22}" for n in names))
    for phase in table["current"]:
        print(f"  {phase:<48}" + "".join(f"{table[n].get(phase, 0):>22.0f}" for n in names))
    first = runs["current"][0]
    print(f"  prompt tokens {first['prompt_tokens']}, embedder backend: " + ", ".join(f"{n}={r[0]['backend']}" for n, r in runs.items()))
    if len(names) == 2:
        key = "start-up (process start to prompt processing)"
        print(f"  start-up ratio current/baseline: {table['current'][key] / table[names[0]][key]:.2f}")
        print(f"  process start to first token, ratio current/baseline: {table['current']['total'] / table[names[0]]['total']:.2f}")
    if args.json:
        args.json.write_text(json.dumps({"question": args.question, "runs": args.runs, "medians_ms": table}, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
