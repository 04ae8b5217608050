"""PPTX -> lines, with python-pptx (MIT). The only module that imports it.

One slide is one section: its title (or "Slide N") is a heading, followed by
the text of its shapes in reading order (top to bottom, then left to right),
its tables row by row with their header row, and its speaker notes. Every line
carries its slide number.
"""

from __future__ import annotations

import io

from index.errors import SkipFile
from ingest.formats import Options, Parsed, cell, row_text
from ingest.ooxml import open_zip
from ingest.text import _Line, _norm_line


def read(data: bytes, options: Options) -> Parsed:
    from pptx import Presentation

    open_zip(data, "PPTX")
    try:
        deck = Presentation(io.BytesIO(data))
    except Exception as err:  # python-pptx raises KeyErrors and lxml errors on a damaged file
        raise SkipFile(f"not a valid PPTX file ({type(err).__name__}: {str(err).splitlines()[0] if str(err) else 'damaged'})") from None
    lines: list[_Line] = []
    slides = list(deck.slides)
    for number, slide in enumerate(slides, 1):
        options.check_time(f"slide {number} of {len(slides)}")
        loc = (("slide", number),)
        shapes = _in_reading_order(slide.shapes)
        title_shape = slide.shapes.title or _title_like(shapes)
        title = _norm_line(title_shape.text_frame.text) if title_shape is not None else ""
        lines.append(_Line(title or f"Slide {number}", 2, loc=loc))
        for shape in shapes:
            if title_shape is not None and shape.shape_id == title_shape.shape_id:
                continue
            lines += [_Line(t, loc=loc) for t in _shape_text(shape)]
        if slide.has_notes_slide:
            lines += [_Line(t, loc=loc) for t in _notes(slide.notes_slide)]
        lines.append(_Line("", loc=loc))
    title = _norm_line(deck.core_properties.title or "") or next((line.text for line in lines if line.level and not line.text.startswith("Slide ")), "")
    return Parsed(lines, title=title)


def _in_reading_order(shapes):
    return sorted(shapes, key=lambda s: ((s.top or 0) // 50_000, s.left or 0))  # rows of about 1.4 mm


def _notes(notes_slide) -> list[str]:
    """The speaker notes: the notes placeholder, or (LibreOffice writes plain text boxes)
    every text box of the notes page."""
    frame = notes_slide.notes_text_frame
    if frame is not None:
        return [t for t in (_norm_line(p.text) for p in frame.paragraphs) if t]
    return [t for shape in _in_reading_order(notes_slide.shapes) for t in _shape_text(shape)]


def _title_like(shapes):
    """A slide without a title placeholder (LibreOffice writes plain text boxes): its top
    text box when that holds one short line, as titles do."""
    for shape in shapes:
        if getattr(shape, "has_text_frame", False) and shape.has_text_frame and shape.text_frame.text.strip():
            text = shape.text_frame.text.strip()
            return shape if "\n" not in text and len(text) <= 80 else None
    return None


def _shape_text(shape) -> list[str]:
    if shape.shape_type is not None and getattr(shape, "shapes", None) is not None:  # a group
        return [t for inner in _in_reading_order(shape.shapes) for t in _shape_text(inner)]
    if getattr(shape, "has_table", False) and shape.has_table:
        rows = [[cell(c.text) for c in row.cells] for row in shape.table.rows]
        if not rows:
            return []
        headers, body = (rows[0], rows[1:]) if len(rows) > 1 else ([], rows)
        return ([" | ".join(h for h in headers if h)] if headers else []) + [row_text(headers, r) for r in body if any(r)]
    if getattr(shape, "has_text_frame", False) and shape.has_text_frame:
        out = []
        for p in shape.text_frame.paragraphs:
            text = _norm_line("".join(r.text for r in p.runs) or p.text)
            if text:
                out.append(f"- {text}" if p.level else text)
        return out
    return []
