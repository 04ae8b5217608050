"""Does a text speak of another instance of what the question names? Pure functions over strings.

A passage on the same topic about another event is the easiest wrong answer to
copy: its words match the question's, only the instance differs. Two kinds are
told apart here:

- another edition or year: "第11届" or "2019年" where the question names
  "第12届" or "2021年" (``other_instance``);
- another name for the same thing: "杭州马拉松" where the question asks about
  "成都马拉松", "杭州代表团" for "成都体育代表团" (``renamed``).
"""

from __future__ import annotations

import functools
import re

from index.lexical import proper_names, words

_COUNTED = re.compile(r"(第?)(\d+)\s*(届|年|次|期|代|季|轮)")
_COMPARED = re.compile(r"(?:比|较|相比|相较于?|同比|环比|对比)\s*第?\d+\s*(?:届|年|次|期|代|季|轮)")


def other_instance(question: str, text: str) -> bool:
    """Whether ``text`` speaks of another edition or year than the question names: the
    question's "第12届" or "2021年" is absent and the same counter with another number
    is there ("第11届", "2019年")."""
    for m in _COUNTED.finditer(question):
        prefix, number, unit = m.groups()
        flat = re.sub(r"\s+", "", text)
        if f"{prefix}{number}{unit}" in flat:
            continue
        others = {g[1] for g in _COUNTED.findall(flat) if g[2] == unit and g[0] == prefix}
        if others - {number}:
            return True
    return False


def unechoed(sentence: str, question: str) -> str:
    """The sentence without the verbatim copies of the question (its end punctuation aside)
    and, then, without the editions or years it compares with ("比2021年增加")."""
    asked = question.strip().rstrip("?？。.!！ ")
    if len(asked) < 4 or asked not in sentence:
        return sentence
    return _COMPARED.sub(" ", sentence.replace(asked, " "))


_ASKS = re.compile(r"哪|什么|何")
_BACK = 3  # words before a word that can name which one it is ("成都 冬季 马拉松")


@functools.lru_cache(maxsize=64)  # one question is read against every sentence of its passages
def qualifiers(question: str) -> dict[str, frozenset[str]]:
    """Each word of the question -> the names among the few words before it, which say
    which one is meant: "成都马拉松" -> {"马拉松": {"成都"}}. A word right after 哪/什么
    is what is asked ("哪个城市"), not a qualifier."""
    names = proper_names()
    cut = words(question)
    out: dict[str, frozenset[str]] = {}
    for i, word in enumerate(cut):
        if len(word) < 2:
            continue
        start = max(0, i - _BACK)
        out[word] = frozenset(w for j, w in enumerate(cut[start:i], start)
                              if len(w) >= 2 and w in names and not (j and _ASKS.search(cut[j - 1])))
    return out


def named(question: str) -> bool:
    """Whether the question says by a name which one it means (most do not: then no text
    need be cut into words for ``renamed``)."""
    names = proper_names()
    return any(by or (len(head) > 2 and head in names) for head, by in qualifiers(question).items())


def renamed(question: str, text: str, answer: str = "") -> bool:
    """Whether ``text`` puts another name before a word the question qualifies by a name,
    and none of the question's qualifiers is in it: "杭州代表团" when "成都体育代表团" is
    asked about. A word of the text that ends a longer name of the question ("代表团" of a
    whole "成都体育代表团") is qualified by the rest of that name too. Names in ``answer`` are
    what the answer gives, so they do not count."""
    if not named(question):
        return False
    asked = qualifiers(question)
    names = proper_names()
    cut = words(text)
    for before, word in zip(cut, cut[1:]):
        if len(before) < 2 or before not in names or before in question or before in answer or len(word) < 2:
            continue
        for head, by in asked.items():
            wanted = set(by)
            if head != word:  # or a longer name of the question that ends with it
                if not (head.endswith(word) and head in names):
                    continue
                wanted.add(head[: -len(word)])
            if wanted and not any(w in text for w in wanted):
                return True
    return False
