"""HTML -> lines: an HTMLParser that drops non-content tags, ends lines at block
tags, joins inline text, and marks headings (``<hN>`` and all-bold paragraphs).

Standard library only.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

from ingest.text import _CJK_RE, _CJK_SPACE_RE, _Line, _is_heading_text, _norm_line

_DROP_TAGS = frozenset({
    "script", "style", "svg", "head", "link", "meta", "noscript", "img", "iframe", "nav", "footer",
    "form", "button", "aside", "template", "canvas", "select", "textarea", "object", "video", "audio",
    "picture", "math",
})
_VOID_TAGS = frozenset({"img", "link", "meta", "br", "hr", "input", "source", "area", "base", "col", "embed", "wbr", "param", "track"})
_BLOCK_TAGS = frozenset({
    "p", "div", "li", "br", "tr", "article", "section", "ul", "ol", "pre", "blockquote", "table",
    "h1", "h2", "h3", "h4", "h5", "h6", "hr", "dl", "dt", "dd", "header", "main", "figure",
    "figcaption", "address", "details", "summary", "caption", "thead", "tbody", "body", "html",
})
_BOLD_TAGS = frozenset({"strong", "b"})
_SOFT = "\ue000"  # whitespace that was only source indentation around a tag


class _HTMLLines(HTMLParser):
    """HTML -> lines. Block tags end lines, inline tags join the text around them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[_Line] = []
        self.html_title = ""
        self._buf: list[str] = []
        self._bold_only = True  # every visible char of the current line is inside <strong>/<b>
        self._skip: list[str] = []
        self._level = 0
        self._bold = 0
        self._pre = 0
        self._in_title = False

    def handle_starttag(self, tag, attrs):
        if tag == "title" and all(t == "head" for t in self._skip) and not self.html_title:
            self._in_title = True  # the page title sits in <head>, which is otherwise dropped
            return
        if self._skip:
            if tag in _DROP_TAGS and tag not in _VOID_TAGS:
                self._skip.append(tag)
            return
        if tag in _DROP_TAGS:
            if tag not in _VOID_TAGS:
                self._skip.append(tag)
            return
        if tag in _BLOCK_TAGS:
            self._flush()
            if len(tag) == 2 and tag[0] == "h" and tag[1] in "123456":
                self._level = int(tag[1])
            if tag == "pre":
                self._pre += 1
        elif tag in ("td", "th") and self._buf:
            self._buf.append(" | ")
        elif tag in _BOLD_TAGS:
            self._bold += 1

    def handle_startendtag(self, tag, attrs):
        if not self._skip and tag in _BLOCK_TAGS:
            self._flush()

    def handle_endtag(self, tag):
        if tag == "title" and self._in_title:
            self._in_title = False
            return
        if self._skip:
            if tag in self._skip:
                del self._skip[len(self._skip) - 1 - self._skip[::-1].index(tag):]
            return
        if tag in _BLOCK_TAGS:
            self._flush()
            if tag == "pre":
                self._pre = max(0, self._pre - 1)
            if tag[0] == "h" and tag[1:] in ("1", "2", "3", "4", "5", "6"):
                self._level = 0
        elif tag in _BOLD_TAGS:
            self._bold = max(0, self._bold - 1)

    def handle_data(self, data):
        if self._in_title:
            self.html_title += data
            return
        if self._skip:
            return
        if self._pre:
            parts = data.split("\n")
            for i, part in enumerate(parts):
                if i:
                    self._flush(verbatim=True)
                self._add(part.rstrip())
            return
        if not data.strip():
            if data:
                self._buf.append(_SOFT if "\n" in data else " ")
            return
        lead = data[: len(data) - len(data.lstrip())]
        trail = data[len(data.rstrip()):]
        core = re.sub(r"\s+", " ", data.strip())
        self._buf.append((_SOFT if "\n" in lead else " ") if lead else "")
        self._add(core)
        self._buf.append((_SOFT if "\n" in trail else " ") if trail else "")

    def _add(self, s: str) -> None:
        if s.strip() and not self._bold:
            self._bold_only = False
        self._buf.append(s)

    def _flush(self, verbatim: bool = False) -> None:
        raw = "".join(self._buf)
        self._buf = []
        bold_only, self._bold_only = self._bold_only, True
        if verbatim or self._pre:
            self.lines.append(_Line(raw, 0, True))
            return
        text = _resolve_spaces(raw)
        if not text:
            return
        level = self._level
        # CSDN/WeChat pages mark section titles as a paragraph that is all bold.
        # Record it as the deepest level so any real <hN> closes it.
        if not level and bold_only and _is_heading_text(text):
            level = 6
        self.lines.append(_Line(text, level))

    def close(self):
        super().close()
        self._flush()


def _resolve_spaces(s: str) -> str:
    """Soft spaces vanish next to CJK text or punctuation; spaces between CJK go too."""
    def soft(m: re.Match) -> str:
        run = m.group(0)
        if " " in run:
            return " "
        left = s[m.start() - 1] if m.start() else ""
        right = s[m.end()] if m.end() < len(s) else ""
        if not left or not right:
            return ""
        if _CJK_RE.match(left) or _CJK_RE.match(right):
            return ""
        if right in ".,;:!?)]}%" or left in "([{":
            return ""
        return " "

    s = re.sub(f"[ {_SOFT}]+", soft, s)
    s = _norm_line(s)
    return _CJK_SPACE_RE.sub("", s)


def _looks_like_html(raw: str) -> bool:
    head = raw.lstrip()[:2000].lower()
    if head.startswith(("<!doctype html", "<html")):
        return True
    if not head.startswith("<"):
        return False
    tags = re.findall(r"<[a-zA-Z/!][^<>]*>", raw)
    return len(tags) >= 3 and sum(map(len, tags)) >= 0.2 * len(raw.strip())

