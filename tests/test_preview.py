"""The quotes shown while the model reads its prompt: true sentences of the passages, or nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant import cite, evidence, prompt
from assistant.preview import quotes
from index.types import Hit
from ingest.chunk import make_chunks
from ingest.load import load_document

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def corpus_chunks():
    chunks = []
    for path in sorted((ROOT / "corpus").glob("*.txt")):
        chunks += make_chunks(load_document(path, path.name), 200, 40)
    return chunks


def _found(chunks, *needles):
    """Passages made of the chunks holding each needle, in that order (as retrieval would rank them)."""
    hits = [Hit(next(c for c in chunks if n in c.text), 1.0 / (i + 1)) for i, n in enumerate(needles)]
    return prompt.passages(hits)


def _accepted(question, shown, found):
    """Every shown sentence is a quote of the passage it cites that the checker and the answer gate accept."""
    lines = shown.splitlines()
    assert lines
    for line in lines:
        (sentence, numbers), = cite.cited_sentences(line)
        passage = found[numbers[0] - 1]
        assert sentence.replace(" ", "") in passage.text.replace("\n", "").replace(" ", "")
        assert cite.support(sentence, passage.text) >= cite.SUPPORTED
        assert evidence.score(question, sentence, prompt.header(passage) + "\n" + passage.text) >= evidence.ANSWER_GATE


@pytest.mark.parametrize("qid", ["dev06", "dev07", "dev11"])
def test_the_sentence_that_answers_comes_first(corpus_chunks, qid):
    gold = next(g for g in map(json.loads, (ROOT / "eval" / "dev.jsonl").read_text(encoding="utf-8").splitlines()) if g["id"] == qid)
    found = _found(corpus_chunks, gold["evidence"][0], "开源模型的最大特点")  # the answer's chunk, then another
    shown = quotes(gold["question"], found)
    _accepted(gold["question"], shown, found)
    assert gold["evidence"][0] in shown.splitlines()[0]


def test_passages_that_do_not_speak_of_the_question_give_nothing(corpus_chunks):
    found = _found(corpus_chunks, "开源模型的最大特点")
    assert quotes("2022年北京冬奥会张家口赛区共产生了几块金牌？", found) == ""
    assert quotes("开源模型的盈利建立在什么基础上？", []) == ""
