"""Plain text and Markdown -> lines (ingest.text._Line), the counterpart of ingest.html_lines.

Markdown headings (ATX and setext) become heading lines, code fences verbatim
lines, and inline markup (links, images, emphasis, inline HTML) is reduced to
its text. A leading YAML front-matter block is taken off first and gives its title.
"""

from __future__ import annotations

import re

from ingest.text import _BULLET_RE, _SPACES_RE, _ZERO_WIDTH_RE, TITLE_MAX, _Line, _norm_line

_MD_IMAGE_RE = re.compile(r"!\[[^\]]*\]\([^)]*\)")
_MD_LINK_RE = re.compile(r"\[([^\]]+)\]\((?:[^()]|\([^)]*\))*\)")


# --------------------------------------------------------------------------- front matter

def _front_matter(raw: str) -> tuple[str, str]:
    """Remove a leading ``--- ... ---`` YAML block; return (its title or "", rest)."""
    if not raw.startswith("---\n"):
        return "", raw
    end = re.compile(r"^(?:---|\.\.\.)[ \t]*$", re.M).search(raw, 4)
    if end is None or raw.count("\n", 0, end.start()) > 200:
        return "", raw
    title = ""
    m = re.search(r"^title\s*:\s*(.+?)\s*$", raw[4:end.start()], re.M)
    if m:
        value = m.group(1)
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        title = _norm_line(value)
    return title, raw[end.end():]


# --------------------------------------------------------------------------- text and markdown

_ATX_RE = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*$")
_FENCE_RE = re.compile(r"^ {0,3}(```|~~~)")
_MD_LINK_DEF_RE = re.compile(r"^ {0,3}\[[^\]]+\]:\s*\S+")  # "[1]: https://..." reference definitions


def _text_lines(raw: str, markdown: bool) -> list[_Line]:
    if not markdown:  # _norm_line on every line, done to the whole text at once: no class here holds "\n"
        return [_Line(line.strip()) for line in _SPACES_RE.sub(" ", _ZERO_WIDTH_RE.sub("", raw)).split("\n")]
    lines: list[_Line] = []
    fence = None
    for line in raw.split("\n"):
        m = _FENCE_RE.match(line)
        if m and (fence is None or m.group(1) == fence):
            fence = None if fence else m.group(1)
            continue
        if fence:
            lines.append(_Line(line.rstrip(), 0, True))
            continue
        m = _ATX_RE.match(line)
        if m:
            lines.append(_Line(_norm_line(_markdown_inline(m.group(2))), len(m.group(1))))
            continue
        if re.match(r"^ {0,3}(={3,}|-{3,})\s*$", line) and lines and 0 < len(lines[-1].text) <= TITLE_MAX \
                and not lines[-1].level and not lines[-1].verbatim and not _BULLET_RE.match(lines[-1].text):
            lines[-1].level = 1 if "=" in line else 2  # setext heading underline
            continue
        if _MD_LINK_DEF_RE.match(line):
            continue
        line = _markdown_inline(re.sub(r"^(?: {0,3}>[ \t]?)+", "", line))  # blockquote markers
        lines.append(_Line(_norm_line(line)))
    return lines


def _markdown_inline(line: str) -> str:
    line = _MD_IMAGE_RE.sub("", line)
    line = _MD_LINK_RE.sub(r"\1", line)
    line = re.sub(r"</?[a-zA-Z][^<>]*>", "", line)  # inline HTML tags
    return re.sub(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1", r"\2", line)


def _is_markdown(raw: str) -> bool:
    return bool(re.search(r"^#{1,6}[ \t]+\S", raw, re.M))
