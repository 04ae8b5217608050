"""The passages cut to the sentences that bear on the question (assistant.focus): pure text."""

from __future__ import annotations

import re

from assistant import prompt
from assistant.focus import GAP, focus
from index.types import Chunk, Hit

# One document, its cleaned text; chunks are spans of it, as ingest makes them.
DOC = (
    "本市今年举办了一场科技展。展会持续三天。"  # 0: about something else
    "记者获悉，第5届数字峰会将于7月12日在滨江会展中心开幕。"  # 1: holds the question's rare terms
    "届时将有300家企业参展。"  # 2: right after: kept as a neighbour
    "天气预报说周末有雨。市民出行请带伞。交通部门提醒注意安全。"  # 3-5: cut
    "数字峰会还将在滨江会展中心举办开放合作分论坛。"  # 6: holds most of them too
)
OTHER = "滨江公园的樱花开了。游客很多。周末有音乐会。"  # none of the question's rarer terms


def _chunk(source, text, start, end, cid):
    return Chunk(cid, source, source, (), text[start:end], start, end)


def _found():
    whole = _chunk("a.txt", DOC, 0, len(DOC), "a")
    other = _chunk("b.txt", OTHER, 0, len(OTHER), "b")
    top = _chunk("c.txt", "本市新闻汇总。" * 3, 0, 21, "c")
    return prompt.passages([Hit(top, 0.9), Hit(whole, 0.5), Hit(other, 0.4)])


QUESTION = "第5届数字峰会什么时候在滨江会展中心开幕？"


def test_the_best_passage_stays_whole_and_others_keep_what_bears_on_the_question():
    found = _found()
    out = focus(QUESTION, found)
    assert out[0] == found[0]  # the retriever's best is given as it is
    assert [p.chunk.id for p in out] == ["c", "a"]  # b holds none of the rarer terms: left out
    cut = out[1]
    # the weighty sentences and their neighbours (展会持续三天 before, 300家企业 after)
    assert all(s in cut.text for s in ("展会持续三天", "7月12日", "300家企业", "开放合作", "交通部门"))
    assert "带伞" not in cut.text and "科技展" not in cut.text
    assert GAP in cut.text


def test_a_focused_passage_points_where_its_kept_text_is():
    cut = focus(QUESTION, _found())[1]
    assert DOC[cut.start : cut.end].startswith(cut.text.split(GAP)[0])
    assert DOC[cut.start : cut.end].endswith(cut.text.split(GAP)[-1])
    for piece in cut.text.split(GAP):
        assert piece in DOC[cut.start : cut.end]


def test_list_questions_other_languages_and_a_single_passage_are_left_whole():
    found = _found()
    assert focus("数字峰会有哪些参展企业？", found) == found
    assert focus("When does the digital summit open?", found) == found
    assert focus(QUESTION, found[:1]) == found[:1]


def test_nothing_is_dropped_when_no_sentence_holds_a_key_term():
    found = _found()
    assert focus("火星探测器什么时候着陆？", found) == found


def test_the_corpus_answers_survive_focus():
    """On real passages of the bundled corpus, the sentence that answers is never cut."""
    from pathlib import Path

    from ingest.chunk import make_chunks
    from ingest.load import load_document

    root = Path(__file__).resolve().parent.parent
    chunks = []
    for path in sorted((root / "corpus").glob("*.txt")):
        chunks += make_chunks(load_document(path, path.name), 200, 40)
    answer = "假装开源就比如LLaMA等大部分目前所谓的开源模型"
    holder = next(c for c in chunks if answer in c.text)
    decoys = [c for c in chunks if "开源" in c.text and c.source != holder.source][:2]
    found = prompt.passages([Hit(decoys[0], 0.9), Hit(holder, 0.8), Hit(decoys[1], 0.7)])
    out = focus('为什么有人说LLaMA是"假装开源"？', found)
    flat = re.sub(r"\s+", "", "".join(p.text for p in out))
    assert re.sub(r"\s+", "", answer) in flat
    assert sum(len(p.text) for p in out) < sum(len(p.text) for p in found)


def test_focus_is_off_unless_asked_for():
    """It costs accuracy (README, "Speed"), so whole passages are the default."""
    from assistant import config
    from assistant.cli import parser

    assert config.load(env={}).focus is False
    for command in (["ask", "q"], ["chat"], ["eval"]):
        args = parser().parse_args([*command, "--focus"])
        assert config.load({k: v for k, v in vars(args).items()}, env={}).focus is True
    assert config.load({k: v for k, v in vars(parser().parse_args(["ask", "q"])).items()}, env={}).focus is False
