"""ingest.chunk: sentence splitting, chunk span invariants, ids and heading paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.chunk import CHUNKER_VERSION, chunk_spans, make_chunks, split_sentences
from ingest.clean import clean
from ingest.load import Document, load_document

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
CORPUS_FILES = sorted(CORPUS.iterdir())


def pieces(text: str) -> list[str]:
    spans = split_sentences(text)
    # Spans cover the text exactly: contiguous, from 0 to the end.
    assert "".join(text[s:e] for s, e in spans) == text
    if text:
        assert spans[0][0] == 0 and spans[-1][1] == len(text)
        assert all(a[1] == b[0] for a, b in zip(spans, spans[1:]))
        assert all(s < e for s, e in spans)
    return [text[s:e] for s, e in spans]


@pytest.mark.parametrize(
    "text, expected",
    [
        # Chinese
        ("开源模型公开代码。闭源模型不公开。", ["开源模型公开代码。", "闭源模型不公开。"]),
        ("真的吗？！当然……好吧", ["真的吗？！", "当然……", "好吧"]),
        ("他说：“你好！”然后走了。", ["他说：“你好！”", "然后走了。"]),
        ("第一条；第二条；", ["第一条；", "第二条；"]),
        ("（注：见上文。）下一句。", ["（注：见上文。）", "下一句。"]),
        ("「开源」与『闭源』，各有优劣。", ["「开源」与『闭源』，各有优劣。"]),
        ("标题\n正文第一句。第二句。\n\n下一段", ["标题\n", "正文第一句。", "第二句。\n\n", "下一段"]),
        ("何者更胜一筹?在当今", ["何者更胜一筹?", "在当今"]),
        ("较低;闭源模型较高", ["较低;", "闭源模型较高"]),
        # English
        ("Open models are free. Closed ones are not.", ["Open models are free. ", "Closed ones are not."]),
        ("Pi is 3.14 today. Next.", ["Pi is 3.14 today. ", "Next."]),
        ("Use tools, e.g. Python. It works!", ["Use tools, e.g. Python. ", "It works!"]),
        ("Ask Dr. Smith. Really? Yes!! Ok", ["Ask Dr. Smith. ", "Really? ", "Yes!! ", "Ok"]),
        ('He said "stop." Then left.', ['He said "stop." ', "Then left."]),
        ("Version 2. Then 3.", ["Version 2. Then 3."]),
        ("Wait... what", ["Wait... what"]),
        ("see the U.S. market", ["see the U.S. market"]),
        ("end. lower case goes on", ["end. lower case goes on"]),
        # Mixed
        ("LLaMA 2 是开源的。GPT-4 is closed. 对吗？", ["LLaMA 2 是开源的。", "GPT-4 is closed. ", "对吗？"]),
        ("版本号是 v1.2.3，发布于 2024.5。", ["版本号是 v1.2.3，发布于 2024.5。"]),
        # Edges
        ("", []),
        ("   ", ["   "]),
        ("\n\n开头有空行。", ["\n\n", "开头有空行。"]),
        ("没有标点的一句话", ["没有标点的一句话"]),
    ],
)
def test_split_sentences(text, expected):
    assert pieces(text) == expected


# --------------------------------------------------------------------------- chunk_spans invariants

def check_spans(text: str, spans: list[tuple[int, int]], size: int, overlap: int) -> None:
    assert spans or not text.strip()
    for s, e in spans:
        assert 0 <= s < e <= len(text)
        assert e - s <= size
        chunk = text[s:e]
        assert chunk.strip() == chunk and chunk
    starts = [s for s, _ in spans]
    assert starts == sorted(set(starts)), "ordered by start, no duplicates"
    ends = [e for _, e in spans]
    assert ends == sorted(set(ends))
    for (s1, e1), (s2, e2) in zip(spans, spans[1:]):
        assert max(0, e1 - s2) <= overlap
    covered = bytearray(len(text))
    for s, e in spans:
        covered[s:e] = b"\x01" * (e - s)
    missing = [i for i, c in enumerate(text) if not c.isspace() and not covered[i]]
    assert not missing, f"uncovered characters at {missing[:5]}"


SYNTHETIC = [
    "开源大模型允许任何人访问代码。闭源大模型只由特定组织使用！真的吗？当然。" * 12,
    "Open models are shared. Closed models are kept private; vendors sell access. " * 15,
    "没有任何标点的超长句子" * 40,  # one sentence longer than any size: cut
    "一句，很长，的句子，用逗号，分隔，" * 30,  # cut at commas
    "word " * 200,  # cut at spaces
    "\n\n  前后有空白。  \n\n第二段。\n\n\n",
    "短。\n" * 50,
    "",
    "   \n\t ",
]


@pytest.mark.parametrize("size, overlap", [(1, 0), (5, 2), (20, 0), (50, 10), (120, 40), (300, 60), (1000, 200)])
@pytest.mark.parametrize("index", range(len(SYNTHETIC)))
def test_chunk_spans_invariants_synthetic(index, size, overlap):
    text = SYNTHETIC[index]
    check_spans(text, chunk_spans(text, size, overlap), size, overlap)


@pytest.mark.parametrize("size, overlap", [(50, 0), (100, 30), (300, 60), (500, 100), (2000, 0)])
@pytest.mark.parametrize("path", CORPUS_FILES, ids=[p.name[:3] for p in CORPUS_FILES])
def test_chunk_spans_invariants_corpus(path, size, overlap):
    doc = load_document(path, path.name)
    breaks = [h[0] for h in doc.headings]
    check_spans(doc.text, chunk_spans(doc.text, size, overlap), size, overlap)
    check_spans(doc.text, chunk_spans(doc.text, size, overlap, breaks), size, overlap)


def test_chunks_overlap_by_whole_sentences():
    text = "第一句话。第二句话。第三句话。第四句话。第五句话。第六句话。"
    spans = chunk_spans(text, 15, 5)
    assert [text[s:e] for s, e in spans] == ["第一句话。第二句话。第三句话。", "第三句话。第四句话。第五句话。", "第五句话。第六句话。"]
    sentences = {text[s:e] for s, e in split_sentences(text)}
    for (s1, e1), (s2, e2) in zip(spans, spans[1:]):
        shared = text[s2:e1]
        assert shared in sentences  # here: exactly one whole sentence


def test_no_overlap_when_zero():
    text = "一。二。三。四。五。六。七。八。"
    spans = chunk_spans(text, 6, 0)
    assert all(e1 <= s2 for (_, e1), (s2, _) in zip(spans, spans[1:]))


def test_overlap_never_reaches_two_chunks_back():
    text = "一。二。三。四。五。六。七。八。九。十。"
    spans = chunk_spans(text, 6, 5)
    for (_, e1), (s3, _) in zip(spans, spans[2:]):
        assert e1 <= s3


def test_long_sentence_prefers_comma_cut():
    text = "甲" * 30 + "，" + "乙" * 30 + "。"
    spans = chunk_spans(text, 40, 0)
    assert text[spans[0][0]:spans[0][1]] == "甲" * 30 + "，"


def test_heading_starts_a_new_chunk_when_half_full():
    text = "第一节\n" + "前文句子。" * 6 + "\n第二节\n" + "后文句子。" * 3
    heading2 = text.index("第二节")
    spans = chunk_spans(text, 60, 10, breaks=[0, heading2])
    assert heading2 in [s for s, _ in spans]
    check_spans(text, spans, 60, 10)


@pytest.mark.parametrize("size, overlap", [(0, 0), (10, 10), (10, -1)])
def test_bad_parameters(size, overlap):
    with pytest.raises(ValueError):
        chunk_spans("文本。", size, overlap)


# --------------------------------------------------------------------------- make_chunks

def doc_from(raw: str, source: str = "notes/a.md") -> Document:
    title, text, headings = clean(raw, markdown=True)
    return Document(source, title, text, headings, "h" * 64)


HAND_MADE = (
    "# 总览\n"
    "导言第一句。导言第二句。\n"
    "## 开源\n"
    "开源第一句。开源第二句。\n"
    "### 许可证\n"
    "许可证句子。\n"
    "## 闭源\n"
    "闭源第一句。闭源第二句。\n"
    "# 附录\n"
    "附录句子。\n"
)


def test_heading_paths_on_hand_made_document():
    doc = doc_from(HAND_MADE)
    chunks = make_chunks(doc, 8, 0)  # small: one sentence or heading line per chunk
    by_text = {c.text: c.headings for c in chunks}
    assert by_text["导言第一句。"] == ("总览",)
    assert by_text["开源第二句。"] == ("总览", "开源")
    assert by_text["许可证句子。"] == ("总览", "开源", "许可证")
    assert by_text["闭源第一句。"] == ("总览", "闭源"), "a level-2 heading closes the level-3 one"
    assert by_text["附录\n附录句子。"] == ("附录",), "a level-1 heading closes everything"
    for c in chunks:
        assert doc.text[c.start:c.end] == c.text
        assert c.source == doc.source and c.title == "总览" and c.doc_hash == doc.doc_hash


def test_chunk_starting_at_heading_includes_it():
    doc = doc_from(HAND_MADE)
    chunks = make_chunks(doc, 1000, 0)
    assert len(chunks) == 1 and chunks[0].headings == ("总览",)


@pytest.mark.parametrize("path", CORPUS_FILES, ids=[p.name[:3] for p in CORPUS_FILES])
def test_ids_stable_and_unique(path):
    doc = load_document(path, path.name)
    first = make_chunks(doc, 300, 60)
    second = make_chunks(load_document(path, path.name), 300, 60)
    assert [c.id for c in first] == [c.id for c in second]
    assert first == second
    assert len({c.id for c in first}) == len(first)
    for c in first:
        assert doc.text[c.start:c.end] == c.text
        assert len(c.text) <= 300


def test_ids_depend_on_source_and_text():
    a = make_chunks(doc_from(HAND_MADE, "a.md"), 50, 10)
    b = make_chunks(doc_from(HAND_MADE, "b.md"), 50, 10)
    assert not {c.id for c in a} & {c.id for c in b}
    c = make_chunks(doc_from(HAND_MADE.replace("附录句子", "附录改了"), "a.md"), 50, 10)
    assert a[0].id == c[0].id and a[-1].id != c[-1].id


def test_known_id_format():
    # Pinned so that a change to ids (which forces a full re-index) is deliberate.
    doc = Document("x.txt", "t", "开源。", (), "")
    (chunk,) = make_chunks(doc, 300, 60)
    assert chunk.id == "47ddfe38-0-97a87bf5"  # sha1("x.txt")[:8]-start-sha1(text)[:8]
    assert CHUNKER_VERSION == "1"


def test_cleaning_and_chunking_pause_the_collector_and_always_give_it_back():
    import gc

    from ingest.gc_paused import gc_paused

    seen = []

    @gc_paused
    def inner(fail):
        seen.append(gc.isenabled())
        if fail:
            raise ValueError("bad input")

    @gc_paused
    def outer():
        inner(False)
        seen.append(gc.isenabled())

    assert gc.isenabled()
    outer()
    assert seen == [False, False] and gc.isenabled()  # the nested call did not switch it back on early
    with pytest.raises(ValueError):
        inner(True)
    assert gc.isenabled()
    gc.disable()  # a caller that turned it off keeps it off
    try:
        inner(False)
        assert not gc.isenabled()
    finally:
        gc.enable()
