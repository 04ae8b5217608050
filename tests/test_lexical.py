import math
import os
import random
import subprocess
import sys
from pathlib import Path

from index.lexical import SYNONYM_WEIGHT, LexicalIndex, query_terms, tokenize


def test_tokenize_keeps_domain_terms_and_drops_stopwords(tmp_path):
    tokens = tokenize("开源大模型有哪些优势？", tmp_path)
    assert "开源" in tokens and "大模型" in tokens and "优势" in tokens
    assert "哪些" not in tokens and "？" not in tokens and "有" not in tokens


def test_jieba_cache_stays_in_our_folder(tmp_path):
    # A fresh process: the tokenizer is made once per process and cached.
    tmp, cache = tmp_path / "tmp", tmp_path / "cache"
    tmp.mkdir()
    code = f"from index.lexical import tokenize; tokenize('数据隐私', __import__('pathlib').Path({str(cache)!r}))"
    env = {**os.environ, "TMPDIR": str(tmp)}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=Path(__file__).parent.parent)
    assert list(tmp.iterdir()) == []  # jieba's default is the system temp dir
    assert any(p.name.startswith("jieba") for p in cache.iterdir())


def test_bm25_ranks_and_persists(tmp_path):
    idx = LexicalIndex(tmp_path / "lex.json", cache_dir=tmp_path)
    idx.add([("a", "开源模型的盈利通常建立在服务和支持上。"), ("b", "闭源模型的盈利主要通过许可证费用。"), ("c", "天气很好。")])
    assert [cid for cid, _ in idx.search("开源模型如何盈利", 3)][0] == "a"
    assert [cid for cid, _ in idx.search("许可证费用", 3)][0] == "b"
    assert idx.search("完全无关的词语组合", 3) == []
    idx.save()
    again = LexicalIndex(tmp_path / "lex.json", cache_dir=tmp_path)
    assert again.ids() == {"a", "b", "c"}
    assert again.search("许可证费用", 1) == idx.search("许可证费用", 1)


def test_remove_and_replace(tmp_path):
    idx = LexicalIndex(tmp_path / "lex.json", cache_dir=tmp_path)
    idx.add([("a", "许可证费用"), ("b", "服务和支持")])
    idx.remove(["a", "missing"])
    assert idx.ids() == {"b"} and idx.search("许可证", 5) == []
    idx.add([("b", "许可证")])  # same id: replaced, not duplicated
    assert idx.ids() == {"b"} and idx.search("服务", 5) == []


def test_synonyms_are_searched_at_a_lower_weight(tmp_path):
    terms = query_terms("闭源模型有哪些缺点", tmp_path)
    assert terms["缺点"] == 1.0 and terms["劣势"] == SYNONYM_WEIGHT
    idx = LexicalIndex(tmp_path / "lex.json", cache_dir=tmp_path)
    idx.add([("heading", "闭源大模型的劣势：费用高昂。"), ("other", "闭源大模型的优势：体验友好。")])
    assert [cid for cid, _ in idx.search("闭源模型的缺点", 2)][0] == "heading"
    # The word asked for outranks its synonym.
    idx.add([("exact", "闭源大模型的缺点：费用高昂。")])
    assert [cid for cid, _ in idx.search("闭源模型的缺点", 3)][:2] == ["exact", "heading"]


def _reference_bm25(index, query, k1=1.2, b=0.75):
    """Okapi BM25 written out plainly, to check the array version against."""
    n = len(index.docs)
    avg = sum(sum(tf.values()) for tf in index.docs.values()) / n
    scores = {}
    for term, weight in query_terms(query).items():
        df = sum(term in tf for tf in index.docs.values())
        if not df:
            continue
        idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
        for cid, tf in index.docs.items():
            if term in tf:
                norm = k1 * (1 - b + b * sum(tf.values()) / avg)
                scores[cid] = scores.get(cid, 0.0) + weight * idf * tf[term] * (k1 + 1) / (tf[term] + norm)
    return scores


def test_array_scoring_equals_plain_bm25_and_follows_changes(tmp_path):
    rng = random.Random(3)
    words = ["开源", "闭源", "大模型", "成本", "费用", "隐私", "数据", "部署", "企业", "许可证", "社区", "安全"]
    index = LexicalIndex(tmp_path / "lexical.json")
    index.add((f"c{i}", "".join(rng.choice(words) for _ in range(rng.randint(3, 30)))) for i in range(300))
    for step in range(3):
        for query in ("开源大模型的成本", "数据隐私和安全", "企业部署许可证费用"):
            got = index.search(query, 10)
            want = _reference_bm25(index, query)
            order = {cid: i for i, cid in enumerate(index.docs)}  # ties: the order chunks were added
            assert [cid for cid, _ in got] == sorted(want, key=lambda c: (-want[c], order[c]))[:10]
            assert all(abs(s - want[cid]) < 1e-9 for cid, s in got)
        index.remove([f"c{i}" for i in range(step, 300, 7)])  # changes must reach the arrays
        index.add([(f"new{step}", "开源开源数据")])


def test_a_name_typed_as_one_word_finds_it_written_apart(tmp_path):
    index = LexicalIndex(tmp_path / "lexical.json")
    index.add([("a", "XQ-7型机器人于2023年3月14日发布"), ("b", "机器人发布会的时间定在下午")])
    assert index.search("XQ7发布时间", 1)[0][0] == "a"  # without the parts, b's 发布 and 时间 would win
    assert query_terms("XQ7发布")["xq"] == query_terms("XQ7发布")["7"] == 1.0
