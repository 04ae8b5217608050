"""Cleaned text -> overlapping chunks of whole sentences, each carrying its heading path.

Offsets always refer to the document's cleaned text, so ``text[start:end]`` is
the chunk; spans are trimmed, the text itself is never altered.
"""

from __future__ import annotations

import hashlib
import re
from typing import Iterable

from index.types import Chunk
from ingest.gc_paused import gc_paused
from ingest.load import Document
from ingest.location import span_location

CHUNKER_VERSION = "1"  # bump when output changes for the same input; the index refuses to mix versions

_CJK_ENDERS = "。｡！？；…"  # always end a sentence
_LATIN_ENDERS = "!?;"  # end a sentence before whitespace, CJK text or the end
_CLOSERS = "”’」』）)】》〉\"'］]"  # closing quotes/brackets stay with the sentence they close
_SOFT_BREAKS = "，、,；;：: \t"  # where an over-long sentence is preferably cut
_CJK_RE = re.compile("[\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef\U00020000-\U0003134f]")
# Only these characters can end a span: the scan jumps from one to the next.
_CANDIDATES = re.compile("[\n." + re.escape(_CJK_ENDERS + _LATIN_ENDERS) + "]")
# A line break or a CJK ender always ends one, with the enders, closers and whitespace after it.
_SURE_END = re.compile("(?:\n|[" + re.escape(_CJK_ENDERS) + "][" + re.escape(_CJK_ENDERS + _LATIN_ENDERS + _CLOSERS) + "]*)\\s*")
_WORD_BEFORE = re.compile(r"[\w.]*$")
_ABBREVIATIONS = frozenset({"mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "vs", "fig", "no", "vol", "approx", "cf"})


def _is_cjk(c: str) -> bool:
    return bool(_CJK_RE.match(c))


def _period_ends_sentence(text: str, i: int, j: int) -> bool:
    """Is the '.' at ``i`` (closers after it end at ``j``) a sentence end?

    Yes when followed by whitespace or the end and preceded by a letter (so not
    "3.14", "1. " or "..."), unless the word is an abbreviation ("e.g.", "Dr.")
    or the next word starts in lower case.
    """
    n = len(text)
    if j < n and not text[j].isspace():
        # Chinese written with a half-width full stop: "...处理.企业..."
        return i > 0 and _is_cjk(text[i - 1]) and _is_cjk(text[j])
    if i == 0 or not text[i - 1].isalpha():
        return False
    word = _WORD_BEFORE.search(text, max(0, i - 20), i).group(0)
    if "." in word or word.lower() in _ABBREVIATIONS:
        return False
    k = j
    while k < n and text[k] in " \t":
        k += 1
    return not (k < n and text[k].islower())


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Contiguous spans covering ``text`` exactly, one per sentence or line.

    A sentence keeps its closing quotes/brackets and the whitespace after it, so
    only a text that starts with whitespace can have a whitespace-only span.
    """
    spans: list[tuple[int, int]] = []
    n = len(text)
    start = i = 0
    while i < n:
        found = _CANDIDATES.search(text, i)
        if found is None:
            break
        i = found.start()
        sure = _SURE_END.match(text, i)
        if sure is not None:
            spans.append((start, sure.end()))
            start = i = sure.end()
            continue
        c = text[i]
        end = None
        if c in _LATIN_ENDERS:
            j = i + 1
            while j < n and (text[j] in _LATIN_ENDERS or text[j] in _CLOSERS):
                j += 1
            if j == n or text[j].isspace() or _is_cjk(text[j]):
                end = j
        else:  # "."
            j = i + 1
            while j < n and text[j] in _CLOSERS:
                j += 1
            if _period_ends_sentence(text, i, j):
                end = j
        if end is None:
            i += 1
            continue
        while end < n and text[end].isspace():
            end += 1
        spans.append((start, end))
        start = i = end
    if start < n:
        spans.append((start, n))
    return spans


def _trim(text: str, s: int, e: int) -> tuple[int, int]:
    while s < e and text[s].isspace():
        s += 1
    while e > s and text[e - 1].isspace():
        e -= 1
    return s, e


def _units(text: str, size: int) -> list[tuple[int, int]]:
    """Trimmed sentences; one longer than ``size`` is cut into pieces of at most ``size``."""
    units: list[tuple[int, int]] = []
    for s, e in split_sentences(text):
        s, e = _trim(text, s, e)
        while e - s > size:
            # Prefer cutting just after a comma or space in the second half of the window.
            cut = s + size
            for k in range(s + size, s + size // 2, -1):
                if text[k - 1] in _SOFT_BREAKS:
                    cut = k
                    break
            ps, pe = _trim(text, s, cut)
            if pe > ps:
                units.append((ps, pe))
            s, e = _trim(text, cut, e)
        if e > s:
            units.append((s, e))
    return units


def chunk_spans(text: str, size: int, overlap: int, breaks: Iterable[int] = ()) -> list[tuple[int, int]]:
    """Pack whole sentences into spans of at most ``size`` characters.

    Consecutive spans share whole sentences totalling at most ``overlap``
    characters. ``breaks`` are offsets (heading lines) where a new span is
    started, without overlap, once the current one is at least half full.
    Together the spans cover every non-whitespace character of ``text``.
    """
    if size < 1:
        raise ValueError("size must be at least 1")
    if not 0 <= overlap < size:
        raise ValueError("overlap must be at least 0 and less than size")
    units = _units(text, size)
    breaks = set(breaks)
    spans: list[tuple[int, int]] = []
    i = 0
    floor = 0  # overlap may not reach back into the chunk before the previous one
    while i < len(units):
        j = i
        at_break = False
        while j + 1 < len(units) and units[j + 1][1] - units[i][0] <= size:
            if units[j + 1][0] in breaks and units[j][1] - units[i][0] >= size // 2:
                at_break = True
                break
            j += 1
        spans.append((units[i][0], units[j][1]))
        if j + 1 >= len(units):
            break
        nxt = j + 1
        # No overlap into a chunk that starts with a heading: it opens a new section.
        if not at_break and units[nxt][0] not in breaks:
            # Step back over whole sentences while the overlap and the next sentence still fit.
            k = j + 1
            while (
                k - 1 > max(i, floor - 1)
                and units[j][1] - units[k - 1][0] <= overlap
                and units[j + 1][1] - units[k - 1][0] <= size
            ):
                k -= 1
            nxt = k
        floor = j + 1
        i = nxt
    return spans


def _sha1(s: str) -> str:
    return hashlib.sha1(s.encode("utf-8")).hexdigest()


@gc_paused
def make_chunks(doc: Document, size: int, overlap: int) -> list[Chunk]:
    """Chunks of ``doc`` with stable ids and the heading path in force at each chunk's start."""
    spans = chunk_spans(doc.text, size, overlap, breaks=(h[0] for h in doc.headings))
    source_key = _sha1(doc.source)[:8]
    chunks: list[Chunk] = []
    open_headings: dict[int, str] = {}  # level -> title of the heading currently in force
    h = 0
    for s, e in spans:
        while h < len(doc.headings) and doc.headings[h][0] <= s:
            _, level, title = doc.headings[h]
            # A heading closes every deeper one before it.
            for deeper in [lv for lv in open_headings if lv >= level]:
                del open_headings[deeper]
            open_headings[level] = title
            h += 1
        text = doc.text[s:e]
        chunks.append(Chunk(
            id=f"{source_key}-{s}-{_sha1(text)[:8]}",
            source=doc.source,
            title=doc.title,
            headings=tuple(open_headings[lv] for lv in sorted(open_headings)),
            text=text,
            start=s,
            end=e,
            doc_hash=doc.doc_hash,
            location=span_location(doc.marks, s, e),
        ))
    return chunks
