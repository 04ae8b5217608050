"""Citation parsing and checking. Pure functions over strings.

A small model cites the wrong passage now and then and sometimes invents
numbers. Every [n] is checked against passage n by overlap of content units
(Chinese character bigrams, Latin words, numbers); a citation that does not
hold is moved to the passage that does support the sentence, or dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MARKER = re.compile(r"[\[【]\s*(\d{1,2}(?:\s*[,，、]\s*\d{1,2})*)\s*[\]】]")
_SENTENCE_END = re.compile(r"(?<=[。！？!?；;\n])|(?<=[A-Za-z\])]\.)(?=\s)")
_ENUM = re.compile(r"^\s*(?:\d{1,2}[.、)](?!\d)\s*|[-*•·]\s*|#+\s*)")
_CJK = "\u3400-\u9fff\uf900-\ufaff"
_NUMBER = re.compile(r"\d+(?:\.\d+)?")

SUPPORTED = 0.5  # share of a sentence's units found in the passage
SHORT = 4  # a sentence with fewer units ("成本高昂") is supported only when the passage has all of them

# How an answer refers to the prompt's own passages ("根据资料", "资料显示"), which no
# passage says: it is no part of the claim to check.
_BY, _SOURCE, _SAYS = r"(?:根据|依据|按照)", r"(?:以上|上述|所给|提供的)?资料(?:中|里)?", r"(?:显示|提到|指出|记载)"
FRAMING = re.compile(rf"{_BY}?{_SOURCE}{_SAYS}?[，,:：]?")
# At the start of a sentence, only with 根据… or …显示: "资料泄露是风险" is a claim.
_LEADING_FRAMING = re.compile(rf"^\s*(?:{_BY}{_SOURCE}{_SAYS}?|{_SOURCE}{_SAYS})\s*[，,:：]?")

REFUSAL_CUES = (
    "没有找到这个问题的答案", "资料中没有", "资料中未", "没有提及", "未提及", "没有提到", "未提到",
    "无法回答", "无法从资料", "没有相关信息", "没有涉及", "未涉及",
    "do not contain the answer", "does not contain", "do not mention", "does not mention",
    "not mentioned", "no information", "cannot answer", "can't answer",
)


@dataclass(frozen=True)
class Citation:
    n: int  # 1-based passage number
    sentence: str  # the answer sentence, without markers
    support: float  # share of the sentence's units found in the passage
    status: str  # "ok", "moved" (model cited another passage), "added" (model cited none)


@dataclass(frozen=True)
class Checked:
    text: str  # the answer with only checked markers
    citations: tuple[Citation, ...]
    dropped: tuple[int, ...]  # passage numbers cited without support
    supported_share: float  # share of claim-bearing sentences with a checked citation
    claims: int  # number of claim-bearing sentences
    copied: int = 0  # markers the answer copied from a passage's own text, ignored


def markers(text: str) -> list[int]:
    return [int(n) for m in MARKER.finditer(text) for n in re.split(r"\s*[,，、]\s*", m.group(1))]


def units(text: str) -> list[str]:
    """Content units: Chinese character bigrams, lower-cased Latin words, numbers."""
    out: list[str] = []
    for run in re.findall(rf"[{_CJK}]+|[A-Za-z]+|\d+(?:\.\d+)?", text):
        if re.match(rf"[{_CJK}]", run):
            out += [run[i : i + 2] for i in range(len(run) - 1)] or [run]
        else:
            out.append(run.lower())
    return out


def support(sentence: str, passage: str, given: str = "") -> float:
    """Share of the sentence's units present in the passage; 0 if it states a number the passage lacks.
    Numbers of ``given`` (the question) may be repeated: the answer restates them, it does not claim them."""
    sent_units = units(sentence)
    if not sent_units:
        return 0.0
    passage_numbers = set(_NUMBER.findall(passage)) | set(_NUMBER.findall(given))
    if any(n not in passage_numbers for n in _NUMBER.findall(sentence)):
        return 0.0
    # A short answer copied word for word ("B站", "132人") is supported even when its
    # single characters are no unit of the passage (units pair up Chinese characters).
    if (copy := _bare(sentence)) and copy in _bare(passage):
        return 1.0
    have = set(units(passage))
    return sum(u in have for u in sent_units) / len(sent_units)


def _bare(text: str) -> str:
    """The text without whitespace and without the punctuation that ends or quotes it."""
    return re.sub(r"\s+", "", text).strip("。.，,；;：:！!？?“”\"'「」")


def cited_sentences(answer: str) -> list[tuple[str, list[int]]]:
    """Answer -> (sentence without markers, cited numbers); markers after the full stop belong before it."""
    pieces = [p for p in _SENTENCE_END.split(answer) if p]
    out: list[tuple[str, list[int]]] = []
    for piece in pieces:
        lead = re.match(rf"^(\s*(?:{MARKER.pattern}\s*)+)", piece)
        if lead and out:  # "…信息。[1]" : the marker closes the previous sentence
            prev, cited = out[-1]
            out[-1] = (prev, cited + markers(lead.group(1)))
            piece = piece[lead.end():]
        if piece:
            out.append((re.sub(r"[ \t]*" + MARKER.pattern, "", piece), markers(piece)))
    return out


_CONTEXT = 6  # characters before a marker (whitespace ignored) that identify where it was copied from


def _marker_keys(text: str) -> set[tuple[str, str]]:
    """(the few characters before a marker, the marker) for every marker in ``text``, whitespace ignored."""
    flat = re.sub(r"\s+", "", text)
    return {(flat[max(0, m.start() - _CONTEXT) : m.start()], m.group(0)) for m in MARKER.finditer(flat)}


def drop_copied_markers(answer: str, passages: list[str]) -> tuple[str, int]:
    """Remove markers the answer copied along with a passage's text.

    A document can carry its own "[1][2]" (a paper's references, or an attack
    dressed as citations). When the answer repeats such a marker right after the
    same words as in the passage, it is the document's text, not the model's
    citation; checking it would let a document choose what the answer cites. The
    sentence keeps its words and is then cited by what supports it.
    """
    planted = set().union(*(_marker_keys(p) for p in passages)) if passages else set()
    if not planted:
        return answer, 0
    keep: list[str] = []
    flat_before = ""
    last = 0
    dropped = 0
    for m in MARKER.finditer(answer):
        flat_before += re.sub(r"\s+", "", answer[last : m.start()])
        key = (flat_before[-_CONTEXT:], re.sub(r"\s+", "", m.group(0)))
        keep.append(answer[last : m.start()])
        if len(key[0]) == _CONTEXT and key in planted:
            dropped += 1
        else:
            keep.append(m.group(0))
        flat_before += key[1]
        last = m.end()
    keep.append(answer[last:])
    return "".join(keep), dropped


def is_refusal(text: str) -> bool:
    low = text.lower()
    return any(cue in low for cue in REFUSAL_CUES)


def check(answer: str, passages: list[str], *, cross_lingual: bool = False, question: str = "") -> Checked:
    """Keep citations that hold, move misplaced ones, add missing ones where support is clear.

    ``cross_lingual``: the answer is in another language than the passages, so
    only numbers can be checked; citations are kept as the model gave them.
    ``question``: its numbers count as found (see support).
    """
    answer, copied = drop_copied_markers(answer, passages)
    # Markers inside passages are the documents' text: their digits support no number.
    passages = [MARKER.sub(" ", p) for p in passages]
    citations: list[Citation] = []
    dropped: list[int] = []
    parts: list[str] = []
    claims = supported = 0
    for sentence, cited in cited_sentences(answer):
        # "根据资料[1]，X。" cites X: the lead-in is checked against no passage.
        body = _LEADING_FRAMING.sub("", _ENUM.sub("", sentence)).strip()
        valid = [n for n in dict.fromkeys(cited) if 1 <= n <= len(passages)]
        dropped += [n for n in cited if n not in valid]
        lead_in = body.endswith((":", "："))  # "主要有以下几点：" introduces claims, makes none
        is_claim = bool(units(body)) and not lead_in and not is_refusal(body)
        needed = SUPPORTED if len(units(body)) >= SHORT else 1.0
        keep: list[Citation] = []
        if is_claim and cross_lingual:
            for n in valid:
                if all(x in passages[n - 1] for x in _NUMBER.findall(body)):
                    keep.append(Citation(n, body, 1.0, "ok"))
                else:
                    dropped.append(n)
        elif is_claim:
            scores = [support(body, p, question) for p in passages]
            for n in valid:
                if scores[n - 1] >= needed:
                    keep.append(Citation(n, body, scores[n - 1], "ok"))
                else:
                    dropped.append(n)
            if not keep and scores:
                best = max(range(len(scores)), key=scores.__getitem__)
                if scores[best] >= needed:
                    keep.append(Citation(best + 1, body, scores[best], "moved" if valid else "added"))
        claims += is_claim
        supported += bool(keep)
        citations += keep
        parts.append(_with_markers(sentence, [c.n for c in keep]))
    return Checked(
        text="".join(parts).strip(),
        citations=tuple(citations),
        dropped=tuple(dropped),
        supported_share=supported / claims if claims else 0.0,
        claims=claims,
        copied=copied,
    )


def _with_markers(sentence: str, numbers: list[int]) -> str:
    """Put the checked markers back before the sentence's closing punctuation and line break."""
    if not numbers:
        return sentence
    tail = re.search(r"[。！？!?；;.\s]*$", sentence)
    cut = tail.start() if tail else len(sentence)
    return sentence[:cut] + "".join(f"[{n}]" for n in numbers) + sentence[cut:]
