"""EPUB -> lines: a zip of XHTML chapters in the order the package's spine gives,
each read by the HTML cleaner (ingest.html_lines), so its headings become the
section path. Standard library only (ebooklib is AGPL).

Some producers (LibreOffice among them) write headings as paragraphs styled by a
CSS class (bold, larger) instead of ``<h1>``..``<h6>``; such paragraphs are made
headings again, the largest size level 1.
"""

from __future__ import annotations

import posixpath
import re
from collections import Counter
import xml.etree.ElementTree as ET

from index.errors import SkipFile
from ingest.decode import read_text
from ingest.formats import Options, Parsed
from ingest.html_lines import _HTMLLines
from ingest.ooxml import open_zip
from ingest.text import _Line, _norm_line

_NS = {"c": "urn:oasis:names:tc:opendocument:xmlns:container", "opf": "http://www.idpf.org/2007/opf", "dc": "http://purl.org/dc/elements/1.1/"}


def read(data: bytes, options: Options) -> Parsed:
    archive = open_zip(data, "EPUB")
    try:
        container = ET.fromstring(archive.read("META-INF/container.xml"))
        opf_path = container.find(".//c:rootfile", _NS).get("full-path")
        opf = ET.fromstring(archive.read(opf_path))
        manifest = {item.get("id"): item.get("href") for item in opf.iterfind(".//opf:manifest/opf:item", _NS)}
        spine = [manifest[ref.get("idref")] for ref in opf.iterfind(".//opf:spine/opf:itemref", _NS) if ref.get("idref") in manifest]
    except (KeyError, AttributeError, ET.ParseError) as err:
        raise SkipFile(f"not a valid EPUB file (its package description is missing or damaged: {err})") from None
    styles = _class_styles(archive, [item.get("href") for item in opf.iterfind(".//opf:manifest/opf:item", _NS)
                                     if item.get("media-type") == "text/css"], posixpath.dirname(opf_path))
    title_el = opf.find(".//dc:title", _NS)
    base = posixpath.dirname(opf_path)
    lines: list[_Line] = []
    for n, href in enumerate(spine, 1):
        options.check_time(f"chapter {n} of {len(spine)}")
        try:
            raw = archive.read(posixpath.normpath(posixpath.join(base, href.split("#")[0])))
        except KeyError:
            continue  # a spine entry the archive lacks: read the rest
        parser = _HTMLLines()
        parser.feed(_styled_headings(read_text(raw), styles))
        parser.close()
        lines += parser.lines + [_Line("")]
    if not spine:
        raise SkipFile("not a valid EPUB file (no chapters in its spine)")
    return Parsed(lines, title=_norm_line(title_el.text or "") if title_el is not None else "")


_RULE_RE = re.compile(r"\.([\w-]+)\s*\{([^}]*)\}")
_SIZE_RE = re.compile(r"font-size:\s*([\d.]+)\s*(pt|px|em|rem|%)")
_UNIT = {"pt": 1.0, "px": 0.75, "em": 12.0, "rem": 12.0, "%": 0.12}
_SPAN_RE = re.compile(r'<span\s+class="([\w-]+)"\s*>([^<]*)</span>')
_PARA_RE = re.compile(r'<p\b[^>]*>\s*<span\s+class="([\w-]+)"\s*>([^<]+)</span>\s*</p>')


def _class_styles(archive, hrefs: list[str], base: str) -> dict[str, tuple[float, bool]]:
    """CSS class -> (font size in points, bold), from the book's style sheets."""
    out: dict[str, tuple[float, bool]] = {}
    for href in hrefs:
        try:
            css = archive.read(posixpath.normpath(posixpath.join(base, href))).decode("utf-8", "replace")
        except KeyError:
            continue
        for name, body in _RULE_RE.findall(css):
            size = _SIZE_RE.search(body)
            bold = bool(re.search(r"font-weight:\s*(?:bold|[6-9]00)", body))
            if size:
                out[name] = (float(size.group(1)) * _UNIT[size.group(2)], bold)
    return out


def _styled_headings(html: str, styles: dict[str, tuple[float, bool]]) -> str:
    """Paragraphs wholly in a bold class larger than the body text's become <h1>..<h6>."""
    used = Counter()
    for name, text in _SPAN_RE.findall(html):
        used[name] += len(text)
    sized = [(styles[n][0], n) for n in used if n in styles]
    if not sized:
        return html
    body = styles[max((n for _, n in sized), key=lambda n: used[n])][0]
    sizes = sorted({size for size, n in sized if styles[n][1] and size > body}, reverse=True)
    level = {n: min(6, sizes.index(styles[n][0]) + 1) for _, n in sized if styles[n][1] and styles[n][0] in sizes}
    if not level:
        return html
    return _PARA_RE.sub(lambda m: f"<h{level[m.group(1)]}>{m.group(2)}</h{level[m.group(1)]}>" if m.group(1) in level else m.group(0), html)
