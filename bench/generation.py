"""Generation overhead: the assistant's generator against bare llama-cpp-python.

    .venv/bin/python bench/generation.py [--data-dir bench-data] [--questions 5] [--runs 3] [--json OUT]

For each of the first dev questions, the assistant builds its real final prompt
(retrieved passages included). That token list is then run through
``LlamaGenerator.stream`` and through llama-cpp-python's own
``Llama.create_completion(stream=True)``: one model in memory, the same threads,
batch, greedy sampling and max tokens, the KV cache cleared before every run,
the two interleaved. Prompt processing tok/s = prompt tokens / time to first
token; generation tok/s = (tokens - 1) / (time after the first token).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from common import DEFAULT_DATA, assistant, dev_questions, median, save, table


def bare(llm, tokens: list[int], max_tokens: int) -> dict:
    llm.reset()
    start = time.perf_counter()
    first = None
    for _ in llm.create_completion(tokens, max_tokens=max_tokens, temperature=0.0, repeat_penalty=1.0, stream=True):
        if first is None:
            first = time.perf_counter()
    end = time.perf_counter()
    return {"prompt": len(tokens), "generated": generated(llm, len(tokens)), "ttft": first - start, "gen": end - first}


def generated(llm, prompt_tokens: int) -> int:
    """Tokens decoded after the prompt, counted the same way for both variants
    (streamed pieces are not tokens: a Chinese character can span two)."""
    return llm.n_tokens - prompt_tokens


def ours(gen, messages: list[dict], max_tokens: int) -> dict:
    gen._llm.reset()
    start = time.perf_counter()
    first = None
    for _ in gen.stream(messages, max_tokens=max_tokens):
        if first is None:
            first = time.perf_counter()
    end = time.perf_counter()
    n = gen.last_stats.prompt_tokens
    return {"prompt": n, "generated": generated(gen._llm, n), "ttft": first - start, "gen": end - first}


def rates(r: dict) -> tuple[float, float]:
    return r["prompt"] / r["ttft"], (r["generated"] - 1) / r["gen"] if r["generated"] > 1 else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--questions", type=int, default=5)
    ap.add_argument("--runs", type=int, default=3, help="runs of each variant per question")
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    from assistant import prompt

    a = assistant(args.data_dir)
    gen = a.generator
    rows, samples = [], {"assistant": [], "bare": []}
    for g in dev_questions(args.questions):
        lang = prompt.language(g.question)
        hits = a.index.search(g.question, a.settings.k, a.fusion)
        messages, _, _ = a.fit(g.question, prompt.passages(a.index.with_following(hits, a.settings.follow)), lang, [])
        tokens = gen._tokens(messages)
        for _ in range(args.runs):
            samples["assistant"].append(ours(gen, messages, args.max_tokens))
            samples["bare"].append(bare(gen._llm, tokens, args.max_tokens))
        print(f"{g.id}: {len(tokens)} prompt tokens", flush=True)

    for name, runs in samples.items():
        pp, tg = zip(*(rates(r) for r in runs))
        rows.append({"variant": name, "runs": len(runs), "prompt tok/s": median(pp), "gen tok/s": median(tg),
                     "ttft s": median(r["ttft"] for r in runs), "tokens out": median(r["generated"] for r in runs)})
    ratio = {"variant": "ratio", "prompt tok/s": rows[0]["prompt tok/s"] / rows[1]["prompt tok/s"],
             "gen tok/s": rows[0]["gen tok/s"] / rows[1]["gen tok/s"]}
    print(f"\ngeneration overhead, medians over {args.questions} dev questions x {args.runs} runs, {gen.n_threads} threads")
    print(table(rows + [ratio], ["variant", "runs", "prompt tok/s", "gen tok/s", "ttft s", "tokens out"]))
    print(f"ratios (assistant / bare): prompt processing {ratio['prompt tok/s']:.3f}, generation {ratio['gen tok/s']:.3f}")
    save(args.json, {"rows": rows, "ratio": ratio, "samples": samples})


if __name__ == "__main__":
    main()
