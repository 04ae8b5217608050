"""`assistant eval`: run gold questions through the real pipeline and report.

Writes ``report.json``, ``report.md`` and ``by_kind.png`` into the output folder.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from assistant import evidence, prompt
from assistant.evaluation.metrics import Gold, breakdown, coverage, curve, first_hit_rank, refusal_curve

RETRIEVAL_DEPTH = 10  # hit@10 and MRR@10 need ten ranked chunks

COLUMNS = [  # (key, header, format)
    ("questions", "n", "{:.0f}"),
    ("hit@1", "hit@1", "{:.2f}"),
    ("hit@3", "hit@3", "{:.2f}"),
    ("hit@5", "hit@5", "{:.2f}"),
    ("hit@10", "hit@10", "{:.2f}"),
    ("mrr@10", "MRR@10", "{:.2f}"),
    ("coverage", "key points", "{:.2f}"),
    ("accuracy", "accuracy (strict)", "{:.2f}"),
    ("refusal", "refused (unansw.)", "{:.2f}"),
    ("refusal_by", "by R/M/C", "{}"),
    ("false_refusal", "false refusals", "{:.2f}"),
    ("false_refusal_by", "by R/M/C", "{}"),
    ("citation_precision", "cit. precision", "{:.2f}"),
    ("gold_source_recall", "gold source cited", "{:.2f}"),
    ("ttft_ms_median", "TTFT ms (med)", "{:.0f}"),
    ("total_ms_median", "total ms (med)", "{:.0f}"),
]


def score_row(gold: Gold, answer, ranked_texts: list[str]) -> dict:
    """One question's outcome: what metrics.aggregate reads."""
    return {
        "id": gold.id,
        "lang": gold.lang,
        "kind": gold.kind,
        "question": gold.question,
        "sources": list(gold.sources),
        "evidence": list(gold.evidence),
        "must_mention": [list(g) for g in gold.must_mention],
        "rank": first_hit_rank(ranked_texts, gold.evidence) if gold.evidence else None,
        "refused": answer.refused,
        "refused_by": answer.refused_by,
        "coverage": 0.0 if answer.refused else coverage(answer.text, gold.must_mention),
        "cited_sources": [c["source"] for c in answer.citations],
        "retrieval_evidence": answer.check.get("retrieval_evidence"),
        "answer_evidence": answer.check.get("answer_evidence"),
        "unjudged_coverage": coverage(answer.check["unjudged"], gold.must_mention) if "unjudged" in answer.check else None,
        "check": answer.check,
        "answer": answer.text,
        "raw": answer.raw,  # the model's own text, before the echo filter and the citation check
        "passages": [{"header": prompt.header(p), "text": p.text, "source": p.chunk.source} for p in answer.passages],
        "search_query": answer.search_query,
        "timings": answer.timings,
    }


def run(assistant, questions: list[Gold], *, k: int, progress: bool = True) -> list[dict]:
    from tqdm import tqdm

    rows = []
    history: list[dict] = []
    for i, gold in enumerate(tqdm(questions, desc="eval", unit="question", disable=not progress)):
        if not gold.conversation or i == 0 or questions[i - 1].conversation != gold.conversation:
            history = []  # a new conversation, or a single question
        retrieval = assistant.retrieve(gold.question, history=history, k=max(RETRIEVAL_DEPTH, k))
        answer = assistant.ask(gold.question, history=history, k=k, retrieval=retrieval)
        rows.append({**score_row(gold, answer, [h.chunk.text for h in retrieval.hits]), "turn": len(history) // 2 + 1})
        if gold.conversation:
            history = history + [{"role": "user", "content": gold.question}, {"role": "assistant", "content": answer.text}]
    return rows


def table(results: dict) -> str:
    headers = ["group"] + [h for _, h, _ in COLUMNS]
    lines = [headers]
    for group, metrics in results.items():
        lines.append([group] + ["—" if metrics.get(key) is None else fmt.format(metrics[key]) for key, _, fmt in COLUMNS])
    widths = [max(len(row[i]) for row in lines) for i in range(len(headers))]
    return "\n".join("  ".join(cell.rjust(w) if i else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths))) for row in lines)


def curve_table(points: list[dict]) -> str:
    """An accuracy/rejection curve (``curve`` or ``refusal_curve``) as lines "gate  accuracy  false refusals  refused (unansw.)"."""
    fmt = lambda v: "—" if v is None else f"{v:.2f}"  # noqa: E731
    key, head, spec = ("gate", "answer gate", ".1f") if "gate" in points[0] else ("refusal_p", "refusal_p gate", ".3g")
    lines = [f"{head}  accuracy  false refusals  refused (unansw.)"]
    lines += [f"{p[key]:>{len(head)}{spec}}  {fmt(p['accuracy']):>8}  {fmt(p['false_refusal']):>14}  {fmt(p['refusal']):>17}" for p in points]
    return "\n".join(lines)


def markdown(results: dict, meta: dict, chart: str | None, points: list[dict] | None = None,
             refusal_points: list[dict] | None = None) -> str:
    head = "| group | " + " | ".join(h for _, h, _ in COLUMNS) + " |\n|---|" + "---|" * len(COLUMNS) + "\n"
    body = "".join(
        f"| {group} | " + " | ".join("—" if m.get(key) is None else fmt.format(m[key]) for key, _, fmt in COLUMNS) + " |\n"
        for group, m in results.items()
    )
    lines = [
        f"# Evaluation: {meta['questions_file']}",
        "",
        f"{meta['when']}; answer model `{meta['model']}`, embedder `{meta['embedder']}`, k = {meta['k']}.",
        "",
        head + body,
        "Retrieval: a hit is a ranked chunk containing an evidence string (whitespace ignored). "
        "Key points: share of must-mention groups in the answer; accuracy (strict, as RGB scores): "
        "answers holding every group. By R/M/C: refusals made by the retrieval gate, by the model itself, "
        "by the citation checker. Citation precision: the model's own [n] "
        "markers that the citation checker found supported by passage n. Gold source cited: answerable "
        "questions whose checked citations include a gold source.",
    ]
    if points:
        lines += ["", f"Accuracy against rejection as the answer gate moves (the assistant's is {meta['gate']}):", "",
                  "```", curve_table(points), "```"]
    if refusal_points:
        lines += ["", f"The same as the gate on the model's probability of refusing moves (the assistant's is {meta['refusal_p']}; "
                  "1.01: none):", "", "```", curve_table(refusal_points), "```"]
    if chart:
        lines += ["", f"![scores by kind]({chart})"]
    return "\n".join(lines) + "\n"


def bar_chart(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    kinds = [g for g in results if g.startswith("kind=")]
    series = [("hit@5", "hit@5"), ("coverage", "key points"), ("gold_source_recall", "gold source cited"), ("refusal", "refused")]
    fig, ax = plt.subplots(figsize=(8, 3.6), dpi=120)
    width = 0.8 / len(series)
    for i, (key, label) in enumerate(series):
        values = [results[g].get(key) or 0.0 for g in kinds]
        ax.bar([x + i * width for x in range(len(kinds))], values, width, label=label)
    ax.set_xticks([x + width * (len(series) - 1) / 2 for x in range(len(kinds))], [g.split("=", 1)[1] for g in kinds])
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("score")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=len(series), frameon=False)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write_reports(rows: list[dict], out_dir: Path, meta: dict) -> dict:
    out_dir.mkdir(parents=True, exist_ok=True)
    results = breakdown(rows)
    points, refusal_points = curve(rows), refusal_curve(rows)
    meta = {**meta, "when": datetime.now(timezone.utc).isoformat(timespec="seconds"), "gate": evidence.ANSWER_GATE,
            "refusal_p": evidence.REFUSAL_P}
    (out_dir / "report.json").write_text(
        json.dumps({"meta": meta, "results": results, "curve": points, "refusal_curve": refusal_points, "questions": rows},
                   ensure_ascii=False, indent=1), encoding="utf-8"
    )
    bar_chart(results, out_dir / "by_kind.png")
    (out_dir / "report.md").write_text(markdown(results, meta, "by_kind.png", points, refusal_points), encoding="utf-8")
    return results
