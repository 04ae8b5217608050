"""Which reader reads which file type, and what every reader hands back.

Each reader lives in its own module and is the only module that imports its
parsing library (ingest.pdf: pypdfium2; ingest.ocr: rapidocr_onnxruntime;
ingest.word: python-docx; ingest.slides: python-pptx; ingest.sheets: openpyxl
and csv; ingest.epub: zipfile and the HTML cleaner). They are imported only when
a file of their type is read, so plain-text ingest and the question path never load them.
A reader returns lines (ingest.text._Line), each carrying its page, slide or
sheet and row; ingest.load cleans and assembles them (the rules are in ingest.clean) like any other text.
"""

from __future__ import annotations

import importlib
import time
from dataclasses import dataclass

from index.errors import SkipFile
from ingest.text import _CJK_RE, _Line, _norm_line

READERS = {
    ".pdf": "ingest.pdf",
    ".docx": "ingest.word",
    ".pptx": "ingest.slides",
    ".xlsx": "ingest.sheets",
    ".csv": "ingest.sheets",
    ".epub": "ingest.epub",
}
FILE_SECONDS = 300.0  # per-file time limit: no file may hold up the run longer than this


class NeedsOcr(SkipFile):
    """Nothing to read without OCR, which is off: the pages are counted in the ingest summary."""

    def __init__(self, pages: int):
        super().__init__(f"no text to read without OCR: {pages} page(s) are scans or use fonts without a "
                         "character map, and OCR is off (run without --no-ocr)")
        self.pages = pages


@dataclass
class Options:
    ocr: bool = True  # read scanned pages with OCR (slow: seconds per page)
    progress: bool = False  # a progress bar per OCRed page, on stderr
    seconds: float = FILE_SECONDS

    def __post_init__(self):
        self._start = time.monotonic()

    def allow(self, seconds: float) -> None:
        """More time for this file: OCR is given a budget per page on top of the limit."""
        self.seconds += seconds

    def check_time(self, where: str) -> None:
        """Called between pages, slides and rows: a file that takes too long is given up, not waited for."""
        if time.monotonic() - self._start > self.seconds:
            raise SkipFile(f"gave up at {where}: over the per-file time limit of {self.seconds:.0f} s")


@dataclass
class Parsed:
    lines: list[_Line]
    title: str = ""
    guess_headings: bool = False  # text without structure (a PDF's text layer, OCR): headings guessed as in plain text
    ocr_pages: int = 0
    ocr_skipped: int = 0


def read(suffix: str, data: bytes, options: Options) -> Parsed:
    try:
        module = importlib.import_module(READERS[suffix])
    except ImportError as err:  # the reader's library is not installed
        raise SkipFile(f"cannot read {suffix} files here: {err}") from None
    return module.read_csv(data, options) if suffix == ".csv" else module.read(data, options)


def check_content(suffix: str, data: bytes) -> None:
    """A quick look at the bytes (no parsing): is this file what its name says? SkipFile if not.
    The upload box uses it to refuse a file before saving it."""
    if suffix == ".pdf":
        if b"%PDF-" not in data[:1024]:
            raise SkipFile("not a PDF file (no %PDF header)")
    elif suffix in (".docx", ".pptx", ".xlsx", ".epub"):
        from ingest.ooxml import open_zip

        open_zip(data, suffix[1:].upper())
    else:
        from ingest.decode import read_text

        read_text(data)


def row_text(headers: list[str], values: list[str]) -> str:
    """A table row read with its column headers, "姓名: 张三；部门: 研发部", so that a
    question naming a column ("张三 的 部门") finds the row by both words."""
    values = [" ".join(v.split("\n")) for v in values]  # a cell's line breaks: one line per row
    pairs = [f"{h}: {v}" if h else v for h, v in zip(headers, values) if v]
    pairs += [v for v in values[len(headers):] if v]
    text = " ".join(pairs)
    return ("；" if _CJK_RE.search(text) else "; ").join(pairs)


def cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # 3.0 from a spreadsheet is 3
    lines = (_norm_line(line) for line in str(value).replace("\r\n", "\n").split("\n"))
    return "\n".join(line for line in lines if line)  # kept: a long cell's paragraphs
