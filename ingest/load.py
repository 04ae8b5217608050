"""One file on disk -> a cleaned ``Document``: decode, strip markup and boilerplate, find headings.

Everything here is standard library only. Cleaning works on a list of lines
(each possibly marked as a heading) so that every rule can be stated per line,
and the final text and heading offsets are assembled once, at the end.

The rules are general (web-page breadcrumbs, image placeholders, bare URLs,
"related articles" tails, promo lines), not keyed to any particular file.

Decoding lives in ingest.decode, HTML parsing in ingest.html_lines, and the shared
line record and heading test in ingest.text; ``read_text`` is re-exported here.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

from index.errors import SkipFile
from ingest.decode import read_text  # re-exported: callers import it from here
from ingest.redact import redact as redact_text
from ingest import formats
from ingest.location import Marks
from ingest.html_lines import _HTMLLines, _looks_like_html
from ingest.text import _BULLET_RE, _URL_ONLY_RE, _ZERO_WIDTH_RE, _is_heading_text, _Line, _norm_line

TEXT_SUFFIXES = frozenset({".txt", ".md", ".markdown", ".html", ".htm"})
SUFFIXES = TEXT_SUFFIXES | frozenset(formats.READERS)
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
    doc_hash: str  # content_hash of the raw file bytes
    redacted: dict[str, int] = field(default_factory=dict)  # kind of personal data -> count replaced
    marks: Marks = ()  # (offset, page/slide/sheet and row in force from there); empty for plain text
    ocr_pages: int = 0  # scanned pages read by OCR
    ocr_skipped: int = 0  # scanned pages left out (OCR turned off)


def content_hash(data: bytes, redact: bool = False) -> str:
    """sha256 of the file's bytes. A redacted ingest hashes differently, so turning
    --redact on (or off) for a file already indexed redoes it instead of keeping the old text."""
    h = hashlib.sha256(b"redacted\0" if redact else b"")
    h.update(data)
    return h.hexdigest()


def read_file(path: Path, limit: int = MAX_BYTES) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes, or SkipFile with a one-line reason.

    Opened without blocking and checked with fstat on the open descriptor, so a
    named pipe, device or folder that took the file's place is refused instead of
    read (reading a FIFO would wait forever), and the size checked is that of the
    file actually read. Nothing is read from a file over the limit.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as err:
        raise SkipFile(f"cannot read file: {_os_reason(err)}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise SkipFile(f"not a regular file ({file_kind(st.st_mode)})")
        if st.st_size > limit:
            raise SkipFile(f"file too large ({st.st_size:,} bytes, over the {limit // 2**20} MB limit)")
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(limit + 1)  # the file may grow while it is read
    except OSError as err:
        raise SkipFile(f"cannot read file: {_os_reason(err)}") from None
    finally:
        os.close(fd)
    if len(data) > limit:
        raise SkipFile(f"file too large (over {limit // 2**20} MB)")
    return data


def file_kind(mode: int) -> str:
    for test, kind in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a named pipe"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device")):
        if test(mode):
            return kind
    return "a special file"


def _os_reason(err: OSError) -> str:
    return (err.strerror or str(err) or type(err).__name__).splitlines()[0]


# --------------------------------------------------------------------------- cleaning rules

_IMAGE_RE = re.compile(
    r"^[\[【(（]?\s*(?:图片|图像|插图|配图|image|img|photo|picture|在这里插入图片描述|这里插入图片描述|图片描述|点击查看大图)\s*[\]】)）]?$",
    re.I,
)
_MD_IMAGE_RE = re.compile(r"!\[[^\]]*\]\([^)]*\)")
_MD_LINK_RE = re.compile(r"\[([^\]]+)\]\((?:[^()]|\([^)]*\))*\)")
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

TITLE_MAX = 80


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

def _assemble(lines: list[_Line]) -> tuple[str, Headings, Marks]:
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
    text, headings, _ = _assemble(lines)
    if not text.strip():
        return fm_title or html_title, "", ()
    h1 = next((h[2] for h in headings if h[1] == 1), "")
    # Never a paragraph: a document without a heading, front matter or <title> is
    # named by its file (load_document). A first sentence used as a title is shown
    # with every passage and made every short answer copied from it look like an echo.
    title = fm_title or h1 or html_title
    return title[:TITLE_MAX] if len(title) > TITLE_MAX else title, text, headings


def _read_formatted(suffix: str, data: bytes, redact: bool, options: formats.Options) -> tuple[str, str, Headings, Marks, dict[str, int], formats.Parsed]:
    """A PDF, Office file, spreadsheet or EPUB -> (title, text, headings, marks, redactions, what the reader said)."""
    parsed = formats.read(suffix, data, options)
    redacted: dict[str, int] = {}
    lines = parsed.lines
    if redact:  # line by line, before any cleaning, so no title or chunk ever holds the original
        for line in lines:
            r = redact_text(line.text)
            line.text = r.text
            for kind, n in r.counts.items():
                redacted[kind] = redacted.get(kind, 0) + n
        parsed.title = redact_text(parsed.title).text
    lines = _drop_boilerplate(lines)
    if parsed.guess_headings:
        _mark_plain_headings(lines)
    text, headings, marks = _assemble(lines)
    h1 = next((h[2] for h in headings if h[1] == 1), "")
    title = parsed.title or h1  # else load_document names it by its file
    return title[:TITLE_MAX], text, headings, marks, redacted, parsed


def load_document(path: Path, source: str, *, data: bytes | None = None, redact: bool = False,
                  options: formats.Options | None = None) -> Document:
    """Read and clean one file. ``data`` may carry the bytes when the caller already read them.
    With ``redact``, personal data is replaced by placeholders before cleaning, so
    neither the title nor any chunk ever holds the original. PDF, Office files,
    spreadsheets and EPUB go through their reader (ingest.formats) with ``options``.

    Raises SkipFile with a one-line reason.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise SkipFile(f"unsupported file type {suffix or '(no suffix)'}; supported: {' '.join(sorted(SUFFIXES))}")
    if data is None:
        data = read_file(path)
    if len(data) > MAX_BYTES:
        raise SkipFile(f"file too large (over {MAX_BYTES // (1024 * 1024)} MB)")
    if suffix not in TEXT_SUFFIXES:
        title, text, headings, marks, redacted, parsed = _read_formatted(suffix, data, redact, options or formats.Options())
        if not text.strip():
            if parsed.ocr_skipped:
                raise formats.NeedsOcr(parsed.ocr_skipped)
            raise SkipFile("no text in it")
        return Document(source, title or path.stem, text, headings, content_hash(data, redact), redacted,
                        marks, parsed.ocr_pages, parsed.ocr_skipped)
    text = read_text(data)
    redacted: dict[str, int] = {}
    if redact:
        r = redact_text(text)
        text, redacted = r.text, r.counts
    title, text, headings = clean(
        text,
        html=True if suffix in HTML_SUFFIXES and "<" in text else None,  # a tag-less .html is plain text
        markdown=True if suffix in MARKDOWN_SUFFIXES else None,
    )
    if not text.strip():
        raise SkipFile("empty after cleaning")
    return Document(source, title or path.stem, text, headings, content_hash(data, redact), redacted)
