"""XLSX (openpyxl, MIT; the only module that imports it) and CSV (standard library) -> lines.

Each sheet is a section headed by its name. Its first non-empty row is taken as
the column headers (after a title row: one cell above a fuller row) and every later row is read with them ("姓名: 张三；部门:
研发部"), one line per row carrying its sheet and row number as the spreadsheet
shows it, so a cited passage names the rows it came from. In a sheet with
columns of prose (notes, answers, descriptions) each row is a small section: its
other cells are its heading.
"""

from __future__ import annotations

import csv
import io

from index.errors import SkipFile
from ingest.decode import read_text
from ingest.formats import Options, Parsed, cell, row_text
from ingest.ooxml import open_zip
from ingest.text import _Line

PROSE_CELL = 30  # mean characters of a column's cells above which it holds text to read


def read(data: bytes, options: Options) -> Parsed:
    import openpyxl

    open_zip(data, "XLSX")
    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)  # data_only: cached values, not formulas
    except Exception as err:  # openpyxl raises KeyErrors, lxml and zip errors on a damaged file
        raise SkipFile(f"not a valid XLSX file ({type(err).__name__}: {str(err).splitlines()[0] if str(err) else 'damaged'})") from None
    lines: list[_Line] = []
    try:
        for sheet in book.worksheets:
            rows = ((r, [cell(v) for v in values]) for r, values in enumerate(sheet.iter_rows(values_only=True), 1))
            lines += _table(rows, options, sheet=sheet.title)
    finally:
        book.close()
    return Parsed(lines, title=_title(book) or title_row(lines))


def _title(book) -> str:
    return (book.properties.title or "").strip() if book.properties is not None else ""


def read_csv(data: bytes, options: Options) -> Parsed:
    text = read_text(data)
    try:
        dialect = csv.Sniffer().sniff(text[:8192], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    try:
        lines = _table(((n, [cell(v) for v in values]) for n, values in enumerate(reader, 1)), options, sheet=None)  # records, numbered as a spreadsheet shows them
        return Parsed(lines, title=title_row(lines))
    except csv.Error as err:
        raise SkipFile(f"not a readable CSV file (line {reader.line_num}: {err})") from None


def _table(rows, options: Options, *, sheet: str | None) -> list[_Line]:
    where = (("sheet", sheet),) if sheet is not None else ()
    table: list[tuple[int, list[str]]] = []
    for n, values in rows:
        if n % 500 == 0:
            options.check_time(f"row {n:,}" + (f" of sheet {sheet}" if sheet else ""))
        if any(values):
            table.append((n, values))
    if not table:
        return []
    lines = [_Line(sheet, 2, loc=(*where, ("row", table[0][0])))] if sheet is not None else []
    if len(table) > 2 and _filled(table[0][1]) == 1 and _filled(table[1][1]) > 1:
        # A title row above the header row (one cell, often merged across the table).
        n, values = table.pop(0)
        lines.append(_Line(next(v for v in values if v).replace("\n", " "), 3, loc=(*where, ("row", n))))
    (first, headers), body = table[0], table[1:]
    lines.append(_Line(" | ".join(h for h in headers if h), loc=(*where, ("row", first))))
    prose = _prose_columns([values for _, values in body])
    for n, values in body:
        loc = (*where, ("row", n))
        text = [i for i in prose if i < len(values) and values[i]]
        if text and len(text) < sum(1 for v in values if v):
            # A row of notes: its other cells name it (a heading, so that every chunk of its
            # text keeps them as context); its prose cells are its text.
            key = [i for i in range(len(values)) if i not in prose]
            lines.append(_Line(row_text([_at(headers, i) for i in key], [values[i] for i in key]), 4, loc=loc))
            for i in text:
                first, *rest = values[i].split("\n")
                lines += [_Line(row_text([_at(headers, i)], [first]), loc=loc)] + [_Line(t, loc=loc) for t in rest]
        else:
            lines.append(_Line(row_text(headers, values), loc=loc))
    return lines


def _filled(values: list[str]) -> int:
    return sum(1 for v in values if v)


def title_row(lines: list[_Line]) -> str:
    return next((line.text for line in lines if line.level == 3), "")


def _at(headers: list[str], i: int) -> str:
    return headers[i] if i < len(headers) else ""


def _prose_columns(rows: list[list[str]]) -> set[int]:
    """Columns whose cells are text to read (notes, descriptions), not values naming a row."""
    lengths: dict[int, list[int]] = {}
    for values in rows:
        for i, v in enumerate(values):
            if v:
                lengths.setdefault(i, []).append(len(v))
    return {i for i, ls in lengths.items() if sum(ls) / len(ls) >= PROSE_CELL}
