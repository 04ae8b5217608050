"""Shared pieces of line-based cleaning: the ``_Line`` record, CJK and whitespace
regexes, line normalisation, and the "looks like a heading" test.

Used by ingest.html_lines (HTML -> lines), ingest.text_lines (plain text and
Markdown -> lines), ingest.clean (cleaning rules) and the format readers, so it
lives below all of them; it imports none.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(slots=True)  # a 50 MB text is a million of them
class _Line:
    text: str
    level: int = 0  # 1..6 for a heading line
    verbatim: bool = False  # code: exempt from boilerplate rules
    loc: tuple = ()  # page/slide/sheet and row of a line read from a paged or tabular file (ingest.location)
    joined: str | None = None  # continues the line before, after this separator (a paragraph running onto the next page)


_CJK = (
    "\u2e80-\u2fdf\u3000-\u303f\u3040-\u30ff\u3100-\u312f\u31a0-\u31ff\u3400-\u4dbf"
    "\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef\U00020000-\U0003134f"
)
_CJK_RE = re.compile(f"[{_CJK}]")
_CJK_SPACE_RE = re.compile(f"(?<=[{_CJK}“”‘’…—]) +(?=[{_CJK}“”‘’…—])")
_ZERO_WIDTH_RE = re.compile("[\u200b-\u200d\u2060\ufeff\u00ad]")
_SPACES_RE = re.compile(r"[ \t\f\v\u00a0\u2000-\u200a\u202f\u205f\u3000]+")

_URL_ONLY_RE = re.compile(r"^[<(\[]?(?:https?://|ftp://|www\.)\S+?[>)\]]?$", re.I)

_END_PUNCT = "。，,、；;：:！!？?.…~～"  # a line ending in one of these is prose, not a heading
_INNER_PUNCT_RE = re.compile(r"[。，,；;！!？?]")  # sentences inside a line: prose, not a heading
_BULLET_RE = re.compile(r"^(?:[-*+•·●○■▪◆]\s|\d+[)）]\s)")

HEADING_MAX = 30  # characters: longer lines are never plain-text headings
TITLE_MAX = 80  # characters: a longer title is cut; a longer line is never a setext heading


def _norm_line(line: str) -> str:
    line = _ZERO_WIDTH_RE.sub("", line)
    return _SPACES_RE.sub(" ", line).strip()


def _is_heading_text(text: str) -> bool:
    """Short, no sentence punctuation inside or at the end, not a list item or URL."""
    return (
        0 < len(text) <= HEADING_MAX
        and text[-1] not in _END_PUNCT
        and not _INNER_PUNCT_RE.search(text)
        and not _BULLET_RE.match(text)
        and not _URL_ONLY_RE.match(text)
        and any(c.isalpha() for c in text)
    )
