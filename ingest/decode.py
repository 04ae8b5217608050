"""Bytes -> text: byte-order marks, UTF-8, UTF-16 without a BOM, GB18030, and binary detection.

Standard library only. ``read_text`` is the entry point; it raises SkipFile when
the bytes are not a text file.
"""

from __future__ import annotations

import re

from index.errors import SkipFile

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
    """UTF-16 text without a BOM, or None.

    NUL bytes at alternating positions hint at UTF-16 (ASCII in UTF-16 is one NUL
    per character), but Chinese text has NULs on both sides too ("一" is U+4E00),
    so the byte order is chosen by which decoding reads as ordinary text.
    """
    if len(data) % 2:
        return None
    best, best_share = None, 0.0
    for enc in ("utf-16-le", "utf-16-be"):
        try:
            text = data.decode(enc)
        except UnicodeDecodeError:
            continue
        share = _plausible_share(text)
        if share > best_share:
            best, best_share = text, share
    return best if best_share >= 0.9 else None


# Characters ordinary text is made of: ASCII, Latin, Greek/Cyrillic, punctuation and
# symbols, CJK punctuation, kana, CJK ideographs, Hangul, full-width forms.
_PLAUSIBLE_RE = re.compile(
    "[\t\n\r\x20-\x7e\u00a0-\u024f\u0370-\u04ff\u2000-\u206f\u20a0-\u20cf\u2100-\u23ff"
    "\u2460-\u27bf\u3000-\u30ff\u4e00-\u9fff\uac00-\ud7af\uff00-\uffef]"
)


def _plausible_share(text: str) -> float:
    sample = text[:20000]
    return len(_PLAUSIBLE_RE.findall(sample)) / len(sample) if sample else 0.0


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
