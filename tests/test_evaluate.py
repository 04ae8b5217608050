import json

import pytest

from assistant.config import ConfigError
from assistant.evaluation import metrics


def test_first_hit_rank_ignores_whitespace():
    ranked = ["无关", "开源 模型的盈利\n通常建立在服务上", "开源模型的盈利通常建立在服务上"]
    assert metrics.first_hit_rank(ranked, ("开源模型的盈利通常建立在服务上",)) == 2
    assert metrics.first_hit_rank(ranked, ("不存在",)) is None


@pytest.mark.parametrize("rank, k, hit, rr", [(1, 1, 1.0, 1.0), (3, 1, 0.0, 1 / 3), (3, 5, 1.0, 1 / 3), (None, 10, 0.0, 0.0), (11, 10, 0.0, 0.0)])
def test_hit_and_reciprocal_rank(rank, k, hit, rr):
    assert metrics.hit_at(rank, k) == hit
    assert metrics.reciprocal_rank(rank, 10) == pytest.approx(rr)


def test_coverage_counts_groups_with_any_alternative():
    groups = (("匿名化",), ("加密",), ("审计", "安全审计"), ("cost", "费用"))
    assert metrics.coverage("采用匿名化和安全审计，COST 很低", groups) == 0.75
    assert metrics.coverage("anything", ()) == 1.0


def test_percentile_nearest_rank():
    assert metrics.percentile([5, 1, 3, 2, 4], 50) == 3
    assert metrics.percentile(list(range(1, 11)), 90) == 9
    assert metrics.percentile([], 90) == 0.0


def _row(kind="fact", rank=1, refused=False, cov=1.0, cited=("a.txt",), sources=("a.txt",), check=None, ttft=100.0):
    return {
        "kind": kind, "lang": "zh", "evidence": ["x"] if kind != "unanswerable" else [],
        "must_mention": [["x"]] if kind != "unanswerable" else [], "sources": list(sources),
        "rank": rank, "refused": refused, "coverage": cov, "cited_sources": list(cited),
        "check": check or {"model_markers": 2, "ok": 1}, "timings": {"ttft_ms": ttft, "total_ms": ttft * 2},
    }


def test_aggregate_on_a_known_set():
    rows = [
        _row(rank=1),
        _row(rank=4, cov=0.5, cited=("b.txt", "a.txt")),
        _row(rank=None, refused=True, cov=0.0, cited=()),
        _row(kind="unanswerable", rank=None, refused=True, cited=(), sources=()),
        _row(kind="unanswerable", rank=None, refused=False, cited=("a.txt",), sources=()),
    ]
    m = metrics.aggregate(rows)
    assert m["hit@1"] == pytest.approx(1 / 3) and m["hit@5"] == pytest.approx(2 / 3)
    assert m["mrr@10"] == pytest.approx((1 + 0.25 + 0) / 3)
    assert m["coverage"] == pytest.approx(0.5)
    assert m["refusal"] == 0.5 and m["false_refusal"] == pytest.approx(1 / 3)
    assert m["citation_precision"] == pytest.approx(2 / 4)  # ok / markers over the two answered
    assert m["gold_source_precision"] == pytest.approx(2 / 3)
    assert m["gold_source_recall"] == pytest.approx(2 / 3)
    assert m["ttft_ms_median"] == 100.0


def test_strict_accuracy_and_the_stage_of_each_refusal():
    rows = [
        _row(cov=1.0),
        _row(cov=0.5),  # one group missing: not correct, though half covered
        {**_row(refused=True, cov=0.0, cited=()), "refused_by": "checker"},
        {**_row(refused=True, cov=0.0, cited=()), "refused_by": "model"},
        {**_row(kind="unanswerable", refused=True, cited=(), sources=()), "refused_by": "retrieval"},
        {**_row(kind="unanswerable", refused=True, cited=(), sources=()), "refused_by": "model"},
        _row(kind="unanswerable", refused=False, cited=("a.txt",), sources=()),
    ]
    m = metrics.aggregate(rows)
    assert m["accuracy"] == pytest.approx(1 / 4)
    assert m["coverage"] == pytest.approx(1.5 / 4)
    assert m["false_refusal_by"] == "0/1/1"  # retrieval / model / checker
    assert m["refusal_by"] == "1/1/0"


def test_the_curves_score_every_gate_from_one_run():
    def judged(kind="fact", evidence=1.0, p=0.0, refused=False, cov=1.0):
        row = _row(kind=kind, refused=refused, cov=0.0 if refused else cov, check={"refusal_p": p})
        return {**row, "answer_evidence": evidence, "unjudged_coverage": cov if refused else None}

    rows = [
        judged(evidence=0.9, p=0.001),  # right, sure of itself
        judged(evidence=0.6, p=0.04, refused=True),  # right, held back by a refusal_p gate of 0.03
        judged(kind="unanswerable", evidence=0.9, p=0.2, refused=True),
        judged(kind="unanswerable", evidence=0.4, p=0.001, refused=True),
        {**_row(kind="unanswerable", refused=True, cited=()), "answer_evidence": None},  # the model refused
    ]
    at = {p["gate"]: p for p in metrics.curve(rows, tau=0.03)}
    assert (at[0.5]["accuracy"], at[0.5]["refusal"]) == (0.5, 1.0)
    assert (at[0.0]["accuracy"], at[0.0]["refusal"]) == (0.5, pytest.approx(2 / 3))
    assert (at[0.7]["accuracy"], at[0.7]["false_refusal"]) == (0.5, 0.5)
    by_p = {p["refusal_p"]: p for p in metrics.refusal_curve(rows)}
    assert (by_p[0.05]["accuracy"], by_p[0.05]["refusal"]) == (1.0, 1.0)
    assert (by_p[1.01]["accuracy"], by_p[1.01]["refusal"]) == (1.0, pytest.approx(2 / 3))
    assert (by_p[0.03]["accuracy"], by_p[0.03]["refusal"]) == (0.5, 1.0)


def test_breakdown_has_overall_kind_and_lang():
    groups = metrics.breakdown([_row(), _row(kind="list")])
    assert set(groups) == {"overall", "kind=fact", "kind=list", "lang=zh"}
    assert groups["kind=list"]["questions"] == 1


def test_bad_gold_file_names_the_line(tmp_path):
    f = tmp_path / "q.jsonl"
    f.write_text('{"id": "a", "lang": "zh", "kind": "fact", "question": "q", "sources": [], "evidence": [], "must_mention": []}\n{"id": "b"}\n')
    with pytest.raises(ConfigError, match=r"q.jsonl:2: not a gold question"):
        metrics.load_gold(f)
    f.write_text('{"id": "a", "lang": "zh", "kind": "opinion", "question": "q", "sources": [], "evidence": [], "must_mention": []}\n')
    with pytest.raises(ConfigError, match=r"q.jsonl:1: unknown kind 'opinion'"):
        metrics.load_gold(f)


def test_a_conversation_line_gives_one_question_per_turn(tmp_path):
    f = tmp_path / "chat.jsonl"
    turn = {"kind": "list", "sources": ["a.txt"], "evidence": ["x"], "must_mention": [["y"]]}
    f.write_text('{"id": "c1", "lang": "zh", "turns": [%s, %s]}\n' % (
        json.dumps({**turn, "question": "开源模型有哪些缺点？"}, ensure_ascii=False),
        json.dumps({**turn, "question": "那闭源的呢？"}, ensure_ascii=False)), encoding="utf-8")
    gold = metrics.load_gold(f)
    assert [(g.id, g.conversation, g.question) for g in gold] == [("c1.1", "c1", "开源模型有哪些缺点？"), ("c1.2", "c1", "那闭源的呢？")]
    rows = [{**_row(), "turn": 1}, {**_row(cov=0.5), "turn": 2}]
    groups = metrics.breakdown(rows)
    assert groups["turn=2"]["coverage"] == 0.5 and groups["turn=1"]["coverage"] == 1.0
