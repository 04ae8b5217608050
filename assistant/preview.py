"""What the documents say, shown while the model reads its prompt: sentences quoted from the passages.

The model needs seconds before its first word; the passages are found in
milliseconds. Their best sentences, quoted and cited, are what the documents say
about the question, true to show meanwhile. A quoted sentence is shown only if the same
checks the model's answer goes through accept it: the citation checker (its
passage supports it) and the answer gate (it holds the question's key terms near
where it sits, and is of the kind asked for). Otherwise nothing is shown.
"""

from __future__ import annotations

from assistant import evidence
from assistant.prompt import Passage, header
from ingest.chunk import split_sentences

LABEL = {"zh": "资料原文（模型回答前）：", "en": "From the documents (before the model's answer):"}
SENTENCES = 2
_SHORTEST = 8  # characters: shorter pieces are headings or fragments, not an answer


def quotes(question: str, found: list[Passage]) -> str:
    """Up to SENTENCES sentences of ``found``, each followed by its passage's [n]; "" when none passes.

    The sentences that hold most of the question's key terms themselves come first
    (then the better-ranked passage, then the earlier sentence); the answer gate's
    score looks at the sentence's neighbourhood, so it decides only what may be shown.
    """
    keys = evidence.key_units(question)
    ranked = []
    for n, passage in enumerate(found, 1):
        context = header(passage) + "\n" + passage.text
        for s, e in split_sentences(passage.text):
            sentence = " ".join(passage.text[s:e].split())
            if len(sentence) >= _SHORTEST and evidence.score(question, sentence, context) >= evidence.ANSWER_GATE:
                ranked.append((-evidence.coverage(keys, sentence), n, s, sentence))
    best = sorted(ranked)[:SENTENCES]
    if not best:
        return ""
    text = "\n".join(f"{sentence}[{n}]" for _, n, _, sentence in best)
    # Quoted sentences are judged like an answer in the documents' language.
    judged = evidence.judge(question, text, found, cross_lingual=False)
    if judged.refused_by:
        return ""
    return "\n".join(f"{c.sentence}[{c.n}]" for c in judged.checked.citations if c.status == "ok")
