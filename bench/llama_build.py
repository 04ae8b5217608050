"""Prompt processing and generation speed of llama.cpp builds: the portable build against native.

    .venv/bin/python bench/llama_build.py --build native=WHEEL_OR_DIR --build portable=WHEEL_OR_DIR \
        [--build floor=...] [--runs 5] [--threads N] [--prompt-tokens 512] [--gen-tokens 64] [--json OUT]

Each build is a llama-cpp-python wheel (or a folder holding its unpacked `llama_cpp/`),
made with `pip wheel --no-deps --no-cache-dir llama-cpp-python==0.3.36` under different
CMAKE_ARGS (README: "The llama.cpp build"). Every run is a fresh child process with that
build first on its path: it loads the default GGUF with --threads (default: all cores), evaluates the same
prompt (the bundled corpus, cut to --prompt-tokens) and then decodes exactly
--gen-tokens greedy tokens one by one. Builds are interleaved run by run, so machine
load hits all alike. Prints medians and each build's ratio to the first one.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from common import DEFAULT_DATA, ROOT, median, save, table

CHILD = r"""
import json, os, sys, time
import llama_cpp
from llama_cpp import Llama
model, n_prompt, n_gen, corpus, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
llm = Llama(model_path=model, n_ctx=n_prompt + n_gen + 16, n_batch=512, n_threads=threads, n_threads_batch=threads, verbose=False)
text = "".join(open(os.path.join(corpus, f), encoding="utf-8").read() for f in sorted(os.listdir(corpus)))
tokens = llm.tokenize(text.encode())[:n_prompt]
t0 = time.perf_counter()
llm.eval(tokens)
t1 = time.perf_counter()
for _ in range(n_gen):
    llm.eval([llm.sample(temp=0.0)])  # end-of-text ignored: always n_gen tokens
t2 = time.perf_counter()
print(json.dumps({"pp": n_prompt / (t1 - t0), "tg": n_gen / (t2 - t1), "features": llama_cpp.llama_print_system_info().decode().strip(),
                  "where": os.path.dirname(llama_cpp.__file__)}))
"""


def unpacked(path: Path, target: Path) -> Path:
    if path.is_dir():
        return path
    with zipfile.ZipFile(path) as wheel:
        wheel.extractall(target)
    return target


def run_once(build: Path, model: Path, args) -> dict:
    env = {**os.environ, "PYTHONPATH": str(build)}
    proc = subprocess.run([sys.executable, "-c", CHILD, str(model), str(args.prompt_tokens), str(args.gen_tokens), str(ROOT / "corpus"), str(args.threads)],
                          capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        return {"error": f"exit {proc.returncode}: {(proc.stderr.strip().splitlines() or [''])[-1]}"}
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert Path(result["where"]).is_relative_to(build), f"{result['where']} is not the build under test"
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", action="append", required=True, metavar="NAME=PATH", help="a build to measure; the first is the baseline")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--prompt-tokens", type=int, default=512)
    parser.add_argument("--gen-tokens", type=int, default=64)
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    from assistant.llm.models import ensure_default_gguf

    model = ensure_default_gguf(args.data_dir / "models")
    with tempfile.TemporaryDirectory(prefix="llama-builds-") as scratch:
        builds = {}
        for spec in args.build:
            name, _, path = spec.partition("=")
            builds[name] = unpacked(Path(path), Path(scratch) / name)  # wheels of one version share a file name
        runs: dict[str, list[dict]] = {name: [] for name in builds}
        for i in range(args.runs):
            for name, build in builds.items():
                r = run_once(build, model, args)
                runs[name].append(r)
                print(f"run {i + 1} {name}: " + (r.get("error") or f"pp {r['pp']:.1f} tok/s, tg {r['tg']:.1f} tok/s"), file=sys.stderr, flush=True)
    base = None
    rows = []
    for name, rs in runs.items():
        ok = [r for r in rs if "error" not in r]
        row = {"build": name, "runs": f"{len(ok)}/{len(rs)}", "pp tok/s": median(r["pp"] for r in ok), "tg tok/s": median(r["tg"] for r in ok)}
        base = base or row
        row["pp ratio"] = f"{row['pp tok/s'] / base['pp tok/s']:.3f}"
        row["tg ratio"] = f"{row['tg tok/s'] / base['tg tok/s']:.3f}"
        row["features"] = ok[0]["features"].replace("CPU : ", "").replace(" = 1", "").replace(" |", "") if ok else rs[0]["error"]
        rows.append(row)
    print(f"{args.prompt_tokens}-token prompt, {args.gen_tokens} generated tokens, {args.threads} threads, medians of {args.runs} interleaved runs")
    print(table(rows, ["build", "runs", "pp tok/s", "pp ratio", "tg tok/s", "tg ratio", "features"]))
    save(args.json, {"args": vars(args) | {"data_dir": str(args.data_dir), "json": str(args.json)}, "runs": runs})


if __name__ == "__main__":
    main()
