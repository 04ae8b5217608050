"""One file on disk -> a cleaned ``Document``: read, decode, redact if asked, clean.

Everything here is standard library only. This module puts the steps together;
each lives in a module of its own: reading and hashing the bytes in ingest.raw,
decoding in ingest.decode, plain text and Markdown in ingest.text_lines, HTML
in ingest.html_lines, the cleaning rules and assembly in ingest.clean, and the
shared line record and heading test in ingest.text. PDF, Office files,
spreadsheets and EPUB go through their readers (ingest.formats).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from index.errors import SkipFile
from ingest import formats
from ingest.clean import Headings, assemble, clean, drop_boilerplate, mark_plain_headings
from ingest.decode import read_text
from ingest.location import Marks
from ingest.raw import MAX_BYTES, content_hash, read_file
from ingest.redact import redact as redact_text
from ingest.text import TITLE_MAX

TEXT_SUFFIXES = frozenset({".txt", ".md", ".markdown", ".html", ".htm"})
SUFFIXES = TEXT_SUFFIXES | frozenset(formats.READERS)
HTML_SUFFIXES = frozenset({".html", ".htm"})
MARKDOWN_SUFFIXES = frozenset({".md", ".markdown"})


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
    lines = drop_boilerplate(lines)
    if parsed.guess_headings:
        mark_plain_headings(lines)
    text, headings, marks = assemble(lines)
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
