"""Does a passage answer the question, not only share its words? Pure functions over strings.

The citation check (``cite``) asks whether a sentence's words are in the passage it
cites. That accepts a sentence copied from a passage about something else. Here
the question itself is read:

- its key terms (what it is about, without the words that ask: 什么, 谁, 多少 …)
  must be in the cited passage, near the words the answer copied from it;
- the answer must be of the kind the question asks for: a date or time for
  何时/什么时候/哪天, a number for 多少/几, money for 多少钱, a place for 哪里;
  "即将举行" is no date;
- the names it is about (EMNLP2022, 《书名》) must be in that passage;
- what the answer adds to the question must be in one of the passages
  (``grounded``): repeating the question's words is no evidence for a name.
- it must not speak of another edition, year or name of what the question
  names ("第11届", "杭州马拉松" for 成都马拉松; ``instances``).

``score`` combines both into one number in [0, 1]; the assistant refuses below
``ANSWER_GATE``, and before asking the model at all when even the best retrieved
passage holds too few of the key terms (``RETRIEVAL_GATE``). A third signal is
the model's own: the probability it gave to starting with the refusal sentence
(read from the first token's distribution, at no cost), refused at
``REFUSAL_P`` or above even when it went on to answer. The thresholds were read
off the accuracy/rejection curves ``assistant eval`` reports.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from assistant import cite
from assistant.cite import units
from assistant.instances import named, other_instance, renamed, unechoed
from assistant.prompt import Passage, header, strip_echo
from index.lexical import tokenize
from ingest.chunk import split_sentences

RETRIEVAL_GATE = 0.4  # share of the question's key terms in the best passage
ANSWER_GATE = 0.5  # score of the best cited sentence
# The model's probability of starting with the refusal, at which its answer is refused.
# Right answers to short factual questions (RGB) stay below 0.02, but to questions
# asking for a synthesis of long articles reach 0.06; the wrong answers the other
# checks let through spread from 0 to 0.18. 0.1 is the lowest gate that refuses no
# right answer on any of the four development sets (README, "Refusal").
REFUSAL_P = 0.1
WINDOW = 120  # characters either side of where the answer sits in its passage

# Words that ask rather than say what the question is about (as jieba cuts them;
# single Chinese characters such as 谁, 几, 的 never count as key terms anyway).
_ASKING = frozenset(
    "什么 时候 什么时候 何时 哪一天 哪天 哪一年 哪年 几月 几号 几日 哪些 哪个 哪位 哪里 哪儿 哪国 哪家 是谁 "
    "时间 日期 地点 多少 是否 如何 怎么样 怎么 怎样 为什么 为何 请问 叫做 名字 "
    # and words that frame the request rather than name its subject
    "文章 文中 一文 两篇 作者 提到 认为 看法 说法 概括 列出 分别 作为 例子 具体 哪类 主要 通常 "
    "原因 区别 不同 意义 体现 起到 带来 除了 关于 能否 按照 凭借 角度 角度看 有人 人们 综合 这些 "
    "when what which who whom whose where how many much why is are was were the a an of in on for to did does do".split()
)

# What kind of answer the question asks for: (question pattern, kind).
_KINDS = (
    (re.compile(r"多少钱|花了多少|价格|售价|票价|金额|市值|\bhow much (?:money|did|does)|\bprice\b|\bcost\b", re.I), "money"),
    (re.compile(r"什么时候|何时|哪一?天|哪一?年|几月|几号|几日|何日|日期|时间[?？]?$|哪个月|\bwhen\b|what (?:date|year|time)", re.I), "date"),
    # "哪几种方式" asks for a list, not a count
    (re.compile(r"多少|(?<!哪)几[个位名次块届所家件条项岁年次人天枚座场部局]|几[？?]?$|多[大高长重远久]|\bhow (?:many|much)\b", re.I), "number"),
    (re.compile(r"哪里|哪儿|在哪(?![些个种几一])|何地|何处|地点|举办地|所在地|什么地方|哪个(?:城市|国家|地方)|\bwhere\b", re.I), "place"),
)
_DATE = re.compile(
    r"\d{1,4}\s*[年月日号]|[一二三四五六七八九十〇零两]{1,4}[年月日号]|\d{1,2}[:：]\d{2}|\d{4}[-/.]\d{1,2}|星期|周[一二三四五六日天]"
    r"|[今去明前]年|[上下本]月|[上下本]周|凌晨|上午|下午|晚上|[春夏秋冬]季|[年月]初|[年月]底|[年月]末"
    r"|\b(?:19|20)\d\d\b|\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\b",
    re.I,
)
_NUMBER = re.compile(r"\d|[一二三四五六七八九十百千万亿两]")
_MONEY = re.compile(r"[元圆镑$¥￥€]|美金|日円|块钱|\b(?:usd|rmb|eur|dollars?|euros?|pounds?|yuan)\b", re.I)


def key_units(question: str) -> list[str]:
    """The question's key terms: its words (lexical.tokenize, as BM25 reads it) without
    the words that only ask, and without single Chinese characters (年, 届: too common)."""
    keep = [t for t in tokenize(question) if t not in _ASKING and not (len(t) == 1 and not t.isascii())]
    return list(dict.fromkeys(keep))


def coverage(keys: list[str], text: str) -> float:
    """Share of the key terms present in ``text`` (as ``squash`` compares); 1.0 when there are none."""
    if not keys:
        return 1.0
    flat = squash(text)
    return sum(squash(k) in flat for k in keys) / len(keys)


_LIST = re.compile(r"哪些|哪几|有什么|列出|列举|分别|几种|几个方面|\bwhat are\b|\blist\b|\bwhich (?:are|ones)\b", re.I)


def asks_for_list(question: str) -> bool:
    """Whether the question asks for several items ("有哪些优势", "what are the risks")."""
    return bool(_LIST.search(question))


def kind(question: str) -> str | None:
    """"money", "date", "number", "place" or None (any answer can fit)."""
    for pattern, name in _KINDS:
        if pattern.search(question):
            return name
    return None


def novel(sentence: str, question: str) -> str:
    """The sentence with what it repeats of the question blanked out (its character
    bigrams and numbers): what is left is what the answer adds."""
    sentence = cite.MARKER.sub(" ", sentence)
    q_numbers = set(re.findall(r"\d+(?:\.\d+)?", question))
    q_pairs = {question[i : i + 2] for i in range(len(question) - 1)}
    hidden = [False] * len(sentence)
    for i in range(len(sentence) - 1):
        if sentence[i : i + 2] in q_pairs and _CJK_PAIR.match(sentence[i : i + 2]):
            hidden[i] = hidden[i + 1] = True
    for m in re.finditer(r"\d+(?:\.\d+)?", sentence):
        if m.group() in q_numbers:
            hidden[m.start() : m.end()] = [True] * (m.end() - m.start())
    return "".join(" " if h else c for c, h in zip(sentence, hidden))


_CJK_PAIR = re.compile(r"[\u3400-\u9fff]{2}")
_PLACE = re.compile(r"[市省县区州城馆院场岛山湖河路街村镇港湾站宫殿厅堂寺楼国]|中心|大学|[A-Z][a-z]+")


def fits(added: str, wanted: str | None) -> bool:
    """Whether what a sentence adds to the question (``novel``) can answer it: a date or
    time when one is asked for, a number, a place; and for any question, something
    more than its own words (a half sentence "…的原型是[1]" adds nothing)."""
    if len(units(added)) < 1:
        return False
    if wanted == "date":
        return bool(_DATE.search(added))
    if wanted == "number":
        return bool(_NUMBER.search(added))
    if wanted == "money":  # a share or a count is no price
        return bool(_NUMBER.search(added)) and bool(_MONEY.search(added))
    if wanted == "place":  # a sentence that only adds a date is no place
        return bool(_PLACE.search(added)) or not _DATE.search(added)
    return True


def anchor(sentence: str, passage: str) -> int:
    """Where in the passage the sentence's words sit: the start of the passage window
    holding most of the sentence's units (the answer span), by a sliding count."""
    wanted = set(units(sentence))
    if not wanted or len(passage) <= 2 * WINDOW:
        return 0
    best, best_at = -1, 0
    step = max(1, WINDOW // 4)
    last = max(0, len(passage) - WINDOW)
    for at in [*range(0, last, step), last]:
        n = len(wanted & set(units(passage[at : at + WINDOW])))
        if n > best:
            best, best_at = n, at
    return best_at


_LATIN_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-.][A-Za-z0-9]+)*")
_TITLE = re.compile(r"《([^》]{1,40})》")


def squash(text: str) -> str:
    """Lower case without spaces and punctuation: "GPT-4" and "gpt4" are one name, and so
    are a title written "甲：乙" and "甲乙"."""
    return re.sub(r"[\W_]+", "", text).lower()


def names(question: str) -> tuple[list[str], list[str]]:
    """The names a question is about, which an answer's passage must hold: Latin-letter
    names and codes ("EMNLP2022", "C919"), every one of them, and titles in 《》, at
    least one (a question comparing two works is answered from passages on either).
    Other key terms are only counted (``coverage``); a passage without the very name
    speaks of something else."""
    # In a question written in Latin letters every word would be a "name".
    latin = [] if not re.search(r"[\u3400-\u9fff]", question) else [
        m.group() for m in _LATIN_NAME.finditer(question)
        # a name or code has a capital or a digit; "open source" in a Chinese question is words
        if len(m.group()) >= 2 and re.search(r"[A-Z\d]", m.group()) and m.group().lower() not in _ASKING
    ]
    titles = [t for t in dict.fromkeys(squash(t) for t in _TITLE.findall(question)) if t]
    return list(dict.fromkeys(squash(n) for n in latin)), titles


def holds_names(question: str, passage: str) -> bool:
    every, one_of = names(question)
    whole = squash(passage)
    return all(n in whole for n in every) and (not one_of or any(t in whole for t in one_of))


def score(question: str, sentence: str, passage: str) -> float:
    """Evidence that ``sentence``, cited to ``passage``, answers ``question``: 0 if it is
    not of the kind asked for, else the share of the question's key terms found within
    WINDOW characters of where the sentence's words sit in the passage."""
    added = novel(sentence, question)
    if not fits(added, kind(question)):
        return 0.0
    if not holds_names(question, passage):
        return 0.0
    at = anchor(sentence, passage)
    near = passage[max(0, at - WINDOW) : at + 2 * WINDOW]
    # The sentence as written: what it adds has the question's own "2022年" blanked out,
    # so a comparison ("比2021年增加") would look like another year. Only a verbatim copy
    # of the whole question is taken out: "第28届…时间：第29届…" names the asked edition
    # only by repeating the question.
    said = unechoed(sentence, question)
    if other_instance(question, near) or other_instance(question, said):
        return 0.0
    # Another name for what the question names ("杭州马拉松" for 成都马拉松): in the
    # answer, unless that name is all it adds ("李娜市长" for 杭州市长是谁); or in every
    # sentence of the passage its words come from, a name the answer left out.
    if named(question):
        words = key_units(cite.FRAMING.sub(" ", added))
        if renamed(question, said, words[0] if len(words) == 1 else ""):
            return 0.0
        sources = holding(words, passage)
        if sources and all(renamed(question, s, sentence) for s in sources):
            return 0.0
    return coverage(key_units(question), near)


def holding(keys: list[str], passage: str) -> list[str]:
    """The passage's sentences that hold most of ``keys`` (at least half of them): where an
    answer's words come from."""
    sentences = [passage[s:e] for s, e in split_sentences(passage)]
    shares = [coverage(keys, s) if keys else 0.0 for s in sentences]
    best = max(shares, default=0.0)
    return [s for s, share in zip(sentences, shares) if share == best] if best >= 0.5 else []


def retrieval_score(question: str, found: list[Passage]) -> float:
    """How well the best passage (with its title and headings) covers the question's key terms."""
    keys = key_units(question)
    return max((coverage(keys, header(p) + "\n" + p.text) for p in found), default=0.0)


def grounded(question: str, sentence: str, found: list[Passage]) -> bool:
    """Whether what the sentence adds to the question is in one of the passages: the citation
    check passes "<the question's words> 是<a name no passage mentions>" on the repeated
    words alone. Any passage will do, since a right answer is sometimes cited to the wrong one."""
    # Counted in words, as the key terms are: character pairs would count "由张" of
    # "由张三获得" against a passage that names 张三.
    added = novel(sentence, question)
    texts = [header(p) + "\n" + p.text for p in found]
    # A rank ("第4次") is a number the citation check finds anywhere ("4比2"): it must be
    # stated with its counter ("第四次"; or "4次", "一季度", as passages also write it).
    if ordinals(sentence) - ordinals(question) - set().union(*(ordinals(t, bare=True) for t in texts)):
        return False
    words = key_units(cite.FRAMING.sub(" ", added))
    if not words:
        return True  # no word to look up (only what asks or frames): ``score`` decides
    return any(coverage(words, t) >= cite.SUPPORTED for t in texts)


_ORDINAL = re.compile(r"第\s*(\d{1,3}|[一二两三四五六七八九十]{1,3})\s*([次届个位名场轮季期代])")
_COUNT = re.compile(r"(\d{1,3}|[一二两三四五六七八九十]{1,3})\s*([次届个位名场轮季期代])")
_DIGIT = {c: i for i, c in enumerate("〇一二三四五六七八九")} | {"两": 2}


def ordinals(text: str, *, bare: bool = False) -> set[tuple[int, str]]:
    """The ranks a text states, as (number, counter): "第4次" and "第四次" are (4, "次");
    ``bare``: "4次" too."""
    out = set()
    for number, counter in (_COUNT if bare else _ORDINAL).findall(text):
        if number.isdigit():
            out.add((int(number), counter))
        elif "十" in number:  # 十, 十二, 二十, 二十三
            tens, _, ones = number.partition("十")
            out.add((_DIGIT.get(tens, 1) * 10 + _DIGIT.get(ones, 0), counter))
        elif len(number) == 1:
            out.add((_DIGIT[number], counter))
    return out


@dataclass(frozen=True)
class Judgement:
    checked: cite.Checked  # the answer with its citations checked
    score: float | None  # evidence that the answer answers the question (None: not measured)
    refused_by: str  # "" (answered), "model" (its own refusal) or "checker"
    why: str = ""


def judge(question: str, raw: str, found: list[Passage], *, cross_lingual: bool, gate: float = ANSWER_GATE,
          refusal_p: float | None = None) -> Judgement:
    """The model's text -> checked answer, and whether it stands.

    Refused when no sentence is supported by the passage it cites (the checker),
    when the supported ones do not answer this question (score below ``gate``), or
    when the model nearly refused (``refusal_p``, the probability of the refusal's
    first token as its first, at ``REFUSAL_P`` or above). An answer in another
    language than its passages is only checked for its numbers (see cite.check), and
    its key terms cannot be looked up in them: no score, and no refusal_p gate (the
    model is less sure of itself across languages, right answers included).
    """
    checked = cite.check(strip_echo(raw, found), [p.text for p in found], cross_lingual=cross_lingual, question=question)
    if not checked.citations:
        if cite.is_refusal(raw):
            return Judgement(checked, None, "model", "the model said the documents do not answer")
        return Judgement(checked, None, "checker", "no sentence of the answer is supported by a passage")
    if cross_lingual:
        return Judgement(checked, None, "")
    best = max((score(question, c.sentence, header(found[c.n - 1]) + "\n" + found[c.n - 1].text) for c in checked.citations
                if grounded(question, c.sentence, found)), default=0.0)
    if best < gate:
        return Judgement(checked, best, "checker", f"the cited passages do not answer the question (evidence {best:.2f})")
    if refusal_p is not None and refusal_p >= REFUSAL_P:
        return Judgement(checked, best, "model", f"the model nearly refused (p {refusal_p:.2f}): its answer is not trusted")
    return Judgement(checked, best, "")
