"""Decoded text or reader lines -> cleaned text with headings: the cleaning rules and the assembly.

Cleaning works on a list of lines (each possibly marked as a heading) so that
every rule can be stated per line, and the final text and heading offsets are
assembled once, at the end.

The rules are general (web-page breadcrumbs, image placeholders, bare URLs,
"related articles" tails, promo lines), not keyed to any particular file.
"""

from __future__ import annotations

import re

from ingest.gc_paused import gc_paused
from ingest.html_lines import _HTMLLines, _looks_like_html
from ingest.location import Marks
from ingest.text import _BULLET_RE, _URL_ONLY_RE, _ZERO_WIDTH_RE, TITLE_MAX, _is_heading_text, _Line, _norm_line
from ingest.text_lines import _front_matter, _is_markdown, _text_lines

Headings = tuple[tuple[int, int, str], ...]


# --------------------------------------------------------------------------- cleaning rules

_IMAGE_RE = re.compile(
    r"^[\[【(（]?\s*(?:图片|图像|插图|配图|image|img|photo|picture|在这里插入图片描述|这里插入图片描述|图片描述|点击查看大图)\s*[\]】)）]?$",
    re.I,
)
_MARKER_ONLY_RE = re.compile(r"^[-*+•·●○■□▪◆◇>=_~—–|#.…]+$")  # also "…" list items, "|---|" rows
_TRAILING_MARKER_RE = re.compile(r"(?<=[。！？!?.…”’）)])\s+[-*•·]$")
_BREADCRUMB_RE = re.compile(r"^(?:当前位置|您的位置|你的位置|您现在的位置|你现在的位置|当前页面)\s*[:：]")
_HOME_CRUMB_RE = re.compile(r"^(?:首页|主页|home)\s*[>»/›＞]", re.I)
_RELATED_RE = re.compile(
    r"^(?:相关文章|相关推荐|推荐阅读|相关阅读|猜你喜欢|延伸阅读|热门文章|热门推荐|相关链接|"
    r"related\s+(?:articles|posts|reading|links)|recommended(?:\s+reading)?|you\s+may\s+also\s+like)\s*[:：]?$",
    re.I,
)
_PROMO_RE = re.compile(r"二维码|免费领取|扫码|扫描.{0,12}(?:二维码|下方|上方)|关注公众号|关注.{0,6}公众号|点赞收藏|一键三连")
_TOC_HEADER_RE = re.compile(r"^(?:目录|文章目录|内容目录|contents|table of contents)\s*[:：]?$", re.I)


# --------------------------------------------------------------------------- boilerplate

# One pattern for the rules that hold alone: one regex call per line instead of four.
# re.I changes nothing in the marker and breadcrumb rules (no cased letters).
_BOILERPLATE_RE = re.compile("|".join(f"(?:{r.pattern})" for r in (_URL_ONLY_RE, _IMAGE_RE, _MARKER_ONLY_RE, _BREADCRUMB_RE)), re.I)


def _is_boilerplate(text: str) -> bool:
    return bool(_BOILERPLATE_RE.match(text) or (len(text) <= 80 and _HOME_CRUMB_RE.match(text)))


def drop_boilerplate(lines: list[_Line]) -> list[_Line]:
    out: list[_Line] = []
    for line in lines:
        if not line.verbatim:
            if line.text[-1:] in "-*•·\n":  # the only ends _TRAILING_MARKER_RE can match ("" too: harmless)
                line.text = _TRAILING_MARKER_RE.sub("", line.text)
            if _is_boilerplate(line.text):
                continue
        out.append(line)
    return _cut_tail(out)


def _cut_tail(lines: list[_Line]) -> list[_Line]:
    """Drop a trailing "related articles" section and promo lines near the end."""
    offsets, total = [], 0
    for line in lines:
        offsets.append(total)
        total += len(line.text) + 1
    for i, line in enumerate(lines):
        # Only a header in the last 60% counts: near the top it is more likely a real section.
        if not line.verbatim and offsets[i] >= 0.4 * total and _RELATED_RE.match(line.text):
            lines, offsets = lines[:i], offsets[:i]
            break
    return [
        line for line, off in zip(lines, offsets)
        if line.verbatim or off < 0.5 * total or not _PROMO_RE.search(line.text)
    ]


# --------------------------------------------------------------------------- plain-text structure

def _drop_toc(lines: list[_Line]) -> list[_Line]:
    """Remove a table of contents: a run of >= 4 short lines, >= 2 of which recur later.

    The block runs from the first entry that recurs (entries before it, typically
    the title, stay) to just before the first line that repeats an entry of the
    run, which is where the body's first heading starts.
    """
    content = [i for i, line in enumerate(lines) if line.text and not line.verbatim]
    texts = [lines[i].text for i in content]
    last = {t: j for j, t in enumerate(texts)}  # index of each text's last occurrence
    k = 0
    while k < len(content):
        m = k
        while m < len(content) and _is_heading_text(texts[m]):
            m += 1
        if m - k >= 4:
            recurring = [j for j in range(k, m) if last[texts[j]] > j]
            if len(recurring) >= 2:
                first, end = recurring[0], m
                seen: set[str] = set()
                for j in range(first, m):
                    if texts[j] in seen:
                        end = j
                        break
                    seen.add(texts[j])
                if first > k and _TOC_HEADER_RE.match(texts[first - 1]):
                    first -= 1
                gone = set(range(content[first], content[end - 1] + 1))
                return _drop_toc([line for i, line in enumerate(lines) if i not in gone])
        k = max(m, k + 1)
    return lines


def mark_plain_headings(lines: list[_Line]) -> None:
    """Guess headings in plain text, conservatively.

    The first line is the title (level 1) if it is short. Otherwise a heading is a
    run of at most 3 short unpunctuated lines followed by a prose line; within a
    run levels deepen (a section title directly followed by a sub-section title).
    """
    content = [i for i, line in enumerate(lines) if line.text and not line.verbatim]
    if not content:
        return
    first = lines[content[0]].text
    start = 0
    if len(content) > 1 and len(first) <= 60 and first[-1] not in "。，,；;：:" and not _BULLET_RE.match(first):
        lines[content[0]].level = 1
        start = 1
    k = start
    while k < len(content):
        m = k
        while m < len(content) and _is_heading_text(lines[content[m]].text):
            m += 1
        prev = lines[content[k - 1]].text if k > 0 else ""
        continues_prose = prev and not lines[content[k - 1]].level and prev[-1] in "，,、"
        if m > k and m < len(content) and m - k <= 3 and not continues_prose:
            for depth, j in enumerate(range(k, m)):
                lines[content[j]].level = min(6, 2 + depth)
        k = max(m, k + 1)


# --------------------------------------------------------------------------- assembly

def assemble(lines: list[_Line]) -> tuple[str, Headings, Marks]:
    parts: list[str] = []
    headings: list[tuple[int, int, str]] = []
    marks: list[tuple[int, tuple]] = []
    pos = 0
    blank = True  # no blank lines at the start, at most one in a row
    for line in lines:
        text = line.text
        if not text.strip():
            if not blank:
                parts.append("")
                pos += 1
                blank = True
            continue
        if line.joined is not None and parts and not blank:  # same paragraph: no line break, a mark inside it
            pos += len(line.joined) - 1
            if line.loc and (not marks or marks[-1][1] != line.loc):
                marks.append((pos, line.loc))
            parts[-1] += line.joined + text
            pos += len(text) + 1
            continue
        if line.level:
            headings.append((pos, line.level, text.strip()))
        if line.loc and (not marks or marks[-1][1] != line.loc):
            marks.append((pos, line.loc))
        parts.append(text)
        pos += len(text) + 1
        blank = False
    while parts and parts[-1] == "":
        parts.pop()
    return "\n".join(parts), tuple(headings), tuple(marks)


@gc_paused
def clean(raw: str, *, html: bool | None = None, markdown: bool | None = None) -> tuple[str, str, Headings]:
    """Raw decoded text -> (title, cleaned text, headings). ``None`` means detect."""
    raw = _ZERO_WIDTH_RE.sub("", raw.replace("\r\n", "\n").replace("\r", "\n")).lstrip("\n")
    fm_title, raw = _front_matter(raw)
    if html is None:
        html = _looks_like_html(raw)
    html_title = ""
    if html:
        parser = _HTMLLines()
        parser.feed(raw)
        parser.close()
        lines, html_title = parser.lines, _norm_line(parser.html_title)
    else:
        if markdown is None:
            markdown = _is_markdown(raw)
        lines = _text_lines(raw, markdown)
    lines = drop_boilerplate(lines)
    if not html and not markdown:
        lines = _drop_toc(lines)
        mark_plain_headings(lines)
    text, headings, _ = assemble(lines)
    if not text.strip():
        return fm_title or html_title, "", ()
    h1 = next((h[2] for h in headings if h[1] == 1), "")
    # Never a paragraph: a document without a heading, front matter or <title> is
    # named by its file (ingest.load). A first sentence used as a title is shown
    # with every passage and made every short answer copied from it look like an echo.
    title = fm_title or h1 or html_title
    return title[:TITLE_MAX] if len(title) > TITLE_MAX else title, text, headings
