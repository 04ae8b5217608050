"""XLSX (openpyxl, MIT; the only module that imports it) and CSV (standard library) -> lines.

Each sheet is a section headed by its name. Its first non-empty row is taken as
the column headers and every later row is read with them ("姓名: 张三；部门:
研发部"), one line per row carrying its sheet and row number as the spreadsheet
shows it, so a cited passage names the rows it came from.
"""

from __future__ import annotations

import csv
import io

from index.errors import SkipFile
from ingest.decode import read_text
from ingest.formats import Options, Parsed, cell, row_text
from ingest.ooxml import open_zip
from ingest.text import _Line


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
    return Parsed(lines, title=_title(book))


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
        return Parsed(_table(((reader.line_num, [cell(v) for v in values]) for values in reader), options, sheet=None))
    except csv.Error as err:
        raise SkipFile(f"not a readable CSV file (line {reader.line_num}: {err})") from None


def _table(rows, options: Options, *, sheet: str | None) -> list[_Line]:
    lines: list[_Line] = []
    headers: list[str] | None = None
    where = (("sheet", sheet),) if sheet is not None else ()
    for n, values in rows:
        if n % 500 == 0:
            options.check_time(f"row {n:,}" + (f" of sheet {sheet}" if sheet else ""))
        if not any(values):
            continue
        loc = (*where, ("row", n))
        if headers is None:
            headers = values
            if sheet is not None:
                lines.append(_Line(sheet, 2, loc=loc))
            lines.append(_Line(" | ".join(h for h in headers if h), loc=loc))
            continue
        lines.append(_Line(row_text(headers, values), loc=loc))
    return lines
