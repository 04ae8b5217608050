"""Embedded versus server mode, and ten questions at once against one model server.

    .venv/bin/python bench/servers.py [--data-dir bench-servers] [--questions 5] [--json OUT]

Starts a Chroma server (`chroma run`) and llama-cpp-python's server on free
loopback ports with the commands `assistant serve` uses, ingests the bundled
corpus into both the embedded store and the server, then:

1. asks the first N questions of eval/dev.jsonl in embedded mode (llama.cpp in
   this process) and in server mode, interleaved question by question so both
   see the same machine load and the same order of prompts (llama.cpp reuses the
   KV cache of a common prompt prefix in both, which can shift near-ties);
   reports median time to first token and total per mode, and whether the
   answers and citations are the same;
2. asks ten different questions from ten threads at once through one shared
   Assistant (as the web page shares it) with the default settings; reports the
   wall time and each question's latency.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TEN = [
    "开源大模型的盈利通常建立在什么基础上？",
    "闭源模型主要通过什么方式盈利？",
    "2018年自然语言处理领域出现了什么里程碑式的研究？",
    "LLaMA的使用条款对拥有多少用户以上的应用程序的商业用途有限制？",
    "什么是闭源大模型的锁定效应？",
    "为什么开源软件有助于提高安全性？",
    "随着神经网络的兴起，哪类方法成为了处理序列数据的主流？",
    "开放源代码倡议在哪天首次发布了开源AI定义的暂行版本？",
    "闭源大模型是通过什么手段来提高安全性的？",
    "文章作者在结论中提到了谁曾说过开源模型会越来越落后？",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", type=Path, default=ROOT / "bench-servers")
    ap.add_argument("--questions", type=int, default=5)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    from assistant.privacy.offline import contain, go_offline

    go_offline()
    from assistant import config
    from assistant.serve import children, stack
    from assistant.answer import Assistant
    from assistant.llm.models import ensure_default_gguf

    data = args.data_dir.resolve()
    contain(data)
    base = config.load({"data_dir": data}, env={})
    gguf = ensure_default_gguf(base.models_dir, progress=False)
    logs = base.logs_dir
    chroma_port, llm_port = free_port(), free_port()
    chroma = children.Child("chroma", children.start("chroma", stack.chroma_command(data / "bench-chroma", "127.0.0.1", chroma_port), logs / "bench-chroma.log"),
                         f"http://127.0.0.1:{chroma_port}", f"http://127.0.0.1:{chroma_port}/api/v2/heartbeat", logs / "bench-chroma.log", {})
    llm = children.Child("model", children.start("llm", stack.llm_command(gguf, "127.0.0.1", llm_port, base), logs / "bench-llm.log"),
                      f"http://127.0.0.1:{llm_port}/v1", f"http://127.0.0.1:{llm_port}/v1/models", logs / "bench-llm.log", {})
    try:
        for child in (chroma, llm):
            children.wait_ready(child)
        embedded = Assistant(base, progress=False)
        server = Assistant(replace(base, chroma_url=chroma.url, llm_url=llm.url), progress=False)
        for a in (embedded, server):
            a.ingest([base.corpus])
            a.index.warm()
            a.generator
        gold = [json.loads(line) for line in (ROOT / "eval" / "dev.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]
        rows = []
        for q in gold[: args.questions]:
            pair = {}
            for mode, a in (("embedded", embedded), ("server", server)):
                answer = a.ask(q["question"])
                pair[mode] = {"ttft_ms": answer.timings["ttft_ms"], "total_ms": answer.timings["total_ms"], "answer": answer.text,
                              "citations": [(c["n"], c["chunk_id"], c["status"]) for c in answer.citations]}
            pair["same"] = pair["embedded"]["answer"] == pair["server"]["answer"] and pair["embedded"]["citations"] == pair["server"]["citations"]
            rows.append({"id": q["id"], **pair})
            print(f"{q['id']}: embedded ttft {pair['embedded']['ttft_ms'] / 1000:.1f} s total {pair['embedded']['total_ms'] / 1000:.1f} s | "
                  f"server ttft {pair['server']['ttft_ms'] / 1000:.1f} s total {pair['server']['total_ms'] / 1000:.1f} s | same: {pair['same']}", flush=True)

        latency: dict[str, float] = {}
        answers: dict[str, object] = {}

        def ask(q: str) -> None:
            t = time.perf_counter()
            answers[q] = server.ask(q)
            latency[q] = time.perf_counter() - t

        t0 = time.perf_counter()
        threads = [threading.Thread(target=ask, args=(q,)) for q in TEN]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
        lat = sorted(latency.values())
        result = {
            "dev": rows,
            "median": {mode: {k: statistics.median(r[mode][k] for r in rows) for k in ("ttft_ms", "total_ms")} for mode in ("embedded", "server")},
            "same_answers": sum(r["same"] for r in rows),
            "concurrent": {"wall_s": wall, "latency_s": lat, "median_s": statistics.median(lat),
                           "answered": len(answers), "cited": sum(bool(a.citations) for a in answers.values()),
                           "completion_tokens": [answers[q].timings["completion_tokens"] for q in TEN]},
        }
        m = result["median"]
        print(f"\nfirst {len(rows)} dev questions, median: embedded ttft {m['embedded']['ttft_ms'] / 1000:.1f} s, total {m['embedded']['total_ms'] / 1000:.1f} s; "
              f"server ttft {m['server']['ttft_ms'] / 1000:.1f} s, total {m['server']['total_ms'] / 1000:.1f} s; "
              f"same answer and citations: {result['same_answers']} of {len(rows)}")
        c = result["concurrent"]
        print(f"ten concurrent questions: wall {c['wall_s']:.1f} s; latency min {lat[0]:.1f} s, median {c['median_s']:.1f} s, max {lat[-1]:.1f} s; "
              f"{c['answered']} answered, {c['cited']} with citations")
        print("latencies (s): " + ", ".join(f"{x:.1f}" for x in lat))
        if args.json:
            args.json.write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
        return 0
    finally:
        for child in (llm, chroma):
            children.stop_process(child.proc)


if __name__ == "__main__":
    sys.exit(main())
