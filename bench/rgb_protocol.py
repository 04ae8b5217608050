"""The answer model alone, in RGB's own protocol, beside the assistant's full pipeline.

    .venv/bin/python bench/rgb_protocol.py --gold ../shared/eval/rgb-dev/gold.jsonl \
        --ours eval-report/gold/report.json [--limit N] [--model PATH]

RGB (Chen et al., AAAI 2024) hands the model each question's five passages
(``passages`` in the gold file) with its system prompt; an answer containing
"信息不足" is a refusal, and an answer is right when every must-mention group is in
it. The assistant instead retrieves from the whole pool and checks what the model
says. Prints both in one table (accuracy and false refusals on answerable
questions, rejection on unanswerable ones) and writes the model's answers to
``--out``. ``--ours`` is the report.json of `assistant eval` on the same gold file.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import common

from assistant.evaluation.metrics import coverage, load_gold

# RGB's config/instruction.yaml, Chinese part, word for word.
SYSTEM = (
    "你是一个准确和可靠的人工智能助手，能够借助外部文档回答问题，请注意外部文档可能存在噪声事实性错误。"
    "如果文档中的信息包含了正确答案，你将进行准确的回答。如果文档中的信息不包含答案，你将生成“文档信息不足，"
    "因此我无法基于提供的文档回答该问题。”。如果部分文档中存在与事实不一致的错误，请先生成“提供文档的文档存在事实性错误。”，并生成正确答案。"
)
INSTRUCTION = "文档：\n{DOCS} \n\n问题：\n{QUERY}"
REFUSAL = "信息不足"


def scores(rows: list[dict]) -> dict:
    """accuracy and false refusals over answerable rows, rejection over unanswerable ones."""
    answerable = [r for r in rows if r["kind"] != "unanswerable"]
    unanswerable = [r for r in rows if r["kind"] == "unanswerable"]
    mean = lambda xs: sum(xs) / len(xs) if xs else None  # noqa: E731
    return {
        "answerable": len(answerable),
        "unanswerable": len(unanswerable),
        "accuracy": mean([float(not r["refused"] and r["coverage"] == 1.0) for r in answerable]),
        "false_refusal": mean([float(r["refused"]) for r in answerable]),
        "rejection": mean([float(r["refused"]) for r in unanswerable]),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gold", type=Path, required=True)
    ap.add_argument("--ours", type=Path, help="report.json of `assistant eval --questions GOLD`")
    ap.add_argument("--model", type=Path, help="the GGUF (default: the assistant's default, assembled in --data-dir)")
    ap.add_argument("--data-dir", type=Path, default=common.DEFAULT_DATA)
    ap.add_argument("--limit", type=int)
    ap.add_argument("--max-tokens", type=int, default=512)
    ap.add_argument("--out", type=Path, default=Path("rgb-protocol.json"))
    args = ap.parse_args()

    from assistant.llm.local import LlamaGenerator
    from assistant.llm.models import ensure_default_gguf

    raw = {json.loads(line)["id"]: json.loads(line) for line in args.gold.read_text(encoding="utf-8").splitlines() if line.strip()}
    gold = load_gold(args.gold)[: args.limit]
    model = args.model or ensure_default_gguf(args.data_dir / "models")
    llm = LlamaGenerator(model, n_ctx=4096, seed=0)
    rows = []
    for i, g in enumerate(gold, 1):
        messages = [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": INSTRUCTION.format(DOCS="\n".join(raw[g.id]["passages"]), QUERY=g.question)},
        ]
        t0 = time.perf_counter()
        answer = "".join(llm.stream(messages, max_tokens=args.max_tokens, temperature=0.0)).strip()
        refused = REFUSAL in answer
        rows.append({"id": g.id, "kind": g.kind, "question": g.question, "answer": answer, "refused": refused,
                     "coverage": 0.0 if refused else coverage(answer, g.must_mention), "seconds": round(time.perf_counter() - t0, 1)})
        print(f"{i}/{len(gold)} {g.id} {'refused' if refused else 'answered'} {rows[-1]['seconds']} s", flush=True)
    theirs = scores(rows)
    table = [("the GGUF in RGB's protocol (5 given passages)", theirs)]
    if args.ours:
        ids = {g.id for g in gold}
        ours = [r for r in json.loads(args.ours.read_text(encoding="utf-8"))["questions"] if r["id"] in ids]
        table.append(("the assistant (retrieves from the whole pool)", scores(ours)))
    args.out.write_text(json.dumps({"model": str(model), "scores": dict(table), "answers": rows}, ensure_ascii=False, indent=1), encoding="utf-8")
    fmt = lambda v: "—" if v is None else f"{v:.2f}"  # noqa: E731
    print(f"\n| system | answerable | accuracy | false refusals | unanswerable | rejected |\n|---|---|---|---|---|---|")
    for name, s in table:
        print(f"| {name} | {s['answerable']} | {fmt(s['accuracy'])} | {fmt(s['false_refusal'])} | {s['unanswerable']} | {fmt(s['rejection'])} |")


if __name__ == "__main__":
    main()
