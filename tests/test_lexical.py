import os
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
