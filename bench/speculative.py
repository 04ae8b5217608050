"""Prompt-lookup speculative decoding: is it worth turning on?

    .venv/bin/python bench/speculative.py [--data-dir bench-data] [--questions 5] [--runs 3] [--draft 10] [--json OUT]

Answers copy phrases from their passages, so llama-cpp-python's
``LlamaPromptLookupDecoding`` (draft tokens looked up in the prompt, checked
in one batch) could generate faster. It needs ``logits_all``: llama.cpp then
computes the output layer for every prompt token too, and llama-cpp-python
keeps a score row per context position. So the cost is paid before the first
word, which is what a user waits for on a CPU.

For each of the first dev questions, the assistant's real final prompt is run
greedily through two ``Llama`` objects of the default GGUF (same threads, batch
and context), one plain and one with the draft model, interleaved, KV cache
cleared before every run. Printed: time to first token, generation tok/s,
whether the two produced the same tokens, and the memory the second object
added.
"""

from __future__ import annotations

import argparse
import re
import time
from pathlib import Path

from common import DEFAULT_DATA, assistant, dev_questions, median, save, table


def rss_mb() -> float:
    return int(re.search(r"VmRSS:\s+(\d+)", Path("/proc/self/status").read_text())[1]) / 1024


def run(llm, tokens: list[int], max_tokens: int, ends) -> dict:
    llm.reset()
    out: list[int] = []
    start = time.perf_counter()
    first = None
    for token in llm.generate(tokens, temp=0.0, repeat_penalty=1.0, reset=True):
        if first is None:
            first = time.perf_counter()
        if ends(token):
            break
        out.append(token)
        if len(out) >= max_tokens:
            break
    end = time.perf_counter()
    return {"ttft": first - start, "gen": end - first, "tokens": out}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--questions", type=int, default=5)
    ap.add_argument("--runs", type=int, default=3, help="runs of each variant per question")
    ap.add_argument("--draft", type=int, default=10, help="draft tokens looked up per step")
    ap.add_argument("--max-tokens", type=int, default=160)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    from llama_cpp.llama_speculative import LlamaPromptLookupDecoding

    from assistant import prompt
    from assistant.llm import llama

    a = assistant(args.data_dir)
    gen = a.generator
    plain = gen._llm
    before = rss_mb()
    spec = llama.load(a.model_path(), n_ctx=gen.n_ctx, n_batch=plain.n_batch, n_threads=gen.n_threads,
                      n_threads_batch=gen.n_threads, seed=gen.seed, verbose=False,
                      # logits_all by hand: llama-cpp-python 0.3.36 turns it on for a draft model
                      # but sizes its score array by the argument, and a prompt longer than
                      # n_batch then fails ("could not broadcast ... into shape (0,)")
                      logits_all=True, draft_model=LlamaPromptLookupDecoding(num_pred_tokens=args.draft))
    loaded = rss_mb()
    ends = llama.end_of_generation(plain)
    samples: dict[str, list[dict]] = {"plain": [], "prompt lookup": []}
    same = 0
    questions = dev_questions(args.questions)
    for g in questions:
        hits = a.index.search(g.question, a.settings.k, a.fusion)
        messages, _, _ = a.fit(g.question, prompt.passages(a.index.with_following(hits, a.settings.follow)),
                               prompt.language(g.question), [])
        tokens = gen._tokens(messages)
        outs = {}
        for _ in range(args.runs):
            for name, llm in (("plain", plain), ("prompt lookup", spec)):
                r = run(llm, tokens, args.max_tokens, ends)
                r["prompt"] = len(tokens)
                samples[name].append(r)
                outs[name] = r["tokens"]
        same += outs["plain"] == outs["prompt lookup"]
        print(f"{g.id}: {len(tokens)} prompt tokens, {len(outs['plain'])} out, "
              f"{'same' if outs['plain'] == outs['prompt lookup'] else 'DIFFERENT'} tokens", flush=True)
    after = rss_mb()

    rows = []
    for name, runs in samples.items():
        rows.append({"variant": name, "runs": len(runs), "ttft s": median(r["ttft"] for r in runs),
                     "prompt tok/s": median(r["prompt"] / r["ttft"] for r in runs),
                     "gen tok/s": median((len(r["tokens"]) - 1) / r["gen"] for r in runs if len(r["tokens"]) > 1),
                     "whole s": median(r["ttft"] + r["gen"] for r in runs)})
    ratio = {"variant": "ratio", **{c: rows[1][c] / rows[0][c] for c in ("ttft s", "prompt tok/s", "gen tok/s", "whole s")}}
    print(f"\nprompt-lookup decoding ({args.draft} draft tokens), medians over {len(questions)} dev questions x {args.runs} runs")
    print(table(rows + [ratio], ["variant", "runs", "ttft s", "prompt tok/s", "gen tok/s", "whole s"]))
    print(f"ratios (lookup / plain): first token {ratio['ttft s']:.2f}x the time, generation {ratio['gen tok/s']:.2f}x the rate, "
          f"whole answer {ratio['whole s']:.2f}x the time; same tokens on {same} of {len(questions)} questions")
    print(f"memory: the second Llama object {loaded - before:+.0f} MB when loaded, {after - before:+.0f} MB after the runs")
    save(args.json, {"rows": rows, "ratio": ratio, "same": same, "questions": len(questions),
                     "rss_mb": {"before": before, "loaded": loaded, "after": after},
                     "samples": {k: [{**r, "tokens": len(r["tokens"])} for r in v] for k, v in samples.items()}})


if __name__ == "__main__":
    main()
