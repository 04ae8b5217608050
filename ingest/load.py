"""One file on disk -> a cleaned ``Document``: decode, strip markup and boilerplate, find headings.

Everything here is standard library only. Cleaning works on a list of lines
(each possibly marked as a heading) so that every rule can be stated per line,
and the final text and heading offsets are assembled once, at the end.

The rules are general (web-page breadcrumbs, image placeholders, bare URLs,
"related articles" tails, promo lines), not keyed to any particular file.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

from index.errors import SkipFile

SUFFIXES = frozenset({".txt", ".md", ".markdown", ".html", ".htm"})
HTML_SUFFIXES = frozenset({".html", ".htm"})
MARKDOWN_SUFFIXES = frozenset({".md", ".markdown"})
MAX_BYTES = 50 * 1024 * 1024  # a "document" bigger than this is almost surely not one

Headings = tuple[tuple[int, int, str], ...]


@dataclass(frozen=True)
class Document:
    source: str  # given by caller (relative name)
    title: str
    text: str  # cleaned text; all offsets refer to this string
    headings: Headings  # (offset of the heading line in text, level 1..6, heading text), in order
    doc_hash: str  # sha256 hex of the raw file bytes


# --------------------------------------------------------------------------- decoding

_BOMS = (  # UTF-32 first: its LE BOM starts with the UTF-16 LE BOM
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
)
_BINARY = "not a text file (binary data)"


def read_text(data: bytes) -> str:
    """Decode file bytes to text with ``\\n`` line endings, or raise SkipFile.

    Order: BOM, UTF-16 without BOM (NULs at alternating positions), strict UTF-8,
    UTF-8 with a few bad bytes, GB18030 (a superset of GBK/GB2312).
    """
    if not data:
        raise SkipFile("empty file")
    text = None
    for bom, enc in _BOMS:
        if data.startswith(bom):
            try:
                text = data[len(bom):].decode(enc)
            except UnicodeDecodeError:
                raise SkipFile(f"not a text file (invalid {enc} after its byte-order mark)") from None
            break
    if text is None and b"\x00" in data:
        # Text encodings other than UTF-16/32 never contain NUL bytes.
        text = _utf16_without_bom(data)
        if text is None:
            raise SkipFile(_BINARY)
    if text is None:
        text = _decode_8bit(data)
    if _looks_binary(text):
        raise SkipFile(_BINARY)
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _utf16_without_bom(data: bytes) -> str | None:
    # ASCII characters (newlines, digits, Latin words) in UTF-16 put a NUL in every
    # other byte: odd positions for little-endian, even positions for big-endian.
    # Binary data has NULs at both.
    if len(data) % 2:
        return None
    even = data[0::2].count(0)
    odd = data[1::2].count(0)
    if odd >= 2 and even <= odd // 10:
        enc = "utf-16-le"
    elif even >= 2 and odd <= even // 10:
        enc = "utf-16-be"
    else:
        return None
    try:
        return data.decode(enc)
    except UnicodeDecodeError:
        return None


def _decode_8bit(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    # A UTF-8 file with a stray bad byte (e.g. truncated mid-character) would decode
    # "successfully" as GB18030 mojibake; GBK text read as UTF-8 fails almost everywhere.
    loose = data.decode("utf-8", errors="replace")
    bad = loose.count("\ufffd")
    if bad <= max(1, len(loose) // 1000) and sum(ord(c) > 127 for c in loose) > 10 * bad:
        return loose
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError:
        raise SkipFile("not a text file (unknown encoding: neither UTF-8, UTF-16 nor GB18030)") from None


def _looks_binary(text: str) -> bool:
    sample = text[:20000]
    if not sample:
        return False
    if "\x00" in sample:
        return True
    controls = sum(1 for c in sample if (ord(c) < 32 and c not in "\n\r\t\f\v") or 0x7F <= ord(c) <= 0x9F)
    return controls > max(2, len(sample) // 50)


# --------------------------------------------------------------------------- lines

@dataclass
class _Line:
    text: str
    level: int = 0  # 1..6 for a heading line
    verbatim: bool = False  # code: exempt from boilerplate rules


_CJK = (
    "\u2e80-\u2fdf\u3000-\u303f\u3040-\u30ff\u3100-\u312f\u31a0-\u31ff\u3400-\u4dbf"
    "\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef\U00020000-\U0003134f"
)
_CJK_RE = re.compile(f"[{_CJK}]")
_CJK_SPACE_RE = re.compile(f"(?<=[{_CJK}“”‘’…—]) +(?=[{_CJK}“”‘’…—])")
_ZERO_WIDTH_RE = re.compile("[\u200b-\u200d\u2060\ufeff\u00ad]")
_SPACES_RE = re.compile(r"[ \t\f\v\u00a0\u2000-\u200a\u202f\u205f\u3000]+")

_URL_ONLY_RE = re.compile(r"^[<(\[]?(?:https?://|ftp://|www\.)\S+?[>)\]]?$", re.I)
_IMAGE_RE = re.compile(
    r"^[\[【(（]?\s*(?:图片|图像|插图|配图|image|img|photo|picture|在这里插入图片描述|这里插入图片描述|图片描述|点击查看大图)\s*[\]】)）]?$",
    re.I,
)
_MD_IMAGE_RE = re.compile(r"!\[[^\]]*\]\([^)]*\)")
_MD_LINK_RE = re.compile(r"\[([^\]]+)\]\((?:[^()]|\([^)]*\))*\)")
_MARKER_ONLY_RE = re.compile(r"^[-*+•·●○■□▪◆◇>=_~—–|#]+$")
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

_END_PUNCT = "。，,、；;：:！!？?.…~～"  # a line ending in one of these is prose, not a heading
_INNER_PUNCT_RE = re.compile(r"[。，,；;！!？?]")  # sentences inside a line: prose, not a heading
_BULLET_RE = re.compile(r"^(?:[-*+•·●○■▪◆]\s|\d+[)）]\s)")

HEADING_MAX = 30  # characters: longer lines are never plain-text headings
TITLE_MAX = 80


def _norm_line(line: str) -> str:
    line = _ZERO_WIDTH_RE.sub("", line)
    return _SPACES_RE.sub(" ", line).strip()


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


# --------------------------------------------------------------------------- HTML

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
        if tag == "title":  # usually inside <head>, which is otherwise dropped
            self._in_title = True
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
        if tag == "title":
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
        if right in ".,;:!?)]}%'\"" or left in "([{'\"":
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


# --------------------------------------------------------------------------- text and markdown

_ATX_RE = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*$")
_FENCE_RE = re.compile(r"^ {0,3}(```|~~~)")


def _text_lines(raw: str, markdown: bool) -> list[_Line]:
    lines: list[_Line] = []
    fence = None
    for line in raw.split("\n"):
        if markdown:
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
            line = _markdown_inline(line)
        lines.append(_Line(_norm_line(line)))
    return lines


def _markdown_inline(line: str) -> str:
    line = _MD_IMAGE_RE.sub("", line)
    line = _MD_LINK_RE.sub(r"\1", line)
    line = re.sub(r"</?[a-zA-Z][^<>]*>", "", line)  # inline HTML tags
    return re.sub(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1", r"\2", line)


def _is_markdown(raw: str) -> bool:
    return bool(re.search(r"^#{1,6}[ \t]+\S", raw, re.M))


# --------------------------------------------------------------------------- boilerplate

def _is_boilerplate(text: str) -> bool:
    return bool(
        _URL_ONLY_RE.match(text)
        or _IMAGE_RE.match(text)
        or _MARKER_ONLY_RE.match(text)
        or _BREADCRUMB_RE.match(text)
        or (_HOME_CRUMB_RE.match(text) and len(text) <= 80)
    )


def _drop_boilerplate(lines: list[_Line]) -> list[_Line]:
    out: list[_Line] = []
    for line in lines:
        if not line.verbatim:
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


def _drop_toc(lines: list[_Line]) -> list[_Line]:
    """Remove a table of contents: a run of >= 4 short lines, >= 2 of which recur later.

    The block runs from the first entry that recurs (entries before it, typically
    the title, stay) to just before the first line that repeats an entry of the
    run, which is where the body's first heading starts.
    """
    content = [i for i, line in enumerate(lines) if line.text and not line.verbatim]
    texts = [lines[i].text for i in content]
    k = 0
    while k < len(content):
        m = k
        while m < len(content) and _is_heading_text(texts[m]):
            m += 1
        if m - k >= 4:
            recurring = [j for j in range(k, m) if texts[j] in texts[j + 1:]]
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


def _mark_plain_headings(lines: list[_Line]) -> None:
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

def _assemble(lines: list[_Line]) -> tuple[str, Headings]:
    parts: list[str] = []
    headings: list[tuple[int, int, str]] = []
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
        if line.level:
            headings.append((pos, line.level, text.strip()))
        parts.append(text)
        pos += len(text) + 1
        blank = False
    while parts and parts[-1] == "":
        parts.pop()
    return "\n".join(parts), tuple(headings)


def _fallback_title(text: str) -> str:
    for line in text.split("\n"):
        line = line.strip()
        if line:
            if len(line) <= TITLE_MAX:
                return line
            m = re.search(r"[。！？!?]", line[:TITLE_MAX])
            return line[: m.start()] if m and m.start() >= 8 else line[:TITLE_MAX]
    return ""


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
    lines = _drop_boilerplate(lines)
    if not html and not markdown:
        lines = _drop_toc(lines)
        _mark_plain_headings(lines)
    text, headings = _assemble(lines)
    if not text.strip():
        return fm_title or html_title, "", ()
    h1 = next((h[2] for h in headings if h[1] == 1), "")
    title = fm_title or h1 or html_title or _fallback_title(text)
    return title[:TITLE_MAX] if len(title) > TITLE_MAX else title, text, headings


def load_document(path: Path, source: str, *, data: bytes | None = None) -> Document:
    """Read and clean one file. ``data`` may carry the bytes when the caller already read them.

    Raises SkipFile with a one-line reason.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise SkipFile(f"unsupported file type {suffix or '(no suffix)'}; supported: {' '.join(sorted(SUFFIXES))}")
    if data is None:
        try:
            if path.stat().st_size > MAX_BYTES:
                raise SkipFile(f"file too large (over {MAX_BYTES // (1024 * 1024)} MB)")
            data = path.read_bytes()
        except OSError as err:
            raise SkipFile(f"cannot read file: {err.strerror or err}".splitlines()[0]) from None
    if len(data) > MAX_BYTES:
        raise SkipFile(f"file too large (over {MAX_BYTES // (1024 * 1024)} MB)")
    text = read_text(data)
    title, text, headings = clean(
        text,
        html=True if suffix in HTML_SUFFIXES else None,
        markdown=True if suffix in MARKDOWN_SUFFIXES else None,
    )
    if not text.strip():
        raise SkipFile("empty after cleaning")
    return Document(source, title or path.stem, text, headings, hashlib.sha256(data).hexdigest())
