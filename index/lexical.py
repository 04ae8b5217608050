"""BM25 over jieba tokens, persisted as JSON beside the vectors.

Dense vectors from an English embedder barely rank Chinese text, so this index
carries most of the retrieval; it must tokenize the way the corpus is written.
"""

from __future__ import annotations

import contextlib
import json
import logging
import marshal
import math
import re
from collections import Counter
from pathlib import Path
from typing import Iterable

from index.errors import StoreError
from index.files import replace_text

TOKENIZER_VERSION = "jieba-search-1"

# Domain terms jieba splits apart ("大模型" -> "大" + "模型"); kept whole they
# match far more precisely. General vocabulary of the field, not of one corpus.
DOMAIN_TERMS = (
    "大模型", "大语言模型", "语言模型", "开源", "闭源", "开源大模型", "闭源大模型",
    "开源模型", "闭源模型", "匿名化", "数据匿名化", "锁定效应", "预训练", "微调",
    "许可证", "可定制性", "可审计性", "可解释性", "透明度", "私有化部署", "本地部署",
    "人工智能", "深度学习", "自然语言处理", "供应商", "商业模式", "访问控制", "安全审计",
    "技术门槛", "切换成本", "模型参数", "训练数据", "算力", "多模态",
)

# Words the field uses interchangeably. A question says 缺点 where an article's
# heading says 劣势, and a translated English question picks either, so the query
# also searches the other members of its group at a lower weight.
SYNONYMS = (
    ("优势", "优点", "好处", "长处"),
    ("劣势", "缺点", "弊端", "不足", "短处", "缺陷"),
    ("挑战", "困难", "难题"),
    ("风险", "隐患"),
    ("成本", "费用", "开销", "花费"),
    ("措施", "方法", "方式", "手段"),
    ("企业", "公司"),
    ("建议", "对策"),
)
SYNONYM_WEIGHT = 0.5
_SYNONYMS = {w: group for group in SYNONYMS for w in group}

STOPWORDS = frozenset(
    "的 了 是 在 和 与 及 或 等 也 都 就 被 把 对 而 有 为 其 之 这 那 这些 那些 这个 那个 一个 一种 "
    "什么 哪些 哪个 哪几种 哪几 几种 为什么 为何 如何 怎么 怎样 多少 是否 吗 呢 吧 啊 请 请问 "
    "通常 一般 主要 可以 可能 会 能 要 需要 哪 谁 中 上 下 里 "
    "a an the of to in on for and or is are was were be by with as at from that this what which "
    "why how who whom does do did can could would should it its their they them there".split()
)

_WORD = re.compile(r"[\w\u4e00-\u9fff]", re.UNICODE)
_jieba = None


class _WholeFileMarshal:
    """What jieba 0.42.1 (pinned) calls as ``marshal``. Its initialize() reads the 9 MB
    dictionary cache with marshal.load on the open file, which reads it in small pieces:
    0.9 s of every cold start here. marshal.loads of the same bytes takes 0.3 s."""

    dump = staticmethod(marshal.dump)

    @staticmethod
    def load(f):
        return marshal.loads(f.read())


def _tokenizer(cache_dir: Path | None):
    """One jieba tokenizer per process, with its dictionary cache kept in our data folder.

    By default jieba writes its cache to the system temp dir; a private tool keeps
    everything under its own folder.
    """
    global _jieba
    if _jieba is None:
        import jieba

        jieba.setLogLevel(logging.WARNING)
        jieba.marshal = _WholeFileMarshal
        tk = jieba.Tokenizer()
        if cache_dir is not None:
            cache_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            tk.tmp_dir = str(cache_dir)
        for term in DOMAIN_TERMS:
            tk.add_word(term, freq=20000)
        _jieba = tk
    return _jieba


def tokenize(text: str, cache_dir: Path | None = None) -> list[str]:
    """Search-mode jieba tokens, lower-cased, without punctuation and stop words."""
    tokens = _tokenizer(cache_dir).cut_for_search(text)
    return [t for t in (t.strip().lower() for t in tokens) if t and _WORD.search(t) and t not in STOPWORDS]


def words(text: str) -> list[str]:
    """jieba's default cut: whole words ("杭州市政府" in one piece), without punctuation."""
    return [t for t in (t.strip() for t in _tokenizer(None).cut(text)) if t and _WORD.search(t)]


# The tags jieba's dictionary gives names: of places (ns), people (nr, nrt, nrfg: it
# tags many a foreign city so too), bodies (nt) and other proper nouns (nz).
_NAME_ENTRY = re.compile(rb"^(\S+) \d+ (?:ns|nr|nrt|nrfg|nt|nz)\r?$", re.M)
_names: frozenset[str] | None = None


def proper_names() -> frozenset[str]:
    """The words jieba's dictionary tags as names (112,000 of its 350,000; read once, 0.1 s)."""
    global _names
    if _names is None:
        with _tokenizer(None).get_dict_file() as f:
            _names = frozenset(m.decode("utf-8") for m in _NAME_ENTRY.findall(f.read()))
    return _names


_LETTERS_DIGITS = re.compile(r"(?=.*[a-z])(?=.*\d)[a-z\d]+")


def query_terms(query: str, cache_dir: Path | None = None) -> dict[str, float]:
    """Query tokens with weight 1, and their synonyms not asked for with SYNONYM_WEIGHT."""
    terms = dict.fromkeys(tokenize(query, cache_dir), 1.0)
    for term in list(terms):
        # "gpt4" typed as one word is "GPT-4" (gpt, 4) in most writing: ask for the parts too.
        if _LETTERS_DIGITS.fullmatch(term):
            for part in re.findall(r"[a-z]+|\d+", term):
                terms.setdefault(part, 1.0)
    for term in list(terms):
        for other in _SYNONYMS.get(term, ()):
            terms.setdefault(other, SYNONYM_WEIGHT)
    return terms


class LexicalIndex:
    """An in-memory inverted index with Okapi BM25 scoring, saved atomically as JSON."""

    def __init__(self, path: Path, *, k1: float = 1.2, b: float = 0.75, cache_dir: Path | None = None):
        self.path = Path(path)
        self.k1, self.b = k1, b
        self.cache_dir = cache_dir
        self.docs: dict[str, dict[str, int]] = {}  # chunk id -> term frequencies
        self._postings: dict[str, dict[str, int]] = {}  # term -> chunk id -> frequency
        self._lengths: dict[str, int] = {}
        self._total_len = 0
        self._compiled: _Compiled | None = None  # search arrays, dropped on any change
        self._defer = 0  # > 0 inside deferred(): save() only notes that a save is due
        self._dirty = False
        if self.path.exists():
            self._load()

    def _load(self) -> None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise StoreError(f"lexical index unreadable: {self.path}: {err}") from err
        if data.get("tokenizer") != TOKENIZER_VERSION:
            return  # stale format: start empty, the caller rebuilds from the vector store
        for cid, tf in data["docs"].items():
            self._insert(cid, tf)

    @contextlib.contextmanager
    def deferred(self):
        """Save once at the end instead of after every change.

        Rewriting the whole file per document makes ingesting n documents cost n²;
        a run killed before the final save loses nothing, since the index repairs
        this side from Chroma, where every chunk is written first.
        """
        self._defer += 1
        try:
            yield
        finally:
            self._defer -= 1
            if not self._defer and self._dirty:
                self.save()

    def save(self) -> None:
        if self._defer:
            self._dirty = True
            return
        self._dirty = False
        payload = {"tokenizer": TOKENIZER_VERSION, "docs": self.docs}
        replace_text(self.path, json.dumps(payload, ensure_ascii=False, separators=(",", ":")))

    def ids(self) -> set[str]:
        return set(self.docs)

    def add(self, items: Iterable[tuple[str, str]]) -> None:
        """Index (chunk id, text) pairs; an id already present is replaced."""
        counted: dict[str, dict[str, int]] = {}  # a text repeated in a file is tokenized once (never mutated: shared)
        for cid, text in items:
            self.remove([cid])
            if text not in counted:
                counted[text] = dict(Counter(tokenize(text, self.cache_dir)))
            self._insert(cid, counted[text])

    def _insert(self, cid: str, tf: dict[str, int]) -> None:
        self._compiled = None
        self.docs[cid] = tf
        self._lengths[cid] = sum(tf.values())
        self._total_len += self._lengths[cid]
        for term, n in tf.items():
            self._postings.setdefault(term, {})[cid] = n

    def remove(self, ids: Iterable[str]) -> None:
        for cid in ids:
            tf = self.docs.pop(cid, None)
            if tf is None:
                continue
            self._compiled = None
            self._total_len -= self._lengths.pop(cid)
            for term in tf:
                posting = self._postings[term]
                posting.pop(cid, None)
                if not posting:
                    del self._postings[term]

    def search(self, query: str, k: int, *, only: set[str] | None = None) -> list[tuple[str, float]]:
        """The k best (chunk id, BM25 score) pairs, among the chunks ``only`` when given;
        empty when no query term is indexed. (Term statistics stay those of the whole index.)"""
        if not self.docs:
            return []
        import numpy as np

        if self._compiled is None:
            self._compiled = _Compiled(self)
        c = self._compiled
        scores = np.zeros(len(c.ids))
        for term, weight in query_terms(query, self.cache_dir).items():
            rows, part = c.term(term)
            scores[rows] += weight * part  # rows are distinct within a term
        if only is not None:
            keep = np.zeros(len(c.ids), dtype=bool)
            keep[[c.rows[cid] for cid in only if cid in c.rows]] = True
            scores[~keep] = 0.0
        touched = np.flatnonzero(scores)
        if len(touched) > k:
            touched = touched[np.argpartition(-scores[touched], k - 1)[:k]]
        best = touched[np.argsort(-scores[touched], kind="stable")]
        return [(c.ids[i], float(scores[i])) for i in best]


class _Compiled:
    """The index as arrays for fast scoring, built on the first search after a change.

    Scoring in Python loops over every posting costs ~100 ms at 100,000 chunks;
    per term the rows and BM25 weights are arrays, computed when a query first uses
    the term, and a query is a few vector additions.
    """

    def __init__(self, index: LexicalIndex):
        import numpy as np

        self._np = np
        self.index = index
        self.ids = list(index.docs)
        self.rows = {cid: i for i, cid in enumerate(self.ids)}
        lengths = np.fromiter((index._lengths[cid] for cid in self.ids), dtype=float, count=len(self.ids))
        avg = index._total_len / len(self.ids) or 1.0
        self.norm = index.k1 * (1 - index.b + index.b * lengths / avg)
        self.terms: dict[str, tuple] = {}

    def term(self, term: str):
        np = self._np
        if term not in self.terms:
            posting = self.index._postings.get(term, {})
            rows = np.fromiter((self.rows[cid] for cid in posting), dtype=np.int64, count=len(posting))
            tf = np.fromiter(posting.values(), dtype=float, count=len(posting))
            n, df = len(self.ids), len(posting)
            idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
            k1 = self.index.k1
            self.terms[term] = (rows, idf * tf * (k1 + 1) / (tf + self.norm[rows]))
        return self.terms[term]
