"""Quality metrics over a gold question file. The metric functions are pure."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

from assistant import evidence
from assistant.config import ConfigError

KINDS = {"fact", "list", "compare", "synthesis", "unanswerable"}


@dataclass(frozen=True)
class Gold:
    id: str
    lang: str
    kind: str
    question: str
    sources: tuple[str, ...]
    evidence: tuple[str, ...]
    must_mention: tuple[tuple[str, ...], ...]
    conversation: str = ""  # a turn of this conversation: asked after the turns before it


def _gold(d: dict, **extra) -> Gold:
    return Gold(
        str(d["id"]), d["lang"], d["kind"], d["question"], tuple(d["sources"]),
        tuple(d["evidence"]), tuple(tuple(group) for group in d["must_mention"]), **extra,
    )


def load_gold(path: Path) -> list[Gold]:
    """Read a JSON-lines gold file; a malformed line is an error that names the line.

    A line with ``turns`` is a conversation: each turn is a question of its own
    (``id`` becomes ID.1, ID.2 …), asked with the earlier turns as its history.
    """
    out = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
            if "turns" in d:
                turns = [_gold({"lang": d["lang"], **t, "id": f"{d['id']}.{i}"}, conversation=str(d["id"])) for i, t in enumerate(d["turns"], 1)]
            else:
                turns = [_gold(d)]
        except (ValueError, KeyError, TypeError) as err:
            raise ConfigError(f"{path}:{n}: not a gold question ({type(err).__name__}: {err})") from err
        for g in turns:
            if g.kind not in KINDS:
                raise ConfigError(f"{path}:{n}: unknown kind {g.kind!r} (one of {', '.join(sorted(KINDS))})")
        out += turns
    return out


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def first_hit_rank(retrieved: list[str], evidence: tuple[str, ...]) -> int | None:
    """1-based rank of the first retrieved text that contains an evidence string (whitespace ignored)."""
    wanted = [_squash(e) for e in evidence]
    for rank, text in enumerate(retrieved, 1):
        flat = _squash(text)
        if any(w in flat for w in wanted):
            return rank
    return None


def hit_at(rank: int | None, k: int) -> float:
    return 1.0 if rank is not None and rank <= k else 0.0


def reciprocal_rank(rank: int | None, k: int = 10) -> float:
    return 1.0 / rank if rank is not None and rank <= k else 0.0


def coverage(answer: str, must_mention: tuple[tuple[str, ...], ...]) -> float:
    """Share of must-mention groups satisfied by the answer (a group: any of its alternatives)."""
    if not must_mention:
        return 1.0
    low = answer.lower()
    return sum(any(alt.lower() in low for alt in group) for group in must_mention) / len(must_mention)


STAGES = ("retrieval", "model", "checker")  # where a refusal can come from, in pipeline order


def _stages(rows: list[dict]) -> str | None:
    """How many refusals each stage made, as "retrieval/model/checker" counts."""
    refused = [r for r in rows if r["refused"]]
    if not rows:
        return None
    return "/".join(str(sum(r.get("refused_by") == s for r in refused)) for s in STAGES)


def curve(rows: list[dict], gates: tuple[float, ...] = tuple(i / 10 for i in range(11)), *, tau: float | None = None) -> list[dict]:
    """Accuracy and rejection as the answer gate moves (see assistant.evidence), the
    refusal_p gate held at ``tau`` (None: the assistant's).

    Each row carries the evidence score of its answer (``answer_evidence``, None when
    none was measured), the model's probability of refusing (``check.refusal_p``) and,
    when a gate refused it, what the answer would have covered (``unjudged_coverage``),
    so every gate is scored from one run: at gate g an answer with evidence below g,
    or with refusal_p at tau or above, is refused.
    """
    tau = evidence.REFUSAL_P if tau is None else tau
    return [{"gate": g, **_point(rows, g, tau)} for g in gates]


def refusal_curve(rows: list[dict], taus: tuple[float, ...] = (0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.2, 0.5, 1.01)) -> list[dict]:
    """The same, as the refusal_p gate moves with the answer gate held at the assistant's (1.01: no refusal_p gate)."""
    return [{"refusal_p": t, **_point(rows, evidence.ANSWER_GATE, t)} for t in taus]


def _point(rows: list[dict], gate: float, tau: float) -> dict:
    answerable = [r for r in rows if r["kind"] != "unanswerable" and r["must_mention"]]
    unanswerable = [r for r in rows if r["kind"] == "unanswerable"]

    def stands(r):  # answered at these gates, with the key points it covers
        s = r.get("answer_evidence")
        if s is None:
            return (not r["refused"]), r["coverage"]
        cov = r["coverage"] if not r["refused"] else r.get("unjudged_coverage")
        p = (r.get("check") or {}).get("refusal_p")
        return (cov is not None and s >= gate and (p is None or p < tau)), (cov or 0.0)

    right = [stands(r) for r in answerable]
    return {
        "accuracy": _mean([float(ok and cov == 1.0) for ok, cov in right]),
        "false_refusal": _mean([float(not ok) for ok, _ in right]),
        "refusal": _mean([float(not stands(r)[0]) for r in unanswerable]),
    }


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in [0, 100]); 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def aggregate(rows: list[dict]) -> dict:
    """Metrics over per-question rows (see suite.score_row); None where no question applies.

    Retrieval counts questions with evidence; answer metrics count answerable
    questions (a refused answer covers no key point and cites nothing);
    refusal counts unanswerable ones.
    """
    with_evidence = [r for r in rows if r["evidence"]]
    answerable = [r for r in rows if r["kind"] != "unanswerable"]
    unanswerable = [r for r in rows if r["kind"] == "unanswerable"]
    answered = [r for r in answerable if not r["refused"]]
    markers = sum(r["check"].get("model_markers", 0) for r in answered)
    citations = sum(len(r["cited_sources"]) for r in answered)
    out: dict = {"questions": len(rows)}
    for k in (1, 3, 5, 10):
        out[f"hit@{k}"] = _mean([hit_at(r["rank"], k) for r in with_evidence])
    out["mrr@10"] = _mean([reciprocal_rank(r["rank"]) for r in with_evidence])
    out["coverage"] = _mean([r["coverage"] for r in answerable if r["must_mention"]])
    # RGB's strict accuracy: an answer is right only when every must-mention group is in it.
    out["accuracy"] = _mean([float(r["coverage"] == 1.0) for r in answerable if r["must_mention"]])
    out["refusal"] = _mean([float(r["refused"]) for r in unanswerable])
    out["false_refusal"] = _mean([float(r["refused"]) for r in answerable])
    out["false_refusal_by"] = _stages(answerable)  # which stage refused the answerable ones
    out["refusal_by"] = _stages(unanswerable)
    # The model's own [n] markers that the checker found supported by passage n.
    out["citation_precision"] = sum(r["check"].get("ok", 0) for r in answered) / markers if markers else None
    # After checking: cited passages that come from a gold source, and answers citing one.
    out["gold_source_precision"] = sum(sum(s in r["sources"] for s in r["cited_sources"]) for r in answered) / citations if citations else None
    out["gold_source_recall"] = _mean([float(bool(set(r["cited_sources"]) & set(r["sources"]))) for r in answerable])
    for key in ("retrieve_ms", "ttft_ms", "total_ms", "tokens_per_s"):
        values = [r["timings"][key] for r in rows if r["timings"].get(key)]
        out[f"{key}_median"] = percentile(values, 50) if values else None
        out[f"{key}_p90"] = percentile(values, 90) if values else None
    return out


def breakdown(rows: list[dict]) -> dict:
    """Overall, per kind and per language; per turn when the questions are conversations."""
    groups = {"overall": rows}
    fields = ("kind", "lang", "turn") if any(r.get("turn", 1) > 1 for r in rows) else ("kind", "lang")
    for field in fields:
        for value in sorted({r[field] for r in rows}):
            groups[f"{field}={value}"] = [r for r in rows if r[field] == value]
    return {name: aggregate(group) for name, group in groups.items()}
