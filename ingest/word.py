"""DOCX -> lines, with python-docx (MIT). The only module that imports it.

Headings (the "Heading N" and "Title" styles, or an outline level) become the
section path; list paragraphs keep a bullet; tables are read row by row with
their header row. Running headers and footers live outside the body and are not read.
"""

from __future__ import annotations

import io
import re

from index.errors import SkipFile
from ingest.formats import Options, Parsed, cell, row_text
from ingest.ooxml import open_zip
from ingest.text import _Line, _norm_line

_HEADING_RE = re.compile(r"^(?:heading|标题)\s*(\d)$", re.I)


def read(data: bytes, options: Options) -> Parsed:
    import docx
    from docx.table import Table

    archive = open_zip(data, "DOCX")
    if "word/document.xml" not in archive.namelist():
        raise SkipFile("not a valid DOCX file (no word/document.xml)")
    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as err:  # python-docx raises bare KeyErrors and lxml errors on a damaged file
        raise SkipFile(f"not a valid DOCX file ({type(err).__name__}: {str(err).splitlines()[0] if str(err) else 'damaged'})") from None
    lines: list[_Line] = []
    for n, block in enumerate(document.iter_inner_content()):
        if n % 200 == 0:
            options.check_time(f"paragraph {n + 1}")
        if isinstance(block, Table):
            lines += _table(block)
            continue
        text = _norm_line(block.text)
        if not text:
            lines.append(_Line(""))
            continue
        level = _level(block)
        if not level and _is_list(block):
            text = f"- {text}"
        lines.append(_Line(text, level))
    return Parsed(lines, title=_norm_line(document.core_properties.title or ""))


def _level(paragraph) -> int:
    name = (paragraph.style.name if paragraph.style is not None else "") or ""
    if name.lower() == "title":
        return 1
    m = _HEADING_RE.match(name.strip())
    if m:
        return min(6, max(1, int(m.group(1))))
    outline = paragraph._p.pPr.outlineLvl if paragraph._p.pPr is not None else None
    if outline is not None and outline.val is not None and int(outline.val) < 6:
        return int(outline.val) + 1
    return 0


def _is_list(paragraph) -> bool:
    p_pr = paragraph._p.pPr
    name = (paragraph.style.name if paragraph.style is not None else "") or ""
    num = p_pr.numPr if p_pr is not None else None
    numbered = num is not None and num.numId is not None and num.numId.val != 0  # numId 0 means "no numbering"
    return numbered or name.lower().startswith("list")


def _table(table) -> list[_Line]:
    rows = []
    for row in table.rows:
        values, seen = [], set()
        for c in row.cells:
            if id(c._tc) in seen:  # a merged cell is returned once per grid column it spans
                continue
            seen.add(id(c._tc))
            values.append(cell(c.text))
        rows.append(values)
    if not rows:
        return []
    headers, body = (rows[0], rows[1:]) if len(rows) > 1 else ([], rows)
    out = [_Line(" | ".join(v for v in headers if v))] if headers else []
    out += [_Line(row_text(headers, values)) for values in body if any(values)]
    return out + [_Line("")]
