"""Judge the model's answers of an earlier `assistant eval` run again with the current checker.

    .venv/bin/python bench/rescore.py eval-report/gold/report.json [--gate 0.5]

Each question row of the report keeps the model's own text (``raw``) and the
passages it read, so what happens after generation (echo filter, citation check,
evidence gate) can be measured again without running the model: with the same
prompt and retrieval, greedy generation gives the same text. Prints the metrics
as `assistant eval` does, and the accuracy/rejection curves. Retrieval-gate
refusals of that run stay refusals (no text was generated for them); the
retrieval gate is applied to the others.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import common  # noqa: F401  (the project on the path, offline)

from assistant import evidence, prompt
from assistant.evaluation import suite
from assistant.evaluation.metrics import breakdown, coverage, curve, refusal_curve
from assistant.prompt import Passage
from index.types import Chunk, Hit


def passages(row: dict) -> list[Passage]:
    """The passages as the model saw them: the header is kept as the chunk's title."""
    out = []
    for i, p in enumerate(row["passages"]):
        chunk = Chunk(f"p{i}", p["source"], p["header"], (), p["text"], 0, len(p["text"]))
        out.append(Passage((Hit(chunk, 1.0),), p["text"], 0, len(p["text"])))
    return out


def rejudge(row: dict, gate: float, retrieval_gate: float, refusal_p: bool = True) -> dict:
    if not row.get("raw") or not row.get("passages"):
        return row  # refused before the model was asked: nothing to judge again
    mm = tuple(tuple(g) for g in row["must_mention"])
    found = passages(row)
    query = row["question"]  # as the assistant's gates read it
    retrieval = round(evidence.retrieval_score(query, found), 3) if prompt.language(row["question"]) == "zh" else None
    j = evidence.judge(query, row["raw"], found, cross_lingual=prompt.language(row["question"]) != "zh", gate=gate,
                       refusal_p=(row.get("check") or {}).get("refusal_p") if refusal_p else None)
    text = j.checked.text
    refused_by = "retrieval" if retrieval is not None and retrieval < retrieval_gate else j.refused_by
    refused = bool(refused_by)
    return {
        **row,
        "refused": refused,
        "refused_by": refused_by,
        "coverage": 0.0 if refused else coverage(text, mm),
        "answer": text,
        "cited_sources": [] if refused else list(dict.fromkeys(found[c.n - 1].chunk.source for c in j.checked.citations)),
        "retrieval_evidence": retrieval,
        "answer_evidence": j.score,
        "unjudged_coverage": coverage(text, mm) if refused and j.checked.citations else None,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("report", type=Path)
    ap.add_argument("--gate", type=float, default=evidence.ANSWER_GATE, help="answer gate (default: the assistant's)")
    ap.add_argument("--retrieval-gate", type=float, default=evidence.RETRIEVAL_GATE, help="retrieval gate (default: the assistant's)")
    ap.add_argument("--no-refusal-p", action="store_true", help="without the gate on the model's probability of refusing")
    ap.add_argument("--out", type=Path, help="write the judged rows here (report.json's format)")
    ap.add_argument("--show", action="store_true", help="print every question that is not right")
    args = ap.parse_args()
    rows = [rejudge(r, args.gate, args.retrieval_gate, not args.no_refusal_p) for r in json.loads(args.report.read_text(encoding="utf-8"))["questions"]]
    print(suite.table(breakdown(rows)))
    if args.out:
        args.out.write_text(json.dumps({"questions": rows}, ensure_ascii=False, indent=1), encoding="utf-8")
    print(suite.curve_table(curve(rows)))
    print(suite.curve_table(refusal_curve(rows)))
    if args.show:
        for r in rows:
            wrong = r["refused"] != (r["kind"] == "unanswerable") or (r["kind"] != "unanswerable" and r["coverage"] < 1)
            if wrong:
                print(f"\n{r['id']} {r['kind']} {r['question']} -> {r['refused_by'] or 'answered'} "
                      f"(retrieval {r['retrieval_evidence']}, answer {r['answer_evidence']}) must {r['must_mention']}")
                print("   raw:", r["raw"][:160].replace("\n", " | "))
                print("   kept:", r["answer"][:160].replace("\n", " | "))


if __name__ == "__main__":
    main()
