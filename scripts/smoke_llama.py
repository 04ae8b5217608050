"""Does the installed llama.cpp run on this CPU? Exit 0 if it does, 1 with one line if not.

Loads the default GGUF with the installed llama-cpp-python in a child process and has
it process a prompt of more than 512 tokens (the size that reaches the matrix kernels:
AMX and AVX-512 faults show up there, not on a few tokens), then write a few tokens.
A child that dies by a signal means a build for instructions this CPU lacks; that is
reported in one line instead of an "Illegal instruction" in the middle of the tests.

    .venv/bin/python scripts/smoke_llama.py [--model FILE.gguf]
"""

import argparse
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import os, sys, time
from assistant.llm import llama
llm = llama.load(sys.argv[1], n_ctx=2048, n_batch=512, n_threads=os.cpu_count(), verbose=False)
text = " ".join(f"第{i}段：本地模型在本机处理文档，数据不会离开这台电脑。" for i in range(28))
tokens = llm.tokenize(text.encode())
assert len(tokens) >= 512, len(tokens)
t = time.perf_counter()
out = llm.create_completion(tokens, max_tokens=8, temperature=0.0)
print(f"{len(tokens)} prompt tokens and {out['usage']['completion_tokens']} generated in {time.perf_counter() - t:.1f} s")
"""

REBUILD = ('CMAKE_ARGS="$(python3.11 scripts/llama_cmake_args.py)" .venv/bin/pip install '
           '--force-reinstall --no-deps --no-cache-dir llama-cpp-python==0.3.36')


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="a GGUF (default: the bundled model, assembled in a temporary folder)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="smoke-llama-") as tmp:
        model = args.model
        if model is None:
            from assistant.llm.models import ensure_default_gguf

            model = ensure_default_gguf(Path(tmp) / "models", progress=False)
        started = time.perf_counter()
        child = subprocess.run([sys.executable, "-c", CHILD, str(model)], capture_output=True, text=True)
    if child.returncode < 0:
        name = signal.Signals(-child.returncode).name
        print(f"smoke: llama.cpp died by {name} processing a 512-token prompt: it was built for instructions "
              f"this CPU cannot run; rebuild it: {REBUILD}", file=sys.stderr)
        return 1
    if child.returncode != 0:
        last = (child.stderr.strip().splitlines() or ["no output"])[-1]
        print(f"smoke: llama.cpp failed (exit {child.returncode}): {last}", file=sys.stderr)
        return 1
    print(f"smoke: llama.cpp runs on this CPU: {child.stdout.strip()} ({time.perf_counter() - started:.1f} s with loading)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
