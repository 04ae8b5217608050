"""Every benchmark, one after another, each printing its table and writing its JSON.

    .venv/bin/python bench/all.py [--data-dir bench-data] [--quick]

Results go to DATA/results/NAME.json. The first run builds what the benchmarks
share under DATA (the corpus index, the model, the synthetic indexes) and is
slower. Benchmarks measure this machine: run them with nothing else busy.
--quick runs small sizes, to check that everything works (about 10 minutes).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from common import DEFAULT_DATA

HERE = Path(__file__).resolve().parent

RUNS = {  # name: (full arguments, quick arguments)
    "generation": ([], ["--questions", "1", "--runs", "1"]),
    "latency": ([], ["--limit", "3"]),
    "cold_ask": (["--baseline", "cb94831"], ["--runs", "1"]),
    "embed": ([], ["--runs", "1"]),
    "speculative": ([], ["--questions", "1", "--runs", "1"]),
    "ingest": ([], ["--sizes", "200,400"]),
    "formats": ([], ["--formats", "txt,pdf,docx,pptx,xlsx,scanned-no-ocr"]),
    "search_scale": ([], ["--sizes", "2000,10000"]),
    "memory": ([], ["--questions", "2"]),
    "forget": ([], ["--sizes", "1000,10000", "--repeat", "1"]),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("only", nargs="*", help=f"run only these: {' '.join(RUNS)}")
    args = ap.parse_args()
    results = args.data_dir / "results"
    for name, (full, quick) in RUNS.items():
        if args.only and name not in args.only:
            continue
        cmd = [sys.executable, str(HERE / f"{name}.py"), "--data-dir", str(args.data_dir), "--json", str(results / f"{name}.json"), *(quick if args.quick else full)]
        print(f"\n=== {name}: {' '.join(cmd[1:])}", flush=True)
        if subprocess.run(cmd).returncode:
            sys.exit(f"{name} failed")


if __name__ == "__main__":
    main()
