"""Question latency in a warm process (as in chat or the web page), over the dev questions.

    .venv/bin/python bench/latency.py [--data-dir bench-data] [--limit N] [--json OUT] [--focus]

Per question, as the user waits: "preview_ms" from asking to the quoted sentences
(assistant.preview; none for some questions) and "first_word_ms" to the model's first
token, the wait before this version showed anything. Then from the answer's own timings: retrieval, prompt building
(following chunks, passages, token counting), citation checking, prompt tokens,
time to first token and total. "overhead" is everything except llama.cpp's own
work: retrieval + prompt building + checking (a translation or rewrite by the
model is llama.cpp work and is reported apart). Then a three-turn chat: how many
prompt tokens each turn reused from the cache and how many it processed.
With --focus, the questions are first asked with whole passages (the default: the
baseline) and then focused (the `focus` setting, assistant.focus), in the same process, and the two
medians are printed side by side. The whole pass runs first, and each question's
prompt differs from the one before it past the system turn, so neither pass reads
the other's passages from the cache.
For a cold `assistant ask`, see bench/cold_ask.py.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

from common import DEFAULT_DATA, assistant, dev_questions, median, p90, save, table


FIELDS = ["preview_ms", "first_word_ms", "retrieve_ms", "prompt_ms", "check_ms", "overhead_ms", "rewrite_ms", "prompt_tokens", "ttft_ms", "total_ms"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--limit", type=int, help="only the first N dev questions")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--focus", action="store_true", help="ask every question with whole passages (the baseline), then focused (assistant.focus)")
    args = ap.parse_args()

    a = assistant(args.data_dir)
    a.generator, a.index.warm()  # warm: loading is start-up, measured by cold_ask.py
    baseline = None
    if args.focus:
        a.settings = replace(a.settings, focus=False)
        baseline = questions(a, args.limit)
        a.settings = replace(a.settings, focus=True)
    per_question = questions(a, args.limit)
    summary = [{"figure": k, "median": median(r[k] for r in per_question if k in r), "p90": p90(r[k] for r in per_question if k in r)}
               for k in FIELDS]
    print(f"\nwarm question latency over {len(per_question)} dev questions (ms, tokens)")
    print(table(summary, ["figure", "median", "p90"]))
    if baseline:
        rows = []
        for k in ("prompt_tokens", "first_word_ms", "ttft_ms", "total_ms"):
            before, now = median(r[k] for r in baseline if k in r), median(r[k] for r in per_question if k in r)
            rows.append({"figure": k, "whole passages": before, "focused": now, "ratio": round(now / before, 2)})
        print("\nthe same questions with whole passages (baseline, same process) and focused (medians)")
        print(table(rows, ["figure", "whole passages", "focused", "ratio"]))
    shown = [r for r in per_question if "preview_ms" in r and "first_word_ms" in r]
    if shown:
        ratio = median(r["preview_ms"] for r in shown) / median(r["first_word_ms"] for r in shown)
        print(f"something on screen: quotes for {len(shown)} of {len(per_question)} questions, "
              f"median {median(r['preview_ms'] for r in shown):.0f} ms vs first model word {median(r['first_word_ms'] for r in shown):.0f} ms ({ratio:.3f}x)")

    # A three-turn chat as `assistant chat` runs it: each rewrite runs aside, the conversation's cache is kept.
    history: list[dict] = []
    chat = []
    for turn, question in enumerate(["开源大模型有哪些优势？", "它的劣势呢？", "那闭源模型呢？"], 1):
        answer = a.ask(question, history=history)
        s = a.generator.last_stats
        chat.append({"turn": turn, "question": question, "prompt tokens": s.prompt_tokens, "reused from cache": s.cached_tokens,
                     "processed": s.prompt_tokens - s.cached_tokens, "ttft ms": answer.timings["ttft_ms"]})
        history += [{"role": "user", "content": question}, {"role": "assistant", "content": answer.text}]
    print("\nchat, turn by turn (prompt tokens)")
    print(table(chat, list(chat[0])))
    save(args.json, {"per_question": per_question, "summary": summary, "chat": chat, "whole_passages": baseline})


def questions(a, limit: int | None) -> list[dict]:
    """Each dev question asked once: when the quotes and the first word came, and the answer's timings."""
    per_question = []
    for g in dev_questions(limit):
        seen: dict[str, float] = {}
        started = time.perf_counter()

        def mark(name: str):
            return lambda *_: seen.setdefault(name, (time.perf_counter() - started) * 1000)

        t = a.ask(g.question, on_preview=mark("preview_ms"), on_token=mark("first_word_ms")).timings
        t["overhead_ms"] = t["retrieve_ms"] + t.get("prompt_ms", 0) + t.get("check_ms", 0)
        per_question.append({"id": g.id, **{k: t.get(k, 0) for k in FIELDS if k not in ("preview_ms", "first_word_ms")}, **seen})
        print(f"{g.id}: quotes {seen.get('preview_ms', float('nan')):.0f} ms, first word {seen.get('first_word_ms', float('nan')):.0f} ms, "
              f"overhead {t['overhead_ms']:.0f} ms, {t.get('prompt_tokens', 0)} prompt tokens, total {t['total_ms'] / 1000:.1f} s", flush=True)
    return per_question


if __name__ == "__main__":
    main()
