"""PDF -> lines, with pypdfium2 (Apache-2.0/BSD; PDFium, Chrome's PDF engine). The only module that imports it.

The text layer is read page by page in the order PDFium gives (the order the
producer drew it, which for word processors is the reading order). Lines that
repeat at the top or bottom of most pages (running headers, footers) and bare
page numbers are dropped; a page's wrapped lines are joined back into paragraphs.
A page whose text layer is empty or unreadable (a scan, or fonts that map
Chinese to garbage for lack of a ToUnicode table) is rendered and read by OCR
(ingest.ocr), unless OCR is off. Every line carries its page number.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from collections import Counter
from dataclasses import dataclass

from index.errors import SkipFile
from ingest.formats import Options, Parsed
from ingest.text import _CJK_RE, _Line, _norm_line

OCR_SCALE = 2.5  # render scale for OCR (180 dpi): small Chinese print stays legible, and it is fast enough
OCR_PAGE_SECONDS = 120  # added to the per-file time limit for each page to OCR (about 15 s each on 2 cores)
MIN_TEXT = 20  # readable characters below which a page counts as having no text layer
_PAGE_NUMBER_RE = re.compile(
    r"^(?:[-–—]\s*)?(?:第\s*)?\d{1,4}(?:\s*页)?(?:\s*[-–—])?$|^(?:page|p\.)\s*\d{1,4}(?:\s*(?:of|/)\s*\d{1,4})?$|^\d{1,4}\s*/\s*\d{1,4}$|^第\s*\d{1,4}\s*页\s*[,，/]?\s*共\s*\d{1,4}\s*页$",
    re.I,
)
_BULLET_START_RE = re.compile(r"^(?:[•·●○■▪◆]|[-*]\s|\d{1,2}[.、)）]\s*\S|[（(]\d{1,2}[)）]|[一二三四五六七八九十]+、)")


def read(data: bytes, options: Options) -> Parsed:
    import pypdfium2 as pdfium

    try:
        pdf = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as err:
        if "password" in str(err).lower():
            raise SkipFile("encrypted PDF: it needs a password to open; save a copy without one to ingest it") from None
        raise SkipFile(f"not a readable PDF ({_first_line(err)})") from None
    try:
        return _read(pdf, options)
    finally:
        pdf.close()


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


def _read(pdf, options: Options) -> Parsed:
    n = len(pdf)
    if n == 0:
        raise SkipFile("a PDF without pages")
    pages: list[list[Line]] = []
    scanned: list[int] = []
    for i in range(n):
        options.check_time(f"page {i + 1} of {n}")
        page = pdf[i]
        textpage = page.get_textpage()
        lines = _page_lines(textpage)
        textpage.close()
        joined = "".join(line.text for line in lines)
        if (_readable(joined) < MIN_TEXT and _has_image(page)) or _garbled(joined):
            scanned.append(i)
            lines = []
        pages.append(lines)
        page.close()
    parsed = Parsed([], guess_headings=True)
    if scanned and options.ocr:
        options.allow(OCR_PAGE_SECONDS * len(scanned))
        _ocr(pdf, scanned, pages, options)
        parsed.ocr_pages = len(scanned)
    elif scanned:
        parsed.ocr_skipped = len(scanned)
    _drop_running(pages)  # OCRed pages have running heads and page numbers too
    for i, lines in enumerate(pages):
        loc = (("page", i + 1),)
        paras = [_Line(p, loc=loc) for p in paragraphs(lines)]
        if paras and parsed.lines and pages[i - 1] and _continues(pages[i - 1], lines[0]):
            paras[0].joined = _separator(parsed.lines[-1].text, paras[0].text)
        elif parsed.lines:
            parsed.lines.append(_Line(""))  # a new page starts a new paragraph unless this one runs on
        parsed.lines += paras
    meta_title = _norm_line(pdf.get_metadata_dict().get("Title", "") or "")
    parsed.title = meta_title if _readable(meta_title) >= 2 else ""
    return parsed


def _readable(text: str) -> int:
    """Characters that read as text: letters, CJK, digits. Private-use code points, U+FFFD
    and control characters, which a font without a usable ToUnicode map yields, do not count."""
    return sum(1 for c in text if c.isalnum() and unicodedata.category(c) not in ("Co", "Cn", "Cc", "Cs"))


def _garbled(text: str) -> bool:
    """A text layer that decodes to glyph numbers instead of characters (a font without a
    usable ToUnicode map): control characters, private-use code points, U+FFFD and the
    Latin-1 symbols (¡ to ¿) that glyph numbers 1 to 191 come out as. Real text of any
    language has almost none of them; 3 % is far above any, far below garbage."""
    text = "".join(text.split())
    if len(text) < MIN_TEXT:
        return False
    bad = sum(1 for c in text if unicodedata.category(c) in ("Cc", "Co", "Cn") or c == "\ufffd" or "\u00a1" <= c <= "\u00bf")
    return bad >= 0.03 * len(text)


def _has_image(page) -> bool:
    import pypdfium2.raw as raw

    return any(obj.type == raw.FPDF_PAGEOBJ_IMAGE for obj in page.get_objects(max_depth=2))


def _ocr(pdf, scanned: list[int], pages: list[list[Line]], options: Options) -> None:
    from tqdm import tqdm

    from ingest import ocr

    for i in tqdm(scanned, desc="OCR", unit="page", disable=not options.progress, leave=False, file=sys.stderr):
        options.check_time(f"OCR of page {i + 1} of {len(pdf)}")
        page = pdf[i]
        image = page.render(scale=OCR_SCALE).to_pil().convert("RGB")
        page.close()
        pages[i] = [Line(*line) for line in ocr.read_lines(image)]


@dataclass
class Line:
    """A line of a page with its box, in points, y growing upwards."""

    text: str
    top: float
    bottom: float
    left: float
    right: float

    @property
    def height(self) -> float:
        return self.top - self.bottom


def _page_lines(textpage) -> list[Line]:
    """The page's text as lines with their boxes: PDFium's text segments grouped by
    vertical overlap (a comma's box sits lower than its line's), each line's text read from its box."""
    boxes: list[list[float]] = []
    for k in range(textpage.count_rects()):
        left, bottom, right, top = textpage.get_rect(k)
        last = boxes[-1] if boxes else None
        if last and min(top, last[3]) - max(bottom, last[1]) >= 0.5 * min(top - bottom, last[3] - last[1]):
            last[:] = [min(left, last[0]), min(bottom, last[1]), max(right, last[2]), max(top, last[3])]
        else:
            boxes.append([left, bottom, right, top])
    lines = []
    for left, bottom, right, top in boxes:
        text = _norm_line(textpage.get_text_bounded(left, bottom, right, top).replace("\n", " ").replace("\r", " "))
        if text:
            lines.append(Line(text, top, bottom, left, right))
    return lines


def _running_key(line: str) -> str:
    return re.sub(r"\d+", "#", line)


def _drop_running(pages: list[list[Line]]) -> None:
    """Remove running headers and footers (a line among the first or last two of more than
    half the pages, and of two at least, digits ignored, so "第 3 页" matches "第 4 页") and bare page numbers."""
    edges = Counter()
    for lines in pages:
        edges.update({_running_key(line.text) for line in lines[:2] + lines[-2:]})
    running = {key for key, count in edges.items() if count >= max(2, len(pages) // 2 + 1)}
    for lines in pages:
        for idx in sorted({*range(min(2, len(lines))), *range(max(0, len(lines) - 2), len(lines))}, reverse=True):
            if _running_key(lines[idx].text) in running or _PAGE_NUMBER_RE.match(lines[idx].text):
                del lines[idx]


def paragraphs(lines: list[Line]) -> list[str]:
    """Join the wrapped lines of a page back into paragraphs.

    A line continues the previous one when the previous one ran to the right edge
    of the page's text, is set in the same size, and sits no further below it
    than the lines of the same paragraph sit from each other (the pitch of the next
    pair, or of the pair before when that one was joined). Paragraph spacing, a
    change of size (a heading) or a previous line that stopped short ends the
    paragraph; so does a line that starts a list item.
    """
    if not lines:
        return []
    edge = _edge(lines)
    pitch = [a.top - b.top for a, b in zip(lines, lines[1:])]
    out = [lines[0].text]
    joined = False
    for k, line in enumerate(lines[1:]):
        near = ([pitch[k + 1]] if k + 1 < len(pitch) else []) + ([pitch[k - 1]] if k and joined else [])
        joined = (_runs_on(lines[k], line, edge) and pitch[k] > 0
                  and (not near or pitch[k] <= 1.15 * max(near)))
        if joined:
            out[-1] = _join(out[-1], line.text)
        else:
            out.append(line.text)
    return out


def _edge(lines: list[Line]) -> float:
    rights = sorted(line.right for line in lines)
    return rights[int(0.9 * (len(rights) - 1))]


def _runs_on(prev: Line, line: Line, edge: float) -> bool:
    """``line`` can continue ``prev``'s paragraph: prev ran to the margin, same size, no list item starts."""
    return (prev.right >= edge - 1.5 * prev.height and abs(prev.height - line.height) <= 0.2 * prev.height
            and not _BULLET_START_RE.match(line.text))


def _continues(previous_page: list[Line], first: Line) -> bool:
    """A paragraph runs from the foot of one page onto the next."""
    return _runs_on(previous_page[-1], first, _edge(previous_page))


def _separator(left: str, right: str) -> str:
    hyphenated = left.endswith("-") and right[:1].islower()
    return "" if hyphenated or _CJK_RE.match(left[-1]) or _CJK_RE.match(right[0]) else " "


def _join(left: str, right: str) -> str:
    if left.endswith("-") and len(left) > 1 and left[-2].isalpha() and right[:1].islower():
        return left[:-1] + right  # a hyphenated English word, within a page
    return left + _separator(left, right) + right


def page_image(data: bytes, page: int, passage: str, *, scale: float = 1.3) -> bytes:
    """A JPEG of one page, rendered here by PDFium, with the characters of ``passage``
    marked (matched ignoring whitespace, from its start for as long as the page holds it)."""
    import io

    import pypdfium2 as pdfium
    from PIL import Image, ImageDraw

    pdf = pdfium.PdfDocument(data)
    try:
        p = pdf[page - 1]
        image = p.render(scale=scale).to_pil().convert("RGB")
        height = p.get_height()
        textpage = p.get_textpage()
        chars = [(i, c) for i, c in enumerate(textpage.get_text_range()) if not c.isspace()]
        text, wanted = "".join(c for _, c in chars), "".join(passage.split())
        at, n = -1, len(wanted)
        while n >= 8 and at < 0:  # the passage may run onto the next page: look for its start
            at, n = text.find(wanted[:n]), n // 2
        overlay = Image.new("RGBA", image.size, (0, 0, 0, 0))
        draw = ImageDraw.Draw(overlay)
        if at >= 0:
            k = at
            for c in wanted:
                if k >= len(text) or text[k] != c:
                    break
                left, bottom, right, top = textpage.get_charbox(chars[k][0])
                draw.rectangle([left * scale, (height - top) * scale, right * scale, (height - bottom) * scale], fill=(255, 214, 0, 110))
                k += 1
        textpage.close()
        out = io.BytesIO()
        Image.alpha_composite(image.convert("RGBA"), overlay).convert("RGB").save(out, "JPEG", quality=70)
        return out.getvalue()
    finally:
        pdf.close()
