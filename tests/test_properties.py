"""Property-based tests (hypothesis) for decoding, cleaning and chunking.

Whatever the input: nothing raises but SkipFile, offsets always point at the
text they claim, chunks come in order, cover every non-blank character, stay
within their size and overlap only by whole sentences of at most ``overlap``.
"""

from __future__ import annotations

from hypothesis import HealthCheck, example, given, settings, strategies as st

from index.errors import SkipFile
from ingest.chunk import chunk_spans, make_chunks, split_sentences
from ingest.clean import clean
from ingest.decode import read_text
from ingest.load import Document
from ingest.raw import content_hash
from ingest.text import _is_heading_text, _norm_line

# Pieces that exercise the rules: sentence enders of both scripts, closers,
# abbreviations, list markers, headings, tags, fences, URLs, odd whitespace.
PIECES = [
    "。", "！", "？", "；", "…", ".", "!", "?", ";", "，", "、", ":", "：", "”", "’", "）", ")", "」", "\"", "'",
    "\n", "\n\n", "\r\n", "\r", " ", "\t", "\u3000", "\u00a0", "\u200b", "\ufeff", "\u2028",
    "开源", "大模型", "数据隐私", "LLaMA", "Dr.", "e.g.", "3.14", "1. ", "- ", "• ", "# ", "## ", "---\n", "```\n",
    "<p>", "</p>", "<h1>", "</h1>", "<script>", "</script>", "<br>", "&amp;", "<!--", "-->",
    "https://example.com/a", "[1]", "【2】", "相关文章：", "目录", "图片", "> ", "|---|",
]
TEXT = st.lists(st.one_of(st.sampled_from(PIECES), st.text(max_size=8)), max_size=60).map("".join)
LONG_LINE = st.integers(1, 3000).map(lambda n: "开源模型" * n)  # no punctuation at all: cut at size

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def check_spans(text: str, spans: list[tuple[int, int]], size: int, overlap: int) -> None:
    covered = [False] * len(text)
    prev = None
    for s, e in spans:
        assert 0 <= s < e <= len(text)
        assert e - s <= size
        assert text[s:e] == text[s:e].strip(), "spans are trimmed"
        if prev is not None:
            assert s > prev[0] and e > prev[1], "ordered"
            if s < prev[1]:
                assert prev[1] - s <= overlap, "overlap within budget"
        for i in range(s, e):
            covered[i] = True
        prev = (s, e)
    missing = [i for i, c in enumerate(text) if not c.isspace() and not covered[i]]
    assert not missing, f"uncovered characters at {missing[:5]}"


@SETTINGS
@given(TEXT)
@example("")
@example("\n\n  \n")
def test_sentences_cover_the_text_exactly(text):
    spans = split_sentences(text)
    assert [s for s, _ in spans][:1] == ([0] if text else [])
    for (s1, e1), (s2, _) in zip(spans, spans[1:]):
        assert e1 == s2 and s1 < e1
    assert (spans[-1][1] if spans else 0) == len(text)


@SETTINGS
@given(st.one_of(TEXT, LONG_LINE), st.integers(1, 400), st.data())
@example("开源模型" * 600, 200, None)
@example("a. b. c. d.", 1, None)
def test_chunks_are_ordered_covering_and_within_size(text, size, data):
    overlap = data.draw(st.integers(0, size - 1)) if data is not None else min(40, size - 1)
    breaks = data.draw(st.lists(st.integers(0, max(0, len(text))), max_size=5)) if data is not None else []
    check_spans(text, chunk_spans(text, size, overlap, breaks), size, overlap)


@SETTINGS
@given(TEXT, st.sampled_from([None, True, False]), st.sampled_from([None, True, False]))
def test_clean_never_raises_and_headings_point_at_their_lines(raw, html, markdown):
    title, text, headings = clean(raw, html=html, markdown=markdown)
    assert isinstance(title, str) and len(title) <= 80
    assert "\r" not in text and "\n\n\n" not in text
    assert [h[0] for h in headings] == sorted(h[0] for h in headings)
    for offset, level, heading in headings:
        assert 1 <= level <= 6
        assert offset == 0 or text[offset - 1] == "\n"
        assert text[offset:].split("\n", 1)[0].strip() == heading


@SETTINGS
@given(TEXT, st.integers(50, 400), st.data())
def test_chunks_of_a_cleaned_document_quote_it_exactly(raw, size, data):
    overlap = data.draw(st.integers(0, size - 1))
    title, text, headings = clean(raw)
    doc = Document("d.txt", title or "d", text, headings, content_hash(raw.encode("utf-8", "replace")))
    chunks = make_chunks(doc, size, overlap)
    assert len({c.id for c in chunks}) == len(chunks)
    for c in chunks:
        assert doc.text[c.start : c.end] == c.text and c.text.strip()
    check_spans(text, [(c.start, c.end) for c in chunks], size, overlap)


@SETTINGS
@given(st.binary(max_size=400))
@example(b"\xff\xfe" + b"a")  # a BOM and half a UTF-16 character
@example("开源".encode("utf-8")[:-1])
@example("開源模型".encode("big5"))
def test_any_bytes_decode_or_skip_with_one_line(data):
    try:
        text = read_text(data)
    except SkipFile as err:
        assert str(err) and "\n" not in str(err)
        return
    assert "\r" not in text and "\x00" not in text


@SETTINGS
@given(st.text(max_size=200))
def test_line_rules_never_raise(line):
    norm = _norm_line(line)
    assert norm == norm.strip()
    _is_heading_text(norm)
