"""Peak memory (RSS) of the assistant's processes, against bare llama-cpp-python with the same model.

    .venv/bin/python bench/memory.py [--data-dir bench-data] [--questions 10] [--json OUT]

Rows, each a fresh process:
  bare llama.cpp     loads the GGUF and answers one corpus prompt: the floor
  assistant ask      the real `assistant ask` command
  web page process   the page's server (Gradio, started on loopback) and engine after N questions
Ingest of a large corpus: see bench/ingest.py (its peak RSS column).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from common import DEFAULT_DATA, ROOT, assistant, dev_questions, save, table

BARE = r"""
import sys
from assistant.llm import llama  # the binding: llama_cpp and a few small modules, nothing else of the assistant
llm = llama.load(sys.argv[1], n_ctx=4096, verbose=False)
prompt = "<|im_start|>user\n" + open(sys.argv[2], encoding="utf-8").read()[:1500] + "\n开源模型有什么优势？<|im_end|>\n<|im_start|>assistant\n"
llm.create_completion(prompt, max_tokens=64, temperature=0.0)
"""

PAGE = r"""
import json, sys
from assistant.privacy.offline import go_offline; go_offline()
from assistant import config
from assistant.web import ui
from assistant.answer import Assistant
a = Assistant(config.load({"data_dir": sys.argv[1]}), progress=False)
app = ui.build_app(a)
app.launch(server_name="127.0.0.1", prevent_thread_lock=True, quiet=True)
for q in json.loads(sys.argv[2]):
    a.ask(q)
app.close()
print(next(l.split()[1] for l in open("/proc/self/status") if l.startswith("VmHWM")))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--questions", type=int, default=10, help="questions asked in the web page process")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    import json

    a = assistant(args.data_dir)
    gguf = str(a.model_path())
    questions = [g.question for g in dev_questions(args.questions)]
    rows = []
    mb, _ = run_measured([sys.executable, "-c", BARE, gguf, str(sorted((ROOT / "corpus").iterdir())[0])])
    rows.append({"process": "bare llama.cpp, one answer", "peak RSS MB": mb})
    mb, _ = run_measured([str(Path(sys.executable).parent / "assistant"), "ask", "--data-dir", str(args.data_dir), questions[0]])
    rows.append({"process": "assistant ask", "peak RSS MB": mb})
    mb, out = run_measured([sys.executable, "-c", PAGE, str(args.data_dir), json.dumps(questions, ensure_ascii=False)])
    rows.append({"process": f"web page process after {len(questions)} questions", "peak RSS MB": float(out.strip().splitlines()[-1]) / 1024})
    for r in rows:
        r["x bare"] = r["peak RSS MB"] / rows[0]["peak RSS MB"]
    print("\npeak resident memory")
    print(table(rows, ["process", "peak RSS MB", "x bare"]))
    save(args.json, {"rows": rows})


def run_measured(cmd: list[str]) -> tuple[float, str]:
    """Start cmd and reap it with wait4, which returns the child's own peak RSS."""
    with tempfile.TemporaryFile() as errors:  # a pipe could fill and stall the child while we read stdout
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=errors, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
        out = proc.stdout.read().decode()
        _, status, usage = os.wait4(proc.pid, 0)
        errors.seek(0)
        err = errors.read().decode(errors="replace")
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        sys.exit(f"{' '.join(cmd[:3])}: " + (err.strip().splitlines() or ["failed"])[-1])
    return usage.ru_maxrss / 1024, out


if __name__ == "__main__":
    main()
