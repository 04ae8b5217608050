"""Where the time of a cold `assistant ask` goes, phase by phase, in fresh processes.

    .venv/bin/python bench/cold_ask.py [--runs 3] [--data-dir DIR] [QUESTION]

Each run is a new Python process that does what `assistant ask` does, timing
each phase: imports, opening the index, loading the embedder and jieba,
retrieval, locating and loading the GGUF, prompt processing (time to first
token) and generation. The index must exist (run `assistant ask` once first).
Prints the median of each phase over the runs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
marks = {}
def mark(name):
    marks[name] = time.perf_counter()
from assistant.privacy import go_offline; go_offline()
from assistant import config, prompt
from assistant.answer import Assistant
mark("imports")
a = Assistant(config.load({"data_dir": sys.argv[1]}), progress=False)
mark("open index")
a.index.warm()
mark("load embedder + jieba")
hits = a.index.search(sys.argv[2], a.settings.k, a.fusion)
found = prompt.passages(a.index.with_following(hits, a.settings.follow))
mark("retrieval")
gen = a.generator
mark("load GGUF")
messages, found, _ = a.fit(sys.argv[2], found, prompt.language(sys.argv[2]), [])
first = None
for piece in gen.stream(messages, max_tokens=a.settings.max_tokens):
    if first is None:
        first = time.perf_counter(); marks["prompt processing (to first token)"] = first
mark("generation")
prev, out = t0, {}
for name, t in marks.items():
    out[name] = (t - prev) * 1000
    prev = t
out["total"] = (prev - t0) * 1000
out["prompt_tokens"] = gen.last_stats.prompt_tokens
out["completion_tokens"] = gen.last_stats.completion_tokens
print(json.dumps(out))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("question", nargs="?", default="开源大模型的盈利通常建立在什么基础上？")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--data-dir", default=str(Path.home() / ".local/share/private-assistant"))
    args = ap.parse_args()
    runs = []
    for _ in range(args.runs):
        proc = subprocess.run([sys.executable, "-c", CHILD, args.data_dir, args.question], capture_output=True, text=True, cwd=ROOT)
        if proc.returncode:
            sys.exit(proc.stderr.strip().splitlines()[-1])
        runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    print(f"cold ask, median of {args.runs} fresh processes: {args.question}")
    for key in runs[0]:
        unit = "" if key.endswith("tokens") else " ms"
        print(f"  {key:<38} {statistics.median(r[key] for r in runs):>9.0f}{unit}")


if __name__ == "__main__":
    main()
